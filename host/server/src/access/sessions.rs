//! The dashboard's sign-in sessions. A browser signs in once with a name
//! and password (checked and throttled as HTTP Basic is) and then holds a
//! random token in an HttpOnly cookie; the API takes that cookie in place
//! of Basic credentials. A session also holds a CSRF token the page reads
//! from `GET /ui/session` and sends back in `X-CSRF-Token` with every
//! change: another site can make the browser send the cookie, but cannot
//! read the token.
//!
//! Sessions live in memory: a restart signs everyone out, which a server
//! that restarts rarely can afford, and nothing secret reaches the store.
//! A session ends when it is idle for `server.session_idle_minutes`, when
//! its user signs out, and when its user is deleted or her password
//! changes; a change of group is taken up at the next request.

use super::Identity;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sessions kept at most: past it, the one idle longest is ended.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub identity: Identity,
    /// What a change must carry in `X-CSRF-Token`.
    pub csrf: String,
    /// The password hash at sign-in: a session outlives no password change.
    pub password_hash: String,
    /// The `Authenticator` generation the identity was read in; when users
    /// changed since, the identity is read again.
    pub generation: u64,
    last_used: Instant,
}

/// What a browser is given at sign-in.
pub struct Opened {
    /// For the cookie.
    pub token: String,
    pub csrf: String,
}

pub struct Sessions {
    idle: Duration,
    /// By the SHA-256 of the token: the tokens themselves are not kept, so
    /// that a memory dump does not hand out sessions.
    open: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 32 random bytes, URL-safe base64: a token that cannot be guessed.
fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two tokens are equal, in time that does not depend on where
/// they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for a user who just proved her password.
    pub fn open(
        &self,
        identity: Identity,
        password_hash: String,
        generation: u64,
        now: Instant,
    ) -> Opened {
        let opened = Opened {
            token: random_token(),
            csrf: random_token(),
        };
        let mut open = self.lock();
        let idle = self.idle;
        open.retain(|_, s| now.saturating_duration_since(s.last_used) < idle);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
        {
            open.remove(&oldest);
        }
        open.insert(
            key(&opened.token),
            Session {
                identity,
                csrf: opened.csrf.clone(),
                password_hash,
                generation,
                last_used: now,
            },
        );
        opened
    }

    /// The session of `token`, if it is open and was used within the idle
    /// time; using it keeps it open.
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut open = self.lock();
        let k = key(token);
        let session = open.get_mut(&k)?;
        if now.saturating_duration_since(session.last_used) >= self.idle {
            open.remove(&k);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// The session's user read again after users changed.
    pub fn refresh(&self, token: &str, identity: Identity, generation: u64) {
        if let Some(session) = self.lock().get_mut(&key(token)) {
            session.identity = identity;
            session.generation = generation;
        }
    }

    /// Sign-out, or a session whose user is gone.
    pub fn end(&self, token: &str) {
        self.lock().remove(&key(token));
    }

    /// Sessions open now (for `/metrics` and tests).
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            uid: 2,
            name: "alice".into(),
            gid: 1,
            admin: false,
        }
    }

    #[test]
    fn a_session_is_found_by_its_token_only_and_ends_when_idle_or_signed_out() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let opened = sessions.open(alice(), "hash".into(), 0, t0);
        assert_ne!(opened.token, opened.csrf);
        assert_eq!(opened.token.len(), 43);
        let s = sessions.get(&opened.token, t0).expect("open");
        assert_eq!(s.identity.name, "alice");
        assert_eq!(s.csrf, opened.csrf);
        assert!(sessions.get(&opened.csrf, t0).is_none());
        // Used at 50 s, so still open at 100 s; idle from 100 s, gone at 160 s.
        assert!(
            sessions
                .get(&opened.token, t0 + Duration::from_secs(50))
                .is_some()
        );
        assert!(
            sessions
                .get(&opened.token, t0 + Duration::from_secs(100))
                .is_some()
        );
        assert!(
            sessions
                .get(&opened.token, t0 + Duration::from_secs(160))
                .is_none()
        );
        assert_eq!(sessions.count(), 0);

        let again = sessions.open(alice(), "hash".into(), 0, t0);
        sessions.end(&again.token);
        assert!(sessions.get(&again.token, t0).is_none());
    }

    #[test]
    fn the_longest_idle_session_makes_room() {
        let sessions = Sessions::new(Duration::from_secs(3600));
        let t0 = Instant::now();
        let first = sessions.open(alice(), "h".into(), 0, t0);
        for i in 1..MAX_SESSIONS {
            sessions.open(alice(), "h".into(), 0, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(sessions.count(), MAX_SESSIONS);
        sessions.open(alice(), "h".into(), 0, t0 + Duration::from_secs(10));
        assert_eq!(sessions.count(), MAX_SESSIONS);
        assert!(
            sessions
                .get(&first.token, t0 + Duration::from_secs(10))
                .is_none()
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "a"));
    }
}
