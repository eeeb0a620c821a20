//! Peerlets on a tokio overlay (PROST): sixteen nodes on loopback, two
//! applications written in Rust and deployed while the overlay runs, half
//! the nodes refusing their provider, every result checked.
//!
//! Node 0 stores two peerlets in the DHT: `top-k`, an end-node aggregator
//! (the most frequent words sent to each key), and `tagger`, a per-hop
//! filter (drops messages carrying `spam`, marks the rest at every node
//! that runs it). Other nodes send them traffic. The odd nodes deny the
//! provider, so messages whose root is odd fall over to the next member of
//! the key's replica set that admits it. Each answer is checked against an
//! oracle (the true replica sets, the exact counts); the run prints what a
//! first message costs (fetch and install) and what later ones cost, and
//! exits non-zero on any error.
//!
//! Build the peerlets first (their source is in `peerlet/guests/`):
//!
//! ```text
//! rustup target add wasm32-unknown-unknown
//! cargo build --release --target wasm32-unknown-unknown --manifest-path peerlet/guests/Cargo.toml
//! cargo run -p pastry-tokio --example peerlets
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pastry_core::identity::Keypair;
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id};
use pastry_peerlet::{Budget, Hops, Package, PeerletEvent, Peerlets, Policy};
use pastry_tests::oracle::{Ring, closest_n};
use pastry_tokio::{Builder, Events, Handle, NodeEvent};

const NODES: usize = 16;
const TOP_K: AppId = AppId(0xa010);
const TAGGER: AppId = AppId(0xa011);

struct Net {
    handles: Vec<Handle>,
    events: Vec<Events>,
}

fn module(name: &str) -> Result<Vec<u8>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../peerlet/guests/target/wasm32-unknown-unknown/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).map_err(|e| {
        format!(
            "{}: {e}\nbuild the example peerlets first:\n  cargo build --release \
             --target wasm32-unknown-unknown --manifest-path peerlet/guests/Cargo.toml",
            path.display()
        )
    })
}

/// Sixteen nodes, joined, with true leaf sets; even ones trust
/// `provider`, odd ones deny it.
async fn start(provider: &Keypair) -> Result<Net, String> {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (mut handles, mut events) = (Vec::new(), Vec::new());
    for i in 0..NODES {
        let mut policy = Policy::default();
        if i % 2 == 0 {
            policy.trusted.push(provider.public());
        } else {
            policy.denied.push(provider.public());
        }
        let (h, ev) = Builder::new(loopback)
            .config(StackConfig::lan())
            .identity(Keypair::from_secret([i as u8 + 1; 32]))
            .seed(i as u64)
            .app(Peerlets::new(policy, i as u64))
            .forwarder(Hops)
            .spawn()
            .await
            .map_err(|e| e.to_string())?;
        handles.push(h);
        events.push(ev);
    }
    handles[0].join(None).await.map_err(|e| e.to_string())?;
    for i in 1..NODES {
        let via = handles[i / 2].own().addr;
        handles[i]
            .join(Some(via))
            .await
            .map_err(|e| e.to_string())?;
    }
    let ring = Ring::new(handles.iter().map(|h| h.own().id));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut right = 0;
        for h in &handles {
            let got = h
                .inspect(|s| {
                    let ls = s.node().leaf_set();
                    let ids =
                        |ps: &[pastry_core::Peer]| ps.iter().map(|p| p.id).collect::<Vec<_>>();
                    (ids(ls.left()), ids(ls.right()))
                })
                .await
                .map_err(|e| e.to_string())?;
            right += usize::from(got == ring.leaf_set(h.own().id, 8));
        }
        if right == NODES {
            return Ok(Net { handles, events });
        }
        if Instant::now() > deadline {
            return Err(format!("leaf sets still wrong on {} nodes", NODES - right));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deploy(h: &Handle, p: &Package) -> Result<(), String> {
    for c in &p.chunks {
        h.put_content(c.clone()).await.map_err(|e| e.to_string())?;
    }
    let (key, _) = h
        .put_content(p.manifest.clone())
        .await
        .map_err(|e| e.to_string())?;
    if key != p.locator {
        return Err("the manifest was stored under another key".into());
    }
    Ok(())
}

/// Node `i`'s next peerlet answer (or refusal) within `wait`.
async fn answer(net: &mut Net, i: usize, wait: Duration) -> Option<PeerletEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ev = tokio::time::timeout_at(deadline, net.events[i].recv())
            .await
            .ok()??;
        if let NodeEvent::App(bytes) = ev
            && let Some(e) = PeerletEvent::decode(&bytes)
            && matches!(e, PeerletEvent::Reply { .. } | PeerletEvent::Refused { .. })
        {
            return Some(e);
        }
    }
}

async fn send(net: &Net, from: usize, locator: Id, key: Id, payload: &[u8]) -> Result<(), String> {
    let payload = payload.to_vec();
    net.handles[from]
        .app::<Peerlets, _>(move |p, node, now| p.send(now, node, (locator, key), &payload))
        .await
        .map_err(|e| e.to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The oracle's top three of `counts` (ties: the word seen first).
fn top3(counts: &[(String, u32)]) -> String {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].1.cmp(&counts[a].1).then(a.cmp(&b)));
    let parts: Vec<String> = order
        .iter()
        .take(3)
        .map(|&i| format!("{}={}", counts[i].0, counts[i].1))
        .collect();
    parts.join(" ")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

async fn run(errors: &mut Vec<String>) -> Result<(), String> {
    let provider = Keypair::from_secret([0x70; 32]);
    let mut net = start(&provider).await?;
    let ids: Vec<Id> = net.handles.iter().map(|h| h.own().id).collect();
    let admits = |id: Id| {
        ids.iter()
            .position(|&x| x == id)
            .is_some_and(|i| i % 2 == 0)
    };
    // Where a message to `key` is run: the first member of the key's true
    // replica set whose node admits the provider.
    let runner = |key: Id| closest_n(key, &ids, 5).into_iter().find(|&id| admits(id));

    let top_k = Package::new(
        &provider,
        (TOP_K, false),
        (1, Budget::DEFAULT),
        &module("top_k")?,
        900,
    )
    .map_err(|e| e.to_string())?;
    let tagger = Package::new(
        &provider,
        (TAGGER, true),
        (1, Budget::DEFAULT),
        &module("tagger")?,
        900,
    )
    .map_err(|e| e.to_string())?;
    deploy(&net.handles[0], &top_k).await?;
    deploy(&net.handles[0], &tagger).await?;
    println!(
        "deployed top-k ({} chunk(s)) and tagger ({} chunk(s)) from node 0",
        top_k.chunks.len(),
        tagger.chunks.len()
    );

    // The aggregator: words to four keys, each from another node.
    let words = [
        "pastry", "scribe", "pastry", "past", "kbr", "pastry", "scribe", "past", "pastry",
    ];
    let mut counts: BTreeMap<Id, Vec<(String, u32)>> = BTreeMap::new();
    let (mut first, mut later) = (Vec::new(), Vec::new());
    let mut n = 0;
    for k in 0..4u32 {
        let key = Id::sha1(format!("topic {k}").as_bytes());
        for w in words {
            n += 1;
            let from = 1 + n % (NODES - 1);
            let t = Instant::now();
            send(&net, from, top_k.locator, key, w.as_bytes()).await?;
            let got = answer(&mut net, from, Duration::from_secs(20)).await;
            let c = counts.entry(key).or_default();
            match c.iter_mut().find(|(x, _)| x == w) {
                Some(e) => e.1 += 1,
                None => c.push((w.to_string(), 1)),
            }
            let want = runner(key).map(|r| (r, top3(c)));
            match (got, want) {
                (
                    Some(PeerletEvent::Reply {
                        from: by, payload, ..
                    }),
                    Some((r, text)),
                ) if by == r && payload == text.as_bytes() => {
                    if c.iter().map(|e| e.1).sum::<u32>() == 1 {
                        first.push(t.elapsed());
                    } else {
                        later.push(t.elapsed());
                    }
                }
                (Some(PeerletEvent::Refused { .. }), None) => {}
                (got, want) => errors.push(format!(
                    "top-k, key {k}, word {w}: got {got:?}, want {want:?}"
                )),
            }
        }
    }
    println!(
        "top-k: {} answers checked; first message to a key {:?} (median, fetch and install \
         included where the code was new), later ones {:?} (median)",
        n,
        median(first),
        median(later)
    );

    // The filter: spam is dropped on the way or at the end; the rest
    // comes back marked once per node that ran it.
    let mut marked = Vec::new();
    for k in 0..8u32 {
        let key = Id::sha1(format!("path {k}").as_bytes());
        let from = (3 * k as usize + 1) % NODES;
        let spam = k % 2 == 1;
        let text = if spam {
            format!("buy spam {k}")
        } else {
            format!("hello {k}")
        };
        send(&net, from, tagger.locator, key, text.as_bytes()).await?;
        let got = answer(
            &mut net,
            from,
            Duration::from_secs(if spam { 3 } else { 20 }),
        )
        .await;
        match (spam, got, runner(key)) {
            (true, None, _) => {}
            (
                false,
                Some(PeerletEvent::Reply {
                    from: by, payload, ..
                }),
                Some(r),
            ) if by == r => {
                let plus = payload.iter().rev().take_while(|&&b| b == b'+').count();
                if payload.starts_with(text.as_bytes()) && plus >= 1 {
                    marked.push(plus);
                } else {
                    errors.push(format!(
                        "tagger, key {k}: {:?}",
                        String::from_utf8_lossy(&payload)
                    ));
                }
            }
            (false, Some(PeerletEvent::Refused { .. }), None) => {}
            (spam, got, r) => errors.push(format!(
                "tagger, key {k}, spam {spam}: got {got:?}, runner {r:?}"
            )),
        }
    }
    println!("tagger: spam dropped, other messages marked by {marked:?} nodes");

    // Denying nodes ran nothing and fetched no code; some messages fell
    // over; figures per installed peerlet.
    let mut fell = 0;
    for (i, h) in net.handles.iter().enumerate() {
        let (st, list) = h
            .app::<Peerlets, _>(|p, _, _| (*p.stats(), p.list()))
            .await
            .map_err(|e| e.to_string())?;
        if i % 2 == 1 && (st.installed > 0 || st.fetched > 0) {
            errors.push(format!(
                "node {i} denies the provider but ran its code: {st:?}"
            ));
        }
        fell += st.fall_overs;
        for s in list.iter().filter(|s| s.calls > 0) {
            let name = if s.app == TOP_K { "top-k" } else { "tagger" };
            println!(
                "node {i:2} runs {name:6}: {} calls, {} fuel per call, {} KiB of linear memory, {} B stored",
                s.calls,
                s.fuel / s.calls,
                s.memory_bytes / 1024,
                s.store_bytes
            );
        }
    }
    if fell == 0 {
        errors.push("no message fell over, though half the nodes deny the provider".into());
    }
    println!("{fell} messages fell over to the next replica-set member");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut errors = Vec::new();
    if let Err(e) = run(&mut errors).await {
        errors.push(e);
    }
    if errors.is_empty() {
        println!("peerlets: every result checked, all correct");
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("error: {e}");
        }
        ExitCode::FAILURE
    }
}
