//! Routing-table candidates measured lately, and their verdicts. While an
//! overlay forms, the rows a node asks for overlap (its near neighbours
//! have near neighbours in common), so the same candidates come again and
//! again; each used to cost a probe and its reply. A candidate measured
//! within the window is judged by that measurement instead: one that lost
//! to the entry it would replace, or never answered, is not probed again
//! (#32: no repeated probes of candidates measured recently). A winner is
//! still probed: it must prove alive before it takes the slot.
//!
//! Keyed by the id's first eight bytes (a collision between random ids
//! needs about 2³² of them), bounded, the oldest forgotten first.

use heapless::Vec;

use crate::id::Id;
use crate::routing_table::Rtt;
use crate::time::Instant;

/// One verdict: the id's first 8 bytes, the RTT measured (unknown: it did
/// not answer), and when, in whole seconds of the node's clock.
#[derive(Clone, Copy, Debug)]
struct Verdict {
    key: u64,
    rtt: Rtt,
    at_s: u32,
}

/// What a recent measurement says of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lately {
    /// Answered in this time.
    Answered(Rtt),
    /// Did not answer its probes.
    Silent,
}

#[derive(Clone, Debug)]
pub(crate) struct Measured<const N: usize> {
    list: Vec<Verdict, N>,
}

fn key(id: Id) -> u64 {
    id.high_64()
}

fn secs(t: Instant) -> u32 {
    u32::try_from(t.as_micros() / 1_000_000).unwrap_or(u32::MAX)
}

impl<const N: usize> Measured<N> {
    pub(crate) fn new() -> Measured<N> {
        Measured { list: Vec::new() }
    }

    /// Records a measurement of `id` (`Rtt::UNKNOWN`: no answer), in
    /// place of any earlier one.
    pub(crate) fn note(&mut self, id: Id, rtt: Rtt, now: Instant) {
        let k = key(id);
        let v = Verdict {
            key: k,
            rtt,
            at_s: secs(now),
        };
        if let Some(old) = self.list.iter_mut().find(|v| v.key == k) {
            *old = v;
            return;
        }
        if self.list.is_full() {
            self.list.remove(0);
        }
        let _ = self.list.push(v);
    }

    /// The verdict on `id` if one was recorded within `window_s` seconds.
    pub(crate) fn lately(&self, id: Id, now: Instant, window_s: u32) -> Option<Lately> {
        let k = key(id);
        let now_s = secs(now);
        let v = self
            .list
            .iter()
            .find(|v| v.key == k && now_s.saturating_sub(v.at_s) <= window_s)?;
        Some(if v.rtt.is_known() {
            Lately::Answered(v.rtt)
        } else {
            Lately::Silent
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> Id {
        let mut x = [0u8; 20];
        x[0] = b;
        Id::from_bytes(x)
    }

    #[test]
    fn remembers_within_the_window_and_forgets_the_oldest() {
        let mut m: Measured<2> = Measured::new();
        let t0 = Instant::from_micros(5_000_000);
        m.note(id(1), Rtt::from_micros(900), t0);
        m.note(id(2), Rtt::UNKNOWN, t0);
        assert_eq!(
            m.lately(id(1), t0, 10),
            Some(Lately::Answered(Rtt::from_micros(900)))
        );
        assert_eq!(m.lately(id(2), t0, 10), Some(Lately::Silent));
        let later = Instant::from_micros(16_000_000);
        assert_eq!(m.lately(id(1), later, 10), None, "outside the window");
        m.note(id(3), Rtt::from_micros(5), t0);
        assert_eq!(m.lately(id(1), t0, 10), None, "the oldest went");
        assert_eq!(m.lately(id(2), t0, 10), Some(Lately::Silent));
        m.note(id(2), Rtt::from_micros(7), t0);
        assert_eq!(
            m.lately(id(2), t0, 10),
            Some(Lately::Answered(Rtt::from_micros(7)))
        );
        assert_eq!(
            m.lately(id(3), t0, 10),
            Some(Lately::Answered(Rtt::from_micros(5)))
        );
    }
}
