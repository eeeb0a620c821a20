//! pastry-mio on real UDP sockets on loopback, judged against the global
//! view (the test knows every node's id): the scenarios of pastry-tokio's
//! loopback tests, on one event loop with blocking handles.

#![cfg(not(loom))]

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id, Peer};
use pastry_mio::{Builder, Error, Handle, NodeEvent, Runtime};
use pastry_tests::oracle::Ring;

struct Net {
    rt: Runtime,
    nodes: Vec<(Handle, Receiver<NodeEvent>)>,
    alive: Vec<bool>,
}

impl Net {
    fn ring(n: usize, seed: u64) -> Net {
        let rt = Runtime::start().expect("loop starts");
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let nodes: Vec<_> = (0..n)
            .map(|i| {
                let b = Builder::new(loopback)
                    .config(StackConfig::lan())
                    .seed(seed * 1_000 + i as u64)
                    .event_capacity(65_536);
                rt.spawn(b).expect("node starts")
            })
            .collect();
        nodes[0].0.join(None).expect("first node");
        // Joins from several threads at once: the handle is Send + Sync.
        std::thread::scope(|s| {
            for (i, (h, _)) in nodes.iter().enumerate().skip(1) {
                let via = nodes[i / 2].0.own().addr;
                s.spawn(move || h.join(Some(via)).expect("joined"));
            }
        });
        let net = Net {
            rt,
            alive: vec![true; n],
            nodes,
        };
        net.converge(seed);
        net
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.alive[i]).collect()
    }

    fn h(&self, i: usize) -> &Handle {
        &self.nodes[i].0
    }

    fn ring_now(&self) -> Ring {
        Ring::new(self.live().into_iter().map(|i| self.h(i).own().id))
    }

    fn converge(&self, seed: u64) {
        let start = Instant::now();
        loop {
            let ring = self.ring_now();
            let wrong: Vec<usize> = self
                .live()
                .into_iter()
                .filter(|&i| {
                    let got = self
                        .h(i)
                        .inspect(|s| {
                            let ids = |ps: &[Peer]| ps.iter().map(|p| p.id).collect::<Vec<Id>>();
                            let ls = s.node().leaf_set();
                            (ids(ls.left()), ids(ls.right()))
                        })
                        .expect("running");
                    got != ring.leaf_set(self.h(i).own().id, 8)
                })
                .collect();
            if wrong.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "seed {seed}: leaf sets wrong at {wrong:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Events of node `i` until `done` or the limit; whether done.
    fn watch(&self, i: usize, limit: Duration, mut done: impl FnMut(NodeEvent) -> bool) -> bool {
        let until = Instant::now() + limit;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.nodes[i].1.recv_timeout(left) {
                Ok(ev) => {
                    if done(ev) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }
}

/// A crowd greets one node at once: each datagram is fed and drained
/// before the next (the drain rule), so none of the crowd's Hellos is
/// turned away for want of room for the answers (the handshake queues 8).
#[test]
fn a_crowd_joining_through_one_node_is_answered_at_once() {
    let seed = 12;
    let rt = Runtime::start().expect("loop starts");
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let nodes: Vec<_> = (0..48)
        .map(|i| {
            let b = Builder::new(loopback)
                .config(StackConfig::lan())
                .seed(seed * 1_000 + i as u64);
            rt.spawn(b).expect("node starts")
        })
        .collect();
    nodes[0].0.join(None).expect("first node");
    let via = nodes[0].0.own().addr;
    std::thread::scope(|s| {
        for (h, _) in nodes.iter().skip(1) {
            s.spawn(move || h.join(Some(via)).expect("joined"));
        }
    });
    let stats = nodes[0].0.stats().expect("running");
    pastry_tests::cluster::check_crowd_answered(&stats.sessions, 47)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
}

fn value(key: Id) -> Vec<u8> {
    format!("the value of {key}").into_bytes()
}

#[test]
fn one_loop_runs_a_ring_that_stores_routes_and_survives_a_quarter_crashing() {
    let seed = 21;
    let mut net = Net::ring(32, seed);
    let keys: Vec<Id> = (0..32u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
    for (i, key) in keys.iter().enumerate() {
        let acks = net.h(i).put(*key, 1, &value(*key));
        assert!(matches!(acks, Ok(n) if n >= 3), "seed {seed}: {acks:?}");
    }
    // Reads from every node, from several threads at once.
    std::thread::scope(|s| {
        for i in net.live() {
            let (h, keys) = (net.h(i), &keys);
            s.spawn(move || {
                for key in keys {
                    let got = h.get(*key).expect("answered").map(|v| v.bytes);
                    assert_eq!(got, Some(value(*key)), "seed {seed}: node {i}");
                }
            });
        }
    });
    // Lookups reach the true root.
    let ring = net.ring_now();
    for n in 0..64u32 {
        let key = Id::sha1(&n.to_le_bytes());
        net.h((n % 32) as usize)
            .route(key, AppId(1), &n.to_be_bytes())
            .unwrap();
        let root = ring.root_of(key).unwrap();
        let at = (0..32).find(|&i| net.h(i).own().id == root).unwrap();
        let got = net.watch(
            at,
            Duration::from_secs(5),
            |ev| matches!(ev, NodeEvent::Deliver { key: k, .. } if k == key),
        );
        assert!(got, "seed {seed}: lookup {n} not delivered at its root");
    }
    // A quarter crash in waves below k; reads still succeed after repair.
    for wave in [[1usize, 9, 17, 25], [4, 12, 20, 28]] {
        for i in wave {
            net.h(i).crash().unwrap();
            net.alive[i] = false;
        }
        net.converge(seed);
    }
    std::thread::sleep(Duration::from_secs(2));
    for i in net.live() {
        for key in keys.iter().step_by(4) {
            let got = net.h(i).get(*key).expect("answered").map(|v| v.bytes);
            assert_eq!(
                got,
                Some(value(*key)),
                "seed {seed}: node {i} after the crash"
            );
        }
    }
    assert!(matches!(net.h(1).get(keys[0]), Err(Error::Stopped)));
}

#[test]
fn multicast_reaches_every_member_once_and_anycast_one() {
    let seed = 22;
    let net = Net::ring(16, seed);
    let group = pastry_core::scribe::group_id(b"mio");
    for i in net.live() {
        net.h(i).subscribe(group).expect("attached");
    }
    let id = net.h(3).publish(group, b"news").unwrap();
    for i in net.live() {
        let mut copies = 0;
        net.watch(i, Duration::from_millis(500), |ev| {
            if matches!(ev, NodeEvent::Multicast { id: x, .. } if x == id) {
                copies += 1;
            }
            false
        });
        assert_eq!(copies, 1, "seed {seed}: node {i}");
    }
    let by = net.h(5).anycast(group, b"job").unwrap();
    assert!(net.live().iter().any(|&i| net.h(i).own().id == by.id));
}

#[test]
fn hostile_datagrams_are_counted_and_the_node_keeps_working() {
    let seed = 23;
    let net = Net::ring(4, seed);
    let target = net.h(2);
    let before = target.stats().unwrap();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = pastry_core::rng::SmallRng::new(seed);
    for n in 0..300u64 {
        let len = (rng.below(1200) as usize).max(1);
        let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        attacker.send_to(&junk, target.own().addr).unwrap();
        if n % 32 == 31 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = target.stats().unwrap();
    // Junk fails the session layer before any decoding: unauthenticated.
    let d = |s: &pastry_mio::Stats| {
        let d = &s.node.drops;
        d.malformed + d.unsupported_version + d.unauthenticated
    };
    assert!(
        d(&after) - d(&before) >= 300,
        "seed {seed}: {:?}",
        after.node.drops
    );
    let key = Id::sha1(b"still fine");
    target.put(key, 1, b"ok").unwrap();
    assert_eq!(
        net.h(0).get(key).unwrap().map(|v| v.bytes),
        Some(b"ok".to_vec())
    );
}

#[test]
fn shutdown_frees_the_port_and_every_call_answers_stopped() {
    let seed = 24;
    let net = Net::ring(3, seed);
    let addr = net.h(1).own().addr;
    net.h(1).shutdown().unwrap();
    UdpSocket::bind(addr).expect("the port is free again");
    assert!(matches!(net.h(1).get(Id::ZERO), Err(Error::Stopped)));
    // The others repaired at once (a graceful leave) and still serve.
    let left: HashSet<Id> = net
        .h(0)
        .neighbor_set(16)
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert!(!left.contains(&net.h(1).own().id));
    let h = net.h(0).clone();
    net.rt.shutdown().unwrap();
    // The loop is gone: handles answer Stopped, not a hang.
    assert!(matches!(h.put(Id::ZERO, 1, b"x"), Err(Error::Stopped)));
}

#[test]
fn a_blocking_client_uses_the_overlay_through_one_member() {
    let seed = 25;
    let net = Net::ring(6, seed);
    let mut c = pastry_mio::Client::connect(net.h(2).own().addr).unwrap();
    let key = Id::sha1(b"mio client");
    assert!(c.put(key, 1, b"v").unwrap() >= 3);
    assert_eq!(
        net.h(5).get(key).unwrap().map(|v| v.bytes),
        Some(b"v".to_vec())
    );
    assert_eq!(c.get(key).unwrap().map(|v| v.bytes), Some(b"v".to_vec()));
    assert!(matches!(
        c.put(key, 0, b"old"),
        Err(Error::Put(pastry_core::dht::PutError::Stale { current: 1 }))
    ));
    let (ckey, _) = c.put_content(b"content").unwrap();
    assert_eq!(ckey, Id::sha1(b"content"));
    assert!(c.get(Id::sha1(b"absent")).unwrap().is_none());
    let group = pastry_core::scribe::group_id(b"mio client news");
    c.subscribe(group).unwrap();
    let id = net.h(4).publish(group, b"hi").unwrap();
    let p = c
        .next_publication(Duration::from_secs(5))
        .unwrap()
        .expect("relayed");
    assert_eq!((p.group, p.id, p.data), (group, id, b"hi".to_vec()));
    assert_eq!(
        c.anycast(group, b"job").unwrap().id,
        net.h(2).own().id,
        "only the member relays"
    );
    c.route(Id::sha1(b"somewhere"), AppId(1), b"r").unwrap();
}

#[test]
fn a_stopped_node_s_handle_never_reaches_a_node_started_after_it() {
    let rt = Runtime::start().unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, _) = rt.spawn(Builder::new(loopback)).unwrap();
    a.join(None).unwrap();
    a.shutdown().unwrap();
    let (b, _) = rt.spawn(Builder::new(loopback)).unwrap();
    b.join(None).unwrap();
    // a's handle answers Stopped; it does not act on b.
    assert!(matches!(a.put(Id::ZERO, 1, b"x"), Err(Error::Stopped)));
    assert!(matches!(a.neighbor_set(1), Err(Error::Stopped)));
    assert!(b.get(Id::ZERO).unwrap().is_none(), "a's put reached b");
}
