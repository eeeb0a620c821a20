//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`):
//! one real frame of every overlay message kind (`wire_decode`), every
//! client frame kind (`client_decode`), the DHT's and Scribe's payloads as
//! five in-memory stacks sent them (`app_payloads`), and for the targets
//! that build their input with `arbitrary`, byte strings chosen so that
//! each decodes to a different shape. `cargo run -p pastry-tests --example
//! fuzz_seeds` (from the workspace root) rewrites them.

mod seeds;

use std::net::SocketAddr;

use pastry_core::identity::{Certificate, Keypair, UnixTime};
use pastry_core::wire::handshake::{Hello, Proof};
use pastry_core::wire::{
    Ack, AppId, Body, Handover, HandoverRecord, Heartbeat, JoinReply, JoinRequest, LeafSetExchange,
    LeafSetView, Leave, Message, PeerList, Probe, ProbeReply, Receipt, RouteFailed, Routed,
    RowReply, RowRequest,
};
use pastry_core::{Id, Peer};

/// A signed proof, with a certificate or not.
fn proof(certified: bool) -> Proof {
    let keys = Keypair::from_secret([3; 32]);
    let authority = Keypair::from_secret([4; 32]);
    Proof {
        nonce: [1; 16],
        cookie: [2; 16],
        key: keys.public(),
        certificate: certified
            .then(|| Certificate::issue(&authority, keys.public(), UnixTime(2_000_000_000))),
        signature: keys.sign(b"a challenge"),
    }
}

fn main() -> std::io::Result<()> {
    let peer = |i: u8, v6: bool| {
        let addr: SocketAddr = if v6 {
            format!("[2001:db8::{i}]:4000").parse().unwrap()
        } else {
            SocketAddr::from(([192, 0, 2, i], 4000))
        };
        Peer::new(Id::sha1(&[i]), addr)
    };
    let peers: Vec<Peer> = (0..6).map(|i| peer(i, i % 2 == 1)).collect();
    let leaf = LeafSetView {
        left: PeerList::Peers(&peers[..3]),
        right: PeerList::Peers(&peers[3..]),
    };
    let handed = [
        HandoverRecord::new(Id::sha1(b"key"), peers[2].id, 11),
        HandoverRecord::new(Id::sha1(b"other key"), peers[4].id, 12),
    ];
    let bodies = [
        (
            "join_request",
            Body::JoinRequest(JoinRequest {
                msg_id: 7,
                hops: 1,
                joiner: peers[1],
            }),
        ),
        (
            "join_reply",
            Body::JoinReply(JoinReply {
                from_root: true,
                rows: PeerList::Peers(&peers[..2]),
                leaf_set: leaf,
            }),
        ),
        (
            "leaf_set",
            Body::LeafSet(LeafSetExchange {
                want_reply: true,
                announces: false,
                leaf_set: leaf,
            }),
        ),
        ("heartbeat", Body::Heartbeat(Heartbeat)),
        (
            "probe",
            Body::Probe(Probe {
                nonce: 42,
                want_leaf_set: true,
            }),
        ),
        (
            "probe_reply",
            Body::ProbeReply(ProbeReply {
                nonce: 42,
                leaf_set: leaf,
                handover: Handover::NONE,
            }),
        ),
        (
            "probe_reply_handover",
            Body::ProbeReply(ProbeReply {
                nonce: 42,
                leaf_set: leaf,
                handover: Handover::Records(&handed),
            }),
        ),
        ("row_request", Body::RowRequest(RowRequest { row: 2 })),
        (
            "row_reply",
            Body::RowReply(RowReply {
                row: 2,
                entries: PeerList::Peers(&peers),
            }),
        ),
        (
            "routed",
            Body::Routed(Routed {
                msg_id: 9,
                key: Id::sha1(b"key"),
                per_hop: true,
                handoff: false,
                receipt: false,
                attempt: 0,
                hops: 3,
                source: peers[2],
                payload: b"hello",
                signature: None,
            }),
        ),
        (
            "routed_signed",
            Body::Routed(Routed {
                msg_id: 10,
                key: Id::sha1(b"key"),
                per_hop: false,
                handoff: false,
                receipt: false,
                attempt: 0,
                hops: 1,
                source: peers[2],
                payload: b"signed",
                signature: Some(&[0x5a; 96]),
            }),
        ),
        (
            "routed_receipt",
            Body::Routed(Routed {
                msg_id: 11,
                key: Id::sha1(b"key"),
                per_hop: false,
                handoff: false,
                receipt: true,
                attempt: 2,
                hops: 2,
                source: peers[3],
                payload: b"answer me",
                signature: None,
            }),
        ),
        ("ack", Body::Ack(Ack { msg_id: 9 })),
        (
            "receipt",
            Body::Receipt(Receipt {
                msg_id: 11,
                key: Id::sha1(b"key"),
            }),
        ),
        ("leave", Body::Leave(Leave { leaf_set: leaf })),
        (
            "route_failed",
            Body::RouteFailed(RouteFailed {
                msg_id: 9,
                key: Id::sha1(b"key"),
            }),
        ),
        ("hello", Body::Hello(Hello { nonce: [5; 16] })),
        ("challenge", Body::Challenge(proof(false))),
        ("confirm", Body::Confirm(proof(true))),
        ("ready", Body::Ready),
        ("stale", Body::Stale),
    ];
    let dir = std::path::Path::new("fuzz/corpus/wire_decode");
    std::fs::create_dir_all(dir)?;
    for (name, body) in bodies {
        let m = Message {
            app: AppId(3),
            sender: peers[0],
            body,
        };
        let mut buf = vec![0u8; m.encoded_len()];
        m.encode(&mut buf).expect("seed frames encode");
        std::fs::write(dir.join(name), &buf)?;
    }
    println!("wrote {} seeds to {}", bodies.len(), dir.display());
    seeds::client_frames()?;
    seeds::app_payloads()?;
    seeds::structured()?;
    Ok(())
}
