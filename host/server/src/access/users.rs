//! Users and groups, with passwords hashed by Argon2id. On first start the
//! server creates `oneadmin` (group `oneadmin`, which may do anything) and
//! a `users` group, and writes oneadmin's credentials to `<data>/one_auth`
//! for the CLI, as OpenNebula does.

use super::permissions::Identity;
use crate::store::Store;
use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::{Argon2, PasswordHasher};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use flotilla_core::permissions::ADMIN_GROUP;
pub const USERS_GROUP: u64 = 1;
pub const ADMIN_USER: &str = "oneadmin";

pub use crate::store::User;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// Bad input, naming the field (400).
    Invalid(String),
    /// A user or group of that name exists (409).
    Exists(String),
    NotFound(String),
    Storage(String),
}

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessError::Invalid(m)
            | AccessError::Exists(m)
            | AccessError::NotFound(m)
            | AccessError::Storage(m) => f.write_str(m),
        }
    }
}

/// A failure of the store, worded as SQLite words it.
impl From<anyhow::Error> for AccessError {
    fn from(e: anyhow::Error) -> Self {
        AccessError::Storage(e.to_string())
    }
}

fn check_name(field: &str, name: &str) -> Result<(), AccessError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AccessError::Invalid(format!(
            "{field}: `{name}` must be 1-128 characters of letters, digits, _ . @ -"
        )))
    }
}

pub fn create_group(store: &dyn Store, name: &str) -> Result<u64, AccessError> {
    check_name("name", name)?;
    if store.group_id_by_name(name)?.is_some() {
        return Err(AccessError::Exists(format!("name: group `{name}` exists")));
    }
    Ok(store.insert_group(name)?)
}

fn hash(password: &str) -> Result<String, AccessError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Storage(format!("hashing a password: {e}")))
}

pub fn create_user(
    store: &dyn Store,
    name: &str,
    password: &str,
    gid: u64,
) -> Result<u64, AccessError> {
    check_name("name", name)?;
    if password.is_empty() {
        return Err(AccessError::Invalid("password: must not be empty".into()));
    }
    if !group_exists(store, gid)? {
        return Err(AccessError::Invalid(format!(
            "group_id: group {gid} does not exist"
        )));
    }
    if store.user_by_name(name)?.is_some() {
        return Err(AccessError::Exists(format!("name: user `{name}` exists")));
    }
    Ok(store.insert_user(name, &hash(password)?, gid)?)
}

pub fn users(store: &dyn Store) -> Result<Vec<User>, AccessError> {
    Ok(store.users()?)
}

pub fn groups(store: &dyn Store) -> Result<Vec<(u64, String)>, AccessError> {
    Ok(store.groups()?)
}

pub fn user_by_id(store: &dyn Store, id: u64) -> Result<Option<User>, AccessError> {
    Ok(store.user_by_id(id)?)
}

pub fn user_exists(store: &dyn Store, id: u64) -> Result<bool, AccessError> {
    Ok(user_by_id(store, id)?.is_some())
}

/// A group's name, if the group exists.
pub fn group(store: &dyn Store, id: u64) -> Result<Option<String>, AccessError> {
    Ok(store.group_by_id(id)?)
}

pub fn group_exists(store: &dyn Store, id: u64) -> Result<bool, AccessError> {
    Ok(group(store, id)?.is_some())
}

fn existing_user(store: &dyn Store, id: u64) -> Result<User, AccessError> {
    user_by_id(store, id)?.ok_or_else(|| AccessError::NotFound(format!("user {id} does not exist")))
}

pub fn set_password(store: &dyn Store, id: u64, password: &str) -> Result<(), AccessError> {
    existing_user(store, id)?;
    if password.is_empty() {
        return Err(AccessError::Invalid(
            "params.password: must not be empty".into(),
        ));
    }
    Ok(store.set_user_password_hash(id, &hash(password)?)?)
}

/// Move a user to another group. oneadmin stays in the oneadmin group: the
/// server would have no administrator otherwise.
pub fn set_group(store: &dyn Store, id: u64, gid: u64) -> Result<(), AccessError> {
    let user = existing_user(store, id)?;
    if !group_exists(store, gid)? {
        return Err(AccessError::Invalid(format!(
            "params.group_id: group {gid} does not exist"
        )));
    }
    if user.name == ADMIN_USER && gid != ADMIN_GROUP {
        return Err(AccessError::Exists(
            "oneadmin must stay in the oneadmin group".into(),
        ));
    }
    Ok(store.set_user_group(id, gid)?)
}

/// Delete a user; what they own keeps their id as owner (as in
/// OpenNebula): the group and other bits still apply, the owner bits to
/// no one, since ids are not reused.
pub fn delete_user(store: &dyn Store, id: u64) -> Result<(), AccessError> {
    let user = existing_user(store, id)?;
    if user.name == ADMIN_USER {
        return Err(AccessError::Exists("oneadmin cannot be deleted".into()));
    }
    store.delete_user(id)?;
    Ok(())
}

/// Delete an empty group; the two built-in groups stay.
pub fn delete_group(store: &dyn Store, id: u64) -> Result<(), AccessError> {
    if !group_exists(store, id)? {
        return Err(AccessError::NotFound(format!("group {id} does not exist")));
    }
    if id == ADMIN_GROUP || id == USERS_GROUP {
        return Err(AccessError::Exists(format!(
            "group {id} is built in and cannot be deleted"
        )));
    }
    let members = store.group_member_count(id)?;
    if members > 0 {
        return Err(AccessError::Exists(format!(
            "group {id} has {members} user(s); move or delete them first"
        )));
    }
    store.delete_group(id)?;
    Ok(())
}

/// A user's stored credentials, read under the store's lock and verified
/// without it.
pub struct StoredCredentials {
    identity: Identity,
    hash: String,
}

impl StoredCredentials {
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn into_identity(self) -> Identity {
        self.identity
    }
}

pub fn stored_credentials(
    store: &dyn Store,
    name: &str,
) -> Result<Option<StoredCredentials>, AccessError> {
    Ok(store.user_by_name(name)?.map(|user| StoredCredentials {
        identity: Identity {
            uid: user.id,
            name: user.name,
            gid: user.gid,
            admin: user.gid == ADMIN_GROUP,
        },
        hash: user.password_hash,
    }))
}

/// The hash an unknown user's password is checked against, so that the
/// answer takes as long and does not tell which names exist.
pub fn stand_in_hash() -> &'static str {
    static STAND_IN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STAND_IN.get_or_init(|| hash("stand-in").unwrap_or_default())
}

/// Credentials that verified, and the generation they were read in.
#[derive(Default)]
struct Remembered {
    /// Bumped by every change to a user: a check that read the stored
    /// credentials before a change must not remember what it read after.
    generation: u64,
    verified: HashMap<[u8; 32], Identity>,
}

/// Checks credentials. Argon2 is slow on purpose (tens of milliseconds), so
/// credentials that verified once are remembered by their SHA-256, and a
/// request with the same credentials costs a hash, not a verification.
///
/// A check reads `generation()` before it reads the stored credentials and
/// hands it to `remember`; `forget_all` bumps the generation and clears
/// under the same lock, so a check in flight across a change of the user
/// is not remembered.
#[derive(Default)]
pub struct Authenticator {
    remembered: Mutex<Remembered>,
}

fn remember_key(name: &str, password: &str) -> [u8; 32] {
    Sha256::digest(format!("{name}\0{password}")).into()
}

impl Authenticator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Credentials that verified before, without touching the store.
    pub fn remembered(&self, name: &str, password: &str) -> Option<Identity> {
        self.lock()
            .verified
            .get(&remember_key(name, password))
            .cloned()
    }

    /// The current generation; read it before the stored credentials.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Remember verified credentials, unless a user changed since
    /// `generation` was read (then what was verified may be stale).
    pub fn remember(&self, name: &str, password: &str, identity: Identity, generation: u64) {
        let mut remembered = self.lock();
        if remembered.generation == generation {
            remembered
                .verified
                .insert(remember_key(name, password), identity);
        }
    }

    /// The slow check (Argon2) in the calling thread, remembered if it
    /// matches and nothing changed since `generation`: for tests. The
    /// server checks on its own threads (`passwords::PasswordChecks`, in
    /// `api::auth`).
    #[cfg(test)]
    pub fn verify(
        &self,
        name: &str,
        password: &str,
        stored: Option<StoredCredentials>,
        generation: u64,
    ) -> Option<Identity> {
        let hash = stored.as_ref().map_or(stand_in_hash(), |s| s.hash.as_str());
        let matches = super::passwords::matches(password.as_bytes(), hash, &mut Vec::new());
        let identity = stored.filter(|_| matches)?.identity;
        self.remember(name, password, identity.clone(), generation);
        Some(identity)
    }

    /// `remembered`, else `verify` (holding the store throughout): for
    /// tests.
    #[cfg(test)]
    pub fn authenticate(
        &self,
        store: &dyn Store,
        name: &str,
        password: &str,
    ) -> Result<Option<Identity>, AccessError> {
        if let Some(identity) = self.remembered(name, password) {
            return Ok(Some(identity));
        }
        let generation = self.generation();
        Ok(self.verify(name, password, stored_credentials(store, name)?, generation))
    }

    /// Forget remembered credentials: after any change to a user (password,
    /// group, deletion), once the change is stored.
    pub fn forget_all(&self) {
        let mut remembered = self.lock();
        remembered.generation += 1;
        remembered.verified.clear();
    }
}

/// On first start (no users): create the `oneadmin` and `users` groups and
/// the `oneadmin` user with a random password, written to
/// `<data>/one_auth` (mode 600) as `oneadmin:<password>`. Returns the path
/// when it created the file.
pub fn bootstrap(store: &dyn Store, data_dir: &Path) -> Result<Option<PathBuf>, AccessError> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let admin_group = create_group(store, "oneadmin")?;
    create_group(store, "users")?;
    debug_assert_eq!(admin_group, ADMIN_GROUP);
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let password: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    create_user(store, ADMIN_USER, &password, ADMIN_GROUP)?;
    let path = data_dir.join("one_auth");
    write_private(&path, &format!("{ADMIN_USER}:{password}\n"))
        .map_err(|e| AccessError::Storage(format!("writing {}: {e}", path.display())))?;
    Ok(Some(path))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    write_private_bytes(path, contents.as_bytes())
}

/// Write a file only its owner may read (a secret).
pub(crate) fn write_private_bytes(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_oneadmin_and_its_credentials_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::in_memory().unwrap().boxed();
        let path = bootstrap(&*store, dir.path())
            .unwrap()
            .expect("created on first start");
        let text = std::fs::read_to_string(&path).unwrap();
        let (name, password) = text.trim().split_once(':').unwrap();
        assert_eq!(name, "oneadmin");
        assert_eq!(password.len(), 24);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let auth = Authenticator::default();
        let admin = auth.authenticate(&*store, name, password).unwrap().unwrap();
        assert!(admin.admin);
        assert_eq!(bootstrap(&*store, dir.path()).unwrap(), None, "only once");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn users_authenticate_with_their_password_only() {
        let store = crate::store::SqliteStore::in_memory().unwrap().boxed();
        let dir = tempfile::tempdir().unwrap();
        bootstrap(&*store, dir.path()).unwrap();
        let uid = create_user(&*store, "alice", "s3cret", USERS_GROUP).unwrap();
        let auth = Authenticator::default();
        let alice = auth
            .authenticate(&*store, "alice", "s3cret")
            .unwrap()
            .unwrap();
        assert_eq!(
            (alice.uid, alice.gid, alice.admin),
            (uid, USERS_GROUP, false)
        );
        assert_eq!(auth.authenticate(&*store, "alice", "wrong").unwrap(), None);
        assert_eq!(
            auth.authenticate(&*store, "mallory", "s3cret").unwrap(),
            None
        );
        // Remembered credentials still answer the same.
        assert_eq!(
            auth.authenticate(&*store, "alice", "s3cret")
                .unwrap()
                .unwrap(),
            alice
        );
        let stored = store.user_by_name("alice").unwrap().unwrap().password_hash;
        assert!(stored.starts_with("$argon2id$") && !stored.contains("s3cret"));
    }

    #[test]
    fn a_check_in_flight_across_a_change_is_not_remembered() {
        let store = crate::store::SqliteStore::in_memory().unwrap().boxed();
        bootstrap(&*store, tempfile::tempdir().unwrap().path()).unwrap();
        let uid = create_user(&*store, "alice", "old", USERS_GROUP).unwrap();
        let auth = Authenticator::default();
        // The check reads the generation and the stored password...
        let generation = auth.generation();
        let stored = stored_credentials(&*store, "alice").unwrap();
        // ...the password changes meanwhile...
        set_password(&*store, uid, "new").unwrap();
        auth.forget_all();
        // ...and the old password, verified against what was read, is not
        // remembered.
        assert!(auth.verify("alice", "old", stored, generation).is_some());
        assert_eq!(auth.remembered("alice", "old"), None);
        assert_eq!(auth.authenticate(&*store, "alice", "old").unwrap(), None);
    }

    #[test]
    fn bad_names_duplicates_and_unknown_groups_are_refused() {
        let store = crate::store::SqliteStore::in_memory().unwrap().boxed();
        bootstrap(&*store, tempfile::tempdir().unwrap().path()).unwrap();
        assert!(
            matches!(create_user(&*store, "a b", "x", 1), Err(AccessError::Invalid(m)) if m.starts_with("name:"))
        );
        assert!(matches!(
            create_user(&*store, "bob:x", "x", 1),
            Err(AccessError::Invalid(_))
        ));
        assert!(
            matches!(create_user(&*store, "bob", "", 1), Err(AccessError::Invalid(m)) if m.starts_with("password:"))
        );
        assert!(matches!(
            create_user(&*store, "bob", "x", 42),
            Err(AccessError::Invalid(m)) if m.starts_with("group_id:")
        ));
        create_user(&*store, "bob", "x", 1).unwrap();
        assert!(matches!(
            create_user(&*store, "bob", "y", 1),
            Err(AccessError::Exists(_))
        ));
        assert!(matches!(
            create_group(&*store, "users"),
            Err(AccessError::Exists(_))
        ));
        assert_eq!(
            users(&*store)
                .unwrap()
                .into_iter()
                .find(|u| u.name == "bob")
                .unwrap()
                .gid,
            1
        );
    }
}
