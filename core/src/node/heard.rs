//! When leaf-set members were last heard from directly. A leaf set from a
//! member that omits one of ours hints that it failed (MSPastry), but
//! under churn leaf sets disagree for a while and most such hints are
//! wrong: measured at 2,000 nodes with 60-minute sessions, they were half
//! of all probes. A failure is announced only after a lease and a probe
//! cycle of silence, so a member heard within the lease cannot be what
//! the hint is about, and is not probed.

use heapless::Vec;

use crate::id::Id;
use crate::time::Instant;

/// Members are keyed by their id's first 64 bits (a collision within one
/// leaf set only skips a hint) and spread over two halves by that key, so
/// `N` per half covers a leaf set of `2N` in little memory.
///
/// A hint set aside because its member was heard lately is marked for a
/// recheck: what was heard may have been old (a datagram delayed,
/// duplicated or replayed), and once the other leaf sets have settled no
/// hint comes again. So when the lease since the member was last heard
/// runs out, it is probed after all. (Found by the `sim_faults` fuzz
/// target: a dead member kept for good.) One bit per entry.
#[derive(Clone, Debug)]
pub(crate) struct HeardLately<const N: usize> {
    halves: [Vec<(u64, Instant), N>; 2],
    /// Bit `j` of half `h`: entry `j` of that half awaits a recheck.
    recheck: [u32; 2],
}

fn key(id: Id) -> u64 {
    id.high_64()
}

impl<const N: usize> HeardLately<N> {
    pub(crate) fn new() -> Self {
        const { assert!(N <= 32, "one recheck bit per entry in a u32") };
        HeardLately {
            halves: [Vec::new(), Vec::new()],
            recheck: [0; 2],
        }
    }

    /// `id` was heard from at `now`; in its half, the least recently
    /// heard is forgotten when full. That one is likely a member gone
    /// silent, whose hint awaits a recheck: then its key is returned, to be
    /// probed now rather than never (after a crash its replacement in the
    /// leaf set was what pushed it out).
    pub(crate) fn note(&mut self, id: Id, now: Instant) -> Option<u64> {
        let k = key(id);
        let h = (k & 1) as usize;
        let list = &mut self.halves[h];
        if let Some(e) = list.iter_mut().find(|(i, _)| *i == k) {
            e.1 = now;
            return None;
        }
        let mut dropped = None;
        if list.is_full() {
            let oldest = (0..list.len()).min_by_key(|&j| list[j].1);
            if let Some(j) = oldest {
                // swap_remove moves the last entry (and its bit) to j.
                let last = list.len() - 1;
                let bits = &mut self.recheck[h];
                if *bits >> j & 1 == 1 {
                    dropped = Some(list[j].0);
                }
                let moved = if j == last { 0 } else { *bits >> last & 1 };
                *bits &= !(1 << j | 1 << last);
                *bits |= moved << j;
                list.swap_remove(j);
            }
        }
        let _ = list.push((k, now));
        dropped
    }

    /// Whether `id` was heard from at or after `since`.
    #[cfg(test)]
    pub(crate) fn since(&self, id: Id, since: Instant) -> bool {
        self.last(id).is_some_and(|t| t >= since)
    }

    /// When `id` was last heard from, if it is remembered.
    pub(crate) fn last(&self, id: Id) -> Option<Instant> {
        let k = key(id);
        self.halves[(k & 1) as usize]
            .iter()
            .find(|(i, _)| *i == k)
            .map(|(_, t)| *t)
    }

    /// Marks `id` (if remembered) for a recheck once `lease` has passed
    /// since it was last heard.
    pub(crate) fn recheck(&mut self, id: Id) {
        let k = key(id);
        let h = (k & 1) as usize;
        if let Some(j) = self.halves[h].iter().position(|(i, _)| *i == k) {
            self.recheck[h] |= 1 << j;
        }
    }

    /// A member marked for a recheck and not heard within `lease` of
    /// `now`, unmarked: its key (see [`HeardLately::is`]).
    pub(crate) fn take_due(&mut self, now: Instant, lease: core::time::Duration) -> Option<u64> {
        for h in 0..2 {
            for (j, (k, t)) in self.halves[h].iter().enumerate() {
                if self.recheck[h] >> j & 1 == 1 && *t + lease <= now {
                    self.recheck[h] &= !(1 << j);
                    return Some(*k);
                }
            }
        }
        None
    }

    /// Whether `id` is the member keyed `k`.
    pub(crate) fn is(id: Id, k: u64) -> bool {
        key(id) == k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_and_forgets_the_stalest() {
        // Ids whose keys fall in the same half (even first 64 bits).
        let id = |b: u8| Id::from_bytes([b * 2; 20]);
        let t = Instant::from_secs;
        let mut h: HeardLately<2> = HeardLately::new();
        h.note(id(1), t(1));
        h.note(id(2), t(2));
        h.note(id(1), t(3));
        h.note(id(3), t(4)); // forgets 2, heard last at 2
        assert!(h.since(id(1), t(3)) && !h.since(id(1), t(4)));
        assert!(!h.since(id(2), t(0)));
        assert!(h.since(id(3), t(4)));
        // The other half has room of its own.
        let odd = Id::from_bytes([1; 20]);
        h.note(odd, t(5));
        assert!(h.since(odd, t(5)) && h.since(id(1), t(3)));
        assert_eq!(h.last(id(1)), Some(t(3)));
    }

    #[test]
    fn a_recheck_comes_due_once_a_lease_after_last_heard() {
        let id = |b: u8| Id::from_bytes([b * 2; 20]);
        let t = Instant::from_secs;
        let lease = core::time::Duration::from_secs(10);
        let mut h: HeardLately<2> = HeardLately::new();
        h.note(id(1), t(1));
        h.note(id(2), t(2));
        h.recheck(id(1));
        assert_eq!(h.take_due(t(10), lease), None);
        h.note(id(1), t(5)); // heard again: due later
        assert_eq!(h.take_due(t(14), lease), None);
        assert!(HeardLately::<2>::is(
            id(1),
            h.take_due(t(15), lease).unwrap()
        ));
        assert_eq!(h.take_due(t(99), lease), None, "once");
        // The mark moves with its entry when another is forgotten.
        h.recheck(id(2));
        assert_eq!(h.note(id(1), t(20)), None);
        // Forgets 2 (oldest): its mark goes too, and its key comes back
        // to be probed now.
        let dropped = h.note(id(3), t(21));
        assert!(HeardLately::<2>::is(id(2), dropped.unwrap()));
        assert_eq!(h.take_due(t(99), lease), None);
        h.recheck(id(3));
        assert_eq!(h.note(id(4), t(22)), None); // forgets 1; 3's entry moves, and its mark
        assert!(HeardLately::<2>::is(
            id(3),
            h.take_due(t(99), lease).unwrap()
        ));
    }
}
