//! Leaf-set members declared failed recently. A partition makes each side
//! declare the other failed; after it heals nothing would bring them back
//! together, since no node knows a live node across. So after a mass
//! failure (several members lost within a short window, the mark of a
//! partition rather than of churn) each node re-probes one of its
//! recently failed members at every heartbeat; one answer brings that
//! member's leaf set, and the rings merge from there. The first one back
//! suggests a healed partition, so the rest are re-probed at once.
//! Bounded, and silent under ordinary churn.

use heapless::Vec;

use crate::id::Id;
use crate::peer::Peer;
use core::time::Duration;

use crate::time::Instant;

/// Failed members remembered.
pub(crate) const GRAVEYARD: usize = 8;

/// Failures within one window that count as a mass failure.
const MASS: usize = 3;
/// The most needed to sound the alarm, whatever the leaf set's size.
const ALARM_MAX: usize = 6;

#[derive(Clone, Debug)]
pub(crate) struct Graveyard {
    /// (member, when declared failed), next to re-probe first.
    list: Vec<(Peer, Instant), GRAVEYARD>,
    /// Re-probing runs until then, after a mass failure.
    alarm_until: Option<Instant>,
}

impl Graveyard {
    pub(crate) fn new() -> Graveyard {
        Graveyard {
            list: Vec::new(),
            alarm_until: None,
        }
    }

    /// Remembers `peer`, forgetting the oldest when full. If half the
    /// leaf set (`left` members are left; at least `MASS`, at most
    /// `ALARM_MAX`) failed within `window`, re-probing runs for `alarm`.
    /// Churn alone seldom gets there: at 10-minute sessions a 16-member
    /// leaf set loses one member a minute, and three within two minutes
    /// (the old rule) kept the alarm on most of the time, re-probing
    /// dead nodes (#32: 0.05 messages per node per second).
    pub(crate) fn bury(
        &mut self,
        peer: Peer,
        now: Instant,
        (window, alarm): (Duration, Duration),
        left: usize,
    ) {
        self.exhume(peer.id);
        if self.list.is_full() {
            self.list.remove(0);
        }
        let _ = self.list.push((peer, now));
        let recent = self
            .list
            .iter()
            .filter(|(_, at)| *at + window >= now)
            .count();
        if recent >= ((left + recent) / 2).clamp(MASS, ALARM_MAX) {
            self.alarm_until = Some(now + alarm);
        }
    }

    /// Whether `MASS` members were buried within `window` of `now`.
    pub(crate) fn mass_within(&self, now: Instant, window: Duration) -> bool {
        let recent = self.list.iter().filter(|(_, at)| *at + window >= now);
        recent.count() >= MASS
    }

    /// Forgets `id` (it proved alive); whether it was here. Called on
    /// every message heard, so it costs nothing while the list is empty.
    pub(crate) fn exhume(&mut self, id: Id) -> bool {
        let before = self.list.len();
        if before > 0 {
            self.list.retain(|(p, _)| p.id != id);
        }
        self.list.len() < before
    }

    /// Whether `id` is buried here.
    pub(crate) fn contains(&self, id: Id) -> bool {
        self.list.iter().any(|(p, _)| p.id == id)
    }

    /// Everyone still buried.
    pub(crate) fn all(&self) -> impl Iterator<Item = Peer> + '_ {
        self.list.iter().map(|(p, _)| *p)
    }

    /// The next member to re-probe, in turn, first dropping those buried
    /// before `forget_before`; none unless a mass failure was seen.
    pub(crate) fn next(&mut self, now: Instant, forget_before: Instant) -> Option<Peer> {
        self.list.retain(|(_, at)| *at >= forget_before);
        if self.list.is_empty() || self.alarm_until.is_none_or(|t| now >= t) {
            return None;
        }
        let e = self.list.remove(0);
        let _ = self.list.push(e);
        Some(e.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mass_failure_is_three_burials_within_the_window() {
        let peer = |b: u8| Peer::new(Id::from_bytes([b; 20]), "10.0.0.1:7000".parse().unwrap());
        let t = Instant::from_secs;
        let w = Duration::from_secs(30);
        let mut g = Graveyard::new();
        g.bury(peer(1), t(0), (w, w), 16);
        g.bury(peer(2), t(20), (w, w), 16);
        assert!(!g.mass_within(t(20), w));
        g.bury(peer(3), t(40), (w, w), 16);
        // The first is out of the window by now.
        assert!(!g.mass_within(t(40), w));
        g.bury(peer(4), t(45), (w, w), 16);
        assert!(g.mass_within(t(45), w));
        assert!(!g.mass_within(t(71), w), "one left within 30 s of 71");
    }

    #[test]
    fn churn_s_pace_sounds_no_alarm_half_a_leaf_set_at_once_does() {
        let peer = |b: u8| Peer::new(Id::from_bytes([b; 20]), "10.0.0.1:7000".parse().unwrap());
        let t = Instant::from_secs;
        let (w, alarm) = (Duration::from_secs(54), Duration::from_secs(1_200));
        // Five of a big leaf set within the window (it refills, so 16
        // remain): no re-probing of the dead.
        let mut g = Graveyard::new();
        for b in 1..=5 {
            g.bury(peer(b), t(u64::from(b)), (w, alarm), 16);
        }
        assert_eq!(g.next(t(10), t(0)), None);
        // The sixth within the window sounds it.
        g.bury(peer(6), t(10), (w, alarm), 16);
        assert!(g.next(t(11), t(0)).is_some());
        // A small ring (8 nodes): three of seven lost at once are a
        // partition's mark.
        let mut g = Graveyard::new();
        for b in 1..=3 {
            g.bury(peer(b), t(u64::from(b)), (w, alarm), 4);
        }
        assert!(g.next(t(4), t(0)).is_some());
        // Six spread wider than the window: churn, no alarm.
        let mut g = Graveyard::new();
        for b in 1..=6 {
            g.bury(peer(b), t(u64::from(b) * 30), (w, alarm), 16);
        }
        assert_eq!(g.next(t(200), t(0)), None);
    }
}
