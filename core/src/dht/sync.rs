//! Replica maintenance (PAST §3.2, made cheap in the way of later DHTs):
//! after a leaf-set change, and on a period, a node sends each neighbour a
//! *digest* (count and hash) of the values it holds in the range of keys
//! that neighbour should hold. A neighbour whose own digest differs answers
//! with a *listing* of its keys and versions there, and the holder pushes
//! what the listing lacks. Values move only where they are missing.
//!
//! Only one holder pushes a given value: a replica pushes it to a neighbour
//! only if, among the key's other replicas, it is the one nearest that
//! neighbour (whose leaf set surely spans the neighbour's range, so it
//! does send the digest), and the new replica gets one copy, not k − 1. A node that is no
//! longer a replica for a key always pushes it, and drops it only once every
//! current replica has confirmed holding it (a matching digest or a listing
//! with that version or newer): a value is never held by fewer nodes than
//! before because one left the replica set.

use core::time::Duration;

use heapless::Vec;

use super::msg::{LISTING_ENTRY, Msg, listing_entries};
use super::put::id_tag;
use super::store::{Meta, Store};
use super::{Deferred, Dht};
use crate::id::{Distance, Id};
use crate::leaf_set::NODE_SET_CAPACITY;
use crate::node::Kbr;
use crate::peer::Peer;
use crate::routing::KeyRange;
use crate::time::Instant;

/// Most entries in one listing (it fits a 1,280-byte datagram).
pub(super) const LISTING_MAX: usize = 36;
pub(super) const LISTING_BYTES: usize = LISTING_MAX * LISTING_ENTRY;
/// Values awaiting confirmation before they are dropped.
const MAX_HANDOFF: usize = 32;
/// Confirmations remembered per value (more than any replica set).
const MAX_CONFIRMED: usize = 16;

#[derive(Clone, Debug)]
struct Handoff {
    key: Id,
    version: u64,
    /// Tags of replicas that confirmed holding it.
    confirmed: Vec<u32, MAX_CONFIRMED>,
    /// Outside the leaf set's span: it was routed to the key's root.
    routed: bool,
}

/// When the next round runs, and the values being handed off.
#[derive(Clone, Debug, Default)]
pub(super) struct SyncState {
    next: Option<Instant>,
    handoff: Vec<Handoff, MAX_HANDOFF>,
    /// Rounds run in a row with hand-offs pending.
    backoff: u8,
    /// (neighbour tag, key): values a neighbour lacked that another
    /// replica should have pushed; pushed if still lacking next round.
    /// The third field is the round when it was noted.
    missing: Vec<(u32, Id, u64), MAX_MISSING>,
    /// Digests sent since the last full round: (neighbour tag,
    /// (count, hash)).
    sent: Vec<(u32, (u32, u64)), NODE_SET_CAPACITY>,
    /// When the next round sends every digest.
    full_at: Option<Instant>,
    /// Values this node is a replica for but diverted, for want of room,
    /// to `holder` (PAST §3.3): counted as held in digests and listings.
    pub(super) pointers: Vec<Pointer, MAX_POINTERS>,
}

/// A diverted replica: where it is.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pointer {
    pub(super) key: Id,
    pub(super) version: u64,
    pub(super) holder: Peer,
}

/// Diverted replicas one node keeps pointers to.
pub(super) const MAX_POINTERS: usize = 32;

/// Values remembered as lacking at a neighbour.
const MAX_MISSING: usize = 64;

impl SyncState {
    /// A leaf-set change: run a round soon (a burst shares one).
    pub(super) fn leaf_set_changed(&mut self, now: Instant, config: &super::DhtConfig) {
        let soon = now + config.sync_delay;
        self.next = Some(self.next.map_or(soon, |t| t.min(soon)));
    }

    /// Run a round a few `sync_delay`s from now, unless one is due sooner.
    pub(super) fn soon(&mut self, now: Instant, config: &super::DhtConfig) {
        let soon = now + config.sync_delay * 4;
        self.next = Some(self.next.map_or(soon, |t| t.min(soon)));
    }

    pub(super) fn next_round(&self) -> Option<Instant> {
        self.next
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|t| t <= now)
    }

    /// The digest of `store` over `range`.
    pub(super) fn digest_msg(&self, store: &impl Store, range: KeyRange) -> Msg<'static> {
        let (count, hash) = digest(store, &self.pointers, range);
        let confirm = self.handoff.iter().any(|h| range.contains(h.key));
        Msg::Digest {
            range,
            count,
            hash,
            confirm,
        }
    }

    /// `from` holds everything we hold in `range`.
    pub(super) fn confirm_range(&mut self, from: Peer, range: KeyRange) {
        let tag = id_tag(from.id);
        for h in self.handoff.iter_mut().filter(|h| range.contains(h.key)) {
            confirm(h, tag);
        }
    }

    pub(super) fn confirm_key(&mut self, from: Peer, key: Id, version: u64) {
        let tag = id_tag(from.id);
        if let Some(h) = self
            .handoff
            .iter_mut()
            .find(|h| h.key == key && version >= h.version)
        {
            confirm(h, tag);
        }
    }
}

fn confirm(h: &mut Handoff, tag: u32) {
    if !h.confirmed.contains(&tag) {
        if h.confirmed.is_full() {
            // The oldest confirmations are of nodes likely no longer in
            // the replica set.
            h.confirmed.remove(0);
        }
        let _ = h.confirmed.push(tag);
    }
}

/// Which keys this node is a replica for, and which it keeps a spare copy
/// of: the keys of its own KBR ranges, computed once (or, on a ring too
/// small for a range, key by key).
pub(super) struct Responsibility {
    range: Option<KeyRange>,
    keep: Option<KeyRange>,
    own: Id,
    k: usize,
    /// k + spares.
    kept: usize,
}

impl Responsibility {
    pub(super) fn of(node: &impl Kbr, k: usize, spares: usize) -> Responsibility {
        let own = node.own().id;
        let range = node.range(own, k);
        Responsibility {
            range,
            keep: if spares == 0 {
                range
            } else {
                node.range(own, k + spares)
            },
            own,
            k,
            kept: k + spares,
        }
    }

    /// Whether this node is among the `k` closest to `key` it knows of.
    pub(super) fn holds(&self, node: &impl Kbr, key: Id) -> bool {
        match self.range {
            Some(r) => r.contains(key),
            None => among(node, self.own, key, self.k),
        }
    }

    /// Whether this node keeps a copy of `key`: it is among the
    /// `k + spares` closest it knows of.
    pub(super) fn keeps(&self, node: &impl Kbr, key: Id) -> bool {
        match self.keep {
            Some(r) => r.contains(key),
            None => among(node, self.own, key, self.kept),
        }
    }
}

/// Whether `own` is among the `n` closest to `key` that `node` knows of.
pub(super) fn among(node: &impl Kbr, own: Id, key: Id, n: usize) -> bool {
    node.replica_set(key, n).iter().any(|p| p.id == own)
}

/// The keys of `store` in `range`, in clockwise order from its start.
pub(super) fn keys_in<S: Store>(
    store: &S,
    range: KeyRange,
) -> impl Iterator<Item = (Id, Meta)> + '_ {
    let mut wrapped = false;
    let mut cur = store.first_from(range.start);
    core::iter::from_fn(move || {
        loop {
            let (key, meta) = match cur {
                Some(x) => x,
                None if !wrapped => {
                    wrapped = true;
                    cur = store.first_from(Id::ZERO);
                    continue;
                }
                None => return None,
            };
            if wrapped && key >= range.start {
                return None;
            }
            if !range.contains(key) {
                return None;
            }
            cur = store.next_after(key);
            return Some((key, meta));
        }
    })
}

/// The keys in both arcs, if they overlap in one arc (arcs of nearby
/// nodes, each a few nodes wide, always do).
fn intersect(a: KeyRange, b: KeyRange) -> Option<KeyRange> {
    let whole = |r: KeyRange| r.start == r.end;
    if whole(a) {
        return Some(b);
    }
    if whole(b) {
        return Some(a);
    }
    let last = |r: KeyRange| r.end.wrapping_sub(Distance::ONE);
    let start = if a.contains(b.start) {
        b.start
    } else if b.contains(a.start) {
        a.start
    } else {
        return None;
    };
    let end = if a.contains(last(b)) { b.end } else { a.end };
    (start != end).then_some(KeyRange { start, end })
}

/// Count and order-independent hash of the (key, version) pairs in range,
/// the values held through a pointer included.
fn digest(store: &impl Store, pointers: &[Pointer], range: KeyRange) -> (u32, u64) {
    let held = keys_in(store, range).map(|(key, meta)| (key, meta.version));
    let pointed = pointers
        .iter()
        .filter(|p| range.contains(p.key) && store.get(p.key).is_none())
        .map(|p| (p.key, p.version));
    held.chain(pointed)
        .fold((0u32, 0u64), |(n, h), (key, version)| {
            (n.wrapping_add(1), h ^ entry_hash(key, version))
        })
}

fn entry_hash(key: Id, version: u64) -> u64 {
    let b = key.to_bytes();
    let mut x = version.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in b.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        x = mix(x ^ u64::from_be_bytes(w));
    }
    x
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A listing of `store` over `range` from its start, in `buf`.
pub(super) fn listing_msg<'b>(
    store: &impl Store,
    pointers: &[Pointer],
    range: KeyRange,
    buf: &'b mut [u8; LISTING_BYTES],
) -> Msg<'b> {
    let mut n = 0;
    let mut more = false;
    let mut put = |n: &mut usize, key: Id, version: u64| {
        let e = &mut buf[*n * LISTING_ENTRY..(*n + 1) * LISTING_ENTRY];
        e[..20].copy_from_slice(&key.to_bytes());
        e[20..].copy_from_slice(&version.to_be_bytes());
        *n += 1;
    };
    for (key, meta) in keys_in(store, range) {
        if n == LISTING_MAX {
            more = true;
            break;
        }
        put(&mut n, key, meta.version);
    }
    // Values held through a pointer, after the rest (only in a listing
    // that is complete, whose last entry does not bound a next page).
    if !more {
        let pointed = pointers
            .iter()
            .filter(|p| range.contains(p.key) && store.get(p.key).is_none());
        for p in pointed {
            if n == LISTING_MAX {
                break;
            }
            put(&mut n, p.key, p.version);
        }
    }
    Msg::Listing {
        range,
        more,
        entries: &buf[..n * LISTING_ENTRY],
    }
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// One maintenance round: settle hand-offs, then send each neighbour a
    /// digest of what it should hold.
    pub(super) fn sync_round(&mut self, now: Instant, node: &mut impl Kbr) {
        let jitter = self
            .rng
            .below(self.config.sync_period.as_millis() as u64 / 10 + 1);
        self.sync.next = Some(now + self.config.sync_period + Duration::from_millis(jitter));
        self.stats.sync_rounds += 1;
        // What was noted missing before the last round had its second
        // chance then.
        let round = self.stats.sync_rounds;
        self.sync.missing.retain(|m| m.2 + 2 > round);
        if !node.is_active() {
            return;
        }
        // Eager spares are synced like replicas; the lazy ones are kept.
        let k = self.maintained(node);
        // Eager spares the leaf set cannot keep in sync stay lazy ones.
        let lazy = self.config.replicas + self.config.spares - k;
        let mine = Responsibility::of(node, k, lazy);
        self.settle_handoffs(now, node, &mine);
        if self.sync.handoff.is_empty() {
            self.sync.backoff = 0;
        } else {
            // Values wait to be confirmed: look again soon, then less often
            // (a replica that cannot store them must not keep us busy).
            let wait = (self.config.sync_delay * 4) * (1 << self.sync.backoff.min(6));
            self.sync.backoff = self.sync.backoff.saturating_add(1);
            let soon = now + wait.min(self.config.sync_period);
            self.sync.next = self.sync.next.map(|t| t.min(soon));
        }
        // A neighbour that was sent this digest, and did not answer that it
        // differs, holds those values: skip it until the next full round
        // (a lost digest or a listing that did not arrive is caught there).
        let full = self.sync.full_at.is_none_or(|t| t <= now);
        if full {
            self.sync.full_at = Some(now + self.config.sync_period);
            self.sync.sent.clear();
        }
        for m in node.neighbor_set(NODE_SET_CAPACITY) {
            let Some(theirs) = node.range(m.id, k) else {
                continue;
            };
            // The keys both should hold: there both hold the same values
            // once in sync, so the digests match. Values handed off lie
            // outside our range: then their whole range is compared.
            let handoff = self.sync.handoff.iter().any(|h| theirs.contains(h.key));
            let range = match mine.range {
                Some(ours) if !handoff => match intersect(ours, theirs) {
                    Some(r) => r,
                    None => continue,
                },
                _ => theirs,
            };
            let tag = id_tag(m.id);
            if keys_in(&self.store, range).next().is_none() {
                // Nothing to compare now; forget what was: the neighbour
                // may drop values outside its range, and a digest that
                // matched before would wrongly be skipped when the range
                // grows back (after crashes).
                self.sync.sent.retain(|s| s.0 != tag);
                continue;
            }
            let d = digest(&self.store, &self.sync.pointers, range);
            // The same values as last time (the range may have moved with
            // the leaf set, but over no key).
            let seen = self.sync.sent.iter().any(|s| (s.0, s.1) == (tag, d));
            if seen && !handoff {
                continue;
            }
            if self.maintenance_full() {
                // The rest next round, which is brought forward.
                self.sync.soon(now, &self.config);
                break;
            }
            self.sync.sent.retain(|s| s.0 != tag);
            if self.send(now, node, Deferred::Digest { to: m, range }) {
                if self.sync.sent.is_full() {
                    self.sync.sent.remove(0);
                }
                let _ = self.sync.sent.push((tag, d));
            }
        }
        // A replica whose range the leaf set cannot tell (near its edge)
        // is asked about each value handed off alone.
        let mut asks: Vec<(Peer, Id), { 2 * MAX_HANDOFF }> = Vec::new();
        for h in self.sync.handoff.iter().filter(|h| !h.routed) {
            for p in node.replica_set(h.key, k) {
                if !h.confirmed.contains(&id_tag(p.id)) && node.range(p.id, k).is_none() {
                    let _ = asks.push((p, h.key));
                }
            }
        }
        for (to, key) in asks {
            let range = KeyRange {
                start: key,
                end: key.wrapping_add(Distance::ONE),
            };
            self.send(now, node, Deferred::Digest { to, range });
        }
    }

    /// Finds values this node is no longer a replica for, and drops those
    /// every current replica has confirmed.
    fn settle_handoffs(&mut self, now: Instant, node: &mut impl Kbr, mine: &Responsibility) {
        // Entries whose node is a replica or a spare again are no longer
        // hand-offs, and pointers of keys it is no longer a replica for
        // are let go.
        self.sync.handoff.retain(|h| !mine.keeps(node, h.key));
        self.sync.pointers.retain(|p| mine.holds(node, p.key));
        self.drop_confirmed(node, true);
        // New hand-offs.
        let mut cur = self.store.first_from(Id::ZERO);
        while let Some((key, meta)) = cur {
            cur = self.store.next_after(key);
            if self.sync.handoff.is_full() {
                break;
            }
            if self.sync.handoff.iter().any(|h| h.key == key) {
                continue;
            }
            // A diverted copy stays where its replica put it, and a spare
            // stays while it is one.
            if meta.diverted || mine.keeps(node, key) {
                continue;
            }
            let routed = !node.covers(key);
            let h = Handoff {
                key,
                version: meta.version,
                confirmed: Vec::new(),
                routed,
            };
            let _ = self.sync.handoff.push(h);
            if routed {
                // Beyond the leaf set: give it to the key's root, which
                // replicates it; dropped next round.
                let push = Deferred::Push {
                    to: None,
                    key,
                    op: 0,
                    client: None,
                };
                self.send(now, node, push);
            }
        }
    }

    /// Drops the values handed off that every current replica confirmed
    /// (and, at a round, those routed to their root in the last one).
    pub(super) fn drop_confirmed(&mut self, node: &impl Kbr, round: bool) {
        let k = self.maintained(node);
        let mut drop: Vec<Id, MAX_HANDOFF> = Vec::new();
        for h in self.sync.handoff.iter() {
            let done = if h.routed {
                round
            } else if h.confirmed.len() < k {
                // Cannot be all k yet: spare the replica-set computation.
                false
            } else {
                let rs = node.replica_set(h.key, k);
                rs.iter().all(|p| h.confirmed.contains(&id_tag(p.id)))
            };
            if done {
                let _ = drop.push(h.key);
            }
        }
        for &key in &drop {
            if self.store.remove(key) {
                self.stats.handed_off += 1;
            }
        }
        let store = &self.store;
        self.sync.handoff.retain(|h| store.get(h.key).is_some());
    }

    /// A neighbour's digest of what it holds in a range we should hold.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_digest(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: Peer,
        range: KeyRange,
        count: u32,
        hash: u64,
        confirm: bool,
    ) {
        if digest(&self.store, &self.sync.pointers, range) == (count, hash) {
            if confirm {
                self.send(now, node, Deferred::Match { to: from, range });
            }
        } else {
            self.send(now, node, Deferred::Listing { to: from, range });
        }
    }

    /// A neighbour's listing of a range it should hold: push what it lacks.
    pub(super) fn on_listing(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: Peer,
        range: KeyRange,
        more: bool,
        entries: &[u8],
    ) {
        // It differs: send it the digest again next round.
        let tag = id_tag(from.id);
        self.sync.sent.retain(|s| s.0 != tag);
        let last = listing_entries(entries).last().map(|(k, _)| k);
        // The part of the range this listing covers.
        let covered = match (more, last) {
            (true, Some(last)) => KeyRange {
                start: range.start,
                end: last.wrapping_add(Distance::ONE),
            },
            _ => range,
        };
        for (key, version) in listing_entries(entries) {
            self.sync.confirm_key(from, key, version);
        }
        self.drop_confirmed(node, false);
        let own = node.own().id;
        let k = self.maintained(node);
        let mut pushes: Vec<Id, { 2 * LISTING_MAX }> = Vec::new();
        for (key, meta) in keys_in(&self.store, covered) {
            let theirs = listing_entries(entries).find(|(k2, _)| *k2 == key);
            if theirs.is_some_and(|(_, v)| v >= meta.version) {
                continue;
            }
            let rs = node.replica_set(key, k);
            // A value being handed off is always pushed; a replica's or a
            // spare's only by the one designated, or if still missing.
            let handoff = self.sync.handoff.iter().any(|h| h.key == key);
            let designated = rs
                .iter()
                .filter(|p| p.id != from.id)
                .min_by_key(|p| p.id.ring_distance(from.id))
                .is_some_and(|p| p.id == own);
            // Not ours to push: unless it is still missing at the next
            // round (the one who should push may have failed unnoticed).
            let tag = id_tag(from.id);
            let second = self
                .sync
                .missing
                .iter()
                .position(|m| (m.0, m.1) == (tag, key));
            let push = handoff || designated || second.is_some();
            if let Some(i) = second {
                self.sync.missing.swap_remove(i);
            } else if !push {
                let _ = self.sync.missing.push((tag, key, self.stats.sync_rounds));
                self.sync.soon(now, &self.config);
            }
            if push && pushes.push(key).is_err() {
                // The rest goes next round.
                break;
            }
        }
        let me = node.own();
        for key in pushes {
            // A value handed off asks for an ack: it confirms the copy.
            let handoff = self.sync.handoff.iter().any(|h| h.key == key);
            let push = Deferred::Push {
                to: Some(from),
                key,
                op: 0,
                client: handoff.then_some(me),
            };
            self.send(now, node, push);
        }
        if let (true, Some(last)) = (more, last) {
            let rest = KeyRange {
                start: last.wrapping_add(Distance::ONE),
                end: range.end,
            };
            self.send(
                now,
                node,
                Deferred::Digest {
                    to: from,
                    range: rest,
                },
            );
        }
    }
}
