//! A fixed pool of message slots: every routed message a node holds (waiting
//! for a hop's ack, buffered while joining, or waiting to be polled as a
//! delivery) lives in one slot, so the payload memory is bounded by `POOL`.

use heapless::Vec;

use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::{AppId, HEADER_LEN_V6};

/// Largest routed payload: what fits a 1,280-byte datagram with an IPv6
/// sender and source (header 45 bytes, routed fields 71 bytes).
pub const MAX_PAYLOAD: usize = 1_280 - HEADER_LEN_V6 - ROUTED_OVERHEAD_V6;

/// Routed-message fields after the header, with an IPv6 source.
pub(crate) const ROUTED_OVERHEAD_V6: usize = 8 + 20 + 1 + 1 + 39 + 2;

use crate::config::MAX_TRIED;

/// What a slot carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carried {
    /// An application message.
    Routed,
    /// A join request for `joiner` (routed towards its id).
    Join { joiner: Peer },
}

impl Carried {
    /// The joiner's id, for a join request: never its own next hop.
    pub(crate) fn joiner(self) -> Option<Id> {
        match self {
            Carried::Join { joiner } => Some(joiner.id),
            Carried::Routed => None,
        }
    }
}

/// Where a slot is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotState {
    Free,
    /// Sent to `next`; waiting for its ack until `deadline`.
    Awaiting {
        next: Peer,
        sent_at: Instant,
        deadline: Instant,
    },
    /// Held by a node that is not active yet, until `deadline`.
    Buffered {
        deadline: Instant,
    },
    /// Waiting to be polled as a delivery.
    Delivering,
}

/// One message and its forwarding state.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// Bumped on every reuse, so stale references are detected.
    pub(crate) generation: u16,
    pub(crate) state: SlotState,
    pub(crate) carried: Carried,
    pub(crate) msg_id: u64,
    pub(crate) key: Id,
    pub(crate) app: AppId,
    pub(crate) per_hop: bool,
    pub(crate) handoff: bool,
    pub(crate) hops: u8,
    pub(crate) source: Peer,
    pub(crate) payload: Vec<u8, MAX_PAYLOAD>,
    /// Next hops already tried (they timed out), so reroutes avoid them.
    pub(crate) tried: Vec<Id, MAX_TRIED>,
    /// Sends so far (the first, then reroutes).
    pub(crate) attempts: u8,
    /// The current hop has had its one retransmission.
    pub(crate) retransmitted: bool,
    /// Held here, waiting for a suspected closer node (until sent on).
    pub(crate) held: bool,
}

/// A reference to a slot that stays valid only while the slot is not reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotRef {
    pub(crate) index: u16,
    pub(crate) generation: u16,
}

#[derive(Clone, Debug)]
pub(crate) struct Pool<const POOL: usize> {
    slots: Vec<Slot, POOL>,
}

impl<const POOL: usize> Pool<POOL> {
    pub(crate) fn new() -> Pool<POOL> {
        Pool { slots: Vec::new() }
    }

    /// A free slot, reset, or `None` when every slot is in use.
    pub(crate) fn alloc(&mut self, carried: Carried, source: Peer) -> Option<SlotRef> {
        let index = match self.slots.iter().position(|s| s.state == SlotState::Free) {
            Some(i) => i,
            None => {
                let fresh = Slot {
                    generation: 0,
                    state: SlotState::Free,
                    carried,
                    msg_id: 0,
                    key: Id::ZERO,
                    app: AppId::OVERLAY,
                    per_hop: false,
                    handoff: false,
                    hops: 0,
                    source,
                    payload: Vec::new(),
                    tried: Vec::new(),
                    attempts: 0,
                    retransmitted: false,
                    held: false,
                };
                self.slots.push(fresh).ok()?;
                self.slots.len() - 1
            }
        };
        let s = &mut self.slots[index];
        s.generation = s.generation.wrapping_add(1);
        s.state = SlotState::Buffered {
            deadline: Instant::MAX,
        };
        s.carried = carried;
        s.source = source;
        s.payload.clear();
        s.tried.clear();
        s.attempts = 0;
        s.retransmitted = false;
        s.held = false;
        s.handoff = false;
        Some(SlotRef {
            index: index as u16,
            generation: s.generation,
        })
    }

    pub(crate) fn get(&self, r: SlotRef) -> Option<&Slot> {
        self.slots
            .get(usize::from(r.index))
            .filter(|s| s.generation == r.generation && s.state != SlotState::Free)
    }

    pub(crate) fn get_mut(&mut self, r: SlotRef) -> Option<&mut Slot> {
        self.slots
            .get_mut(usize::from(r.index))
            .filter(|s| s.generation == r.generation && s.state != SlotState::Free)
    }

    pub(crate) fn free(&mut self, r: SlotRef) {
        if let Some(s) = self.get_mut(r) {
            s.state = SlotState::Free;
        }
    }

    /// Slots in use, with their references.
    pub(crate) fn in_use(&self) -> impl Iterator<Item = (SlotRef, &Slot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state != SlotState::Free)
            .map(|(i, s)| {
                (
                    SlotRef {
                        index: i as u16,
                        generation: s.generation,
                    },
                    s,
                )
            })
    }

    pub(crate) fn used(&self) -> usize {
        self.in_use().count()
    }
}
