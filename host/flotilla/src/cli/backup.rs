//! `flotilla backup FILE` and `flotilla restore FILE`: a consistent copy
//! of the store taken while the server runs, and put back while it does
//! not. The data directory's lock (`flotilla.lock`, held by a running
//! server) tells the two apart.

use super::DataArgs;
use super::error::{CliError, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

/// The lock a server holds on its data directory while it runs.
pub fn lock_file(data_dir: &Path) -> PathBuf {
    data_dir.join("flotilla.lock")
}

/// Take the data directory's lock, or say who holds it.
pub fn lock(data_dir: &Path) -> Result<std::fs::File> {
    let path = lock_file(data_dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::Local(format!(
            "a flotilla server is using {} (it holds {})",
            data_dir.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(CliError::Local(format!("{}: {e}", path.display())))
        }
    }
}

/// A data directory whose server keeps its records in PostgreSQL has no
/// `flotilla.db` to copy: say how that database is backed up instead.
fn refuse_postgresql(data_dir: &Path, what: &str) -> Result<()> {
    // A configuration that does not load is the server's to report.
    let config = crate::config::Config::load(&data_dir.join("flotilla.toml"));
    if config.is_ok_and(|c| c.store.url.is_some()) {
        return Err(CliError::Local(format!(
            "the server of {} keeps its records in the PostgreSQL database of store.url: \
             {what} it with PostgreSQL's own tools (pg_dump, pg_restore; see the README, \
             \"Running on PostgreSQL\")",
            data_dir.display()
        )));
    }
    Ok(())
}

pub fn backup(args: BackupArgs) -> Result<ExitCode> {
    refuse_postgresql(&args.data.dir(), "back up")?;
    let db = args.data.dir().join("flotilla.db");
    let started = std::time::Instant::now();
    let info = crate::store::backup::backup(&db, &args.file).map_err(|e| format!("{e:#}"))?;
    outln!(
        "backed up {} services ({} bytes, schema {}) to {} in {:.2?}",
        info.services,
        info.bytes,
        info.schema_version,
        args.file.display(),
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: BackupArgs) -> Result<ExitCode> {
    refuse_postgresql(&args.data.dir(), "restore")?;
    let dir = args.data.dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _held = lock(&dir).map_err(|e| format!("{e}: stop it before restoring"))?;
    let db = dir.join("flotilla.db");
    let existed = db.exists();
    let info = crate::store::backup::restore(&args.file, &db).map_err(|e| format!("{e:#}"))?;
    outln!(
        "restored {} services from {} into {}{}",
        info.services,
        args.file.display(),
        db.display(),
        if existed {
            "; the database it replaced is kept beside it as flotilla.db.before-restore-<time>"
        } else {
            ""
        }
    );
    if !one_auth_signs_in(&dir, &db) {
        outln!(
            "note: {} does not sign in as oneadmin on the restored database: oneadmin's \
             password is the backed-up server's. Copy that server's one_auth here (and its \
             onegate.key, so the VMs' OneGate tokens stay valid), or set a new password with \
             `flotilla user passwd` as another admin",
            dir.join("one_auth").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the data directory's `one_auth` holds oneadmin's password as
/// the database at `db` knows it (a restore into another data directory
/// brings the other server's password, not this directory's file).
fn one_auth_signs_in(dir: &std::path::Path, db: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("one_auth")) else {
        return false;
    };
    let Some((name, password)) = text.trim().split_once(':') else {
        return false;
    };
    let Ok(store) = crate::store::SqliteStore::open(db) else {
        return false;
    };
    let store = store.boxed();
    match crate::access::users::stored_credentials(&*store, name) {
        Ok(Some(stored)) => {
            crate::access::passwords::matches(password.as_bytes(), stored.hash(), &mut Vec::new())
        }
        _ => false,
    }
}
