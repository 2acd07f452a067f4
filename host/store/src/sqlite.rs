//! The SQLite engine: one file in write-ahead-log mode, or a database in
//! memory. A write transaction is `BEGIN IMMEDIATE` (it takes the write
//! lock first, so what it reads is what it writes over); the caches are
//! checked against `PRAGMA data_version`, which only another connection's
//! commit changes; the schema's version is `PRAGMA user_version`.

use crate::database::{Database, Dialect, Row, Value};
use anyhow::Context as _;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, params_from_iter};
use std::path::Path;

/// An SQLite database, as the store's engine.
pub struct Sqlite {
    db: Connection,
}

/// Distinct statements the store prepares, each kept prepared.
const PREPARED_STATEMENTS: usize = 96;

impl Sqlite {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Sqlite> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Sqlite::on(db))
    }

    pub(crate) fn in_memory() -> anyhow::Result<Sqlite> {
        Ok(Sqlite::on(Connection::open_in_memory()?))
    }

    fn on(db: Connection) -> Sqlite {
        db.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        Sqlite { db }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Integer(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn read(value: ValueRef<'_>) -> anyhow::Result<Value> {
    match value {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(n) => Ok(Value::Integer(n)),
        ValueRef::Text(bytes) => Ok(Value::Text(
            std::str::from_utf8(bytes)
                .context("a stored text is not UTF-8")?
                .to_string(),
        )),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            anyhow::bail!("a stored value is neither an integer nor text")
        }
    }
}

impl Database for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Value]) -> anyhow::Result<u64> {
        let changed = self
            .db
            .prepare_cached(sql)?
            .execute(params_from_iter(params))?;
        Ok(changed as u64)
    }

    fn query(&self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<Row>> {
        let mut stmt = self.db.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| read(row.get_ref(i)?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_batch(&self, sql: &str) -> anyhow::Result<()> {
        Ok(self.db.execute_batch(sql)?)
    }

    fn begin(&self) -> anyhow::Result<()> {
        Ok(self.db.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&self) -> anyhow::Result<()> {
        let committed = self.db.execute_batch("COMMIT");
        if committed.is_err() && !self.db.is_autocommit() {
            // A COMMIT that failed (the database busy past the timeout)
            // leaves the transaction open: nothing of it is kept.
            self.rollback();
        }
        Ok(committed?)
    }

    fn rollback(&self) {
        let _ = self.db.execute_batch("ROLLBACK");
    }

    fn in_transaction(&self) -> bool {
        !self.db.is_autocommit()
    }

    fn data_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .db
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn set_schema_version(&self, version: i64) -> anyhow::Result<()> {
        Ok(self.db.pragma_update(None, "user_version", version)?)
    }
}
