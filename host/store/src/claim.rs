//! One server per PostgreSQL database, for now. A server's engine acts on
//! every service in its store (creates VMs, scales, recovers); two
//! engines on one database would both act, and create every VM twice.
//! Until servers elect a leader among themselves, a server on PostgreSQL
//! claims the database when it starts (a session-level advisory lock,
//! held by a connection of its own) and a second server is refused with
//! a message saying which database is taken.
//!
//! PostgreSQL frees the lock when the claiming connection ends: the
//! server stopped or killed, or its connection lost. A claim lost while
//! the server runs is logged as an error (another server could then
//! start), since nothing can take it back without racing that server.

use anyhow::Context as _;
use postgres::{Config, NoTls};
use std::sync::mpsc;
use std::time::Duration;

/// The advisory lock's key: any number, the same in every Flotilla (the
/// store's versions table is made under another).
const CLAIM_KEY: i64 = 7466201750238114;

/// How often the claiming connection is checked for being alive.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// A server's claim on a PostgreSQL database, released when dropped.
pub struct DatabaseClaim {
    /// Dropped first: its end stops the thread, which closes the
    /// connection and so frees the lock.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DatabaseClaim {
    /// Claim the database at `url`, or say why not: another server holds
    /// it, or the database cannot be reached.
    pub fn take(url: &str) -> anyhow::Result<DatabaseClaim> {
        let (config, database) = crate::pg::read_url(url)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let (answer, claimed) = mpsc::channel::<anyhow::Result<()>>();
        // The client blocks on a runtime of its own: on a thread of its
        // own it cannot panic inside the server's.
        let thread = std::thread::Builder::new()
            .name("flotilla-claim".into())
            .spawn(move || {
                let mut client = match claim(&config, &database) {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = answer.send(Err(e));
                        return;
                    }
                };
                let _ = answer.send(Ok(()));
                loop {
                    match stopped.recv_timeout(CHECK_EVERY) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        // Dropped (or told): the connection closes with
                        // the client, the lock with it.
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    if client.is_valid(CHECK_EVERY).is_err() {
                        tracing::error!(
                            database = %database,
                            "the connection holding this server's claim on the database \
                             was lost: another server may now start on it"
                        );
                        return;
                    }
                }
            })
            .context("starting the database claim's thread")?;
        let outcome = claimed
            .recv()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the database claim's thread stopped")));
        let claim = DatabaseClaim {
            stop: Some(stop),
            thread: Some(thread),
        };
        outcome.map(|()| claim)
    }
}

/// Connect and take the lock, or say who holds it.
fn claim(config: &Config, database: &str) -> anyhow::Result<postgres::Client> {
    let mut client = config
        .connect(NoTls)
        .with_context(|| format!("connecting to the PostgreSQL database `{database}`"))?;
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&CLAIM_KEY])?;
    if row.get::<_, bool>(0) {
        return Ok(client);
    }
    let holder = client
        .query_opt(
            "SELECT a.client_addr::text, a.backend_start::text FROM pg_locks l
             JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295)",
            &[&CLAIM_KEY],
        )
        .map_err(|e| tracing::debug!("who holds the claim: {e}"))
        .ok()
        .flatten()
        .map(|row| {
            let from: Option<String> = row.try_get(0).ok().flatten();
            let since: Option<String> = row.try_get(1).ok().flatten();
            format!(
                " (connected from {} since {})",
                from.unwrap_or_else(|| "a local socket".into()),
                since.unwrap_or_default()
            )
        })
        .unwrap_or_default();
    anyhow::bail!(
        "another Flotilla server runs on the PostgreSQL database `{database}`{holder}: \
         one server per database (stop it first)"
    )
}

impl Drop for DatabaseClaim {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
