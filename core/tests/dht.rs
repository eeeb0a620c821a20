//! The replicated store (PAST-style DHT) on the in-memory network, judged
//! against the network's global view: the true k closest live nodes.

mod common;

use std::time::Duration;

use common::net::{DhtDone, Net};
use common::seeds;
use pastry_core::dht::{self, DhtConfig, DhtError, PutError, Store};
use pastry_core::node::Forwarder;
use pastry_core::{Config, Id};

const K: usize = 5;

fn ring(n: usize, seed: u64) -> Net {
    ring_with(n, seed, DhtConfig::default())
}

fn ring_with(n: usize, seed: u64, config: DhtConfig) -> Net {
    ring_of(n, seed, config, Config::default())
}

fn ring_of(n: usize, seed: u64, config: DhtConfig, node: Config) -> Net {
    Net::dht_ring(n, seed, config, node)
}

fn value_for(key: Id, version: u64) -> Vec<u8> {
    let mut v = key.to_bytes().to_vec();
    v.extend_from_slice(&version.to_be_bytes());
    v.extend(std::iter::repeat_n(version as u8, 100));
    v
}

/// Puts `n` random keys from random nodes; all must be stored.
fn put_many(net: &mut Net, n: usize) -> Vec<Id> {
    let mut keys = Vec::new();
    for _ in 0..n {
        let key = net.random_id();
        let live = net.live();
        let from = live[net.rng.below(live.len() as u64) as usize];
        let op = net.put(from, key, 1, &value_for(key, 1));
        net.run_for(Duration::from_secs(2));
        let got = net.outcome(from, op).cloned();
        assert!(
            matches!(got, Some(DhtDone::Stored { replicas }) if replicas as usize >= 3),
            "put of {key} from {from}: {got:?}"
        );
        keys.push(key);
    }
    keys
}

/// The nodes holding `key`, by index (as `true_replicas` lists them).
fn held_by<F: Forwarder + Default>(net: &Net<F>, key: Id) -> Vec<usize> {
    net.holders(key).into_iter().map(|(i, _)| i).collect()
}

/// The eager spares the DHT keeps (the leaf sets here fit them all).
fn eager<F: Forwarder + Default>(net: &Net<F>) -> usize {
    net.dht_config
        .as_ref()
        .map_or(0, |c| c.eager_spares.min(c.spares))
}

/// Every key held by its k true closest nodes and the eager spares behind
/// them at `version`, and by no other node but a spare among the next
/// `spares`.
fn check_replicas<F: Forwarder + Default>(
    net: &Net<F>,
    keys: &[Id],
    version: u64,
) -> Result<(), String> {
    let spares = net.dht_config.as_ref().map_or(0, |c| c.spares);
    for &key in keys {
        let want = net.true_replicas(key, K + eager(net));
        let may = net.true_replicas(key, K + spares);
        let got = net.holders(key);
        let missing = want
            .iter()
            .any(|i| !got.iter().any(|&(j, v)| j == *i && v == version));
        let extra = got.iter().any(|(j, _)| !may.contains(j));
        if missing || extra {
            return Err(format!(
                "key {key}: held by {got:?}, want {want:?} at version {version} \
                 (spares among {may:?})"
            ));
        }
    }
    Ok(())
}

#[test]
fn put_then_get_from_every_node() {
    for seed in seeds(&[1, 2]) {
        let mut net = ring(40, seed);
        let keys = put_many(&mut net, 10);
        for &key in &keys {
            let ops: Vec<_> = net
                .live()
                .into_iter()
                .map(|i| (i, net.get(i, key)))
                .collect();
            net.run_for(Duration::from_secs(2));
            for (i, op) in ops {
                let got = net.outcome(i, op);
                let want = DhtDone::Found {
                    version: 1,
                    cached: false,
                    value: value_for(key, 1),
                };
                assert_eq!(got, Some(&want), "seed {seed}: get of {key} from {i}");
            }
        }
        // A key nobody stored.
        let missing = net.random_id();
        let op = net.get(0, missing);
        net.run_for(Duration::from_secs(3));
        assert_eq!(net.outcome(0, op), Some(&DhtDone::NotFound), "seed {seed}");
    }
}

#[test]
fn an_overlay_smaller_than_k_stores_on_every_node_and_acks() {
    // With fewer nodes than the quorum, every node holds the value and the
    // put completes with as many acks as there are nodes.
    for seed in seeds(&[5, 6]) {
        for n in 1..=K {
            let mut net = ring(n, seed);
            let key = net.random_id();
            let op = net.put(0, key, 1, &value_for(key, 1));
            net.run_for(Duration::from_secs(2));
            let want = n.min(DhtConfig::default().quorum) as u8;
            let got = net.outcome(0, op).cloned();
            assert!(
                matches!(got, Some(DhtDone::Stored { replicas }) if replicas >= want),
                "seed {seed}, {n} nodes: {got:?}"
            );
            let holders: Vec<usize> = net.holders(key).into_iter().map(|(i, _)| i).collect();
            assert_eq!(holders, net.true_replicas(key, K), "seed {seed}, {n} nodes");
            assert_eq!(holders.len(), n, "seed {seed}");
        }
    }
}

#[test]
fn k_replicas_on_exactly_the_k_closest() {
    // Without eager spares exactly the k closest hold each value; with the
    // default's, exactly the k + 2 closest.
    let cases = seeds(&[3, 4]).into_iter().flat_map(|s| [(s, 0), (s, 2)]);
    for (seed, eager_spares) in cases {
        let config = DhtConfig {
            eager_spares,
            ..DhtConfig::default()
        };
        let mut net = ring_with(40, seed, config);
        let keys = put_many(&mut net, 20);
        net.run_for(Duration::from_secs(5));
        // Nobody fell out of a replica set: no lazy spare copies.
        for &key in &keys {
            let want = net.true_replicas(key, K + eager_spares);
            assert_eq!(
                held_by(&net, key),
                want,
                "seed {seed}, eager {eager_spares}: {key}"
            );
        }
        if let Err(e) = check_replicas(&net, &keys, 1) {
            panic!("seed {seed}, eager {eager_spares}: {e}");
        }
    }
}

#[test]
fn crashed_replicas_are_replaced() {
    for seed in seeds(&[5, 6]) {
        let mut net = ring(40, seed);
        let keys = put_many(&mut net, 10);
        net.run_for(Duration::from_secs(5));
        // Crash k - 1 replicas of the first key, then one replica of each
        // other key, as long as every key keeps one.
        let replicas: Vec<Vec<usize>> = keys.iter().map(|&k| net.true_replicas(k, K)).collect();
        let mut crashed = replicas[0][..K - 1].to_vec();
        for reps in &replicas[1..] {
            let spared = |c: &[usize]| replicas.iter().all(|r| r.iter().any(|i| !c.contains(i)));
            if let Some(&i) = reps.iter().find(|i| {
                let mut c = crashed.clone();
                c.push(**i);
                !crashed.contains(i) && spared(&c)
            }) {
                crashed.push(i);
            }
        }
        assert!(
            crashed.len() >= K,
            "seed {seed}: more than one key lost replicas"
        );
        for &i in &crashed {
            net.crash(i);
        }
        // Failure detection (heartbeats, probes) and then a round.
        net.run_for(Duration::from_secs(120));
        let wrong = net.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "seed {seed}: leaf sets not repaired: {wrong:?}"
        );
        if let Err(e) = check_replicas(&net, &keys, 1) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn joining_nodes_take_over_and_old_replicas_let_go() {
    // Without spares an old replica lets go as soon as the new ones hold
    // the value; with them, once it is beyond the spares too.
    let cases = seeds(&[7, 8]).into_iter().flat_map(|s| [(s, 0), (s, 3)]);
    for (seed, spares) in cases {
        let config = DhtConfig {
            spares,
            ..DhtConfig::default()
        };
        let mut net = ring_with(30, seed, config);
        let keys = put_many(&mut net, 20);
        for _ in 0..15 {
            net.join_one(Config::default());
            net.run_for(Duration::from_millis(500));
        }
        net.run_for(Duration::from_secs(30));
        if let Err(e) = check_replicas(&net, &keys, 1) {
            panic!("seed {seed}, spares {spares}: {e}");
        }
        // And every key is still readable.
        for &key in &keys {
            let op = net.get(0, key);
            net.run_for(Duration::from_secs(2));
            assert!(
                matches!(net.outcome(0, op), Some(DhtDone::Found { version: 1, .. })),
                "seed {seed}: {key}"
            );
        }
    }
}

/// A ring with one value, then three nodes joined right beside its key:
/// the three farthest old replicas are pushed out of the replica set
/// (spares, if the DHT keeps them).
fn three_joined_beside_a_key(seed: u64, spares: usize) -> (Net, Id) {
    let config = DhtConfig {
        spares,
        ..DhtConfig::default()
    };
    let mut net = ring_with(30, seed, config);
    let key = put_many(&mut net, 1)[0];
    let old = net.true_replicas(key, K);
    for _ in 0..3 {
        let keys = net.keypair_nearest(key);
        let i = net.add_with_keys(Config::default(), keys);
        net.join_through(i, old[0]);
        net.run_for(Duration::from_secs(2));
    }
    net.run_for(Duration::from_secs(30));
    check_replicas(&net, &[key], 1).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(
        net.holders(key).len(),
        K + spares,
        "seed {seed}: the old replicas pushed out kept {spares} spare copies"
    );
    (net, key)
}

/// All k replicas crash at once, before any repair. With spares the value
/// survives and is back on k replicas; without, it is gone (the control
/// that shows the test can fail).
#[test]
fn spares_outlive_a_whole_replica_set() {
    for seed in seeds(&[21, 22]) {
        for spares in [3, 0] {
            let (mut net, key) = three_joined_beside_a_key(seed, spares);
            for i in net.true_replicas(key, K) {
                net.crash(i);
            }
            net.run_for(Duration::from_secs(120));
            let held = net.holders(key);
            if spares == 0 {
                assert!(
                    held.is_empty(),
                    "seed {seed}: no spare, yet held by {held:?}"
                );
                continue;
            }
            check_replicas(&net, &[key], 1).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let from = net.live()[0];
            let op = net.get(from, key);
            net.run_for(Duration::from_secs(2));
            assert!(
                matches!(
                    net.outcome(from, op),
                    Some(DhtDone::Found { version: 1, .. })
                ),
                "seed {seed}: the value reads back"
            );
        }
    }
}

/// Eager spares: with no join to push replicas out, the k + 2 closest
/// nodes hold every value (synced by maintenance, not by the put), and
/// when all k replicas crash at once the value survives and is back on
/// k replicas. With no eager spare it is gone (the control).
#[test]
fn eager_spares_hold_copies_before_a_burst_of_crashes() {
    const EAGER: usize = 2;
    for seed in seeds(&[25, 26]) {
        for eager in [EAGER, 0] {
            let config = DhtConfig {
                eager_spares: eager,
                ..DhtConfig::default()
            };
            let mut net = ring_with(30, seed, config);
            let keys = put_many(&mut net, 5);
            net.run_for(Duration::from_secs(90));
            for &key in &keys {
                let want = net.true_replicas(key, K + eager);
                assert_eq!(
                    held_by(&net, key),
                    want,
                    "seed {seed}, eager {eager}: key {key}"
                );
            }
            let key = keys[0];
            for i in net.true_replicas(key, K) {
                net.crash(i);
            }
            net.run_for(Duration::from_secs(120));
            let held = net.holders(key);
            if eager == 0 {
                assert!(held.is_empty(), "seed {seed}: held by {held:?}");
                continue;
            }
            let replicas = net.true_replicas(key, K);
            assert!(
                replicas
                    .iter()
                    .all(|i| held.iter().any(|(j, v)| j == i && *v == 1)),
                "seed {seed}: held by {held:?}, want {replicas:?}"
            );
        }
    }
}

/// On a smaller leaf set the default's eager spares shrink to what it can
/// keep in sync (fewer than half of it): puts still work, and the values
/// settle on exactly that many closest nodes.
#[test]
fn eager_spares_shrink_to_fit_a_small_leaf_set() {
    let config = DhtConfig::default();
    assert!(config.eager_spares >= 2, "the default keeps eager spares");
    for seed in seeds(&[27]) {
        // Half 6 fits k = 5 alone; half 7 fits one eager spare.
        for (leaf_set_size, held) in [(12, K), (14, K + 1)] {
            let node = Config {
                leaf_set_size,
                ..Config::default()
            };
            let mut net = ring_of(30, seed, config.clone(), node);
            let keys = put_many(&mut net, 5);
            net.run_for(Duration::from_secs(90));
            for &key in &keys {
                let want = net.true_replicas(key, held);
                assert_eq!(
                    held_by(&net, key),
                    want,
                    "seed {seed}, L = {leaf_set_size}: key {key}"
                );
            }
        }
    }
}

/// A full store makes room for a replica's value by evicting a spare copy,
/// not by diverting it.
#[test]
fn a_full_store_evicts_a_spare_first() {
    for seed in seeds(&[23, 24]) {
        let (mut net, key) = three_joined_beside_a_key(seed, 3);
        let replicas = net.true_replicas(key, K);
        // The replicas and the eager spares, kept in sync.
        let kept = net.true_replicas(key, K + eager(&net));
        let spare = net
            .holders(key)
            .into_iter()
            .map(|(i, _)| i)
            .find(|i| !kept.contains(i))
            .expect("a lazy spare");
        // The spare's store has room for its one item only.
        let item = net
            .dht(spare)
            .store()
            .get(key)
            .map(|it| (it.meta, it.value.to_vec()));
        let (meta, value) = item.expect("the spare holds it");
        let mut full = dht::MapStore::with_limits(1, 4096);
        full.insert(key, meta, &value).expect("room for one");
        *net.dht(spare).store_mut() = full;
        // A value the spare is root of.
        let own = net.nodes[spare].own().id;
        let client = replicas[0];
        let op = net.put(client, own, 1, &value_for(own, 1));
        net.run_for(Duration::from_secs(3));
        assert!(
            matches!(net.outcome(client, op), Some(DhtDone::Stored { .. })),
            "seed {seed}: {:?}",
            net.outcome(client, op)
        );
        let stats = *net.dht(spare).stats();
        assert_eq!(
            (stats.spares_evicted, stats.diverted),
            (1, 0),
            "seed {seed}"
        );
        let store = net.dht(spare).store();
        assert!(store.get(key).is_none(), "seed {seed}: the spare copy went");
        assert!(
            store.get(own).is_some_and(|it| !it.meta.diverted),
            "seed {seed}: the new value is held here"
        );
        check_replicas(&net, &[key], 1).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn newer_versions_replace_and_stale_writes_are_refused() {
    let mut net = ring(30, 9);
    let key = net.random_id();
    let op = net.put(3, key, 1, b"one");
    net.run_for(Duration::from_secs(2));
    assert!(matches!(net.outcome(3, op), Some(DhtDone::Stored { .. })));
    let op = net.put(7, key, 2, b"two");
    net.run_for(Duration::from_secs(2));
    assert!(matches!(net.outcome(7, op), Some(DhtDone::Stored { .. })));
    check_replicas(&net, &[key], 2).unwrap();
    // Version 1 again: refused with the version held.
    let op = net.put(11, key, 1, b"old");
    net.run_for(Duration::from_secs(2));
    assert_eq!(
        net.outcome(11, op),
        Some(&DhtDone::PutFailed(PutError::Stale { current: 2 }))
    );
    // The same version with other bytes is refused too; with the same
    // bytes it is an idempotent re-store.
    let op = net.put(12, key, 2, b"TWO");
    net.run_for(Duration::from_secs(2));
    assert_eq!(
        net.outcome(12, op),
        Some(&DhtDone::PutFailed(PutError::Stale { current: 2 }))
    );
    let op = net.put(13, key, 2, b"two");
    net.run_for(Duration::from_secs(2));
    assert!(matches!(net.outcome(13, op), Some(DhtDone::Stored { .. })));
    for i in net.live() {
        let op = net.get(i, key);
        net.run_for(Duration::from_secs(1));
        let want = DhtDone::Found {
            version: 2,
            cached: false,
            value: b"two".to_vec(),
        };
        assert_eq!(net.outcome(i, op), Some(&want), "get from {i}");
    }
}

#[test]
fn content_hash_keys_are_verified() {
    let mut net = ring(30, 10);
    let now = net.now;
    let (key, op) = {
        let (dht, node) = net.dht_and_node(4);
        dht.put_content(now, node, b"self-certifying").unwrap()
    };
    net.drain(4);
    net.run_for(Duration::from_secs(2));
    assert_eq!(key, Id::sha1(b"self-certifying"));
    assert!(matches!(net.outcome(4, op), Some(DhtDone::Stored { .. })));

    // A forged put: the content flag on a value that does not hash to the
    // key. Every replica refuses it.
    let forged_key = Id::sha1(b"the real value");
    let mut payload = vec![1u8]; // Put
    payload.extend_from_slice(&7u64.to_be_bytes()); // op
    payload.extend_from_slice(&forged_key.to_bytes());
    payload.extend_from_slice(&0u64.to_be_bytes()); // version
    payload.push(1); // content flag
    payload.extend_from_slice(b"a forgery");
    let forged_before: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    let now = net.now;
    net.nodes[5]
        .route(now, forged_key, dht::APP, &payload, None)
        .unwrap();
    net.drain(5);
    net.run_for(Duration::from_secs(2));
    assert!(
        net.holders(forged_key).is_empty(),
        "nobody stored the forgery"
    );
    let forged_after: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    assert_eq!(
        forged_after,
        forged_before + 1,
        "the root refused and counted it"
    );

    // A tampered replica set: every holder now has other bytes under the
    // content key (stored as if not content-addressed). A content get
    // refuses what it reads.
    for (i, _) in net.holders(key) {
        let store = net.dht(i).store_mut();
        assert!(store.remove(key));
        store
            .insert(key, dht::Meta::default(), b"tampered")
            .unwrap();
    }
    let now = net.now;
    let op = {
        let (dht, node) = net.dht_and_node(9);
        dht.get_content(now, node, key).unwrap()
    };
    net.drain(9);
    net.run_for(DhtConfig::default().op_timeout + Duration::from_secs(2));
    assert_eq!(net.outcome(9, op), Some(&DhtDone::TimedOut));
    assert!(
        net.dht(9).stats().forged >= 1,
        "the client counted the forgery"
    );
}

#[test]
fn misuse_gets_typed_errors() {
    let mut net = ring(8, 11);
    let now = net.now;
    let max = dht::Dht::<dht::MapStore>::max_value_len(&*net.nodes[0]);
    // A sealed datagram's trailer, and the source's signature a routed
    // message carries through relays, both come off a value's room.
    let trailer = pastry_core::session::TRAILER_BYTES;
    let signature = pastry_core::wire::SOURCE_SIGNATURE_BYTES;
    assert_eq!(
        max,
        1_280 - 45 - 71 - trailer - signature - dht::VALUE_OVERHEAD
    );
    let (dht, node) = net.dht_and_node(0);
    let key = Id::sha1(b"k");
    assert_eq!(
        dht.put(now, node, key, 1, &vec![0u8; max + 1]),
        Err(DhtError::ValueTooLarge { max })
    );
    assert!(dht.put(now, node, key, 1, &vec![0u8; max]).is_ok());
    // Operations in flight are bounded.
    let mut busy = false;
    for i in 0..dht::MAX_OPS + 1 {
        match dht.get(now, node, Id::sha1(&i.to_be_bytes())) {
            Ok(_) => {}
            Err(DhtError::Busy) => {
                busy = true;
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(busy, "a full operation table refuses");
    // k must stay below half the node's leaf set (8 here), or no replica
    // set could be kept in sync: 8 is refused, 7 is taken.
    let with_k = |k| {
        let config = DhtConfig {
            replicas: k,
            spares: 0,
            quorum: 1,
            ..DhtConfig::default()
        };
        dht::Dht::<dht::MapStore>::new(config, dht::MapStore::new(), 3).expect("within 17")
    };
    let node = &mut *net.nodes[1];
    assert_eq!(node.leaf_set().half(), 8);
    assert_eq!(with_k(8).get(now, node, key), Err(DhtError::BadConfig));
    assert_eq!(
        with_k(8).put(now, node, key, 1, b"v"),
        Err(DhtError::BadConfig)
    );
    assert!(with_k(7).get(now, node, key).is_ok());
    // A node that has not joined.
    let i = net.add(Config::default());
    let now = net.now;
    let (dht, node) = net.dht_and_node(i);
    assert_eq!(dht.get(now, node, key), Err(DhtError::NotActive));
    assert_eq!(
        dht::Dht::<dht::MapStore>::new(
            DhtConfig {
                quorum: 6,
                ..DhtConfig::default()
            },
            dht::MapStore::new(),
            1
        )
        .err(),
        Some(DhtError::BadConfig)
    );
}

#[test]
fn lookups_are_answered_from_caches_on_the_path() {
    for seed in seeds(&[12, 13]) {
        let mut net: Net<dht::Lookups> = Net::with_forwarders(seed);
        net.dht_config = Some(DhtConfig::default());
        // Enough nodes that lookups take more than one hop.
        for _ in 0..150 {
            net.join_one(Config::default());
            net.run_for(Duration::from_millis(300));
        }
        net.run_for(Duration::from_secs(20));
        // The nodes verify their peers, so they cache only values that
        // prove themselves: a signed one here (a plain one is not cached).
        let owner = pastry_core::identity::Keypair::from_secret([seed as u8; 32]);
        let key = dht::signed_key(&owner.public(), b"");
        let put_signed = |net: &mut Net<dht::Lookups>, i: usize, version: u64| {
            let now = net.now;
            let (dht, node) = net.dht_and_node(i);
            let value = value_for(key, version);
            let (_, op) = dht
                .put_signed(now, node, &owner, b"", version, &value)
                .unwrap();
            net.drain(i);
            net.run_for(Duration::from_secs(2));
            assert!(matches!(net.outcome(i, op), Some(DhtDone::Stored { .. })));
        };
        put_signed(&mut net, 0, 1);
        // Every node reads it, one after another: later lookups meet
        // copies cached by earlier ones.
        let mut from_cache = 0;
        for i in net.live() {
            let op = net.get(i, key);
            // A first contact costs a handshake (three round trips).
            net.run_for(Duration::from_secs(3));
            match net.outcome(i, op) {
                Some(DhtDone::Found {
                    version: 1,
                    cached,
                    value,
                }) if *value == value_for(key, 1) => from_cache += usize::from(*cached),
                other => panic!("seed {seed}: get from {i}: {other:?}"),
            }
        }
        // Lookups were answered before their root, by a replica on the
        // path or from a cache.
        let early: u64 = net
            .live()
            .iter()
            .map(|&i| net.dht(i).stats().gets_answered_on_the_way)
            .sum();
        assert!(
            early >= 10,
            "seed {seed}: {early} answered on the way ({from_cache} from caches)"
        );
        // Cached copies are not replicas.
        check_replicas(&net, &[key], 1).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let cached = net
            .live()
            .iter()
            .filter(|&&i| !net.dht(i).cache().is_empty())
            .count();
        assert!(cached > K, "seed {seed}: copies cached at {cached} nodes");

        // A newer version: once the caches' time to live has passed, every
        // lookup returns it.
        put_signed(&mut net, 1, 2);
        net.run_for(DhtConfig::default().cache_ttl);
        for i in net.live() {
            let op = net.get(i, key);
            // A first contact costs a handshake (three round trips).
            net.run_for(Duration::from_secs(3));
            assert!(
                matches!(net.outcome(i, op), Some(DhtDone::Found { version: 2, .. })),
                "seed {seed}: get from {i} after the TTL: {:?}",
                net.outcome(i, op)
            );
        }
    }
}

#[test]
fn a_full_replica_diverts_the_value_and_keeps_a_pointer() {
    for seed in seeds(&[14, 15]) {
        // No eager spares: every copy outside the replica set is diverted.
        let config = DhtConfig {
            eager_spares: 0,
            ..DhtConfig::default()
        };
        let mut net = ring_with(40, seed, config);
        let key = net.random_id();
        // The key's root, and another of its replicas, have no room at all.
        let replicas = net.true_replicas(key, K);
        let root = net.true_root(key);
        let other = *replicas.iter().find(|&&i| i != root).unwrap();
        for i in [root, other] {
            *net.dht(i).store_mut() = dht::MapStore::with_limits(0, 0);
        }
        let client = *net.live().iter().find(|i| !replicas.contains(i)).unwrap();
        let op = net.put(client, key, 1, &value_for(key, 1));
        net.run_for(Duration::from_secs(3));
        assert!(
            matches!(net.outcome(client, op), Some(DhtDone::Stored { replicas }) if *replicas >= 3),
            "seed {seed}: {:?}",
            net.outcome(client, op)
        );
        for i in [root, other] {
            assert_eq!(
                net.dht(i).stats().diverted,
                1,
                "seed {seed}: node {i} diverted"
            );
        }
        // Three replicas hold it, and two diverted copies sit outside the
        // replica set, marked as such.
        let holders: Vec<usize> = net.holders(key).into_iter().map(|(i, _)| i).collect();
        let diverted: Vec<usize> = holders
            .iter()
            .copied()
            .filter(|i| !replicas.contains(i))
            .collect();
        assert_eq!(holders.len(), K, "seed {seed}: holders {holders:?}");
        assert_eq!(
            diverted.len(),
            2,
            "seed {seed}: diverted copies at {diverted:?}"
        );
        for &d in &diverted {
            assert!(net.dht(d).store().get(key).unwrap().meta.diverted);
        }
        // Every node reads it (the root answers through its pointer), and
        // maintenance leaves the diverted copies in place.
        net.run_for(Duration::from_secs(60));
        for i in net.live() {
            let op = net.get(i, key);
            // A first contact costs a handshake (three round trips).
            net.run_for(Duration::from_secs(3));
            assert!(
                matches!(net.outcome(i, op), Some(DhtDone::Found { version: 1, .. })),
                "seed {seed}: get from {i}: {:?}",
                net.outcome(i, op)
            );
        }
        assert_eq!(
            net.holders(key).len(),
            K,
            "seed {seed}: {:?}",
            net.holders(key)
        );
    }
}
