//! A throwaway PostgreSQL cluster for the demo: when no database is configured and nothing listens
//! where the default points, Signalbox runs the system's own `initdb` / `pg_ctl` under a data
//! folder of the project and stops the cluster again on exit. Nothing here is used in production.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// A running throwaway cluster. Call [`EmbeddedPostgres::stop`] on shutdown; dropping it stops
/// the cluster too, as a last resort.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    port: u16,
    bin_dir: PathBuf,
    run_as: Option<String>,
    stopped: bool,
}

impl EmbeddedPostgres {
    /// Starts (creating on first use) a cluster in `data_dir` listening on 127.0.0.1:`port`,
    /// with trust authentication for the `postgres` user on loopback only.
    #[tracing::instrument(err)]
    pub fn start(data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        // Postgres refuses to run as root; on a root shell (containers, CI) run it as `postgres`.
        let run_as = is_root().then(|| "postgres".to_owned());
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
        let mut data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        if let Some(user) = &run_as
            && !reachable_by(user, &data_dir)
        {
            // A checkout under /root is closed to the `postgres` user; keep the cluster where it
            // can reach it instead of failing.
            let fallback = std::env::temp_dir().join("signalbox-demo-postgres");
            tracing::warn!(
                wanted = %data_dir.display(),
                using = %fallback.display(),
                "the postgres user cannot reach the data folder; using a shared temporary folder"
            );
            std::fs::create_dir_all(&fallback)
                .with_context(|| format!("creating {}", fallback.display()))?;
            data_dir = fallback;
        }
        let cluster = Self {
            data_dir,
            port,
            bin_dir,
            run_as,
            stopped: false,
        };
        if let Some(user) = &cluster.run_as {
            run(Command::new("chown")
                .args(["-R", user])
                .arg(&cluster.data_dir))?;
        }
        if !cluster.pgdata().join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.pgdata().display(), "creating a throwaway PostgreSQL cluster");
            run(cluster
                .command("initdb")
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg("-D")
                .arg(cluster.pgdata()))?;
        }
        // TCP on loopback only; no Unix socket, whose path length and characters Postgres limits.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' -c fsync=off"
        );
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(cluster.pgdata())
            .arg("-l")
            .arg(cluster.data_dir.join("postgres.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]))?;
        tracing::info!(port, "throwaway PostgreSQL cluster is running");
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the cluster (fast shutdown) and waits for it to exit.
    #[tracing::instrument(skip(self), err)]
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.pgdata())
            .args(["-m", "fast", "-w", "stop"]))?;
        tracing::info!("throwaway PostgreSQL cluster stopped");
        Ok(())
    }

    fn pgdata(&self) -> PathBuf {
        self.data_dir.join("pgdata")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::warn!(%error, "could not stop the throwaway PostgreSQL cluster");
        }
    }
}

/// True when something accepts TCP connections at `addr` within a short time.
pub fn is_listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Whether `user` can enter every folder on the way to `dir` (Postgres must, to use it).
fn reachable_by(user: &str, dir: &Path) -> bool {
    let parent = dir.parent().unwrap_or(dir);
    Command::new("runuser")
        .args(["-u", user, "--", "test", "-x"])
        .arg(parent)
        .status()
        .is_ok_and(|status| status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The PostgreSQL server programs: `pg_ctl` on PATH, else the newest Debian/Ubuntu install.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("pg_ctl");
            if candidate.is_file()
                && let Ok(real) = candidate.canonicalize()
                && let Some(parent) = real.parent()
            {
                return Ok(parent.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server programs found: install the `postgresql` package \
         (scripts/demo.sh does this) or configure `database.url`",
    )
}
