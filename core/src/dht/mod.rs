//! Replicated storage on the overlay, after PAST (Rowstron and Druschel,
//! SOSP 2001): a value lives on its key's *replica set*, the k live nodes
//! whose ids are numerically closest to the key (k = 5 by default).
//!
//! [`Dht`] is an application beside the [`Node`](crate::Node), built only
//! on the KBR calls every application gets ([`Kbr`]): it routes its messages
//! with [`APP`] (and gets with [`LOOKUP_APP`]) and consumes the node's events
//! for them. It is sans-IO like the node:
//!
//! * commands — [`Dht::put`], [`Dht::put_content`], [`Dht::get`],
//!   [`Dht::get_content`] — return an [`OpId`] at once;
//! * every node event goes through [`Dht::handle_event`] (polled from the
//!   node with [`Node::poll_event_into`](crate::Node::poll_event_into), so
//!   the DHT may use the node while handling it), which hands back what is
//!   not the DHT's and reports completed operations;
//! * [`Dht::poll_timeout`] / [`Dht::handle_timeout`] run operation timeouts
//!   and replica maintenance, and [`Dht::poll_event`] yields the outcomes
//!   found there (timeouts).
//!
//! After any of these, drain the node's transmits as usual.
//!
//! **Sizes**: a value travels in one datagram with its header; the largest
//! is [`Dht::max_value_len`] (1,086 bytes with the default 1,280-byte
//! datagrams). A larger one is refused with [`DhtError::ValueTooLarge`].
//!
//! **Consistency**: a put goes to the key's root, which stores it and
//! copies it to the rest of the replica set; each replica acknowledges to
//! the client, and the put completes once `quorum` have stored it. Newer
//! versions replace older ones everywhere; a replica holding a newer one
//! refuses the write ([`PutError::Stale`]). Content-hash keys (key = SHA-1
//! of the value) are checked by every node on store and by the client on
//! read; a forgery is refused and counted.
//!
//! ## Three nodes storing a value
//!
//! ```
//! use core::net::SocketAddr;
//! use core::time::Duration;
//! use std::collections::VecDeque;
//! use pastry_core::dht::{Dht, DhtConfig, DhtEvent, MapStore, Upcall};
//! use pastry_core::{Config, Id, Instant, Node, Payload};
//!
//! struct Peer { node: Node, dht: Dht<MapStore> }
//! type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;
//!
//! /// The drain rule with the DHT in the event path; returns DHT outcomes.
//! fn drain(p: &mut Peer, now: Instant, wire: &mut Wire, seen: &mut Vec<String>) {
//!     let mut buf = [0u8; 1280];
//!     let mut payload = Payload::new();
//!     loop {
//!         while let Some(tx) = p.node.poll_transmit(&mut buf).unwrap() {
//!             wire.push_back((tx.destination, p.node.own().addr, buf[..tx.len].to_vec()));
//!         }
//!         let Some(ev) = p.node.poll_event_into(&mut payload) else { break };
//!         if let Some(Upcall::Dht(ev)) = p.dht.handle_event(now, &mut p.node, ev) {
//!             seen.push(match ev {
//!                 DhtEvent::Stored { replicas, .. } => format!("stored on {replicas}"),
//!                 DhtEvent::Found { value, .. } => String::from_utf8_lossy(value).into(),
//!                 other => format!("{other:?}"),
//!             });
//!         }
//!     }
//! }
//!
//! let config = DhtConfig { replicas: 3, quorum: 2, ..DhtConfig::default() };
//! let mut peers: Vec<Peer> = (1..=3u8)
//!     .map(|i| {
//!         let addr = SocketAddr::from(([10, 0, 0, i], 4000));
//!         let mut node = Node::new(Config::default(), Id::sha1(&[i]), addr, i.into()).unwrap();
//!         let dht = Dht::new(config.clone(), MapStore::new(), i.into()).unwrap();
//!         dht.install(&mut node).unwrap();
//!         Peer { node, dht }
//!     })
//!     .collect();
//! let (mut wire, mut now, mut seen) = (Wire::new(), Instant::from_secs(1), Vec::new());
//! peers[0].node.join(now, None).unwrap();
//! let bootstrap = peers[0].node.own().addr;
//! for p in &mut peers[1..] {
//!     p.node.join(now, Some(bootstrap)).unwrap();
//!     drain(p, now, &mut wire, &mut seen);
//! }
//! fn run(peers: &mut [Peer], wire: &mut Wire, now: &mut Instant, until: Instant,
//!        seen: &mut Vec<String>) {
//!     while *now < until {
//!         *now = *now + Duration::from_millis(1);
//!         if let Some((to, from, bytes)) = wire.pop_front() {
//!             let p = peers.iter_mut().find(|p| p.node.own().addr == to).unwrap();
//!             p.node.handle_datagram(*now, from, &bytes);
//!             drain(p, *now, wire, seen);
//!         }
//!         for p in peers.iter_mut() {
//!             let due = |t: Option<Instant>| t.is_some_and(|t| t <= *now);
//!             if due(p.node.poll_timeout()) || due(p.dht.poll_timeout()) {
//!                 p.node.handle_timeout(*now);
//!                 p.dht.handle_timeout(*now, &mut p.node);
//!                 drain(p, *now, wire, seen);
//!             }
//!         }
//!     }
//! }
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(3), &mut seen);
//!
//! // Node 1 stores a value; node 2 reads it back.
//! let key = Id::sha1(b"greeting");
//! let Peer { node, dht } = &mut peers[1];
//! dht.put(now, node, key, 1, b"hello").unwrap();
//! drain(&mut peers[1], now, &mut wire, &mut seen);
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(4), &mut seen);
//! let Peer { node, dht } = &mut peers[2];
//! dht.get(now, node, key).unwrap();
//! drain(&mut peers[2], now, &mut wire, &mut seen);
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(5), &mut seen);
//! assert_eq!(seen, ["stored on 2", "hello"]);
//! // Every node holds it: here the replica set is the whole ring.
//! use pastry_core::dht::Store;
//! assert!(peers.iter().all(|p| p.dht.store().get(key).is_some()));
//! ```
//!
//! **Maintenance** ([`sync`](self)): when the leaf set changes, and on a
//! period, each node summarises to each neighbour the values in the range
//! that neighbour should hold (a count and a hash); a neighbour whose own
//! summary differs lists its keys and versions, and the holder pushes what
//! is missing. A node pushed out of a key's replica set keeps its copy as
//! a *spare* while it is among the `replicas + spares` closest
//! ([`DhtConfig::spares`]); beyond that it drops the value only once every
//! current replica has confirmed holding it.

mod cache;
pub(crate) mod msg;
pub mod store;
mod sync;

use core::fmt;
use core::time::Duration;

use heapless::{Deque, Vec};

use crate::id::{Distance, Id};
use crate::node::{AppPolicy, CommandError, Event, Kbr, MAX_PAYLOAD};
use crate::peer::Peer;
use crate::rng::SmallRng;
use crate::time::Instant;
use crate::wire::AppId;

pub use cache::{Cache, Lookups};
pub use msg::{VALUE_OVERHEAD, is_replication};
#[cfg(feature = "alloc")]
pub use store::MapStore;
pub use store::{FixedStore, Item, Meta, Store, StoreError};

use msg::{Msg, Outcome};

/// The DHT's application id (end-node: puts, replica copies, replies,
/// maintenance).
pub const APP: AppId = AppId(0x5041);
/// The application id of gets (routed separately so a node may serve
/// lookups on the path from a cache).
pub const LOOKUP_APP: AppId = AppId(0x5047);

/// Most operations of one node in flight at once.
pub const MAX_OPS: usize = 32;
/// Most messages waiting for room in the node.
pub const MAX_DEFERRED: usize = 32;
const MAX_EVENTS: usize = MAX_OPS;

/// Settings; the defaults are PAST's k = 5 with a majority quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtConfig {
    /// k: replicas per value, below L/2 (at most 7 with the default
    /// 16-member leaf set). Replicas keep in sync with the neighbours whose
    /// range of keys (KBR `range(n, k)`) the leaf set can tell, which needs
    /// each one's k-th neighbour on the far side; at k = L/2 that is none,
    /// and nothing is repaired (simulated, 1,000 nodes with 3-minute
    /// sessions: k = 8 lost 2,924 of 2,931 values in an hour; k = 6 and 7
    /// none with 4-minute sessions). `Dht::new` checks the bound of the
    /// largest leaf set (`MAX_LEAF_HALF`); on a node with a smaller one,
    /// puts and gets are refused with [`DhtError::BadConfig`].
    pub replicas: usize,
    /// A node that falls out of a key's replica set (nodes joined closer)
    /// keeps its copy while it is among the `replicas + spares` nodes
    /// closest to the key, as a spare: it costs no traffic, and when the k
    /// replicas fail faster than they are repaired the spares, next in
    /// line, are the new replica set and still hold the value. Spares are
    /// not counted as replicas, are not kept up to date, answer no get on
    /// the way, and are the first evicted from a full store. At most
    /// `L/2 + 1 − replicas`; 0 drops a copy as soon as the replica set
    /// holds it.
    pub spares: usize,
    /// The first `eager_spares` of the spares (the nodes ranked k + 1 to
    /// k + `eager_spares`) are kept in sync like replicas, whether or not
    /// a join pushed them out: replica maintenance pushes to them and
    /// updates them. They still answer no get and count toward no quorum.
    /// They are for bursts of crashes faster than failure detection: a
    /// simulated day lost a value whose five replicas all crashed within
    /// 34 s, inside one lease, while the next nodes in line held nothing.
    /// Costs replication traffic (2.3 times the replication messages at
    /// 10-minute sessions, a few percent of all traffic). Only spares can
    /// be eager (with `spares: 0`, none is), and only as many as a node's
    /// leaf set can keep in sync: `replicas` plus the eager ones stay
    /// below half of it. Default 2.
    pub eager_spares: usize,
    /// Replicas that must store a put before it is acknowledged.
    pub quorum: usize,
    /// How long an operation may take before it is reported timed out.
    pub op_timeout: Duration,
    /// A get with no answer by then is sent once more.
    pub get_retry: Duration,
    /// Replica maintenance runs this long after a leaf-set change
    /// (several changes in a burst share one round).
    pub sync_delay: Duration,
    /// ... and at least this often.
    pub sync_period: Duration,
    /// How long a copy cached along a lookup path may be served (zero: no
    /// caching). Bounds how stale a cached answer can be.
    pub cache_ttl: Duration,
}

impl Default for DhtConfig {
    fn default() -> DhtConfig {
        DhtConfig {
            replicas: 5,
            // With 10-minute sessions a failure is noticed only after a
            // lease (~33 s): 5 replicas alone lost a few values a day at
            // 10,000 nodes, all their holders gone within one lease.
            spares: 3,
            // ... and with none of them eager a simulated day still lost
            // one (its holders crashed within 34 s); see the README.
            eager_spares: 2,
            quorum: 3,
            // A message whose root just failed waits (MSPastry) until the
            // failure is confirmed, up to ~20 s with the default probes.
            op_timeout: Duration::from_secs(30),
            get_retry: Duration::from_secs(5),
            sync_delay: Duration::from_secs(1),
            sync_period: Duration::from_secs(600),
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// A refused command. Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhtError {
    /// The node is not active.
    NotActive,
    /// The value is over `max` bytes ([`Dht::max_value_len`]).
    ValueTooLarge {
        /// The largest value.
        max: usize,
    },
    /// Too many operations in flight, or the node's queues are full;
    /// retry after some complete.
    Busy,
    /// The configuration is invalid (k of 0 or not below half the
    /// node's leaf set, or a quorum of 0 or above k).
    BadConfig,
}

impl fmt::Display for DhtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhtError::NotActive => f.write_str("the node is not active"),
            DhtError::ValueTooLarge { max } => write!(f, "value over {max} bytes"),
            DhtError::Busy => f.write_str("too many operations in flight"),
            DhtError::BadConfig => f.write_str("invalid DHT configuration"),
        }
    }
}

impl core::error::Error for DhtError {}

/// Names one put or get of this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Why a put did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutError {
    /// A replica holds a newer version (or this version with other bytes).
    Stale {
        /// The version it holds.
        current: u64,
    },
    /// The value's key is not its SHA-1.
    Forged,
    /// Fewer than `quorum` replicas stored it in time.
    TimedOut {
        /// How many did.
        replicas: u8,
    },
}

/// What became of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhtEvent<'a> {
    /// A put reached its quorum.
    Stored {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
        /// Replicas that acknowledged so far (at least the quorum).
        replicas: u8,
    },
    /// A put failed.
    PutFailed {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
        /// Why.
        error: PutError,
    },
    /// A get found the value.
    Found {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
        /// The value's version.
        version: u64,
        /// Whether a cache on the path answered (not a replica).
        cached: bool,
        /// The value.
        value: &'a [u8],
    },
    /// No replica holds the key.
    NotFound {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
    },
    /// A get had no answer in time.
    GetTimedOut {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
    },
}

/// What [`Dht::handle_event`] hands back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upcall<'a> {
    /// A node event that is not (only) the DHT's.
    Overlay(Event<'a>),
    /// A DHT operation's outcome.
    Dht(DhtEvent<'a>),
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Values stored by this node as a replica (new or newer).
    pub stored: u64,
    /// Writes refused because a newer version was held.
    pub stale_refused: u64,
    /// Writes refused because the store was full.
    pub full_refused: u64,
    /// Values whose key is not their hash, refused on store or read.
    pub forged: u64,
    /// DHT messages that did not decode.
    pub malformed: u64,
    /// Gets this node answered.
    pub gets_served: u64,
    /// Of those, answered from the cache.
    pub gets_served_from_cache: u64,
    /// Gets handed to this node on their way to the root (the
    /// [`Lookups`] forwarder), answered here or sent on.
    pub gets_on_the_way: u64,
    /// Of those, answered here (from a replica's copy or the cache).
    pub gets_answered_on_the_way: u64,
    /// Values dropped after every current replica confirmed them.
    pub handed_off: u64,
    /// Values this node had no room for and diverted to a neighbour.
    pub diverted: u64,
    /// Spare copies removed to make room for a replica's
    /// ([`DhtConfig::spares`]).
    pub spares_evicted: u64,
    /// Messages this node sent, and their payload bytes.
    pub sent: u64,
    /// Their payload bytes.
    pub sent_bytes: u64,
    /// Messages that waited for room in the node.
    pub deferred: u64,
    /// Messages dropped because even the wait list was full (maintenance
    /// sends them again).
    pub dropped: u64,
    /// Maintenance rounds run.
    pub sync_rounds: u64,
}

impl core::ops::AddAssign for DhtStats {
    /// Sums counters (of several nodes, say).
    fn add_assign(&mut self, o: DhtStats) {
        self.stored += o.stored;
        self.stale_refused += o.stale_refused;
        self.full_refused += o.full_refused;
        self.forged += o.forged;
        self.malformed += o.malformed;
        self.gets_served += o.gets_served;
        self.gets_served_from_cache += o.gets_served_from_cache;
        self.gets_on_the_way += o.gets_on_the_way;
        self.gets_answered_on_the_way += o.gets_answered_on_the_way;
        self.handed_off += o.handed_off;
        self.diverted += o.diverted;
        self.spares_evicted += o.spares_evicted;
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
        self.deferred += o.deferred;
        self.dropped += o.dropped;
        self.sync_rounds += o.sync_rounds;
    }
}

#[derive(Clone, Copy, Debug)]
enum OpKind {
    Put {
        version: u64,
        acks: u8,
        ackers: [u32; 8],
        /// Acks that complete it: the configured quorum, or fewer when the
        /// whole overlay has fewer nodes than that.
        quorum: u8,
    },
    Get {
        min_version: u64,
        content: bool,
        retried: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct Op {
    id: u64,
    key: Id,
    deadline: Instant,
    kind: OpKind,
}

/// A message that waits for room in the node: a description, encoded
/// (values read from the store) when it goes.
#[derive(Clone, Copy, Debug)]
enum Deferred {
    /// To a replica, or (`None`) routed to the key's root.
    Push {
        to: Option<Peer>,
        key: Id,
        op: u64,
        client: Option<Peer>,
    },
    Ack {
        to: Peer,
        op: u64,
        key: Id,
        version: u64,
        outcome: Outcome,
    },
    /// An answer from the store or the cache.
    Value {
        to: Peer,
        op: u64,
        key: Id,
        from_cache: bool,
    },
    /// A copy for the cache of the node before us on a lookup's path.
    CachePush {
        to: Peer,
        key: Id,
    },
    NotFound {
        to: Peer,
        op: u64,
        key: Id,
    },
    /// To a replica, or (`None`) on towards the key's root.
    Get {
        to: Option<Peer>,
        op: u64,
        key: Id,
        min_version: u64,
        tried: u8,
        client: Peer,
    },
    Digest {
        to: Peer,
        range: crate::routing::KeyRange,
    },
    Match {
        to: Peer,
        range: crate::routing::KeyRange,
    },
    Listing {
        to: Peer,
        range: crate::routing::KeyRange,
    },
}

impl Deferred {
    /// Where it goes (a node, or the root of the key), and under which
    /// application.
    fn destination(&self) -> (Option<Peer>, Id, AppId) {
        match *self {
            Deferred::Push { to, key, .. } => (to, key, APP),
            Deferred::Get { to, key, .. } => (to, key, LOOKUP_APP),
            Deferred::Ack { to, .. }
            | Deferred::Value { to, .. }
            | Deferred::CachePush { to, .. }
            | Deferred::NotFound { to, .. }
            | Deferred::Digest { to, .. }
            | Deferred::Match { to, .. }
            | Deferred::Listing { to, .. } => (Some(to), to.id, APP),
        }
    }

    /// Replica maintenance, which the next round repeats if it is lost.
    fn is_maintenance(&self) -> bool {
        match self {
            Deferred::Push { op, .. } => *op == 0,
            Deferred::Digest { .. } | Deferred::Match { .. } | Deferred::Listing { .. } => true,
            _ => false,
        }
    }
}

/// The replicated store of one node. `S` keeps the values.
#[derive(Debug)]
pub struct Dht<S: Store, const CACHE: usize = 16, const CACHE_BYTES: usize = 8_192> {
    config: DhtConfig,
    store: S,
    cache: Cache<CACHE, CACHE_BYTES>,
    rng: SmallRng,
    ops: Vec<Op, MAX_OPS>,
    events: Deque<DhtEvent<'static>, MAX_EVENTS>,
    deferred: Deque<Deferred, MAX_DEFERRED>,
    /// When a deferred message is next tried.
    retry_at: Option<Instant>,
    sync: sync::SyncState,
    stats: DhtStats,
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// A DHT keeping values in `store`; its randomness derives from `seed`.
    pub fn new(config: DhtConfig, store: S, seed: u64) -> Result<Self, DhtError> {
        let k = config.replicas;
        if k == 0
            || k + config.spares > crate::leaf_set::MAX_LEAF_HALF + 1
            || config.quorum == 0
            || config.quorum > k
        {
            return Err(DhtError::BadConfig);
        }
        Ok(Dht {
            config,
            store,
            cache: Cache::default(),
            rng: SmallRng::new(seed),
            ops: Vec::new(),
            events: Deque::new(),
            deferred: Deque::new(),
            retry_at: None,
            sync: sync::SyncState::default(),
            stats: DhtStats::default(),
        })
    }

    /// Sets the node's policy for the DHT's applications: both allowed,
    /// puts end-node, lookups per-hop (with the [`Lookups`] forwarder, a
    /// replica or cache on a get's path answers it). Call once before
    /// joining.
    pub fn install(&self, node: &mut impl Kbr) -> Result<(), CommandError> {
        let policy = |per_hop| AppPolicy {
            allow: true,
            per_hop,
        };
        node.set_policy(APP, policy(false))?;
        node.set_policy(LOOKUP_APP, policy(true))
    }

    /// Values cached from lookups (not replicas).
    pub fn cache(&self) -> &Cache<CACHE, CACHE_BYTES> {
        &self.cache
    }

    /// The settings.
    pub fn config(&self) -> &DhtConfig {
        &self.config
    }

    /// The values this node holds.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store itself, e.g. to preload values or inspect them; what is
    /// put here spreads to the replica set at the next maintenance round.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Counters.
    pub fn stats(&self) -> &DhtStats {
        &self.stats
    }

    /// Operations in flight.
    pub fn ops_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// The largest value a put accepts on `node`.
    pub fn max_value_len(node: &impl Kbr) -> usize {
        node.max_payload().saturating_sub(VALUE_OVERHEAD)
    }

    // ----- commands -----

    /// Stores `value` under `key` at `version` on the key's replica set.
    /// Completes with [`DhtEvent::Stored`] or [`DhtEvent::PutFailed`].
    pub fn put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        version: u64,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        let meta = Meta {
            version,
            ..Meta::default()
        };
        self.start_put(now, node, key, meta, value)
    }

    /// Stores `value` under its content hash, key = SHA-1(value), which
    /// every node checks. Returns the key with the operation.
    pub fn put_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        value: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        let key = Id::sha1(value);
        let meta = Meta {
            content: true,
            ..Meta::default()
        };
        Ok((key, self.start_put(now, node, key, meta, value)?))
    }

    /// Looks `key` up. Completes with [`DhtEvent::Found`],
    /// [`DhtEvent::NotFound`] or [`DhtEvent::GetTimedOut`].
    pub fn get(&mut self, now: Instant, node: &mut impl Kbr, key: Id) -> Result<OpId, DhtError> {
        self.start_get(now, node, key, false)
    }

    /// Looks up a content-hash key: a value that does not hash to `key` is
    /// refused even if it claims not to be content-addressed.
    pub fn get_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
    ) -> Result<OpId, DhtError> {
        self.start_get(now, node, key, true)
    }

    fn admit_op(&mut self, node: &impl Kbr) -> Result<u64, DhtError> {
        if self.config.replicas >= node.leaf_set_half() {
            // No replica set could be kept in sync (`DhtConfig::replicas`).
            return Err(DhtError::BadConfig);
        }
        if !node.is_active() {
            return Err(DhtError::NotActive);
        }
        if self.ops.is_full() || self.events.len() + self.ops.len() >= MAX_EVENTS {
            return Err(DhtError::Busy);
        }
        // 0 names maintenance traffic, never an operation.
        Ok(self.rng.next_u64().max(1))
    }

    fn start_put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        meta: Meta,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        let max = Self::max_value_len(node);
        if value.len() > max {
            return Err(DhtError::ValueTooLarge { max });
        }
        let op = self.admit_op(node)?;
        let msg = Msg::Put {
            op,
            key,
            meta,
            value,
        };
        encode_and_route(node, now, None, key, APP, &msg, &mut self.stats)
            .map_err(|_| DhtError::Busy)?;
        // An overlay smaller than k stores the value on every node; it can
        // not give more acks than it has nodes. The leaf set knows the whole
        // ring exactly when it covers every key (fewer than L + 1 nodes).
        let mut quorum = self.config.quorum;
        if node.covers(key) && node.covers(key.wrapping_add(Distance::HALF_RING)) {
            quorum = quorum.min(node.replica_set(key, self.config.replicas).len());
        }
        let kind = OpKind::Put {
            version: meta.version,
            acks: 0,
            ackers: [0; 8],
            quorum: quorum.clamp(1, usize::from(u8::MAX)) as u8,
        };
        self.push_op(now, op, key, kind);
        Ok(OpId(op))
    }

    fn start_get(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        content: bool,
    ) -> Result<OpId, DhtError> {
        let op = self.admit_op(node)?;
        let msg = Msg::Get {
            op,
            key,
            min_version: 0,
            tried: 0,
            client: None,
        };
        encode_and_route(node, now, None, key, LOOKUP_APP, &msg, &mut self.stats)
            .map_err(|_| DhtError::Busy)?;
        let kind = OpKind::Get {
            min_version: 0,
            content,
            retried: false,
        };
        self.push_op(now, op, key, kind);
        Ok(OpId(op))
    }

    fn push_op(&mut self, now: Instant, id: u64, key: Id, kind: OpKind) {
        let deadline = now + self.config.op_timeout;
        // Room was checked in admit_op.
        let _ = self.ops.push(Op {
            id,
            key,
            deadline,
            kind,
        });
    }

    // ----- events from the node -----

    /// Takes one node event (polled with
    /// [`Node::poll_event_into`](crate::Node::poll_event_into)). The DHT's
    /// own messages are handled here; what the application should see comes
    /// back.
    pub fn handle_event<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        ev: Event<'b>,
    ) -> Option<Upcall<'b>> {
        match ev {
            Event::Deliver(d) if d.app == APP || d.app == LOOKUP_APP => {
                let out = match Msg::decode(d.payload) {
                    Ok(m) => self.on_message(now, node, d.source, m),
                    Err(_) => {
                        self.stats.malformed += 1;
                        None
                    }
                };
                self.flush(now, node);
                out.map(Upcall::Dht)
            }
            Event::RouteFailed { app, .. } if app == APP || app == LOOKUP_APP => {
                // Gets are retried on their timer; puts time out; the
                // maintenance round repeats what it sends.
                None
            }
            Event::Joined | Event::Update { .. } => {
                if let Event::Update {
                    peer,
                    joined: false,
                } = ev
                {
                    // A diverted copy is gone with its holder: maintenance
                    // brings the value back and it is placed again.
                    self.sync.pointers.retain(|p| p.holder.id != peer.id);
                }
                self.sync.leaf_set_changed(now, &self.config);
                Some(Upcall::Overlay(ev))
            }
            other => Some(Upcall::Overlay(other)),
        }
    }

    fn on_message<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        source: Peer,
        m: Msg<'b>,
    ) -> Option<DhtEvent<'b>> {
        match m {
            Msg::Put {
                op,
                key,
                meta,
                value,
            } => {
                self.on_put(now, node, source, op, key, meta, value);
                None
            }
            Msg::Store {
                key,
                meta,
                cache: true,
                value,
                ..
            } => {
                self.cache_copy(now, key, meta, value);
                None
            }
            Msg::Store {
                op,
                key,
                meta,
                cache: false,
                client,
                value,
            } => {
                let had = self.store.get(key).map(|it| it.meta.version);
                let mut outcome = self.accept(node, key, meta, value);
                let replica = self.is_replica(node, key);
                let new = had.is_none_or(|v| v < meta.version);
                if op == 0 && outcome == Outcome::Stored && new {
                    // Maintenance brought a value this node lacked: pass it
                    // on soon to the neighbours only it can reach (an eager
                    // spare at the far end of a replica set), not at the
                    // period.
                    self.sync.soon(now, &self.config);
                }
                if outcome == Outcome::Full && replica && !meta.diverted {
                    if self.divert(now, node, key, meta, value, op, client) {
                        // The node it went to acknowledges.
                        return None;
                    }
                    outcome = Outcome::Full;
                }
                if outcome == Outcome::Stored && !replica && !meta.diverted {
                    // Given a value we should not hold (the sender's view
                    // differs): hand it off soon rather than at the period.
                    self.sync.soon(now, &self.config);
                }
                if let Some(client) = client {
                    let ack = Deferred::Ack {
                        to: client,
                        op,
                        key,
                        version: meta.version,
                        outcome,
                    };
                    self.send(now, node, ack);
                }
                None
            }
            Msg::StoreAck {
                op,
                key,
                version,
                outcome,
            } => {
                let ev = self.on_store_ack(source, op, key, version, outcome);
                if op == 0 {
                    self.drop_confirmed(node, false);
                }
                ev
            }
            Msg::Get {
                op,
                key,
                min_version,
                tried,
                client,
            } => {
                self.on_get(now, node, source, op, key, min_version, tried, client);
                None
            }
            Msg::Value {
                op,
                key,
                meta,
                cached,
                value,
            } => {
                let ev = self.on_value(op, key, meta, cached, value);
                if ev.is_some() {
                    // What a lookup brought back serves the next one here.
                    self.cache_copy(now, key, meta, value);
                }
                ev
            }
            Msg::NotFound { op, key } => {
                let i = self.find_op(op, key, |k| matches!(k, OpKind::Get { .. }))?;
                self.ops.swap_remove(i);
                Some(DhtEvent::NotFound { op: OpId(op), key })
            }
            Msg::Digest {
                range,
                count,
                hash,
                confirm,
            } => {
                self.on_digest(now, node, source, range, count, hash, confirm);
                None
            }
            Msg::Match { range } => {
                self.sync.confirm_range(source, range);
                self.drop_confirmed(node, false);
                None
            }
            Msg::Listing {
                range,
                more,
                entries,
            } => {
                self.on_listing(now, node, source, range, more, entries);
                None
            }
        }
    }

    /// A client's put at the key's root: store, acknowledge, and copy to
    /// the rest of the replica set (PAST §2.2).
    #[allow(clippy::too_many_arguments)]
    fn on_put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        op: u64,
        key: Id,
        meta: Meta,
        value: &[u8],
    ) {
        let outcome = self.accept(node, key, meta, value);
        if outcome == Outcome::Full && self.divert(now, node, key, meta, value, op, Some(client)) {
            // The value is held for us elsewhere; that node acknowledges.
            self.copy_to_replicas(now, node, client, op, key, meta, value);
            return;
        }
        let version = meta.version;
        self.send(
            now,
            node,
            Deferred::Ack {
                to: client,
                op,
                key,
                version,
                outcome,
            },
        );
        if outcome == Outcome::Stored {
            self.copy_to_replicas(now, node, client, op, key, meta, value);
        }
    }

    /// The root's copies to the rest of the replica set, and to the eager
    /// spares (which ack nobody).
    #[allow(clippy::too_many_arguments)]
    fn copy_to_replicas(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        op: u64,
        key: Id,
        meta: Meta,
        value: &[u8],
    ) {
        let own = node.own().id;
        let k = self.config.replicas;
        for (rank, p) in node
            .replica_set(key, self.maintained(node))
            .into_iter()
            .enumerate()
        {
            if p.id == own {
                continue;
            }
            // An eager spare's copy is maintenance: it acks nobody.
            let (op, client) = if rank < k {
                (op, Some(client))
            } else {
                (0, None)
            };
            let msg = Msg::Store {
                op,
                key,
                meta,
                cache: false,
                client,
                value,
            };
            if encode_and_route(node, now, Some(p), key, APP, &msg, &mut self.stats).is_err() {
                let push = Deferred::Push {
                    to: Some(p),
                    key,
                    op,
                    client,
                };
                self.defer(now, push);
            }
        }
    }

    /// PAST §3.3 replica diversion: no room here, so the value goes to the
    /// leaf-set member nearest the key outside the replica set, which
    /// keeps it for us (and acknowledges the client); we keep a pointer.
    #[allow(clippy::too_many_arguments)]
    fn divert(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        meta: Meta,
        value: &[u8],
        op: u64,
        client: Option<Peer>,
    ) -> bool {
        let pointed = self.sync.pointers.iter().any(|p| p.key == key);
        if self.sync.pointers.is_full() && !pointed {
            return false;
        }
        let rs = node.replica_set(key, self.config.replicas);
        let own = node.own().id;
        // The i-th replica diverts to the i-th nearest node outside the
        // replica set, so two full replicas do not pick the same one.
        let rank = rs.iter().position(|p| p.id == own).unwrap_or(0);
        let mut outside: Vec<Peer, { crate::leaf_set::NODE_SET_CAPACITY }> = node
            .neighbor_set(crate::leaf_set::NODE_SET_CAPACITY)
            .into_iter()
            .filter(|p| !rs.iter().any(|r| r.id == p.id))
            .collect();
        outside.sort_unstable_by(|a, b| key.cmp_closeness(a.id, b.id));
        let Some(&holder) = outside.get(rank % outside.len().max(1)) else {
            return false;
        };
        let msg = Msg::Store {
            op,
            key,
            meta: Meta {
                diverted: true,
                ..meta
            },
            cache: false,
            client,
            value,
        };
        // Not kept for later: the value is not stored here to read back.
        if encode_and_route(node, now, Some(holder), key, APP, &msg, &mut self.stats).is_err() {
            return false;
        }
        self.sync.pointers.retain(|p| p.key != key);
        let pointer = sync::Pointer {
            key,
            version: meta.version,
            holder,
        };
        // Room: checked above, or an entry for the key was just removed.
        let _ = self.sync.pointers.push(pointer);
        self.stats.diverted += 1;
        true
    }

    /// Caches a copy met on a lookup's path, after checking a content hash;
    /// a replica's own copy needs none.
    fn cache_copy(&mut self, now: Instant, key: Id, meta: Meta, value: &[u8]) {
        if meta.content && Id::sha1(value) != key {
            self.stats.forged += 1;
            return;
        }
        if self.store.get(key).is_none() {
            self.cache
                .insert(key, meta, value, now, self.config.cache_ttl);
        }
    }

    /// Stores a replica's copy after checking a content hash (a spare
    /// makes room for it in a full store).
    fn accept(&mut self, node: &impl Kbr, key: Id, meta: Meta, value: &[u8]) -> Outcome {
        if meta.content && Id::sha1(value) != key {
            self.stats.forged += 1;
            return Outcome::Forged;
        }
        // Held through a pointer: as good as stored here.
        if let Some(p) = self.sync.pointers.iter().find(|p| p.key == key) {
            if p.version > meta.version {
                self.stats.stale_refused += 1;
                return Outcome::Stale { current: p.version };
            }
            if p.version == meta.version && self.store.get(key).is_none() {
                return Outcome::Stored;
            }
        }
        let mut inserted = self.store.insert(key, meta, value);
        if inserted == Err(StoreError::Full) && self.evict_spare(node) {
            inserted = self.store.insert(key, meta, value);
        }
        match inserted {
            Ok(()) => {
                self.stats.stored += 1;
                Outcome::Stored
            }
            Err(StoreError::Stale { current }) => {
                self.stats.stale_refused += 1;
                Outcome::Stale { current }
            }
            Err(StoreError::Full) => {
                self.stats.full_refused += 1;
                Outcome::Full
            }
        }
    }

    /// Nodes per key that replica maintenance keeps in sync: the k
    /// replicas and as many eager spares as this node's leaf set can keep
    /// in sync (fewer than half of it, see [`DhtConfig::replicas`]).
    fn maintained(&self, node: &impl Kbr) -> usize {
        let c = &self.config;
        let fit = node.leaf_set_half().saturating_sub(1);
        (c.replicas + c.eager_spares.min(c.spares))
            .min(fit)
            .max(c.replicas)
    }

    fn is_replica(&self, node: &impl Kbr, key: Id) -> bool {
        sync::among(node, node.own().id, key, self.config.replicas)
    }

    /// Removes the spare copy farthest from this node, if it holds one.
    fn evict_spare(&mut self, node: &impl Kbr) -> bool {
        let mine = sync::Responsibility::of(node, self.config.replicas, self.config.spares);
        let own = node.own().id;
        let mut victim: Option<Id> = None;
        let mut cur = self.store.first_from(Id::ZERO);
        while let Some((key, meta)) = cur {
            cur = self.store.next_after(key);
            let spare = !meta.diverted && !mine.holds(node, key) && mine.keeps(node, key);
            let farther = victim.is_none_or(|v| key.ring_distance(own) > v.ring_distance(own));
            if spare && farther {
                victim = Some(key);
            }
        }
        let Some(key) = victim else { return false };
        self.store.remove(key);
        self.stats.spares_evicted += 1;
        true
    }

    fn find_op(&self, op: u64, key: Id, kind: impl Fn(&OpKind) -> bool) -> Option<usize> {
        self.ops
            .iter()
            .position(|o| o.id == op && o.key == key && kind(&o.kind))
    }

    fn on_store_ack(
        &mut self,
        source: Peer,
        op: u64,
        key: Id,
        version: u64,
        outcome: Outcome,
    ) -> Option<DhtEvent<'static>> {
        if op == 0 {
            // The ack of a value handed off: the replica holds it.
            let held = match outcome {
                Outcome::Stored => Some(version),
                Outcome::Stale { current } => Some(current),
                _ => None,
            };
            if let Some(v) = held {
                self.sync.confirm_key(source, key, v);
            }
            return None;
        }
        let i = self.find_op(op, key, |k| matches!(k, OpKind::Put { .. }))?;
        let OpKind::Put {
            version: v,
            acks,
            ackers,
            quorum,
        } = &mut self.ops[i].kind
        else {
            return None;
        };
        if *v != version {
            return None;
        }
        let error = match outcome {
            Outcome::Stored => {
                let tag = id_tag(source.id);
                let n = usize::from(*acks);
                if ackers[..n.min(8)].contains(&tag) {
                    return None;
                }
                if n < 8 {
                    ackers[n] = tag;
                }
                *acks += 1;
                if *acks < *quorum {
                    return None;
                }
                let replicas = *acks;
                self.ops.swap_remove(i);
                return Some(DhtEvent::Stored {
                    op: OpId(op),
                    key,
                    replicas,
                });
            }
            // A full replica does not count; the others may still do.
            Outcome::Full => return None,
            Outcome::Stale { current } => PutError::Stale { current },
            Outcome::Forged => PutError::Forged,
        };
        self.ops.swap_remove(i);
        Some(DhtEvent::PutFailed {
            op: OpId(op),
            key,
            error,
        })
    }

    /// A get at the key's root (or at the next replica, `tried` of them
    /// having lacked it): answer, or ask the next replica, or say not found.
    #[allow(clippy::too_many_arguments)]
    fn on_get(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        source: Peer,
        op: u64,
        key: Id,
        min_version: u64,
        tried: u8,
        client: Option<Peer>,
    ) {
        let client = client.unwrap_or(source);
        let on_the_way = tried & msg::ON_THE_WAY != 0;
        let tried = tried & !msg::ON_THE_WAY;
        self.stats.gets_on_the_way += u64::from(on_the_way);
        // On the way, only a replica's copy answers: a spare's or one being
        // handed off is not kept up to date.
        let stored = self
            .store
            .get(key)
            .map(|it| it.meta.version)
            .filter(|_| !on_the_way || self.is_replica(node, key));
        let cached = self.cache.get(key, now).map(|it| it.meta.version);
        let best = match (stored, cached) {
            (Some(s), Some(c)) if c > s => Some((c, true)),
            (Some(s), _) => Some((s, false)),
            (None, c) => c.map(|c| (c, true)),
        };
        if let Some((_, from_cache)) = best.filter(|(v, _)| *v >= min_version) {
            self.stats.gets_served += 1;
            self.stats.gets_served_from_cache += u64::from(from_cache);
            self.stats.gets_answered_on_the_way += u64::from(on_the_way);
            let answer = Deferred::Value {
                to: client,
                op,
                key,
                from_cache,
            };
            self.send(now, node, answer);
            // PAST §4: the node before us on the path caches it for
            // later lookups (the client caches what it gets itself).
            if source.id != client.id && tried == 0 && !self.config.cache_ttl.is_zero() {
                self.send(now, node, Deferred::CachePush { to: source, key });
            }
            return;
        }
        let pointer = self
            .sync
            .pointers
            .iter()
            .find(|p| p.key == key && p.version >= min_version)
            .map(|p| p.holder);
        if let Some(holder) = pointer.filter(|_| !on_the_way) {
            // Our replica lives at `holder`: it answers.
            let fwd = Deferred::Get {
                to: Some(holder),
                op,
                key,
                min_version,
                tried,
                client,
            };
            self.send(now, node, fwd);
            return;
        }
        let own = node.own().id;
        if on_the_way {
            // Handed over on the way (the Lookups forwarder) and not here:
            // send it on towards the root.
            let fwd = Deferred::Get {
                to: None,
                op,
                key,
                min_version,
                tried,
                client,
            };
            self.send(now, node, fwd);
            return;
        }
        // A replica that just joined may not have been given the value
        // yet: ask the others before saying it does not exist.
        let next = node
            .replica_set(key, self.config.replicas)
            .into_iter()
            .filter(|p| p.id != own && p.id != source.id && p.id != client.id)
            .nth(usize::from(tried));
        let tried = tried.saturating_add(1);
        match next {
            Some(to) if usize::from(tried) < self.config.replicas => {
                let fwd = Deferred::Get {
                    to: Some(to),
                    op,
                    key,
                    min_version,
                    tried,
                    client,
                };
                self.send(now, node, fwd);
            }
            _ => {
                self.send(
                    now,
                    node,
                    Deferred::NotFound {
                        to: client,
                        op,
                        key,
                    },
                );
            }
        }
    }

    fn on_value<'b>(
        &mut self,
        op: u64,
        key: Id,
        meta: Meta,
        cached: bool,
        value: &'b [u8],
    ) -> Option<DhtEvent<'b>> {
        let i = self.find_op(op, key, |k| matches!(k, OpKind::Get { .. }))?;
        let OpKind::Get {
            min_version,
            content,
            ..
        } = self.ops[i].kind
        else {
            return None;
        };
        if (meta.content || content) && Id::sha1(value) != key {
            // Refused; the retry (or the timeout) settles the operation.
            self.stats.forged += 1;
            return None;
        }
        if meta.version < min_version {
            return None;
        }
        self.ops.swap_remove(i);
        Some(DhtEvent::Found {
            op: OpId(op),
            key,
            version: meta.version,
            cached,
            value,
        })
    }

    // ----- timers -----

    /// When [`Dht::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ops = self.ops.iter().map(|o| match o.kind {
            OpKind::Get { retried: false, .. } => {
                (o.deadline - self.config.op_timeout + self.config.get_retry).min(o.deadline)
            }
            _ => o.deadline,
        });
        ops.chain(self.retry_at).chain(self.sync.next_round()).min()
    }

    /// Runs what is due: operation timeouts and get retries, waiting
    /// messages, replica maintenance.
    pub fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        let mut i = 0;
        while i < self.ops.len() {
            let o = self.ops[i];
            if o.deadline <= now {
                self.ops.swap_remove(i);
                let ev = match o.kind {
                    OpKind::Put { acks, .. } => DhtEvent::PutFailed {
                        op: OpId(o.id),
                        key: o.key,
                        error: PutError::TimedOut { replicas: acks },
                    },
                    OpKind::Get { .. } => DhtEvent::GetTimedOut {
                        op: OpId(o.id),
                        key: o.key,
                    },
                };
                // Room: admit_op keeps events + ops within capacity.
                let _ = self.events.push_back(ev);
                continue;
            }
            if let OpKind::Get {
                min_version,
                retried: false,
                ..
            } = o.kind
            {
                let retry = o.deadline - self.config.op_timeout + self.config.get_retry;
                if retry <= now {
                    let msg = Msg::Get {
                        op: o.id,
                        key: o.key,
                        min_version,
                        tried: 0,
                        client: None,
                    };
                    // A refused retry is not retried again: the timeout
                    // still settles the operation.
                    let _ =
                        encode_and_route(node, now, None, o.key, LOOKUP_APP, &msg, &mut self.stats);
                    if let OpKind::Get { retried, .. } = &mut self.ops[i].kind {
                        *retried = true;
                    }
                }
            }
            i += 1;
        }
        if self.sync.due(now) {
            self.sync_round(now, node);
        }
        self.flush(now, node);
    }

    /// The next outcome found by [`Dht::handle_timeout`].
    pub fn poll_event(&mut self) -> Option<DhtEvent<'static>> {
        self.events.pop_front()
    }

    // ----- sending -----

    /// Sends `d` now if the node has room, else keeps it for later.
    /// Maintenance may fill only half the wait list, so a transfer of many
    /// values never crowds out answers to clients; what it cannot send
    /// goes in the next round, which is brought forward.
    /// Whether it was sent or kept.
    fn send(&mut self, now: Instant, node: &mut impl Kbr, d: Deferred) -> bool {
        if self.deferred.is_empty() && self.try_send(now, node, d) {
            return true;
        }
        if d.is_maintenance() && self.maintenance_full() {
            self.stats.dropped += 1;
            self.sync.soon(now, &self.config);
            return false;
        }
        self.defer(now, d)
    }

    /// Whether maintenance has used its share of the wait list.
    fn maintenance_full(&self) -> bool {
        self.deferred.len() >= MAX_DEFERRED / 2
    }

    fn defer(&mut self, now: Instant, d: Deferred) -> bool {
        if self.deferred.push_back(d).is_err() {
            self.stats.dropped += 1;
            return false;
        }
        self.stats.deferred += 1;
        if self.retry_at.is_none() {
            self.retry_at = Some(now + RETRY);
        }
        true
    }

    /// Sends the waiting messages the node takes, in order; maintenance
    /// held back by the reserve does not hold up answers behind it.
    fn flush(&mut self, now: Instant, node: &mut impl Kbr) {
        for _ in 0..self.deferred.len() {
            let Some(d) = self.deferred.pop_front() else {
                break;
            };
            if !self.try_send(now, node, d) {
                // Room was counted when it was taken out.
                let _ = self.deferred.push_back(d);
            }
        }
        self.retry_at = (!self.deferred.is_empty()).then_some(now + RETRY);
    }

    /// Encodes and routes one described message; false if the node had no
    /// room (it is kept). A message whose value is gone is dropped.
    fn try_send(&mut self, now: Instant, node: &mut impl Kbr, d: Deferred) -> bool {
        if d.is_maintenance() && node.route_room() <= MAINTENANCE_RESERVE {
            // Keep room in the node for clients' operations and answers.
            return false;
        }
        let (to, key, app) = d.destination();
        // Only a listing needs room for its entries.
        let mut entries: [u8; sync::LISTING_BYTES];
        let msg = match d {
            Deferred::Push {
                key, op, client, ..
            } => self.store.get(key).map(|it| Msg::Store {
                op,
                key,
                meta: it.meta,
                cache: false,
                client,
                value: it.value,
            }),
            Deferred::Ack {
                op,
                key,
                version,
                outcome,
                ..
            } => Some(Msg::StoreAck {
                op,
                key,
                version,
                outcome,
            }),
            Deferred::Value {
                op,
                key,
                from_cache,
                ..
            } => {
                let it = match from_cache {
                    false => self.store.get(key),
                    true => self.cache.get(key, now),
                };
                Some(match it {
                    Some(it) => Msg::Value {
                        op,
                        key,
                        meta: it.meta,
                        cached: from_cache,
                        value: it.value,
                    },
                    None => Msg::NotFound { op, key },
                })
            }
            Deferred::CachePush { key, .. } => {
                let it = self.store.get(key).or_else(|| self.cache.get(key, now));
                it.map(|it| Msg::Store {
                    op: 0,
                    key,
                    meta: it.meta,
                    cache: true,
                    client: None,
                    value: it.value,
                })
            }
            Deferred::NotFound { op, key, .. } => Some(Msg::NotFound { op, key }),
            Deferred::Get {
                op,
                key,
                min_version,
                tried,
                client,
                ..
            } => Some(Msg::Get {
                op,
                key,
                min_version,
                tried,
                client: Some(client),
            }),
            Deferred::Digest { range, .. } => Some(self.sync.digest_msg(&self.store, range)),
            Deferred::Match { range, .. } => Some(Msg::Match { range }),
            Deferred::Listing { range, .. } => {
                entries = [0u8; sync::LISTING_BYTES];
                Some(sync::listing_msg(
                    &self.store,
                    &self.sync.pointers,
                    range,
                    &mut entries,
                ))
            }
        };
        // A value gone since the message was described: nothing to send.
        let r = match msg {
            Some(msg) => encode_and_route(node, now, to, key, app, &msg, &mut self.stats),
            None => Ok(()),
        };
        match r {
            Ok(()) => true,
            Err(CommandError::PoolFull | CommandError::QueueFull) => false,
            // Not active, or a message that cannot be sent at all: drop.
            Err(_) => {
                self.stats.dropped += 1;
                true
            }
        }
    }
}

/// Message slots maintenance leaves free in the node.
const MAINTENANCE_RESERVE: usize = 4;

/// How soon a message that found the node full is tried again.
const RETRY: Duration = Duration::from_millis(20);

/// Encodes `msg` and routes it straight to `to` (to its id, through it
/// first), or with no `to` to the root of `key`.
fn encode_and_route(
    node: &mut impl Kbr,
    now: Instant,
    to: Option<Peer>,
    key: Id,
    app: AppId,
    msg: &Msg<'_>,
    stats: &mut DhtStats,
) -> Result<(), CommandError> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let len = msg
        .encode(&mut buf)
        .ok_or(CommandError::PayloadTooLarge { max: MAX_PAYLOAD })?;
    node.route(now, to.map_or(key, |p| p.id), app, &buf[..len], to)?;
    stats.sent += 1;
    stats.sent_bytes += len as u64;
    Ok(())
}

/// A short tag of an id, enough to tell a handful of replicas apart.
fn id_tag(id: Id) -> u32 {
    let b = id.to_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) ^ u32::from_be_bytes([b[16], b[17], b[18], b[19]])
}
