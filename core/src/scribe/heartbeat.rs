//! Time in Scribe: heartbeats from parents to children (one datagram per
//! child for all shared groups), the watch on parents and on the root's
//! epoch, subscribe retries and anycast timeouts.

use heapless::Vec;

use core::time::Duration;

use super::msg::{BEAT_ENTRY, Msg, put_beat_entry};
use super::tree::Group;
use super::{Acceptor, AnycastError, BEAT_RESERVE, BEAT_ROUND, Scribe, ScribeEvent};
use crate::id::Id;
use crate::node::{Kbr, MAX_PAYLOAD};
use crate::peer::Peer;
use crate::time::Instant;

/// When a child asks its parent for a late heartbeat: beats come every
/// half `heartbeat`, and an eighth more allows for the way's jitter.
fn ask_at<const C: usize>(g: &Group<C>, heartbeat: Duration) -> Instant {
    g.heard + heartbeat / 2 + heartbeat / 8
}

/// How long a child waits for the answer before it gives its parent up:
/// two round trips (a sixteenth of `heartbeat` each if unmeasured) and an
/// eighth of `heartbeat`, so at most about 7/8 of `heartbeat` of silence
/// instead of a whole one, which stays the rule when asking is not
/// possible.
fn answer_wait(node: &impl Kbr, parent: Id, heartbeat: Duration) -> Duration {
    let rtt = node
        .proximity(parent)
        .as_duration()
        .unwrap_or(heartbeat / 16);
    heartbeat / 8 + rtt * 2
}

/// Heartbeat entries that fit one datagram (after the kind and count).
fn entries_per_beat(node: &impl Kbr) -> usize {
    (node.max_payload().saturating_sub(2) / BEAT_ENTRY).clamp(1, 255)
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// When [`Scribe::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hb = self.config.heartbeat;
        let groups = self
            .groups
            .iter()
            .filter_map(|g| match (g.parent, g.retry) {
                (Some(_), _) => {
                    let watch = g.asked.unwrap_or_else(|| ask_at(g, hb));
                    Some(
                        watch
                            .min(g.heard + hb)
                            .min(g.stale_at(hb, self.config.max_depth)),
                    )
                }
                (None, retry) => retry,
            });
        let ops = self.pending.iter().map(|p| p.deadline);
        // What waits for room in the node goes when the host offers room.
        self.next_beat.into_iter().chain(groups).chain(ops).min()
    }

    /// Sends heartbeats when due, watches parents, retries subscribes and
    /// times anycasts out.
    pub fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.flush_ctl(now, node);
        self.flush(now, node);
        if self.beating {
            self.beat(now, node);
        }
        if self.next_beat.is_some_and(|t| t <= now) {
            for g in self.groups.iter_mut().filter(|g| g.root) {
                g.epoch.count = g.epoch.count.wrapping_add(1);
                g.fresh = now;
                g.verified = now;
            }
            self.beaten.clear();
            self.asks_answered = 0;
            self.beat(now, node);
            self.check_roots(now, node);
            self.next_beat = (!self.groups.is_empty()).then(|| now + self.config.heartbeat / 2);
        }
        self.ask_late_parents(now, node);
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let hb = self.config.heartbeat;
            let lost =
                g.parent.is_some() && (now >= g.heard + hb || g.asked.is_some_and(|t| now >= t));
            // The parent beats but the root's epoch stands still: the chain
            // above is cut or loops. Leave it and subscribe again.
            let stale = g.parent.is_some() && !lost && now >= g.stale_at(hb, self.config.max_depth);
            let retry = g.parent.is_none() && g.retry.is_some_and(|t| t <= now);
            if let Some(parent) = g.parent.filter(|_| lost) {
                self.stats.parent_losses += 1;
                // Tell the overlay too: it routes around the parent until
                // a probe answers, and if the parent was the group's root
                // its neighbour can stand in for it at once.
                node.suspect(parent.id);
            }
            if let Some(parent) = g.parent.filter(|_| stale) {
                self.stats.stale_paths += 1;
                let group = g.id;
                self.leave(now, node, group, parent);
            }
            if lost || stale || retry {
                let avoid = self.groups[gi].parent.map(|p| p.id);
                self.attach(now, node, gi, avoid, lost);
            }
        }
        while let Some(i) = self.pending.iter().position(|p| p.deadline <= now) {
            let p = self.pending.swap_remove(i);
            self.push_event(ScribeEvent::AnycastFailed {
                op: p.op,
                group: p.group,
                error: AnycastError::TimedOut,
            });
        }
    }

    /// Asks each parent whose heartbeat is late for one, once per silence
    /// (one datagram per parent for all its groups).
    fn ask_late_parents(&mut self, now: Instant, node: &mut impl Kbr) {
        let hb = self.config.heartbeat;
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let Some(parent) = g
                .parent
                .filter(|_| g.asked.is_none() && now >= ask_at(g, hb))
            else {
                continue;
            };
            // An ask that would wait in this node's queue could not be
            // answered in time: then the whole silent heartbeat is the rule
            // (and the deadline moves on, so the timer does not spin).
            if !self.ctl.is_empty() || node.route_room() <= BEAT_RESERVE {
                self.groups[gi].asked = Some(g.heard + hb);
                continue;
            }
            let give_up = now + answer_wait(node, parent.id, hb);
            // The parent's other late groups ride on the same ask (its
            // answer covers every group we are its child in).
            for g in self.groups.iter_mut().skip(gi) {
                let late = g.asked.is_none() && now >= ask_at(g, hb);
                if late && g.parent.is_some_and(|p| p.id == parent.id) {
                    g.asked = Some(give_up);
                }
            }
            self.stats.beats_asked += 1;
            self.tell(now, node, parent, &Msg::BeatAsk);
        }
    }

    /// A child asks for a late heartbeat: one beat now for all the groups
    /// it is a child in here (none if it is in none; it then soon gives
    /// this node up). At most [`BEAT_ROUND`] answers per beat round.
    pub(super) fn answer_ask(&mut self, now: Instant, node: &mut impl Kbr, child: Id) {
        if usize::from(self.asks_answered) >= BEAT_ROUND {
            return;
        }
        let per_msg = entries_per_beat(node);
        let mut entries: Vec<u8, MAX_PAYLOAD> = Vec::new();
        let mut to = None;
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let Some(c) = g.children.iter().find(|c| c.id == child).copied() else {
                continue;
            };
            let (id, depth, epoch) = (g.id, g.told_depth(), g.epoch);
            if entries.len() / BEAT_ENTRY == per_msg {
                self.send_beat(now, node, c, &entries);
                entries.clear();
            }
            put_beat_entry(&mut entries, id, depth, epoch);
            to = Some(c);
        }
        if let Some(c) = to {
            self.asks_answered = self.asks_answered.saturating_add(1);
            self.send_beat(now, node, c, &entries);
        }
    }

    /// One heartbeat datagram per child for all the groups it shares with
    /// this node.
    /// A round may wait for queue room (beats leave [`BEAT_RESERVE`] slots
    /// to publications); it goes on from where it stopped.
    pub(super) fn beat(&mut self, now: Instant, node: &mut impl Kbr) {
        let per_msg = entries_per_beat(node);
        self.beating = false;
        for gi in 0..self.groups.len() {
            for ci in 0..self.groups[gi].children.len() {
                let child = self.groups[gi].children[ci];
                if self.beaten.contains(&child.id) {
                    continue;
                }
                if node.route_room() <= BEAT_RESERVE {
                    // The round goes on when the host offers room.
                    self.beating = true;
                    return;
                }
                let first_time = self.beaten.push(child.id).is_ok();
                let mut entries: Vec<u8, MAX_PAYLOAD> = Vec::new();
                for gj in gi..self.groups.len() {
                    let g = &self.groups[gj];
                    if !g.has_child(child.id) {
                        continue;
                    }
                    let (id, depth, epoch) = (g.id, g.told_depth(), g.epoch);
                    if entries.len() / BEAT_ENTRY == per_msg {
                        self.send_beat(now, node, child, &entries);
                        entries.clear();
                    }
                    put_beat_entry(&mut entries, id, depth, epoch);
                    if !first_time {
                        // `done` is full: one group per beat from here on.
                        break;
                    }
                }
                self.send_beat(now, node, child, &entries);
            }
        }
    }

    pub(super) fn send_beat(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        child: Peer,
        entries: &[u8],
    ) {
        self.stats.beats_sent += 1;
        let m = Msg::Beat { entries };
        self.tell(now, node, child, &m);
    }
}

#[cfg(test)]
mod tests {
    use std::vec;

    use super::*;
    use crate::scribe::ctl::tests::{Queue, peer};
    use crate::scribe::msg::beat_entries;
    use crate::scribe::{Members, ScribeConfig};

    const T0: Instant = Instant::from_secs(10);

    /// A member whose parent (peer 1) was last heard at [`T0`], on a node
    /// with `room` queue slots; and when it asks for a late beat.
    fn late_child(room: usize) -> (Scribe<Members, 4, 4>, Queue, Instant) {
        let hb = ScribeConfig::default().heartbeat;
        let node = Queue {
            room,
            routed: vec![],
        };
        (child_at(T0), node, T0 + hb / 2 + hb / 8)
    }

    /// A member whose parent (peer 1) was last heard at `t0`.
    fn child_at(t0: Instant) -> Scribe<Members, 4, 4> {
        let mut s = Scribe::new(ScribeConfig::default(), Members).unwrap();
        let mut g = Group::new(Id::from_bytes([9; 20]), true, t0);
        g.parent = Some(peer(1));
        g.depth = 1;
        s.groups.push(g).unwrap();
        s
    }

    #[test]
    fn a_late_beat_is_asked_for_once_then_the_silent_parent_given_up() {
        let hb = ScribeConfig::default().heartbeat;
        let (mut s, mut node, ask) = late_child(8);
        assert_eq!(s.poll_timeout(), Some(ask));
        s.handle_timeout(ask, &mut node);
        assert_eq!(node.routed, vec![vec![8u8]], "one ask, to the parent");
        assert_eq!(s.stats().beats_asked, 1);
        let give_up = s.poll_timeout().unwrap();
        assert!(ask < give_up && give_up < T0 + hb, "{give_up:?}");
        s.handle_timeout(give_up - Duration::from_millis(1), &mut node);
        assert_eq!((s.stats().beats_asked, s.stats().parent_losses), (1, 0));
        s.handle_timeout(give_up, &mut node);
        assert_eq!(s.stats().parent_losses, 1);
    }

    #[test]
    fn a_congested_child_waits_the_whole_heartbeat_and_its_timer_moves_on() {
        let hb = ScribeConfig::default().heartbeat;
        let (mut s, mut node, ask) = late_child(0);
        s.handle_timeout(ask, &mut node);
        // No ask could go out now, and the deadline is not left behind
        // (a past one would run the timer again at once, for ever).
        assert_eq!(s.stats().beats_asked, 0);
        assert_eq!(s.poll_timeout(), Some(T0 + hb));
        s.handle_timeout(T0 + hb, &mut node);
        assert_eq!(s.stats().parent_losses, 1);
    }

    #[test]
    fn a_parent_answers_its_childs_ask_with_a_beat_and_a_strangers_with_nothing() {
        let t0 = Instant::from_secs(10);
        let mut s = child_at(t0);
        s.groups[0].children.push(peer(2)).unwrap();
        let mut node = Queue {
            room: 8,
            routed: vec![],
        };
        s.answer_ask(t0, &mut node, peer(3).id);
        assert!(node.routed.is_empty(), "not a child here");
        s.answer_ask(t0, &mut node, peer(2).id);
        assert_eq!(node.routed.len(), 1);
        let Ok(Msg::Beat { entries }) = Msg::decode(&node.routed[0]) else {
            panic!("a beat: {:?}", node.routed[0]);
        };
        let groups: vec::Vec<Id> = beat_entries(entries).map(|(g, ..)| g).collect();
        assert_eq!(groups, vec![s.groups[0].id]);
    }
}
