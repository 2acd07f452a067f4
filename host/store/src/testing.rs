//! What the store's tests run on: a new database of each engine, SQLite
//! in a file of a temporary directory, PostgreSQL in a server the tests
//! start themselves (`initdb`, `pg_ctl`) and stop when they end, even
//! when one panics.

pub(crate) use crate::scratch::{Cluster, PgDatabase};
use crate::{Database, PgStore, SqlStore, SqliteStore, Store};
use std::path::PathBuf;

/// A test that runs on every engine, with its name.
pub(crate) type Case = (&'static str, fn(&TestDb));

/// A test of PostgreSQL's own, with its name.
pub(crate) type PgCase = (&'static str, fn(&PgDatabase));

/// Tests that run on every engine: each becomes a `#[test]` on SQLite
/// (in the module `on_sqlite`), and is listed in `CASES`, which the
/// PostgreSQL run (`tests::on_postgresql`) goes through.
macro_rules! on_every_engine {
    ($(fn $name:ident($db:ident) $body:block)+) => {
        $(fn $name($db: &$crate::testing::TestDb) $body)+

        pub(crate) const CASES: &[$crate::testing::Case] = &[$((stringify!($name), $name)),+];

        mod on_sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::testing::TestDb::sqlite())
                }
            )+
        }
    };
}

/// A new, empty database; each `open` is another connection to it, as
/// another server's would be.
pub(crate) enum TestDb {
    Sqlite {
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres(PgDatabase),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        TestDb::Sqlite {
            path: dir.path().join("flotilla.db"),
            _dir: dir,
        }
    }

    pub fn open(&self) -> Box<dyn Store> {
        match self {
            TestDb::Sqlite { path, .. } => SqliteStore::open(path).unwrap().boxed(),
            TestDb::Postgres(db) => PgStore::connect(&db.url).unwrap().boxed(),
        }
    }

    /// Two connections (as two servers' would be) each calling `call(store,
    /// connection, i)` for `i` in `0..each`, both at once; what each got.
    pub fn on_two_connections<T: Send>(
        &self,
        each: usize,
        call: impl Fn(&dyn Store, usize, usize) -> T + Sync,
    ) -> Vec<Vec<T>> {
        let call = &call;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|connection| {
                    let store = self.open();
                    scope.spawn(move || (0..each).map(|i| call(&*store, connection, i)).collect())
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        })
    }

    /// The rows of a table, counted through a connection of its own.
    pub fn count_rows(&self, table: &str) -> i64 {
        fn count<D: Database>(store: SqlStore<D>, table: &str) -> i64 {
            store
                .db
                .query_integer(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .unwrap()
                .unwrap_or(0)
        }
        match self {
            TestDb::Sqlite { path, .. } => count(SqliteStore::open(path).unwrap(), table),
            TestDb::Postgres(db) => count(PgStore::connect(&db.url).unwrap(), table),
        }
    }
}
