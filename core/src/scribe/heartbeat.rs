//! Time in Scribe: heartbeats from parents to children (one datagram per
//! child for all shared groups), the watch on parents and on the root's
//! epoch, subscribe retries and anycast timeouts.

use heapless::Vec;

use super::msg::{BEAT_ENTRY, Msg, put_beat_entry};
use super::{Acceptor, AnycastError, BEAT_RESERVE, PACE, Scribe, ScribeEvent};
use crate::node::{Kbr, MAX_PAYLOAD};
use crate::peer::Peer;
use crate::time::Instant;

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// When [`Scribe::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hb = self.config.heartbeat;
        let groups = self
            .groups
            .iter()
            .filter_map(|g| match (g.parent, g.retry) {
                (Some(_), _) => Some((g.heard + hb).min(g.stale_at(hb, self.config.max_depth))),
                (None, retry) => retry,
            });
        let ops = self.pending.iter().map(|p| p.deadline);
        // Messages queued while the node was full, with no retry set yet:
        // due now (a past deadline runs at once).
        let waiting = !self.ctl.is_empty() || !self.backlog.is_empty();
        let flush = (waiting && self.pace_at.is_none()).then_some(Instant::ZERO);
        self.next_beat
            .into_iter()
            .chain(groups)
            .chain(ops)
            .chain(self.pace_at)
            .chain(flush)
            .min()
    }

    /// Sends heartbeats when due, watches parents, retries subscribes and
    /// times anycasts out.
    pub fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.pace_at = None;
        self.flush_ctl(now, node);
        self.flush(now, node);
        if self.beating {
            self.beat(now, node);
        }
        if self.next_beat.is_some_and(|t| t <= now) {
            for g in self.groups.iter_mut().filter(|g| g.root) {
                g.epoch.count = g.epoch.count.wrapping_add(1);
                g.fresh = now;
            }
            self.beaten.clear();
            self.beat(now, node);
            self.check_roots(now, node);
            self.next_beat = (!self.groups.is_empty()).then(|| now + self.config.heartbeat / 2);
        }
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let hb = self.config.heartbeat;
            let lost = g.parent.is_some() && now >= g.heard + hb;
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

    /// One heartbeat datagram per child for all the groups it shares with
    /// this node.
    /// A round may wait for queue room (beats leave [`BEAT_RESERVE`] slots
    /// to publications); it goes on from where it stopped.
    pub(super) fn beat(&mut self, now: Instant, node: &mut impl Kbr) {
        let per_msg = (node.max_payload().saturating_sub(2) / BEAT_ENTRY).clamp(1, 255);
        self.beating = false;
        for gi in 0..self.groups.len() {
            for ci in 0..self.groups[gi].children.len() {
                let child = self.groups[gi].children[ci];
                if self.beaten.contains(&child.id) {
                    continue;
                }
                if node.route_room() <= BEAT_RESERVE {
                    self.beating = true;
                    self.pace_at = Some(now + PACE);
                    return;
                }
                let first_time = self.beaten.push(child.id).is_ok();
                let mut entries: Vec<u8, MAX_PAYLOAD> = Vec::new();
                for gj in gi..self.groups.len() {
                    let g = &self.groups[gj];
                    if !g.has_child(child.id) {
                        continue;
                    }
                    let (id, depth, epoch) = (g.id, if g.root { 0 } else { g.depth }, g.epoch);
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
