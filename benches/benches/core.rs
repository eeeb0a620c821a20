//! Micro-benchmarks of pastry-core's hot paths (issue #10, BENCHMARKS.md):
//!
//! * `next_hop`: the routing decision, with a node's leaf set and table
//!   filled as in overlays of 10³, 10⁴ and 10⁶ nodes (target ≤ 100 ns);
//! * `decode` / `encode`: each overlay message kind, from the real frames of
//!   the fuzz seed corpus;
//! * `forward`: a routed datagram that an active node forwards — decode,
//!   decide, queue, then `poll_transmit` encodes the hop and its ack
//!   (target ≤ 1 µs);
//! * `tick`: `handle_timeout` at the node's deadline with a full leaf set,
//!   and the datagrams it sends.
//!
//! `cargo bench --manifest-path benches/Cargo.toml`. The stateful
//! benchmarks keep their node in steady state between samples, outside the
//! timed region: the next hop acks what was forwarded, the world answers
//! what a tick sent.

use std::cell::RefCell;
use std::net::SocketAddr;

use divan::{Bencher, black_box};
use pastry_core::dht::MapStore;
use pastry_core::node::Transmit;
use pastry_core::rng::SmallRng;
use pastry_core::wire::{Ack, AppId, Body, Message, Routed};
use pastry_core::{Config, Id, Instant, Output, Peer, RoutingState, Rtt, Stack};
use pastry_tests::harness::World;

fn main() {
    divan::main();
}

fn random_id(rng: &mut SmallRng) -> Id {
    let mut b = [0u8; 20];
    for chunk in b.chunks_mut(8) {
        let n = chunk.len();
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes()[..n]);
    }
    Id::from_bytes(b)
}

/// Keys the benchmarks cycle through (a power of two).
const KEYS: usize = 4096;

/// A node that has learnt every member of an `n`-node overlay, each with a
/// random round-trip time: its leaf set holds the nearest ids, each table
/// slot the nearest-by-delay candidate, as proximity neighbour selection
/// would keep.
fn filled_state(n: usize) -> RoutingState {
    let mut rng = SmallRng::new(n as u64);
    let own = Peer::new(random_id(&mut rng), SocketAddr::from(([10, 0, 0, 1], 4000)));
    let mut state = RoutingState::new(own, &Config::default()).expect("default configuration");
    for i in 0..n {
        let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 4000));
        let rtt = Rtt::from_duration(core::time::Duration::from_micros(rng.below(200_000) + 1));
        state.learn(Peer::new(random_id(&mut rng), addr), rtt);
    }
    state
}

#[divan::bench(args = [1_000, 10_000, 1_000_000])]
fn next_hop(bencher: Bencher, n: usize) {
    let state = filled_state(n);
    let mut rng = SmallRng::new(7);
    let keys: Vec<Id> = (0..KEYS).map(|_| random_id(&mut rng)).collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) & (KEYS - 1);
        state.next_hop(black_box(keys[i]), |_| false)
    });
}

const KINDS: [&str; 15] = [
    "join_request",
    "join_reply",
    "leaf_set",
    "heartbeat",
    "probe",
    "probe_reply",
    "row_request",
    "row_reply",
    "routed",
    "ack",
    "route_failed",
    "leave",
    "hello",
    "challenge",
    "confirm",
];

/// The seed corpus's real frame of a kind (`cargo run -p pastry-tests
/// --example fuzz_seeds` writes them).
fn frame(kind: &str) -> Vec<u8> {
    let path = format!(
        "{}/../fuzz/corpus/wire_decode/{kind}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Message::decode(&bytes).unwrap_or_else(|e| panic!("{path} does not decode: {e:?}"));
    bytes
}

#[divan::bench(args = KINDS)]
fn decode(bencher: Bencher, kind: &str) {
    let bytes = frame(kind);
    bencher
        .counter(divan::counter::BytesCount::new(bytes.len()))
        .bench_local(|| Message::decode(black_box(&bytes)));
}

#[divan::bench(args = KINDS)]
fn encode(bencher: Bencher, kind: &str) {
    let bytes = frame(kind);
    let msg = Message::decode(&bytes).expect("checked");
    let mut buf = [0u8; 2048];
    bencher
        .counter(divan::counter::BytesCount::new(bytes.len()))
        .bench_local(|| black_box(&msg).encode(&mut buf));
}

/// End-node lookups (the cluster example's application).
const APP: AppId = AppId(1);

/// A routed message from `sender` (its source too) towards `key`.
fn routed_frame(sender: Peer, key: Id, msg_id: u64) -> Vec<u8> {
    let body = Body::Routed(Routed {
        msg_id,
        key,
        per_hop: false,
        handoff: false,
        receipt: false,
        attempt: 0,
        hops: 1,
        source: sender,
        payload: &[7; 100],
        signature: None,
    });
    frame_of(sender, body)
}

/// `body` from `sender` for the lookups' application, encoded.
fn frame_of(sender: Peer, body: Body<'_>) -> Vec<u8> {
    let m = Message {
        app: APP,
        sender,
        body,
    };
    let mut buf = vec![0; m.encoded_len()];
    let n = m.encode(&mut buf).expect("fits");
    buf.truncate(n);
    buf
}

/// Where a routed frame holds its message id (found, not assumed).
fn msg_id_offset(sender: Peer, key: Id) -> usize {
    let (a, b) = (
        routed_frame(sender, key, 0),
        routed_frame(sender, key, u64::MAX),
    );
    let first = a.iter().zip(&b).position(|(x, y)| x != y).expect("differ");
    assert_eq!(a.iter().zip(&b).filter(|(x, y)| x != y).count(), 8);
    first
}

/// A routed datagram forwarded as most are: the previous hop shares fewer
/// digits with the key than this node, so no table row is owed to it. In
/// the 48-peer world the key falls in the leaf set's range: the decision
/// is the leaf set's (a route's last hop; a table hop decides less).
#[divan::bench(sample_size = 32)]
fn forward(bencher: Bencher) {
    forward_case(bencher, false);
}

/// The same when the previous hop shares as many digits with the key as
/// this node: lazy table repair (Pastry §2.4) also sends it a table row.
#[divan::bench(sample_size = 32)]
fn forward_offering_row(bencher: Bencher) {
    forward_case(bencher, true);
}

/// The key and previous hop of a forward towards a table entry of row ≥ 1
/// (within the leaf set's range); with `repair`, a previous hop that shares
/// as many digits with the key as the node.
fn forward_key_and_sender(w: &mut World, repair: bool) -> (Id, Peer) {
    let node = w.stack().node();
    let own = node.own().id;
    let (row, entry) = node
        .routing_table()
        .entries()
        .filter(|(r, _, _)| *r >= 1)
        .map(|(r, _, e)| (r, e.peer))
        .max_by_key(|(r, _)| *r)
        .expect("the world fills a table row below the first");
    // Shares `row` digits with the node, more with the entry.
    let key = Id::from_bytes({
        let mut b = entry.id.to_bytes();
        b[19] ^= 1;
        b
    });
    assert_eq!(key.shared_prefix_len(own), row);
    assert!(node.leaf_set().covers(key), "a leaf-set decision");
    let sender = *w
        .peers()
        .iter()
        .find(|p| {
            let shared = key.shared_prefix_len(p.id);
            p.id != entry.id && if repair { shared == row } else { shared < row }
        })
        .expect("a previous hop of that kind");
    (key, sender)
}

fn forward_case(bencher: Bencher, repair: bool) {
    let world = RefCell::new(World::new());
    let (peers, now) = {
        let w = world.borrow();
        (w.peers().to_vec(), w.now())
    };
    let (key, sender) = forward_key_and_sender(&mut world.borrow_mut(), repair);
    let offset = msg_id_offset(sender, key);
    let mut frame = routed_frame(sender, key, 0);
    // Each datagram is sealed in the sender's session, as the previous hop
    // would send it (outside the measured call).
    let seal = |w: &mut World, frame: &mut [u8], id: u64| {
        frame[offset..offset + 8].copy_from_slice(&id.to_be_bytes());
        w.seal(sender, frame)
    };
    // What forwards left to be acknowledged: the next hop and the id.
    let pending = RefCell::new(Vec::<(SocketAddr, u64)>::with_capacity(1024));
    let held = world.borrow_mut().stack().node().messages_held();
    let mut buf = vec![0u8; 2048];
    let mut next_id = 1u64;
    // One forward: a routed frame to a world peer; returns how many
    // datagrams went back to the previous hop (its ack, any table row).
    let forward_one =
        |w: &mut World, sealed: &[u8], id: u64, buf: &mut [u8], p: &mut Vec<(SocketAddr, u64)>| {
            let stack = w.stack();
            stack.handle_datagram(now, sender.addr, sealed);
            let (mut hop, mut back) = (None, 0);
            drain(stack, buf, |tx, _| {
                if tx.destination == sender.addr {
                    back += 1;
                } else {
                    hop = Some(tx.destination);
                }
            });
            if let Some(to) = hop {
                p.push((to, id));
            }
            back
        };
    let ack_all = |w: &mut World, p: &mut Vec<(SocketAddr, u64)>| {
        for (hop, msg_id) in p.drain(..) {
            let from = peers.iter().find(|q| q.addr == hop).expect("a world peer");
            let ack = w.seal(*from, &ack_frame(*from, msg_id));
            w.stack().handle_datagram(now, hop, &ack);
        }
        drain(w.stack(), &mut [0u8; 2048], |_, _| {});
    };
    {
        let (mut w, mut p) = (world.borrow_mut(), pending.borrow_mut());
        let sealed = seal(&mut w, &mut frame, 0);
        let back = forward_one(&mut w, &sealed, 0, &mut buf, &mut p);
        assert_eq!(p.len(), 1, "the node forwarded the routed message");
        assert_eq!(back, 1 + usize::from(repair), "an ack, and a row to repair");
        assert_eq!(w.stack().node().messages_held(), held + 1, "and holds it");
        ack_all(&mut w, &mut p);
        assert_eq!(w.stack().node().messages_held(), held, "the ack frees it");
    }
    bencher
        .with_inputs(|| {
            let mut w = world.borrow_mut();
            ack_all(&mut w, &mut pending.borrow_mut());
            next_id += 1;
            (next_id, seal(&mut w, &mut frame, next_id))
        })
        .bench_local_values(|(id, sealed)| {
            forward_one(
                &mut world.borrow_mut(),
                &sealed,
                id,
                &mut buf,
                &mut pending.borrow_mut(),
            )
        });
}

/// The deadline that ends every drain: the minimum over the node's
/// timers, probes and message slots and its applications' timers.
#[divan::bench]
fn poll_timeout(bencher: Bencher) {
    let mut world = World::new();
    let stack = world.stack();
    drain(stack, &mut [0u8; 2048], |_, _| {});
    bencher.bench_local(|| black_box(&*stack).poll_timeout());
}

/// The end of a drain with nothing pending: the call that answers
/// `Output::Timeout`.
#[divan::bench]
fn idle_drain(bencher: Bencher) {
    let mut world = World::new();
    let stack = world.stack();
    let mut buf = [0u8; 2048];
    drain(stack, &mut buf, |_, _| {});
    bencher.bench_local(|| match stack.poll_output(&mut buf).expect("fits") {
        Output::Timeout(t) => t,
        _ => panic!("an idle stack has nothing but its deadline"),
    });
}

#[divan::bench(sample_size = 1)]
fn tick(bencher: Bencher) {
    let world = RefCell::new(World::new());
    let sent = RefCell::new(Vec::<(SocketAddr, Vec<u8>)>::with_capacity(256));
    let mut buf = vec![0u8; 2048];
    // The world answers everything the node sent, until it is quiet.
    let answer = |w: &mut World, sent: &mut Vec<(SocketAddr, Vec<u8>)>| {
        for _ in 0..4 {
            for (to, bytes) in std::mem::take(sent) {
                w.answer(to, &bytes);
            }
            drain(w.stack(), &mut [0u8; 2048], |tx, b| {
                sent.push((tx.destination, b.to_vec()));
            });
        }
        assert!(
            w.stack().node().leaf_set().is_full(),
            "the leaf set stays full"
        );
    };
    bencher
        .with_inputs(|| {
            let (mut w, mut s) = (world.borrow_mut(), sent.borrow_mut());
            answer(&mut w, &mut s);
            let at: Instant = w
                .stack()
                .poll_timeout()
                .expect("an active node has a deadline");
            w.set_now(at);
            at
        })
        .bench_local_values(|at| {
            let (mut w, mut s) = (world.borrow_mut(), sent.borrow_mut());
            let stack = w.stack();
            stack.handle_timeout(at);
            drain(stack, &mut buf, |tx, b| {
                s.push((tx.destination, b.to_vec()))
            });
        });
}

/// The run loop's drain: polls the stack's output door until it answers
/// with a deadline, handing each datagram (and its bytes) to `sent`.
fn drain(stack: &mut Stack<MapStore>, buf: &mut [u8], mut sent: impl FnMut(Transmit, &[u8])) {
    loop {
        let tx = match stack.poll_output(buf).expect("fits") {
            Output::Transmit(tx) => tx,
            Output::Event(_) => continue,
            Output::Timeout(_) => return,
        };
        sent(tx, &buf[..tx.len]);
    }
}

/// The next hop's ack of `msg_id`.
fn ack_frame(from: Peer, msg_id: u64) -> Vec<u8> {
    frame_of(from, Body::Ack(Ack { msg_id }))
}

/// Signing a 1,000-byte message with a node's key: what end-to-end source
/// authentication costs the sender of each routed message.
#[divan::bench]
fn sign(bencher: Bencher) {
    let pair = pastry_core::identity::Keypair::from_secret([7; 32]);
    let msg = [0x5au8; 1_000];
    bencher.bench_local(|| pair.sign(black_box(&msg)));
}

/// Verifying that signature (the key's bytes checked and decompressed
/// each time, as a receiver meeting the key in a datagram does).
#[divan::bench]
fn verify(bencher: Bencher) {
    let pair = pastry_core::identity::Keypair::from_secret([7; 32]);
    let msg = [0x5au8; 1_000];
    let sig = pair.sign(&msg);
    let key = pair.public().to_bytes();
    bencher.bench_local(|| {
        let key = pastry_core::identity::PublicKey::from_bytes(black_box(key)).expect("valid");
        key.verify(black_box(&msg), &sig).expect("verifies")
    });
}
