//! Anycast (Scribe §2.5, the seed's "DFS with predicate"): once the
//! message meets the tree it walks it depth-first, nearer children first,
//! carrying the nodes it visited, until a member accepts.

use heapless::Vec;

use super::msg::{ANYCAST_OVERHEAD, Msg, visit_tag};
use super::{
    Acceptor, AnycastError, AnycastId, Pending, ROUTE_APP, Scribe, ScribeError, ScribeEvent, ready,
    send,
};
use crate::id::Id;
use crate::node::{Kbr, MAX_PAYLOAD};
use crate::peer::Peer;
use crate::time::Instant;

/// An anycast on its walk.
#[derive(Clone, Copy, Debug)]
pub(super) struct Walk<'a> {
    pub(super) group: Id,
    pub(super) op: AnycastId,
    pub(super) origin: Peer,
    pub(super) budget: u8,
    pub(super) visited: &'a [u8],
    pub(super) data: &'a [u8],
}

impl<'a> Walk<'a> {
    pub(super) fn msg(&self, flags: u8) -> Msg<'a> {
        Msg::Anycast {
            group: self.group,
            flags,
            op: self.op.0,
            origin: self.origin,
            budget: self.budget,
            visited: self.visited,
            data: self.data,
        }
    }
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// Offers `data` to one member of `group` that accepts it. The outcome
    /// comes as [`ScribeEvent::AnycastAccepted`] or
    /// [`ScribeEvent::AnycastFailed`].
    pub fn anycast(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
        data: &[u8],
    ) -> Result<AnycastId, ScribeError> {
        ready(node, data, self.max_anycast_len(node))?;
        if self.pending.is_full() {
            return Err(ScribeError::Busy);
        }
        let op = AnycastId(self.fresh_id(node.own().id));
        let walk = Walk {
            group,
            op,
            origin: node.own(),
            budget: self.config.anycast_budget,
            visited: &[],
            data,
        };
        let deadline = now + self.config.anycast_timeout;
        let _ = self.pending.push(Pending {
            op,
            group,
            deadline,
        });
        if self.find(group).is_some() {
            // Its own anycast: the caller has the bytes, and hears of it
            // as AnycastAccepted.
            let _ = self.walk(now, node, walk);
        } else {
            let m = walk.msg(0);
            self.stats.anycasts_sent += 1;
            if let Err(e) = send(node, now, None, group, ROUTE_APP, &m, &mut self.stats) {
                self.pending.pop();
                return Err(ScribeError::Overlay(e));
            }
        }
        Ok(op)
    }

    /// One step of the depth-first walk at a tree node.
    /// What this member took, if it took the anycast.
    pub(super) fn walk<'a>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        w: Walk<'a>,
    ) -> Option<ScribeEvent<'a>> {
        let gi = self.find(w.group)?;
        let own = node.own();
        let tag = visit_tag(own.id);
        let mut visited: Vec<u8, MAX_PAYLOAD> = Vec::new();
        let _ = visited.extend_from_slice(w.visited);
        let seen = |v: &[u8], id: Id| v.chunks_exact(8).any(|c| c == visit_tag(id));
        if !seen(&visited, own.id) {
            if self.groups[gi].member && self.acceptor.accept(w.group, w.data) {
                self.stats.anycasts_accepted += 1;
                self.reply(now, node, w.group, w.op, w.origin, Some(own));
                return (w.origin.id != own.id).then_some(ScribeEvent::AnycastTaken {
                    group: w.group,
                    origin: w.origin,
                    data: w.data,
                });
            }
            let room = node
                .max_payload()
                .saturating_sub(ANYCAST_OVERHEAD + w.data.len());
            if visited.len() + 8 > room || visited.extend_from_slice(&tag).is_err() {
                self.reply(now, node, w.group, w.op, w.origin, None);
                return None;
            }
        }
        let g = &self.groups[gi];
        // Nearer unvisited children first (unknown distances last).
        let next = g
            .children
            .iter()
            .filter(|c| !seen(&visited, c.id))
            .min_by_key(|c| node.proximity(c.id))
            .copied()
            .or(g.parent);
        match next {
            Some(to) if w.budget > 0 => {
                let step = Walk {
                    budget: w.budget - 1,
                    visited: &visited,
                    ..w
                };
                self.stats.anycasts_sent += 1;
                let m = step.msg(0);
                self.tell(now, node, to, &m);
            }
            _ => self.reply(now, node, w.group, w.op, w.origin, None),
        }
        None
    }

    pub(super) fn reply(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
        op: AnycastId,
        origin: Peer,
        by: Option<Peer>,
    ) {
        if origin.id == node.own().id {
            if let Some(ev) = self.finish(op, group, by) {
                self.push_event(ev);
            }
            return;
        }
        let m = Msg::AnycastReply {
            group,
            op: op.0,
            by,
        };
        self.stats.anycasts_sent += 1;
        self.tell(now, node, origin, &m);
    }

    pub(super) fn finish(
        &mut self,
        op: AnycastId,
        group: Id,
        by: Option<Peer>,
    ) -> Option<ScribeEvent<'static>> {
        let i = self
            .pending
            .iter()
            .position(|p| p.op == op && p.group == group)?;
        self.pending.swap_remove(i);
        Some(match by {
            Some(by) => ScribeEvent::AnycastAccepted { op, group, by },
            None => ScribeEvent::AnycastFailed {
                op,
                group,
                error: AnycastError::NoneAccepted,
            },
        })
    }
}
