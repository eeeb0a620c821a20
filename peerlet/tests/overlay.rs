//! Peerlets on a pastry-tokio overlay on loopback (#30), judged against
//! the global view: a message reaches the first member of its key's true
//! replica set whose policy admits the provider (PROST's fall-over); when
//! none does, the origin hears a refusal; a peerlet that faults is
//! stopped and the node goes on serving the others.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{COUNTER, SPIN, TRAIL, module};
use pastry_core::identity::Keypair;
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id};
use pastry_peerlet::{Budget, Hops, Manifest, PeerletEvent, Peerlets, Policy};
use pastry_tests::oracle::closest_n;
use pastry_tokio::{Builder, Events, Handle, NodeEvent};

const NODES: usize = 12;

struct Net {
    handles: Vec<Handle>,
    events: Vec<Events>,
}

/// `NODES` nodes hosting peerlets: even ones trust `provider`, odd ones
/// deny it.
async fn overlay(seed: u64, provider: &Keypair) -> Net {
    overlay_with(seed, provider, (NODES, StackConfig::lan())).await
}

/// [`overlay`] of `n` nodes with `config`.
async fn overlay_with(seed: u64, provider: &Keypair, (n, config): (usize, StackConfig)) -> Net {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (mut handles, mut events) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut policy = Policy::default();
        if i % 2 == 0 {
            policy.trusted.push(provider.public());
        } else {
            policy.denied.push(provider.public());
        }
        let seed = seed * 1_000 + i as u64;
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&seed.to_be_bytes());
        let (h, ev) = Builder::new(loopback)
            .config(config.clone())
            .identity(Keypair::from_secret(secret))
            .seed(seed)
            .app(Peerlets::new(policy, seed))
            .forwarder(Hops)
            .spawn()
            .await
            .expect("node starts");
        handles.push(h);
        events.push(ev);
    }
    handles[0].join(None).await.expect("node 0 starts the ring");
    for i in 1..n {
        let via = handles[i / 2].own().addr;
        handles[i].join(Some(via)).await.expect("joins");
    }
    // Let leaf sets settle (the LAN timers probe every few hundred ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    Net { handles, events }
}

fn signed(provider: &Keypair, app: u16, code: &[u8]) -> Vec<u8> {
    signed_as(provider, (app, false), code)
}

fn signed_as(provider: &Keypair, (app, per_hop): (u16, bool), code: &[u8]) -> Vec<u8> {
    let m = Manifest::describe(
        (AppId(app), per_hop),
        1,
        code,
        900,
        (Budget::DEFAULT, provider.public()),
    )
    .unwrap();
    m.sign(provider)
}

/// Offers the peerlet to every node; its locator.
async fn offer_everywhere(net: &Net, manifest: &[u8], code: &[u8]) -> Id {
    let mut locator = None;
    for h in &net.handles {
        let (m, c) = (manifest.to_vec(), code.to_vec());
        let l = h
            .app::<Peerlets, _>(move |p, _, _| p.offer(&m, &c))
            .await
            .unwrap()
            .expect("a good manifest");
        locator = Some(l);
    }
    locator.unwrap()
}

/// The next peerlet event of node `i` (other events skipped), or `None`
/// within `wait`.
async fn next_event(net: &mut Net, i: usize, wait: Duration) -> Option<PeerletEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ev = tokio::time::timeout_at(deadline, net.events[i].recv())
            .await
            .ok()??;
        if let NodeEvent::App(bytes) = ev
            && let Some(e) = PeerletEvent::decode(&bytes)
            && !matches!(e, PeerletEvent::Installed { .. } | PeerletEvent::Log { .. })
        {
            return Some(e);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_fall_over_to_the_first_member_that_admits_the_provider() {
    let seed = 31;
    let provider = Keypair::from_secret([0x51; 32]);
    let mut net = overlay(seed, &provider).await;
    let code = module(COUNTER);
    let manifest = signed(&provider, 0xa001, &code);
    let locator = offer_everywhere(&net, &manifest, &code).await;
    let ids: Vec<Id> = net.handles.iter().map(|h| h.own().id).collect();
    let admits = |id: Id| {
        ids.iter()
            .position(|&x| x == id)
            .is_some_and(|i| i % 2 == 0)
    };
    // The oracle's count of hand-overs and refusals, per message: one
    // hand-over per denying member before the first that admits; four and
    // a refusal when none of the five does.
    let (mut want_fall_overs, mut want_refusals) = (0, 0);
    for k in 0..16u32 {
        let key = Id::sha1(&k.to_be_bytes());
        let replicas = closest_n(key, &ids, 5);
        let first = replicas.iter().position(|&id| admits(id));
        for count in 1..=2u32 {
            let h = net.handles[3].clone();
            h.app::<Peerlets, _>(move |p, node, now| p.send(now, node, (locator, key), b"hi"))
                .await
                .unwrap()
                .expect("sent");
            let got = next_event(&mut net, 3, Duration::from_secs(10)).await;
            match first {
                Some(j) => {
                    want_fall_overs += j as u64;
                    assert_eq!(
                        got,
                        Some(PeerletEvent::Reply {
                            locator,
                            key,
                            from: replicas[j],
                            payload: count.to_le_bytes().to_vec(),
                        }),
                        "seed {seed}, key {k}: replicas {replicas:?}"
                    );
                }
                None => {
                    want_fall_overs += 4;
                    want_refusals += 1;
                    assert_eq!(
                        got,
                        Some(PeerletEvent::Refused { locator, key }),
                        "seed {seed}, key {k}"
                    );
                }
            }
        }
    }
    let mut total = pastry_peerlet::PeerletStats::default();
    for (i, h) in net.handles.iter().enumerate() {
        let st = h.app::<Peerlets, _>(|p, _, _| *p.stats()).await.unwrap();
        if i % 2 == 1 {
            assert_eq!(st.installed, 0, "seed {seed}: node {i} denies the provider");
        }
        total.fall_overs += st.fall_overs;
        total.refusals_sent += st.refusals_sent;
        total.calls += st.calls;
    }
    assert_eq!(total.fall_overs, want_fall_overs, "seed {seed}");
    assert_eq!(total.refusals_sent, want_refusals, "seed {seed}");
    assert_eq!(
        total.calls,
        32 - 2 * want_refusals,
        "seed {seed}: one call per message run"
    );
    assert!(
        want_fall_overs > 0,
        "seed {seed}: pick a seed whose roots include a denier"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_no_one_trusts_is_refused_and_a_spinning_peerlet_is_stopped() {
    let seed = 32;
    let provider = Keypair::from_secret([0x52; 32]);
    let mut net = overlay(seed, &provider).await;
    // Another provider, trusted by no node: the origin hears a refusal.
    let stranger = Keypair::from_secret([0x53; 32]);
    let code = module(COUNTER);
    let manifest = signed(&stranger, 0xa002, &code);
    let locator = offer_everywhere(&net, &manifest, &code).await;
    let key = Id::sha1(b"nobody runs this");
    let h = net.handles[5].clone();
    h.app::<Peerlets, _>(move |p, node, now| p.send(now, node, (locator, key), b"x"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next_event(&mut net, 5, Duration::from_secs(10)).await,
        Some(PeerletEvent::Refused { locator, key }),
        "seed {seed}"
    );

    // A trusted provider's spinning peerlet: each delivery runs out of
    // fuel; after MAX_FAULTS in a row its node stops it, and a good
    // peerlet on the same node still answers.
    let spin = module(SPIN);
    let spin_manifest = signed(&provider, 0xa003, &spin);
    let spinner = offer_everywhere(&net, &spin_manifest, &spin).await;
    let good = offer_everywhere(&net, &signed(&provider, 0xa004, &code), &code).await;
    // A key whose root admits the provider (even index), so the same
    // node runs both peerlets.
    let ids: Vec<Id> = net.handles.iter().map(|h| h.own().id).collect();
    let key = (0u32..)
        .map(|k| Id::sha1(&k.to_be_bytes()))
        .find(|&k| {
            let root = closest_n(k, &ids, 1)[0];
            ids.iter().position(|&x| x == root).unwrap() % 2 == 0
        })
        .unwrap();
    let root = ids
        .iter()
        .position(|&x| x == closest_n(key, &ids, 1)[0])
        .unwrap();
    for _ in 0..pastry_peerlet::MAX_FAULTS + 2 {
        let h = net.handles[1].clone();
        h.app::<Peerlets, _>(move |p, node, now| p.send(now, node, (spinner, key), b"x"))
            .await
            .unwrap()
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = net.handles[root]
        .app::<Peerlets, _>(|p, _, _| *p.stats())
        .await
        .unwrap();
    assert_eq!(stats.stopped, 1, "seed {seed}: {stats:?}");
    assert_eq!(
        stats.faults,
        u64::from(pastry_peerlet::MAX_FAULTS),
        "{stats:?}"
    );
    let h = net.handles[1].clone();
    h.app::<Peerlets, _>(move |p, node, now| p.send(now, node, (good, key), b"x"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            next_event(&mut net, 1, Duration::from_secs(10)).await,
            Some(PeerletEvent::Reply { from, .. }) if from == ids[root]
        ),
        "seed {seed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_hop_peerlet_runs_on_every_admitting_node_of_the_path() {
    let seed = 33;
    let provider = Keypair::from_secret([0x54; 32]);
    // Leaf sets of four, so most routes take a hop or two on the way.
    let mut config = StackConfig::lan();
    config.node.leaf_set_size = 4;
    config.node.replicas = 3;
    config.dht.replicas = 1;
    config.dht.quorum = 1;
    config.dht.spares = 1;
    config.dht.eager_spares = 0;
    let mut net = overlay_with(seed, &provider, (32, config)).await;
    let code = module(TRAIL);
    let locator = offer_everywhere(&net, &signed_as(&provider, (0xa005, true), &code), &code).await;
    let ids: Vec<Id> = net.handles.iter().map(|h| h.own().id).collect();
    let tag = |id: Id| id.to_bytes()[..4].to_vec();
    let admits = |id: Id| ids.iter().position(|&x| x == id).unwrap() % 2 == 0;
    let (mut relayed, mut forced) = (0, 0);
    for k in 0..12u32 {
        let key = Id::sha1(&(k + 100).to_be_bytes());
        let root = closest_n(key, &ids, 1)[0];
        // Send from the first node (counting on from a spread start) whose
        // next hop at the moment of sending admits the provider and is not
        // the root, so the path has a relay that must run it; else from
        // the start.
        let n = net.handles.len();
        let start = (k as usize * 5) % n;
        let tries = (0..n)
            .map(|j| ((start + j) % n, false))
            .chain([(start, true)]);
        let mut sent = None;
        for (origin, anyway) in tries {
            let admitting: Vec<Id> = ids.iter().step_by(2).copied().collect();
            let relay = net.handles[origin]
                .app::<Peerlets, _>(move |p, node, now| {
                    let own = node.own().id;
                    let relay = (node.local_lookup(key, 1).first().map(|p| p.id))
                        .filter(|&h| h != root && h != own && admitting.contains(&h));
                    if relay.is_none() && !anyway {
                        return None;
                    }
                    p.send(now, node, (locator, key), b"hi").unwrap();
                    Some(relay)
                })
                .await
                .unwrap();
            if let Some(relay) = relay {
                sent = Some((origin, relay));
                break;
            }
        }
        let (origin, relay) = sent.expect("a node sent it");
        let got = next_event(&mut net, origin, Duration::from_secs(10)).await;
        let r = ids.iter().position(|&x| x == root).unwrap();
        // What a member of a leaf set of four knows of the replica set.
        let view = net.handles[r].replica_set(key, 3).await.unwrap();
        if got == Some(PeerletEvent::Refused { locator, key }) {
            assert!(
                view.iter().all(|p| !admits(p.id)),
                "seed {seed}, key {k}: refused though {view:?} has an admitting member"
            );
            continue;
        }
        let Some(PeerletEvent::Reply { payload, from, .. }) = got else {
            panic!("seed {seed}, key {k}: {got:?}");
        };
        assert_eq!(&payload[..2], b"hi", "seed {seed}, key {k}");
        let tags: Vec<&[u8]> = payload[2..].chunks(4).collect();
        // The last to run it delivered it: the root if it admits the
        // provider, else an admitting member of the replica set.
        if admits(root) {
            assert_eq!(from, root, "seed {seed}, key {k}");
        } else {
            assert!(
                admits(from) && closest_n(key, &ids, 5).contains(&from),
                "seed {seed}, key {k}"
            );
        }
        assert_eq!(
            tags.last().copied(),
            Some(&tag(from)[..]),
            "seed {seed}, key {k}"
        );
        // Every node that tagged it admits the provider; none twice on a
        // path the root ended (a member handed the message after the root
        // refused it may have relayed it before, and runs it again).
        for (j, t) in tags.iter().enumerate() {
            let i = ids
                .iter()
                .position(|&x| tag(x) == *t)
                .expect("a node's tag");
            assert_eq!(i % 2, 0, "seed {seed}, key {k}: denying node {i} ran it");
            assert!(
                !admits(root) || !tags[..j].contains(t),
                "seed {seed}, key {k}: twice"
            );
        }
        // An admitting first hop short of the root relays it, and runs it.
        if let Some(relay) = relay {
            assert_eq!(tags.first(), Some(&&tag(relay)[..]), "seed {seed}, key {k}");
            forced += 1;
        }
        relayed += tags.len() - 1;
    }
    assert!(forced > 0, "seed {seed}: no route had an admitting relay");
    assert!(
        relayed >= forced,
        "seed {seed}: relays ran it {relayed} times"
    );
}

/// Stores a package's chunks and manifest in the DHT from `h`.
async fn deploy(h: &Handle, p: &pastry_peerlet::Package) {
    for c in &p.chunks {
        h.put_content(c.clone()).await.expect("chunk stored");
    }
    let (key, _) = h
        .put_content(p.manifest.clone())
        .await
        .expect("manifest stored");
    assert_eq!(key, p.locator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peerlet_deployed_to_the_dht_is_fetched_checked_and_run_where_needed() {
    let seed = 34;
    let provider = Keypair::from_secret([0x55; 32]);
    let mut net = overlay(seed, &provider).await;
    let code = module(COUNTER);
    let package = pastry_peerlet::Package::new(
        &provider,
        (AppId(0xa006), false),
        (1, Budget::DEFAULT),
        &code,
        100,
    )
    .unwrap();
    assert!(
        package.chunks.len() > 2,
        "several chunks: {}",
        package.chunks.len()
    );
    deploy(&net.handles[0], &package).await;
    let locator = package.locator;
    let ids: Vec<Id> = net.handles.iter().map(|h| h.own().id).collect();
    let admits = |id: Id| {
        ids.iter()
            .position(|&x| x == id)
            .is_some_and(|i| i % 2 == 0)
    };
    // Node 7 holds nothing of it: its send waits for the manifest, and
    // the node that runs it fetches the code first.
    for k in 0..6u32 {
        let key = Id::sha1(&(k + 200).to_be_bytes());
        let h = net.handles[7].clone();
        let sent = h
            .app::<Peerlets, _>(move |p, node, now| p.send(now, node, (locator, key), b"x"))
            .await
            .unwrap()
            .expect("queued or sent");
        assert_eq!(sent.is_none(), k == 0, "seed {seed}: only the first waits");
        let got = next_event(&mut net, 7, Duration::from_secs(20)).await;
        let want = closest_n(key, &ids, 5).into_iter().find(|&id| admits(id));
        match want {
            Some(w) => assert_eq!(
                got,
                Some(PeerletEvent::Reply {
                    locator,
                    key,
                    from: w,
                    payload: 1u32.to_le_bytes().to_vec(),
                }),
                "seed {seed}, key {k}"
            ),
            None => assert_eq!(got, Some(PeerletEvent::Refused { locator, key })),
        }
    }
    let mut fetched = 0;
    for (i, h) in net.handles.iter().enumerate() {
        let st = h.app::<Peerlets, _>(|p, _, _| *p.stats()).await.unwrap();
        if i % 2 == 1 {
            assert_eq!(st.installed, 0, "seed {seed}: node {i} denies the provider");
            assert_eq!(
                st.fetched, 0,
                "seed {seed}: node {i} fetched code it refuses"
            );
        }
        fetched += st.fetched;
    }
    assert!(fetched >= 1, "seed {seed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_manifests_and_mismatched_code_are_never_run() {
    let seed = 35;
    let provider = Keypair::from_secret([0x56; 32]);
    let mut net = overlay(seed, &provider).await;
    let code = module(COUNTER);
    // A manifest naming the trusted provider, signed by someone else.
    let thief = Keypair::from_secret([0x57; 32]);
    let m = Manifest::describe(
        (AppId(0xa007), false),
        1,
        &code,
        100,
        (Budget::DEFAULT, provider.public()),
    )
    .unwrap();
    let forged = pastry_peerlet::Package {
        locator: pastry_peerlet::manifest::locator(&m.sign(&thief)),
        manifest: m.sign(&thief),
        chunks: code.chunks(100).map(<[u8]>::to_vec).collect(),
    };
    // The provider's own manifest whose module hash is not its chunks'.
    let mut wrong = m.clone();
    wrong.code_hash = Id::sha1(b"other code");
    let mismatched = pastry_peerlet::Package {
        locator: pastry_peerlet::manifest::locator(&wrong.sign(&provider)),
        manifest: wrong.sign(&provider),
        chunks: code.chunks(100).map(<[u8]>::to_vec).collect(),
    };
    for p in [&forged, &mismatched] {
        deploy(&net.handles[0], p).await;
        let key = Id::sha1(b"target");
        let l = p.locator;
        let h = net.handles[9].clone();
        h.app::<Peerlets, _>(move |p, node, now| p.send(now, node, (l, key), b"x"))
            .await
            .unwrap()
            .unwrap();
        let got = next_event(&mut net, 9, Duration::from_secs(20)).await;
        assert_eq!(
            got,
            Some(PeerletEvent::Refused { locator: l, key }),
            "seed {seed}"
        );
    }
    // A sender that skips its own check: the forged locator straight in
    // an envelope, routed as a plain message. Every member that fetches
    // it refuses it; the last one's refusal is not believed by a sender
    // that never asked through its Peerlets.
    let key = Id::sha1(b"target 2");
    let env = pastry_peerlet::envelope::Envelope {
        kind: pastry_peerlet::envelope::Kind::Message,
        tried: 0,
        locator: forged.locator,
        key,
        origin: net.handles[9].own(),
        payload: b"x",
    };
    net.handles[9]
        .route(key, AppId(0xa007), env.encode())
        .await
        .unwrap();
    let got = next_event(&mut net, 9, Duration::from_secs(5)).await;
    assert_eq!(got, None, "seed {seed}");
    let unsolicited = net.handles[9]
        .app::<Peerlets, _>(|p, _, _| p.stats().unsolicited)
        .await
        .unwrap();
    assert_eq!(
        unsolicited, 1,
        "seed {seed}: the refusal came and was dropped"
    );
    // A forged answer to a node that asked nothing: dropped.
    let victim = net.handles[4].own();
    let fake = pastry_peerlet::envelope::Envelope {
        kind: pastry_peerlet::envelope::Kind::Reply,
        tried: 0,
        locator: forged.locator,
        key,
        origin: victim,
        payload: b"believe me",
    };
    net.handles[6]
        .route(victim.id, AppId(0xa007), fake.encode())
        .await
        .unwrap();
    assert_eq!(next_event(&mut net, 4, Duration::from_secs(2)).await, None);
    let unsolicited = net.handles[4]
        .app::<Peerlets, _>(|p, _, _| p.stats().unsolicited)
        .await
        .unwrap();
    assert_eq!(unsolicited, 1, "seed {seed}");
    let mut failures = 0;
    for h in &net.handles {
        let st = h.app::<Peerlets, _>(|p, _, _| *p.stats()).await.unwrap();
        assert_eq!((st.installed, st.calls), (0, 0), "seed {seed}: {st:?}");
        failures += st.fetch_failures;
    }
    assert!(failures >= 3, "seed {seed}: {failures} fetches failed");
}
