//! pastry-tokio on real UDP sockets on loopback, judged against the
//! global view (every node's id is known to the test): leaf sets against
//! the sorted ids, reads against what was written, delivery at the true
//! root. Each test names its seed (the nodes' ids derive from it).

#[path = "common/overlay.rs"]
mod overlay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use overlay::Overlay;
use pastry_core::dht::{PutError, Store};
use pastry_core::node::{AppPolicy, ForwardHop, Forwarder, Verdict};
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id};
use pastry_tokio::{Builder, Error, NodeEvent};
use tokio::net::UdpSocket;

async fn ring(n: usize, seed: u64) -> Overlay {
    Overlay::formed(n, seed).await
}

fn value(key: Id) -> Vec<u8> {
    format!("the value of {key}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_nodes_form_the_ring_of_their_sorted_ids() {
    let seed = 11;
    let net = ring(32, seed).await;
    // converge() compared every leaf set with the sorted ids; check the
    // overlay's answers agree too: each node's replica set for its own id
    // starts with itself, and routing reaches every node's id.
    for i in net.live() {
        let h = &net.members[i].handle;
        let rs = h.replica_set(h.own().id, 5).await.expect("running");
        assert_eq!(rs.first().map(|p| p.id), Some(h.own().id), "seed {seed}");
        assert!(h.is_active().await.expect("running"), "seed {seed}");
    }
}

/// A crowd greets one node at once: the driver feeds the node a datagram
/// and drains it before the next (the drain rule), so none of the crowd's
/// Hellos is turned away for want of room for the answers (the handshake
/// queues 8); fed 64 before one drain, most went unanswered until their
/// retries, and a crowd of 255 took seconds to join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_joining_through_one_node_is_answered_at_once() {
    let seed = 12;
    let net = Overlay::start(48, StackConfig::lan(), seed)
        .await
        .expect("nodes start");
    let failures = net.join_all(|_| 0).await;
    assert!(failures.is_empty(), "seed {seed}: {failures:?}");
    let stats = net.members[0].handle.stats().await.expect("running");
    pastry_tests::cluster::check_crowd_answered(&stats.sessions, 47)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_and_gets_succeed_from_every_node_and_survive_a_quarter_crashing() {
    let seed = 12;
    let mut net = ring(32, seed).await;
    let keys: Vec<Id> = (0..32u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
    // Every node writes one value ...
    for (i, key) in keys.iter().enumerate() {
        let h = &net.members[i].handle;
        let acks = h.put(*key, 1, value(*key)).await;
        assert!(
            matches!(acks, Ok(n) if n >= 3),
            "seed {seed}: put {i}: {acks:?}"
        );
    }
    // ... and every node reads every value.
    for i in net.live() {
        for key in &keys {
            let got = net.members[i].handle.get(*key).await;
            let bytes = got
                .as_ref()
                .ok()
                .and_then(|v| v.as_ref())
                .map(|v| v.bytes.to_vec());
            assert_eq!(
                bytes,
                Some(value(*key)),
                "seed {seed}: node {i} get: {got:?}"
            );
        }
    }
    // A key nobody wrote is not found.
    let none = net.members[3].handle.get(Id::sha1(b"nobody")).await;
    assert!(matches!(none, Ok(None)), "seed {seed}: {none:?}");

    // A quarter crash, in waves smaller than k; the survivors repair.
    for wave in [[1usize, 9, 17, 25], [4, 12, 20, 28]] {
        for i in wave {
            net.members[i].handle.crash().await.expect("crash");
            net.members[i].alive = false;
        }
        if let Err(wrong) = net.converge(Duration::from_secs(30)).await {
            panic!("seed {seed}: leaf sets wrong after crashes at {wrong:?}");
        }
    }
    if let Err(missing) = net.replicas_restored(&keys, Duration::from_secs(30)).await {
        panic!("seed {seed}: {missing} keys short of replicas");
    }
    for i in net.live() {
        for key in keys.iter().step_by(4) {
            let got = net.members[i].handle.get(*key).await;
            let bytes = got
                .as_ref()
                .ok()
                .and_then(|v| v.as_ref())
                .map(|v| v.bytes.to_vec());
            assert_eq!(
                bytes,
                Some(value(*key)),
                "seed {seed}: node {i} after crash"
            );
        }
    }
    // A crashed node answers Stopped.
    let dead = net.members[1].handle.get(keys[0]).await;
    assert!(matches!(dead, Err(Error::Stopped)), "{dead:?}");
    net.flush_events();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_reach_the_true_root_and_multicast_reaches_every_member() {
    let seed = 13;
    let mut net = ring(24, seed).await;
    let ring_ids = net.ring();
    let ids: Vec<Id> = (0..24).map(|i| net.peer(i).id).collect();
    let mut sent = std::collections::HashMap::new();
    for n in 0..100u32 {
        let key = Id::sha1(&n.to_le_bytes());
        let h = &net.members[(n % 24) as usize].handle;
        let msg = h
            .route(key, AppId(1), n.to_be_bytes().to_vec())
            .await
            .expect("routed");
        sent.insert((h.own().id, msg), key);
    }
    let mut wrong = Vec::new();
    net.watch(Duration::from_secs(10), |at, ev| {
        if let NodeEvent::Deliver {
            source,
            msg_id,
            key,
            ..
        } = ev
            && sent.remove(&(source.id, msg_id)).is_some()
            && ring_ids.root_of(key) != Some(ids[at])
        {
            wrong.push(key);
        }
        sent.is_empty()
    })
    .await;
    assert!(
        sent.is_empty(),
        "seed {seed}: {} never delivered",
        sent.len()
    );
    assert!(
        wrong.is_empty(),
        "seed {seed}: delivered off the root: {wrong:?}"
    );

    let group = pastry_core::scribe::group_id(b"test");
    for i in net.live() {
        net.members[i]
            .handle
            .subscribe(group)
            .await
            .expect("attached");
    }
    let id = net.members[5]
        .handle
        .publish(group, &b"news"[..])
        .await
        .expect("published");
    let mut waiting: std::collections::HashSet<usize> = net.live().into_iter().collect();
    net.watch(Duration::from_secs(10), |at, ev| {
        if matches!(ev, NodeEvent::Multicast { id: i, group: g, .. } if i == id && g == group) {
            assert!(waiting.remove(&at), "seed {seed}: node {at} got it twice");
        }
        waiting.is_empty()
    })
    .await;
    assert!(waiting.is_empty(), "seed {seed}: never reached {waiting:?}");
    let by = net.members[7]
        .handle
        .anycast(group, &b"job"[..])
        .await
        .expect("taken");
    assert!(
        net.index_of(by.id).is_some(),
        "seed {seed}: taken by a stranger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_route_reaches_the_keys_five_closest_nodes() {
    // The handle's sec_route (#29): every one of the key's 5 closest
    // nodes (the oracle: the sorted ids) delivers it, and the source
    // hears which roots they were.
    let seed = 29;
    let mut net = ring(24, seed).await;
    let ids: Vec<Id> = (0..24).map(|i| net.peer(i).id).collect();
    for n in 0..10u32 {
        let key = Id::sha1(&(n + 1_000).to_le_bytes());
        let from = (n * 5 % 24) as usize;
        let op = net.members[from]
            .handle
            .secure_route(key, AppId(29), n.to_be_bytes().to_vec(), 5)
            .await
            .expect("started");
        let mut want: Vec<Id> = ids.clone();
        want.sort_by(|a, b| key.cmp_closeness(*a, *b));
        want.truncate(5);
        let mut got = Vec::new();
        let mut told = None;
        net.watch(Duration::from_secs(10), |at, ev| {
            match ev {
                NodeEvent::Deliver { msg_id, app, .. } if msg_id == op && app == AppId(29) => {
                    got.push(ids[at]);
                }
                NodeEvent::Secured { op: o, roots, .. } if o == op && at == from => {
                    told = Some(roots.iter().map(|p| p.id).collect::<Vec<_>>());
                }
                _ => {}
            }
            got.len() == 5 && told.is_some()
        })
        .await;
        got.sort_by(|a, b| key.cmp_closeness(*a, *b));
        assert_eq!(got, want, "seed {seed}: secure route {n}");
        assert_eq!(told, Some(want), "seed {seed}: the roots the source heard");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_puts_gets_and_subscribes_work_through_the_handle() {
    // The handle's secure DHT and subscribe (#29): a put stored on every
    // root, a get from another node returns it (a majority of the roots
    // agree), a content-hash value likewise, a key nobody stored is not
    // found, and a member that subscribed securely gets publications.
    let seed = 291;
    let mut net = ring(24, seed).await;
    let key = Id::sha1(b"secure key");
    let stored = net.members[3]
        .handle
        .secure_put(key, 1, &b"by every root"[..])
        .await
        .expect("stored");
    assert!(stored >= 3, "seed {seed}: {stored} replicas");
    let got = net.members[17]
        .handle
        .secure_get(key)
        .await
        .expect("answered");
    assert_eq!(
        got.map(|v| (v.version, v.bytes)),
        Some((1, b"by every root".to_vec())),
        "seed {seed}"
    );
    let (ckey, _) = net.members[5]
        .handle
        .secure_put_content(&b"named by its hash"[..])
        .await
        .expect("stored");
    let got = net.members[11]
        .handle
        .secure_get_content(ckey)
        .await
        .expect("answered");
    assert_eq!(
        got.map(|v| v.bytes),
        Some(b"named by its hash".to_vec()),
        "seed {seed}"
    );
    let none = net.members[8]
        .handle
        .secure_get(Id::sha1(b"never stored"))
        .await
        .expect("answered");
    assert_eq!(none, None, "seed {seed}");

    // A member that joined a group by secure routing gets its news.
    let group = pastry_core::scribe::group_id(b"secure group");
    net.members[9]
        .handle
        .secure_subscribe(group)
        .await
        .expect("attached");
    let id = net.members[2]
        .handle
        .publish(group, &b"news"[..])
        .await
        .expect("published");
    let mut got = false;
    net.watch(Duration::from_secs(10), |at, ev| {
        got |= at == 9 && matches!(ev, NodeEvent::Multicast { id: i, .. } if i == id);
        got
    })
    .await;
    assert!(
        got,
        "seed {seed}: the secure subscriber missed the publication"
    );
}

/// Counts the per-hop upcalls and stops one application's messages.
struct Tally(Arc<AtomicU64>);

impl Forwarder for Tally {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        self.0.fetch_add(1, Ordering::Relaxed);
        if hop.app == AppId(10) {
            Verdict::Stop
        } else {
            Verdict::Continue
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_hop_application_sees_every_hop_and_may_stop_a_message() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let mut nodes = Vec::new();
    for i in 0..8u64 {
        let (h, ev) = Builder::new(loopback)
            .config(StackConfig::lan())
            .seed(100 + i)
            .forwarder(Tally(calls.clone()))
            .spawn()
            .await
            .expect("spawned");
        for app in [AppId(9), AppId(10)] {
            let per_hop = AppPolicy {
                allow: true,
                per_hop: true,
                receipts: true,
            };
            h.set_policy(app, per_hop).await.expect("policy room");
        }
        nodes.push((h, ev));
    }
    nodes[0].0.join(None).await.expect("started");
    let boot = nodes[0].0.own().addr;
    for (h, _) in &nodes[1..] {
        h.join(Some(boot)).await.expect("joined");
    }
    // To each node's id from node 0: delivered there, with an upcall at
    // each node on the way (the source and the root included).
    calls.store(0, Ordering::Relaxed);
    let mut hops = 0;
    for i in 1..8 {
        let key = nodes[i].0.own().id;
        nodes[0]
            .0
            .route(key, AppId(9), vec![i as u8])
            .await
            .expect("routed");
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), nodes[i].1.recv()).await;
            if let NodeEvent::Deliver {
                hops: h,
                app: AppId(9),
                ..
            } = ev.expect("delivered in time").expect("running")
            {
                hops += u64::from(h);
                break;
            }
        }
    }
    let seen = calls.load(Ordering::Relaxed);
    assert!(seen > hops, "{seen} upcalls for {hops} hops of 7 messages");
    // The forwarder stops app 10: nobody delivers it.
    let key = nodes[5].0.own().id;
    nodes[0]
        .0
        .route(key, AppId(10), vec![1])
        .await
        .expect("routed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Some(ev) = nodes[5].1.try_recv() {
        assert!(
            !matches!(ev, NodeEvent::Deliver { app, .. } if app == AppId(10)),
            "a stopped message was delivered"
        );
    }
    for (h, _) in &nodes {
        h.shutdown().await.expect("stopped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_datagrams_are_counted_and_dropped_and_the_node_keeps_working() {
    let seed = 14;
    let net = ring(6, seed).await;
    let target = &net.members[2].handle;
    let before = target.stats().await.expect("running");
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = pastry_core::rng::SmallRng::new(seed);
    let mut sent = 0u64;
    let mut oversized = 1; // the one sent last
    for n in 0..500usize {
        let len = (rng.below(1400) as usize).max(1);
        oversized += u64::from(len > 1280);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if n % 2 == 0 && len > 4 {
            // Valid version and kind bytes, garbage after: deeper parsing.
            junk[0] = 1;
            junk[3] = 1 + (n % 12) as u8;
        }
        attacker.send_to(&junk, target.own().addr).await.unwrap();
        sent += 1;
        if n % 32 == 31 {
            // Paced so the kernel's receive buffer does not drop them.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // A datagram larger than max_datagram.
    attacker
        .send_to(&[0u8; 4000], target.own().addr)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = target.stats().await.expect("still running");
    let d = |s: &pastry_tokio::Stats| {
        let d = &s.node.drops;
        d.malformed + d.unsupported_version + d.oversized + d.unsolicited + d.unauthenticated
    };
    let dropped = d(&after) - d(&before);
    assert!(
        dropped > sent,
        "seed {seed}: {dropped} of {} hostile datagrams counted",
        sent + 1
    );
    let too_big = after.node.drops.oversized - before.node.drops.oversized;
    assert_eq!(too_big, oversized, "seed {seed}");
    let read = after.runtime.datagrams_in - before.runtime.datagrams_in;
    assert!(read > sent, "seed {seed}: only {read} datagrams read");
    // Still a working member: its leaf set is right and it serves reads.
    assert!(
        net.wrong_leaf_sets().await.unwrap().is_empty(),
        "seed {seed}"
    );
    let key = Id::sha1(b"after the attack");
    assert!(target.put(key, 1, &b"fine"[..]).await.is_ok());
    let got = net.members[4].handle.get(key).await.expect("served");
    assert_eq!(got.map(|v| v.bytes.to_vec()), Some(b"fine".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_task_frees_the_port_and_answers_stopped() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, _) = Builder::new(loopback).spawn().await.unwrap();
    let (b, mut b_events) = Builder::new(loopback).spawn().await.unwrap();
    a.join(None).await.unwrap();
    b.join(Some(a.own().addr)).await.unwrap();
    let addr = b.own().addr;
    let clone = b.clone();
    b.shutdown().await.unwrap();
    assert!(b.is_stopped() && clone.is_stopped());
    // The task is gone: its socket is closed, its events end, and every
    // handle answers Stopped rather than hanging.
    UdpSocket::bind(addr).await.expect("the port is free again");
    while b_events.recv().await.is_some() {}
    assert!(matches!(clone.get(Id::ZERO).await, Err(Error::Stopped)));
    assert!(matches!(clone.shutdown().await, Err(Error::Stopped)));
    // The leaf set of the survivor repaired at once (graceful leave).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.neighbor_set(16).await.unwrap().len(), 0);

    // Dropping every handle stops a node too.
    let (c, mut c_events) = Builder::new(loopback).spawn().await.unwrap();
    c.join(Some(a.own().addr)).await.unwrap();
    drop(c);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while c_events.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "a node without handles kept running");
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_command_leaves_the_node_consistent() {
    let seed = 15;
    let net = ring(8, seed).await;
    let h = &net.members[0].handle;
    // Start many reads and drop them at once, half-way through.
    for i in 0..64u32 {
        let get = h.get(Id::sha1(&i.to_be_bytes()));
        let _ = tokio::time::timeout(Duration::from_micros(50), get).await;
    }
    // The node still answers, and its operations all completed or timed out
    // inside the core (nothing waits on a dropped caller).
    let key = Id::sha1(b"after cancels");
    h.put(key, 1, &b"ok"[..]).await.expect("put");
    let got = h.get(key).await.expect("get");
    assert_eq!(got.map(|v| v.bytes.to_vec()), Some(b"ok".to_vec()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let in_flight = h.inspect(|s| s.dht().ops_in_flight()).await.unwrap();
    assert_eq!(in_flight, 0, "seed {seed}: operations left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_joins_uses_the_overlay_through_one_member() {
    let seed = 16;
    let mut net = ring(8, seed).await;
    let via = net.peer(3).addr;
    let (client, mut publications) = pastry_tokio::Client::connect(via).await.unwrap();
    // Storage: what the client writes, members read, and back.
    let key = Id::sha1(b"from a client");
    assert!(client.put(key, 1, &b"v"[..]).await.unwrap() >= 3);
    let got = net.members[6].handle.get(key).await.unwrap();
    assert_eq!(
        got.map(|v| v.bytes.to_vec()),
        Some(b"v".to_vec()),
        "seed {seed}"
    );
    net.members[5].handle.put(key, 2, &b"v2"[..]).await.unwrap();
    let got = client.get(key).await.unwrap().expect("found");
    assert_eq!((got.version, &got.bytes[..]), (2, &b"v2"[..]));
    assert!(matches!(
        client.put(key, 1, &b"old"[..]).await,
        Err(Error::Put(PutError::Stale { current: 2 }))
    ));
    // Too large is one error, whether the node or a member for a client
    // says so, with the limit each applies.
    let huge = vec![7u8; 4096];
    let limits = [
        client.put(key, 3, huge.clone()).await,
        net.members[5].handle.put(key, 3, huge.clone()).await,
    ]
    .map(|r| match r {
        Err(e @ Error::TooLarge { max }) => {
            assert_eq!(e.to_string(), format!("over the limit of {max} bytes"));
            max
        }
        other => panic!("seed {seed}: {other:?}"),
    });
    assert!(limits.iter().all(|m| (100..4096).contains(m)), "{limits:?}");
    let (ckey, _) = client.put_content(&b"content"[..]).await.unwrap();
    assert_eq!(ckey, Id::sha1(b"content"));
    assert!(client.get_content(ckey).await.unwrap().is_some());
    assert!(client.get(Id::sha1(b"absent")).await.unwrap().is_none());
    // Routing: delivered at the true root.
    let target = Id::sha1(b"routed by a client");
    client.route(target, AppId(1), &b"r"[..]).await.unwrap();
    let root = net.index_of(net.ring().root_of(target).unwrap()).unwrap();
    let mut at = None;
    net.watch(Duration::from_secs(5), |i, ev| {
        if matches!(ev, NodeEvent::Deliver { key, .. } if key == target) {
            at = Some(i);
        }
        at.is_some()
    })
    .await;
    assert_eq!(at, Some(root), "seed {seed}");
    // Multicast: the client follows a group members publish to.
    let group = pastry_core::scribe::group_id(b"client news");
    client.subscribe(group).await.unwrap();
    net.members[1].handle.subscribe(group).await.unwrap();
    let id = net.members[7]
        .handle
        .publish(group, &b"hi"[..])
        .await
        .unwrap();
    let p = tokio::time::timeout(Duration::from_secs(5), publications.recv())
        .await
        .expect("relayed in time")
        .expect("client running");
    assert_eq!((p.group, p.id, &p.data[..]), (group, id, &b"hi"[..]));
    let by = client.anycast(group, &b"job"[..]).await.unwrap();
    assert!(net.index_of(by.id).is_some());
    // A client of a member that is gone gives up with TimedOut.
    net.members[3].handle.crash().await.unwrap();
    net.members[3].alive = false;
    let quick = pastry_core::client::ClientConfig {
        retry: Duration::from_millis(50),
        tries: 3,
    };
    let (lost, _) = pastry_tokio::Client::with_config(via, quick).await.unwrap();
    assert!(matches!(lost.get(key).await, Err(Error::TimedOut)));
}

/// The next item of a stream, through `Stream::poll_next` alone.
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_publications_are_streams_and_a_taken_anycast_reaches_the_taker() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let lan = StackConfig::lan();
    let (a, mut a_events) = Builder::new(loopback)
        .config(lan.clone())
        .spawn()
        .await
        .unwrap();
    let (b, _b_events) = Builder::new(loopback)
        .config(lan.clone())
        .spawn()
        .await
        .unwrap();
    // The client's member relays the group, so it is a member too; it
    // declines anycasts, so a is the one that takes them.
    let (c, _c_events) = Builder::new(loopback)
        .config(lan)
        .acceptor(|_, _| false)
        .spawn()
        .await
        .unwrap();
    a.join(None).await.unwrap();
    b.join(Some(a.own().addr)).await.unwrap();
    c.join(Some(a.own().addr)).await.unwrap();
    let group = pastry_core::scribe::group_id(b"stream news");
    a.subscribe(group).await.unwrap();
    let (client, mut publications) = pastry_tokio::Client::connect(c.own().addr).await.unwrap();
    client.subscribe(group).await.unwrap();
    let id = b.publish(group, &b"hi"[..]).await.unwrap();
    let p = tokio::time::timeout(Duration::from_secs(5), next(&mut publications))
        .await
        .expect("relayed in time")
        .expect("client running");
    assert_eq!((p.group, p.id, &p.data[..]), (group, id, &b"hi"[..]));

    // a takes b's anycast: its application gets the bytes and the
    // sender, on its event stream.
    let by = b.anycast(group, &b"job 1"[..]).await.unwrap();
    assert_eq!(by.id, a.own().id);
    let taken = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match next(&mut a_events).await {
                Some(NodeEvent::Anycast {
                    group: g,
                    origin,
                    data,
                }) => break (g, origin.id, data),
                Some(_) => {}
                None => panic!("the member stopped"),
            }
        }
    })
    .await
    .expect("the taker hears of it");
    assert_eq!(taken, (group, b.own().id, b"job 1".to_vec()));
    a.shutdown().await.unwrap();
    // Once the node stopped and its events were read, the stream ends.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while next(&mut a_events).await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_expire_and_deletions_hold_through_the_handle() {
    let seed = 18;
    let net = ring(8, seed).await;
    let (a, b) = (&net.members[1].handle, &net.members[6].handle);
    let key = Id::sha1(b"expiring");
    assert!(
        a.put_expiring(key, 1, &b"brief"[..], Duration::from_secs(2))
            .await
            .unwrap()
            >= 3
    );
    let got = b.get(key).await.unwrap().map(|v| v.bytes);
    assert_eq!(got.as_deref(), Some(&b"brief"[..]), "seed {seed}");
    // Two seconds, and a sweep's granularity, later: no node holds it.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    for (i, m) in net.members.iter().enumerate() {
        let held = m
            .handle
            .inspect(move |s| s.dht().store().get(key).is_some())
            .await;
        assert!(
            matches!(held, Ok(false)),
            "seed {seed}: node {i} still holds it"
        );
    }
    assert_eq!(b.get(key).await.unwrap(), None, "seed {seed}");

    let key = Id::sha1(b"deleted");
    a.put(key, 1, &b"v1"[..]).await.unwrap();
    assert!(b.delete(key, 2).await.unwrap() >= 3);
    assert_eq!(a.get(key).await.unwrap(), None, "seed {seed}");
    let stale = a.put(key, 1, &b"v1"[..]).await;
    assert!(
        matches!(stale, Err(Error::Put(PutError::Stale { current: 2 }))),
        "seed {seed}: the deletion is a version: {stale:?}"
    );
    let (ckey, _) = a.put_content(&b"forever"[..]).await.unwrap();
    let refused = b.delete(ckey, u64::MAX).await;
    assert!(
        matches!(refused, Err(Error::Put(PutError::Protected))),
        "seed {seed}: {refused:?}"
    );
}
