//! Backups of the store: a consistent copy taken while a server runs
//! (`VACUUM INTO`, one read transaction: writers go on, the copy is the
//! database as of one moment, compacted), and putting one back while no
//! server runs.

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub bytes: u64,
    pub services: u64,
    pub schema_version: i64,
}

/// Copy the database at `db` to `to` (which must not exist), consistently,
/// while a server may be writing to it.
pub fn backup(db: &Path, to: &Path) -> anyhow::Result<BackupInfo> {
    if to.exists() {
        bail!(
            "{}: already exists; a backup never overwrites",
            to.display()
        );
    }
    if !db.exists() {
        bail!(
            "{}: no database here (is this the data directory?)",
            db.display()
        );
    }
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = to
        .to_str()
        .with_context(|| format!("{}: not a UTF-8 path", to.display()))?;
    // The copy holds password hashes: it is created for its owner only
    // (VACUUM INTO writes into an empty file).
    create_private(to)?;
    let copied = source
        .execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("copying {} to {}", db.display(), to.display()));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(e);
    }
    inspect(to)
}

fn create_private(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// Check that `file` is a Flotilla database and say what it holds.
pub fn inspect(file: &Path) -> anyhow::Result<BackupInfo> {
    let db = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", file.display()))?;
    let schema_version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("{}: not an SQLite database", file.display()))?;
    let services: i64 = db
        .query_row("SELECT COUNT(*) FROM services", [], |r| r.get(0))
        .with_context(|| {
            format!(
                "{}: not a Flotilla database (no services table)",
                file.display()
            )
        })?;
    if schema_version > crate::migrations::latest() {
        bail!(
            "{}: written by a newer Flotilla (schema {schema_version}, this one knows up to {})",
            file.display(),
            crate::migrations::latest()
        );
    }
    Ok(BackupInfo {
        bytes: std::fs::metadata(file)?.len(),
        services: services.max(0) as u64,
        schema_version,
    })
}

/// Put the backup `from` in place as the database `db`, with no server
/// running (the caller holds the data directory's lock). The backup is
/// checked first and copied beside the database, then renamed over it, so
/// a failure leaves the old database as it was; the old write-ahead log
/// goes with it.
pub fn restore(from: &Path, db: &Path) -> anyhow::Result<BackupInfo> {
    let info = inspect(from)?;
    let staged = db.with_extension("db.restoring");
    let clean = |staged: &Path| {
        for suffix in ["db.restoring", "db.restoring-wal", "db.restoring-shm"] {
            let _ = std::fs::remove_file(staged.with_extension(suffix));
        }
    };
    clean(&staged);
    let prepared = std::fs::copy(from, &staged)
        .with_context(|| format!("copying {} to {}", from.display(), staged.display()))
        .and_then(|_| {
            // Brought up to this release's schema now, as a start would.
            crate::SqliteStore::open(&staged)
                .map(drop)
                .with_context(|| format!("opening {}", staged.display()))
        });
    if let Err(e) = prepared {
        clean(&staged);
        return Err(e);
    }
    let _ = std::fs::remove_file(db.with_extension("db.restoring-wal"));
    let _ = std::fs::remove_file(db.with_extension("db.restoring-shm"));
    // The database replaced is kept beside it (never overwriting an
    // earlier one), its log folded in first.
    if db.exists() {
        let old = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
        old.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        drop(old);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let kept = db.with_extension(format!("db.before-restore-{stamp}"));
        std::fs::rename(db, &kept)
            .with_context(|| format!("keeping the old database as {}", kept.display()))?;
    }
    for suffix in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(db.with_extension(suffix));
    }
    std::fs::rename(&staged, db)
        .with_context(|| format!("moving {} to {}", staged.display(), db.display()))?;
    Ok(info)
}
