//! Users and groups. The policy (names, passwords, who may do what) is in
//! the server's `access::users`; here only what is stored.

use super::SqlStore;
use crate::database::{Database, params};

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

impl<D: Database> Accounts for SqlStore<D> {
    fn insert_group(&self, name: &str) -> anyhow::Result<u64> {
        self.in_transaction(|| {
            let id = self.next_id("groups")?;
            self.db.execute(
                "INSERT INTO groups (id, name) VALUES (?1, ?2)",
                params![id, name],
            )?;
            Ok(id)
        })
    }

    fn group_id_by_name(&self, name: &str) -> anyhow::Result<Option<u64>> {
        Ok(self
            .db
            .query_integer("SELECT id FROM groups WHERE name = ?1", params![name])?
            .map(|id| id as u64))
    }

    fn group_by_id(&self, id: u64) -> anyhow::Result<Option<String>> {
        self.db
            .query_text("SELECT name FROM groups WHERE id = ?1", params![id])
    }

    fn groups(&self) -> anyhow::Result<Vec<(u64, String)>> {
        self.db
            .query("SELECT id, name FROM groups ORDER BY id", params![])?
            .into_iter()
            .map(|mut r| Ok((r.id(0)?, r.text(1)?)))
            .collect()
    }

    fn group_member_count(&self, gid: u64) -> anyhow::Result<u64> {
        let members = self
            .db
            .query_integer("SELECT COUNT(*) FROM users WHERE gid = ?1", params![gid])?;
        Ok(members.unwrap_or(0) as u64)
    }

    fn delete_group(&self, id: u64) -> anyhow::Result<bool> {
        let deleted = self
            .db
            .execute("DELETE FROM groups WHERE id = ?1", params![id])?;
        self.forget_names();
        Ok(deleted > 0)
    }

    fn insert_user(&self, name: &str, password_hash: &str, gid: u64) -> anyhow::Result<u64> {
        self.in_transaction(|| {
            let id = self.next_id("users")?;
            self.db.execute(
                "INSERT INTO users (id, name, password_hash, gid) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, password_hash, gid],
            )?;
            Ok(id)
        })
    }

    fn user_count(&self) -> anyhow::Result<u64> {
        let users = self
            .db
            .query_integer("SELECT COUNT(*) FROM users", params![])?;
        Ok(users.unwrap_or(0) as u64)
    }

    fn users(&self) -> anyhow::Result<Vec<User>> {
        self.db
            .query("SELECT id, name, gid FROM users ORDER BY id", params![])?
            .into_iter()
            .map(|mut r| {
                Ok(User {
                    id: r.id(0)?,
                    name: r.text(1)?,
                    gid: r.id(2)?,
                })
            })
            .collect()
    }

    fn user_by_id(&self, id: u64) -> anyhow::Result<Option<User>> {
        self.db
            .query_row("SELECT name, gid FROM users WHERE id = ?1", params![id])?
            .map(|mut r| {
                Ok(User {
                    id,
                    name: r.text(0)?,
                    gid: r.id(1)?,
                })
            })
            .transpose()
    }

    fn user_by_name(&self, name: &str) -> anyhow::Result<Option<StoredUser>> {
        self.db
            .query_row(
                "SELECT id, password_hash, gid FROM users WHERE name = ?1",
                params![name],
            )?
            .map(|mut r| {
                Ok(StoredUser {
                    id: r.id(0)?,
                    name: name.to_string(),
                    password_hash: r.text(1)?,
                    gid: r.id(2)?,
                })
            })
            .transpose()
    }

    fn set_user_password_hash(&self, id: u64, password_hash: &str) -> anyhow::Result<()> {
        self.db.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![password_hash, id],
        )?;
        Ok(())
    }

    fn set_user_group(&self, id: u64, gid: u64) -> anyhow::Result<()> {
        self.db
            .execute("UPDATE users SET gid = ?1 WHERE id = ?2", params![gid, id])?;
        Ok(())
    }

    fn delete_user(&self, id: u64) -> anyhow::Result<bool> {
        let deleted = self
            .db
            .execute("DELETE FROM users WHERE id = ?1", params![id])?;
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

impl<D: Database> SqlStore<D> {
    fn name(&self, table: &'static str, id: u64) -> String {
        if let Some(name) = self.names.borrow().get(&(table, id)) {
            return name.clone();
        }
        let name = self
            .db
            .query_text(
                &format!("SELECT name FROM {table} WHERE id = ?1"),
                params![id],
            )
            .ok()
            .flatten();
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
