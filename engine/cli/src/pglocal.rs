//! A throwaway local PostgreSQL server for `ferry demo` and `ferry bench`: initdb into a
//! temp dir, start on a free loopback port, stop and remove on drop. Runs the server as
//! the `postgres` user when ferry runs as root (PostgreSQL refuses to run as root).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_core::{Error, Result};

/// A running throwaway server.
pub struct LocalPostgres {
    dir: PathBuf,
    pg_ctl: PathBuf,
    as_postgres: bool,
    /// `postgres://ferry:ferry@127.0.0.1:PORT/postgres`
    pub url: String,
    /// `jdbc:postgresql://127.0.0.1:PORT/postgres`
    pub jdbc_url: String,
    keep: bool,
}

fn find_bin(name: &str) -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &mut Command, what: &str, log: Option<&Path>) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("starting {what}"), e))?;
    if !out.status.success() {
        let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Some(l) = log {
            if let Ok(t) = std::fs::read_to_string(l) {
                msg.push('\n');
                msg.push_str(t.trim());
            }
        }
        return Err(Error::connect(format!("{what} failed: {msg}")));
    }
    Ok(())
}

impl LocalPostgres {
    /// initdb + start in a fresh directory under the system temp dir (world-traversable,
    /// so the `postgres` user can reach it when ferry runs as root). Fails with a clear
    /// message when the server binaries are missing.
    pub fn start() -> Result<LocalPostgres> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("ferry-pg-{}-{nanos}", std::process::id()));
        let dir = dir.as_path();
        let initdb = find_bin("initdb").ok_or_else(|| {
            Error::connect(
                "PostgreSQL server binaries (initdb) not found: install them, e.g. `apt-get install postgresql`",
            )
        })?;
        let pg_ctl =
            find_bin("pg_ctl").ok_or_else(|| Error::connect("pg_ctl not found next to initdb"))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let as_postgres = is_root();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Error::io("finding a free port", e))?;
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, "ferry\n").map_err(|e| Error::io("writing pwfile", e))?;
        if as_postgres {
            run(
                Command::new("chown").arg("-R").arg("postgres").arg(dir),
                "chown",
                None,
            )?;
        }
        let wrap = |bin: &Path| {
            if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin);
                c
            } else {
                Command::new(bin)
            }
        };
        run(
            wrap(&initdb)
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "ferry",
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
            None,
        )?;
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nmax_prepared_transactions = 64\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            dir.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path)
            .map_err(|e| Error::io("reading postgresql.conf", e))?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text).map_err(|e| Error::io("writing postgresql.conf", e))?;
        let log = dir.join("server.log");
        if as_postgres {
            run(
                Command::new("chown").arg("-R").arg("postgres").arg(dir),
                "chown",
                None,
            )?;
        }
        run(
            wrap(&pg_ctl)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
            Some(&log),
        )?;
        Ok(LocalPostgres {
            dir: dir.to_path_buf(),
            pg_ctl,
            as_postgres,
            url: format!("postgres://ferry:ferry@127.0.0.1:{port}/postgres"),
            jdbc_url: format!("jdbc:postgresql://127.0.0.1:{port}/postgres"),
            keep: false,
        })
    }

    /// Leave the server running when this value is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            c
        } else {
            Command::new(&self.pg_ctl)
        };
        let _ = c
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if !self.keep {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
