//! Users and groups. The policy (names, passwords, who may do what) is in
//! the server's `access::users`; here only what is stored.

use super::SqliteStore;
use rusqlite::{OptionalExtension, params};

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub gid: u64,
}

/// A user's row, with the Argon2id hash of the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub id: u64,
    pub name: String,
    pub gid: u64,
    pub password_hash: String,
}

/// Users and groups, and the names shown beside owners.
pub trait Accounts {
    /// Add a group with the next group id.
    fn insert_group(&self, name: &str) -> anyhow::Result<u64>;

    fn group_id_by_name(&self, name: &str) -> anyhow::Result<Option<u64>>;

    /// A group's name, if the group exists (read from the database, not
    /// the names cache).
    fn group_by_id(&self, id: u64) -> anyhow::Result<Option<String>>;

    fn groups(&self) -> anyhow::Result<Vec<(u64, String)>>;

    /// How many users are in a group.
    fn group_member_count(&self, gid: u64) -> anyhow::Result<u64>;

    fn delete_group(&self, id: u64) -> anyhow::Result<bool>;

    /// Add a user with the next user id; `password_hash` is already hashed.
    fn insert_user(&self, name: &str, password_hash: &str, gid: u64) -> anyhow::Result<u64>;

    fn user_count(&self) -> anyhow::Result<u64>;

    fn users(&self) -> anyhow::Result<Vec<User>>;

    fn user_by_id(&self, id: u64) -> anyhow::Result<Option<User>>;

    /// A user by name, with the password hash (for signing in).
    fn user_by_name(&self, name: &str) -> anyhow::Result<Option<StoredUser>>;

    fn set_user_password_hash(&self, id: u64, password_hash: &str) -> anyhow::Result<()>;

    fn set_user_group(&self, id: u64, gid: u64) -> anyhow::Result<()>;

    /// Delete a user's row; what they own keeps their id.
    fn delete_user(&self, id: u64) -> anyhow::Result<bool>;

    /// Names of groups and owners, for documents (`GNAME`, `UNAME`); the id
    /// when there is no such user or group (any more).
    fn group_name(&self, gid: u64) -> String;

    /// The owner's and the group's names, with one freshness check.
    fn owner_names(&self, ownership: &flotilla_core::permissions::Ownership) -> (String, String);
}

impl Accounts for SqliteStore {
    fn insert_group(&self, name: &str) -> anyhow::Result<u64> {
        let id = self.next_id("groups")?;
        self.db.execute(
            "INSERT INTO groups (id, name) VALUES (?1, ?2)",
            params![id as i64, name],
        )?;
        Ok(id)
    }

    fn group_id_by_name(&self, name: &str) -> anyhow::Result<Option<u64>> {
        Ok(self
            .db
            .query_row(
                "SELECT id FROM groups WHERE name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|id| id as u64))
    }

    fn group_by_id(&self, id: u64) -> anyhow::Result<Option<String>> {
        Ok(self
            .db
            .query_row(
                "SELECT name FROM groups WHERE id = ?1",
                params![id as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn groups(&self) -> anyhow::Result<Vec<(u64, String)>> {
        let mut stmt = self.db.prepare("SELECT id, name FROM groups ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn group_member_count(&self, gid: u64) -> anyhow::Result<u64> {
        let members: i64 = self.db.query_row(
            "SELECT COUNT(*) FROM users WHERE gid = ?1",
            params![gid as i64],
            |r| r.get(0),
        )?;
        Ok(members as u64)
    }

    fn delete_group(&self, id: u64) -> anyhow::Result<bool> {
        let deleted = self
            .db
            .execute("DELETE FROM groups WHERE id = ?1", params![id as i64])?;
        self.forget_names();
        Ok(deleted > 0)
    }

    fn insert_user(&self, name: &str, password_hash: &str, gid: u64) -> anyhow::Result<u64> {
        let id = self.next_id("users")?;
        self.db.execute(
            "INSERT INTO users (id, name, password_hash, gid) VALUES (?1, ?2, ?3, ?4)",
            params![id as i64, name, password_hash, gid as i64],
        )?;
        Ok(id)
    }

    fn user_count(&self) -> anyhow::Result<u64> {
        let users: i64 = self
            .db
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok(users as u64)
    }

    fn users(&self) -> anyhow::Result<Vec<User>> {
        let mut stmt = self
            .db
            .prepare("SELECT id, name, gid FROM users ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(User {
                id: r.get::<_, i64>(0)? as u64,
                name: r.get(1)?,
                gid: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn user_by_id(&self, id: u64) -> anyhow::Result<Option<User>> {
        Ok(self
            .db
            .query_row(
                "SELECT name, gid FROM users WHERE id = ?1",
                params![id as i64],
                |r| {
                    Ok(User {
                        id,
                        name: r.get(0)?,
                        gid: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()?)
    }

    fn user_by_name(&self, name: &str) -> anyhow::Result<Option<StoredUser>> {
        Ok(self
            .db
            .query_row(
                "SELECT id, password_hash, gid FROM users WHERE name = ?1",
                params![name],
                |r| {
                    Ok(StoredUser {
                        id: r.get::<_, i64>(0)? as u64,
                        name: name.to_string(),
                        password_hash: r.get(1)?,
                        gid: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?)
    }

    fn set_user_password_hash(&self, id: u64, password_hash: &str) -> anyhow::Result<()> {
        self.db.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![password_hash, id as i64],
        )?;
        Ok(())
    }

    fn set_user_group(&self, id: u64, gid: u64) -> anyhow::Result<()> {
        self.db.execute(
            "UPDATE users SET gid = ?1 WHERE id = ?2",
            params![gid as i64, id as i64],
        )?;
        Ok(())
    }

    fn delete_user(&self, id: u64) -> anyhow::Result<bool> {
        let deleted = self
            .db
            .execute("DELETE FROM users WHERE id = ?1", params![id as i64])?;
        self.forget_names();
        Ok(deleted > 0)
    }

    fn group_name(&self, gid: u64) -> String {
        self.drop_stale_caches();
        self.name("groups", gid)
    }

    fn owner_names(&self, ownership: &flotilla_core::permissions::Ownership) -> (String, String) {
        self.drop_stale_caches();
        (
            self.name("users", ownership.uid),
            self.name("groups", ownership.gid),
        )
    }
}

impl SqliteStore {
    fn name(&self, table: &'static str, id: u64) -> String {
        if let Some(name) = self.names.borrow().get(&(table, id)) {
            return name.clone();
        }
        let name: Option<String> = self
            .db
            .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row(params![id as i64], |r| r.get(0)))
            .ok();
        match name {
            Some(name) => {
                self.names.borrow_mut().insert((table, id), name.clone());
                name
            }
            None => id.to_string(),
        }
    }

    /// After a user or group is deleted (ids are not reused, so a name
    /// never changes otherwise).
    fn forget_names(&self) {
        self.names.borrow_mut().clear();
    }
}
