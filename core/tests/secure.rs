//! Secure routing (#29; OSDI'02 §4-5) on an in-memory network of nodes
//! that verify each other: `secure_route` reaches the key's true roots
//! (the oracle: every live id sorted by closeness to the key), the
//! constrained table holds the closest live node to each slot's point,
//! and forged or unsolicited answers change nothing.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::net::Net;
use common::speaker::Speaker;
use pastry_core::wire::{AppId, Body, Kind, LeafSetView, Message, PeerList, Query, ReplicaSet};
use pastry_core::{Config, Id, Peer};

const APP: AppId = AppId(29);

fn secure_config() -> Config {
    let mut c = Config::default();
    c.secure.enabled = true;
    c
}

/// The `r` live ids closest to `key`, closest first: the oracle.
fn true_roots(net: &Net, key: Id, r: usize) -> Vec<Id> {
    let mut ids: Vec<Id> = net
        .live()
        .into_iter()
        .map(|i| net.nodes[i].own().id)
        .collect();
    ids.sort_by(|a, b| key.cmp_closeness(*a, *b));
    ids.truncate(r);
    ids
}

/// A formed overlay of `n` nodes whose redundant lookups take `routes`
/// first hops.
fn net_with_routes(seed: u64, n: usize, routes: u8) -> Net {
    let mut net = Net::new(seed);
    let mut config = secure_config();
    config.secure.routes = routes;
    net.form(n, &config);
    net
}

/// Node `from` sends a `sec_route` for `key` to its 5 roots: its id.
fn sec_route(net: &mut Net, from: usize, key: Id) -> u64 {
    let now = net.now;
    net.nodes[from]
        .secure_route(now, key, APP, b"sec", 5)
        .expect("an active node takes it")
}

fn take_output(net: &mut Net, i: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Some(tx) = net.nodes[i].poll_transmit(&mut buf).unwrap() {
        out.push((tx.destination, buf[..tx.len].to_vec()));
    }
    out
}

#[test]
fn secure_routes_reach_exactly_the_keys_true_roots() {
    let seed = 290;
    let mut net = Net::new(seed);
    net.form(40, &secure_config());
    let r = 5;
    for k in 0..20 {
        let from = net.live()[k % 40];
        let key = net.random_id();
        let now = net.now;
        // Copies handed to chosen roots must not wait for receipts: one
        // sent again would be routed (or served here), not handed.
        net.lose_receipts = 2;
        let op = net.nodes[from]
            .secure_route(now, key, APP, b"sec", r)
            .expect("an active node takes it");
        net.drain(from);
        net.run_for(Duration::from_secs(20));
        let mut reached: Vec<Id> = net
            .delivered
            .iter()
            .filter(|d| d.msg_id == op && d.app == APP)
            .map(|d| net.nodes[d.at].own().id)
            .collect();
        reached.sort_by(|a, b| key.cmp_closeness(*a, *b));
        let want = true_roots(&net, key, r);
        assert_eq!(reached, want, "seed {seed}: lookup {k} for {key}");
        // The source heard which roots, the same ones.
        let (_, _, roots, _) = net
            .secured
            .iter()
            .find(|(i, o, _, _)| *i == from && *o == op)
            .expect("the source heard the outcome");
        assert_eq!(
            roots.iter().map(|p| p.id).collect::<Vec<_>>(),
            want,
            "seed {seed}"
        );
    }
}

#[test]
fn the_constrained_table_holds_the_node_closest_to_each_point() {
    // Refilled every 30 s: once every node has refilled after the last
    // join, each slot holds the closest live node to its point.
    let seed = 291;
    let mut net = Net::new(seed);
    let mut config = secure_config();
    config.secure.refresh = Duration::from_secs(30);
    net.form(48, &config);
    net.run_for(Duration::from_secs(45));
    let ids: Vec<Id> = net
        .live()
        .into_iter()
        .map(|i| net.nodes[i].own().id)
        .collect();
    let mut filled = 0;
    for i in net.live() {
        let t = net.nodes[i].constrained_table();
        let own = net.nodes[i].own().id;
        for row in 0..2 {
            for col in 0..16u8 {
                if col == own.digit(row) {
                    continue;
                }
                let point = t.point(row, col);
                // The oracle: of every live node that fits the slot, the
                // closest to its point.
                let want = ids
                    .iter()
                    .filter(|id| t.slot(**id) == Some((row, col)))
                    .min_by(|a, b| point.cmp_closeness(**a, **b))
                    .copied();
                assert_eq!(
                    t.at(row, col).map(|p| p.id),
                    want,
                    "seed {seed}: node {i} row {row} col {col} point {point} stats {:?}",
                    net.nodes[i].stats().secure
                );
                filled += usize::from(want.is_some());
            }
        }
    }
    assert!(filled > 48 * 15, "seed {seed}: {filled} slots filled");
}

#[test]
fn forged_and_unsolicited_answers_change_nothing() {
    let seed = 292;
    let mut net = Net::new(seed);
    net.form(40, &secure_config());
    let mut mallory = Speaker::stranger(0x29);
    // A key half the ring from the forger: its id (it holds a session,
    // so its word that it is alive is taken) is no root of it; asked by
    // the node farthest from it, which must look it up.
    let mut far = mallory.me.id.to_bytes();
    far[0] ^= 0x80;
    let key = Id::from_bytes(far);
    let target = net
        .live()
        .into_iter()
        .max_by_key(|&i| net.nodes[i].own().id.ring_distance(key))
        .expect("nodes");
    let to = net.addr(target);
    let now = net.now;
    mallory.greet(now, &mut net.nodes[target], to);
    // An answer nobody asked for.
    let before = net.nodes[target].stats().secure;
    let fake: Vec<Peer> = (0..8u8)
        .map(|n| {
            Peer::new(
                Id::from_bytes([n * 31; 20]),
                SocketAddr::from(([10, 9, 9, n], 9)),
            )
        })
        .collect();
    let answer = |msg_id, key| Message {
        app: AppId::OVERLAY,
        sender: Speaker::stranger(0x29).me,
        body: Body::ReplicaSet(ReplicaSet {
            msg_id,
            key,
            complete: true,
            leaf_set: LeafSetView {
                left: PeerList::Peers(&fake[..4]),
                right: PeerList::Peers(&fake[4..]),
            },
        }),
    };
    let sealed = mallory.seal(now, to, &answer(77, key));
    net.nodes[target].handle_datagram(now, mallory.me.addr, &sealed);
    let after = net.nodes[target].stats().secure;
    assert_eq!(after.unsolicited_answers, before.unsolicited_answers + 1);
    assert_eq!(
        pastry_core::node::SecureStats {
            unsolicited_answers: before.unsolicited_answers,
            ..after
        },
        before,
        "seed {seed}: an unsolicited answer moved a counter"
    );
    // At most a probe of a peer heard for the first time; nothing of
    // what it claimed.
    let out = take_output(&mut net, target);
    let me = mallory.me.addr;
    let kinds: Vec<Kind> = out
        .iter()
        .filter(|(a, _)| *a == me)
        .filter_map(|(_, b)| mallory.open(now, to, b).map(|m| m.body.kind()))
        .collect();
    assert!(
        kinds.iter().all(|k| *k == Kind::Probe),
        "seed {seed}: sent the forger {kinds:?}"
    );

    // A sparse forged answer to a real lookup, first: the failure test
    // fires, redundant routing runs, and the roots are the true ones.
    let r = 5;
    let op = net.nodes[target]
        .secure_lookup(now, key, r, false)
        .expect("active");
    let sealed = mallory.seal(now, to, &answer(op, key));
    net.nodes[target].handle_datagram(now, mallory.me.addr, &sealed);
    assert_eq!(
        net.nodes[target].stats().secure.test_fired,
        after.test_fired + 1,
        "seed {seed}: the forged answer passed the failure test"
    );
    net.drain(target);
    net.run_for(Duration::from_secs(5));
    let (_, _, roots, redundant) = net
        .secured
        .iter()
        .find(|(i, o, _, _)| *i == target && *o == op)
        .expect("the lookup ended")
        .clone();
    assert!(redundant);
    assert_eq!(
        roots.iter().map(|p| p.id).collect::<Vec<_>>(),
        true_roots(&net, key, r),
        "seed {seed}: forged roots kept"
    );
}

#[test]
fn queries_are_answered_within_a_ration_and_never_amplified_past_it() {
    // A verified member floods a node with queries naming itself as the
    // source: answers (a leaf set each, larger than the query) stop at
    // the node's ration, the rest counted.
    let seed = 293;
    let mut net = Net::new(seed);
    net.form(24, &secure_config());
    let target = 4;
    let to = net.addr(target);
    let now = net.now;
    let mut mallory = Speaker::stranger(0x30);
    mallory.greet(now, &mut net.nodes[target], to);
    let own = net.nodes[target].own().id;
    let (mut sent, mut answers) = (0usize, 0usize);
    for n in 0..1_000u64 {
        let q = Message {
            app: AppId::OVERLAY,
            sender: mallory.me,
            body: Body::Query(Query {
                msg_id: n,
                key: own,
                target: own,
                replicas: 5,
                hops: 0,
                source: mallory.me,
            }),
        };
        let sealed = mallory.seal(now, to, &q);
        sent += sealed.len();
        net.nodes[target].handle_datagram(now, mallory.me.addr, &sealed);
        for (a, b) in take_output(&mut net, target) {
            if a == mallory.me.addr
                && matches!(
                    mallory.open(now, to, &b).map(|m| m.body.kind()),
                    Some(Kind::ReplicaSet)
                )
            {
                answers += b.len();
            }
        }
    }
    let rationed = net.nodes[target].stats().secure.answers_rationed;
    assert!(rationed > 800, "seed {seed}: {rationed} rationed");
    assert!(
        answers < sent,
        "seed {seed}: {answers} bytes of answers for {sent} of queries"
    );
}

#[test]
fn redundant_routes_start_at_first_hops_unlike_in_the_digit_that_steers_them() {
    // #29: a route's hops are fixed by its first hop's id (each constrained
    // entry is the node nearest a point made of the key's prefix and the
    // hop's own later digits), so first hops alike in the digit that steers
    // a route near the key meet the same nodes there. With 48 nodes and
    // leaf sets of 16 a leaf set spans a third of the ring, and that digit
    // is digit 1. With 8 routes, the first hops must differ in it as far as
    // the node's leaf set and tables allow.
    let seed = 294;
    let mut net = net_with_routes(seed, 48, 8);
    let mut checked = 0;
    for from in net.live() {
        let key = net.random_id();
        sec_route(&mut net, from, key);
        let hops: Vec<Id> = take_output(&mut net, from)
            .iter()
            .filter(|(_, b)| {
                let m = Message::decode(pastry_core::session::message_of(b));
                matches!(m.map(|m| m.body), Ok(Body::Query(_)))
            })
            .filter_map(|(a, _)| net.live().into_iter().find(|&i| net.addr(i) == *a))
            .map(|i| net.nodes[i].own().id)
            .collect();
        let n = &net.nodes[from];
        let candidates: Vec<Id> = n
            .leaf_set()
            .members()
            .map(|p| p.id)
            .chain(n.constrained_table().entries().map(|p| p.id))
            .chain(n.routing_table().entries().map(|(_, _, e)| e.peer.id))
            .collect();
        net.run_for(Duration::from_secs(10));
        if hops.is_empty() {
            // The key lies in its leaf set's range: no routes.
            continue;
        }
        let digits = |ids: &[Id]| {
            let mut d: Vec<u8> = ids.iter().map(|id| id.digit(1)).collect();
            d.sort();
            d.dedup();
            d.len()
        };
        assert_eq!(hops.len(), 8, "seed {seed}: node {from}");
        assert_eq!(
            digits(&hops),
            digits(&candidates).min(8),
            "seed {seed}: node {from}'s first hops {hops:?}"
        );
        checked += 1;
    }
    assert!(checked >= 16, "seed {seed}: only {checked} lookups routed");
}

#[test]
fn a_callers_lookup_asks_the_roots_its_routes_found_straight() {
    // #29: a correct node that covers the key but not all its roots
    // answers with part of them and sends the query on, where a faulty
    // node can swallow it; so once its routes are done a caller's lookup
    // asks each root it found straight, once. With 8 routes (queries
    // numbered op + 1 to op + 8), those are op + 9 onwards, one to each
    // true root but the asker.
    let seed = 295;
    let mut net = net_with_routes(seed, 40, 8);
    let mut checked = 0;
    for k in 0..20 {
        let from = net.live()[k * 2];
        let key = net.random_id();
        net.queries.clear();
        net.lose_receipts = 2;
        let op = sec_route(&mut net, from, key);
        net.drain(from);
        net.run_for(Duration::from_secs(20));
        let routes = net
            .queries
            .iter()
            .filter(|q| q.0 == from && (1..=8).contains(&q.2.wrapping_sub(op)))
            .count();
        if routes == 0 {
            // The key lies in its leaf set's range: its roots are known.
            continue;
        }
        let mut straight: Vec<Id> = net
            .queries
            .iter()
            .filter(|q| q.0 == from && (9..=16).contains(&q.2.wrapping_sub(op)))
            .map(|q| net.nodes[q.1].own().id)
            .collect();
        straight.sort_by(|a, b| key.cmp_closeness(*a, *b));
        let own = net.nodes[from].own().id;
        let want: Vec<Id> = true_roots(&net, key, 5)
            .into_iter()
            .filter(|id| *id != own)
            .collect();
        assert_eq!(straight, want, "seed {seed}: lookup {k} from node {from}");
        checked += 1;
    }
    assert!(checked >= 8, "seed {seed}: only {checked} lookups routed");
}

#[test]
fn a_root_that_never_answers_is_waited_for_a_few_round_trips_not_a_timeout() {
    // The roots' round above asks each root straight; a faulty root never
    // answers. The lookup waits twice the slowest root's retransmission
    // timeout (at least a quarter of `SecureConfig::timeout`), not the
    // routes' whole timeout once more. Here the key's closest node acks
    // what it is sent and never answers.
    let seed = 296;
    let mut net = net_with_routes(seed, 40, 8);
    let timeout = secure_config().secure.timeout;
    let mut checked = 0;
    for k in 0..20 {
        let from = net.live()[k * 2];
        let key = net.random_id();
        let own = net.nodes[from].own().id;
        let root = true_roots(&net, key, 1)[0];
        if root == own {
            continue;
        }
        let silent = net
            .live()
            .into_iter()
            .find(|&i| net.nodes[i].own().id == root)
            .unwrap();
        net.mute_answers = Some(silent);
        net.queries.clear();
        net.lose_receipts = 2;
        let op = sec_route(&mut net, from, key);
        net.drain(from);
        net.run_for(Duration::from_secs(20));
        net.mute_answers = None;
        // Asked straight: the lookup's queries after its 8 routes'.
        let asked = net
            .queries
            .iter()
            .find(|q| q.0 == from && q.1 == silent && (9..=16).contains(&q.2.wrapping_sub(op)))
            .map(|q| q.3);
        let (Some(asked), Some(&ended)) = (asked, net.secured_at.get(&op)) else {
            // Its leaf set covers the key, or no route named the root.
            continue;
        };
        let waited = ended.saturating_duration_since(asked);
        assert!(
            waited >= timeout / 4 && waited < timeout / 2,
            "seed {seed}: lookup {k} waited {waited:?} for a silent root"
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "seed {seed}: only {checked} lookups asked the silent root"
    );
}
