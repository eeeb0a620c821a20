//! #28's attacks against pastry-tokio nodes on loopback, from a plain UDP
//! socket that never joins: forged leaves and heartbeats in members'
//! names, probes from invented ids, a replica copy at the highest version,
//! join requests naming other addresses, messages in a member's name. The
//! nodes' leaf sets, the value stored and the owner's next write must be
//! as if nothing was sent, every forgery counted as unauthenticated, and
//! the attacker must hear back less than it sent.

#[path = "common/overlay.rs"]
mod overlay;

use std::time::Duration;

use overlay::Overlay;
use pastry_core::dht;
use pastry_core::wire::{
    AppId, Body, Heartbeat, JoinRequest, LeafSetView, Leave, Message, Probe, Routed,
};
use pastry_core::{Id, Peer};
use pastry_tests::sim::attack::replica_copy;
use tokio::net::UdpSocket;

/// `m` encoded, with 24 bytes where a sealed datagram carries its
/// sequence number and tag: the attacker can only guess them.
fn forged(m: &Message<'_>, rng: &mut pastry_core::rng::SmallRng) -> Vec<u8> {
    let mut buf = vec![0u8; 1_400];
    let n = m.encode(&mut buf).expect("encodes");
    buf.truncate(n);
    for _ in 0..3 {
        buf.extend_from_slice(&rng.next_u64().to_be_bytes());
    }
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attacks_of_28_from_a_socket_that_never_joins_change_nothing() {
    let seed = 16;
    let net = Overlay::formed(8, seed).await;
    let key = Id::sha1(b"the owner's key");
    let owner = &net.members[0].handle;
    owner
        .put(key, 1, &b"the owner's"[..])
        .await
        .expect("stored");

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = attacker.local_addr().unwrap();
    let mut rng = pastry_core::rng::SmallRng::new(seed);
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for i in net.live() {
            let s = net.members[i].handle.stats().await.expect("running");
            v.push(s.node.drops.unauthenticated);
        }
        v
    };
    let ring = net.ring();
    let (mut sent, mut sent_bytes) = (0u64, 0u64);
    for v in net.live() {
        let victim = net.peer(v);
        // A member of its leaf set (its neighbour on the ring).
        let (_, right) = ring.leaf_set(victim.id, net.half);
        let member = net.peer(net.index_of(right[0]).unwrap());
        let copy = replica_copy(key, u64::MAX, b"a forgery");
        let mut forgeries = vec![
            Message {
                app: AppId::OVERLAY,
                sender: member,
                body: Body::Leave(Leave {
                    leaf_set: LeafSetView::EMPTY,
                }),
            },
            Message {
                app: AppId::OVERLAY,
                sender: Peer::new(member.id, me),
                body: Body::Heartbeat(Heartbeat),
            },
            Message {
                app: dht::APP,
                sender: member,
                body: Body::Routed(Routed {
                    msg_id: rng.next_u64(),
                    key,
                    per_hop: false,
                    handoff: false,
                    receipt: false,
                    attempt: 0,
                    hops: 0,
                    source: member,
                    payload: &copy,
                    signature: None,
                }),
            },
            Message {
                app: AppId(0x0bad),
                sender: member,
                body: Body::Routed(Routed {
                    msg_id: rng.next_u64(),
                    key: victim.id,
                    per_hop: false,
                    handoff: true,
                    receipt: false,
                    attempt: 0,
                    hops: 2,
                    source: member,
                    payload: b"in a member's name",
                    signature: None,
                }),
            },
            Message {
                app: AppId::OVERLAY,
                sender: Peer::new(Id::sha1(&rng.next_u64().to_be_bytes()), me),
                body: Body::JoinRequest(JoinRequest {
                    msg_id: rng.next_u64(),
                    hops: 0,
                    joiner: member,
                }),
            },
        ];
        for k in 0..50u32 {
            let invented = Id::sha1(&[victim.id.to_bytes().as_slice(), &k.to_be_bytes()].concat());
            forgeries.push(Message {
                app: AppId::OVERLAY,
                sender: Peer::new(invented, me),
                body: Body::Probe(Probe {
                    nonce: u64::from(k),
                    want_leaf_set: true,
                }),
            });
        }
        for m in &forgeries {
            let bytes = forged(m, &mut rng);
            attacker.send_to(&bytes, victim.addr).await.unwrap();
            sent += 1;
            sent_bytes += bytes.len() as u64;
        }
        // Paced so the kernel's receive buffers keep them all.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // What comes back, for longer than a lease (a forged heartbeat or
    // leave would have shown by then).
    let (mut heard, mut heard_bytes) = (0u64, 0u64);
    let mut buf = [0u8; 2_048];
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, attacker.recv_from(&mut buf)).await {
        heard += 1;
        heard_bytes += n as u64;
    }
    assert!(
        heard_bytes * 2 < sent_bytes,
        "seed {seed}: {heard} datagrams, {heard_bytes} bytes back for {sent_bytes}"
    );
    let mut counted = 0;
    for (j, i) in net.live().into_iter().enumerate() {
        let s = net.members[i].handle.stats().await.expect("running");
        counted += s.node.drops.unauthenticated - before[j];
    }
    assert!(
        counted >= sent,
        "seed {seed}: {counted} of {sent} counted as unauthenticated"
    );
    assert!(
        net.wrong_leaf_sets().await.unwrap().is_empty(),
        "seed {seed}: a leaf set moved"
    );
    for i in net.live() {
        let got = net.members[i].handle.get(key).await.expect("served");
        assert_eq!(
            got.map(|v| (v.version, v.bytes)),
            Some((1, b"the owner's".to_vec())),
            "seed {seed}: node {i} read another value"
        );
    }
    owner
        .put(key, 2, &b"the owner's, again"[..])
        .await
        .expect("the owner still writes its key");
}
