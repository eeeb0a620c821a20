//! `testbed`: many `pastry-node` processes on one host, each in a network
//! namespace of its own on one bridge, with delay and loss on every
//! datagram (the nodes' own impairment: kernel netem is not available on
//! every host). Three scenarios, each judged against the global view:
//!
//! 1. traffic: every node stores keys, every node reads others' (at
//!    least 99.9 % of the operations succeed);
//! 2. restart: a quarter of the processes are killed (SIGKILL) and
//!    restarted from their data directories, rejoining through the peers
//!    they knew; every acknowledged value is read back;
//! 3. partition: the bridge is split into halves, then joined again; the
//!    overlay must become one ring (every leaf set as the sorted ids say).
//!
//! ```text
//! cargo build --release -p pastry-node -p pastry-testbed
//! sudo target/release/testbed --nodes 32 --delay-ms 50 --loss 0.05
//! ```
//!
//! Needs root (network namespaces). Everything it makes is named `ptb-`
//! and removed on exit, on failure too.

#![forbid(unsafe_code)]

mod net;
mod nodes;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Runs pastry-node processes in network namespaces and checks them.
#[derive(Parser, Debug)]
#[command(name = "testbed", about)]
pub(crate) struct Args {
    /// Nodes (processes, namespaces).
    #[arg(long, default_value_t = 32)]
    nodes: usize,
    /// Delay added to every datagram, in milliseconds.
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Fraction of datagrams dropped.
    #[arg(long, default_value_t = 0.05)]
    loss: f64,
    /// Keys each node stores.
    #[arg(long, default_value_t = 32)]
    keys: usize,
    /// Seconds between killing a quarter of the processes and restarting
    /// them (all at once).
    #[arg(long, default_value_t = 3)]
    restart_after_secs: u64,
    /// Restart the killed processes one after another, each once the
    /// one before is in the ring (as a supervisor might), not all at once.
    #[arg(long)]
    restart_one_by_one: bool,
    /// Seconds the network stays split in two.
    #[arg(long, default_value_t = 60)]
    partition_secs: u64,
    /// Seconds the overlay has to become one ring again.
    #[arg(long, default_value_t = 120)]
    heal_secs: u64,
    /// The pastry-node binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Where the nodes' data directories and logs go (default: a fresh
    /// directory under the system's temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Exit 0 with a message when this host cannot make namespaces
    /// (for CI on machines without root).
    #[arg(long)]
    skip_if_unavailable: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(why) = net::Net::available() {
        eprintln!("testbed: cannot create network namespaces here ({why}); it needs root on Linux");
        return if args.skip_if_unavailable {
            eprintln!("testbed: skipped");
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // Interrupted, the run's future is dropped, and with it the processes
    // and the namespaces.
    let run = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            r = scenarios::run(args) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT)".to_string()),
            _ = term.recv() => Err("interrupted (SIGTERM)".to_string()),
        }
    };
    match rt.block_on(run) {
        Ok(()) => {
            println!("testbed: every check passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("testbed: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
