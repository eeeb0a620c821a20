//! One node's part in the groups' trees (Scribe §2.2): for each group it
//! is on, whether it is a member, its parent (or that it is the root), its
//! depth, and its children.

use heapless::Vec;

use super::msg::Epoch;
use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;

/// Publications a member remembers per group to deliver each once.
const RECENT: usize = 8;

/// Depth of a node whose way to the root is not known (it has no parent
/// yet, or its parent has none).
pub const DETACHED: u8 = u8::MAX;

/// Where this node stands in one group's tree.
#[derive(Clone, Debug)]
pub struct Group<const CHILDREN: usize> {
    /// The group id.
    pub id: Id,
    /// Whether the application subscribed here (else a forwarder).
    pub member: bool,
    /// The parent, once one adopted this node.
    pub parent: Option<Peer>,
    /// Whether this node took the group as its root.
    pub root: bool,
    /// Hops to the root (0 at the root), or [`DETACHED`].
    pub depth: u8,
    /// The children, in the order they were adopted.
    pub children: Vec<Peer, CHILDREN>,
    /// When the parent was last heard from.
    pub(crate) heard: Instant,
    /// When this node asked the parent for a late heartbeat (cleared when
    /// the parent is heard from).
    pub(crate) asked: Option<Instant>,
    /// The root's epoch as last heard (the root counts its heartbeats; the
    /// count flows down with them, tagged with the root's id, so a new
    /// root starts a new count without looking like a stall).
    pub epoch: Epoch,
    /// When the epoch last moved on: a way to a live root. A chain that
    /// loops, or hangs from a failed node higher up, stops it.
    pub(crate) fresh: Instant,
    /// The depth when the epoch last moved on.
    fresh_depth: u8,
    /// When the epoch last moved on by itself (not because a new parent
    /// was taken, which may hang from a loop): the last sure way to a
    /// root. What this node caught since may not have reached the rest.
    pub(crate) verified: Instant,
    /// When to send the subscribe again if no parent adopts this node.
    pub(crate) retry: Option<Instant>,
    /// Which child takes the next pushed-down subscribe.
    pub(crate) push_next: usize,
    /// Whether the application was told the node is on the tree.
    pub(crate) announced: bool,
    /// Whether this node subscribes straight to the root, by secure
    /// routing ([`super::Scribe::secure_subscribe`]).
    pub(crate) secure: bool,
    /// Since when this node, or a subtree it took in, may have missed
    /// publications (cut off from the root); its subscribe asks for them.
    pub(crate) cut_at: Option<Instant>,
    recent: [u64; RECENT],
    recent_len: usize,
    recent_at: usize,
}

impl<const CHILDREN: usize> Group<CHILDREN> {
    pub(crate) fn new(id: Id, member: bool, now: Instant) -> Self {
        Group {
            id,
            member,
            parent: None,
            root: false,
            depth: DETACHED,
            children: Vec::new(),
            heard: now,
            asked: None,
            epoch: Epoch::default(),
            fresh: now,
            fresh_depth: 0,
            verified: now,
            retry: None,
            push_next: 0,
            announced: false,
            secure: false,
            cut_at: None,
            recent: [0; RECENT],
            recent_len: 0,
            recent_at: 0,
        }
    }

    /// Whether the node has a way to the root (it is the root, or its
    /// parent said it has one).
    pub fn attached(&self) -> bool {
        self.root || (self.parent.is_some() && self.depth != DETACHED)
    }

    /// Whether nothing keeps the node on this tree: no application
    /// interest and no children.
    pub(crate) fn idle(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Whether `id` is a child here.
    pub fn has_child(&self, id: Id) -> bool {
        self.children.iter().any(|c| c.id == id)
    }

    pub(crate) fn remove_child(&mut self, id: Id) -> bool {
        match self.children.iter().position(|c| c.id == id) {
            Some(i) => {
                self.children.remove(i);
                true
            }
            None => false,
        }
    }

    /// Records publication `id`; whether it is new here.
    pub(crate) fn first_sight(&mut self, id: u64) -> bool {
        if self.recent[..self.recent_len].contains(&id) {
            return false;
        }
        self.recent[self.recent_at] = id;
        self.recent_at = (self.recent_at + 1) % RECENT;
        self.recent_len = (self.recent_len + 1).min(RECENT);
        true
    }

    /// Takes `epoch` from the parent: the way to the root is alive if it
    /// moved on (or the parent is new, `reset`).
    pub(crate) fn heard_epoch(&mut self, epoch: Epoch, now: Instant, reset: bool) {
        // Serial-number order (RFC 1982), so the count may wrap.
        let newer = (epoch.count.wrapping_sub(self.epoch.count) as i32) > 0;
        let moved = epoch.root != self.epoch.root || newer;
        if moved {
            self.verified = now;
        }
        if reset || moved {
            self.epoch = epoch;
            self.fresh = now;
            self.fresh_depth = self.depth;
        }
    }

    /// When a still epoch means the chain above is cut or loops. Each level
    /// relays the epoch on its own beat timer, so the epoch can stand still
    /// for a beat period longer per level; the allowance uses the depth at
    /// the last advance, so in a loop (where depths climb) it stays put.
    pub(crate) fn stale_at(&self, heartbeat: core::time::Duration, max_depth: u8) -> Instant {
        let levels = u32::from(self.fresh_depth.min(max_depth));
        self.fresh + heartbeat * 2 + heartbeat / 2 * levels
    }

    /// The depth this node tells its children (0 at the root).
    pub(crate) fn told_depth(&self) -> u8 {
        if self.root { 0 } else { self.depth }
    }

    /// The depth this node has under a parent at `parent_depth`.
    pub(crate) fn set_depth_under(&mut self, parent_depth: u8) {
        self.depth = match parent_depth {
            DETACHED => DETACHED,
            d => d.saturating_add(1).min(DETACHED - 1),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publication_is_new_once_until_it_ages_out() {
        let mut g = Group::<4>::new(Id::ZERO, true, Instant::ZERO);
        assert!(g.first_sight(1));
        assert!(!g.first_sight(1));
        for id in 2..2 + RECENT as u64 {
            assert!(g.first_sight(id));
        }
        // Eight newer ids pushed 1 out.
        assert!(g.first_sight(1));
        assert!(!g.first_sight(RECENT as u64 + 1));
    }

    #[test]
    fn depth_follows_the_parent_and_detachment() {
        let mut g = Group::<4>::new(Id::ZERO, true, Instant::ZERO);
        assert!(!g.attached());
        g.parent = Some(Peer {
            id: Id::MAX,
            addr: core::net::SocketAddr::from(([10, 0, 0, 1], 1)),
        });
        g.set_depth_under(0);
        assert_eq!(g.depth, 1);
        assert!(g.attached());
        g.set_depth_under(DETACHED);
        assert!(!g.attached());
        g.set_depth_under(DETACHED - 1);
        assert_eq!(g.depth, DETACHED - 1);
    }
}
