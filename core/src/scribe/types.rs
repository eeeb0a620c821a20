//! Scribe's settings, errors, outcomes, anycast acceptors and counters.

use core::fmt;
use core::time::Duration;

use crate::id::Id;
use crate::node::{CommandError, Event};
use crate::peer::Peer;

/// Settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ScribeConfig {
    /// A child that hears nothing from its parent for this long subscribes
    /// again; parents beat twice per period, so one lost beat is no alarm.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub heartbeat: Duration,
    /// A subscribe nobody answered is sent again after this long.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub subscribe_retry: Duration,
    /// An anycast with no answer by then fails.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub anycast_timeout: Duration,
    /// Depth past which a node assumes its parent chain loops and rejoins.
    pub max_depth: u8,
    /// Tree hops an anycast may take before it gives up.
    pub anycast_budget: u8,
    /// How far back a re-attached subtree is sent the publications it may
    /// have missed. The default covers the overlay's confirmation of a
    /// failed root (lease plus a probe cycle, about 54 s by default), during
    /// which publications reach only part of the tree.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub replay: Duration,
}

impl Default for ScribeConfig {
    fn default() -> Self {
        ScribeConfig {
            heartbeat: Duration::from_secs(4),
            subscribe_retry: Duration::from_secs(3),
            anycast_timeout: Duration::from_secs(10),
            max_depth: 40,
            anycast_budget: 64,
            replay: Duration::from_secs(60),
        }
    }
}

/// Why a command was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScribeError {
    /// The node is not active yet.
    NotActive,
    /// The node is on `GROUPS` trees already.
    TooManyGroups,
    /// This node is not a member of the group.
    NotSubscribed,
    /// The payload is over the limit (see [`Scribe::max_publish_len`](super::Scribe::max_publish_len)).
    PayloadTooLarge {
        /// The limit.
        max: usize,
    },
    /// [`MAX_ANYCASTS`](super::MAX_ANYCASTS) anycasts are in flight.
    Busy,
    /// The node refused to send (its queue is full).
    Overlay(CommandError),
    /// A setting is out of range.
    BadConfig,
}

impl fmt::Display for ScribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScribeError::NotActive => f.write_str("the node is not active"),
            ScribeError::TooManyGroups => f.write_str("the node is on as many trees as it can"),
            ScribeError::NotSubscribed => f.write_str("not a member of the group"),
            ScribeError::PayloadTooLarge { max } => write!(f, "payload over {max} bytes"),
            ScribeError::Busy => f.write_str("too many anycasts in flight"),
            ScribeError::Overlay(e) => write!(f, "the node refused to send: {e}"),
            ScribeError::BadConfig => f.write_str("invalid Scribe configuration"),
        }
    }
}

impl core::error::Error for ScribeError {}

/// Names one anycast of this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnycastId(pub u64);

/// Why an anycast found nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnycastError {
    /// The walk covered the tree (or its budget) and no member accepted,
    /// or the group has no tree.
    NoneAccepted,
    /// No answer in time.
    TimedOut,
}

impl fmt::Display for AnycastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnycastError::NoneAccepted => f.write_str("no member accepted"),
            AnycastError::TimedOut => f.write_str("the anycast timed out"),
        }
    }
}

impl core::error::Error for AnycastError {}

/// What Scribe tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScribeEvent<'a> {
    /// This member is on the group's tree with a way to its root.
    Attached {
        /// The group.
        group: Id,
    },
    /// A publication for a group this node is a member of (once each).
    Delivered {
        /// The group.
        group: Id,
        /// The publication's id (unique per publisher).
        id: u64,
        /// The payload.
        data: &'a [u8],
    },
    /// A member accepted this node's anycast.
    AnycastAccepted {
        /// The anycast.
        op: AnycastId,
        /// The group.
        group: Id,
        /// The member that accepted.
        by: Peer,
    },
    /// This member took another node's anycast (its acceptor said yes):
    /// the bytes are the application's to act on. (A node's own anycast
    /// that it takes itself is its `AnycastAccepted`.)
    AnycastTaken {
        /// The group.
        group: Id,
        /// The node that sent the anycast.
        origin: Peer,
        /// The payload.
        data: &'a [u8],
    },
    /// This node's anycast found no member.
    AnycastFailed {
        /// The anycast.
        op: AnycastId,
        /// The group.
        group: Id,
        /// Why.
        error: AnycastError,
    },
}

/// What [`Scribe::handle_event`](super::Scribe::handle_event) hands back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upcall<'a> {
    /// A node event that is not Scribe's.
    Overlay(Event<'a>),
    /// Scribe's own news.
    Scribe(ScribeEvent<'a>),
}

/// The application's predicate for anycasts (the seed's "DFS with
/// predicate"): a member that returns `true` takes the message (and has
/// it: `data` is the payload).
pub trait Acceptor {
    /// Whether this member takes an anycast to `group`.
    fn accept(&mut self, group: Id, data: &[u8]) -> bool;
}

/// Every member accepts every anycast.
#[derive(Clone, Copy, Debug, Default)]
pub struct Members;

impl Acceptor for Members {
    fn accept(&mut self, _group: Id, _data: &[u8]) -> bool {
        true
    }
}

/// A closure as the predicate.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptWith<F>(pub F);

impl<F: FnMut(Id, &[u8]) -> bool> Acceptor for AcceptWith<F> {
    fn accept(&mut self, group: Id, data: &[u8]) -> bool {
        (self.0)(group, data)
    }
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScribeStats {
    /// Subscribes sent (routed one hop at a time, or pushed down).
    pub subscribes_sent: u64,
    /// Subscribes a full node passed down to a child.
    pub pushed_down: u64,
    /// Of the subscribes sent, those sent straight to the root by secure
    /// routing.
    pub secure_subscribes: u64,
    /// Heartbeat datagrams sent (each for all groups shared with a child).
    pub beats_sent: u64,
    /// Publications sent down to children.
    pub data_sent: u64,
    /// Publications delivered to this node's application.
    pub delivered: u64,
    /// Copies of a publication seen again (not delivered twice).
    pub duplicates: u64,
    /// Leaves sent (prunes and corrections).
    pub leaves_sent: u64,
    /// Anycast messages sent (routed hops and tree steps).
    pub anycasts_sent: u64,
    /// Anycasts this node's members accepted.
    pub anycasts_accepted: u64,
    /// Times a parent went quiet and this node subscribed again.
    pub parent_losses: u64,
    /// Late heartbeats this node asked its parents for.
    pub beats_asked: u64,
    /// Times a depth past the limit broke a loop.
    pub loops_broken: u64,
    /// Times the root's epoch stood still under a live parent (a cut or
    /// looping chain) and this node subscribed again.
    pub stale_paths: u64,
    /// Subscribes not taken because the node was on `GROUPS` trees.
    pub refused: u64,
    /// Publications for a group with no tree at its root.
    pub without_tree: u64,
    /// Messages the node would not take (its queue was full).
    pub dropped: u64,
    /// Payloads that did not decode.
    pub malformed: u64,
    /// Recent publications sent again: down to re-attached children, or
    /// up to a new parent.
    pub replayed: u64,
    /// Datagrams and bytes Scribe sent.
    pub sent: u64,
    /// Bytes of those.
    pub sent_bytes: u64,
}

impl core::ops::AddAssign for ScribeStats {
    /// Sums counters (of several nodes, say).
    fn add_assign(&mut self, o: ScribeStats) {
        self.subscribes_sent += o.subscribes_sent;
        self.pushed_down += o.pushed_down;
        self.secure_subscribes += o.secure_subscribes;
        self.beats_sent += o.beats_sent;
        self.data_sent += o.data_sent;
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.leaves_sent += o.leaves_sent;
        self.anycasts_sent += o.anycasts_sent;
        self.anycasts_accepted += o.anycasts_accepted;
        self.parent_losses += o.parent_losses;
        self.beats_asked += o.beats_asked;
        self.loops_broken += o.loops_broken;
        self.stale_paths += o.stale_paths;
        self.refused += o.refused;
        self.without_tree += o.without_tree;
        self.dropped += o.dropped;
        self.malformed += o.malformed;
        self.replayed += o.replayed;
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
    }
}
