//! The codec: every kind round-trips; any byte string decodes to an error or
//! to a message that re-encodes to exactly those bytes (canonical form);
//! every truncation is refused; a short buffer is told the size it needs.

mod common;

use common::{random_id, random_peer};
use pastry_core::identity::{Certificate, UnixTime};
use pastry_core::rng::SmallRng;
use pastry_core::wire::handshake::{Hello, Proof};
use pastry_core::wire::{
    Ack, AppId, Body, DecodeError, EncodeError, HANDOVER_RECORD_BYTES, Handover, HandoverRecord,
    Heartbeat, JoinReply, JoinRequest, Kind, LeafSetExchange, LeafSetView, Leave, MAX_ATTEMPT,
    MAX_HANDOVER, Message, PeerList, Probe, ProbeReply, Query, Receipt, ReplicaSet, RouteFailed,
    Routed, RowReply, RowRequest,
};
use pastry_core::{Config, Peer};

/// Delivery records for probe replies.
const RECORDS: &[HandoverRecord] = &[
    HandoverRecord {
        key: 1,
        source: u64::MAX,
        msg_id: 3,
    },
    HandoverRecord {
        key: 0x8000_0000_0000_0000,
        source: 5,
        msg_id: 0,
    },
    HandoverRecord {
        key: 7,
        source: 8,
        msg_id: u64::MAX,
    },
];

/// One message of every kind, with fields drawn from `rng`.
fn samples<'a>(rng: &mut SmallRng, peers: &'a [Peer], payload: &'a [u8]) -> Vec<Message<'a>> {
    let mut pick = |rng: &mut SmallRng| {
        let a = rng.below(peers.len() as u64 + 1) as usize;
        let b = rng.below(peers.len() as u64 + 1) as usize;
        PeerList::Peers(&peers[a.min(b)..a.max(b)])
    };
    let leaf =
        |rng: &mut SmallRng, pick: &mut dyn FnMut(&mut SmallRng) -> PeerList<'a>| LeafSetView {
            left: pick(rng),
            right: pick(rng),
        };
    let bodies = vec![
        Body::JoinRequest(JoinRequest {
            msg_id: rng.next_u64(),
            hops: rng.next_u64() as u8,
            joiner: random_peer(rng),
        }),
        Body::JoinReply(JoinReply {
            from_root: rng.next_u64().is_multiple_of(2),
            rows: pick(rng),
            leaf_set: leaf(rng, &mut pick),
        }),
        Body::LeafSet(LeafSetExchange {
            want_reply: rng.next_u64().is_multiple_of(2),
            announces: rng.next_u64().is_multiple_of(2),
            leaf_set: leaf(rng, &mut pick),
        }),
        Body::Heartbeat(Heartbeat),
        Body::Probe(Probe {
            nonce: rng.next_u64(),
            want_leaf_set: rng.next_u64().is_multiple_of(2),
        }),
        Body::ProbeReply(ProbeReply {
            nonce: rng.next_u64(),
            leaf_set: leaf(rng, &mut pick),
            handover: Handover::Records(&RECORDS[..rng.below(RECORDS.len() as u64 + 1) as usize]),
        }),
        Body::RowRequest(RowRequest {
            row: rng.next_u64() as u8,
        }),
        Body::RowReply(RowReply {
            row: rng.next_u64() as u8,
            entries: pick(rng),
        }),
        Body::Routed(Routed {
            msg_id: rng.next_u64(),
            key: random_id(rng),
            per_hop: rng.next_u64().is_multiple_of(2),
            handoff: rng.next_u64().is_multiple_of(2),
            receipt: rng.next_u64().is_multiple_of(2),
            attempt: rng.below(u64::from(MAX_ATTEMPT) + 1) as u8,
            hops: rng.next_u64() as u8,
            source: random_peer(rng),
            payload: &payload[..rng.below(payload.len() as u64 + 1) as usize],
            signature: rng.next_u64().is_multiple_of(2).then_some(&[0x33; 96]),
        }),
        Body::Ack(Ack {
            msg_id: rng.next_u64(),
        }),
        Body::Leave(Leave {
            leaf_set: leaf(rng, &mut pick),
        }),
        Body::RouteFailed(RouteFailed {
            msg_id: rng.next_u64(),
            key: random_id(rng),
        }),
        Body::Receipt(Receipt {
            msg_id: rng.next_u64(),
            key: random_id(rng),
        }),
        Body::Hello(Hello {
            nonce: bytes16(rng),
        }),
        Body::Challenge(proof(rng)),
        Body::Confirm(proof(rng)),
        Body::Ready,
        Body::Stale,
        Body::Query(Query {
            msg_id: rng.next_u64(),
            key: random_id(rng),
            target: random_id(rng),
            replicas: rng.next_u64() as u8,
            hops: rng.next_u64() as u8,
            source: random_peer(rng),
        }),
        Body::ReplicaSet(ReplicaSet {
            msg_id: rng.next_u64(),
            key: random_id(rng),
            complete: rng.next_u64().is_multiple_of(2),
            leaf_set: leaf(rng, &mut pick),
        }),
    ];
    bodies
        .into_iter()
        .map(|body| Message {
            app: AppId(rng.next_u64() as u16),
            sender: random_peer(rng),
            body,
        })
        .collect()
}

fn bytes16(rng: &mut SmallRng) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    b
}

/// A handshake proof by a key drawn from `rng`, with a certificate half
/// the time (its signature need not verify: the codec does not check it).
fn proof(rng: &mut SmallRng) -> Proof {
    let keys = common::random_keypair(rng);
    let certificate = rng
        .next_u64()
        .is_multiple_of(2)
        .then(|| Certificate::issue(&keys, keys.public(), UnixTime(rng.next_u64())));
    Proof {
        nonce: bytes16(rng),
        cookie: bytes16(rng),
        key: keys.public(),
        certificate,
        signature: keys.sign(&bytes16(rng)),
    }
}

fn encode(m: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.encoded_len()];
    assert_eq!(m.encode(&mut buf), Ok(buf.len()));
    buf
}

#[test]
fn every_kind_round_trips() {
    let mut rng = SmallRng::new(30);
    let peers: Vec<Peer> = (0..20).map(|_| random_peer(&mut rng)).collect();
    let payload: Vec<u8> = (0..600).map(|i| i as u8).collect();
    let mut kinds_seen = std::collections::HashSet::new();
    for _ in 0..300 {
        for m in samples(&mut rng, &peers, &payload) {
            let bytes = encode(&m);
            let back = Message::decode(&bytes).unwrap();
            assert_eq!(back, m);
            assert_eq!(back.body.kind(), m.body.kind());
            assert_eq!(encode(&back), bytes, "re-encoding is byte-identical");
            kinds_seen.insert(m.body.kind() as u8);
        }
    }
    assert_eq!(
        kinds_seen.len(),
        Kind::ALL.len(),
        "a kind was never exercised"
    );
}

#[test]
fn every_truncation_is_refused_and_short_buffers_say_what_they_need() {
    let mut rng = SmallRng::new(31);
    let peers: Vec<Peer> = (0..5).map(|_| random_peer(&mut rng)).collect();
    for m in samples(&mut rng, &peers, b"payload bytes") {
        let bytes = encode(&m);
        for cut in 0..bytes.len() {
            assert!(
                Message::decode(&bytes[..cut]).is_err(),
                "{:?} cut at {cut} decoded",
                m.body.kind()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Message::decode(&longer), Err(DecodeError::TrailingBytes));
        let mut small = vec![0u8; bytes.len() - 1];
        assert_eq!(
            m.encode(&mut small),
            Err(EncodeError::BufferTooSmall {
                needed: bytes.len()
            })
        );
    }
}

#[test]
fn header_errors_are_specific() {
    let mut rng = SmallRng::new(32);
    let m = Message {
        app: AppId(1),
        sender: random_peer(&mut rng),
        body: Body::Heartbeat(Heartbeat),
    };
    let good = encode(&m);
    let with = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        Message::decode(&b).map(|_| ())
    };
    assert_eq!(with(0, b'X'), Err(DecodeError::BadMagic));
    assert_eq!(with(2, 9), Err(DecodeError::UnsupportedVersion(9)));
    assert_eq!(with(3, 0x3f), Err(DecodeError::UnknownKind(0x3f)));
    assert_eq!(with(26, 5), Err(DecodeError::BadAddressFamily(5)));
    let j = Message {
        body: Body::LeafSet(LeafSetExchange {
            want_reply: true,
            announces: false,
            leaf_set: LeafSetView::EMPTY,
        }),
        ..m
    };
    let mut b = encode(&j);
    let flags = b.len() - 3;
    b[flags] = 0b100;
    assert_eq!(Message::decode(&b), Err(DecodeError::ReservedFlags));
    assert!(Message::decode(&[]).is_err());
}

#[test]
fn oversize_lists_and_payloads_are_refused_on_encode() {
    let peers = vec![Peer::new(pastry_core::Id::ZERO, common::addr(1)); 256];
    let sender = peers[0];
    let m = Message {
        app: AppId(0),
        sender,
        body: Body::RowReply(RowReply {
            row: 0,
            entries: PeerList::Peers(&peers),
        }),
    };
    assert_eq!(
        m.encode(&mut [0u8; 16_000]),
        Err(EncodeError::ListTooLong { len: 256 })
    );
    let big = vec![0u8; 70_000];
    let r = Message {
        body: Body::Routed(Routed {
            msg_id: 0,
            key: sender.id,
            per_hop: false,
            handoff: false,
            receipt: false,
            attempt: 0,
            hops: 0,
            source: sender,
            payload: &big,
            signature: None,
        }),
        ..m
    };
    assert_eq!(
        r.encode(&mut vec![0u8; 80_000]),
        Err(EncodeError::PayloadTooLong { len: 70_000 })
    );
}

/// Decode is total: random bytes and mutated valid frames either fail or
/// decode to a message whose encoding is exactly the input.
#[test]
fn random_and_mutated_bytes_never_panic_and_stay_canonical() {
    let mut rng = SmallRng::new(33);
    let peers: Vec<Peer> = (0..12).map(|_| random_peer(&mut rng)).collect();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for _ in 0..20 {
        frames.extend(samples(&mut rng, &peers, b"0123456789").iter().map(encode));
    }
    let mut decoded = 0usize;
    let mut check = |bytes: &[u8]| {
        if let Ok(m) = Message::decode(bytes) {
            assert_eq!(encode(&m), bytes);
            decoded += 1;
        }
    };
    for _ in 0..50_000 {
        let len = rng.below(200) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Give random bytes a fighting chance: a valid magic and version.
        if len >= 4 && rng.next_u64().is_multiple_of(2) {
            b[..3].copy_from_slice(&[b'P', b'A', pastry_core::wire::VERSION]);
            b[3] = 1 + rng.below(11) as u8;
        }
        check(&b);
    }
    for _ in 0..100_000 {
        let mut b = frames[rng.below(frames.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(3) {
            match rng.below(3) {
                0 if !b.is_empty() => {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] ^= 1 << rng.below(8);
                }
                1 if !b.is_empty() => {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] = rng.next_u64() as u8;
                }
                _ => b.truncate(rng.below(b.len() as u64 + 1) as usize),
            }
        }
        check(&b);
    }
    // The mutations keep a good share decodable, so the property is exercised.
    assert!(decoded > 10_000, "only {decoded} mutated frames decoded");
}

#[test]
fn a_full_leaf_set_of_ipv6_peers_fits_the_default_datagram() {
    let mut rng = SmallRng::new(34);
    let v6: Vec<Peer> = std::iter::repeat_with(|| random_peer(&mut rng))
        .filter(|p| p.addr.is_ipv6())
        .take(16)
        .collect();
    let m = Message {
        app: AppId::OVERLAY,
        sender: v6[0],
        body: Body::ProbeReply(ProbeReply {
            nonce: 1,
            leaf_set: LeafSetView {
                left: PeerList::Peers(&v6[..8]),
                right: PeerList::Peers(&v6[8..]),
            },
            handover: Handover::NONE,
        }),
    };
    assert_eq!(
        m.encoded_len(),
        pastry_core::wire::max_leaf_set_message_len(16)
    );
    assert!(m.encoded_len() <= Config::default().max_datagram);
}

#[test]
fn delivery_records_ride_at_the_end_of_a_probe_reply_only_in_canonical_form() {
    let mut rng = SmallRng::new(35);
    let peers: Vec<Peer> = (0..4).map(|_| random_peer(&mut rng)).collect();
    let reply = |handover| Message {
        app: AppId::OVERLAY,
        sender: peers[0],
        body: Body::ProbeReply(ProbeReply {
            nonce: 9,
            leaf_set: LeafSetView {
                left: PeerList::Peers(&peers[1..2]),
                right: PeerList::Peers(&peers[2..]),
            },
            handover,
        }),
    };
    let encode = |m: &Message<'_>| {
        let mut buf = vec![0u8; m.encoded_len()];
        let n = m.encode(&mut buf).unwrap();
        buf.truncate(n);
        buf
    };
    let plain = encode(&reply(Handover::NONE));
    let with = encode(&reply(Handover::Records(RECORDS)));
    // Without records a count of zero ends the reply; with them, 24 bytes
    // a record follow the count, and decode to the same records.
    assert_eq!(plain.last(), Some(&0));
    assert_eq!(&with[..plain.len() - 1], &plain[..plain.len() - 1]);
    assert_eq!(
        with.len(),
        plain.len() + RECORDS.len() * HANDOVER_RECORD_BYTES
    );
    assert_eq!(with[plain.len() - 1], RECORDS.len() as u8);
    let Body::ProbeReply(back) = Message::decode(&with).unwrap().body else {
        panic!("not a probe reply");
    };
    assert!(back.handover.iter().eq(RECORDS.iter().copied()));
    // A count past the most a reply carries, or past the bytes present,
    // is refused, and so is a reply that stops before its count.
    let mut many = plain.clone();
    *many.last_mut().unwrap() = MAX_HANDOVER as u8 + 1;
    many.extend(std::iter::repeat_n(
        0,
        (MAX_HANDOVER + 1) * HANDOVER_RECORD_BYTES,
    ));
    assert_eq!(Message::decode(&many), Err(DecodeError::TooLong));
    assert_eq!(
        Message::decode(&with[..with.len() - 1]),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        Message::decode(&plain[..plain.len() - 1]),
        Err(DecodeError::Truncated)
    );
    // Too many records to send is the caller's mistake, refused.
    let seventeen = [RECORDS[0]; MAX_HANDOVER + 1];
    let mut buf = [0u8; 2048];
    assert_eq!(
        reply(Handover::Records(&seventeen)).encode(&mut buf),
        Err(EncodeError::ListTooLong {
            len: MAX_HANDOVER + 1
        })
    );
}
