//! Building and keeping the trees (Scribe §2.2–2.4): subscribes taken on
//! the way or at the root, adoption with bounded fan-out, parents heard
//! through heartbeats, pruning, and the root following the overlay.

use super::msg::{
    self, Epoch, FLAGS_AT, Msg, ON_THE_WAY, PUSHED, SILENT, is_subscribe, put_beat_entry,
};
use super::tree::{DETACHED, Group};
use super::{Acceptor, BEAT_ENTRY, ROUTE_APP, Scribe, ScribeError, ScribeEvent};
use crate::id::Id;
use crate::node::{ForwardHop, Forwarder, Kbr, Verdict};
use crate::peer::Peer;
use crate::routing::NextHop;
use crate::time::Instant;
use core::time::Duration;
use heapless::Vec;

/// A subscribe: for `child`, which lost parent `lost` (which went quiet
/// if `silent`) and was cut off for `missed` seconds (if it asks for
/// publications it may have missed).
#[derive(Clone, Copy, Debug)]
pub(super) struct Sub {
    pub(super) group: Id,
    pub(super) child: Peer,
    pub(super) lost: Option<Id>,
    pub(super) silent: bool,
    pub(super) missed: Option<u16>,
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// Joins `group` as a member. A node already on its tree (as a
    /// forwarder) only becomes a member; otherwise a subscribe is routed
    /// toward the group id. [`ScribeEvent::Attached`] follows once the node
    /// has a way to the root.
    pub fn subscribe(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
    ) -> Result<(), ScribeError> {
        self.subscribe_as(now, node, group, false)
    }

    /// [`Scribe::subscribe`] over secure routing (OSDI'02's `sec_route`):
    /// the subscribe goes straight to the group id's root, which redundant
    /// routing finds, and the root adopts this node; so does every
    /// subscribe after its parent fails. No faulty node on a path can take
    /// the subscriber in and starve it (a full root still passes it down
    /// to a child of its own). On a group already joined, the next
    /// subscribe (after a parent fails) goes this way.
    #[cfg(feature = "secure-routing")]
    pub fn secure_subscribe(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
    ) -> Result<(), ScribeError> {
        self.subscribe_as(now, node, group, true)
    }

    fn subscribe_as(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
        secure: bool,
    ) -> Result<(), ScribeError> {
        if !node.is_active() {
            return Err(ScribeError::NotActive);
        }
        if let Some(gi) = self.find(group) {
            let g = &mut self.groups[gi];
            g.member = true;
            g.secure |= secure;
            if g.attached() && !g.announced {
                g.announced = true;
                self.push_event(ScribeEvent::Attached { group });
            }
            return Ok(());
        }
        let gi = self.add_group(now, group, true)?;
        self.groups[gi].secure = secure;
        self.attach(now, node, gi, None, false);
        Ok(())
    }

    /// Leaves `group`. The node stays on the tree while it has children
    /// (as a forwarder) and prunes itself otherwise.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
    ) -> Result<(), ScribeError> {
        let gi = self
            .find(group)
            .filter(|&gi| self.groups[gi].member)
            .ok_or(ScribeError::NotSubscribed)?;
        self.groups[gi].member = false;
        self.prune(now, node, gi);
        Ok(())
    }

    /// A subscribe that reached this node (on the way, as the group id's
    /// root, or pushed down by a full parent).
    pub(super) fn on_subscribe(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        flags: u8,
        sub: Sub,
    ) {
        if sub.child.id == node.own().id {
            // Our own subscribe, back here (we became the root meanwhile):
            // the retry timer sorts it out.
            return;
        }
        let silent = sub.lost.filter(|_| sub.silent);
        if let Some(lost) = silent {
            // The child's parent went quiet: routing here should go around
            // it too, until a probe says otherwise.
            node.suspect(lost);
        }
        let at_root = key == sub.group && flags & (ON_THE_WAY | PUSHED) == 0;
        if let Some(gi) = self.find(sub.group) {
            if self.groups[gi].attached() || at_root {
                self.adopt(now, node, gi, sub);
            } else {
                // On the tree but cut off from the root (our own subscribe
                // is out): taking children now could close a loop among
                // cut-off nodes, so let the subscribe go on to the root.
                self.pass_on(now, node, Some(gi), sub);
            }
            return;
        }
        match self.add_group(now, sub.group, false) {
            Ok(gi) => {
                self.adopt(now, node, gi, sub);
                // Our own subscribe names the quiet node too, so the nodes
                // ahead route around it without waiting for a timeout.
                self.attach(now, node, gi, silent, silent.is_some());
            }
            Err(_) if at_root => self.stats.refused += 1,
            Err(_) => {
                // No room for another tree here: let a node further on
                // take it.
                self.stats.refused += 1;
                self.pass_on(now, node, None, sub);
            }
        }
    }

    /// Sends `child`'s subscribe on toward the group's root, through a
    /// next hop that is neither `child` nor our parent or child in the
    /// group's tree (`gi`), if the routing state offers one.
    fn pass_on(&mut self, now: Instant, node: &mut impl Kbr, gi: Option<usize>, sub: Sub) {
        let Sub {
            group,
            child,
            lost,
            silent,
            missed,
        } = sub;
        let own = node.own().id;
        let g = gi.map(|gi| &self.groups[gi]);
        let ours = |p: &Peer| {
            p.id == child.id
                || g.is_some_and(|g| g.has_child(p.id) || g.parent.is_some_and(|q| q.id == p.id))
        };
        let hops = node.local_lookup(group, 3);
        let hint = match hops.first() {
            Some(first) if ours(first) => hops.iter().find(|p| !ours(p) && p.id != own).copied(),
            _ => None,
        };
        let m = Msg::Subscribe {
            group,
            flags: if silent { SILENT } else { 0 },
            child,
            lost,
            missed,
        };
        self.stats.subscribes_sent += 1;
        self.toward(now, node, hint, group, &m);
    }

    /// A parent's word (beat, with the root's epoch, or data) about
    /// `group`: keeps the parent, or takes `source` as the parent while this
    /// node waits for one, or tells `source` this node is not its child.
    pub(super) fn heard_parent(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        gi: usize,
        source: Peer,
        depth: u8,
        epoch: Option<Epoch>,
    ) {
        let g = &mut self.groups[gi];
        let was_attached = g.attached();
        let verified = g.verified;
        let ours = g.parent.is_some_and(|p| p.id == source.id);
        let waiting = g.parent.is_none() && !g.root && !g.has_child(source.id);
        if !ours && !waiting {
            let group = g.id;
            self.leave(now, node, group, source);
            return;
        }
        g.parent = Some(source);
        g.heard = now;
        g.asked = None;
        g.retry = None;
        g.set_depth_under(depth);
        if let Some(epoch) = epoch {
            g.heard_epoch(epoch, now, waiting);
        }
        if g.depth != DETACHED && g.depth > self.config.max_depth {
            // The chain above loops back here: rejoin.
            self.stats.loops_broken += 1;
            let group = g.id;
            self.leave(now, node, group, source);
            self.attach(now, node, gi, Some(source.id), false);
            return;
        }
        // The new parent sent what we missed when it took us in. What
        // reached us since our last sure way to a root, or a heartbeat
        // before (a parent that failed part way through sending it on),
        // goes up to it in turn: the rest of the tree may lack it.
        let mut replay_up = None;
        if g.attached() {
            g.cut_at = None;
            if !was_attached {
                let hb = self.config.heartbeat;
                replay_up = Some(verified.checked_sub(hb).unwrap_or(Instant::ZERO));
            }
        } else if was_attached {
            // Cut off somewhere above, noticed there up to a heartbeat ago.
            let since = now
                .checked_sub(self.config.heartbeat)
                .unwrap_or(Instant::ZERO);
            g.cut_at.get_or_insert(since);
        }
        if g.attached() != was_attached && !g.children.is_empty() {
            // The way to the root was cut, or is back: tell the subtree at
            // once, not at the next beat. Cut off, none of it takes in a
            // subscribe that could close a loop (see `on_subscribe`); back
            // on, it may take children again, and has healed.
            self.tell_children(now, node, gi);
        }
        if let Some(since) = replay_up {
            self.replay_to(now, node, gi, source, true, since);
        }
        let g = &mut self.groups[gi];
        if g.member && g.attached() && !g.announced {
            g.announced = true;
            let group = g.id;
            self.push_event(ScribeEvent::Attached { group });
        }
    }

    /// A heartbeat for this one group to each child.
    fn tell_children(&mut self, now: Instant, node: &mut impl Kbr, gi: usize) {
        for ci in 0..self.groups[gi].children.len() {
            let child = self.groups[gi].children[ci];
            self.beat_one(now, node, gi, child);
        }
    }

    /// A heartbeat for group `gi` alone (adoptions, detachment news).
    fn beat_one(&mut self, now: Instant, node: &mut impl Kbr, gi: usize, child: Peer) {
        let g = &self.groups[gi];
        let mut entry: Vec<u8, BEAT_ENTRY> = Vec::new();
        put_beat_entry(&mut entry, g.id, g.told_depth(), g.epoch);
        self.stats.beats_sent += 1;
        let m = Msg::Beat { entries: &entry };
        self.tell(now, node, child, &m);
    }

    pub(super) fn find(&self, group: Id) -> Option<usize> {
        self.groups.iter().position(|g| g.id == group)
    }

    pub(super) fn add_group(
        &mut self,
        now: Instant,
        group: Id,
        member: bool,
    ) -> Result<usize, ScribeError> {
        self.groups
            .push(Group::new(group, member, now))
            .map_err(|_| ScribeError::TooManyGroups)?;
        if self.next_beat.is_none() {
            self.next_beat = Some(now + self.config.heartbeat / 2);
        }
        Ok(self.groups.len() - 1)
    }

    /// Finds this node a way to the root: it is the root if the overlay
    /// says so (or would once the suspects closer to the group id are
    /// declared failed, see [`stands_in_as_root`]), else it subscribes
    /// toward the group id, with a first hop other than `avoid` (a former
    /// parent: the overlay may not know it failed yet), naming it as lost;
    /// `silent` if it went quiet.
    pub(super) fn attach(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        gi: usize,
        avoid: Option<Id>,
        silent: bool,
    ) {
        let own = node.own();
        let hops = node.local_lookup(self.groups[gi].id, 3);
        let is_root = stands_in_as_root(node, self.groups[gi].id);
        // Nor through a child of ours: pushed-down children need not lie
        // further from the group id than we do, and one would take us in.
        let g = &self.groups[gi];
        let bad = |p: &Peer| Some(p.id) == avoid || g.has_child(p.id);
        let hint = match hops.first() {
            Some(first) if bad(first) => hops.iter().find(|p| !bad(p) && p.id != own.id).copied(),
            _ => None,
        };
        let g = &mut self.groups[gi];
        let was_attached = g.attached();
        g.parent = None;
        g.asked = None;
        g.root = is_root;
        if is_root {
            g.depth = 0;
            g.fresh = now;
            g.retry = None;
            // Nobody above to ask for what was missed.
            g.cut_at = None;
            if g.epoch.root != Epoch::of_root(own.id).root {
                // A new root counts anew, under its own tag.
                g.epoch = Epoch::of_root(own.id);
            }
            if !was_attached && !g.children.is_empty() {
                self.tell_children(now, node, gi);
            }
            let g = &mut self.groups[gi];
            if g.member && !g.announced {
                g.announced = true;
                let group = g.id;
                self.push_event(ScribeEvent::Attached { group });
            }
            return;
        }
        g.depth = DETACHED;
        g.retry = Some(now + self.config.subscribe_retry);
        if was_attached {
            // Publications stopped coming when the parent (or the root's
            // epoch) was last heard, not when we noticed.
            g.cut_at.get_or_insert(g.heard.min(g.fresh));
        }
        // Rounded up, and a second more for publications on the way then.
        let missed = g.cut_at.map(|t| {
            let s = now.saturating_duration_since(t).as_secs() + 2;
            u16::try_from(s).unwrap_or(u16::MAX)
        });
        let m = Msg::Subscribe {
            group: g.id,
            flags: if silent { SILENT } else { 0 },
            child: own,
            lost: avoid,
            missed,
        };
        let (tell, group) = (was_attached && !g.children.is_empty(), g.id);
        self.stats.subscribes_sent += 1;
        #[cfg(feature = "secure-routing")]
        if self.groups[gi].secure {
            // Straight to the root.
            self.stats.secure_subscribes += 1;
            self.subscribe_securely(now, node, group, &m);
        } else {
            self.toward(now, node, hint, group, &m);
        }
        #[cfg(not(feature = "secure-routing"))]
        self.toward(now, node, hint, group, &m);
        if tell {
            self.tell_children(now, node, gi);
        }
    }

    /// Takes the subscriber (or passes it down when full) and tells it;
    /// sends it the publications it says it may have missed.
    pub(super) fn adopt(&mut self, now: Instant, node: &mut impl Kbr, gi: usize, sub: Sub) {
        let Sub { child, missed, .. } = sub;
        let g = &mut self.groups[gi];
        if g.parent.is_some_and(|p| p.id == child.id) {
            // Our parent asks to be our child: taking it would close a
            // loop. Send its subscribe on toward the root instead.
            let group = g.id;
            let sub = Sub {
                group,
                lost: None,
                silent: false,
                ..sub
            };
            self.pass_on(now, node, Some(gi), sub);
            return;
        }
        if !g.has_child(child.id) && g.children.is_full() {
            // Bounded fan-out (§2.3): a child of ours takes it.
            let to = g.children[g.push_next % g.children.len()];
            g.push_next = g.push_next.wrapping_add(1);
            let m = Msg::Subscribe {
                group: g.id,
                flags: PUSHED,
                child,
                lost: None,
                missed,
            };
            self.stats.pushed_down += 1;
            self.stats.subscribes_sent += 1;
            self.tell(now, node, to, &m);
            return;
        }
        if let Some(c) = g.children.iter_mut().find(|c| c.id == child.id) {
            *c = child;
        } else {
            let _ = g.children.push(child);
        }
        let attached = g.attached();
        if let (Some(s), false) = (missed, attached) {
            // A cut-off subtree below us, and we are not on the tree yet:
            // our own subscribe asks for what it missed.
            let since = now
                .checked_sub(Duration::from_secs(u64::from(s)))
                .unwrap_or(Instant::ZERO);
            g.cut_at = Some(g.cut_at.map_or(since, |t| t.min(since)));
        }
        self.beat_one(now, node, gi, child);
        if let (Some(s), true) = (missed, attached) {
            let since = now
                .checked_sub(Duration::from_secs(u64::from(s)))
                .unwrap_or(Instant::ZERO);
            self.replay_to(now, node, gi, child, false, since);
        }
    }

    /// Leaves the tree if nothing keeps this node on it.
    pub(super) fn prune(&mut self, now: Instant, node: &mut impl Kbr, gi: usize) {
        if !self.groups[gi].idle() {
            return;
        }
        let g = self.groups.swap_remove(gi);
        if let Some(parent) = g.parent {
            self.leave(now, node, g.id, parent);
        }
    }

    /// Tells `to` that `child` is out of its place in `group`'s tree:
    /// this node leaving its parent, a failed child reported to its parent
    /// (the overlay brought the parent's message for it here instead), or
    /// a parent dropping a child it thinks failed.
    pub(super) fn send_leave(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        group: Id,
        child: Id,
        to: Peer,
    ) {
        let m = Msg::Leave { group, child };
        self.stats.leaves_sent += 1;
        self.tell(now, node, to, &m);
    }

    /// Tells `to` this node is not (or no longer) its child in `group`.
    pub(super) fn leave(&mut self, now: Instant, node: &mut impl Kbr, group: Id, to: Peer) {
        let own = node.own().id;
        self.send_leave(now, node, group, own, to);
    }

    /// A subscribe names `lost`, the parent its sender stopped hearing
    /// from: if that is our child, it has likely failed, so pass nobody
    /// down to it; should it live, it hears so and subscribes again.
    pub(super) fn drop_lost(&mut self, now: Instant, node: &mut impl Kbr, group: Id, lost: Id) {
        let Some(gi) = self.find(group) else { return };
        let Some(c) = self.groups[gi]
            .children
            .iter()
            .find(|c| c.id == lost)
            .copied()
        else {
            return;
        };
        self.groups[gi].remove_child(lost);
        self.send_leave(now, node, group, lost, c);
    }

    /// Keeps the root where the overlay says it is: a root that learned
    /// of a node closer to the group id subscribes toward it (so the tree
    /// follows the new root), and a node that finds itself the closest
    /// takes the root over from whatever parent it had.
    pub(super) fn check_roots(&mut self, now: Instant, node: &mut impl Kbr) {
        if !node.is_active() {
            return;
        }
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let is_root = stands_in_as_root(node, g.id);
            if g.root == is_root {
                continue;
            }
            if let Some(parent) = g.parent.filter(|_| is_root) {
                let group = g.id;
                self.leave(now, node, group, parent);
            }
            self.attach(now, node, gi, None, false);
        }
    }
}

/// Whether this node is the group's root, or would be but for suspects:
/// every node the leaf set knows closer to the group id is being probed
/// after going quiet. Scribe lets such a node stand in as the root at once
/// (its tree rejoins the old root's should that one answer); the overlay
/// itself waits for the probes (MSPastry's consistent delivery).
pub(super) fn stands_in_as_root(node: &impl Kbr, group: Id) -> bool {
    let own = node.own().id;
    if node
        .local_lookup(group, 1)
        .first()
        .is_some_and(|p| p.id == own)
    {
        return true;
    }
    if !node.covers(group) {
        return false;
    }
    node.replica_set(group, STAND_IN_DEPTH)
        .iter()
        .find(|p| p.id == own || !node.is_suspected(p.id))
        .is_some_and(|p| p.id == own)
}

/// How many suspects closer to a group id a node looks past.
const STAND_IN_DEPTH: usize = 4;

/// The forwarder that lets the tree meet subscribes and anycasts: at each
/// node on the way (not the sender, not the root) it hands them to Scribe.
#[derive(Clone, Copy, Debug, Default)]
pub struct Joins;

impl Forwarder for Joins {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        if hop.app != ROUTE_APP || hop.hops == 0 || !msg::is_taken_on_the_way(hop.payload) {
            return Verdict::Continue;
        }
        // At the root the overlay delivers. Where the overlay would hold a
        // subscribe because a closer node is suspected, this node is the
        // best live root: it takes the subscribe now, so a tree whose
        // root failed heals before the overlay confirms the failure.
        let stand_in = hop.closer_suspected && is_subscribe(hop.payload);
        if hop.next_hop == NextHop::Local && !stand_in {
            return Verdict::Continue;
        }
        match hop.payload.get_mut(FLAGS_AT) {
            Some(flags) => {
                *flags |= ON_THE_WAY;
                Verdict::Deliver
            }
            None => Verdict::Continue,
        }
    }
}
