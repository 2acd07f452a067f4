//! Images, template actions, service updates, scheduled actions, accounts
//! and metrics: each phase has a file of its own and a test of its own,
//! on a server of its own. A phase that builds on what another leaves
//! (images for the template actions, carol's service for the service
//! phases, a deleted user for the metrics) runs that phase first, its
//! assertions included.

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
        let (mut alice_id, mut carol_id, mut bob_id) = (0, 0, 0);
        let admin_password = crate::common::prepare(data.path(), |store| {
            alice_id = users::create_user(store, "alice", "alice-pw", users::USERS_GROUP).unwrap();
            carol_id = users::create_user(store, "carol", "carol-pw", users::USERS_GROUP).unwrap();
            let team = users::create_group(store, "team").unwrap();
            bob_id = users::create_user(store, "bob", "bob-pw", team).unwrap();
        });
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
fn open_routes_and_the_openapi_document() {
    let cx = Scenario::start();
    openapi::open_routes_and_the_document(&cx);
}

#[test]
fn images_and_the_images_of_vm_template_disks() {
    let cx = Scenario::start();
    images::images_and_disks(&cx);
}

#[test]
fn service_template_clone_update_and_delete() {
    let cx = Scenario::start();
    images::images_and_disks(&cx);
    templates::clone_update_and_delete(&cx);
}

#[test]
fn a_template_in_group_use() {
    let mut cx = Scenario::start();
    services::group_use(&mut cx);
}

#[test]
fn service_updates_and_actions() {
    let mut cx = Scenario::start();
    services::group_use(&mut cx);
    services::updates_and_actions(&cx);
}

#[test]
fn scheduled_actions_of_a_role() {
    let mut cx = Scenario::start();
    services::group_use(&mut cx);
    services::sched_actions(&cx);
}

#[test]
fn chown_and_chgrp_of_a_service() {
    let mut cx = Scenario::start();
    services::group_use(&mut cx);
    services::chown_and_chgrp(&cx);
}

#[test]
fn users_passwords_groups_and_deletion() {
    let mut cx = Scenario::start();
    accounts::users(&mut cx);
}

#[test]
fn metrics_and_purge_done() {
    let mut cx = Scenario::start();
    services::group_use(&mut cx);
    accounts::users(&mut cx);
    metrics::metrics_and_purge_done(&cx);
}
