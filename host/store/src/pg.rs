//! The PostgreSQL engine, for several servers sharing one database.
//!
//! The connection lives on a thread of its own and runs the statements
//! sent to it, one at a time. The synchronous `postgres` client blocks on a
//! runtime of its own and panics when called from a tokio runtime's
//! thread, where the server calls its store; on a plain thread it cannot.
//! A connection found lost is dropped and opened again by the next call
//! made outside a transaction; a call inside a transaction fails (the
//! transaction is gone with the connection). Connections are TCP or Unix
//! sockets without TLS: a URL that requires TLS is refused.
//!
//! Beside the schema the database has one row, `store_versions`: the
//! schema's version and a data version that every write transaction bumps
//! as its first statement. Bumping it takes the row's lock until the
//! transaction ends, so write transactions, from every server, run one at
//! a time, as SQLite's `BEGIN IMMEDIATE` makes them: an id taken from
//! `sequences` is seen by the next writer, and what a transaction reads is
//! what it commits over. Serializable isolation would let writers run side
//! by side, but a conflict would have to rerun the transaction's body, and
//! the body is the caller's (it may have done other things): the store
//! cannot repeat it. The data version is also what the caches are checked
//! against: one query per read outside a transaction, none inside (no
//! other writer can commit while this one holds the row).
//!
//! A statement that fails inside a transaction fails the transaction (as
//! PostgreSQL has it): the commit is refused and nothing is kept, even if
//! the caller went on after the error.

use crate::database::{Database, Dialect, Row, Value};
use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Config, NoTls, SimpleQueryMessage, Statement};
use anyhow::Context as _;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

/// The versions' table, made before the schema's steps run (they record
/// their version in it). Under an advisory lock (any number, the same in
/// every Flotilla): two servers starting on a new database at once would
/// otherwise both create the table, and one would fail.
const VERSIONS: &str = "SELECT pg_advisory_xact_lock(7466201750238113);
    CREATE TABLE IF NOT EXISTS store_versions (
        singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        schema_version BIGINT NOT NULL,
        data_version BIGINT NOT NULL
    );
    INSERT INTO store_versions (schema_version, data_version) VALUES (0, 0)
        ON CONFLICT (singleton) DO NOTHING;";

/// A write transaction: begun, and the data version bumped (its lock
/// taken), in one round trip.
const BEGIN_WRITE: &str = "BEGIN;
    UPDATE store_versions SET data_version = data_version + 1 RETURNING data_version";

/// How long a connection waits for a lock (another server's write
/// transaction) before its statement fails, as SQLite's busy timeout.
const LOCK_TIMEOUT: &str = "SET lock_timeout = '5s'";

/// How long to wait for the server when connecting, unless the URL says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database, as the store's engine: a handle on the thread
/// that holds the connection.
pub struct Postgres {
    requests: mpsc::Sender<Request>,
    replies: mpsc::Receiver<anyhow::Result<Outcome>>,
    in_transaction: Cell<bool>,
    /// A statement of the open transaction failed: it cannot commit.
    failed: Cell<bool>,
    /// The data version this connection's caches are known to be of
    /// (with its own writes); `None` when not known.
    known_version: Cell<Option<i64>>,
    /// The data version the open transaction commits.
    pending_version: Cell<Option<i64>>,
    /// How many times a commit of another connection was seen: the data
    /// version reported to the store.
    changes_seen: Cell<i64>,
    /// Last: dropped after `requests`, whose end stops the thread.
    _thread: ConnectionThread,
}

enum Work {
    Execute {
        sql: String,
        params: Vec<Value>,
    },
    Query {
        sql: String,
        params: Vec<Value>,
    },
    /// Statements without parameters; rows come back as text.
    Script(String),
}

struct Request {
    work: Work,
    /// Whether a lost connection may be opened again for this request
    /// (not inside a transaction: it went with the old connection).
    may_connect: bool,
}

/// What a request did: rows changed, rows read.
struct Outcome {
    changed: u64,
    rows: Vec<Row>,
}

/// The connection's thread, joined when the handle is dropped (so the
/// connection is closed when `drop` returns).
struct ConnectionThread(Option<std::thread::JoinHandle<()>>);

impl Drop for ConnectionThread {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

impl Postgres {
    /// Connect to the database at `url` (`postgres://user@host:port/db`)
    /// and make its versions' row if it has none.
    pub(crate) fn connect(url: &str) -> anyhow::Result<Postgres> {
        let (config, database) = read_url(url)?;
        let (requests, incoming) = mpsc::channel::<Request>();
        let (answer, replies) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("flotilla-postgres".into())
            .spawn(move || {
                let mut connection = Connection {
                    config,
                    client: None,
                    statements: HashMap::new(),
                };
                for request in incoming {
                    if answer.send(connection.serve(request)).is_err() {
                        break;
                    }
                }
            })
            .context("starting the PostgreSQL connection's thread")?;
        let db = Postgres {
            requests,
            replies,
            in_transaction: Cell::new(false),
            failed: Cell::new(false),
            known_version: Cell::new(None),
            pending_version: Cell::new(None),
            changes_seen: Cell::new(0),
            _thread: ConnectionThread(Some(thread)),
        };
        db.call(Work::Script(VERSIONS.into()))
            .with_context(|| format!("opening the PostgreSQL database `{database}`"))?;
        Ok(db)
    }

    fn call(&self, work: Work) -> anyhow::Result<Outcome> {
        let stopped = || anyhow::anyhow!("the PostgreSQL connection's thread has stopped");
        let request = Request {
            work,
            may_connect: !self.in_transaction.get(),
        };
        self.requests.send(request).map_err(|_| stopped())?;
        let outcome = self.replies.recv().map_err(|_| stopped())?;
        if outcome.is_err() && self.in_transaction.get() {
            self.failed.set(true);
        }
        outcome
    }

    /// Outside a transaction a write is a transaction of its own, so that
    /// it bumps the data version too.
    fn write<T>(&self, write: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        if self.in_transaction.get() {
            return write();
        }
        self.begin()?;
        match write() {
            Ok(value) => {
                self.commit()?;
                Ok(value)
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn versions(&self, column: &str) -> anyhow::Result<i64> {
        self.query_integer(&format!("SELECT {column} FROM store_versions"), &[])?
            .context("the database has no store_versions row")
    }
}

impl Database for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Value]) -> anyhow::Result<u64> {
        self.write(|| {
            let work = Work::Execute {
                sql: sql.to_string(),
                params: params.to_vec(),
            };
            Ok(self.call(work)?.changed)
        })
    }

    fn query(&self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<Row>> {
        let work = Work::Query {
            sql: sql.to_string(),
            params: params.to_vec(),
        };
        Ok(self.call(work)?.rows)
    }

    fn execute_batch(&self, sql: &str) -> anyhow::Result<()> {
        self.write(|| self.call(Work::Script(sql.to_string())).map(drop))
    }

    fn begin(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.in_transaction.get(),
            "cannot start a transaction within a transaction"
        );
        let begun = self.call(Work::Script(BEGIN_WRITE.into()));
        self.in_transaction.set(true);
        self.failed.set(false);
        let version = begun.and_then(|outcome| {
            let mut row = outcome.rows.into_iter().next().context(
                "the database has no store_versions row (was it made by another program?)",
            )?;
            row.text(0)?
                .parse::<i64>()
                .context("store_versions.data_version is not a number")
        });
        let version = match version {
            Ok(version) => version,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        // The row's lock is held now: the version before this one is the
        // last commit of anyone. If it is not the one the caches are of,
        // another connection wrote since they were last checked.
        let before = version.wrapping_sub(1);
        if self.known_version.get() != Some(before) {
            self.changes_seen
                .set(self.changes_seen.get().wrapping_add(1));
            self.known_version.set(Some(before));
        }
        self.pending_version.set(Some(version));
        Ok(())
    }

    fn commit(&self) -> anyhow::Result<()> {
        if self.failed.get() {
            self.rollback();
            anyhow::bail!("the transaction was rolled back: a statement in it failed");
        }
        let committed = self.call(Work::Script("COMMIT".into()));
        self.in_transaction.set(false);
        match committed {
            Ok(_) => {
                self.known_version.set(self.pending_version.take());
                Ok(())
            }
            Err(e) => {
                // Committed or not (the connection may have gone between
                // the two): the caches must be checked again.
                self.known_version.set(None);
                self.pending_version.set(None);
                Err(e)
            }
        }
    }

    fn rollback(&self) {
        let _ = self.call(Work::Script("ROLLBACK".into()));
        self.in_transaction.set(false);
        self.pending_version.set(None);
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction.get()
    }

    fn rollback_to_savepoint(&self, name: &str) -> anyhow::Result<()> {
        self.execute_batch(&format!("ROLLBACK TO {name}"))?;
        // What failed after the savepoint is undone: the transaction can
        // go on and commit.
        self.failed.set(false);
        self.release_savepoint(name)
    }

    fn data_version(&self) -> anyhow::Result<i64> {
        if !self.in_transaction.get() {
            let version = self.versions("data_version")?;
            if self.known_version.get() != Some(version) {
                self.changes_seen
                    .set(self.changes_seen.get().wrapping_add(1));
                self.known_version.set(Some(version));
            }
        }
        Ok(self.changes_seen.get())
    }

    fn schema_version(&self) -> anyhow::Result<i64> {
        self.versions("schema_version")
    }

    fn set_schema_version(&self, version: i64) -> anyhow::Result<()> {
        let changed = self.execute(
            "UPDATE store_versions SET schema_version = ?1",
            crate::database::params![version],
        )?;
        anyhow::ensure!(changed == 1, "the database has no store_versions row");
        Ok(())
    }
}

/// The connection settings of `url` (with a connect timeout unless it
/// sets one) and the database's name, for messages: what the store's
/// connection and a server's claim both connect with.
pub(crate) fn read_url(url: &str) -> anyhow::Result<(Config, String)> {
    let mut config: Config = url.parse().context("reading the PostgreSQL URL")?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let database = config.get_dbname().unwrap_or("(the user's)").to_string();
    Ok((config, database))
}

/// The connection, on its thread.
struct Connection {
    config: Config,
    client: Option<Client>,
    /// Statements prepared on `client`, by the store's text of them.
    statements: HashMap<String, Statement>,
}

impl Connection {
    fn serve(&mut self, request: Request) -> anyhow::Result<Outcome> {
        let mut client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                self.statements.clear();
                anyhow::ensure!(
                    request.may_connect,
                    "the connection to PostgreSQL was lost during the transaction"
                );
                self.open()?
            }
        };
        let outcome = perform(&mut client, &mut self.statements, request.work);
        if !client.is_closed() {
            self.client = Some(client);
        }
        outcome
    }

    fn open(&self) -> anyhow::Result<Client> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(LOCK_TIMEOUT)?;
        Ok(client)
    }
}

fn perform(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    work: Work,
) -> anyhow::Result<Outcome> {
    match work {
        Work::Execute { sql, params } => {
            let statement = prepared(client, statements, sql)?;
            let params = bind(&statement, params)?;
            let changed = client.execute(&statement, &as_refs(&params))?;
            Ok(Outcome {
                changed,
                rows: Vec::new(),
            })
        }
        Work::Query { sql, params } => {
            let statement = prepared(client, statements, sql)?;
            let params = bind(&statement, params)?;
            let rows = client
                .query(&statement, &as_refs(&params))?
                .iter()
                .map(read_row)
                .collect::<anyhow::Result<_>>()?;
            Ok(Outcome { changed: 0, rows })
        }
        Work::Script(sql) => {
            let mut rows = Vec::new();
            for message in client.simple_query(&sql)? {
                if let SimpleQueryMessage::Row(row) = message {
                    let values = (0..row.len())
                        .map(|i| {
                            Ok(row
                                .try_get(i)?
                                .map_or(Value::Null, |s| Value::Text(s.to_string())))
                        })
                        .collect::<anyhow::Result<_>>()?;
                    rows.push(Row(values));
                }
            }
            Ok(Outcome { changed: 0, rows })
        }
    }
}

fn prepared(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    sql: String,
) -> anyhow::Result<Statement> {
    if let Some(statement) = statements.get(&sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(&numbered_placeholders(&sql))?;
    statements.insert(sql, statement.clone());
    Ok(statement)
}

type Param = Box<dyn ToSql + Sync>;

fn as_refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

/// Each value as the type PostgreSQL gave its placeholder.
fn bind(statement: &Statement, params: Vec<Value>) -> anyhow::Result<Vec<Param>> {
    anyhow::ensure!(
        statement.params().len() == params.len(),
        "a statement takes {} parameters, {} given",
        statement.params().len(),
        params.len()
    );
    statement
        .params()
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (ty, value))| -> anyhow::Result<Param> {
            let integer = matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2);
            let text = matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME);
            let param: Param = match value {
                Value::Null if integer => Box::new(None::<i64>),
                Value::Null if text => Box::new(None::<String>),
                Value::Integer(n) if *ty == Type::INT8 => Box::new(n),
                Value::Integer(n) if *ty == Type::INT4 => Box::new(i32::try_from(n)?),
                Value::Integer(n) if *ty == Type::INT2 => Box::new(i16::try_from(n)?),
                // PostgreSQL's text cannot hold NUL; the nearest it can is
                // the replacement character.
                Value::Text(s) if text => Box::new(s.replace('\0', "\u{FFFD}")),
                other => anyhow::bail!("parameter {}: {other:?} given for a {ty}", i + 1),
            };
            Ok(param)
        })
        .collect()
}

fn read_row(row: &::postgres::Row) -> anyhow::Result<Row> {
    let values = row
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| -> anyhow::Result<Value> {
            let ty = column.type_();
            let value = match *ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)?
                    .map(|n| Value::Integer(n.into())),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)?
                    .map(|n| Value::Integer(n.into())),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(i)?.map(Value::Text)
                }
                _ => anyhow::bail!("column {}: the store does not read a {ty}", column.name()),
            };
            Ok(value.unwrap_or(Value::Null))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Row(values))
}

/// A statement's `?N` placeholders as PostgreSQL writes them, `$N`; a `?`
/// inside a string literal or a quoted name is left as it is.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            // A doubled quote ('it''s') closes and reopens: the same.
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::numbered_placeholders;
    use crate::testing::{PgCase, PgDatabase};
    use crate::{Accounts, Database, PgStore, Services, SqliteStore, Store, migrations};

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ?1 AND c < ?12"),
            "SELECT a FROM t WHERE b = $1 AND c < $12"
        );
        assert_eq!(
            numbered_placeholders("SELECT '?1', 'it''s ?2', \"?3\" FROM t WHERE x = ?4"),
            "SELECT '?1', 'it''s ?2', \"?3\" FROM t WHERE x = $4"
        );
        assert_eq!(numbered_placeholders("SELECT ? FROM t"), "SELECT ? FROM t");
    }

    /// PostgreSQL's own cases, each on a new database (`tests::on_postgresql`).
    pub(crate) const CASES: &[PgCase] = &[
        (
            "the_schema_is_sqlites_and_is_migrated_once",
            the_schema_is_sqlites_and_is_migrated_once,
        ),
        (
            "servers_starting_together_migrate_a_new_database_once",
            servers_starting_together_migrate_a_new_database_once,
        ),
        (
            "a_database_of_a_newer_release_is_refused",
            a_database_of_a_newer_release_is_refused,
        ),
        (
            "a_store_is_called_from_a_runtimes_worker_threads",
            a_store_is_called_from_a_runtimes_worker_threads,
        ),
        (
            "a_lost_connection_fails_the_call_and_the_next_one_connects_again",
            a_lost_connection_fails_the_call_and_the_next_one_connects_again,
        ),
        (
            "a_transaction_with_a_failed_statement_is_not_committed",
            a_transaction_with_a_failed_statement_is_not_committed,
        ),
        (
            "connect_takes_a_postgresql_url",
            connect_takes_a_postgresql_url,
        ),
        (
            "a_database_is_claimed_by_one_server_at_a_time",
            a_database_is_claimed_by_one_server_at_a_time,
        ),
    ];

    fn a_database_is_claimed_by_one_server_at_a_time(db: &PgDatabase) {
        let first = crate::DatabaseClaim::take(&db.url).unwrap();
        let refused = format!(
            "{:#}",
            crate::DatabaseClaim::take(&db.url)
                .err()
                .expect("a second server is refused")
        );
        assert!(
            refused.contains("another Flotilla server")
                && refused.contains(&db.name)
                && refused.contains("127.0.0.1"),
            "{refused}"
        );
        // A server stopped lets go of the database.
        drop(first);
        let second = crate::DatabaseClaim::take(&db.url).expect("free once the first stopped");
        // So does a server killed: its connection ends.
        assert_eq!(db.cut_connections(), 1);
        crate::DatabaseClaim::take(&db.url).expect("free once the holder's connection ended");
        drop(second);
    }

    fn the_schema_is_sqlites_and_is_migrated_once(db: &PgDatabase) {
        let store = PgStore::connect(&db.url).unwrap();
        let sqlite = SqliteStore::in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), migrations::latest());
        assert_eq!(
            store.schema_version().unwrap(),
            sqlite.schema_version().unwrap()
        );
        let mut sqlite_tables = sqlite
            .db
            .query_texts("SELECT name FROM sqlite_master WHERE type = 'table'", &[])
            .unwrap();
        sqlite_tables.push("store_versions".into());
        sqlite_tables.sort();
        let mut tables: Vec<String> = db
            .admin()
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        tables.sort();
        assert_eq!(tables, sqlite_tables);
        store.insert_group("staff").unwrap();
        drop(store);
        // Opened again: no step runs again (each would fail, its tables
        // are there), and the data is as it was.
        let again = PgStore::connect(&db.url).unwrap();
        assert_eq!(again.schema_version().unwrap(), migrations::latest());
        assert_eq!(again.groups().unwrap(), vec![(0, "staff".to_string())]);
    }

    fn servers_starting_together_migrate_a_new_database_once(db: &PgDatabase) {
        let versions: Vec<i64> = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| PgStore::connect(&db.url).unwrap().schema_version().unwrap())
                })
                .collect();
            starting.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert_eq!(versions, vec![migrations::latest(); 3]);
    }

    fn a_database_of_a_newer_release_is_refused(db: &PgDatabase) {
        drop(PgStore::connect(&db.url).unwrap());
        let newer = migrations::latest() + 1;
        db.admin()
            .execute("UPDATE store_versions SET schema_version = $1", &[&newer])
            .unwrap();
        let error = format!("{:#}", PgStore::connect(&db.url).err().expect("refused"));
        assert_eq!(
            error,
            format!(
                "database was written by a newer Flotilla (schema {newer}, this binary knows {})",
                migrations::latest()
            )
        );
        let version: i64 = db
            .admin()
            .query_one("SELECT schema_version FROM store_versions", &[])
            .unwrap()
            .get(0);
        assert_eq!(version, newer);
    }

    fn a_store_is_called_from_a_runtimes_worker_threads(db: &PgDatabase) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = db.url.clone();
        let groups = runtime.block_on(async move {
            // Made, called and dropped on a worker thread, as the server
            // does with its store.
            let worker_url = url.clone();
            let on_worker = tokio::spawn(async move {
                let url = worker_url;
                let store = PgStore::connect(&url).unwrap().boxed();
                store
                    .atomically(|| -> anyhow::Result<()> {
                        store.insert_group("staff")?;
                        store.save_service(&crate::tests::a_service(0))?;
                        Ok(())
                    })
                    .unwrap();
                store.groups().unwrap()
            })
            .await
            .unwrap();
            // And inside the runtime's own `block_on`.
            let store = PgStore::connect(&url).unwrap();
            assert_eq!(store.service(0).unwrap().unwrap().name, "s");
            on_worker
        });
        assert_eq!(groups, vec![(0, "staff".to_string())]);
    }

    fn a_lost_connection_fails_the_call_and_the_next_one_connects_again(db: &PgDatabase) {
        let store = PgStore::connect(&db.url).unwrap().boxed();
        store.insert_group("before").unwrap();
        assert_eq!(db.cut_connections(), 1);
        assert!(store.groups().is_err());
        assert_eq!(store.groups().unwrap(), vec![(0, "before".to_string())]);

        // Lost inside a transaction: the transaction fails, nothing of it
        // is kept, and the store goes on.
        let cut: anyhow::Result<()> = store.atomically(|| {
            store.insert_group("during")?;
            db.cut_connections();
            store.insert_group("after the cut")?;
            Ok(())
        });
        assert!(cut.is_err());
        assert_eq!(store.group_id_by_name("during").unwrap(), None);
        assert_eq!(store.insert_group("after").unwrap(), 1);
    }

    fn a_transaction_with_a_failed_statement_is_not_committed(db: &PgDatabase) {
        let store = PgStore::connect(&db.url).unwrap().boxed();
        store.insert_group("staff").unwrap();
        let committed = store.transaction(&mut || {
            store.insert_group("lab")?;
            // A name taken: the statement fails, and this body goes on
            // as if it had not.
            assert!(store.insert_group("staff").is_err());
            Ok(())
        });
        assert!(committed.is_err());
        assert_eq!(store.group_id_by_name("lab").unwrap(), None);
        assert_eq!(store.insert_group("ops").unwrap(), 1);
    }

    fn connect_takes_a_postgresql_url(db: &PgDatabase) {
        PgStore::connect(&db.url)
            .unwrap()
            .insert_group("staff")
            .unwrap();
        let other_spelling = db.url.replacen("postgres://", "postgresql://", 1);
        let store = PgStore::connect(&other_spelling).unwrap();
        assert!(store.group_id_by_name("staff").unwrap().is_some());
        // Nothing listens on port 1: an error, not a panic.
        assert!(PgStore::connect("postgres://flotilla@127.0.0.1:1/flotilla").is_err());
        assert!(PgStore::connect("postgres://flotilla@127.0.0.1:notaport/flotilla").is_err());
    }
}
