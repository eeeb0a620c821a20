//! Publications flowing through a tree: delivered once per member, sent on
//! to the children (and up, when the overlay brought one to a node that
//! is not the root), paced to the room in the node's queue.

use heapless::Vec;

use super::msg::Msg;
use super::{APP, Acceptor, Scribe, ScribeError, ScribeEvent, Upcall, ready, send};
use crate::id::Id;
use crate::node::{Kbr, MAX_PAYLOAD};
use crate::peer::Peer;
use crate::time::Instant;

/// Where a publication came from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Came {
    /// Routed to this node as the group id's root.
    ToRoot,
    /// From this child.
    Up(Id),
    /// From this (would-be) parent.
    Down(Id),
}

/// A publication on its way to the children (and parent) still to get it,
/// sent as the node's queue has room.
#[derive(Clone, Debug)]
pub(super) struct Spreading<const CHILDREN: usize> {
    pub(super) group: Id,
    pub(super) id: u64,
    pub(super) depth: u8,
    pub(super) data: Vec<u8, MAX_PAYLOAD>,
    pub(super) to: Vec<Peer, CHILDREN>,
    pub(super) parent: Option<Peer>,
}

/// A publication kept for a while, to replay to a subtree that lost its
/// parent and missed it (the node caught it; the subtree was cut off).
#[derive(Clone, Debug)]
pub(super) struct Kept {
    group: Id,
    id: u64,
    at: Instant,
    data: Vec<u8, MAX_PAYLOAD>,
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// Sends `data` to every member of `group` (through its root); the
    /// publication's id, which members see in [`ScribeEvent::Delivered`].
    pub fn publish(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
        data: &[u8],
    ) -> Result<u64, ScribeError> {
        ready(node, data, self.max_publish_len(node))?;
        let id = self.fresh_id(node.own().id);
        let m = Msg::Publish { group, id, data };
        send(node, now, None, group, APP, &m, &mut self.stats).map_err(ScribeError::Overlay)?;
        Ok(id)
    }

    /// Delivers publication `id` here if new (and this node is a member),
    /// and sends it on to the children it did not come from, and to the
    /// parent unless it came from there.
    pub(super) fn spread<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        gi: usize,
        came: Came,
        id: u64,
        data: &'b [u8],
    ) -> Option<Upcall<'b>> {
        let g = &mut self.groups[gi];
        if !g.first_sight(id) {
            self.stats.duplicates += 1;
            return None;
        }
        let (group, depth) = (g.id, g.told_depth());
        let (from, up) = match came {
            Came::ToRoot => (None, true),
            Came::Up(c) => (Some(c), true),
            Came::Down(p) => (Some(p), false),
        };
        let mut out = Spreading {
            group,
            id,
            depth,
            data: Vec::new(),
            to: g
                .children
                .iter()
                .filter(|c| Some(c.id) != from)
                .copied()
                .collect(),
            parent: g.parent.filter(|_| up),
        };
        let member = g.member;
        // Fits: Data carries what Publish or Data carried.
        let _ = out.data.extend_from_slice(data);
        if self.history.is_full() {
            self.history.pop_front();
        }
        let kept = Kept {
            group,
            id,
            at: now,
            data: out.data.clone(),
        };
        let _ = self.history.push_back(kept);
        if !out.to.is_empty() || out.parent.is_some() {
            self.queue_out(now, node, out);
        }
        if !member {
            return None;
        }
        self.stats.delivered += 1;
        Some(Upcall::Scribe(ScribeEvent::Delivered { group, id, data }))
    }

    /// Queues `out` behind the publications waiting for queue room, and
    /// sends what there is room for.
    fn queue_out(&mut self, now: Instant, node: &mut impl Kbr, out: Spreading<CHILDREN>) {
        if self.backlog.is_full() {
            // Bounded: the oldest publication loses its remaining sends.
            if let Some(old) = self.backlog.pop_front() {
                self.stats.dropped += (old.to.len() + usize::from(old.parent.is_some())) as u64;
            }
        }
        let _ = self.backlog.push_back(out);
        self.flush(now, node);
    }

    /// Sends `peer` the publications of group `gi` kept since `since` (at
    /// most [`ScribeConfig::replay`](super::ScribeConfig::replay) back):
    /// down to a child whose subtree was cut off then and may have missed
    /// them, or `up` to a new parent, which may have missed what reached
    /// this node while it was cut off (a root that failed part way through
    /// sending one). Members deliver each once regardless.
    pub(super) fn replay_to(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        gi: usize,
        peer: Peer,
        up: bool,
        since: Instant,
    ) {
        let g = &self.groups[gi];
        let (group, depth) = (g.id, g.told_depth());
        let limit = now.checked_sub(self.config.replay).unwrap_or(Instant::ZERO);
        let since = since.max(limit);
        for k in 0..self.history.len() {
            let Some(kept) = self.history.iter().nth(k) else {
                break;
            };
            if kept.group != group || kept.at < since {
                continue;
            }
            let mut to = Vec::new();
            if !up {
                let _ = to.push(peer);
            }
            let out = Spreading {
                group,
                id: kept.id,
                depth,
                data: kept.data.clone(),
                to,
                parent: up.then_some(peer),
            };
            self.stats.replayed += 1;
            self.queue_out(now, node, out);
        }
    }

    /// Sends waiting small messages while the node's queue has room.
    pub(super) fn flush_ctl(&mut self, now: Instant, node: &mut impl Kbr) {
        while let Some(c) = self.ctl.front() {
            if node.route_room() == 0 {
                return;
            }
            // The key it was meant for: a peer's id, or the group id with
            // `to` as the first hop.
            match node.route(now, c.key, c.app, &c.bytes, c.to) {
                Ok(_) => {
                    self.stats.sent += 1;
                    self.stats.sent_bytes += c.bytes.len() as u64;
                }
                Err(_) => self.stats.dropped += 1,
            }
            self.ctl.pop_front();
        }
    }

    /// Sends waiting publications while the node's queue has room.
    pub(super) fn flush(&mut self, now: Instant, node: &mut impl Kbr) {
        while let Some(s) = self.backlog.front_mut() {
            let Some(to) = s.to.last().copied().or(s.parent) else {
                self.backlog.pop_front();
                continue;
            };
            if node.route_room() == 0 {
                return;
            }
            let m = Msg::Data {
                group: s.group,
                id: s.id,
                depth: s.depth,
                data: &s.data,
            };
            self.stats.data_sent += 1;
            let _ = send(node, now, Some(to), to.id, APP, &m, &mut self.stats);
            if s.to.pop().is_none() {
                s.parent = None;
            }
        }
    }
}
