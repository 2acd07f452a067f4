//! A server whose store is a PostgreSQL database (`[store] url`), in a
//! PostgreSQL server this test starts itself (`initdb`, `pg_ctl` on a
//! loopback port, stopped when the test ends, pass or fail): its services
//! live in the database, not the data directory, and outlive the server;
//! a second server on the same database is refused while the first runs.

mod common;

use common::{Flotilla, wait_for};
use flotilla_store::scratch::Cluster;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_server_keeps_its_services_in_postgresql_and_claims_the_database() {
    let Some(cluster) = Cluster::start() else {
        eprintln!("skipped: no PostgreSQL server (initdb, pg_ctl) installed");
        return;
    };
    let db = cluster.database();
    let config = format!("[sim]\nboot_seconds = 0\n\n[store]\nurl = \"{}\"\n", db.url);
    let mut first = Flotilla::options().config(&config).start();
    assert!(
        !first.data.path().join("flotilla.db").exists(),
        "no SQLite file beside a PostgreSQL store"
    );
    let (status, answer) = first.call(
        "POST",
        "/vm_template",
        json!({"name": "small", "template": {"CPU": "1", "MEMORY": "256"}}),
    );
    assert_eq!(status, 201, "{answer}");
    let id = first.deploy(json!({
        "name": "kept",
        "roles": [
            {"name": "db", "type": "vm", "cardinality": 1, "template_id": 0},
            {"name": "web", "type": "vm", "cardinality": 2, "template_id": 0, "parents": ["db"]}
        ]
    }));
    let running = first.wait_state(id, 2);
    let vms = first.vm_ids(id);
    assert_eq!(vms.len(), 3, "{running}");
    let stored: i64 = db
        .admin()
        .query_one("SELECT COUNT(*) FROM services", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "the service is a row of the database");

    // A second server on the same database is refused, naming it; the
    // first goes on serving.
    let second_data = tempfile::tempdir().unwrap();
    std::fs::write(second_data.path().join("flotilla.toml"), &config).unwrap();
    let refused = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
        ])
        .args(["--onegate-listen", "127.0.0.1:0"])
        .env("FLOTILLA_DATA_DIR", second_data.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("store.url")
            && said.contains("another Flotilla server")
            && said.contains(&db.name),
        "{said}"
    );
    assert_eq!(first.service(id).unwrap()["state"], 2);

    // Killed and started again: the services are the database's, with
    // their VMs, and nothing is made twice.
    first.restart();
    let rounds = first.engine_rounds();
    first.wait_rounds(rounds + 3);
    let again = first.service(id).expect("the service outlives its server");
    assert_eq!(again["state"], 2, "{again}");
    assert_eq!(first.vm_ids(id), vms);
    assert_eq!(first.live_vms().len(), 3);

    // Deleted through the API: gone from the database too.
    let (status, answer) = first.call("DELETE", &format!("/service/{id}"), serde_json::Value::Null);
    assert!(status < 300, "{status} {answer}");
    first.wait_gone(id);
    let left = wait_for(Duration::from_secs(30), || {
        let n: i64 = db
            .admin()
            .query_one("SELECT COUNT(*) FROM services", &[])
            .unwrap()
            .get(0);
        (n == 0).then_some(())
    });
    assert!(left.is_some(), "the service's row is deleted");
}
