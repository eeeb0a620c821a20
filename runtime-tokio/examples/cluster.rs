//! The README's main job: a whole Pastry overlay on loopback in one
//! process, on the tokio runtime, put through its paces and judged against
//! the global view. The run itself is `pastry_tests::cluster`, shared with
//! pastry-mio's example; this file plugs the tokio handle into it.
//!
//! `cargo run --release -p pastry-tokio --example cluster [-- --nodes 64]`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id, Peer};
use pastry_tests::cluster::{self, Args, Seen};
use pastry_tokio::{Builder, Handle};

/// A node's handle, called from the run's (plain) threads.
struct Node {
    h: Handle,
    rt: tokio::runtime::Handle,
}

fn text(e: pastry_tokio::Error) -> String {
    e.to_string()
}

impl cluster::Node for Node {
    fn own(&self) -> Peer {
        self.h.own()
    }
    fn join(&self, via: Option<SocketAddr>) -> Result<(), String> {
        self.rt.block_on(self.h.join(via)).map_err(text)
    }
    fn route(&self, key: Id, app: AppId, payload: &[u8]) -> Result<u64, String> {
        let payload = payload.to_vec();
        self.rt
            .block_on(self.h.route(key, app, payload))
            .map_err(text)
    }
    fn put(&self, key: Id, version: u64, value: &[u8]) -> Result<u8, String> {
        let value = value.to_vec();
        self.rt
            .block_on(self.h.put(key, version, value))
            .map_err(text)
    }
    fn put_content(&self, value: &[u8]) -> Result<(Id, u8), String> {
        let value = value.to_vec();
        self.rt.block_on(self.h.put_content(value)).map_err(text)
    }
    fn get(&self, key: Id) -> Result<Option<Vec<u8>>, String> {
        let v = self.rt.block_on(self.h.get(key)).map_err(text)?;
        Ok(v.map(|v| v.bytes.to_vec()))
    }
    fn subscribe(&self, group: Id) -> Result<(), String> {
        self.rt.block_on(self.h.subscribe(group)).map_err(text)
    }
    fn publish(&self, group: Id, data: &[u8]) -> Result<u64, String> {
        let data = data.to_vec();
        self.rt.block_on(self.h.publish(group, data)).map_err(text)
    }
    fn anycast(&self, group: Id, data: &[u8]) -> Result<Peer, String> {
        let data = data.to_vec();
        self.rt.block_on(self.h.anycast(group, data)).map_err(text)
    }
    fn leaf_set(&self) -> Result<(Vec<Id>, Vec<Id>), String> {
        let read = self
            .h
            .inspect(|s| cluster::leaf_set_ids(s.node().leaf_set()));
        self.rt.block_on(read).map_err(text)
    }
    fn holds(&self, keys: &[Id]) -> Result<Vec<Id>, String> {
        let keys = keys.to_vec();
        let read = self
            .h
            .inspect(move |s| cluster::held(s.dht().store(), keys));
        self.rt.block_on(read).map_err(text)
    }
    fn crash(&self) -> Result<(), String> {
        self.rt.block_on(self.h.crash()).map_err(text)
    }
    fn shutdown(&self) -> Result<(), String> {
        self.rt.block_on(self.h.shutdown()).map_err(text)
    }
}

struct Tokio {
    rt: tokio::runtime::Runtime,
    tx: mpsc::Sender<(usize, Seen)>,
    rx: mpsc::Receiver<(usize, Seen)>,
}

impl cluster::Runtime for Tokio {
    type Node = Node;

    fn name(&self) -> &'static str {
        "pastry-tokio"
    }

    fn start(&mut self, n: usize, config: StackConfig, seed: u64) -> Result<Vec<Node>, String> {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let b = Builder::new(loopback)
                .config(config.clone())
                .seed(cluster::node_seed(seed, i));
            let (h, mut events) = self.rt.block_on(b.spawn()).map_err(text)?;
            let tx = self.tx.clone();
            // Deliveries and publications onto the run's one channel.
            self.rt.spawn(async move {
                while let Some(e) = events.recv().await {
                    let Some(seen) = Seen::of(e) else { continue };
                    if tx.send((i, seen)).is_err() {
                        return;
                    }
                }
            });
            let rt = self.rt.handle().clone();
            nodes.push(Node { h, rt });
        }
        Ok(nodes)
    }

    fn next_event(&mut self, limit: Duration) -> Option<(usize, Seen)> {
        cluster::recv_within(&self.rx, limit)
    }
}

fn main() -> ExitCode {
    let args = Args::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (tx, rx) = mpsc::channel();
    let mut tokio = Tokio { rt, tx, rx };
    if cluster::run(&mut tokio, &args) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
