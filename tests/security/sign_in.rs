//! Signing in: every change to a user takes effect on the next request,
//! sign-ins in flight do not outlive a password change, wrong-password
//! floods keep memory flat and are throttled.

use crate::common::wait_for;
use crate::{action, call, prepare, request, start};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A process's resident memory in MiB, from /proc.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024
}

const ALICE: u64 = 1;

#[test]
fn every_change_to_a_user_takes_effect_on_the_next_request() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let f = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    let me = format!("/user/{ALICE}");

    // Remembered after the first request; a new password ends it.
    assert_eq!(call(&f, "GET", &me, ("alice", "alice-pw"), None).0, 200);
    let passwd = action("passwd", json!({"password": "second"}));
    let to = format!("/user/{ALICE}/action");
    assert_eq!(call(&f, "POST", &to, admin, Some(passwd)).0, 204);
    assert_eq!(call(&f, "GET", &me, ("alice", "alice-pw"), None).0, 401);
    assert_eq!(call(&f, "GET", &me, ("alice", "second"), None).0, 200);

    // In oneadmin's group she sees every user; moved out, she no longer does.
    let chgrp = |gid| action("chgrp", json!({"group_id": gid}));
    assert_eq!(call(&f, "POST", &to, admin, Some(chgrp(0))).0, 204);
    assert_eq!(call(&f, "GET", "/user/0", ("alice", "second"), None).0, 200);
    assert_eq!(call(&f, "POST", &to, admin, Some(chgrp(1))).0, 204);
    assert_eq!(call(&f, "GET", "/user/0", ("alice", "second"), None).0, 403);

    // Deleted, her credentials are refused.
    assert_eq!(call(&f, "GET", &me, ("alice", "second"), None).0, 200);
    assert_eq!(call(&f, "DELETE", &me, admin, None).0, 204);
    assert_eq!(
        call(&f, "GET", "/service", ("alice", "second"), None).0,
        401
    );
}

#[test]
fn sign_ins_in_flight_do_not_outlive_a_password_change() {
    let data = tempfile::tempdir().unwrap();
    // Throttling would hide the answer this test looks for.
    let admin_pw = prepare(
        data.path(),
        "[server]\nfailed_logins_per_minute = 1000000\n",
    );
    let f = start(data.path());
    let port = f.server.api;
    let admin = ("oneadmin", admin_pw.as_str());
    let mut password = "alice-pw".to_string();
    for round in 0..8 {
        // Several clients keep signing in as alice with her current password.
        let stop = Arc::new(AtomicBool::new(false));
        // Clients answered at least once: all of them at it before the
        // change.
        let going = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let (stop, going, password) = (stop.clone(), going.clone(), password.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut first = true;
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(20)
                    {
                        request(port, "GET", "/service", Some(("alice", &password)), &[], "");
                        if std::mem::take(&mut first) {
                            going.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        let all_going = wait_for(Duration::from_secs(20), || {
            (going.load(Ordering::Relaxed) == 6).then_some(())
        });
        assert!(
            all_going.is_some(),
            "round {round}: the clients never got going"
        );
        // A change to bob makes alice's next sign-ins check her stored
        // password again, so checks are in flight when her password changes.
        let chgrp = action("chgrp", json!({"group_id": 1}));
        assert_eq!(
            call(&f, "POST", "/user/2/action", admin, Some(chgrp)).0,
            204
        );
        let new = format!("pw-{round}");
        let passwd = action("passwd", json!({"password": new}));
        let to = format!("/user/{ALICE}/action");
        assert_eq!(call(&f, "POST", &to, admin, Some(passwd)).0, 204);
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(
            call(&f, "GET", "/service", ("alice", &password), None).0,
            401,
            "round {round}: the old password still works after the change"
        );
        assert_eq!(call(&f, "GET", "/service", ("alice", &new), None).0, 200);
        password = new;
    }
}

/// `requests` wrong-password requests from `threads` clients, each on its
/// own connection; returns how many were answered 401 and 429.
fn flood(port: u16, threads: usize, requests: usize) -> (usize, usize) {
    let clients: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut counts = (0, 0);
                for i in (t..requests).step_by(threads) {
                    let user = if i % 2 == 0 { "alice" } else { "nobody" };
                    match request(port, "GET", "/service", Some((user, "wrong")), &[], "")
                        .map(|a| a.status)
                    {
                        Some(401) => counts.0 += 1,
                        Some(429) => counts.1 += 1,
                        _ => {}
                    }
                }
                counts
            })
        })
        .collect();
    clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn a_wrong_password_flood_keeps_memory_flat_and_signed_in_users_served() {
    let data = tempfile::tempdir().unwrap();
    // Every attempt is checked (no throttling) so that hashing is what is
    // measured.
    let admin_pw = prepare(
        data.path(),
        "[server]\nfailed_logins_per_minute = 1000000\n",
    );
    let f = start(data.path());
    let admin = ("oneadmin", admin_pw.as_str());
    assert_eq!(call(&f, "GET", "/service", admin, None).0, 200);
    let before = rss_mib(f.server.pid());
    let (refused, throttled) = flood(f.server.api, 64, 512);
    assert_eq!((refused, throttled), (512, 0), "every attempt answered 401");
    let after = rss_mib(f.server.pid());
    eprintln!("RSS before {before} MiB, after 512 wrong passwords {after} MiB");
    assert!(after < 400, "RSS grew from {before} MiB to {after} MiB");
    assert_eq!(call(&f, "GET", "/service", admin, None).0, 200);
}

#[test]
fn repeated_failures_are_answered_429_but_a_remembered_session_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let admin_pw = prepare(data.path(), "");
    let f = start(data.path());
    let port = f.server.api;
    assert_eq!(
        call(&f, "GET", "/service", ("alice", "alice-pw"), None).0,
        200
    );
    for i in 0..10 {
        let a = request(port, "GET", "/service", Some(("alice", "guess")), &[], "").unwrap();
        assert_eq!(a.status, 401, "failure {i}");
    }
    let a = request(port, "GET", "/service", Some(("alice", "guess")), &[], "").unwrap();
    assert_eq!(a.status, 429, "the 11th failure within a minute");
    let retry: u64 = a
        .head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Retry-After header in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        a.body["error"].as_str().unwrap().contains("sign-in"),
        "{}",
        a.body
    );
    // The right password is 429 too while it lasts, unless it was
    // remembered from before.
    assert_eq!(
        call(&f, "GET", "/service", ("alice", "alice-pw"), None).0,
        200
    );
    // Guessing at alice does not lock the others out of this address: bob
    // and oneadmin, with no failures of their own and not remembered, sign
    // in, each slowed (the address is past its limit), not refused.
    for (user, password) in [("bob", "bob-pw"), ("oneadmin", admin_pw.as_str())] {
        let started = Instant::now();
        assert_eq!(
            call(&f, "GET", "/service", (user, password), None).0,
            200,
            "{user}, from the address that guessed at alice"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{user}'s sign-in from that address waited {:?}, not the spray delay",
            started.elapsed()
        );
    }
    // A wrong password for another name from there is still checked (401),
    // not refused: only alice's name is locked.
    let a = request(port, "GET", "/service", Some(("bob", "guess")), &[], "").unwrap();
    assert_eq!(a.status, 401);
}
