//! Expiry: values put with a time to live, and the tombstones deletions
//! leave, are dropped when their time is up. One sweep over the store at
//! the earliest expiry, at most once a [`GRANULARITY`], so a burst of
//! expiries costs one pass and a value outlives its time by at most that.

use core::time::Duration;

use super::{Dht, Store};
use crate::id::Id;
use crate::time::Instant;

/// The least time between two sweeps.
pub const GRANULARITY: Duration = Duration::from_secs(1);

/// When the next sweep is due.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sweep {
    next: Option<Instant>,
}

impl Default for Sweep {
    /// Due at once: a store handed in full (from disk) may hold values
    /// whose time is up.
    fn default() -> Sweep {
        Sweep {
            next: Some(Instant::ZERO),
        }
    }
}

impl Sweep {
    /// A value stored here expires at `t`.
    pub(super) fn due(&mut self, t: Instant) {
        self.next = Some(self.next.map_or(t, |n| n.min(t)));
    }

    /// When [`Dht::sweep_expired`] is next due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.next
    }
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// Drops what has expired, if a sweep is due, and schedules the next.
    pub(super) fn sweep_expired(&mut self, now: Instant) {
        if self.sweep.next.is_none_or(|t| t > now) {
            return;
        }
        let mut earliest: Option<Instant> = None;
        let mut cur = self.store.first_from(Id::ZERO);
        while let Some((key, meta)) = cur {
            cur = self.store.next_after(key);
            match meta.expires {
                Some(t) if t <= now => {
                    self.store.remove(key);
                    self.stats.expired += 1;
                }
                Some(t) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                None => {}
            }
        }
        self.sweep.next = earliest.map(|t| t.max(now + GRANULARITY));
    }
}
