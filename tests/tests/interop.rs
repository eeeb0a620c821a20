//! One overlay of tokio nodes and mio nodes on loopback: they speak the
//! same core, so routing, storage and multicast work across both runtimes.
//! Judged against the global view (every node's id is known here).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id, Peer};
use pastry_tests::oracle::Ring;

/// A node of either runtime, behind the few calls the test needs.
enum Either {
    Tokio(pastry_tokio::Handle, pastry_tokio::Events),
    Mio(
        pastry_mio::Handle,
        std::sync::mpsc::Receiver<pastry_mio::NodeEvent>,
    ),
}

struct Mixed {
    tokio: tokio::runtime::Runtime,
    _mio: pastry_mio::Runtime,
    nodes: Vec<Either>,
}

impl Mixed {
    fn own(&self, i: usize) -> Peer {
        match &self.nodes[i] {
            Either::Tokio(h, _) => h.own(),
            Either::Mio(h, _) => h.own(),
        }
    }

    fn leaf_set(&self, i: usize) -> (Vec<Id>, Vec<Id>) {
        let read = |ls: &pastry_core::LeafSet<{ pastry_core::DEFAULT_LEAF_HALF }>| {
            let ids = |ps: &[Peer]| ps.iter().map(|p| p.id).collect::<Vec<Id>>();
            (ids(ls.left()), ids(ls.right()))
        };
        match &self.nodes[i] {
            Either::Tokio(h, _) => self
                .tokio
                .block_on(h.inspect(move |s| read(s.node().leaf_set())))
                .expect("running"),
            Either::Mio(h, _) => h
                .inspect(move |s| read(s.node().leaf_set()))
                .expect("running"),
        }
    }

    fn put(&self, i: usize, key: Id, value: &[u8]) -> u8 {
        match &self.nodes[i] {
            Either::Tokio(h, _) => self.tokio.block_on(h.put(key, 1, value.to_vec())).unwrap(),
            Either::Mio(h, _) => h.put(key, 1, value).unwrap(),
        }
    }

    fn get(&self, i: usize, key: Id) -> Option<Vec<u8>> {
        match &self.nodes[i] {
            Either::Tokio(h, _) => self
                .tokio
                .block_on(h.get(key))
                .unwrap()
                .map(|v| v.bytes.to_vec()),
            Either::Mio(h, _) => h.get(key).unwrap().map(|v| v.bytes),
        }
    }

    /// The next multicast or delivery of node `i` within `limit`, as
    /// (key or group, bytes).
    fn next_data(&mut self, i: usize, limit: Duration) -> Option<(Id, Vec<u8>)> {
        let until = Instant::now() + limit;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            match &mut self.nodes[i] {
                Either::Tokio(_, ev) => {
                    let e = self
                        .tokio
                        .block_on(async { tokio::time::timeout(left, ev.recv()).await })
                        .ok()??;
                    match e {
                        pastry_tokio::NodeEvent::Deliver { key, payload, .. } => {
                            return Some((key, payload.to_vec()));
                        }
                        pastry_tokio::NodeEvent::Multicast { group, data, .. } => {
                            return Some((group, data.to_vec()));
                        }
                        _ => {}
                    }
                }
                Either::Mio(_, ev) => match ev.recv_timeout(left).ok()? {
                    pastry_mio::NodeEvent::Deliver { key, payload, .. } => {
                        return Some((key, payload));
                    }
                    pastry_mio::NodeEvent::Multicast { group, data, .. } => {
                        return Some((group, data));
                    }
                    _ => {}
                },
            }
        }
    }
}

fn mixed(n: usize, seed: u64) -> Mixed {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mio = pastry_mio::Runtime::start().unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut nodes = Vec::new();
    for i in 0..n {
        let seed = seed * 1_000 + i as u64;
        // Even nodes on tokio, odd ones on mio.
        nodes.push(if i % 2 == 0 {
            let b = pastry_tokio::Builder::new(loopback)
                .config(StackConfig::lan())
                .seed(seed);
            let (h, e) = tokio.block_on(b.spawn()).unwrap();
            Either::Tokio(h, e)
        } else {
            let b = pastry_mio::Builder::new(loopback)
                .config(StackConfig::lan())
                .seed(seed);
            let (h, e) = mio.spawn(b).unwrap();
            Either::Mio(h, e)
        });
    }
    let net = Mixed {
        tokio,
        _mio: mio,
        nodes,
    };
    // Each joins through the one before: a tokio node through a mio node
    // and the other way round.
    for i in 0..n {
        let via = (i > 0).then(|| net.own(i - 1).addr);
        match &net.nodes[i] {
            Either::Tokio(h, _) => net.tokio.block_on(h.join(via)).unwrap(),
            Either::Mio(h, _) => h.join(via).unwrap(),
        }
    }
    net
}

#[test]
fn tokio_and_mio_nodes_form_one_overlay() {
    let seed = 31;
    let n = 16;
    let mut net = mixed(n, seed);
    let ring = Ring::new((0..n).map(|i| net.own(i).id));
    // Leaf sets match the sorted ids on both runtimes.
    let start = Instant::now();
    loop {
        let wrong: Vec<usize> = (0..n)
            .filter(|&i| net.leaf_set(i) != ring.leaf_set(net.own(i).id, 8))
            .collect();
        if wrong.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "seed {seed}: {wrong:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Storage across runtimes: written on one, read on every other.
    for i in 0..4 {
        let key = Id::sha1(format!("interop {i}").as_bytes());
        assert!(net.put(i, key, b"shared") >= 3);
        for j in 0..n {
            assert_eq!(
                net.get(j, key),
                Some(b"shared".to_vec()),
                "seed {seed}: {i} → {j}"
            );
        }
    }
    // Routing across runtimes: each node's own id from the next node.
    for i in 0..n {
        let from = (i + 1) % n;
        let key = net.own(i).id;
        match &net.nodes[from] {
            Either::Tokio(h, _) => {
                net.tokio
                    .block_on(h.route(key, AppId(1), b"to you".to_vec()))
                    .unwrap();
            }
            Either::Mio(h, _) => {
                h.route(key, AppId(1), b"to you").unwrap();
            }
        }
        let got = net.next_data(i, Duration::from_secs(5));
        assert_eq!(
            got,
            Some((key, b"to you".to_vec())),
            "seed {seed}: node {i}"
        );
    }
    // Multicast across runtimes: every node a member, a mio node publishes.
    let group = pastry_core::scribe::group_id(b"interop");
    for i in 0..n {
        match &net.nodes[i] {
            Either::Tokio(h, _) => net.tokio.block_on(h.subscribe(group)).unwrap(),
            Either::Mio(h, _) => h.subscribe(group).unwrap(),
        }
    }
    match &net.nodes[1] {
        Either::Mio(h, _) => h.publish(group, b"hello both").unwrap(),
        Either::Tokio(..) => unreachable!("odd nodes run on mio"),
    };
    for i in 0..n {
        let got = net.next_data(i, Duration::from_secs(5));
        assert_eq!(
            got,
            Some((group, b"hello both".to_vec())),
            "seed {seed}: node {i}"
        );
    }
    // A tokio client through a mio member.
    let via = net.own(3).addr;
    let key = Id::sha1(b"client across");
    let stored = net.tokio.block_on(async {
        let (c, _) = pastry_tokio::Client::connect(via).await.unwrap();
        c.put(key, 1, b"c".to_vec()).await
    });
    assert!(stored.unwrap() >= 3);
    assert_eq!(net.get(0, key), Some(b"c".to_vec()));
}
