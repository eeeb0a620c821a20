//! A user application hosted by pastry-mio nodes on one loop, judged
//! against the sorted ids: increments sent through `Handle::app` are
//! counted by the key's true root alone, the root's event reaches its
//! user once, and a handle asking for an application the node does not
//! host gets `Error::NoApp`.

#![cfg(not(loom))]

use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use pastry_core::Id;
use pastry_core::stack::StackConfig;
use pastry_mio::{Builder, Error, Handle, NodeEvent, Runtime};
use pastry_tests::hosted::{Absent, Tally};

const NODES: usize = 8;
const EACH: u64 = 5;
const TARGET: u64 = NODES as u64 * EACH;

#[test]
fn a_hosted_application_counts_at_the_true_root_and_tells_its_user_once() {
    let rt = Runtime::start().expect("loop starts");
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut nodes: Vec<(Handle, Receiver<NodeEvent>)> = Vec::new();
    for i in 0..NODES {
        let b = Builder::new(loopback)
            .config(StackConfig::lan())
            .seed(800 + i as u64)
            .app(Tally::new(TARGET));
        let (h, e) = rt.spawn(b).expect("node starts");
        let via = nodes.first().map(|(f, _)| f.own().addr);
        h.join(via).expect("joined");
        nodes.push((h, e));
    }
    let key = Id::sha1(b"hits");
    for (h, _) in &nodes {
        for _ in 0..EACH {
            let sent = h.app(move |_: &mut Tally, node, now| Tally::increment(node, now, key));
            sent.expect("hosted").expect("routed");
        }
    }
    let root = (0..NODES)
        .min_by(|&a, &b| key.cmp_closeness(nodes[a].0.own().id, nodes[b].0.own().id))
        .unwrap();
    let mut counts = vec![0; NODES];
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.iter().sum::<u64>() < TARGET && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        for (i, (h, _)) in nodes.iter().enumerate() {
            counts[i] = h.app(move |t: &mut Tally, _, _| t.count(key)).unwrap();
        }
    }
    let want: Vec<u64> = (0..NODES)
        .map(|i| if i == root { TARGET } else { 0 })
        .collect();
    assert_eq!(
        counts, want,
        "every increment at the true root (node {root})"
    );
    for (i, (_, e)) in nodes.iter().enumerate() {
        let want = NodeEvent::App(TARGET.to_be_bytes().to_vec());
        let told = e.try_iter().filter(|ev| *ev == want).count();
        assert_eq!(
            told,
            usize::from(i == root),
            "node {i}: the target told once, by the root"
        );
    }
    let wrong = nodes[0].0.app(|_: &mut Absent, _, _| ());
    assert!(matches!(wrong, Err(Error::NoApp)), "{wrong:?}");
    rt.shutdown().expect("stops");
}
