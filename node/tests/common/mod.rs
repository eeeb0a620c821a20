//! Running `pastry-node` processes for the tests, and reading their logs.

#![allow(dead_code)] // each test file uses some of these

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_pastry-node");

/// A running `pastry-node run`; killed when dropped.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) log: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pastry-node run` on a free loopback port with the LAN timers, and
/// `extra` flags.
pub(crate) fn start(extra: &[&str]) -> Running {
    let mut args = vec!["run", "--listen", "127.0.0.1:0", "--lan"];
    args.extend_from_slice(extra);
    start_args(&args)
}

/// `pastry-node` with exactly `args`, once it logged its address.
pub(crate) fn start_args(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("pastry-node runs");
    let (tx, log) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The log names the address: "node started id=… addr=127.0.0.1:PORT".
    let addr = loop {
        let line = log
            .recv_timeout(Duration::from_secs(10))
            .expect("the node logs its start");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    Running { child, addr, log }
}

pub(crate) fn client(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("pastry-node runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// The first line of `node`'s log, from now, that contains `what`.
pub(crate) fn wait_line(node: &Running, what: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match node.log.recv_timeout(left) {
            Ok(line) if line.contains(what) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

pub(crate) fn wait_for(node: &Running, what: &str) -> bool {
    wait_line(node, what).is_some()
}

pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pastry-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The metrics address a node logged ("metrics at http://ADDR/metrics").
pub(crate) fn metrics_addr(node: &Running) -> String {
    let line = wait_line(node, "metrics at").expect("the node logs its endpoint");
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("an address")
        .to_string()
}
