//! The DHT's settings, errors, outcomes and counters.

use core::fmt;
use core::time::Duration;

use crate::id::Id;
use crate::node::Event;

/// Settings; the defaults are PAST's k = 5 with a majority quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
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
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub op_timeout: Duration,
    /// A get with no answer by then is sent once more.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub get_retry: Duration,
    /// Replica maintenance runs this long after a leaf-set change
    /// (several changes in a burst share one round).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub sync_delay: Duration,
    /// ... and at least this often.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub sync_period: Duration,
    /// How long a copy cached along a lookup path may be served (zero: no
    /// caching). Bounds how stale a cached answer can be.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub cache_ttl: Duration,
    /// How many puts a key's root stores for one client (by its id) in a
    /// burst, and how fast that allowance refills. Beyond it the root
    /// answers [`PutError::OverQuota`]; the store's own limits bound the
    /// total. A flood from one client fills neither. A member relaying for
    /// clients (client mode) is one client at the roots; its gateway gives
    /// each client host the same allowance first.
    pub client_quota: Quota,
    /// How long replicas keep a deletion's tombstone ([`Dht::delete`](super::Dht::delete)).
    /// Until it expires no older version of the key comes back, from a
    /// replica that missed the deletion or a put that was under way; so
    /// it should outlast the longest a replica may be away and still
    /// return with its copy (a restart from its data directory).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub tombstone_ttl: Duration,
}

/// A token bucket: `burst` at once, then one more every `refill`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Quota {
    /// Puts allowed at once.
    pub burst: u32,
    /// One more put is allowed after each such interval (zero: no limit).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub refill: Duration,
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
            // 256 at once and 50 a second: far above one application's
            // writes to keys one node roots, far below a flood.
            client_quota: Quota {
                burst: 256,
                refill: Duration::from_millis(20),
            },
            tombstone_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A refused command. Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhtError {
    /// The node is not active.
    NotActive,
    /// The value is over `max` bytes ([`Dht::max_value_len`](super::Dht::max_value_len)).
    ValueTooLarge {
        /// The largest value.
        max: usize,
    },
    /// A signed value's salt is over `max` bytes.
    SaltTooLong {
        /// The longest salt.
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
            DhtError::SaltTooLong { max } => write!(f, "salt over {max} bytes"),
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
#[non_exhaustive]
pub enum PutError {
    /// A replica holds a newer version (or this version with other bytes).
    Stale {
        /// The version it holds.
        current: u64,
    },
    /// The value's key is not its SHA-1, or its signature does not check.
    Forged,
    /// The key holds a content-hash or signed value; a value that proves
    /// nothing cannot replace it ([`crate::dht::StoreError::Protected`]).
    Protected,
    /// The key's root refused this client's put: it has stored its
    /// share for now ([`DhtConfig::client_quota`]).
    OverQuota,
    /// Fewer than `quorum` replicas stored it in time.
    TimedOut {
        /// How many did.
        replicas: u8,
    },
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Stale { current } => {
                write!(f, "stale write: a replica holds version {current}")
            }
            PutError::Forged => f.write_str("the value does not match its key's hash or signature"),
            PutError::Protected => f.write_str("the key holds a content-hash or signed value"),
            PutError::OverQuota => f.write_str("the root refused: this client is over its quota"),
            PutError::TimedOut { replicas } => {
                write!(f, "only {replicas} replicas stored it in time")
            }
        }
    }
}

impl core::error::Error for PutError {}

/// What became of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A secure get's roots all answered, no value proved itself and no
    /// answer had a majority of them: the replica set is disputed
    /// (faulty roots, or an update under way). Nothing is returned.
    Disputed {
        /// The operation.
        op: OpId,
        /// Its key.
        key: Id,
    },
}

impl DhtEvent<'_> {
    /// The operation it settles.
    pub fn op(&self) -> OpId {
        match *self {
            DhtEvent::Stored { op, .. }
            | DhtEvent::PutFailed { op, .. }
            | DhtEvent::Found { op, .. }
            | DhtEvent::NotFound { op, .. }
            | DhtEvent::GetTimedOut { op, .. }
            | DhtEvent::Disputed { op, .. } => op,
        }
    }
}

/// What [`Dht::handle_event`](super::Dht::handle_event) hands back.
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
    /// Values whose key is not their hash, or whose signature does not
    /// check, refused on store or read.
    pub forged: u64,
    /// Values refused because the key holds a content-hash or signed one.
    pub protected_refused: u64,
    /// Puts refused at the root: the client was over its quota.
    pub quota_refused: u64,
    /// Replica copies and maintenance messages dropped because their
    /// source was not an authenticated member of this node's leaf set
    /// (only when the node verifies its peers).
    pub unauthorized: u64,
    /// Values not cached because nothing proves them (a content hash or a
    /// signature) and the node verifies its peers.
    pub not_cached: u64,
    /// DHT messages that did not decode.
    pub malformed: u64,
    /// Gets this node answered.
    pub gets_served: u64,
    /// Of those, answered from the cache.
    pub gets_served_from_cache: u64,
    /// Gets handed to this node on their way to the root (the
    /// [`Lookups`](super::Lookups) forwarder), answered here or sent on.
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
    /// Secure gets' answers not counted: from a node the lookup did not
    /// name a root, or a root's second answer.
    pub answers_not_counted: u64,
    /// Secure gets that ended disputed.
    pub disputed: u64,
    /// Secure gets of values that prove themselves sent by a second
    /// lookup after no root had the value.
    pub secure_retries: u64,
    /// Deletions (tombstones) stored.
    pub deleted: u64,
    /// Values and tombstones dropped because their time was up.
    pub expired: u64,
}

impl core::ops::AddAssign for DhtStats {
    /// Sums counters (of several nodes, say).
    fn add_assign(&mut self, o: DhtStats) {
        self.stored += o.stored;
        self.stale_refused += o.stale_refused;
        self.full_refused += o.full_refused;
        self.forged += o.forged;
        self.protected_refused += o.protected_refused;
        self.quota_refused += o.quota_refused;
        self.unauthorized += o.unauthorized;
        self.not_cached += o.not_cached;
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
        self.answers_not_counted += o.answers_not_counted;
        self.disputed += o.disputed;
        self.secure_retries += o.secure_retries;
        self.deleted += o.deleted;
        self.expired += o.expired;
    }
}
