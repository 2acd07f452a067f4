//! Sign-in throttling, per user as Vault's lockout is, so that guessing
//! at one name cannot lock everyone else out:
//!
//! - after `server.failed_logins_per_minute` failed sign-ins for one user
//!   name within a minute, further attempts for that name are refused
//!   (429) without checking the password until the minute is over;
//! - after as many failures from one client address (many names tried
//!   from one place: password spraying), each attempt from it waits
//!   [`SPRAY_DELAY`] before it is checked. It is slowed, not refused, so a
//!   user with no failures of her own still signs in from an address she
//!   shares with someone guessing.
//!
//! Guessing then costs the attacker time and the server little.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// How long a sign-in from an address past its limit waits before it is
/// checked.
pub const SPRAY_DELAY: Duration = Duration::from_secs(1);

/// What a sign-in attempt may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check it at once.
    Check,
    /// Check it after waiting this long (its address is past its limit).
    CheckAfter(Duration),
    /// Refuse it without checking: its name is past its limit for this
    /// long still.
    Refuse(Duration),
}

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

    /// What an attempt to sign in as `name` from `address` may do now.
    pub fn verdict(&self, name: &str, address: Option<IpAddr>, now: Instant) -> Verdict {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = wait(counts.names.get(name), self.limit, now) {
            return Verdict::Refuse(wait);
        }
        match address.and_then(|a| wait(counts.addresses.get(&a), self.limit, now)) {
            Some(_) => Verdict::CheckAfter(SPRAY_DELAY),
            None => Verdict::Check,
        }
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
    fn a_name_past_its_limit_is_refused_an_address_only_slowed() {
        let t = SignInThrottle::new(3);
        let now = Instant::now();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.verdict("alice", Some(here), now), Verdict::Check);
            t.failed("alice", Some(here), now);
        }
        assert_eq!(
            t.verdict("alice", Some(there), now),
            Verdict::Refuse(WINDOW),
            "the name, from anywhere"
        );
        assert_eq!(
            t.verdict("bob", Some(here), now),
            Verdict::CheckAfter(SPRAY_DELAY),
            "another name from the address is slowed, not refused"
        );
        assert_eq!(t.verdict("bob", Some(there), now), Verdict::Check);
        let later = now + WINDOW;
        assert_eq!(t.verdict("alice", Some(here), later), Verdict::Check);
        t.failed("alice", Some(here), later);
        assert_eq!(
            t.verdict("alice", Some(here), later),
            Verdict::Check,
            "a new window"
        );
        t.succeeded("alice");
    }
}
