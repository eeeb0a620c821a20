//! Outstanding probes: liveness checks of suspects, confirmation of leaf-set
//! candidates (MSPastry §3.1) and round-trip measurement for the routing
//! table's proximity invariant. Bounded; each has its own deadline.

use heapless::Vec;

use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;

/// Why a node is being probed; a stronger purpose replaces a weaker one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Purpose {
    /// Measure RTT of a routing-table candidate.
    Rtt,
    /// Confirm a leaf-set candidate before it enters the leaf set, make a
    /// new member learn of us, or ask a member for its leaf set (repair).
    LeafCandidate,
    /// A member has gone silent or missed an ack: is it alive? Routing
    /// avoids a suspect until it answers.
    Suspect,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) peer: Peer,
    pub(crate) nonce: u64,
    pub(crate) sent_at: Instant,
    pub(crate) deadline: Instant,
    pub(crate) tries_left: u8,
    pub(crate) purpose: Purpose,
    pub(crate) want_leaf_set: bool,
    /// Whether the probe was re-sent (Karn: no RTT sample from it then).
    pub(crate) resent: bool,
    /// Whether the peer sent us anything but the answer meanwhile: then,
    /// unanswered, the probe starts over with a new nonce rather than
    /// give a verdict (what was heard may have been an old copy).
    pub(crate) heard: bool,
    /// Whom to tell if it proves to have failed.
    pub(crate) tell: Tell,
}

/// Whom a node tells, with its leaf set, of a member it declared failed
/// (MSPastry §3.1's announcement). Each of a failed node's 16 members
/// telling all 16 of its own was 256 leaf sets per crash, and the probes
/// they prompted (#32: LeafSet alone 0.26 of 1.6 control messages per node
/// per second at 10-minute sessions).
///
/// Either every member (we found it silent ourselves, or a leaf set that
/// announced nothing left it out), or, when an announcing leaf set left it
/// out (so the members it lists know), only the `count` members on one
/// side (`right`) next beyond `past` (an id's first 32 bits, which leaf-set
/// neighbours do not share): those it did not list that hold the failed
/// node. Six bytes of alignment one, so they fit in a probe's padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tell {
    past: [u8; 4],
    count: u8,
    right: bool,
}

impl Tell {
    /// Every member.
    pub(crate) const EVERYONE: Tell = Tell {
        past: [0; 4],
        count: u8::MAX,
        right: false,
    };

    /// The `count` members on side `right` next beyond `past`.
    pub(crate) fn beyond(right: bool, past: Id, count: usize) -> Tell {
        Tell {
            past: top(past).to_be_bytes(),
            count: count.min(usize::from(u8::MAX - 1)) as u8,
            right,
        }
    }

    pub(crate) fn is_everyone(self) -> bool {
        self.count == u8::MAX
    }

    /// Whether to tell member `m` of our side `right` (taken nearest
    /// first), `taken` counting those already told on that side.
    pub(crate) fn takes(self, own: Id, m: Id, right: bool, taken: &mut u8) -> bool {
        if self.is_everyone() {
            return true;
        }
        if right != self.right || *taken >= self.count {
            return false;
        }
        let (own, past) = (top(own), u32::from_be_bytes(self.past));
        let ahead = |k: u32| {
            if right {
                k.wrapping_sub(own)
            } else {
                own.wrapping_sub(k)
            }
        };
        if ahead(top(m)) <= ahead(past) {
            return false;
        }
        *taken += 1;
        true
    }
}

/// An id's first 32 bits.
fn top(id: Id) -> u32 {
    let b = id.to_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[derive(Clone, Debug)]
pub(crate) struct Probes<const N: usize> {
    list: Vec<Probe, N>,
}

impl<const N: usize> Probes<N> {
    pub(crate) fn new() -> Probes<N> {
        Probes { list: Vec::new() }
    }

    pub(crate) fn find(&self, id: Id) -> Option<&Probe> {
        self.list.iter().find(|p| p.peer.id == id)
    }

    pub(crate) fn find_mut(&mut self, id: Id) -> Option<&mut Probe> {
        self.list.iter_mut().find(|p| p.peer.id == id)
    }

    /// Probes of `addr` waited for a handshake: they count from `now`,
    /// so the wait is not taken for the round trip.
    pub(crate) fn restart_clock(&mut self, addr: core::net::SocketAddr, now: Instant) {
        for p in self.list.iter_mut().filter(|p| p.peer.addr == addr) {
            let wait = p.deadline.saturating_duration_since(p.sent_at);
            p.sent_at = now;
            p.deadline = p.deadline.max(now + wait);
        }
    }

    pub(crate) fn is_suspect(&self, id: Id) -> bool {
        self.find(id).is_some_and(|p| p.purpose == Purpose::Suspect)
    }

    pub(crate) fn push(&mut self, p: Probe) -> bool {
        self.list.push(p).is_ok()
    }

    pub(crate) fn remove(&mut self, id: Id) -> Option<Probe> {
        let i = self.list.iter().position(|p| p.peer.id == id)?;
        Some(self.list.swap_remove(i))
    }

    /// `id` sent something other than an answer to its probe.
    pub(crate) fn heard_from(&mut self, id: Id) {
        if let Some(p) = self.find_mut(id) {
            p.heard = true;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn any(&self, f: impl Fn(&Probe) -> bool) -> bool {
        self.list.iter().any(f)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().map(|p| p.deadline).min()
    }

    /// The first probe whose deadline has passed.
    pub(crate) fn due(&self, now: Instant) -> Option<Probe> {
        self.list.iter().find(|p| p.deadline <= now).copied()
    }
}

/// Messages this node has handled, so a retransmission that crossed our
/// ack is not handled twice. Keyed by `(source, msg_id, handoff)`: a
/// message a root hands down the replica set may come back through a node
/// that forwarded it before, and must not be mistaken for a duplicate
/// there. A message this node originated may also come back once, from
/// another node (its source redirected it, and it is the root): that copy
/// is handled. Any other copy is a duplicate, so a routing loop or a
/// second path cannot deliver twice. A ring of the last `N`.
#[derive(Clone, Debug)]
pub(crate) struct SeenCache<const N: usize> {
    ring: Vec<Seen, N>,
    /// `ring[i]`'s message id, apart: every routed datagram scans the
    /// ids, a few cache lines instead of the whole ring.
    ids: Vec<u64, N>,
    next: usize,
}

/// One entry; flags and the tag fit what would be padding.
#[derive(Clone, Copy, Debug)]
struct Seen {
    source: Id,
    flags: u8,
    /// The previous hop's tag (16 bits of its id).
    from: u16,
}

const HANDOFF: u8 = 1;
const ORIGIN: u8 = 2;
/// The source's attempt ([`crate::wire::Routed::attempt`]) in bits 2–3:
/// a copy the source sent again is new to the relays.
const ATTEMPT_SHIFT: u8 = 2;
const ATTEMPT: u8 = crate::wire::MAX_ATTEMPT << ATTEMPT_SHIFT;
/// A copy of the message was delivered here (`receipts`).
const DELIVERED: u8 = 16;

fn hop_tag(id: Id) -> u16 {
    let b = id.to_bytes();
    u16::from_be_bytes([b[0], b[1]]) ^ u16::from_be_bytes([b[18], b[19]])
}

impl<const N: usize> SeenCache<N> {
    pub(crate) fn new() -> SeenCache<N> {
        SeenCache {
            ring: Vec::new(),
            ids: Vec::new(),
            next: 0,
        }
    }

    /// Records a message this node originates.
    pub(crate) fn originated(&mut self, source: Id, msg_id: u64) {
        self.push(
            msg_id,
            Seen {
                source,
                flags: ORIGIN,
                from: hop_tag(source),
            },
        );
    }

    /// Whether a copy of the message arriving from `from` is a duplicate.
    /// If not, it is recorded.
    pub(crate) fn check_and_record(
        &mut self,
        source: Id,
        msg_id: u64,
        (handoff, attempt): (bool, u8),
        from: Id,
    ) -> bool {
        let tag = hop_tag(from);
        let h = (u8::from(handoff) * HANDOFF) | ((attempt << ATTEMPT_SHIFT) & ATTEMPT);
        let found = self
            .ids
            .iter()
            .zip(self.ring.iter_mut())
            // The id first: it differs between almost all entries.
            .find(|(id, e)| {
                **id == msg_id && e.source == source && e.flags & (HANDOFF | ATTEMPT) == h
            })
            .map(|(_, e)| e);
        match found {
            // Back at its source from another node: handled, once.
            Some(e) if e.flags & ORIGIN != 0 && e.from != tag => {
                e.flags &= !ORIGIN;
                e.from = tag;
                false
            }
            Some(_) => true,
            None => {
                self.push(
                    msg_id,
                    Seen {
                        source,
                        flags: h,
                        from: tag,
                    },
                );
                false
            }
        }
    }

    /// Whether the message from `source` was marked delivered (at its
    /// source: receipted) among the last `N` seen. Records nothing.
    pub(crate) fn was_delivered(&self, source: Id, msg_id: u64) -> bool {
        self.ids
            .iter()
            .zip(self.ring.iter())
            .any(|(id, e)| *id == msg_id && e.source == source && e.flags & DELIVERED != 0)
    }

    /// Marks the message delivered here; whether a copy of it (any
    /// attempt) was delivered here before.
    pub(crate) fn delivered(&mut self, source: Id, msg_id: u64) -> bool {
        let mut first = None;
        for (id, e) in self.ids.iter().zip(self.ring.iter_mut()) {
            if *id == msg_id && e.source == source {
                if e.flags & DELIVERED != 0 {
                    return true;
                }
                first = first.or(Some(e));
            }
        }
        match first {
            Some(e) => e.flags |= DELIVERED,
            None => self.push(
                msg_id,
                Seen {
                    source,
                    flags: DELIVERED,
                    from: hop_tag(source),
                },
            ),
        }
        false
    }

    fn push(&mut self, msg_id: u64, e: Seen) {
        if N == 0 {
            return;
        }
        if self.ring.len() < N {
            let _ = self.ring.push(e);
            let _ = self.ids.push(msg_id);
        } else {
            self.ring[self.next] = e;
            self.ids[self.next] = msg_id;
            self.next = (self.next + 1) % N;
        }
    }
}
