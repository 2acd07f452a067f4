//! One scenario against one server: images, template actions, service
//! updates, scheduled actions, accounts and metrics. Each phase has a file
//! of its own and runs against the state the phases before it left, in the
//! order of the test below.

mod accounts;
mod images;
mod metrics;
mod openapi;
mod services;
mod templates;

use crate::{Api, start};
use flotilla::access::users;
use serde_json::Value;

type Auth<'a> = Option<(&'a str, &'a str)>;

/// Carol, in alice's group, and bob, in another one; their passwords do not
/// change.
const CAROL: Auth<'static> = Some(("carol", "carol-pw"));
const BOB: Auth<'static> = Some(("bob", "bob-pw"));

/// What the phases share: the server, the users' credentials and ids, and
/// carol's service once the group-use phase has instantiated it.
struct Scenario {
    /// Declared before the data directory: killed before it is removed.
    server: Api,
    _data: tempfile::TempDir,
    admin_password: String,
    /// Changed by the accounts phase.
    alice_password: String,
    alice_id: u64,
    carol_id: u64,
    bob_id: u64,
    /// Carol's service, and its body as GET showed it once RUNNING.
    sid: String,
    shown: Value,
}

impl Scenario {
    /// oneadmin, alice and carol in the users group, bob in `team`; the
    /// server started on that data directory.
    fn start() -> Scenario {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(
            data.path().join("flotilla.toml"),
            "[engine]\ntick_ms = 50\n\n[sim]\nboot_seconds = 0\n",
        )
        .unwrap();
        let (admin_password, alice_id, carol_id, bob_id) = {
            let store = flotilla::store::SqliteStore::open(&data.path().join("flotilla.db"))
                .unwrap()
                .boxed();
            users::bootstrap(&*store, data.path()).unwrap();
            let alice =
                users::create_user(&*store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
            let carol =
                users::create_user(&*store, "carol", "carol-pw", users::USERS_GROUP).unwrap();
            let team = users::create_group(&*store, "team").unwrap();
            let bob = users::create_user(&*store, "bob", "bob-pw", team).unwrap();
            let auth = std::fs::read_to_string(data.path().join("one_auth")).unwrap();
            (
                auth.trim().split_once(':').unwrap().1.to_string(),
                alice,
                carol,
                bob,
            )
        };
        let server = start(data.path());
        Scenario {
            server,
            _data: data,
            admin_password,
            alice_password: "alice-pw".to_string(),
            alice_id,
            carol_id,
            bob_id,
            sid: String::new(),
            shown: Value::Null,
        }
    }

    fn admin(&self) -> Auth<'_> {
        Some(("oneadmin", self.admin_password.as_str()))
    }

    fn alice(&self) -> Auth<'_> {
        Some(("alice", self.alice_password.as_str()))
    }
}

#[test]
fn images_template_actions_service_updates_sched_actions_accounts_and_metrics() {
    let mut cx = Scenario::start();
    openapi::open_routes_and_the_document(&cx);
    images::images_and_disks(&cx);
    templates::clone_update_and_delete(&cx);
    services::group_use(&mut cx);
    services::updates_and_actions(&cx);
    services::sched_actions(&cx);
    services::chown_and_chgrp(&cx);
    accounts::users(&mut cx);
    metrics::metrics_and_purge_done(&cx);
}
