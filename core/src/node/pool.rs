//! A fixed pool of message slots: every routed message a node holds (waiting
//! for a hop's ack, buffered while joining, or waiting to be polled as a
//! delivery) lives in one slot, so the number of messages is bounded by
//! `POOL`. Their payloads share one store of `POOL` × [`SLOT_BYTES`] bytes,
//! kept contiguous (a freed payload's bytes close up behind it), so a
//! node holding mostly small messages (acks aside, most of Pastry's are:
//! heartbeats, subscribes, lookups) does not reserve a full datagram for
//! each, as smoltcp's packet buffers keep metadata and payload apart.

use heapless::Vec;

use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::{AppId, HEADER_LEN_V6, SOURCE_SIGNATURE_BYTES};

/// A source's public key and signature, as a routed message carries them.
pub(crate) type Signed = [u8; SOURCE_SIGNATURE_BYTES];

/// Largest routed payload: what fits a 1,280-byte datagram with an IPv6
/// sender and source (header 45 bytes, routed fields 71 bytes).
pub const MAX_PAYLOAD: usize = 1_280 - HEADER_LEN_V6 - ROUTED_OVERHEAD_V6;

/// Payload bytes each slot brings to the pool's shared store. A full-size
/// payload takes the share of about two and a half slots; a node with
/// fewer than three slots routes payloads only up to its store's size.
pub const SLOT_BYTES: usize = 512;

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
    /// A secure query (no payload) for `key`'s `replicas` closest nodes,
    /// routed through constrained tables towards the slot's key (the
    /// query's target).
    Query { replicas: u8, key: Id },
}

impl Carried {
    /// The joiner's id, for a join request: never its own next hop.
    pub(crate) fn joiner(self) -> Option<Id> {
        match self {
            Carried::Join { joiner } => Some(joiner.id),
            Carried::Routed | Carried::Query { .. } => None,
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
    /// A message of ours its first hop acked: kept until the node that
    /// delivers it sends a receipt, or sent again at `deadline`.
    Custody {
        deadline: Instant,
    },
    /// A `secure_route` message waiting for its key's roots.
    #[cfg_attr(not(feature = "secure-routing"), allow(dead_code))]
    Securing,
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
    /// Its source asked for a receipt ([`crate::wire::Routed::receipt`]).
    pub(crate) receipt: bool,
    /// The source's sends before this one ([`crate::wire::Routed::attempt`]).
    pub(crate) attempt: u8,
    pub(crate) hops: u8,
    pub(crate) source: Peer,
    /// Where the payload lies in the pool's store, and its length; the
    /// source's signature, if it has one, follows it there.
    /// (u32: a store is far smaller, and the slot stays within its size.)
    at: u32,
    len: u32,
    signed: bool,
    /// Next hops already tried (they timed out), so reroutes avoid them.
    pub(crate) tried: Vec<Id, MAX_TRIED>,
    /// Sends so far (the first, then reroutes).
    pub(crate) attempts: u8,
    /// The current hop has had its one retransmission.
    pub(crate) retransmitted: bool,
    /// Held here, waiting for a suspected closer node (until sent on).
    pub(crate) held: bool,
    /// The source is authenticated: this node, or the previous hop over a
    /// verified session ([`super::Delivery::authenticated`]).
    pub(crate) authenticated: bool,
}

impl Slot {
    /// Where its payload lies in the store, and its length.
    fn span(&self) -> (usize, usize) {
        (self.at as usize, self.len as usize)
    }
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
    /// The payloads, back to back from the start: `store[..used]`.
    store: [[u8; SLOT_BYTES]; POOL],
    used: usize,
}

impl<const POOL: usize> Pool<POOL> {
    /// The store's size: the largest payload a slot can hold.
    pub(crate) const BYTES: usize = POOL * SLOT_BYTES;

    pub(crate) fn new() -> Pool<POOL> {
        Pool {
            slots: Vec::new(),
            store: [[0; SLOT_BYTES]; POOL],
            used: 0,
        }
    }

    /// A free slot, reset, holding `payload`; `None` when every slot is in
    /// use or the store lacks room for the payload.
    pub(crate) fn alloc(
        &mut self,
        carried: Carried,
        source: Peer,
        payload: &[u8],
        signature: Option<&Signed>,
    ) -> Option<SlotRef> {
        if payload.len() + signature.map_or(0, |s| s.len()) > self.free_bytes() {
            return None;
        }
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
                    receipt: false,
                    attempt: 0,
                    hops: 0,
                    source,
                    at: 0,
                    len: 0,
                    signed: false,
                    tried: Vec::new(),
                    attempts: 0,
                    retransmitted: false,
                    held: false,
                    authenticated: false,
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
        s.tried.clear();
        s.attempts = 0;
        s.retransmitted = false;
        s.held = false;
        s.handoff = false;
        s.receipt = false;
        s.attempt = 0;
        s.authenticated = false;
        let r = SlotRef {
            index: index as u16,
            generation: s.generation,
        };
        self.append(index, payload, signature);
        Some(r)
    }

    /// The source's signature of the message in `r`, if it has one.
    pub(crate) fn signature(&self, r: SlotRef) -> Option<&Signed> {
        let (at, len) = self.get(r).filter(|s| s.signed)?.span();
        let at = at + len;
        self.store.as_flattened()[at..at + SOURCE_SIGNATURE_BYTES]
            .try_into()
            .ok()
    }

    /// Adds the source's signature to the message in `r` (moved to the
    /// end of the store with it); `false` if the store has no room.
    pub(crate) fn sign(&mut self, r: SlotRef, signature: &Signed) -> bool {
        let Some((at, len)) = self.get(r).map(Slot::span) else {
            return false;
        };
        if SOURCE_SIGNATURE_BYTES + len > self.free_bytes() + self.held(usize::from(r.index)) {
            return false;
        }
        let mut payload = [0u8; MAX_PAYLOAD];
        payload[..len].copy_from_slice(&self.store.as_flattened()[at..at + len]);
        self.release(usize::from(r.index));
        self.append(usize::from(r.index), &payload[..len], Some(signature));
        true
    }

    /// The payload of the message in `r` (empty if `r` is stale).
    pub(crate) fn payload(&self, r: SlotRef) -> &[u8] {
        match self.get(r) {
            Some(s) => {
                let (at, len) = s.span();
                &self.store.as_flattened()[at..at + len]
            }
            None => &[],
        }
    }

    /// Replaces the payload of the message in `r`: in place if it is the
    /// same, else moved to the end, without the source's signature (which
    /// no longer covers it). `false` (and the old payload kept) if the
    /// store has no room for the new one.
    pub(crate) fn set_payload(&mut self, r: SlotRef, payload: &[u8]) -> bool {
        let Some((at, old)) = self.get(r).map(Slot::span) else {
            return false;
        };
        if self.store.as_flattened()[at..at + old] == *payload {
            return true;
        }
        if payload.len() > self.free_bytes() + self.held(usize::from(r.index)) {
            return false;
        }
        self.release(usize::from(r.index));
        self.append(usize::from(r.index), payload, None);
        true
    }

    /// Store bytes slot `index` holds: payload and signature.
    fn held(&self, index: usize) -> usize {
        let s = &self.slots[index];
        s.span().1 + usize::from(s.signed) * SOURCE_SIGNATURE_BYTES
    }

    /// Payload bytes still free in the store.
    pub(crate) fn free_bytes(&self) -> usize {
        Self::BYTES - self.used
    }

    /// Puts `payload` and `signature` (which fit) at the end of the store
    /// for slot `index`.
    fn append(&mut self, index: usize, payload: &[u8], signature: Option<&Signed>) {
        let at = self.used;
        let store = self.store.as_flattened_mut();
        store[at..at + payload.len()].copy_from_slice(payload);
        let mut end = at + payload.len();
        if let Some(sig) = signature {
            store[end..end + sig.len()].copy_from_slice(sig);
            end += sig.len();
        }
        self.used = end;
        let s = &mut self.slots[index];
        // Both within the store, whose size is far below u32::MAX.
        s.at = at as u32;
        s.len = payload.len() as u32;
        s.signed = signature.is_some();
    }

    /// Closes up slot `index`'s bytes: what lies behind moves down.
    fn release(&mut self, index: usize) {
        let (at, len) = (self.slots[index].span().0, self.held(index));
        if len == 0 {
            return;
        }
        self.store
            .as_flattened_mut()
            .copy_within(at + len..self.used, at);
        self.used -= len;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if i != index && s.span().0 > at && (s.len > 0 || s.signed) {
                s.at -= len as u32;
            }
        }
        self.slots[index].len = 0;
        self.slots[index].signed = false;
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
        if self.get(r).is_some() {
            self.release(usize::from(r.index));
            self.slots[usize::from(r.index)].state = SlotState::Free;
        }
    }

    /// Hops to `addr` waited for a handshake: their round trip counts
    /// from `now`, and their ack has at least as long again.
    pub(crate) fn restart_clocks(&mut self, addr: core::net::SocketAddr, now: Instant) {
        for s in self.slots.iter_mut() {
            if let SlotState::Awaiting {
                next,
                sent_at,
                deadline,
            } = &mut s.state
            {
                if next.addr == addr {
                    let wait = deadline.saturating_duration_since(*sent_at);
                    *sent_at = now;
                    *deadline = (*deadline).max(now + wait);
                }
            }
        }
    }

    /// Slots free (never used, or freed).
    #[cfg(feature = "secure-routing")]
    pub(crate) fn free_slots(&self) -> usize {
        POOL - self
            .slots
            .iter()
            .filter(|s| s.state != SlotState::Free)
            .count()
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

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::rng::SmallRng;

    fn me() -> Peer {
        Peer::new(Id::ZERO, "127.0.0.1:1".parse().unwrap())
    }

    /// Random allocs (some signed), frees, payload swaps and signings
    /// against a model that keeps every message apart: contents,
    /// signatures, counts and free bytes always agree.
    #[test]
    fn packed_payloads_match_a_model() {
        const POOL: usize = 6;
        type Model = StdVec<(SlotRef, StdVec<u8>, Option<Signed>)>;
        fn held(model: &Model) -> usize {
            let sig = |s: &Option<Signed>| s.map_or(0, |s| s.len());
            model.iter().map(|(_, p, s)| p.len() + sig(s)).sum()
        }
        let mut rng = SmallRng::new(7);
        let mut pool = Pool::<POOL>::new();
        let mut model: Model = StdVec::new();
        let (mut refused_bytes, mut refused_slots, mut signed) = (0, 0, 0);
        for step in 0..20_000u32 {
            let len = match rng.below(4) {
                0 => 0,
                1 => rng.below(64) as usize,
                2 => rng.below(SLOT_BYTES as u64 * 2) as usize,
                _ => rng.below(MAX_PAYLOAD as u64 + 1) as usize,
            };
            let bytes: StdVec<u8> = (0..len).map(|i| (step as usize + i) as u8).collect();
            let sig: Option<Signed> = (rng.below(2) == 0).then_some([step as u8; 96]);
            let before = held(&model);
            match rng.below(4) {
                0 => match pool.alloc(Carried::Routed, me(), &bytes, sig.as_ref()) {
                    Some(r) => model.push((r, bytes, sig)),
                    None if model.len() == POOL => refused_slots += 1,
                    None => {
                        let need = len + sig.map_or(0, |s| s.len());
                        assert!(before + need > Pool::<POOL>::BYTES, "refused with room");
                        refused_bytes += 1;
                    }
                },
                1 if !model.is_empty() => {
                    let (r, ..) = model.swap_remove(rng.below(model.len() as u64) as usize);
                    pool.free(r);
                    assert!(pool.get(r).is_none(), "a freed reference goes stale");
                    assert!(pool.payload(r).is_empty() && pool.signature(r).is_none());
                }
                2 if !model.is_empty() => {
                    let i = rng.below(model.len() as u64) as usize;
                    let old = model[i].1.len() + model[i].2.map_or(0, |s| s.len());
                    let fits = model[i].1 == bytes || before - old + len <= Pool::<POOL>::BYTES;
                    assert_eq!(pool.set_payload(model[i].0, &bytes), fits);
                    if fits && model[i].1 != bytes {
                        // The same bytes keep their signature; others lose it.
                        model[i].1 = bytes;
                        model[i].2 = None;
                    }
                }
                _ if !model.is_empty() => {
                    let i = rng.below(model.len() as u64) as usize;
                    let old = model[i].1.len() + model[i].2.map_or(0, |s| s.len());
                    let fits = before - old + model[i].1.len() + 96 <= Pool::<POOL>::BYTES;
                    let sig = [step as u8 ^ 0x5a; 96];
                    assert_eq!(pool.sign(model[i].0, &sig), fits);
                    if fits {
                        model[i].2 = Some(sig);
                        signed += 1;
                    }
                }
                _ => {}
            }
            assert_eq!(
                pool.free_bytes(),
                Pool::<POOL>::BYTES - held(&model),
                "step {step}"
            );
            assert_eq!(pool.used(), model.len());
            for (r, p, s) in &model {
                assert_eq!(pool.payload(*r), p.as_slice(), "step {step}");
                assert_eq!(pool.signature(*r), s.as_ref(), "step {step}");
            }
        }
        assert!(
            refused_bytes > 30 && refused_slots > 30 && signed > 30,
            "every case exercised: {refused_bytes}, {refused_slots}, {signed}"
        );
    }

    /// Small messages fill every slot; one full-size payload takes the room
    /// of more than two shares.
    #[test]
    fn slots_and_bytes_both_bound_the_pool() {
        let mut pool = Pool::<4>::new();
        let full = [9u8; MAX_PAYLOAD];
        let a = pool.alloc(Carried::Routed, me(), &full, None).unwrap();
        assert!(pool.alloc(Carried::Routed, me(), &full, None).is_none());
        let small: StdVec<_> = (0..3)
            .map(|i| pool.alloc(Carried::Routed, me(), &[i; 40], None).unwrap())
            .collect();
        assert!(
            pool.alloc(Carried::Routed, me(), &[], None).is_none(),
            "slots full"
        );
        pool.free(a);
        for (i, r) in small.iter().enumerate() {
            assert_eq!(pool.payload(*r), [i as u8; 40], "moved down intact");
        }
        assert_eq!(pool.free_bytes(), 4 * SLOT_BYTES - 120);
    }
}
