//! Codec harnesses: the overlay's frames, the client protocol's frames and
//! the applications' payloads.

use std::net::SocketAddr;

use arbitrary::{Arbitrary, Unstructured};
use pastry_core::client::msg::Frame;
use pastry_core::identity::{Certificate, Keypair, Signature, UnixTime};
use pastry_core::wire::handshake::{Hello, Proof};
use pastry_core::wire::{
    Ack, AppId, Body, EncodeError, Handover, HandoverRecord, Heartbeat, JoinReply, JoinRequest,
    LeafSetExchange, LeafSetView, Leave, MAX_ATTEMPT, MAX_HANDOVER, MAX_LIST_LEN, Message,
    PeerList, Probe, ProbeReply, Query, Receipt, ReplicaSet, RouteFailed, Routed, RowReply,
    RowRequest,
};
use pastry_core::{Id, Peer};

/// Any bytes: decoding never panics, and whatever decodes re-encodes to
/// exactly the input (the encoding is canonical) and decodes to the same
/// message again.
pub fn wire_decode(data: &[u8]) {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; msg.encoded_len()];
    let n = msg
        .encode(&mut buf)
        .expect("a decoded message must re-encode");
    assert_eq!(&buf[..n], data, "decode then encode changed the bytes");
    assert_eq!(Message::decode(&buf[..n]), Ok(msg));
}

/// An arbitrary message (built from the fuzzer's bytes): it encodes to
/// exactly `encoded_len` bytes, which decode to the same message; or the
/// encoder refuses it for the one reason it may (a list over 255 peers).
pub fn wire_roundtrip(data: &[u8]) {
    let Ok(mut m) = ArbMessage::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    m.normalise();
    let msg = m.message();
    let mut buf = vec![0u8; msg.encoded_len()];
    match msg.encode(&mut buf) {
        Ok(n) => {
            assert_eq!(n, msg.encoded_len(), "{msg:?}");
            assert_eq!(Message::decode(&buf[..n]), Ok(msg));
            // A buffer one byte short is refused with the size needed.
            if n > 0 {
                assert_eq!(
                    msg.encode(&mut buf[..n - 1]),
                    Err(EncodeError::BufferTooSmall { needed: n })
                );
            }
        }
        Err(EncodeError::ListTooLong { len }) => {
            assert!(len > MAX_LIST_LEN && m.longest_list() == len, "{msg:?}")
        }
        Err(EncodeError::PayloadTooLong { len }) => {
            assert!(len > usize::from(u16::MAX), "{msg:?}")
        }
        Err(e) => panic!("{msg:?} refused: {e}"),
    }
}

/// Any bytes as a client-protocol frame: the same properties as
/// [`wire_decode`].
pub fn client_decode(data: &[u8]) {
    let Ok(frame) = Frame::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; frame.encoded_len()];
    let n = frame
        .encode(&mut buf)
        .expect("a decoded client frame must re-encode");
    assert_eq!(&buf[..n], data, "decode then encode changed the bytes");
}

/// Any bytes as a DHT payload, then as a Scribe payload: decoding never
/// panics and is canonical.
pub fn app_payloads(data: &[u8]) {
    pastry_core::fuzzing::dht_payload(data);
    pastry_core::fuzzing::scribe_payload(data);
}

/// An owned message the fuzzer can build; [`ArbMessage::message`] lends it
/// as the codec's borrowed [`Message`].
#[derive(Arbitrary, Clone, Debug)]
pub struct ArbMessage {
    /// The application.
    pub app: u16,
    /// The sender.
    pub sender: Peer,
    /// The kind-specific part.
    pub body: ArbBody,
}

/// The owned form of [`Body`].
#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub enum ArbBody {
    JoinRequest {
        msg_id: u64,
        hops: u8,
        joiner: Peer,
    },
    JoinReply {
        from_root: bool,
        rows: Vec<Peer>,
        leaf_set: ArbLeafSet,
    },
    LeafSet {
        want_reply: bool,
        announces: bool,
        leaf_set: ArbLeafSet,
    },
    Heartbeat,
    Probe {
        nonce: u64,
        want_leaf_set: bool,
    },
    ProbeReply {
        nonce: u64,
        leaf_set: ArbLeafSet,
        handover: Vec<HandoverRecord>,
    },
    RowRequest {
        row: u8,
    },
    RowReply {
        row: u8,
        entries: Vec<Peer>,
    },
    Routed {
        msg_id: u64,
        key: Id,
        per_hop: bool,
        handoff: bool,
        receipt: bool,
        attempt: u8,
        hops: u8,
        source: Peer,
        payload: Vec<u8>,
        signature: Option<[u8; 96]>,
    },
    Ack {
        msg_id: u64,
    },
    Receipt {
        msg_id: u64,
        key: Id,
    },
    RouteFailed {
        msg_id: u64,
        key: Id,
    },
    Leave {
        leaf_set: ArbLeafSet,
    },
    Hello {
        nonce: [u8; 16],
    },
    Challenge(ArbProof),
    Confirm(ArbProof),
    Ready,
    Stale,
    Query {
        msg_id: u64,
        key: Id,
        target: Id,
        replicas: u8,
        hops: u8,
        source: Peer,
    },
    ReplicaSet {
        msg_id: u64,
        key: Id,
        complete: bool,
        leaf_set: ArbLeafSet,
    },
}

/// The owned form of [`LeafSetView`].
/// A handshake proof the fuzzer can build: the key comes from a secret
/// (so it is a valid key), the signature is any 64 bytes.
#[derive(Arbitrary, Clone, Debug)]
#[allow(missing_docs)]
pub struct ArbProof {
    pub nonce: [u8; 16],
    pub cookie: [u8; 16],
    pub secret: [u8; 32],
    /// An expiry, signed by the key itself, if a certificate comes.
    pub certificate: Option<u64>,
    pub signature: [[u8; 32]; 2],
}

impl ArbProof {
    fn proof(&self) -> Proof {
        let keys = Keypair::from_secret(self.secret);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&self.signature[0]);
        sig[32..].copy_from_slice(&self.signature[1]);
        Proof {
            nonce: self.nonce,
            cookie: self.cookie,
            key: keys.public(),
            certificate: self
                .certificate
                .map(|t| Certificate::issue(&keys, keys.public(), UnixTime(t))),
            signature: Signature(sig),
        }
    }
}

#[derive(Arbitrary, Clone, Debug, Default)]
pub struct ArbLeafSet {
    /// Smaller ids, nearest first.
    pub left: Vec<Peer>,
    /// Larger ids, nearest first.
    pub right: Vec<Peer>,
}

impl ArbLeafSet {
    fn view(&self) -> LeafSetView<'_> {
        LeafSetView {
            left: PeerList::Peers(&self.left),
            right: PeerList::Peers(&self.right),
        }
    }

    fn peers_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        self.left.iter_mut().chain(self.right.iter_mut())
    }
}

impl ArbMessage {
    /// The message, borrowing this one's lists and payload.
    pub fn message(&self) -> Message<'_> {
        let body = match &self.body {
            ArbBody::JoinRequest {
                msg_id,
                hops,
                joiner,
            } => Body::JoinRequest(JoinRequest {
                msg_id: *msg_id,
                hops: *hops,
                joiner: *joiner,
            }),
            ArbBody::JoinReply {
                from_root,
                rows,
                leaf_set,
            } => Body::JoinReply(JoinReply {
                from_root: *from_root,
                rows: PeerList::Peers(rows),
                leaf_set: leaf_set.view(),
            }),
            ArbBody::LeafSet {
                want_reply,
                announces,
                leaf_set,
            } => Body::LeafSet(LeafSetExchange {
                want_reply: *want_reply,
                announces: *announces,
                leaf_set: leaf_set.view(),
            }),
            ArbBody::Heartbeat => Body::Heartbeat(Heartbeat),
            ArbBody::Probe {
                nonce,
                want_leaf_set,
            } => Body::Probe(Probe {
                nonce: *nonce,
                want_leaf_set: *want_leaf_set,
            }),
            ArbBody::ProbeReply {
                nonce,
                leaf_set,
                handover,
            } => Body::ProbeReply(ProbeReply {
                nonce: *nonce,
                leaf_set: leaf_set.view(),
                handover: Handover::Records(handover),
            }),
            ArbBody::RowRequest { row } => Body::RowRequest(RowRequest { row: *row }),
            ArbBody::RowReply { row, entries } => Body::RowReply(RowReply {
                row: *row,
                entries: PeerList::Peers(entries),
            }),
            ArbBody::Routed {
                msg_id,
                key,
                per_hop,
                handoff,
                receipt,
                attempt,
                hops,
                source,
                payload,
                signature,
            } => Body::Routed(Routed {
                msg_id: *msg_id,
                key: *key,
                per_hop: *per_hop,
                handoff: *handoff,
                receipt: *receipt,
                attempt: *attempt,
                hops: *hops,
                source: *source,
                payload,
                signature: signature.as_ref(),
            }),
            ArbBody::Ack { msg_id } => Body::Ack(Ack { msg_id: *msg_id }),
            ArbBody::Receipt { msg_id, key } => Body::Receipt(Receipt {
                msg_id: *msg_id,
                key: *key,
            }),
            ArbBody::RouteFailed { msg_id, key } => Body::RouteFailed(RouteFailed {
                msg_id: *msg_id,
                key: *key,
            }),
            ArbBody::Leave { leaf_set } => Body::Leave(Leave {
                leaf_set: leaf_set.view(),
            }),
            ArbBody::Hello { nonce } => Body::Hello(Hello { nonce: *nonce }),
            ArbBody::Challenge(p) => Body::Challenge(p.proof()),
            ArbBody::Confirm(p) => Body::Confirm(p.proof()),
            ArbBody::Ready => Body::Ready,
            ArbBody::Stale => Body::Stale,
            ArbBody::Query {
                msg_id,
                key,
                target,
                replicas,
                hops,
                source,
            } => Body::Query(Query {
                msg_id: *msg_id,
                key: *key,
                target: *target,
                replicas: *replicas,
                hops: *hops,
                source: *source,
            }),
            ArbBody::ReplicaSet {
                msg_id,
                key,
                complete,
                leaf_set,
            } => Body::ReplicaSet(ReplicaSet {
                msg_id: *msg_id,
                key: *key,
                complete: *complete,
                leaf_set: leaf_set.view(),
            }),
        };
        Message {
            app: AppId(self.app),
            sender: self.sender,
            body,
        }
    }

    /// The wire carries an address's IP and port only: an IPv6 flow label
    /// or scope id does not travel, so the fuzzer's are cleared first.
    pub fn normalise(&mut self) {
        fn clear(p: &mut Peer) {
            if let SocketAddr::V6(a) = &mut p.addr {
                a.set_flowinfo(0);
                a.set_scope_id(0);
            }
        }
        clear(&mut self.sender);
        match &mut self.body {
            ArbBody::JoinRequest { joiner, .. } => clear(joiner),
            ArbBody::JoinReply { rows, leaf_set, .. } => {
                rows.iter_mut().chain(leaf_set.peers_mut()).for_each(clear)
            }
            ArbBody::LeafSet { leaf_set, .. }
            | ArbBody::ReplicaSet { leaf_set, .. }
            | ArbBody::Leave { leaf_set } => leaf_set.peers_mut().for_each(clear),
            ArbBody::ProbeReply {
                leaf_set, handover, ..
            } => {
                leaf_set.peers_mut().for_each(clear);
                // A longer list is a caller's mistake the encoder refuses
                // (`ListTooLong`), not a format the fuzzer explores.
                handover.truncate(MAX_HANDOVER);
            }
            ArbBody::RowReply { entries, .. } => entries.iter_mut().for_each(clear),
            ArbBody::Routed {
                source, attempt, ..
            } => {
                clear(source);
                // Two bits on the wire; the encoder clamps larger values.
                *attempt = (*attempt).min(MAX_ATTEMPT);
            }
            ArbBody::Query { source, .. } => clear(source),
            _ => {}
        }
    }

    /// The length of the longest peer list in the message.
    pub fn longest_list(&self) -> usize {
        let ls = |l: &ArbLeafSet| l.left.len().max(l.right.len());
        match &self.body {
            ArbBody::JoinReply { rows, leaf_set, .. } => rows.len().max(ls(leaf_set)),
            ArbBody::LeafSet { leaf_set, .. }
            | ArbBody::ProbeReply { leaf_set, .. }
            | ArbBody::ReplicaSet { leaf_set, .. }
            | ArbBody::Leave { leaf_set } => ls(leaf_set),
            ArbBody::RowReply { entries, .. } => entries.len(),
            _ => 0,
        }
    }
}
