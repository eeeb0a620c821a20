//! Bodies of the overlay's message kinds (Pastry'01 §2.4, MSPastry §3).

use super::cursor::{Reader, Writer, peer_len};
use super::handshake::{Hello, Proof};
use super::{DecodeError, EncodeError, Handover, Kind, PeerList};
use crate::id::{ID_BYTES, Id};
use crate::peer::Peer;

/// The kind-specific part of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A new node's request to join, routed towards its own id.
    JoinRequest(JoinRequest),
    /// Routing-table rows (and, from the root, its leaf set) for a joiner.
    JoinReply(JoinReply<'a>),
    /// A leaf set sent to a neighbour, for repair or on request.
    LeafSet(LeafSetExchange<'a>),
    /// Keep-alive between leaf-set members.
    Heartbeat(Heartbeat),
    /// Liveness and round-trip probe.
    Probe(Probe),
    /// Answer to a [`Probe`].
    ProbeReply(ProbeReply<'a>),
    /// Asks for one routing-table row (lazy repair, maintenance).
    RowRequest(RowRequest),
    /// One routing-table row.
    RowReply(RowReply<'a>),
    /// An application message routed by key.
    Routed(Routed<'a>),
    /// Per-hop acknowledgement of a routed message.
    Ack(Ack),
    /// See [`RouteFailed`].
    RouteFailed(RouteFailed),
    /// See [`Receipt`].
    Receipt(Receipt),
    /// The sender leaves the overlay; here is its leaf set for repair.
    Leave(Leave<'a>),
    /// A challenge to whoever is at the receiving address.
    Hello(Hello),
    /// The answer to a Hello, signed.
    Challenge(Proof),
    /// The answer to a Challenge, signed.
    Confirm(Proof),
    /// The responder holds the session (sent sealed, empty).
    Ready,
    /// The sender holds no session with the receiver (unsealed, empty).
    Stale,
    /// A secure query, routed through constrained tables.
    Query(Query),
    /// A replica set, answering a [`Query`].
    ReplicaSet(ReplicaSet<'a>),
}

/// A join request (Pastry'01 §2.4): routed hop by hop towards the joiner's
/// id; each node on the path answers the joiner with rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// Identifies the request for per-hop acknowledgement.
    pub msg_id: u64,
    /// Overlay hops taken so far.
    pub hops: u8,
    /// The node that wants to join.
    pub joiner: Peer,
}

/// A leaf set: up to L/2 peers on each side, nearest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafSetView<'a> {
    /// Counter-clockwise neighbours (smaller ids), nearest first.
    pub left: PeerList<'a>,
    /// Clockwise neighbours (larger ids), nearest first.
    pub right: PeerList<'a>,
}

impl LeafSetView<'_> {
    /// An empty leaf set.
    pub const EMPTY: LeafSetView<'static> = LeafSetView {
        left: PeerList::EMPTY,
        right: PeerList::EMPTY,
    };
}

/// The answer of a node on a join path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinReply<'a> {
    /// Whether the sender is the root of the joiner's id (then `leaf_set`
    /// is its leaf set, and the join is complete once confirmed).
    pub from_root: bool,
    /// Routing-table entries the joiner may use.
    pub rows: PeerList<'a>,
    /// The root's leaf set; empty from other nodes.
    pub leaf_set: LeafSetView<'a>,
}

/// A leaf set sent to a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafSetExchange<'a> {
    /// The receiver should answer with its own leaf set.
    pub want_reply: bool,
    /// The sender declared failed a member this leaf set leaves out, and
    /// every node it lists that held that member has been told (by the
    /// sender, or by the announcement that told the sender): a receiver
    /// that finds it failed need tell only members the list does not reach
    /// (MSPastry §3.1's announcement, made once per region rather than by
    /// each of a failed node's members to all of theirs).
    pub announces: bool,
    /// The sender's leaf set.
    pub leaf_set: LeafSetView<'a>,
}

/// A keep-alive; its arrival is the information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Heartbeat;

/// A probe; the receiver answers with a [`ProbeReply`] echoing the nonce.
/// It checks liveness, measures round-trip time and, when asked, fetches
/// the receiver's leaf set (MSPastry's leaf-set probes during join and
/// repair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Matches the reply to the probe.
    pub nonce: u64,
    /// The reply should carry the receiver's leaf set.
    pub want_leaf_set: bool,
}

/// The answer to a [`Probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeReply<'a> {
    /// The probe's nonce.
    pub nonce: u64,
    /// The replier's leaf set if the probe asked for it, else empty.
    pub leaf_set: LeafSetView<'a>,
    /// Messages the replier delivered as root lately whose keys are
    /// closer to the prober: a node joining beside it takes them, so it
    /// does not deliver them again ([`Handover`]).
    pub handover: Handover<'a>,
}

/// A request for one routing-table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRequest {
    /// The row wanted.
    pub row: u8,
}

/// One routing-table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowReply<'a> {
    /// Which row of the sender's table this is.
    pub row: u8,
    /// Its entries (empty slots are left out).
    pub entries: PeerList<'a>,
}

/// An application message routed towards a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed<'a> {
    /// Identifies the message (with `source`) for acks and duplicates.
    pub msg_id: u64,
    /// The key it is routed to.
    pub key: Id,
    /// Per-hop (every node on the path gets a `forward` upcall) rather than
    /// end-node (only the root is involved): PROST's two kinds of application.
    pub per_hop: bool,
    /// Handed on by a root that denies the application: the receiver, a
    /// member of the key's replica set, delivers it if it allows the
    /// application, else hands it to the next replica.
    pub handoff: bool,
    /// The source asks the node that delivers it for a [`Receipt`], and
    /// sends it again when none comes (end-to-end acknowledgement: a hop
    /// that acked and then crashed would otherwise lose it).
    pub receipt: bool,
    /// The source's sends of it before this one (0 to [`MAX_ATTEMPT`]; the
    /// encoder clamps larger values): relays take a new attempt as a new
    /// message, its root as the same.
    pub attempt: u8,
    /// Overlay hops taken so far.
    pub hops: u8,
    /// The node that sent it first.
    pub source: Peer,
    /// The application's bytes (at most `u16::MAX`, in practice what fits
    /// in `max_datagram` after the header).
    pub payload: &'a [u8],
    /// The source's public key and its signature over the fields no relay
    /// changes (app, key, message id, source, payload): end-to-end proof of
    /// who sent it, for a root that is not the source's neighbour
    /// ([`crate::node::Delivery::verify_source`]).
    pub signature: Option<&'a [u8; SOURCE_SIGNATURE_BYTES]>,
}

/// Bytes of a routed message's source signature: the source's public key
/// (32) and its Ed25519 signature (64).
pub const SOURCE_SIGNATURE_BYTES: usize = 96;

/// Acknowledges one hop of a routed message or join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The acknowledged message.
    pub msg_id: u64,
}

/// The highest [`Routed::attempt`] the wire carries.
pub const MAX_ATTEMPT: u8 = 3;

/// Tells a routed message's source that the node named in the header
/// delivered it (or had already). Sent straight to the source's address,
/// twice (nothing retransmits it, and its loss makes the source send the
/// message again), unsealed even between verified peers: it proves itself
/// by the message id, 64 random bits only the message's path has seen, and
/// can do no more than end the source's wait. The header's app id is the
/// message's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The message delivered, as its source numbered it.
    pub msg_id: u64,
    /// Its key.
    pub key: Id,
}

/// Tells a routed message's source that a node on the path could not
/// route it any further (every candidate timed out or none was left). Sent
/// straight to the source's address; the header's app id is the message's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteFailed {
    /// The message that failed, as its source numbered it.
    pub msg_id: u64,
    /// Its key.
    pub key: Id,
}

/// A secure query (OSDI'02 §5.3): asks for `key`'s replica set. Routed
/// hop by hop (each hop acknowledged) through constrained routing tables
/// only; the first node whose leaf set holds the key's `replicas` closest
/// nodes answers `source` straight with a [`ReplicaSet`] (so a faulty
/// root cannot swallow every route: its correct neighbours answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Identifies the query (with `source`) for acks and the answer.
    pub msg_id: u64,
    /// The key whose replica set is wanted.
    pub key: Id,
    /// The point the query is routed to: the key, or a point beside it,
    /// so that redundant routes land on different nodes of the key's
    /// neighbourhood and a cluster of faulty nodes at the key does not
    /// swallow them all.
    pub target: Id,
    /// How many of the key's closest nodes the answer must hold.
    pub replicas: u8,
    /// Overlay hops taken so far.
    pub hops: u8,
    /// The node that asks.
    pub source: Peer,
}

/// The answer to a [`Query`]: the sender's leaf set, which with the
/// sender is the key's neighbourhood as the sender sees it. A node whose
/// leaf set covers the key but may miss some of its closest nodes answers
/// too (not `complete`) and routes the query on: the next hop may be a
/// faulty root that would swallow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaSet<'a> {
    /// The query answered.
    pub msg_id: u64,
    /// Its key.
    pub key: Id,
    /// The sender's leaf set holds the key's `replicas` closest nodes.
    pub complete: bool,
    /// The sender's leaf set.
    pub leaf_set: LeafSetView<'a>,
}

/// A graceful leave, carrying the leaver's leaf set for immediate repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leave<'a> {
    /// The leaving node's leaf set.
    pub leaf_set: LeafSetView<'a>,
}

/// Reads a flags byte in which only the bits of `allowed` may be set.
fn flags(r: &mut Reader<'_>, allowed: u8) -> Result<u8, DecodeError> {
    let f = r.u8()?;
    if f & !allowed != 0 {
        return Err(DecodeError::ReservedFlags);
    }
    Ok(f)
}

fn flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    Ok(flags(r, 1)? == 1)
}

// A leaf-set exchange's flags.
const WANT_REPLY: u8 = 0b01;
const ANNOUNCES: u8 = 0b10;

// A routed message's flags.
const PER_HOP: u8 = 0b001;
const HANDOFF: u8 = 0b010;
const SIGNED: u8 = 0b100;
const RECEIPT: u8 = 0b1000;
const ATTEMPT_SHIFT: u8 = 4;

impl<'a> LeafSetView<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<LeafSetView<'a>, DecodeError> {
        Ok(LeafSetView {
            left: PeerList::decode(r)?,
            right: PeerList::decode(r)?,
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        self.left.encoded_len() + self.right.encoded_len()
    }

    fn check(&self) -> Result<(), EncodeError> {
        self.left.check()?;
        self.right.check()
    }

    fn encode(&self, w: &mut Writer<'_>) {
        self.left.encode(w);
        self.right.encode(w);
    }
}

impl<'a> Body<'a> {
    /// The kind number this body is sent under.
    pub fn kind(&self) -> Kind {
        match self {
            Body::JoinRequest(_) => Kind::JoinRequest,
            Body::JoinReply(_) => Kind::JoinReply,
            Body::LeafSet(_) => Kind::LeafSet,
            Body::Heartbeat(_) => Kind::Heartbeat,
            Body::Probe(_) => Kind::Probe,
            Body::ProbeReply(_) => Kind::ProbeReply,
            Body::RowRequest(_) => Kind::RowRequest,
            Body::RowReply(_) => Kind::RowReply,
            Body::Routed(_) => Kind::Routed,
            Body::Ack(_) => Kind::Ack,
            Body::RouteFailed(_) => Kind::RouteFailed,
            Body::Receipt(_) => Kind::Receipt,
            Body::Leave(_) => Kind::Leave,
            Body::Hello(_) => Kind::Hello,
            Body::Challenge(_) => Kind::Challenge,
            Body::Confirm(_) => Kind::Confirm,
            Body::Ready => Kind::Ready,
            Body::Stale => Kind::Stale,
            Body::Query(_) => Kind::Query,
            Body::ReplicaSet(_) => Kind::ReplicaSet,
        }
    }

    pub(crate) fn decode(kind: Kind, r: &mut Reader<'a>) -> Result<Body<'a>, DecodeError> {
        Ok(match kind {
            Kind::JoinRequest => Body::JoinRequest(JoinRequest {
                msg_id: r.u64()?,
                hops: r.u8()?,
                joiner: r.peer()?,
            }),
            Kind::JoinReply => Body::JoinReply(JoinReply {
                from_root: flag(r)?,
                rows: PeerList::decode(r)?,
                leaf_set: LeafSetView::decode(r)?,
            }),
            Kind::LeafSet => {
                let f = flags(r, WANT_REPLY | ANNOUNCES)?;
                Body::LeafSet(LeafSetExchange {
                    want_reply: f & WANT_REPLY != 0,
                    announces: f & ANNOUNCES != 0,
                    leaf_set: LeafSetView::decode(r)?,
                })
            }
            Kind::Heartbeat => Body::Heartbeat(Heartbeat),
            Kind::Probe => Body::Probe(Probe {
                nonce: r.u64()?,
                want_leaf_set: flag(r)?,
            }),
            Kind::ProbeReply => Body::ProbeReply(ProbeReply {
                nonce: r.u64()?,
                leaf_set: LeafSetView::decode(r)?,
                handover: Handover::decode(r)?,
            }),
            Kind::RowRequest => Body::RowRequest(RowRequest { row: r.u8()? }),
            Kind::RowReply => Body::RowReply(RowReply {
                row: r.u8()?,
                entries: PeerList::decode(r)?,
            }),
            Kind::Routed => {
                let msg_id = r.u64()?;
                let key = r.id()?;
                let f = flags(
                    r,
                    PER_HOP | HANDOFF | SIGNED | RECEIPT | MAX_ATTEMPT << ATTEMPT_SHIFT,
                )?;
                Body::Routed(Routed {
                    msg_id,
                    key,
                    per_hop: f & PER_HOP != 0,
                    handoff: f & HANDOFF != 0,
                    receipt: f & RECEIPT != 0,
                    attempt: f >> ATTEMPT_SHIFT,
                    hops: r.u8()?,
                    source: r.peer()?,
                    payload: {
                        let len = r.u16()?;
                        r.take(usize::from(len))?
                    },
                    signature: match f & SIGNED {
                        0 => None,
                        _ => Some(r.take_array()?),
                    },
                })
            }
            Kind::Ack => Body::Ack(Ack { msg_id: r.u64()? }),
            Kind::RouteFailed | Kind::Receipt => {
                let (msg_id, key) = (r.u64()?, r.id()?);
                match kind {
                    Kind::Receipt => Body::Receipt(Receipt { msg_id, key }),
                    _ => Body::RouteFailed(RouteFailed { msg_id, key }),
                }
            }
            Kind::Leave => Body::Leave(Leave {
                leaf_set: LeafSetView::decode(r)?,
            }),
            Kind::Hello => Body::Hello(Hello::decode(r)?),
            Kind::Challenge => Body::Challenge(Proof::decode(r)?),
            Kind::Confirm => Body::Confirm(Proof::decode(r)?),
            Kind::Ready => Body::Ready,
            Kind::Stale => Body::Stale,
            Kind::Query => Body::Query(Query {
                msg_id: r.u64()?,
                key: r.id()?,
                target: r.id()?,
                replicas: r.u8()?,
                hops: r.u8()?,
                source: r.peer()?,
            }),
            Kind::ReplicaSet => Body::ReplicaSet(ReplicaSet {
                msg_id: r.u64()?,
                key: r.id()?,
                complete: flag(r)?,
                leaf_set: LeafSetView::decode(r)?,
            }),
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            Body::JoinRequest(m) => 8 + 1 + peer_len(&m.joiner),
            Body::JoinReply(m) => 1 + m.rows.encoded_len() + m.leaf_set.encoded_len(),
            Body::LeafSet(m) => 1 + m.leaf_set.encoded_len(),
            Body::Heartbeat(_) => 0,
            Body::Probe(_) => 9,
            Body::ProbeReply(m) => 8 + m.leaf_set.encoded_len() + m.handover.encoded_len(),
            Body::Ack(_) => 8,
            Body::RouteFailed(_) | Body::Receipt(_) => 8 + ID_BYTES,
            Body::RowRequest(_) => 1,
            Body::RowReply(m) => 1 + m.entries.encoded_len(),
            Body::Routed(m) => {
                let signature = if m.signature.is_some() {
                    SOURCE_SIGNATURE_BYTES
                } else {
                    0
                };
                8 + ID_BYTES + 1 + 1 + peer_len(&m.source) + 2 + m.payload.len() + signature
            }
            Body::Leave(m) => m.leaf_set.encoded_len(),
            Body::Hello(_) => Hello::ENCODED_LEN,
            Body::Challenge(m) | Body::Confirm(m) => m.encoded_len(),
            Body::Ready | Body::Stale => 0,
            Body::Query(m) => 8 + 2 * ID_BYTES + 1 + 1 + peer_len(&m.source),
            Body::ReplicaSet(m) => 8 + ID_BYTES + 1 + m.leaf_set.encoded_len(),
        }
    }

    /// Refuses what cannot be encoded (lists too long for a count byte).
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        match self {
            Body::JoinReply(m) => {
                m.rows.check()?;
                m.leaf_set.check()
            }
            Body::LeafSet(m) => m.leaf_set.check(),
            Body::RowReply(m) => m.entries.check(),
            Body::Leave(m) => m.leaf_set.check(),
            Body::ProbeReply(m) => {
                m.leaf_set.check()?;
                m.handover.check()
            }
            Body::ReplicaSet(m) => m.leaf_set.check(),
            Body::Routed(m) if m.payload.len() > usize::from(u16::MAX) => {
                Err(EncodeError::PayloadTooLong {
                    len: m.payload.len(),
                })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        match self {
            Body::JoinRequest(m) => {
                w.u64(m.msg_id);
                w.u8(m.hops);
                w.peer(&m.joiner);
            }
            Body::JoinReply(m) => {
                w.u8(u8::from(m.from_root));
                m.rows.encode(w);
                m.leaf_set.encode(w);
            }
            Body::LeafSet(m) => {
                w.u8((u8::from(m.want_reply) * WANT_REPLY) | (u8::from(m.announces) * ANNOUNCES));
                m.leaf_set.encode(w);
            }
            Body::Heartbeat(_) => {}
            Body::Probe(m) => {
                w.u64(m.nonce);
                w.u8(u8::from(m.want_leaf_set));
            }
            Body::ProbeReply(m) => {
                w.u64(m.nonce);
                m.leaf_set.encode(w);
                m.handover.encode(w);
            }
            Body::RowRequest(m) => w.u8(m.row),
            Body::RowReply(m) => {
                w.u8(m.row);
                m.entries.encode(w);
            }
            Body::Routed(m) => {
                w.u64(m.msg_id);
                w.id(m.key);
                w.u8((u8::from(m.per_hop) * PER_HOP)
                    | (u8::from(m.handoff) * HANDOFF)
                    | (u8::from(m.signature.is_some()) * SIGNED)
                    | (u8::from(m.receipt) * RECEIPT)
                    | (m.attempt.min(MAX_ATTEMPT) << ATTEMPT_SHIFT));
                w.u8(m.hops);
                w.peer(&m.source);
                // `check` bounded the length to a u16.
                w.u16(m.payload.len() as u16);
                w.bytes(m.payload);
                if let Some(sig) = m.signature {
                    w.bytes(sig);
                }
            }
            Body::Ack(m) => w.u64(m.msg_id),
            Body::RouteFailed(RouteFailed { msg_id, key })
            | Body::Receipt(Receipt { msg_id, key }) => {
                w.u64(*msg_id);
                w.id(*key);
            }
            Body::Leave(m) => m.leaf_set.encode(w),
            Body::Hello(m) => m.encode(w),
            Body::Challenge(m) | Body::Confirm(m) => m.encode(w),
            Body::Ready | Body::Stale => {}
            Body::Query(m) => {
                w.u64(m.msg_id);
                w.id(m.key);
                w.id(m.target);
                w.u8(m.replicas);
                w.u8(m.hops);
                w.peer(&m.source);
            }
            Body::ReplicaSet(m) => {
                w.u64(m.msg_id);
                w.id(m.key);
                w.u8(u8::from(m.complete));
                m.leaf_set.encode(w);
            }
        }
    }
}
