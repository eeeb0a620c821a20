//! Bounded memory and API misuse (#3 items 8 and 9): full pools and queues
//! refuse commands with a typed error and drop inbound work with a count;
//! nothing is lost silently and nothing grows.

mod common;

use core::net::SocketAddr;

use common::speaker::Speaker;

use pastry_core::wire::{Body, Message, Routed};
use pastry_core::{AppId, CommandError, Config, Event, Id, Instant, Node};

fn lone(slots_seed: u64) -> Node {
    let addr = SocketAddr::from(([10, 0, 0, 1], 4000));
    let mut n = Node::new(Config::default(), common::keys(b"lone"), addr, slots_seed).unwrap();
    n.join(Instant::from_secs(1), None).unwrap();
    n
}

#[test]
fn commands_refuse_with_typed_errors() {
    let addr = SocketAddr::from(([10, 0, 0, 1], 4000));
    let mut idle =
        Node::<8, 8, 16, 64>::new(Config::default(), common::keys(b"x"), addr, 1).unwrap();
    let now = Instant::from_secs(1);
    let key = Id::sha1(b"k");
    assert_eq!(
        idle.route(now, key, AppId(1), b"", None),
        Err(CommandError::NotActive)
    );
    assert_eq!(idle.leave(now), Err(CommandError::NotActive));
    let mut n = lone(1);
    assert_eq!(n.join(now, None), Err(CommandError::AlreadyJoined));
    let max = n.max_payload();
    assert_eq!(
        n.route(now, key, AppId(1), &vec![0; max + 1], None),
        Err(CommandError::PayloadTooLarge { max })
    );
    assert!(n.route(now, key, AppId(1), &vec![0; max], None).is_ok());
    for a in 0..pastry_core::node::MAX_POLICY_ENTRIES as u16 {
        let p = pastry_core::node::AppPolicy {
            allow: true,
            per_hop: false,
            receipts: true,
        };
        n.policy_mut().set(AppId(100 + a), p).unwrap();
    }
    let p = pastry_core::node::AppPolicy {
        allow: false,
        per_hop: false,
        receipts: true,
    };
    assert_eq!(
        n.policy_mut().set(AppId(7), p),
        Err(CommandError::PolicyFull)
    );
}

#[test]
fn a_full_pool_refuses_routes_then_recovers() {
    // A ring of one delivers every key to itself; deliveries not yet
    // polled keep their slots.
    let mut n = lone(2);
    let now = Instant::from_secs(2);
    let mut ids = Vec::new();
    for k in 0..16u8 {
        ids.push(n.route(now, Id::sha1(&[k]), AppId(1), &[k], None).unwrap());
    }
    assert_eq!(
        n.route(now, Id::sha1(b"one more"), AppId(1), b"", None),
        Err(CommandError::PoolFull)
    );
    assert_eq!(n.messages_held(), 16);
    let mut got = Vec::new();
    while let Some(ev) = n.poll_event() {
        if let Event::Deliver(d) = ev {
            got.push(d.msg_id);
        }
    }
    assert_eq!(got, ids, "every accepted message delivered, in order");
    assert_eq!(n.messages_held(), 0);
    assert!(
        n.route(now, Id::sha1(b"again"), AppId(1), b"", None)
            .is_ok()
    );
}

#[test]
fn inbound_messages_beyond_the_pool_are_dropped_unacked_and_counted() {
    let mut n = lone(3);
    let now = Instant::from_secs(3);
    for k in 0..16u8 {
        n.route(now, Id::sha1(&[k]), AppId(1), &[k], None).unwrap();
    }
    let mut buf = [0u8; 1280];
    while n.poll_transmit(&mut buf).unwrap().is_some() {}
    let from = SocketAddr::from(([10, 0, 0, 2], 4000));
    let to = n.own().addr;
    let mut other = Speaker::new(common::keys(b"other"), from);
    other.greet(now, &mut n, to);
    let sender = other.me;
    let msg = Message {
        app: AppId(1),
        sender,
        body: Body::Routed(Routed {
            msg_id: 77,
            key: n.own().id,
            per_hop: false,
            handoff: false,
            receipt: false,
            attempt: 0,
            hops: 0,
            source: sender,
            payload: b"late",
            signature: None,
        }),
    };
    let dgram = other.seal(now, to, &msg);
    let before = n.stats().drops.queue_full;
    n.handle_datagram(now, from, &dgram);
    assert_eq!(n.stats().drops.queue_full, before + 1);
    // No ack: the sender's timeout will reroute it; the only datagram out
    // is the probe introducing us to the new leaf-set member.
    while let Some(tx) = n.poll_transmit(&mut buf).unwrap() {
        let m = other.open(now, to, &buf[..tx.len]);
        assert!(
            !matches!(m.map(|m| m.body), Some(Body::Ack(_))),
            "a dropped message must not be acked"
        );
    }
    assert_eq!(n.messages_held(), 16, "nothing grew");
    // Once a slot frees, the retransmission is accepted and acked.
    while n.poll_event().is_some() {}
    // The same bytes again are a replay, refused; the sender's
    // retransmission is sealed anew.
    let replays = n.session_stats().replayed;
    n.handle_datagram(now, from, &dgram);
    assert_eq!(n.session_stats().replayed, replays + 1);
    let dgram = other.seal(now, to, &msg);
    n.handle_datagram(now, from, &dgram);
    let mut acked = false;
    while let Some(tx) = n.poll_transmit(&mut buf).unwrap() {
        let m = other.open(now, to, &buf[..tx.len]);
        acked |= matches!(m.map(|m| m.body), Some(Body::Ack(a)) if a.msg_id == 77);
    }
    assert!(acked);
}
