//! Values that cannot be forged (#28): on nodes that verify their peers,
//! replica copies come only from authenticated leaf-set members, values
//! whose key proves them (content hash, owner's signature) outrank any
//! that prove nothing, only a signed value's owner can write its key, and
//! a root refuses a client past its quota. Judged against the network's
//! global view (who holds what) and each operation's outcome.

mod common;

use std::time::Duration;

use common::net::{DhtDone, Net};
use common::speaker::Speaker;
use pastry_core::dht::{self, DhtConfig, PutError, Quota, Store};
use pastry_core::identity::Keypair;
use pastry_core::wire::{Body, Message, Routed};
use pastry_core::{Config, Id, Kbr};

fn ring(n: usize, seed: u64) -> Net {
    Net::dht_ring(n, seed, DhtConfig::default(), Config::default())
}

/// A DHT `Store` payload as a member would send it (the codec is private
/// to the core; this is its documented layout).
fn store_payload(key: Id, version: u64, flags: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![2u8]; // kind: Store
    p.extend_from_slice(&0u64.to_be_bytes()); // op 0: maintenance
    p.extend_from_slice(&key.to_bytes());
    p.extend_from_slice(&version.to_be_bytes());
    p.push(flags);
    p.push(0); // no client
    p.extend_from_slice(value);
    p
}

/// A `Put` payload, as a client's node sends it to the key's root.
fn put_payload(key: Id, version: u64, flags: u8, value: &[u8]) -> Vec<u8> {
    let mut p = vec![1u8]; // kind: Put
    p.extend_from_slice(&7u64.to_be_bytes());
    p.extend_from_slice(&key.to_bytes());
    p.extend_from_slice(&version.to_be_bytes());
    p.push(flags);
    p.extend_from_slice(value);
    p
}

/// The id `n` past `base`.
fn next_to(base: Id, n: u64) -> Id {
    (0..n).fold(base, |id, _| id.wrapping_add(pastry_core::Distance::ONE))
}

fn settle(net: &mut Net) {
    net.run_for(Duration::from_secs(3));
}

fn put_done(net: &mut Net, i: usize, op: dht::OpId) -> Option<DhtDone> {
    settle(net);
    net.outcome(i, op).cloned()
}

fn found(net: &mut Net, at: usize, key: Id) -> Option<(u64, Vec<u8>)> {
    let op = net.get(at, key);
    settle(net);
    match net.outcome(at, op) {
        Some(DhtDone::Found { version, value, .. }) => Some((*version, value.clone())),
        other => panic!("get of {key} from {at}: {other:?}"),
    }
}

/// The versions the key's true replicas hold.
fn versions(net: &Net, key: Id) -> Vec<u64> {
    let want = net.true_replicas(key, 5);
    net.holders(key)
        .into_iter()
        .filter(|(i, _)| want.contains(i))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn a_copy_from_a_node_outside_the_leaf_set_changes_no_replica() {
    let seed = 41;
    let mut net = ring(40, seed);
    let key = net.random_id();
    let owner = net.live()[3];
    let op = net.put(owner, key, 1, b"the owner's");
    assert!(matches!(
        put_done(&mut net, owner, op),
        Some(DhtDone::Stored { .. })
    ));
    let root = net.true_root(key);
    // A verified member far from the key, outside the root's leaf set,
    // sends the root a replica copy at the highest version, straight to
    // it (so its source is authenticated, and still not a neighbour).
    let far = net
        .live()
        .into_iter()
        .find(|&i| i != root && !net.nodes[root].leaf_set().contains(net.nodes[i].own().id))
        .expect("a 40-node ring has nodes outside a 16-member leaf set");
    let root_peer = net.peer(root);
    let forged = store_payload(key, u64::MAX, 0, b"a forgery");
    let before = net.dht(root).stats().unauthorized;
    let now = net.now;
    net.nodes[far]
        .send_to(now, root_peer, dht::APP, &forged)
        .expect("routed");
    net.drain(far);
    settle(&mut net);
    assert_eq!(
        net.dht(root).stats().unauthorized,
        before + 1,
        "seed {seed}: the root did not refuse it"
    );
    assert!(
        versions(&net, key).iter().all(|&v| v == 1),
        "seed {seed}: {:?}",
        net.holders(key)
    );
    // The owner's next version still goes through, and is what a get finds.
    let op = net.put(owner, key, 2, b"the owner's, again");
    assert!(matches!(
        put_done(&mut net, owner, op),
        Some(DhtDone::Stored { .. })
    ));
    assert_eq!(
        found(&mut net, far, key),
        Some((2, b"the owner's, again".to_vec()))
    );
}

#[test]
fn only_a_signed_values_owner_can_write_its_key() {
    let seed = 42;
    let mut net = ring(24, seed);
    let owner = Keypair::from_secret([0x0a; 32]);
    let (writer, reader, thief) = (2, 9, 17);
    let put_signed = |net: &mut Net, i: usize, keys: &Keypair, version: u64, value: &[u8]| {
        let now = net.now;
        let (dht, node) = net.dht_and_node(i);
        let (key, op) = dht
            .put_signed(now, node, keys, b"profile", version, value)
            .expect("put_signed");
        net.drain(i);
        (key, put_done(net, i, op))
    };
    let (key, done) = put_signed(&mut net, writer, &owner, 3, b"hello");
    assert!(
        matches!(done, Some(DhtDone::Stored { .. })),
        "seed {seed}: {done:?}"
    );
    assert_eq!(key, dht::signed_key(&owner.public(), b"profile"));

    // A plain value on the signed key, at the highest version: refused.
    let op = net.put(thief, key, u64::MAX, b"squatter");
    let done = put_done(&mut net, thief, op);
    assert_eq!(
        done,
        Some(DhtDone::PutFailed(PutError::Protected)),
        "seed {seed}"
    );
    // An envelope whose signature is not the owner's: the thief signs
    // with its own key and presents the result under the owner's key
    // (layout: owner key, signature, salt length, salt, value).
    let sig = Keypair::from_secret([0x0b; 32]).sign(b"mine now");
    let mut forged = owner.public().to_bytes().to_vec();
    forged.extend_from_slice(&sig.0);
    forged.push(7);
    forged.extend_from_slice(b"profile");
    forged.extend_from_slice(b"mine now");
    let forged_before: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    let payload = put_payload(key, 9, 8, &forged);
    let now = net.now;
    net.nodes[thief]
        .route(now, key, dht::APP, &payload, None)
        .unwrap();
    net.drain(thief);
    settle(&mut net);
    let forged_after: u64 = net.live().iter().map(|&i| net.dht(i).stats().forged).sum();
    assert_eq!(
        forged_after,
        forged_before + 1,
        "seed {seed}: the root refused it"
    );
    // The owner cannot go back a version; it can go forward.
    let (_, done) = put_signed(&mut net, writer, &owner, 2, b"older");
    assert_eq!(
        done,
        Some(DhtDone::PutFailed(PutError::Stale { current: 3 }))
    );
    let (_, done) = put_signed(&mut net, writer, &owner, 4, b"hello again");
    assert!(
        matches!(done, Some(DhtDone::Stored { .. })),
        "seed {seed}: {done:?}"
    );
    // A reader asking for the owner's value gets the owner's bytes.
    let now = net.now;
    let (got_key, op) = {
        let (dht, node) = net.dht_and_node(reader);
        dht.get_signed(now, node, &owner.public(), b"profile")
            .unwrap()
    };
    net.drain(reader);
    settle(&mut net);
    assert_eq!(got_key, key);
    assert!(
        matches!(net.outcome(reader, op), Some(DhtDone::Found { version: 4, value, .. }) if value == b"hello again"),
        "seed {seed}: {:?}",
        net.outcome(reader, op)
    );
    assert!(versions(&net, key).iter().all(|&v| v == 4), "seed {seed}");
}

#[test]
fn a_content_key_squatted_by_a_plain_value_is_taken_back() {
    let seed = 43;
    let mut net = ring(20, seed);
    let value = b"the real content".to_vec();
    let key = Id::sha1(&value);
    let (squatter, owner) = (4, 11);
    // The squatter gets there first, with the content flag off.
    let op = net.put(squatter, key, u64::MAX, b"junk");
    assert!(matches!(
        put_done(&mut net, squatter, op),
        Some(DhtDone::Stored { .. })
    ));
    let now = net.now;
    let (got, op) = {
        let (dht, node) = net.dht_and_node(owner);
        dht.put_content(now, node, &value).unwrap()
    };
    net.drain(owner);
    assert_eq!(got, key);
    let done = put_done(&mut net, owner, op);
    assert!(
        matches!(done, Some(DhtDone::Stored { .. })),
        "seed {seed}: {done:?}"
    );
    // Both kinds of get now read the content, and the squatter cannot
    // take the key back at any version.
    assert_eq!(found(&mut net, squatter, key), Some((0, value.clone())));
    let op = net.put(squatter, key, u64::MAX, b"junk again");
    assert_eq!(
        put_done(&mut net, squatter, op),
        Some(DhtDone::PutFailed(PutError::Protected)),
        "seed {seed}"
    );
    assert_eq!(found(&mut net, 1, key), Some((0, value)));
}

#[test]
fn a_client_flooding_one_root_is_refused_past_its_quota() {
    let seed = 44;
    let quota = Quota {
        burst: 20,
        refill: Duration::from_secs(60),
    };
    let config = DhtConfig {
        client_quota: quota,
        ..DhtConfig::default()
    };
    let mut net = Net::dht_ring(20, seed, config, Config::default());
    let root = 6;
    let base = net.nodes[root].own().id;
    let (flooder, other) = (13, 2);
    let stored_before = net.dht(root).store().len();
    let mut outcomes = Vec::new();
    for i in 0..40u64 {
        // Keys next to the root's id: it is their root.
        let key = next_to(base, i + 1);
        let op = net.put(flooder, key, 1, b"flood");
        net.run_for(Duration::from_millis(50));
        outcomes.push(op);
    }
    settle(&mut net);
    let stored = outcomes
        .iter()
        .filter(|op| matches!(net.outcome(flooder, **op), Some(DhtDone::Stored { .. })))
        .count();
    let refused = outcomes
        .iter()
        .filter(|op| net.outcome(flooder, **op) == Some(&DhtDone::PutFailed(PutError::OverQuota)))
        .count();
    assert_eq!((stored, refused), (20, 20), "seed {seed}");
    assert_eq!(net.dht(root).stats().quota_refused, 20, "seed {seed}");
    assert_eq!(net.dht(root).store().len(), stored_before + 20);
    // Another client is unaffected.
    let key = next_to(base, 1_000);
    let op = net.put(other, key, 1, b"fine");
    assert!(
        matches!(put_done(&mut net, other, op), Some(DhtDone::Stored { .. })),
        "seed {seed}"
    );
}

/// A put in another node's name, handed to a relay by a verified stranger:
/// the root cannot prove its source, so it stores nothing (and the named
/// node's quota is not spent).
#[test]
fn a_put_in_another_nodes_name_is_refused_at_the_root() {
    let seed = 45;
    let mut net = ring(30, seed);
    let key = net.random_id();
    let root = net.true_root(key);
    let relay = net.live().into_iter().find(|&i| i != root).unwrap();
    let victim = net.peer(
        net.live()
            .into_iter()
            .find(|&i| i != root && i != relay)
            .unwrap(),
    );
    let now = net.now;
    let mut mallory = Speaker::stranger(0x31);
    let to = net.addr(relay);
    mallory.greet(now, &mut net.nodes[relay], to);
    // A plain put (kind 1) and a secure put's store-here copy (kind 10).
    for (msg_id, kind) in [(77, 1u8), (78, 10)] {
        let mut payload = put_payload(key, u64::MAX, 0, b"in your name");
        payload[0] = kind;
        let m = Message {
            app: dht::APP,
            sender: mallory.me,
            body: Body::Routed(Routed {
                msg_id,
                key,
                per_hop: false,
                handoff: false,
                receipt: false,
                attempt: 0,
                hops: 3,
                source: victim,
                payload: &payload,
                signature: None,
            }),
        };
        let before = net.dht(root).stats().unauthorized;
        let sealed = mallory.seal(now, to, &m);
        net.nodes[relay].handle_datagram(now, mallory.me.addr, &sealed);
        net.drain(relay);
        settle(&mut net);
        assert_eq!(
            net.dht(root).stats().unauthorized,
            before + 1,
            "seed {seed}"
        );
        assert!(
            net.holders(key).is_empty(),
            "seed {seed}: {:?}",
            net.holders(key)
        );
    }
}
