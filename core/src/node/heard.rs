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
#[derive(Clone, Debug)]
pub(crate) struct HeardLately<const N: usize> {
    halves: [Vec<(u64, Instant), N>; 2],
}

fn key(id: Id) -> u64 {
    let b = id.to_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl<const N: usize> HeardLately<N> {
    pub(crate) fn new() -> Self {
        HeardLately {
            halves: [Vec::new(), Vec::new()],
        }
    }

    /// `id` was heard from at `now`; in its half, the least recently
    /// heard is forgotten when full.
    pub(crate) fn note(&mut self, id: Id, now: Instant) {
        let k = key(id);
        let list = &mut self.halves[(k & 1) as usize];
        if let Some(e) = list.iter_mut().find(|(i, _)| *i == k) {
            e.1 = now;
            return;
        }
        if list.is_full() {
            let oldest = (0..list.len()).min_by_key(|&j| list[j].1);
            if let Some(j) = oldest {
                list.swap_remove(j);
            }
        }
        let _ = list.push((k, now));
    }

    /// Whether `id` was heard from at or after `since`.
    pub(crate) fn since(&self, id: Id, since: Instant) -> bool {
        let k = key(id);
        self.halves[(k & 1) as usize]
            .iter()
            .any(|(i, t)| *i == k && *t >= since)
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
    }
}
