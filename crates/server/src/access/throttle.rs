//! Sign-in throttling: after `server.failed_logins_per_minute` failed
//! sign-ins for one user name, or from one client address, within a
//! minute, further attempts are refused (429) without checking the
//! password until the minute is over. Guessing then costs the attacker
//! time and the server nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Keys kept at most per kind: names are chosen by clients, so the maps
/// must not grow without bound. Past it, expired windows are dropped, and
/// if none has expired new names are not counted (addresses still are).
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

#[derive(Default)]
struct Counts {
    names: HashMap<String, Window>,
    addresses: HashMap<IpAddr, Window>,
}

pub struct SignInThrottle {
    limit: u32,
    counts: Mutex<Counts>,
}

/// How long until a window that started at `start` is over, if it is
/// still running at `now` and has reached `limit`.
fn wait(window: Option<&Window>, limit: u32, now: Instant) -> Option<Duration> {
    let w = window?;
    let elapsed = now.saturating_duration_since(w.start);
    (elapsed < WINDOW && w.failures >= limit).then(|| WINDOW - elapsed)
}

fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Window>, key: K, now: Instant) {
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        map.retain(|_, w| now.saturating_duration_since(w.start) < WINDOW);
        if map.len() >= MAX_KEYS {
            return;
        }
    }
    let w = map.entry(key).or_insert(Window {
        start: now,
        failures: 0,
    });
    if now.saturating_duration_since(w.start) >= WINDOW {
        *w = Window {
            start: now,
            failures: 0,
        };
    }
    w.failures = w.failures.saturating_add(1);
}

impl SignInThrottle {
    pub fn new(failures_per_minute: u32) -> SignInThrottle {
        SignInThrottle {
            limit: failures_per_minute.max(1),
            counts: Mutex::default(),
        }
    }

    /// How long `name` from `address` must wait before trying again, or
    /// `None` if it may try now.
    pub fn blocked(&self, name: &str, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let by_name = wait(counts.names.get(name), self.limit, now);
        let by_address = address.and_then(|a| wait(counts.addresses.get(&a), self.limit, now));
        by_name.max(by_address)
    }

    pub fn failed(&self, name: &str, address: Option<IpAddr>, now: Instant) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut counts.names, name.to_string(), now);
        if let Some(a) = address {
            count(&mut counts.addresses, a, now);
        }
    }

    /// A right password clears the name's failures (not the address's:
    /// many users may share one address, and one of them may be guessing).
    pub fn succeeded(&self, name: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .names
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_per_name_and_address_holds_for_a_minute() {
        let t = SignInThrottle::new(3);
        let now = Instant::now();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.blocked("alice", Some(here), now), None);
            t.failed("alice", Some(here), now);
        }
        let wait = t.blocked("alice", Some(there), now).unwrap();
        assert_eq!(wait, WINDOW, "the name, from anywhere");
        assert!(t.blocked("bob", Some(here), now).is_some(), "the address");
        assert_eq!(t.blocked("bob", Some(there), now), None);
        let later = now + WINDOW;
        assert_eq!(t.blocked("alice", Some(here), later), None);
        t.failed("alice", Some(here), later);
        assert_eq!(t.blocked("alice", Some(here), later), None, "a new window");
        t.succeeded("alice");
    }
}
