//! What the store needs of a database engine, so that its records are
//! written once for SQLite and PostgreSQL alike: statements with a few
//! kinds of values, write transactions, savepoints, a version to check
//! caches against and the schema's version.
//!
//! Statements are written once, in SQL both engines accept, with numbered
//! placeholders (`?1`); the PostgreSQL engine writes them as `$1`. Where
//! the engines differ (JSON, the schema's steps) a [`Dialect`] says which
//! text to use.

use anyhow::Context as _;

/// A value going into a statement or coming out of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Integer(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<u64> for Value {
    /// Ids and times are stored as SQL integers (signed 64 bits); one past
    /// `i64::MAX` wraps to a negative number no row has, and reads back as
    /// itself through [`Row::id`].
    fn from(n: u64) -> Value {
        Value::Integer(n as i64)
    }
}

impl From<u8> for Value {
    fn from(n: u8) -> Value {
        Value::Integer(n.into())
    }
}

impl From<Option<u64>> for Value {
    fn from(n: Option<u64>) -> Value {
        n.map_or(Value::Null, Value::from)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}

/// A statement's parameters, in order: `params![id, name]` is `?1`, `?2`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::database::Value::from($value)),*] as &[$crate::database::Value]
    };
}
pub(crate) use params;

/// A row of a query's result. Each getter takes its column's value out of
/// the row, so a document is not copied on its way to the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn take(&mut self, column: usize) -> anyhow::Result<Value> {
        let value = self
            .0
            .get_mut(column)
            .with_context(|| format!("a row has no column {column}"))?;
        Ok(std::mem::replace(value, Value::Null))
    }

    pub fn text(&mut self, column: usize) -> anyhow::Result<String> {
        match self.take(column)? {
            Value::Text(s) => Ok(s),
            other => anyhow::bail!("column {column}: text expected, found {other:?}"),
        }
    }

    pub fn integer(&mut self, column: usize) -> anyhow::Result<i64> {
        self.optional_integer(column)?
            .with_context(|| format!("column {column}: an integer expected, found NULL"))
    }

    pub fn optional_integer(&mut self, column: usize) -> anyhow::Result<Option<i64>> {
        match self.take(column)? {
            Value::Integer(n) => Ok(Some(n)),
            Value::Null => Ok(None),
            Value::Text(s) => anyhow::bail!("column {column}: an integer expected, found {s:?}"),
        }
    }

    /// An id (or a time) as it was written through `Value::from(u64)`.
    pub fn id(&mut self, column: usize) -> anyhow::Result<u64> {
        Ok(self.integer(column)? as u64)
    }

    pub fn optional_id(&mut self, column: usize) -> anyhow::Result<Option<u64>> {
        Ok(self.optional_integer(column)?.map(|n| n as u64))
    }
}

/// Which engine's SQL to write where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A network attribute (a name the store writes, never one from a
    /// request) as text, read from a `body` column (a resource document:
    /// `{"attributes": {…}}`). PostgreSQL reads the body as
    /// `json`, not `jsonb`: `jsonb` refuses a `\u0000` anywhere in the
    /// document, `json` only in the value read.
    pub fn body_attribute(self, attribute: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract(body, '$.attributes.{attribute}')"),
            Dialect::Postgres => format!("(body::json -> 'attributes' ->> '{attribute}')"),
        }
    }

    /// What a database of this engine is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Dialect::Sqlite => "data directory",
            Dialect::Postgres => "database",
        }
    }
}

/// A connection to a database, as the store uses it. Calls take `&self`
/// (the store's calls do) and block.
pub trait Database: Send {
    fn dialect(&self) -> Dialect;

    /// Run a statement that writes; the number of rows it changed. Outside
    /// a transaction it is a transaction of its own.
    fn execute(&self, sql: &str, params: &[Value]) -> anyhow::Result<u64>;

    /// Every row of a query.
    fn query(&self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<Row>>;

    /// Statements without parameters, run as written (the schema's steps).
    fn execute_batch(&self, sql: &str) -> anyhow::Result<()>;

    /// Begin a write transaction: until it ends no other connection
    /// commits a write, and what it reads is what it will commit over.
    fn begin(&self) -> anyhow::Result<()>;

    /// Commit the open transaction. One that cannot be committed is
    /// rolled back: either way no transaction is open after.
    fn commit(&self) -> anyhow::Result<()>;

    /// Roll back the open transaction, if any.
    fn rollback(&self);

    fn in_transaction(&self) -> bool;

    /// Mark a point of the open transaction to roll back to.
    fn savepoint(&self, name: &str) -> anyhow::Result<()> {
        self.execute_batch(&format!("SAVEPOINT {name}"))
    }

    fn release_savepoint(&self, name: &str) -> anyhow::Result<()> {
        self.execute_batch(&format!("RELEASE {name}"))
    }

    /// Undo what the transaction wrote since the savepoint, and drop it.
    fn rollback_to_savepoint(&self, name: &str) -> anyhow::Result<()> {
        self.execute_batch(&format!("ROLLBACK TO {name}"))?;
        self.release_savepoint(name)
    }

    /// A number that changes when another connection commits: what the
    /// store's caches are checked against. This connection's own commits
    /// do not change it (its caches are written through).
    fn data_version(&self) -> anyhow::Result<i64>;

    /// How many of the schema's steps the database has had.
    fn schema_version(&self) -> anyhow::Result<i64>;

    fn set_schema_version(&self, version: i64) -> anyhow::Result<()>;

    /// The first row of a query, if any.
    fn query_row(&self, sql: &str, params: &[Value]) -> anyhow::Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The text in the first column of the first row, if there is a row.
    fn query_text(&self, sql: &str, params: &[Value]) -> anyhow::Result<Option<String>> {
        self.query_row(sql, params)?
            .map(|mut row| row.text(0))
            .transpose()
    }

    /// The texts in the first column of every row.
    fn query_texts(&self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<String>> {
        self.query(sql, params)?
            .into_iter()
            .map(|mut row| row.text(0))
            .collect()
    }

    /// The integer in the first column of the first row: `None` when there
    /// is no row, or it holds NULL (`MAX` of an empty table).
    fn query_integer(&self, sql: &str, params: &[Value]) -> anyhow::Result<Option<i64>> {
        Ok(self
            .query_row(sql, params)?
            .map(|mut row| row.optional_integer(0))
            .transpose()?
            .flatten())
    }

    /// The ids in the first column of every row.
    fn query_ids(&self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<u64>> {
        self.query(sql, params)?
            .into_iter()
            .map(|mut row| row.id(0))
            .collect()
    }
}
