//! Secure puts and gets (#29; PAST over OSDI'02's `sec_route`) on an
//! in-memory network of nodes that verify each other. The oracle is the
//! network's global view: the key's true replica roots (every live id
//! sorted by closeness), and what each root's store holds. Faulty roots
//! are made by writing into their stores what a faulty root would serve.

mod common;

use std::time::Duration;

use common::net::{DhtDone, Net};
use pastry_core::dht::{DhtConfig, Meta, Store};
use pastry_core::{Config, Id};

fn secure_net(n: usize, seed: u64) -> Net {
    let mut node = Config::default();
    node.secure.enabled = true;
    Net::dht_ring(n, seed, DhtConfig::default(), node)
}

/// The key's k true roots, closest first.
fn closest_roots(net: &Net, key: Id, k: usize) -> Vec<usize> {
    let mut r = net.true_replicas(key, k);
    r.sort_by(|&a, &b| key.cmp_closeness(net.nodes[a].own().id, net.nodes[b].own().id));
    r
}

/// A live node that is none of `key`'s k roots.
fn outsider(net: &Net, key: Id, k: usize, nth: usize) -> usize {
    let r = net.true_replicas(key, k);
    net.live()
        .into_iter()
        .filter(|i| !r.contains(i))
        .nth(nth)
        .expect("more nodes than roots")
}

/// Replaces root `i`'s copy of `key` by `bytes` at `version`, as a faulty
/// root would serve it.
fn tamper(net: &mut Net, i: usize, key: Id, version: u64, bytes: &[u8]) {
    let store = net.dht(i).store_mut();
    store.remove(key);
    let meta = Meta {
        version,
        ..Meta::default()
    };
    store.insert(key, meta, bytes).expect("room for one value");
}

fn settle(
    net: &mut Net,
    op_of: impl FnOnce(&mut Net) -> (usize, pastry_core::dht::OpId),
) -> DhtDone {
    let (at, op) = op_of(net);
    net.drain(at);
    net.run_for(Duration::from_secs(10));
    net.outcome(at, op).cloned().expect("the operation ended")
}

#[test]
fn a_secure_put_reaches_every_root_and_a_secure_get_takes_only_a_majority() {
    let seed = 2901;
    let mut net = secure_net(30, seed);
    let k = DhtConfig::default().replicas;
    let key = net.random_id();
    let writer = outsider(&net, key, k, 0);
    let value = b"the honest value".to_vec();
    let put = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(writer);
        (
            writer,
            dht.secure_put(now, node, key, 1, &value).expect("taken"),
        )
    });
    assert!(
        matches!(put, DhtDone::Stored { replicas } if replicas >= 3),
        "seed {seed}: {put:?}"
    );
    let roots = closest_roots(&net, key, k);
    for &r in &roots {
        let held = net.dht(r).store().get(key).map(|it| it.value.to_vec());
        assert_eq!(
            held.as_deref(),
            Some(&value[..]),
            "seed {seed}: root {r} lacks the value"
        );
    }

    // Two faulty roots, the closest among them, serve one forgery.
    let forged = b"a colluders' forgery".to_vec();
    for &r in &roots[..2] {
        tamper(&mut net, r, key, 1, &forged);
    }
    let reader = outsider(&net, key, k, 1);
    let plain = settle(&mut net, |net| (reader, net.get(reader, key)));
    assert!(
        matches!(&plain, DhtDone::Found { value, .. } if *value == forged),
        "seed {seed}: the plain get believes the root: {plain:?}"
    );
    let reader = outsider(&net, key, k, 2);
    let secure = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(reader);
        (reader, dht.secure_get(now, node, key).expect("taken"))
    });
    assert!(
        matches!(&secure, DhtDone::Found { value: v, version: 1, .. } if *v == value),
        "seed {seed}: the secure get takes the majority's value: {secure:?}"
    );

    // A third root with bytes of its own: no answer has a majority.
    tamper(&mut net, roots[2], key, 1, b"a third story");
    let reader = outsider(&net, key, k, 3);
    let disputed = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(reader);
        (reader, dht.secure_get(now, node, key).expect("taken"))
    });
    assert_eq!(disputed, DhtDone::Disputed, "seed {seed}");
    assert_eq!(net.dht(reader).stats().disputed, 1, "seed {seed}");
}

#[test]
fn a_value_that_proves_itself_is_taken_from_one_correct_root_and_forgeries_never() {
    let seed = 2902;
    let mut net = secure_net(30, seed);
    let k = DhtConfig::default().replicas;
    let value = b"immutable bytes, named by their hash".to_vec();
    let key = Id::sha1(&value);
    let writer = outsider(&net, key, k, 0);
    let put = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(writer);
        let (_, op) = dht.secure_put_content(now, node, &value).expect("taken");
        (writer, op)
    });
    assert!(
        matches!(put, DhtDone::Stored { .. }),
        "seed {seed}: {put:?}"
    );

    // Four roots lost or forged it; the fifth still proves it.
    let roots = closest_roots(&net, key, k);
    for (n, &r) in roots[..k - 1].iter().enumerate() {
        match n % 2 {
            0 => tamper(&mut net, r, key, 7, b"not the bytes of this hash"),
            _ => assert!(net.dht(r).store_mut().remove(key)),
        }
    }
    let reader = outsider(&net, key, k, 1);
    let got = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(reader);
        (
            reader,
            dht.secure_get_content(now, node, key).expect("taken"),
        )
    });
    assert!(
        matches!(&got, DhtDone::Found { value: v, .. } if *v == value),
        "seed {seed}: {got:?}"
    );

    // A key nobody stored: every root says so, the forgery counts for
    // nothing, and the answer is "not found", never a value.
    let missing = net.random_id();
    let first = closest_roots(&net, missing, k)[0];
    tamper(&mut net, first, missing, 9, b"unproven");
    let reader = outsider(&net, missing, k, 2);
    let none = settle(&mut net, |net| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(reader);
        (
            reader,
            dht.secure_get_content(now, node, missing).expect("taken"),
        )
    });
    assert_eq!(none, DhtDone::NotFound, "seed {seed}");
}
