//! Scribe's messages: the payload of overlay messages of [`super::APP`]
//! (tree traffic, sent straight to a parent or child) and
//! [`super::ROUTE_APP`] (subscribes and anycasts, routed toward the group id
//! so the first tree node on the way can take them). One kind byte, the
//! group id, then the kind's fields, big-endian. Decoding is total and
//! borrows from the input, like the overlay codec.

use crate::id::{ID_BYTES, Id};
use crate::peer::Peer;
use crate::wire::DecodeError;
use crate::wire::cursor::{MAX_PEER_LEN, Reader, Writer};

/// Where the flags byte of a subscribe or an anycast sits (after the kind
/// and the group id), so the forwarder can mark it without decoding.
pub(crate) const FLAGS_AT: usize = 1 + ID_BYTES;
/// Set by the [`super::Joins`] forwarder when it hands a message to a node
/// on the way (not the group's root).
pub(crate) const ON_THE_WAY: u8 = 0x80;
/// A subscribe a full parent passed down to one of its children.
pub(crate) const PUSHED: u8 = 0x40;
/// A subscribe that names the parent the child lost.
const LOST: u8 = 0x20;
/// The lost parent went quiet (rather than dropping the child or losing
/// its own way to the root): nodes on the way that know it suspect it, so
/// routing goes around it and its leaf-set neighbour can stand in as root.
pub(crate) const SILENT: u8 = 0x08;
/// A subscribe from a node (or for a subtree) that was on the tree
/// before, with how long it may have missed publications: the adopter
/// sends it those it kept.
const REPLAY: u8 = 0x10;

/// One heartbeat entry: group id, depth, the root's tag and epoch.
pub(crate) const BEAT_ENTRY: usize = ID_BYTES + 1 + 4 + 4;

/// The largest header before a published payload (a `Data`).
pub const PUBLISH_OVERHEAD: usize = 1 + ID_BYTES + 8 + 1;
/// The header of an anycast before its visited list and payload.
pub const ANYCAST_OVERHEAD: usize = 1 + ID_BYTES + 1 + 8 + MAX_PEER_LEN + 1 + 1;

/// One Scribe message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg<'a> {
    /// Joins `child` to the group's tree (routed, or pushed down); `lost`
    /// is the parent it stopped hearing from, so that node's parent (often
    /// the first tree node on the way) stops passing children down to it;
    /// `missed` the seconds it (or a subtree it took) was cut off.
    Subscribe {
        group: Id,
        flags: u8,
        child: Peer,
        lost: Option<Id>,
        missed: Option<u16>,
    },
    /// Parent → children: the groups the receiver is a child in, each with
    /// the parent's depth (0 at the root; [`super::DETACHED`] while the
    /// parent itself has no way to the root) and the root's epoch as the
    /// parent last heard it. Also adopts a child.
    Beat { entries: &'a [u8] },
    /// Child → parent: a heartbeat is late; beat now if I am still your
    /// child (a parent that answers is alive, one that does not is given
    /// up on before a whole silent heartbeat).
    BeatAsk,
    /// `child` is no longer in the tree under the receiver.
    Leave { group: Id, child: Id },
    /// Publisher → the group's root.
    Publish { group: Id, id: u64, data: &'a [u8] },
    /// Parent → child: a publication flowing down the tree.
    Data {
        group: Id,
        id: u64,
        depth: u8,
        data: &'a [u8],
    },
    /// A depth-first walk of the tree for a member that accepts.
    Anycast {
        group: Id,
        flags: u8,
        op: u64,
        origin: Peer,
        budget: u8,
        visited: &'a [u8],
        data: &'a [u8],
    },
    /// The walk's end, to its origin: accepted by `by`, or by nobody.
    AnycastReply {
        group: Id,
        op: u64,
        by: Option<Peer>,
    },
}

mod kind {
    pub(super) const SUBSCRIBE: u8 = 1;
    pub(super) const BEAT: u8 = 2;
    pub(super) const LEAVE: u8 = 3;
    pub(super) const PUBLISH: u8 = 4;
    pub(super) const DATA: u8 = 5;
    pub(super) const ANYCAST: u8 = 6;
    pub(super) const ANYCAST_REPLY: u8 = 7;
    pub(super) const BEAT_ASK: u8 = 8;
}

/// The kinds the forwarder hands to nodes on the way.
pub(crate) fn is_taken_on_the_way(payload: &[u8]) -> bool {
    matches!(
        payload.first().copied(),
        Some(kind::SUBSCRIBE | kind::ANYCAST)
    )
}

/// A publication's group and id, if `payload` is a `Data` message (for
/// the simulator's per-publish accounting).
pub fn data_of(payload: &[u8]) -> Option<(Id, u64)> {
    match Msg::decode(payload) {
        Ok(Msg::Data { group, id, .. }) => Some((group, id)),
        _ => None,
    }
}

/// A subscribe's group and joining child, if `payload` is one (for the
/// simulator's per-member join costs).
pub fn subscribe_of(payload: &[u8]) -> Option<(Id, Id)> {
    match Msg::decode(payload) {
        Ok(Msg::Subscribe { group, child, .. }) => Some((group, child.id)),
        _ => None,
    }
}

/// An anycast step's group and operation id (the sender's
/// [`AnycastId`](super::AnycastId)), if `payload` is one.
pub fn anycast_of(payload: &[u8]) -> Option<(Id, u64)> {
    match Msg::decode(payload) {
        Ok(Msg::Anycast { group, op, .. }) => Some((group, op)),
        _ => None,
    }
}

/// Whether `payload` is a subscribe (routed or pushed down).
pub fn is_subscribe(payload: &[u8]) -> bool {
    payload.first() == Some(&kind::SUBSCRIBE)
}

/// Whether `payload` is an anycast or its reply.
pub fn is_anycast(payload: &[u8]) -> bool {
    matches!(
        payload.first().copied(),
        Some(kind::ANYCAST | kind::ANYCAST_REPLY)
    )
}

/// Whether `payload` is an anycast's reply to its sender.
pub fn is_anycast_reply(payload: &[u8]) -> bool {
    payload.first() == Some(&kind::ANYCAST_REPLY)
}

/// A visited-list entry: the first 8 bytes of a node id (a collision
/// skips a node in one walk, at odds of about n² / 2⁶⁵).
pub(crate) fn visit_tag(id: Id) -> [u8; 8] {
    let b = id.to_bytes();
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The root's epoch as heartbeats carry it: which root (a tag of its id)
/// and how many heartbeats it has counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch {
    /// The first four bytes of the root's id.
    pub root: u32,
    /// Its count.
    pub count: u32,
}

impl Epoch {
    /// The epoch a root starts with.
    pub(crate) fn of_root(root: Id) -> Epoch {
        let b = root.to_bytes();
        Epoch {
            root: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            count: 0,
        }
    }
}

/// Heartbeat entries as (group, depth, epoch).
pub(crate) fn beat_entries(entries: &[u8]) -> impl Iterator<Item = (Id, u8, Epoch)> + '_ {
    entries.chunks_exact(BEAT_ENTRY).map(|c| {
        let mut id = [0u8; ID_BYTES];
        id.copy_from_slice(&c[..ID_BYTES]);
        let e = &c[ID_BYTES + 1..];
        let epoch = Epoch {
            root: u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
            count: u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        };
        (Id::from_bytes(id), c[ID_BYTES], epoch)
    })
}

/// Appends one heartbeat entry.
pub(crate) fn put_beat_entry<const N: usize>(
    out: &mut heapless::Vec<u8, N>,
    group: Id,
    depth: u8,
    epoch: Epoch,
) {
    let _ = out.extend_from_slice(&group.to_bytes());
    let _ = out.push(depth);
    let _ = out.extend_from_slice(&epoch.root.to_be_bytes());
    let _ = out.extend_from_slice(&epoch.count.to_be_bytes());
}

impl<'a> Msg<'a> {
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Msg<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let k = r.u8()?;
        if k == kind::BEAT {
            let n = usize::from(r.u8()?);
            let entries = r.take(n * BEAT_ENTRY)?;
            if !r.is_empty() {
                return Err(DecodeError::TrailingBytes);
            }
            return Ok(Msg::Beat { entries });
        }
        if k == kind::BEAT_ASK {
            if !r.is_empty() {
                return Err(DecodeError::TrailingBytes);
            }
            return Ok(Msg::BeatAsk);
        }
        let group = r.id()?;
        let msg = match k {
            kind::SUBSCRIBE => {
                let flags = r.u8()?;
                if flags & !(ON_THE_WAY | PUSHED | LOST | REPLAY | SILENT) != 0 {
                    return Err(DecodeError::ReservedFlags);
                }
                let child = r.peer()?;
                let lost = if flags & LOST != 0 {
                    Some(r.id()?)
                } else {
                    None
                };
                let missed = if flags & REPLAY != 0 {
                    Some(r.u16()?)
                } else {
                    None
                };
                Msg::Subscribe {
                    group,
                    flags: flags & !(LOST | REPLAY),
                    child,
                    lost,
                    missed,
                }
            }
            kind::LEAVE => Msg::Leave {
                group,
                child: r.id()?,
            },
            kind::PUBLISH => Msg::Publish {
                group,
                id: r.u64()?,
                data: r.take(r.peek_rest().len())?,
            },
            kind::DATA => Msg::Data {
                group,
                id: r.u64()?,
                depth: r.u8()?,
                data: r.take(r.peek_rest().len())?,
            },
            kind::ANYCAST => {
                let flags = r.u8()?;
                if flags & !ON_THE_WAY != 0 {
                    return Err(DecodeError::ReservedFlags);
                }
                let (op, origin, budget) = (r.u64()?, r.peer()?, r.u8()?);
                let n = usize::from(r.u8()?);
                let visited = r.take(n * 8)?;
                Msg::Anycast {
                    group,
                    flags,
                    op,
                    origin,
                    budget,
                    visited,
                    data: r.take(r.peek_rest().len())?,
                }
            }
            kind::ANYCAST_REPLY => {
                let op = r.u64()?;
                let by = match r.u8()? {
                    0 => None,
                    1 => Some(r.peer()?),
                    _ => return Err(DecodeError::ReservedFlags),
                };
                Msg::AnycastReply { group, op, by }
            }
            other => return Err(DecodeError::UnknownKind(other)),
        };
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(msg)
    }

    /// Encodes into `buf`; the length, or `None` if it does not fit.
    pub(crate) fn encode(&self, buf: &mut [u8]) -> Option<usize> {
        let mut w = Writer::new(buf);
        match *self {
            Msg::Subscribe {
                group,
                flags,
                child,
                lost,
                missed,
            } => {
                let mut f = flags;
                if lost.is_some() {
                    f |= LOST;
                }
                if missed.is_some() {
                    f |= REPLAY;
                }
                w.u8(kind::SUBSCRIBE);
                w.id(group);
                w.u8(f);
                w.peer(&child);
                if let Some(id) = lost {
                    w.id(id);
                }
                if let Some(s) = missed {
                    w.u16(s);
                }
            }
            Msg::Beat { entries } => {
                w.u8(kind::BEAT);
                w.u8(u8::try_from(entries.len() / BEAT_ENTRY).ok()?);
                w.bytes(entries);
            }
            Msg::BeatAsk => w.u8(kind::BEAT_ASK),
            Msg::Leave { group, child } => {
                w.u8(kind::LEAVE);
                w.id(group);
                w.id(child);
            }
            Msg::Publish { group, id, data } => {
                w.u8(kind::PUBLISH);
                w.id(group);
                w.u64(id);
                w.bytes(data);
            }
            Msg::Data {
                group,
                id,
                depth,
                data,
            } => {
                w.u8(kind::DATA);
                w.id(group);
                w.u64(id);
                w.u8(depth);
                w.bytes(data);
            }
            Msg::Anycast {
                group,
                flags,
                op,
                origin,
                budget,
                visited,
                data,
            } => {
                w.u8(kind::ANYCAST);
                w.id(group);
                w.u8(flags);
                w.u64(op);
                w.peer(&origin);
                w.u8(budget);
                w.u8(u8::try_from(visited.len() / 8).ok()?);
                w.bytes(visited);
                w.bytes(data);
            }
            Msg::AnycastReply { group, op, by } => {
                w.u8(kind::ANYCAST_REPLY);
                w.id(group);
                w.u64(op);
                match by {
                    None => w.u8(0),
                    Some(p) => {
                        w.u8(1);
                        w.peer(&p);
                    }
                }
            }
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    fn peer(n: u8, v6: bool) -> Peer {
        let addr = if v6 {
            SocketAddr::new(
                Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n)).into(),
                9,
            )
        } else {
            SocketAddr::new(Ipv4Addr::new(10, 0, 0, n).into(), 4000)
        };
        Peer {
            id: Id::sha1(&[n]),
            addr,
        }
    }

    #[test]
    fn every_kind_round_trips_and_every_truncation_is_refused() {
        let g = Id::sha1(b"group");
        let beat = [7u8; 2 * BEAT_ENTRY];
        let visited = [3u8; 24];
        let msgs = [
            Msg::Subscribe {
                group: g,
                flags: ON_THE_WAY | PUSHED,
                child: peer(1, true),
                lost: Some(Id::sha1(b"p")),
                missed: Some(12),
            },
            Msg::Subscribe {
                group: g,
                flags: 0,
                child: peer(4, false),
                lost: None,
                missed: None,
            },
            Msg::Beat { entries: &beat },
            Msg::BeatAsk,
            Msg::Leave {
                group: g,
                child: Id::sha1(b"c"),
            },
            Msg::Publish {
                group: g,
                id: 9,
                data: b"hello",
            },
            Msg::Data {
                group: g,
                id: u64::MAX,
                depth: 3,
                data: b"",
            },
            Msg::Anycast {
                group: g,
                flags: 0,
                op: 5,
                origin: peer(2, false),
                budget: 40,
                visited: &visited,
                data: b"job",
            },
            Msg::AnycastReply {
                group: g,
                op: 5,
                by: Some(peer(3, false)),
            },
            Msg::AnycastReply {
                group: g,
                op: 6,
                by: None,
            },
        ];
        for m in msgs {
            let mut buf = [0u8; 512];
            let n = m.encode(&mut buf).expect("fits");
            assert_eq!(Msg::decode(&buf[..n]), Ok(m));
            // A message ending early is refused, except where the cut falls
            // at the end of a trailing byte string (which is then shorter).
            for cut in 0..n {
                if let Ok(short) = Msg::decode(&buf[..cut]) {
                    assert!(
                        matches!(
                            short,
                            Msg::Publish { .. } | Msg::Data { .. } | Msg::Anycast { .. }
                        ),
                        "{m:?} cut at {cut} decoded as {short:?}"
                    );
                }
            }
            assert!(
                m.encode(&mut buf[..n - 1]).is_none(),
                "{m:?} in too little room"
            );
        }
    }

    #[test]
    fn reserved_flags_and_unknown_kinds_are_refused() {
        let mut buf = [0u8; 128];
        let m = Msg::Subscribe {
            group: Id::ZERO,
            flags: 0,
            child: peer(1, false),
            lost: None,
            missed: None,
        };
        let n = m.encode(&mut buf).unwrap();
        buf[FLAGS_AT] = 0x01;
        assert_eq!(Msg::decode(&buf[..n]), Err(DecodeError::ReservedFlags));
        buf[0] = 99;
        assert_eq!(Msg::decode(&buf[..n]), Err(DecodeError::UnknownKind(99)));
        assert_eq!(Msg::decode(&[]), Err(DecodeError::Truncated));
    }
}
