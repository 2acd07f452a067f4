//! Argon2id password checks on a few dedicated threads.
//!
//! Each check needs the hash's memory cost (19 MiB with the default
//! parameters). Run on tokio's blocking pool, a flood of wrong passwords
//! ran hundreds of checks at once and each thread's allocator arena kept
//! its share: gigabytes that were never given back. Here a fixed number of
//! threads (`server.password_checks`) each own one buffer, reused for every
//! check, and take jobs from a bounded queue; when the queue is full the
//! caller is told to come back later instead of waiting without bound.

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// The most memory one check may use (in 1 KiB blocks): stored hashes are
/// written by this server, so this only guards against a corrupt row.
const MAX_BLOCKS: usize = 256 * 1024;

/// Checks waiting for a thread, per thread, before callers are turned away.
const QUEUE_PER_THREAD: usize = 64;

/// Whether `password` matches the PHC string `phc`, computing Argon2 in
/// `memory` (grown to the hash's memory cost, then reused). Hashes carry
/// their own algorithm, version and parameters, so older ones still verify.
pub fn matches(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let expected = expected.as_bytes();
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // Constant time: how much matched must not show in the answer's time.
    out.iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

struct Job {
    hash: String,
    password: String,
    answer: tokio::sync::oneshot::Sender<bool>,
}

/// The queue was full: too many checks waiting.
#[derive(Debug)]
pub struct Busy;

/// A pool of password-checking threads fed by a bounded queue.
pub struct PasswordChecks {
    jobs: SyncSender<Job>,
}

impl PasswordChecks {
    /// `threads` checking threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<PasswordChecks> {
        let threads = threads.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel(threads * QUEUE_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || work(&queue))?;
        }
        Ok(PasswordChecks { jobs })
    }

    /// Whether `password` matches `hash`, checked on the pool.
    pub async fn check(&self, hash: String, password: String) -> Result<bool, Busy> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job = Job {
            hash,
            password,
            answer,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(Busy),
        }
        answered.await.map_err(|_| Busy)
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory = Vec::new();
    loop {
        // One thread waits on the queue at a time; the lock is released as
        // soon as it has a job.
        let job = match queue.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // The caller may have gone (connection closed): skip the work.
        if job.answer.is_closed() {
            continue;
        }
        let ok = matches(job.password.as_bytes(), &job.hash, &mut memory);
        let _ = job.answer.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    use argon2::password_hash::rand_core::OsRng;

    fn hash_with(argon: Argon2<'_>, password: &str) -> String {
        argon
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    #[test]
    fn hashes_with_any_parameters_verify_in_a_reused_buffer() {
        let mut memory = Vec::new();
        let default = hash_with(Argon2::default(), "s3cret");
        assert!(matches(b"s3cret", &default, &mut memory));
        assert!(!matches(b"s3cret!", &default, &mut memory));
        let grown = memory.len();
        let params = Params::new(4096, 3, 1, Some(32)).unwrap();
        let older = hash_with(
            Argon2::new(Algorithm::Argon2i, Version::V0x10, params),
            "old",
        );
        assert!(matches(b"old", &older, &mut memory));
        assert!(!matches(b"olD", &older, &mut memory));
        assert_eq!(memory.len(), grown, "a smaller cost reuses the buffer");
        assert!(!matches(b"x", "not a hash", &mut memory));
        assert!(!matches(
            b"x",
            "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            &mut memory
        ));
    }

    #[tokio::test]
    async fn the_pool_answers_checks() {
        let pool = PasswordChecks::start(1).unwrap();
        let hash = hash_with(Argon2::default(), "pw");
        assert!(pool.check(hash.clone(), "pw".into()).await.unwrap());
        assert!(!pool.check(hash, "nope".into()).await.unwrap());
    }
}
