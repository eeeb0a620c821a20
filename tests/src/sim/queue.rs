//! The simulator's event queue: a radix heap (Ahuja, Mehlhorn, Orlin and
//! Tarjan, 1990). Events come out in (time, scheduling order), exactly as
//! from a binary heap, but cheaper: a discrete-event simulation never
//! schedules before the event it is running, so keys only grow, and a
//! radix heap files each key by its highest bit that differs from the last
//! one taken. An event moves between buckets a few times at most instead
//! of sifting through a heap of hundreds of thousands (the binary heap was
//! an eighth of a 10,000-node run).

use pastry_core::Instant;

/// Buckets: one for the last key itself, one per bit of a `u128`.
const BUCKETS: usize = 129;

#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    /// The key last taken; every key held is at least this.
    last: u128,
    /// Bucket `b > 0` holds keys whose highest bit differing from `last`
    /// is bit `b - 1`; bucket 0 holds `last` itself.
    buckets: Vec<Vec<(u128, T)>>,
    /// Events scheduled so far: the tie-break of equal times.
    seq: u64,
}

/// The key of an event at `at`, the `seq`-th scheduled: time first, then
/// scheduling order, so ties keep the order they were scheduled in.
fn key(at: Instant, seq: u64) -> u128 {
    (u128::from(at.as_micros()) << 64) | u128::from(seq)
}

impl<T> EventQueue<T> {
    pub(crate) fn new() -> EventQueue<T> {
        EventQueue {
            last: 0,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            seq: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    fn bucket(&self, key: u128) -> usize {
        (128 - (key ^ self.last).leading_zeros()) as usize
    }

    /// Schedules `item` at `at`, after everything already scheduled then.
    ///
    /// # Panics
    /// If `at` is before the event last taken (a simulator bug: it would
    /// change the past).
    pub(crate) fn push(&mut self, at: Instant, item: T) {
        self.seq += 1;
        let k = key(at, self.seq);
        assert!(k >= self.last, "event scheduled before the one running");
        let b = self.bucket(k);
        self.buckets[b].push((k, item));
    }

    /// Takes the earliest event if it is due by `until`, with its time.
    pub(crate) fn pop_due(&mut self, until: Instant) -> Option<(Instant, T)> {
        let i = (0..BUCKETS).find(|&i| !self.buckets[i].is_empty())?;
        let min = self.buckets[i].iter().map(|e| e.0).min()?;
        if min > key(until, u64::MAX) {
            // Not due: leave everything as it is, so events scheduled
            // meanwhile (at or after the last one taken) still fit.
            return None;
        }
        if i > 0 {
            // Every key of bucket i shares its bits above bit i - 1 with
            // `min`: they all file into lower buckets, `min` into 0.
            self.last = min;
            let mut moving = std::mem::take(&mut self.buckets[i]);
            for (k, item) in moving.drain(..) {
                let b = self.bucket(k);
                self.buckets[b].push((k, item));
            }
            self.buckets[i] = moving;
        }
        // Keys are unique (the sequence), so bucket 0 holds `min` alone.
        let (k, item) = self.buckets[0].pop()?;
        Some((Instant::from_micros((k >> 64) as u64), item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pastry_core::rng::SmallRng;
    use std::collections::BinaryHeap;

    /// Against a binary heap of (time, seq), reversed: the same events in
    /// the same order, with events scheduled while running, ties in time,
    /// and stops at deadlines that fall between events.
    #[test]
    fn takes_events_in_the_order_a_binary_heap_does() {
        let mut rng = SmallRng::new(5);
        let mut q = EventQueue::new();
        let mut oracle = BinaryHeap::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for round in 0..2_000u64 {
            for _ in 0..rng.below(20) {
                seq += 1;
                // Often the same instant, sometimes far ahead.
                let at = now + [0, 1, rng.below(1_000), rng.below(1 << 40)][rng.below(4) as usize];
                q.push(Instant::from_micros(at), (at, seq));
                oracle.push(std::cmp::Reverse((at, seq)));
            }
            let until = now + rng.below(2_000);
            loop {
                let want = oracle.peek().filter(|r| r.0.0 <= until).map(|r| r.0);
                let got = q.pop_due(Instant::from_micros(until));
                assert_eq!(
                    got.map(|(at, item)| (at.as_micros(), item)),
                    want.map(|w| (w.0, w)),
                    "round {round}"
                );
                if want.is_none() {
                    break;
                }
                oracle.pop();
                now = now.max(want.map_or(0, |w| w.0));
            }
            now = now.max(until);
            assert_eq!(q.len(), oracle.len());
        }
    }

    #[test]
    #[should_panic(expected = "before the one running")]
    fn refuses_an_event_in_the_past() {
        let mut q = EventQueue::new();
        q.push(Instant::from_micros(10), ());
        q.pop_due(Instant::from_micros(10));
        q.push(Instant::from_micros(9), ());
    }
}
