//! A user application beside the DHT and Scribe: distributed counters.
//! Each increment is routed to the counter's key; the key's root counts it
//! and, when a counter reaches its target, tells its user with an event.
//! Eight nodes on loopback count, store a value and multicast at once; the
//! run checks every result against the global view and exits non-zero if
//! any is wrong.
//!
//! `cargo run --release -p pastry-tokio --example app`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use pastry_core::node::AppPolicy;
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, CommandError, Event, Id, Instant, Kbr};
use pastry_tokio::{Builder, Handle, HostedApp, NodeEvent};

const COUNTER: AppId = AppId(0xC0C0);
const NODES: usize = 8;
const PER_NODE: u64 = 25;
const TARGET: u64 = NODES as u64 * PER_NODE;

/// The counters this node is the root of.
#[derive(Default)]
struct Counters {
    counts: BTreeMap<Id, u64>,
    reached: Vec<Vec<u8>>,
}

impl Counters {
    /// Routes one increment of `name` to its root.
    fn increment(node: &mut dyn Kbr, now: Instant, name: &str) -> Result<u64, CommandError> {
        node.route(
            now,
            Id::sha1(name.as_bytes()),
            COUNTER,
            name.as_bytes(),
            None,
        )
    }
}

impl HostedApp for Counters {
    fn install(&mut self, node: &mut dyn Kbr) -> Result<(), CommandError> {
        node.set_policy(
            COUNTER,
            AppPolicy {
                allow: true,
                per_hop: false,
                receipts: true,
            },
        )
    }

    fn handle_event(&mut self, _now: Instant, _node: &mut dyn Kbr, ev: Event<'_>) -> bool {
        let Event::Deliver(d) = ev else { return false };
        if d.app != COUNTER {
            return false;
        }
        let n = self.counts.entry(d.key).or_default();
        *n += 1;
        if *n == TARGET {
            self.reached
                .push([d.payload, b" reached its target"].concat());
        }
        true
    }

    fn poll_event(&mut self) -> Option<Vec<u8>> {
        self.reached.pop()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let loopback = "127.0.0.1:0".parse()?;
    let (mut nodes, mut events): (Vec<Handle>, Vec<_>) = (Vec::new(), Vec::new());
    for _ in 0..NODES {
        let b = Builder::new(loopback)
            .config(StackConfig::lan())
            .app(Counters::default());
        let (h, e) = b.spawn().await?;
        let via = nodes.first().map(|f: &Handle| f.own().addr);
        h.join(via).await?;
        nodes.push(h);
        events.push(e);
    }
    println!("{NODES} nodes joined");

    // Everyone counts "hits" while the DHT and Scribe work beside it.
    let group = Id::sha1(b"news");
    for h in &nodes {
        h.subscribe(group).await?;
    }
    for h in &nodes {
        for _ in 0..PER_NODE {
            h.app(|_: &mut Counters, node, now| Counters::increment(node, now, "hits"))
                .await??;
        }
    }
    let key = Id::sha1(b"greeting");
    nodes[1].put(key, 1, &b"hello"[..]).await?;
    nodes[2].publish(group, &b"counting"[..]).await?;

    // The counter lives at the live node closest to its key, and nowhere else.
    let hits = Id::sha1(b"hits");
    let root = (0..NODES).min_by(|&a, &b| hits.cmp_closeness(nodes[a].own().id, nodes[b].own().id));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut counts = vec![0; NODES];
    while counts.iter().sum::<u64>() < TARGET && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (i, h) in nodes.iter().enumerate() {
            counts[i] = h
                .app(move |c: &mut Counters, _, _| c.counts.get(&hits).copied())
                .await?
                .unwrap_or(0);
        }
    }
    println!(
        "counts by node: {counts:?} (root: node {})",
        root.unwrap_or(0)
    );
    let want: Vec<u64> = (0..NODES)
        .map(|i| if Some(i) == root { TARGET } else { 0 })
        .collect();
    if counts != want {
        return Err(format!("counts {counts:?}, expected {want:?}").into());
    }

    // The root told its user once; every member got the publication once.
    for (i, e) in events.iter_mut().enumerate() {
        let (mut told, mut news) = (0, 0);
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), e.recv()).await {
            match ev {
                NodeEvent::App(bytes) if bytes == b"hits reached its target" => told += 1,
                NodeEvent::Multicast { data, .. } if data == b"counting" => news += 1,
                _ => {}
            }
        }
        if told != usize::from(Some(i) == root) || news != 1 {
            return Err(format!("node {i}: {told} target events, {news} publications").into());
        }
    }
    let got = nodes[NODES - 1].get(key).await?.map(|v| v.bytes);
    if got.as_deref() != Some(&b"hello"[..]) {
        return Err(format!("get returned {got:?}").into());
    }
    println!("counter, DHT and Scribe all right: ok");
    for h in &nodes {
        h.shutdown().await?;
    }
    Ok(())
}
