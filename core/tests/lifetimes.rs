//! How values end (#31): a value put with a time to live is dropped by
//! every replica when its time is up, a renewal extends it, a deletion
//! leaves a tombstone that keeps older versions from coming back (even
//! from a replica that returns with its old copy) until it expires, and
//! only a signed value's owner deletes it. Judged against the network's
//! global view (what every live node's store holds) and each operation's
//! outcome.

mod common;

use std::time::Duration;

use common::net::{DhtDone, Net};
use pastry_core::dht::{self, DhtConfig, Meta, PutError, Store};
use pastry_core::identity::Keypair;
use pastry_core::{Config, Id};

fn ring(n: usize, seed: u64, dht: DhtConfig) -> Net {
    Net::dht_ring(n, seed, dht, Config::default())
}

/// No caching: a cached copy may answer for up to `cache_ttl` after a
/// deletion (documented); these tests judge the replicas.
fn uncached() -> DhtConfig {
    DhtConfig {
        cache_ttl: Duration::ZERO,
        ..DhtConfig::default()
    }
}

fn settle(net: &mut Net) {
    net.run_for(Duration::from_secs(3));
}

fn done(net: &mut Net, i: usize, op: dht::OpId) -> Option<DhtDone> {
    settle(net);
    net.outcome(i, op).cloned()
}

fn stored(d: &Option<DhtDone>) -> bool {
    matches!(d, Some(DhtDone::Stored { .. }))
}

fn lookup(net: &mut Net, at: usize, key: Id) -> Option<DhtDone> {
    let op = net.get(at, key);
    done(net, at, op)
}

/// What every live node's store holds under `key`: (node, version,
/// deleted).
fn held(net: &Net, key: Id) -> Vec<(usize, u64, bool)> {
    net.live()
        .into_iter()
        .filter_map(|i| {
            let it = net.nodes[i].0.apps().0.as_deref()?.store().get(key)?;
            Some((i, it.meta.version, it.meta.deleted))
        })
        .collect()
}

fn put_expiring(net: &mut Net, i: usize, key: Id, version: u64, ttl: Duration) -> Option<DhtDone> {
    let now = net.now;
    let (dht, node) = net.dht_and_node(i);
    let op = dht
        .put_expiring(now, node, key, version, b"short-lived", ttl)
        .expect("put_expiring");
    net.drain(i);
    done(net, i, op)
}

fn delete(net: &mut Net, i: usize, key: Id, version: u64) -> Option<DhtDone> {
    let now = net.now;
    let (dht, node) = net.dht_and_node(i);
    let op = dht.delete(now, node, key, version).expect("delete");
    net.drain(i);
    done(net, i, op)
}

#[test]
fn a_value_with_a_time_to_live_leaves_every_replica_when_it_is_up() {
    let seed = 71;
    let mut net = ring(30, seed, uncached());
    let key = net.random_id();
    let (writer, reader) = (net.live()[4], net.live()[17]);
    let put_at = net.now;
    let d = put_expiring(&mut net, writer, key, 1, Duration::from_secs(20));
    assert!(stored(&d), "seed {seed}: {d:?}");
    let replicas = net.true_replicas(key, 5);
    let holders: Vec<usize> = held(&net, key).iter().map(|h| h.0).collect();
    assert!(
        replicas.iter().all(|r| holders.contains(r)),
        "seed {seed}: replicas {replicas:?}, holders {holders:?}"
    );
    assert!(matches!(
        lookup(&mut net, reader, key),
        Some(DhtDone::Found { version: 1, .. })
    ));
    // Its time (20 s) and one sweep's granularity after the put: nowhere.
    net.run_until(put_at + Duration::from_secs(20) + dht::EXPIRY_GRANULARITY);
    assert_eq!(held(&net, key), [], "seed {seed}");
    let expired: u64 = net.live().iter().map(|&i| net.dht(i).stats().expired).sum();
    assert!(expired >= 5, "seed {seed}: {expired} counted");
    assert_eq!(
        lookup(&mut net, reader, key),
        Some(DhtDone::NotFound),
        "seed {seed}"
    );
    // The key is free again: a lower version than ever stored goes in.
    let op = net.put(writer, key, 0, b"new life");
    assert!(stored(&done(&mut net, writer, op)), "seed {seed}");
}

#[test]
fn a_put_of_the_same_version_renews_the_lease_and_a_plain_put_makes_it_last() {
    let seed = 72;
    let mut net = ring(24, seed, uncached());
    let key = net.random_id();
    let writer = net.live()[2];
    let first = net.now;
    assert!(stored(&put_expiring(
        &mut net,
        writer,
        key,
        1,
        Duration::from_secs(20)
    )));
    net.run_until(first + Duration::from_secs(15));
    let renewed = net.now;
    assert!(stored(&put_expiring(
        &mut net,
        writer,
        key,
        1,
        Duration::from_secs(20)
    )));
    // Past the first lease, within the second: still on every replica.
    net.run_until(first + Duration::from_secs(25));
    let replicas = net.true_replicas(key, 5);
    assert_eq!(
        held(&net, key)
            .iter()
            .filter(|h| replicas.contains(&h.0))
            .count(),
        5,
        "seed {seed}: {:?}",
        held(&net, key)
    );
    net.run_until(renewed + Duration::from_secs(20) + dht::EXPIRY_GRANULARITY);
    assert_eq!(held(&net, key), [], "seed {seed}: the renewal's time is up");
    // A later version without a time to live stays.
    assert!(stored(&put_expiring(
        &mut net,
        writer,
        key,
        2,
        Duration::from_secs(5)
    )));
    let op = net.put(writer, key, 3, b"for good");
    assert!(stored(&done(&mut net, writer, op)));
    net.run_for(Duration::from_secs(60));
    assert!(
        held(&net, key).iter().filter(|h| h.1 == 3).count() >= 5,
        "seed {seed}: {:?}",
        held(&net, key)
    );
}

#[test]
fn a_deleted_key_stays_deleted_when_a_replica_returns_with_its_old_copy() {
    let seed = 73;
    let config = DhtConfig {
        tombstone_ttl: Duration::from_secs(3_600),
        ..uncached()
    };
    let mut net = ring(30, seed, config);
    let key = net.random_id();
    let (writer, reader) = (net.live()[6], net.live()[21]);
    let op = net.put(writer, key, 1, b"to be deleted");
    assert!(stored(&done(&mut net, writer, op)));
    let d = delete(&mut net, reader, key, 2);
    assert!(stored(&d), "seed {seed}: {d:?}");
    assert_eq!(
        lookup(&mut net, writer, key),
        Some(DhtDone::NotFound),
        "seed {seed}"
    );
    // The deletion is a version: an older put is refused as stale.
    let op = net.put(writer, key, 1, b"to be deleted");
    assert_eq!(
        done(&mut net, writer, op),
        Some(DhtDone::PutFailed(PutError::Stale { current: 2 })),
        "seed {seed}"
    );
    // A replica comes back with its copy from before the deletion (as a
    // node restarted from a data directory it kept while away).
    let replica = net.true_replicas(key, 5)[0];
    let store = net.dht(replica).store_mut();
    assert!(store.remove(key));
    let old = Meta {
        version: 1,
        ..Meta::default()
    };
    store.insert(key, old, b"to be deleted").unwrap();
    // Maintenance (at most a period later) brings it the tombstone.
    net.run_for(DhtConfig::default().sync_period + Duration::from_secs(30));
    let h = held(&net, key);
    assert!(
        h.iter().all(|&(_, v, deleted)| v == 2 && deleted) && h.len() >= 5,
        "seed {seed}: {h:?}"
    );
    assert_eq!(
        lookup(&mut net, reader, key),
        Some(DhtDone::NotFound),
        "seed {seed}"
    );
    // A newer version brings the key back.
    let op = net.put(writer, key, 3, b"back");
    assert!(stored(&done(&mut net, writer, op)));
    assert!(matches!(
        lookup(&mut net, reader, key),
        Some(DhtDone::Found { version: 3, .. })
    ));
}

#[test]
fn a_tombstone_expires_after_its_time() {
    let seed = 74;
    let config = DhtConfig {
        tombstone_ttl: Duration::from_secs(30),
        ..uncached()
    };
    let mut net = ring(20, seed, config);
    let key = net.random_id();
    let writer = net.live()[1];
    let op = net.put(writer, key, 4, b"v");
    assert!(stored(&done(&mut net, writer, op)));
    let at = net.now;
    assert!(stored(&delete(&mut net, writer, key, 5)));
    assert!(held(&net, key).iter().all(|h| h.2), "seed {seed}");
    net.run_until(at + Duration::from_secs(30) + dht::EXPIRY_GRANULARITY);
    assert_eq!(held(&net, key), [], "seed {seed}");
}

#[test]
fn only_the_owner_deletes_a_signed_value_and_nobody_a_content_hash_one() {
    let seed = 75;
    let mut net = ring(24, seed, uncached());
    let owner = Keypair::from_secret([0x31; 32]);
    let (writer, thief) = (net.live()[3], net.live()[15]);
    let now = net.now;
    let (key, op) = {
        let (dht, node) = net.dht_and_node(writer);
        dht.put_signed(now, node, &owner, b"s", 1, b"signed")
            .unwrap()
    };
    net.drain(writer);
    assert!(stored(&done(&mut net, writer, op)));
    // A plain deletion cannot replace a signed value at any version.
    assert_eq!(
        delete(&mut net, thief, key, u64::MAX),
        Some(DhtDone::PutFailed(PutError::Protected)),
        "seed {seed}"
    );
    // Nor can the thief's own signed deletion: it names another key.
    let other = Keypair::from_secret([0x32; 32]);
    let now = net.now;
    let (theirs, _) = {
        let (dht, node) = net.dht_and_node(thief);
        dht.delete_signed(now, node, &other, b"s", 9).unwrap()
    };
    net.drain(thief);
    settle(&mut net);
    assert_ne!(theirs, key);
    assert!(
        held(&net, key).iter().all(|h| h.1 == 1 && !h.2),
        "seed {seed}"
    );
    // The owner's deletion goes through, and a get finds nothing.
    let now = net.now;
    let (k, op) = {
        let (dht, node) = net.dht_and_node(writer);
        dht.delete_signed(now, node, &owner, b"s", 2).unwrap()
    };
    net.drain(writer);
    assert_eq!(k, key);
    assert!(stored(&done(&mut net, writer, op)), "seed {seed}");
    let now = net.now;
    let op = {
        let (dht, node) = net.dht_and_node(thief);
        dht.get_signed(now, node, &owner.public(), b"s").unwrap().1
    };
    net.drain(thief);
    assert_eq!(done(&mut net, thief, op), Some(DhtDone::NotFound));
    assert!(
        held(&net, key).iter().all(|h| h.1 == 2 && h.2),
        "seed {seed}"
    );

    // A content-hash value has no owner to delete it.
    let now = net.now;
    let (ckey, op) = {
        let (dht, node) = net.dht_and_node(writer);
        dht.put_content(now, node, b"immutable").unwrap()
    };
    net.drain(writer);
    assert!(stored(&done(&mut net, writer, op)));
    assert_eq!(
        delete(&mut net, thief, ckey, u64::MAX),
        Some(DhtDone::PutFailed(PutError::Protected))
    );
    assert!(matches!(
        lookup(&mut net, thief, ckey),
        Some(DhtDone::Found { value, .. }) if value == b"immutable"
    ));
}

#[test]
fn a_forged_tombstone_is_refused() {
    let seed = 76;
    let mut net = ring(20, seed, uncached());
    let key = net.random_id();
    let writer = net.live()[5];
    let op = net.put(writer, key, 1, b"kept");
    assert!(stored(&done(&mut net, writer, op)));
    let forged_before: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    // Hand-made puts (the documented layout: kind, op, key, version,
    // flags, then the value): a plain tombstone that carries bytes, and a
    // "signed" one that carries no signature.
    const DELETED: u8 = 16;
    const SIGNED: u8 = 8;
    for (flags, value) in [(DELETED, &b"bytes"[..]), (DELETED | SIGNED, &b""[..])] {
        let mut p = vec![1u8];
        p.extend_from_slice(&7u64.to_be_bytes());
        p.extend_from_slice(&key.to_bytes());
        p.extend_from_slice(&9u64.to_be_bytes());
        p.push(flags);
        p.extend_from_slice(value);
        let now = net.now;
        net.nodes[writer]
            .route(now, key, dht::APP, &p, None)
            .unwrap();
        net.drain(writer);
        settle(&mut net);
    }
    let forged_after: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    assert_eq!(forged_after, forged_before + 2, "seed {seed}");
    assert!(
        held(&net, key).iter().all(|h| h.1 == 1 && !h.2),
        "seed {seed}"
    );
    assert!(matches!(
        lookup(&mut net, writer, key),
        Some(DhtDone::Found { version: 1, .. })
    ));
}
