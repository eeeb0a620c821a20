//! Replicated storage on the overlay, after PAST (Rowstron and Druschel,
//! SOSP 2001): a value lives on its key's *replica set*, the k live nodes
//! whose ids are numerically closest to the key (k = 5 by default).
//!
//! [`Dht`] is an [`Application`](crate::Application) beside the
//! [`Node`](crate::Node), built only on the KBR calls every application
//! gets ([`Kbr`]): it routes its messages with [`APP`] (and gets with
//! [`LOOKUP_APP`]) and takes the node's events for them. A
//! [`Host`](crate::Host) drives a node with it; its commands —
//! [`Dht::put`], [`Dht::put_content`], [`Dht::get`], [`Dht::get_content`]
//! — return an [`OpId`] at once, and outcomes ([`DhtEvent`]) come out of
//! the host's output door.
//!
//! **Sizes**: a value travels in one datagram with its header; the largest
//! is [`Dht::max_value_len`] (966 bytes with the default 1,280-byte
//! datagrams on a node that verifies its peers; a signed value's key,
//! signature and salt come off that). A larger one is refused with
//! [`DhtError::ValueTooLarge`].
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
//! use pastry_core::dht::{Dht, DhtConfig, DhtEvent, MapStore, Store};
//! use pastry_core::identity::Keypair;
//! use pastry_core::node::Passthrough;
//! use pastry_core::{Config, Host, HostEvent, Id, Instant, Output};
//!
//! type Peer = Host<Dht<MapStore>>;
//! type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;
//!
//! /// The drain rule; keeps the DHT's outcomes.
//! fn drain(p: &mut Peer, wire: &mut Wire, seen: &mut Vec<String>) {
//!     let mut buf = [0u8; 1280];
//!     loop {
//!         match p.poll_output(&mut buf).unwrap() {
//!             Output::Transmit(tx) => {
//!                 wire.push_back((tx.destination, p.own().addr, buf[..tx.len].to_vec()))
//!             }
//!             Output::Event(HostEvent::App(ev)) => seen.push(match ev {
//!                 DhtEvent::Stored { replicas, .. } => format!("stored on {replicas}"),
//!                 DhtEvent::Found { value, .. } => String::from_utf8_lossy(value).into(),
//!                 other => format!("{other:?}"),
//!             }),
//!             Output::Event(HostEvent::Overlay(_)) => {}
//!             Output::Timeout(_) => return,
//!         }
//!     }
//! }
//!
//! fn run(peers: &mut [Peer], wire: &mut Wire, now: &mut Instant, until: Instant,
//!        seen: &mut Vec<String>) {
//!     while *now < until {
//!         *now = *now + Duration::from_millis(1);
//!         if let Some((to, from, bytes)) = wire.pop_front() {
//!             let p = peers.iter_mut().find(|p| p.own().addr == to).unwrap();
//!             p.handle_datagram(*now, from, &bytes);
//!             drain(p, wire, seen);
//!         }
//!         for p in peers.iter_mut() {
//!             if p.poll_timeout().is_some_and(|t| t <= *now) {
//!                 p.handle_timeout(*now);
//!                 drain(p, wire, seen);
//!             }
//!         }
//!     }
//! }
//!
//! let config = DhtConfig { replicas: 3, quorum: 2, ..DhtConfig::default() };
//! let mut peers: Vec<Peer> = (1..=3u8)
//!     .map(|i| {
//!         let addr = SocketAddr::from(([10, 0, 0, i], 4000));
//!         let dht = Dht::new(config.clone(), MapStore::new(), i.into()).unwrap();
//!         Host::new(Config::default(), Keypair::from_secret([i; 32]), addr, i.into(), dht, Passthrough)
//!             .unwrap()
//!     })
//!     .collect();
//! let (mut wire, mut now, mut seen) = (Wire::new(), Instant::from_secs(1), Vec::new());
//! let bootstrap = peers[0].own().addr;
//! for (i, p) in peers.iter_mut().enumerate() {
//!     let (_, node, at) = p.parts_at(now);
//!     node.join(at, (i > 0).then_some(bootstrap)).unwrap();
//!     drain(p, &mut wire, &mut seen);
//! }
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(3), &mut seen);
//!
//! // Node 1 stores a value; node 2 reads it back.
//! let key = Id::sha1(b"greeting");
//! let (dht, node, at) = peers[1].parts_at(now);
//! dht.put(at, node, key, 1, b"hello").unwrap();
//! drain(&mut peers[1], &mut wire, &mut seen);
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(4), &mut seen);
//! let (dht, node, at) = peers[2].parts_at(now);
//! dht.get(at, node, key).unwrap();
//! drain(&mut peers[2], &mut wire, &mut seen);
//! run(&mut peers, &mut wire, &mut now, Instant::from_secs(5), &mut seen);
//! assert_eq!(seen, ["stored on 2", "hello"]);
//! // Every node holds it: here the replica set is the whole ring.
//! assert!(peers.iter().all(|p| p.apps().store().get(key).is_some()));
//! ```
//!
//! **Lifetimes**: a value stays until replaced, or for the time to live
//! it was put with ([`Dht::put_expiring`]; the replicas drop it within
//! [`EXPIRY_GRANULARITY`] of its time, and a put of the same version
//! renews it). [`Dht::delete`] stores a *tombstone*, a newer version with
//! no value, which replicas keep for [`DhtConfig::tombstone_ttl`] so that
//! no older copy comes back; only a signed value's owner can delete it
//! ([`Dht::delete_signed`]) and a content-hash value only expires.
//!
//! **Maintenance** ([`sync`](self)): when the leaf set changes, and on a
//! period, each node summarises to each neighbour the values in the range
//! that neighbour should hold (a count and a hash); a neighbour whose own
//! summary differs lists its keys and versions, and the holder pushes what
//! is missing. A node pushed out of a key's replica set keeps its copy as
//! a *spare* while it is among the `replicas + spares` closest
//! ([`DhtConfig::spares`]); beyond that it drops the value only once every
//! current replica has confirmed holding it.

mod app;
mod cache;
mod divert;
mod expiry;
#[cfg(feature = "adversary")]
mod faulty;
mod get;
pub(crate) mod msg;
mod put;
pub(crate) mod quota;
mod send;
pub mod signed;
pub mod store;
mod sync;
mod types;

use heapless::{Deque, Vec};

use crate::id::Id;
use crate::node::{AppPolicy, CommandError, Delivery, Event, Kbr};
use crate::peer::Peer;
use crate::rng::SmallRng;
use crate::time::Instant;
use crate::wire::AppId;

pub use cache::{Cache, Lookups};
pub use expiry::GRANULARITY as EXPIRY_GRANULARITY;
#[cfg(feature = "adversary")]
pub use faulty::{FORGED_VALUE, FORGED_VERSION, FakeRoot};
pub use msg::{VALUE_OVERHEAD, is_replication};
pub use signed::{MAX_SALT, signed_key};
#[cfg(feature = "alloc")]
pub use store::MapStore;
pub use store::{FixedStore, Item, Meta, Store, StoreError};
pub use types::{DhtConfig, DhtError, DhtEvent, DhtStats, OpId, PutError, Quota, Upcall};

use msg::{Msg, Outcome};
use send::{Deferred, encode_and_route};

mod ops;
#[cfg(feature = "secure-routing")]
mod secure;

use ops::{Op, OpKind, PutAcks};

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
    sync: sync::SyncState,
    sweep: expiry::Sweep,
    quotas: quota::Quotas,
    stats: DhtStats,
    /// An outcome from the last delivery, waiting for the host.
    lent: app::Lent,
    /// How this DHT answers gets when its node is faulty.
    #[cfg(feature = "adversary")]
    faulty: Option<FakeRoot>,
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
            sync: sync::SyncState::default(),
            sweep: expiry::Sweep::default(),
            quotas: quota::Quotas::default(),
            stats: DhtStats::default(),
            lent: None,
            #[cfg(feature = "adversary")]
            faulty: None,
        })
    }

    /// Sets the node's policy for the DHT's applications: both allowed,
    /// puts end-node, lookups per-hop (with the [`Lookups`] forwarder, a
    /// replica or cache on a get's path answers it), neither asking for
    /// receipts (replicas acknowledge puts, and replica maintenance
    /// repeats). Call once before joining.
    pub fn install(&self, node: &mut impl Kbr) -> Result<(), CommandError> {
        let policy = |per_hop| AppPolicy {
            allow: true,
            per_hop,
            receipts: false,
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

    // ----- events from the node -----

    /// Takes one node event (the host's [`Application::handle_event`](crate::Application::handle_event)
    /// calls this). The DHT's own messages are handled here; what the
    /// application should see comes back.
    pub fn handle_event<'b>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        ev: Event<'b>,
    ) -> Option<Upcall<'b>> {
        match ev {
            Event::Deliver(d) if d.app == APP || d.app == LOOKUP_APP => {
                let out = match Msg::decode(d.payload, now) {
                    Ok(m) if !self.may_send(node, &d, &m) => {
                        self.stats.unauthorized += 1;
                        None
                    }
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
            #[cfg(feature = "secure-routing")]
            Event::Secured(s) if self.on_secured(&s) => None,
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
                here,
                value,
            } => {
                self.on_put(now, node, source, (op, here), key, meta, value);
                None
            }
            Msg::Store {
                key,
                meta,
                cache: true,
                value,
                ..
            } => {
                self.cache_copy((now, node), key, meta, value, false);
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
                let mut outcome = self.accept((now, node), key, meta, value);
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
                #[cfg(feature = "secure-routing")]
                if let Some(i) = self.secure_get_at(op, key) {
                    let answer = Some((meta, cached, value));
                    return self.on_secure_answer((now, node), source, (i, op, key), answer);
                }
                let ev = self.on_value(op, key, meta, cached, value);
                if ev.is_some() {
                    // What a lookup brought back serves the next one here.
                    self.cache_copy((now, node), key, meta, value, true);
                }
                ev
            }
            Msg::NotFound { op, key } => {
                #[cfg(feature = "secure-routing")]
                if let Some(i) = self.secure_get_at(op, key) {
                    return self.on_secure_answer((now, node), source, (i, op, key), None);
                }
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

    /// Whether the delivery `d` of `m` may come from its source. On a
    /// node that verifies its peers, replica copies (unless their key
    /// proves them) and replica maintenance come only from members of its
    /// leaf set, the nodes that share its keys, straight over their
    /// sessions; a replica's ack counts only from the replica itself, and
    /// a put only from a proven client (the quota is the client's). The
    /// rest (gets and their answers, cache pushes) need no such word:
    /// their values prove themselves or are matched to an operation by an
    /// unguessable id.
    fn may_send(&self, node: &impl Kbr, d: &Delivery<'_>, m: &Msg<'_>) -> bool {
        if !node.verifies_peers() {
            return true;
        }
        let member = || {
            let id = d.source.id;
            d.authenticated && node.neighbor_set(usize::MAX).iter().any(|p| p.id == id)
        };
        match *m {
            Msg::Store {
                cache: false, meta, ..
            } => signed::proven(meta) || member(),
            Msg::Digest { .. } | Msg::Match { .. } | Msg::Listing { .. } => member(),
            Msg::StoreAck { .. } | Msg::Put { .. } => d.verify_source(),
            _ => true,
        }
    }

    /// The secure get `op` for `key`, if it is one.
    #[cfg(feature = "secure-routing")]
    fn secure_get_at(&self, op: u64, key: Id) -> Option<usize> {
        self.find_op(op, key, |k| matches!(k, OpKind::SecureGet(_)))
    }

    pub(super) fn is_replica(&self, node: &impl Kbr, key: Id) -> bool {
        sync::among(node, node.own().id, key, self.config.replicas)
    }

    fn find_op(&self, op: u64, key: Id, kind: impl Fn(&OpKind) -> bool) -> Option<usize> {
        self.ops
            .iter()
            .position(|o| o.id == op && o.key == key && kind(&o.kind))
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
        ops.chain(self.sync.next_round())
            .chain(self.sweep.next())
            .min()
    }

    /// Runs what is due: operation timeouts and get retries, waiting
    /// messages, replica maintenance, expiry.
    pub fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.sweep_expired(now);
        let mut i = 0;
        while i < self.ops.len() {
            let o = self.ops[i];
            if o.deadline <= now {
                self.ops.swap_remove(i);
                let ev = o.timed_out();
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
}
