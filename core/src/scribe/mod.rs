//! Group communication on the overlay, after Scribe (Castro, Druschel,
//! Kermarrec and Rowstron, JSAC 2002): a group is a key (the SHA-1 of its
//! name, [`group_id`]); the key's root is the group's *rendezvous*, and the
//! reverse paths of subscribes routed toward it form the group's tree.
//!
//! [`Scribe`] is an [`Application`](crate::Application) beside the
//! [`Node`](crate::Node), like the DHT, and uses only the KBR calls every
//! application gets ([`Kbr`]). A [`Host`](crate::Host) drives a node with
//! it: it puts Scribe's [`Joins`] forwarder on the node and calls
//! [`Scribe::install`] (Scribe's subscribes and anycasts, [`ROUTE_APP`],
//! are per-hop, so the first node on the way that is already on the tree
//! takes them, §2.2), hands it every node event, runs its heartbeats,
//! parent watching and timeouts, and passes on its news ([`ScribeEvent`]).
//! Its commands — [`Scribe::subscribe`], [`Scribe::unsubscribe`],
//! [`Scribe::publish`], [`Scribe::anycast`] — act at once.
//!
//! **Trees.** A subscribe stops at the first node already on the tree,
//! which adopts the sender as a child; a node on the way that is not on it
//! adopts the sender and subscribes itself (a *forwarder*). A node with
//! `CHILDREN` children passes a new one down to one of them (bounded
//! fan-out, §2.3). Publications go to the root and flow down; each member
//! delivers each once.
//!
//! **Repair (§2.4).** Parents send heartbeats to their children every half
//! [`ScribeConfig::heartbeat`], one datagram per child for all the groups
//! they share (publications count as heartbeats). A child whose beat is
//! an eighth of a `heartbeat` late asks its parent for one (one small
//! datagram); a live parent answers at once, and a child that gets no
//! answer within two round trips and another eighth (or, when its queue is
//! too busy to ask, hears nothing for a whole `heartbeat`) subscribes
//! again and the tree heals around the failed parent. It also tells the overlay
//! ([`Kbr::suspect`]), and its subscribe names the quiet parent, so every
//! node on the way that knows it routes around it until a probe answers.
//! When the quiet parent was the root, the next closest node finds every
//! node closer to the group id suspected and *stands in* as the root at
//! once (the root state's replication to the closest nodes that §2.4
//! sketches, without its copying): the tree heals within a heartbeat and a
//! round trip, though the overlay confirms the failure only after a lease
//! and a probe cycle. Should the old root answer after all, the stand-in
//! subscribes toward it and the trees merge. A root that learns of a
//! node closer to the group id subscribes toward it, so the tree follows
//! the new root. A forwarder left with no children and no member prunes
//! itself. Depths and the root's [`Epoch`] travel with heartbeats: a node whose epoch
//! stands still (a cut or looping chain above) or whose depth passes
//! [`ScribeConfig::max_depth`] rejoins. A node cut off from the root tells
//! its subtree at once and takes no children until it is back; a
//! re-attached subtree is sent the publications it missed (of the last
//! eight its new parent kept, at most [`ScribeConfig::replay`] back), and
//! sends its new parent in turn what it caught since its last sure way to
//! a root: a root that fails part way through sending a publication down
//! leaves it with only some subtrees, and this brings it to the rest.
//!
//! **Queue room.** Heartbeats leave two of the node's message slots free;
//! publications (eight at most) and small protocol messages (sixteen) wait
//! for room rather than being lost. A tree node needs well over
//! `CHILDREN` slots: the simulator gives nodes running Scribe 64.
//!
//! **Anycast (§2.5).** The message is routed toward the group id until it
//! meets the tree, then walks it depth-first, nearer children first, until a
//! member's [`Acceptor`] takes it; the sender learns who, or that nobody did.
//!
//! **Sizes.** A publication's payload may be up to [`Scribe::max_publish_len`]
//! (1,014 bytes with the default 1,280-byte datagrams on a node that
//! verifies its peers), an anycast's up to [`Scribe::max_anycast_len`]
//! (717 bytes, leaving room for a walk of 32 nodes).
//!
//! ## Three nodes, one group
//!
//! Scribe is an [`Application`](crate::Application): a [`Host`](crate::Host) drives a
//! node with it, through the one output door.
//!
//! ```
//! use core::net::SocketAddr;
//! use core::time::Duration;
//! use std::collections::VecDeque;
//! use pastry_core::identity::Keypair;
//! use pastry_core::node::Passthrough;
//! use pastry_core::scribe::{group_id, Members, Scribe, ScribeEvent};
//! use pastry_core::{Config, Host, HostEvent, Id, Instant, Output};
//!
//! type Peer = Host<Scribe>;
//! type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;
//!
//! /// The drain rule; keeps what members get.
//! fn drain(p: &mut Peer, wire: &mut Wire, got: &mut Vec<String>) {
//!     let mut buf = [0u8; 1280];
//!     loop {
//!         match p.poll_output(&mut buf).unwrap() {
//!             Output::Transmit(tx) => {
//!                 wire.push_back((tx.destination, p.own().addr, buf[..tx.len].to_vec()))
//!             }
//!             Output::Event(HostEvent::App(ScribeEvent::Delivered { data, .. })) => {
//!                 got.push(String::from_utf8_lossy(data).into())
//!             }
//!             Output::Event(_) => {}
//!             Output::Timeout(_) => return,
//!         }
//!     }
//! }
//!
//! fn run(peers: &mut [Peer], wire: &mut Wire, now: &mut Instant, until: Instant,
//!        got: &mut Vec<String>) {
//!     while *now < until {
//!         *now = *now + Duration::from_millis(1);
//!         if let Some((to, from, bytes)) = wire.pop_front() {
//!             let p = peers.iter_mut().find(|p| p.own().addr == to).unwrap();
//!             p.handle_datagram(*now, from, &bytes);
//!             drain(p, wire, got);
//!         }
//!         for p in peers.iter_mut() {
//!             if p.poll_timeout().is_some_and(|t| t <= *now) {
//!                 p.handle_timeout(*now);
//!                 drain(p, wire, got);
//!             }
//!         }
//!     }
//! }
//!
//! let mut peers: Vec<Peer> = (1..=3u8)
//!     .map(|i| {
//!         let addr = SocketAddr::from(([10, 0, 0, i], 4000));
//!         let scribe = Scribe::new(Default::default(), Members).unwrap();
//!         Host::new(Config::default(), Keypair::from_secret([i; 32]), addr, i.into(), scribe, Passthrough)
//!             .unwrap()
//!     })
//!     .collect();
//! let (mut wire, mut now, mut got) = (Wire::new(), Instant::from_secs(1), Vec::new());
//! let bootstrap = peers[0].own().addr;
//! for (i, p) in peers.iter_mut().enumerate() {
//!     let (_, node, now) = p.parts_at(now);
//!     node.join(now, (i > 0).then_some(bootstrap)).unwrap();
//!     drain(p, &mut wire, &mut got);
//! }
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(3), &mut got);
//!
//! // Nodes 2 and 3 subscribe; node 1 publishes.
//! let group = group_id(b"news");
//! for p in &mut peers[1..] {
//!     let (scribe, node, now) = p.parts_at(now);
//!     scribe.subscribe(now, node, group).unwrap();
//!     drain(p, &mut wire, &mut got);
//! }
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(4), &mut got);
//! let (scribe, node, at) = peers[0].parts_at(now);
//! scribe.publish(at, node, group, b"hello").unwrap();
//! drain(&mut peers[0], &mut wire, &mut got);
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(5), &mut got);
//! assert_eq!(got, ["hello", "hello"]);
//! ```

mod anycast;
mod app;
mod ctl;
mod heartbeat;
mod membership;
pub(crate) mod msg;
mod publish;
mod tree;
mod types;

use core::time::Duration;

use heapless::{Deque, Vec};

use crate::id::Id;
use crate::node::{AppPolicy, CommandError, Event, Kbr};
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::AppId;

pub use membership::Joins;
pub use msg::{
    ANYCAST_OVERHEAD, Epoch, PUBLISH_OVERHEAD, anycast_of, data_of, is_anycast, is_anycast_reply,
    is_subscribe, subscribe_of,
};
pub use tree::{DETACHED, Group};
pub use types::{
    AcceptWith, Acceptor, AnycastError, AnycastId, Members, ScribeConfig, ScribeError, ScribeEvent,
    ScribeStats, Upcall,
};

use anycast::Walk;
use ctl::{Ctl, send, send_ctl};
use msg::{BEAT_ENTRY, Msg, ON_THE_WAY, beat_entries};
use publish::{Came, Kept, Spreading};

/// Scribe's tree traffic (end-node: sent straight to a parent or child,
/// and publications to the root).
pub const APP: AppId = AppId(0x5343);
/// Scribe's subscribes and anycasts (per-hop, so the tree can meet them).
pub const ROUTE_APP: AppId = AppId(0x5352);

/// Anycasts of one node in flight.
pub const MAX_ANYCASTS: usize = 16;
/// Outcomes waiting for [`Scribe::poll_event`].
const MAX_EVENTS: usize = 16;
/// Room kept in an anycast for the walk's visited list.
const MIN_WALK: usize = 32;
/// Publications waiting for room in the node's queue to go on.
const BACKLOG: usize = 8;
/// Recent publications kept to replay to a re-attached subtree.
const HISTORY: usize = 8;
/// Message slots heartbeats leave free (for publications and subscribes).
const BEAT_RESERVE: usize = 2;
/// Small messages (subscribes, single heartbeats, leaves, replies) kept
/// while the node's queue is full, and the largest such message.
const CTL: usize = 16;
const CTL_BYTES: usize = 96;
/// Children a heartbeat round tracks individually.
const BEAT_ROUND: usize = 64;

/// A group's id: the SHA-1 of its name.
pub fn group_id(name: &[u8]) -> Id {
    Id::sha1(name)
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    op: AnycastId,
    group: Id,
    deadline: Instant,
}

/// Scribe at one node: its part in up to `GROUPS` trees, with up to
/// `CHILDREN` children in each.
#[derive(Debug)]
pub struct Scribe<A = Members, const GROUPS: usize = 16, const CHILDREN: usize = 8> {
    config: ScribeConfig,
    acceptor: A,
    groups: Vec<Group<CHILDREN>, GROUPS>,
    pending: Vec<Pending, MAX_ANYCASTS>,
    events: Deque<ScribeEvent<'static>, MAX_EVENTS>,
    next_beat: Option<Instant>,
    /// Children beaten this round, while a round waits for queue room.
    beaten: Vec<Id, BEAT_ROUND>,
    beating: bool,
    /// Children's asks for a late beat answered this round.
    asks_answered: u8,
    backlog: Deque<Spreading<CHILDREN>, BACKLOG>,
    ctl: Deque<Ctl, CTL>,
    history: Deque<Kept, HISTORY>,
    next_id: u64,
    stats: ScribeStats,
    /// News from the last delivery, waiting for the host.
    lent: app::Lent,
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// Scribe with `acceptor` deciding anycasts at this node's members.
    pub fn new(config: ScribeConfig, acceptor: A) -> Result<Self, ScribeError> {
        if config.heartbeat < Duration::from_millis(2)
            || config.subscribe_retry.is_zero()
            || config.anycast_timeout.is_zero()
            || config.max_depth == 0
            || config.max_depth == DETACHED
            || CHILDREN == 0
            || GROUPS == 0
        {
            return Err(ScribeError::BadConfig);
        }
        Ok(Scribe {
            config,
            acceptor,
            groups: Vec::new(),
            pending: Vec::new(),
            events: Deque::new(),
            next_beat: None,
            beaten: Vec::new(),
            asks_answered: 0,
            beating: false,
            backlog: Deque::new(),
            ctl: Deque::new(),
            history: Deque::new(),
            next_id: 0,
            stats: ScribeStats::default(),
            lent: None,
        })
    }

    /// Sets the node's policy for Scribe's two applications (tree traffic
    /// end-node, subscribes and anycasts per-hop).
    pub fn install(&self, node: &mut impl Kbr) -> Result<(), CommandError> {
        let policy = |per_hop| AppPolicy {
            allow: true,
            per_hop,
            receipts: false,
        };
        node.set_policy(APP, policy(false))?;
        node.set_policy(ROUTE_APP, policy(true))
    }

    /// The settings.
    pub fn config(&self) -> &ScribeConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &ScribeStats {
        &self.stats
    }

    /// The anycast predicate.
    pub fn acceptor(&self) -> &A {
        &self.acceptor
    }

    /// The anycast predicate, to change it.
    pub fn acceptor_mut(&mut self) -> &mut A {
        &mut self.acceptor
    }

    /// The trees this node is on.
    pub fn groups(&self) -> &[Group<CHILDREN>] {
        &self.groups
    }

    /// This node's place in `group`'s tree, if it is on it.
    pub fn group(&self, group: Id) -> Option<&Group<CHILDREN>> {
        self.groups.iter().find(|g| g.id == group)
    }

    /// The largest publication payload `node` can carry.
    pub fn max_publish_len(&self, node: &impl Kbr) -> usize {
        node.max_payload().saturating_sub(PUBLISH_OVERHEAD)
    }

    /// The largest anycast payload (room is kept for a 32-node walk).
    pub fn max_anycast_len(&self, node: &impl Kbr) -> usize {
        node.max_payload()
            .saturating_sub(ANYCAST_OVERHEAD + 8 * MIN_WALK)
    }

    // ----- commands -----

    /// Sends a small protocol message straight to `to`, waiting for queue
    /// room if the node has none.
    fn tell(&mut self, now: Instant, node: &mut impl Kbr, to: Peer, m: &Msg<'_>) {
        let _ = send_ctl(
            &mut self.ctl,
            node,
            now,
            Some(to),
            to.id,
            APP,
            m,
            &mut self.stats,
        );
    }

    /// Routes a subscribe or an anycast toward `group` (per-hop, so the
    /// tree can meet it), first through `hint` if given.
    fn toward(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        hint: Option<Peer>,
        group: Id,
        m: &Msg<'_>,
    ) {
        let _ = send_ctl(
            &mut self.ctl,
            node,
            now,
            hint,
            group,
            ROUTE_APP,
            m,
            &mut self.stats,
        );
    }

    /// `m` to the group id's root by `sec_route`; if the node takes no
    /// secure route now, the subscribe retry timer sends it again.
    #[cfg(feature = "secure-routing")]
    fn subscribe_securely(&mut self, now: Instant, node: &mut impl Kbr, group: Id, m: &Msg<'_>) {
        match node.secure_route_encoded(now, group, ROUTE_APP, 1, |b| m.encode(b)) {
            Ok((_, len)) => {
                self.stats.sent += 1;
                self.stats.sent_bytes += len as u64;
            }
            Err(_) => self.stats.dropped += 1,
        }
    }

    fn fresh_id(&mut self, own: Id) -> u64 {
        self.next_id += 1;
        let b = own.to_bytes();
        (u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) << 32)
            | (self.next_id & 0xffff_ffff)
    }

    // ----- events -----

    /// Takes one node event (the host's [`Application::handle_event`](crate::Application::handle_event)
    /// calls this). Scribe's own messages are handled here; what the
    /// application should see comes back.
    pub fn handle_event<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        ev: Event<'b>,
    ) -> Option<Upcall<'b>> {
        match ev {
            Event::Deliver(d) if d.app == APP || d.app == ROUTE_APP => {
                match Msg::decode(d.payload) {
                    Ok(m) => self.on_message(now, node, d.key, d.source, m),
                    Err(_) => {
                        self.stats.malformed += 1;
                        None
                    }
                }
            }
            Event::RouteFailed { app, .. } if app == APP || app == ROUTE_APP => {
                // Subscribes are retried on their timer, heartbeats every
                // half period, anycasts time out.
                None
            }
            Event::Joined | Event::Update { .. } => {
                self.check_roots(now, node);
                Some(Upcall::Overlay(ev))
            }
            other => Some(Upcall::Overlay(other)),
        }
    }

    fn on_message<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        source: Peer,
        m: Msg<'b>,
    ) -> Option<Upcall<'b>> {
        let own = node.own();
        match m {
            Msg::Subscribe {
                group,
                flags,
                child,
                lost,
                missed,
            } => {
                if let Some(lost) = lost {
                    self.drop_lost(now, node, group, lost);
                }
                let sub = membership::Sub {
                    group,
                    child,
                    lost,
                    silent: flags & msg::SILENT != 0,
                    missed,
                };
                self.on_subscribe(now, node, key, flags, sub)
            }
            Msg::Beat { entries } => {
                for (group, depth, epoch) in beat_entries(entries) {
                    if key != own.id {
                        // Meant for a child that is gone (see `Data`).
                        self.send_leave(now, node, group, key, source);
                        continue;
                    }
                    match self.find(group) {
                        Some(gi) => self.heard_parent(now, node, gi, source, depth, Some(epoch)),
                        None => self.leave(now, node, group, source),
                    }
                }
            }
            Msg::BeatAsk => self.answer_ask(now, node, source.id),
            Msg::Leave { group, child } => {
                let gi = self.find(group)?;
                if child == own.id {
                    // Our parent dropped us (see `Subscribe`'s `lost`):
                    // find another way now rather than a heartbeat later.
                    if self.groups[gi].parent.is_some_and(|p| p.id == source.id) {
                        self.attach(now, node, gi, Some(source.id), false);
                    }
                } else if self.groups[gi].remove_child(child) {
                    self.prune(now, node, gi);
                }
            }
            Msg::Publish { group, id, data } => {
                let Some(gi) = self.find(group) else {
                    self.stats.without_tree += 1;
                    return None;
                };
                // Normally we are the tree's root; if the overlay brought it
                // to another tree node (its view lagging a root change), it
                // also goes up, so the whole tree still gets it.
                return self.spread(now, node, gi, Came::ToRoot, id, data);
            }
            Msg::Data {
                group,
                id,
                depth,
                data,
            } => {
                if key != own.id {
                    self.send_leave(now, node, group, key, source);
                    return None;
                }
                let Some(gi) = self.find(group) else {
                    self.leave(now, node, group, source);
                    return None;
                };
                let from_child = self.groups[gi].has_child(source.id);
                if !from_child {
                    self.heard_parent(now, node, gi, source, depth, None);
                }
                let came = if from_child {
                    Came::Up(source.id)
                } else {
                    Came::Down(source.id)
                };
                return self.spread(now, node, gi, came, id, data);
            }
            Msg::Anycast {
                group,
                flags,
                op,
                origin,
                budget,
                visited,
                data,
            } => {
                let walk = Walk {
                    group,
                    op: AnycastId(op),
                    origin,
                    budget,
                    visited,
                    data,
                };
                if self.find(group).is_some() {
                    return self.walk(now, node, walk).map(Upcall::Scribe);
                } else if key == group && flags & ON_THE_WAY == 0 {
                    // The root, and no tree: nobody to accept.
                    self.reply(now, node, walk.group, walk.op, walk.origin, None);
                } else if budget > 0 {
                    // Not on the tree (on the way, or a tree node that was
                    // here is gone): on toward the group.
                    let walk = Walk {
                        budget: budget - 1,
                        ..walk
                    };
                    self.stats.anycasts_sent += 1;
                    let m = walk.msg(0);
                    self.toward(now, node, None, group, &m);
                } else {
                    self.reply(now, node, walk.group, walk.op, walk.origin, None);
                }
            }
            Msg::AnycastReply { group, op, by } => {
                return self.finish(AnycastId(op), group, by).map(Upcall::Scribe);
            }
        }
        None
    }

    /// An outcome found on a timer or a local step.
    pub fn poll_event(&mut self) -> Option<ScribeEvent<'static>> {
        self.events.pop_front()
    }

    fn push_event(&mut self, ev: ScribeEvent<'static>) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(ev);
    }
}

/// Whether `node` may send `data` of at most `max` bytes now.
fn ready(node: &impl Kbr, data: &[u8], max: usize) -> Result<(), ScribeError> {
    if !node.is_active() {
        return Err(ScribeError::NotActive);
    }
    if data.len() > max {
        return Err(ScribeError::PayloadTooLarge { max });
    }
    Ok(())
}
