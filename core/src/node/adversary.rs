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
use crate::wire::{AppId, LeafSetView, PeerList};

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

/// Room for the colluders a faulty node offers on each side.
pub(super) type Beside<const HALF: usize> = (heapless::Vec<Peer, HALF>, heapless::Vec<Peer, HALF>);

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

    /// Applies the adversary's conduct to the routed message or secure
    /// query in `r`, whose honest next hop is `honest`: dropped, sent to a
    /// colluder, or taken as if this node were the key's root (a message
    /// delivered, a query answered with colluders). `true` when the
    /// adversary took it over (the slot is handled).
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
        let (key, app, query) = match s.carried {
            Carried::Routed => (s.key, s.app, false),
            Carried::Query { key, .. } => (key, AppId::OVERLAY, true),
            Carried::Join { .. } => return false,
        };
        if s.source.id == own.id || self.phase != Phase::Active {
            return false;
        }
        match adversary.on_route(own, key, app, honest) {
            Conduct::Honest => return false,
            Conduct::Drop => self.pool.free(r),
            Conduct::Forward(p) if p.id != own.id => self.send_slot(r, p),
            Conduct::Forward(_) | Conduct::Deliver if query => self.answer_query(r, true),
            Conduct::Forward(_) | Conduct::Deliver => self.deliver(r),
        }
        true
    }

    /// The colluders nearest `at` on each side, nearest first, as a leaf
    /// set held in `buf` (filled only here: a correct node's encoding pays
    /// nothing for it); `None` for a correct node. A faulty node answers a
    /// query for a key with those nearest the key.
    pub(super) fn colluders_around<'b>(
        &self,
        at: Id,
        buf: &'b mut Beside<HALF>,
    ) -> Option<LeafSetView<'b>> {
        let adversary = self.adversary.as_ref()?;
        let own = self.own();
        for (side, clockwise) in [(&mut buf.0, false), (&mut buf.1, true)] {
            let _ = side.resize(HALF, own);
            let n = adversary.colluders_beside(at, clockwise, side);
            side.truncate(n);
        }
        Some(LeafSetView {
            left: PeerList::Peers(&buf.0),
            right: PeerList::Peers(&buf.1),
        })
    }

    /// The leaf set a faulty node offers when its adversary eclipses:
    /// colluders only.
    pub(super) fn eclipsed_leaf_set<'b>(
        &self,
        buf: &'b mut Beside<HALF>,
    ) -> Option<LeafSetView<'b>> {
        self.adversary.as_ref().filter(|a| a.eclipses())?;
        self.colluders_around(self.own().id, buf)
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
}
