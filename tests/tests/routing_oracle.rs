//! Next hop against the global view: in populations of 2..5,000 nodes whose
//! leaf sets and tables were filled from everyone, routing hop by hop through
//! each node's own state always ends at the key's true root, every hop makes
//! progress, and hops stay within ⌈log16 N⌉ + 1. The KBR local calls agree
//! with brute force.

use std::cmp::Ordering;
use std::net::SocketAddr;

use pastry_core::rng::SmallRng;
use pastry_core::{Config, Id, NextHop, Peer, RoutingState, Rtt};
use pastry_tests::oracle::{Ring, closest_n};

struct World {
    peers: Vec<Peer>,
    index: std::collections::HashMap<Id, usize>,
    pos: Vec<(f64, f64)>,
    states: Vec<RoutingState>,
    ring: Ring,
}

fn rtt(a: (f64, f64), b: (f64, f64)) -> Rtt {
    // The Pastry paper's plane: delay proportional to Euclidean distance.
    Rtt::from_micros(((a.0 - b.0).hypot(a.1 - b.1) * 100.0) as u32 + 1)
}

fn random_id(rng: &mut SmallRng) -> Id {
    let mut b = [0u8; 20];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes()[..chunk.len()]);
    }
    Id::from_bytes(b)
}

/// `n` nodes at random points; every node offered every other node.
fn world(n: usize, seed: u64) -> World {
    let mut rng = SmallRng::new(seed);
    let peers: Vec<Peer> = (0..n)
        .map(|i| {
            Peer::new(
                random_id(&mut rng),
                SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 4000)),
            )
        })
        .collect();
    let pos: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.unit() * 1000.0, rng.unit() * 1000.0))
        .collect();
    let config = Config::default();
    let states = (0..n)
        .map(|i| {
            let mut s = RoutingState::new(peers[i], &config).unwrap();
            for j in 0..n {
                s.learn(peers[j], rtt(pos[i], pos[j]));
            }
            s
        })
        .collect();
    let ring = Ring::new(peers.iter().map(|p| p.id));
    let index = peers.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    World {
        peers,
        index,
        pos,
        states,
        ring,
    }
}

fn index_of(w: &World, id: Id) -> usize {
    *w.index.get(&id).expect("routed to an unknown node")
}

/// Routes `key` from `src`; returns the hop count after checking progress.
fn route(w: &World, src: usize, key: Id, suspects: &[Id], seed: u64) -> (usize, usize) {
    let mut at = src;
    let mut hops = 0;
    loop {
        match w.states[at].next_hop(key, |p| suspects.contains(&p.id)) {
            NextHop::Local => return (at, hops),
            NextHop::Forward(next) => {
                assert!(
                    !suspects.contains(&next.id),
                    "seed {seed}: routed to a suspect"
                );
                let (cur, nxt) = (w.peers[at].id, next.id);
                let (pc, pn) = (key.shared_prefix_len(cur), key.shared_prefix_len(nxt));
                // Pastry'01 §2.2: a longer shared prefix, or numerically closer.
                assert!(
                    pn > pc || key.cmp_closeness(nxt, cur) == Ordering::Less,
                    "seed {seed}: hop {cur} -> {nxt} makes no progress towards {key}"
                );
                at = index_of(w, nxt);
                hops += 1;
                assert!(hops <= 64, "seed {seed}: routing loop");
            }
        }
    }
}

#[test]
fn routes_end_at_the_true_root_within_the_hop_bound() {
    for (n, seed) in [
        (2, 1),
        (3, 2),
        (5, 3),
        (17, 4),
        (100, 5),
        (1_000, 6),
        (5_000, 7),
    ] {
        let w = world(n, seed);
        let bound = (n as f64).log(16.0).ceil() as usize + 1;
        let mut rng = SmallRng::new(seed ^ 0xabc);
        let mut total = 0;
        let lookups = 2_000;
        for _ in 0..lookups {
            let key = random_id(&mut rng);
            let src = rng.below(n as u64) as usize;
            let (end, hops) = route(&w, src, key, &[], seed);
            assert_eq!(
                Some(w.peers[end].id),
                w.ring.root_of(key),
                "seed {seed}, n {n}: wrong root"
            );
            assert!(hops <= bound, "seed {seed}, n {n}: {hops} hops > {bound}");
            total += hops;
        }
        let mean = total as f64 / lookups as f64;
        assert!(
            mean <= (n as f64).log(16.0) + 1.0,
            "seed {seed}, n {n}: mean hops {mean}"
        );
    }
}

#[test]
fn routing_around_suspects_still_makes_progress() {
    let n = 1_000;
    let seed = 8;
    let w = world(n, seed);
    let mut rng = SmallRng::new(seed);
    for _ in 0..1_000 {
        let suspects: Vec<Id> = (0..50)
            .map(|_| w.peers[rng.below(n as u64) as usize].id)
            .collect();
        let key = random_id(&mut rng);
        let src = loop {
            let s = rng.below(n as u64) as usize;
            if !suspects.contains(&w.peers[s].id) {
                break s;
            }
        };
        let (end, _) = route(&w, src, key, &suspects, seed);
        // The end is the closest to the key among the live, unsuspected
        // nodes it knows of.
        let end_state = &w.states[end];
        for p in end_state
            .leaf_set()
            .members()
            .filter(|p| !suspects.contains(&p.id))
        {
            if end_state.leaf_set().covers(key) {
                assert_ne!(
                    key.cmp_closeness(p.id, w.peers[end].id),
                    Ordering::Less,
                    "seed {seed}"
                );
            }
        }
    }
}

#[test]
fn tables_hold_the_nearest_candidate_for_every_slot() {
    let w = world(1_000, 9);
    for (i, s) in w.states.iter().enumerate() {
        let t = s.table();
        for (j, p) in w.peers.iter().enumerate() {
            let Some((r, c)) = t.slot(p.id) else { continue };
            let e = t.at(r, c).expect("a slot with candidates is empty");
            assert!(rtt(w.pos[i], w.pos[index_of(&w, e.peer.id)]) <= rtt(w.pos[i], w.pos[j]));
            assert_eq!(e.rtt, rtt(w.pos[i], w.pos[index_of(&w, e.peer.id)]));
        }
    }
}

#[test]
fn kbr_local_calls_agree_with_brute_force() {
    let n = 400;
    let w = world(n, 10);
    let ids: Vec<Id> = w.peers.iter().map(|p| p.id).collect();
    let mut rng = SmallRng::new(10);
    for _ in 0..500 {
        let key = random_id(&mut rng);
        let root = index_of(&w, w.ring.root_of(key).unwrap());
        let s = &w.states[root];
        for r in 1..=9 {
            let got: Vec<Id> = s.replica_set(key, r).iter().map(|p| p.id).collect();
            assert_eq!(got, closest_n(key, &ids, r), "replica_set({key}, {r})");
        }
        // range(node, r) holds exactly the keys whose r closest include node.
        let src = rng.below(n as u64) as usize;
        let st = &w.states[src];
        for r in 1..=8 {
            for node in st.leaf_set().members().map(|p| p.id).chain([ids[src]]) {
                let Some(range) = st.range(node, r) else {
                    continue;
                };
                let probes = [
                    key,
                    range.start,
                    range.end,
                    Id::boundary(range.start, range.end),
                ];
                for k in probes {
                    assert_eq!(
                        range.contains(k),
                        closest_n(k, &ids, r).contains(&node),
                        "range({node}, {r}) at key {k}"
                    );
                }
            }
        }
        // neighbor_set(n) for n <= L/2: the n nearest by ring distance.
        let own = ids[src];
        let mut by_dist = ids.clone();
        by_dist.retain(|id| *id != own);
        by_dist.sort_by_key(|id| own.ring_distance(*id));
        for k in [1, 4, 8] {
            let got: Vec<Id> = st.neighbor_set(k).iter().map(|p| p.id).collect();
            assert_eq!(got, by_dist[..k].to_vec());
        }
        // local_lookup: the next hop first, then nodes that make progress.
        let ll = st.local_lookup(key, 6);
        let first = match st.next_hop(key, |_| false) {
            NextHop::Local => own,
            NextHop::Forward(p) => p.id,
        };
        assert_eq!(ll[0].id, first);
        assert!(ll.len() <= 6);
        for p in &ll[1..] {
            let (pp, po) = (key.shared_prefix_len(p.id), key.shared_prefix_len(own));
            assert!(pp > po || (pp == po && key.cmp_closeness(p.id, own) == Ordering::Less));
        }
    }
}

#[test]
fn small_rings_know_everyone_and_ranges_cover_the_ring() {
    for n in 1..=9 {
        let w = world(n, 100 + n as u64);
        let ids: Vec<Id> = w.peers.iter().map(|p| p.id).collect();
        for s in &w.states {
            assert!(s.leaf_set().knows_whole_ring());
            let (l, r) = w.ring.leaf_set(s.own().id, 8);
            assert_eq!(
                s.leaf_set().left().iter().map(|p| p.id).collect::<Vec<_>>(),
                l
            );
            assert_eq!(
                s.leaf_set()
                    .right()
                    .iter()
                    .map(|p| p.id)
                    .collect::<Vec<_>>(),
                r
            );
            // r >= N: a node is among the r closest of every key.
            let full = s.range(s.own().id, n).unwrap();
            assert_eq!(full.start, full.end);
            let mut rng = SmallRng::new(n as u64);
            for _ in 0..200 {
                let k = random_id(&mut rng);
                for r in 1..n {
                    let range = s.range(s.own().id, r).unwrap();
                    assert_eq!(
                        range.contains(k),
                        closest_n(k, &ids, r).contains(&s.own().id)
                    );
                }
            }
        }
    }
}
