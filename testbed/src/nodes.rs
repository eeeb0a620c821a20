//! The `pastry-node` processes: one per namespace, each with its own
//! data directory, log file and metrics endpoint; started, killed
//! (SIGKILL, no goodbye) and restarted from the same data directory.
//! Dropping [`Nodes`] kills whatever still runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::net::{addr, namespace};

/// The overlay's port on every node.
const PORT: u16 = 4000;
/// The metrics endpoint's port on every node.
const METRICS: u16 = 9464;

/// How the nodes are run.
#[derive(Debug)]
pub(crate) struct Nodes {
    pub(crate) bin: PathBuf,
    pub(crate) dir: PathBuf,
    /// Milliseconds of delay and the loss on every node's sends.
    pub(crate) impair: (u64, f64),
    running: Vec<Option<Child>>,
}

/// What `/status` says of a node.
#[derive(Debug, Default, Clone)]
pub(crate) struct Status {
    pub(crate) id: String,
    pub(crate) active: bool,
    pub(crate) leaf_set: Vec<String>,
}

impl Nodes {
    pub(crate) fn new(bin: PathBuf, dir: PathBuf, n: usize, impair: (u64, f64)) -> Nodes {
        Nodes {
            bin,
            dir,
            impair,
            running: (0..n).map(|_| None).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.running.len()
    }

    /// Node `i`'s overlay address.
    pub(crate) fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(addr(i), PORT)
    }

    /// Starts node `i`, joining through node `through` (or starting the
    /// overlay); a restart keeps the data directory, so the id and values.
    pub(crate) fn start(&mut self, i: usize, through: Option<usize>) -> Result<(), String> {
        let data = self.dir.join(format!("n{i}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("n{i}.log")))
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &namespace(i)])
            .arg(&self.bin)
            .args(["run", "--lan", "--listen", &self.addr(i).to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--metrics", &SocketAddr::new(addr(i), METRICS).to_string()])
            .args(["--impair-delay-ms", &self.impair.0.to_string()])
            .args(["--impair-loss", &self.impair.1.to_string()]);
        if let Some(b) = through {
            cmd.args(["--bootstrap", &self.addr(b).to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        self.running[i] = Some(child);
        Ok(())
    }

    /// Kills node `i` without warning (SIGKILL).
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.running[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether node `i`'s process still runs.
    pub(crate) fn alive(&mut self, i: usize) -> bool {
        self.running[i]
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Node `i`'s state, as `pastry-node status` reads it from the node's
    /// metrics endpoint.
    pub(crate) async fn status(&self, i: usize) -> Result<Status, String> {
        let at = SocketAddr::new(addr(i), METRICS).to_string();
        let out = tokio::process::Command::new(&self.bin)
            .args(["status", "--metrics", &at])
            .output()
            .await
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let body = String::from_utf8_lossy(&out.stdout);
        let mut s = Status::default();
        let mut in_leaf_set = false;
        for line in body.lines() {
            if let Some(id) = line.strip_prefix("id") {
                s.id = id.trim().to_string();
            } else if let Some(v) = line.strip_prefix("in the ring") {
                s.active = v.trim() == "yes";
            } else if line.starts_with("leaf set") {
                in_leaf_set = true;
            } else if in_leaf_set && line.starts_with("  ") {
                s.leaf_set
                    .extend(line.split_whitespace().next().map(String::from));
            } else {
                in_leaf_set = false;
            }
        }
        Ok(s)
    }

    /// Waits until node `i` says it is in the ring.
    pub(crate) async fn wait_active(&self, i: usize, limit: Duration) -> Result<Status, String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.status(i).await {
                Ok(s) if s.active => return Ok(s),
                other if Instant::now() > deadline => {
                    return Err(format!(
                        "node {i} not in the ring after {limit:?}: {other:?}"
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.running.len() {
            self.kill(i);
        }
    }
}
