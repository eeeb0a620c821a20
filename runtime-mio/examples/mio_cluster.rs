//! A whole Pastry overlay on loopback on mio event loops (one unless
//! `--loops` says otherwise; each runs its share of the nodes), put
//! through the same paces and checks as pastry-tokio's `cluster` example
//! (the run is `pastry_tests::cluster`); this file plugs the blocking
//! handle in.
//!
//! `cargo run --release -p pastry-mio --example mio_cluster [-- --nodes 64]`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id, Peer};
use pastry_mio::{Builder, Handle, Runtime};
use pastry_tests::cluster::{self, Args, Seen};

struct Node(Handle);

fn text(e: pastry_mio::Error) -> String {
    e.to_string()
}

impl cluster::Node for Node {
    fn own(&self) -> Peer {
        self.0.own()
    }
    fn join(&self, via: Option<SocketAddr>) -> Result<(), String> {
        self.0.join(via).map_err(text)
    }
    fn route(&self, key: Id, app: AppId, payload: &[u8]) -> Result<u64, String> {
        self.0.route(key, app, payload).map_err(text)
    }
    fn put(&self, key: Id, version: u64, value: &[u8]) -> Result<u8, String> {
        self.0.put(key, version, value).map_err(text)
    }
    fn put_content(&self, value: &[u8]) -> Result<(Id, u8), String> {
        self.0.put_content(value).map_err(text)
    }
    fn get(&self, key: Id) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.get(key).map_err(text)?.map(|v| v.bytes))
    }
    fn subscribe(&self, group: Id) -> Result<(), String> {
        self.0.subscribe(group).map_err(text)
    }
    fn publish(&self, group: Id, data: &[u8]) -> Result<u64, String> {
        self.0.publish(group, data).map_err(text)
    }
    fn anycast(&self, group: Id, data: &[u8]) -> Result<Peer, String> {
        self.0.anycast(group, data).map_err(text)
    }
    fn leaf_set(&self) -> Result<(Vec<Id>, Vec<Id>), String> {
        self.0
            .inspect(|s| cluster::leaf_set_ids(s.node().leaf_set()))
            .map_err(text)
    }
    fn holds(&self, keys: &[Id]) -> Result<Vec<Id>, String> {
        let keys = keys.to_vec();
        self.0
            .inspect(move |s| cluster::held(s.dht().store(), keys))
            .map_err(text)
    }
    fn crash(&self) -> Result<(), String> {
        self.0.crash().map_err(text)
    }
    fn shutdown(&self) -> Result<(), String> {
        self.0.shutdown().map_err(text)
    }
}

struct Mio {
    /// One event-loop thread each; node `i` runs on `loops[i % len]`.
    loops: Vec<Runtime>,
    name: &'static str,
    tx: mpsc::Sender<(usize, Seen)>,
    rx: mpsc::Receiver<(usize, Seen)>,
}

impl cluster::Runtime for Mio {
    type Node = Node;

    fn name(&self) -> &'static str {
        self.name
    }

    fn start(&mut self, n: usize, config: StackConfig, seed: u64) -> Result<Vec<Node>, String> {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let b = Builder::new(loopback)
                .config(config.clone())
                .seed(cluster::node_seed(seed, i));
            let rt = &self.loops[i % self.loops.len()];
            let (h, events) = rt.spawn(b).map_err(text)?;
            let tx = self.tx.clone();
            // Deliveries and publications onto the run's one channel.
            std::thread::spawn(move || {
                for e in events {
                    let Some(seen) = Seen::of(e) else { continue };
                    if tx.send((i, seen)).is_err() {
                        return;
                    }
                }
            });
            nodes.push(Node(h));
        }
        Ok(nodes)
    }

    fn next_event(&mut self, limit: Duration) -> Option<(usize, Seen)> {
        cluster::recv_within(&self.rx, limit)
    }
}

fn main() -> ExitCode {
    let args = Args::from_env();
    let count = match args.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let loops = match (0..count).map(|_| Runtime::start()).collect() {
        Ok(loops) => loops,
        Err(e) => {
            eprintln!("cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (tx, rx) = mpsc::channel();
    // Printed once per run: leaking it is the simplest `&'static str`.
    let name = format!("pastry-mio, {count} event-loop thread(s)").leak();
    let mut mio = Mio {
        loops,
        name,
        tx,
        rx,
    };
    if cluster::run(&mut mio, &args) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
