//! Byzantine conduct, for simulators and tests that attack an overlay
//! (Castro et al., OSDI 2002, §2: a fraction of the nodes are faulty and
//! collude; they hold valid ids and follow the protocol wherever breaking
//! it would not help them, so they are hard to tell from correct ones).
//!
//! Only in builds with the `adversary` feature. A node is faulty once
//! given an [`Adversary`] ([`Node::make_faulty`]); the adversary, shared
//! by all its nodes, decides what each does with the routed messages it
//! relays and which peers it offers to others. Without one a node behaves
//! exactly as in every other build.

use alloc::sync::Arc;

use super::app::Forwarder;
use super::outbox::MAX_ROW_ENTRIES;
use super::pool::{Carried, SlotRef};
use super::{Node, Phase};
use crate::id::Id;
use crate::peer::Peer;
use crate::routing::NextHop;
use crate::wire::AppId;

/// What a faulty node does with a routed message it took (and acked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduct {
    /// What the protocol says.
    Honest,
    /// Swallow it: the previous hop was acked and will not reroute.
    Drop,
    /// Send it on to this node (a colluder) instead.
    Forward(Peer),
    /// Deliver it here, as if this node were the key's root.
    Deliver,
}

/// The colluding adversary behind every faulty node.
pub trait Adversary: Send + Sync + core::fmt::Debug {
    /// Faulty node `me` took a routed message for `key` of application
    /// `app` that it did not send; `honest` is the protocol's next hop.
    fn on_route(&self, me: Peer, key: Id, app: AppId, honest: NextHop) -> Conduct;

    /// Whether faulty nodes offer only colluders in routing-table rows,
    /// leaf-set exchanges and join replies (an eclipse attack, §4).
    fn eclipses(&self) -> bool;

    /// A colluder that fits slot (`row`, `col`) of `me`'s routing table:
    /// it shares `row` digits with `me` and has digit `col` next.
    fn colluder_in_slot(&self, me: Id, row: usize, col: u8) -> Option<Peer>;

    /// The colluders nearest `me` on one side of the ring (clockwise when
    /// `clockwise`), nearest first, written to `out`; how many.
    fn colluders_beside(&self, me: Id, clockwise: bool, out: &mut [Peer]) -> usize;
}

/// The adversary a faulty node answers to.
pub(crate) type Faulty = Option<Arc<dyn Adversary>>;

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Makes this node one of `adversary`'s: from now on it relays and
    /// offers peers as the adversary says.
    pub fn make_faulty(&mut self, adversary: Arc<dyn Adversary>) {
        self.adversary = Some(adversary);
    }

    /// Whether this node is faulty.
    pub fn is_faulty(&self) -> bool {
        self.adversary.is_some()
    }

    /// Applies the adversary's conduct to the message in `r`, whose
    /// honest next hop is `honest`. `true` when the adversary took it
    /// over (the slot is handled).
    pub(super) fn misbehave(&mut self, r: SlotRef, honest: NextHop) -> bool {
        let Some(adversary) = self.adversary.as_ref() else {
            return false;
        };
        let own = self.own();
        let Some(s) = self.pool.get(r) else {
            return false;
        };
        // Its own messages and joins it handles honestly: a faulty node
        // wants to stay in the overlay and to be believed.
        if s.carried != Carried::Routed || s.source.id == own.id || self.phase != Phase::Active {
            return false;
        }
        match adversary.on_route(own, s.key, s.app, honest) {
            Conduct::Honest => false,
            Conduct::Drop => {
                self.pool.free(r);
                true
            }
            Conduct::Forward(p) if p.id != own.id => {
                self.send_slot(r, p);
                true
            }
            Conduct::Forward(_) | Conduct::Deliver => {
                self.deliver(r);
                true
            }
        }
    }

    /// Applies the adversary's conduct to the secure query in `r`:
    /// dropped, sent to a colluder, or answered with colluders as if this
    /// node were the key's root. `true` when the adversary took it over.
    pub(super) fn misbehave_on_query(&mut self, r: SlotRef) -> bool {
        let Some(adversary) = self.adversary.as_ref() else {
            return false;
        };
        let own = self.own();
        let Some(s) = self.pool.get(r) else {
            return false;
        };
        let Carried::Query { key, .. } = s.carried else {
            return false;
        };
        if s.source.id == own.id || self.phase != Phase::Active {
            return false;
        }
        match adversary.on_route(own, key, AppId::OVERLAY, NextHop::Local) {
            Conduct::Honest => false,
            Conduct::Drop => {
                self.pool.free(r);
                true
            }
            Conduct::Forward(p) if p.id != own.id => {
                self.send_slot(r, p);
                true
            }
            Conduct::Forward(_) | Conduct::Deliver => {
                self.answer_query(r, true);
                true
            }
        }
    }

    /// The replica set a faulty node answers a query for `key` with: the
    /// colluders nearest the key, on each side.
    pub(super) fn forge_replica_set<'b>(
        &self,
        key: Id,
        left: &'b mut [Peer],
        right: &'b mut [Peer],
    ) -> Option<crate::wire::LeafSetView<'b>> {
        let adversary = self.adversary.as_ref()?;
        let l = adversary.colluders_beside(key, false, left);
        let r = adversary.colluders_beside(key, true, right);
        Some(crate::wire::LeafSetView {
            left: crate::wire::PeerList::Peers(&left[..l]),
            right: crate::wire::PeerList::Peers(&right[..r]),
        })
    }

    /// The peers a faulty node offers in place of its routing table's
    /// row `row`, when its adversary eclipses.
    pub(super) fn eclipse_row(
        &self,
        row: usize,
        out: &mut heapless::Vec<Peer, MAX_ROW_ENTRIES>,
    ) -> bool {
        let Some(adversary) = self.adversary.as_ref().filter(|a| a.eclipses()) else {
            return false;
        };
        let me = self.own().id;
        for col in 0..16u8 {
            if col == me.digit(row) {
                continue;
            }
            if let Some(p) = adversary.colluder_in_slot(me, row, col) {
                let _ = out.push(p);
            }
        }
        true
    }

    /// The leaf set a faulty node offers (left, right), when its
    /// adversary eclipses: colluders only.
    pub(super) fn eclipse_leaf_set(
        &self,
        left: &mut [Peer],
        right: &mut [Peer],
    ) -> Option<(usize, usize)> {
        let adversary = self.adversary.as_ref().filter(|a| a.eclipses())?;
        let me = self.own().id;
        Some((
            adversary.colluders_beside(me, false, left),
            adversary.colluders_beside(me, true, right),
        ))
    }
}
