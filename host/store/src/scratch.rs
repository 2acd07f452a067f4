//! A PostgreSQL server of a test's own (or a benchmark's), started with
//! `initdb` and `pg_ctl` on a loopback port, its data in a temporary
//! directory, stopped and removed when dropped, even when the test
//! panics. Never the system's service. Used by the store's tests, and by
//! the server's through the `scratch-postgres` feature.

use std::cell::Cell;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A database of the test server.
pub struct PgDatabase {
    pub url: String,
    pub name: String,
    /// The server's superuser, in this database.
    admin_url: String,
}

impl PgDatabase {
    /// A superuser's connection to the database, to look at it or change
    /// it behind the store's back.
    pub fn admin(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.admin_url, ::postgres::NoTls).unwrap()
    }

    /// End every other connection to the database, as a server restart or
    /// a network cut would.
    pub fn cut_connections(&self) -> u64 {
        self.admin()
            .execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .unwrap()
    }
}

/// A PostgreSQL server of the tests' own, on a loopback port, its data in
/// a temporary directory; stopped (immediately: nothing is kept) and
/// removed when dropped.
pub struct Cluster {
    bin: PathBuf,
    /// The user that runs the server when the tests run as root (initdb
    /// refuses root): `postgres`, as Debian's package makes it.
    owner: Option<(u32, u32)>,
    port: u16,
    databases: Cell<u32>,
    dir: tempfile::TempDir,
}

/// Ports tried in turn: a free port picked may be taken before the server
/// binds it.
const PORT_TRIES: usize = 5;

impl Cluster {
    /// A running server, or `None` when no PostgreSQL server is installed.
    /// Panics (failing the test) when one is installed but cannot start.
    pub fn start() -> Option<Cluster> {
        let bin = server_binaries()?;
        let owner = if effective_uid() == Some(0) {
            Some(user_ids("postgres").expect(
                "running as root, PostgreSQL must run as the `postgres` user, and there is none",
            ))
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("flotilla-pg-")
            .tempdir()
            .unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = Cluster {
            bin,
            owner,
            port: 0,
            databases: Cell::new(0),
            dir,
        };
        let data = cluster.data();
        cluster.run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
        );
        for _ in 0..PORT_TRIES {
            cluster.port = free_port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
                cluster.port,
                cluster.dir.path().display()
            );
            let started = cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.log())
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output()
                .unwrap();
            if started.status.success() {
                return Some(cluster);
            }
        }
        panic!(
            "the test PostgreSQL server did not start; its log:\n{}",
            std::fs::read_to_string(cluster.log()).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, command: &mut Command) {
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{command:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new database, its owner a user of its own (not a superuser, as a
    /// server's would be).
    pub fn database(&self) -> PgDatabase {
        let number = self.databases.get() + 1;
        self.databases.set(number);
        let name = format!("flotilla_{number}");
        let mut admin =
            ::postgres::Client::connect(&self.url("postgres", "postgres"), ::postgres::NoTls)
                .unwrap();
        // Two statements: CREATE DATABASE runs outside any transaction.
        admin.batch_execute(&format!("CREATE USER {name}")).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {name}"))
            .unwrap();
        PgDatabase {
            url: self.url(&name, &name),
            admin_url: self.url("postgres", &name),
            name,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "60", "stop"])
            .output();
        if !stopped.is_ok_and(|out| out.status.success()) {
            eprintln!(
                "the test PostgreSQL server in {} did not stop",
                data.display()
            );
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: Debian's newest major version
/// (`/usr/lib/postgresql/N/bin`), else the first on PATH.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .max_by_key(|(version, _)| *version);
    if let Some((_, bin)) = newest {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| has_both(dir))
}

/// The process's effective user id, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// A user's id and group id, from `/etc/passwd`.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&user) {
            return None;
        }
        Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
