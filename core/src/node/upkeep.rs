//! The node's own secure lookups (the `secure-routing` feature): once
//! joined, one of its own id to check its leaf set against the true
//! neighbours (a join reply from a faulty root lists only colluders), and
//! one per slot of the constrained table (OSDI'02 §4), filled again every
//! `SecureConfig::refresh`, when the overlay has grown, and for a slot
//! whose entry failed.

use heapless::Vec;

use super::app::Forwarder;
use super::queries::MAX_SECURE_ROOTS;
use super::secure::Purpose;
use super::{Node, Phase, Timer};
use crate::id::Id;
use crate::peer::Peer;

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Once joined: check the leaf set against the true neighbours of
    /// our id, and start filling the constrained table.
    pub(super) fn start_securing(&mut self) {
        if !self.config.secure.enabled {
            return;
        }
        self.check_own_leaf_set();
        self.fill_cursor = 0;
        self.set_timer(Timer::Fill, Some(self.now));
    }

    /// How far our leaf set spans, clockwise from its left end to its
    /// right end (top 96 bits); `None` while a side is short.
    fn leaf_span(&self) -> Option<u128> {
        let ls = self.routing.leaf_set();
        if !ls.is_full() {
            return None;
        }
        let (l, r) = (ls.farthest_left()?, ls.farthest_right()?);
        Some(l.id.cw_distance(r.id).high_96())
    }

    /// Every heartbeat: once the overlay has grown to twice what it was
    /// at the last pass (our leaf set spans half as far), nodes closer to
    /// the points have joined: fill again now rather than at the refresh.
    pub(super) fn refill_if_grown(&mut self) {
        if !self.config.secure.enabled || self.fill_cursor != 0 || self.phase != Phase::Active {
            return;
        }
        let (Some(now), Some(then)) = (self.leaf_span(), self.fill_span) else {
            // Short sides: a ring smaller than a leaf set, all of it known;
            // the pass after it fills up measures the span.
            if self.fill_span.is_none() && self.leaf_span().is_some() {
                self.set_timer(Timer::Fill, Some(self.now));
            }
            return;
        };
        if now.saturating_mul(2) < then {
            self.set_timer(Timer::Fill, Some(self.now));
        }
    }

    /// A redundant lookup of our own id: its answers' nodes are probed
    /// into our leaf set (a join reply from a faulty root lists only
    /// colluders, and their leaf sets list only colluders).
    fn check_own_leaf_set(&mut self) {
        let own = self.own().id;
        let replicas = (2 * HALF).min(MAX_SECURE_ROOTS);
        let _ = self.start_secure(own, replicas, Purpose::OwnLeafSet, true);
    }

    /// The fill timer: a lookup for each constrained slot's point, a few
    /// at a time, lowest rows first. A slot whose point our leaf set
    /// covers is filled from it; rows from one whose every point it
    /// covers on are not looked up (no node fills them but neighbours).
    pub(super) fn fill_constrained(&mut self) {
        let parallel = usize::from(self.config.secure.fill_parallel).max(1);
        let own = self.own().id;
        if self.fill_cursor == 0 {
            self.fill_span = self.leaf_span();
        }
        while usize::from(self.fill_cursor) < ROWS * 16 {
            let busy = self
                .secure_ops
                .iter()
                .filter(|op| matches!(op.purpose, Purpose::Fill | Purpose::FillNear))
                .count();
            if busy >= parallel || self.secure_ops.is_full() {
                break;
            }
            let (row, col) = (
                usize::from(self.fill_cursor) / 16,
                (self.fill_cursor % 16) as u8,
            );
            let covered = |c: u8| {
                self.routing
                    .leaf_set()
                    .covers(self.constrained.point(row, c))
            };
            if col == 0 && (0..16u8).all(|c| c == own.digit(row) || covered(c)) {
                // Every point of this row (so of every row below) lies in
                // our leaf set's range: the rest of the table is our
                // neighbourhood's, which the leaf set knows.
                let members: Vec<Peer, 64> = self.routing.leaf_set().members().copied().collect();
                for p in members {
                    self.constrained.consider(p);
                }
                self.fill_cursor = (ROWS * 16) as u16;
                break;
            }
            // Every slot, filled or not: entries age as nodes join.
            if col == own.digit(row) {
                self.fill_cursor += 1;
                continue;
            }
            // The few points of this row our leaf set covers are filled
            // from it and looked up all the same: a leaf set a faulty root
            // gave us covers them with colluders, and these lookups find
            // the true neighbours it hides (#29). Rows below, wholly
            // covered, are not.
            let purpose = if covered(col) {
                let members: Vec<Peer, 64> = self.routing.leaf_set().members().copied().collect();
                for p in members {
                    self.constrained.consider(p);
                }
                Purpose::FillNear
            } else {
                Purpose::Fill
            };
            let point = self.constrained.point(row, col);
            if self.start_secure(point, 1, purpose, false).is_err() {
                break;
            }
            self.stats.secure.fills += 1;
            self.fill_cursor += 1;
        }
        let next = if usize::from(self.fill_cursor) < ROWS * 16 {
            self.now + self.config.min_rto
        } else {
            // The pass is done (its last lookups may still run): the next
            // starts after the refresh period. Our leaf set is checked
            // again too, now through our own constrained table (the check
            // at joining went through the bootstrap's).
            self.fill_cursor = 0;
            self.filled_once = true;
            self.check_own_leaf_set();
            self.now + self.jittered(self.config.secure.refresh)
        };
        self.set_timer(Timer::Fill, Some(next));
    }

    /// A node was declared failed: its constrained slot is looked up
    /// again.
    pub(super) fn refill_after_failure(&mut self, id: Id) {
        let Some((row, col)) = self.constrained.remove(id) else {
            return;
        };
        if !self.config.secure.enabled || self.phase != Phase::Active {
            return;
        }
        let point = self.constrained.point(row, col);
        if self.start_secure(point, 1, Purpose::Fill, false).is_ok() {
            self.stats.secure.fills += 1;
        }
    }
}
