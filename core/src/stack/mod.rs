//! A node with the built-in applications, driven as one sans-IO value.
//!
//! [`Stack`] owns a [`Node`], its [`Dht`] and its [`Scribe`], wired the way
//! every runtime wires them: the node's per-hop upcall is the DHT's and
//! Scribe's forwarders followed by the user's, each node event passes
//! through the DHT and then Scribe (which act on the node while handling
//! it), and the three deadlines are one. A runtime feeds a stack exactly
//! as it would feed a node (datagram, tick, command; then the drain rule)
//! and stays free of protocol logic; an embedded user who wants other
//! capacities composes the same parts by hand, as this file does.
//!
//! The drain rule for a stack: after any input, poll transmits until none
//! is left, then events until none is left, and repeat both until a pass
//! yields neither: the DHT and Scribe consume some events on the way and
//! may queue datagrams while doing so, so an empty event poll does not
//! mean nothing is left to send.

#[cfg(feature = "alloc")]
pub mod waiters;

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::client::{self, Gateway};
use crate::config::{Config, ConfigError};
use crate::dht::{self, Dht, DhtConfig, DhtError, DhtEvent, Lookups, OpId, Store};
use crate::id::Id;
use crate::node::{
    CommandError, DefaultNode, Event, Forwarder, Node, Passthrough, Payload, Transmit,
};
use crate::peer::Peer;
use crate::scribe::{
    self, Acceptor, AnycastId, Joins, Members, Scribe, ScribeConfig, ScribeError, ScribeEvent,
};
use crate::time::Instant;
use crate::wire::{AppId, EncodeError};

/// The per-hop upcall of a stack's node: the DHT's lookups, Scribe's
/// joins, then the user's.
pub type StackForwarder<F> = ((Lookups, Joins), F);

/// The node inside a stack: a [`DefaultNode`] with `POOL` message slots
/// and the built-in applications' per-hop upcalls before the user's.
pub type StackNode<const POOL: usize, F> = DefaultNode<StackForwarder<F>, POOL>;

/// Message slots of a stack's node by default. Scribe beats every child at
/// once, and slots wait on departed peers under churn: with 16 slots the
/// simulator lost heartbeats and publications, with 64 it did not.
pub const STACK_POOL: usize = 64;

/// The settings of the node and its applications.
#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    /// The overlay.
    pub node: Config,
    /// Replicated storage.
    pub dht: DhtConfig,
    /// Multicast trees.
    pub scribe: ScribeConfig,
    /// How long this member relays a group to a client after the client's
    /// subscribe (clients renew at a third of it).
    pub client_lease: Duration,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            node: Config::default(),
            dht: DhtConfig::default(),
            scribe: ScribeConfig::default(),
            client_lease: Duration::from_secs(30),
        }
    }
}

impl StackConfig {
    /// Settings for a local network or one host, where round trips take
    /// well under a millisecond: the papers' rules with timers scaled from
    /// tens of seconds to about one, so a crashed node is noticed in about
    /// 4 s (lease 2 s, then a probe cycle of 7 × 300 ms) instead of a
    /// minute. The traffic grows by the same factor (a heartbeat per
    /// second per leaf-set neighbour and per tree child).
    pub fn lan() -> StackConfig {
        let node = Config {
            heartbeat_period: Duration::from_secs(1),
            lease: Duration::from_secs(2),
            probe_timeout: Duration::from_millis(300),
            initial_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(1),
            join_timeout: Duration::from_secs(2),
            maintenance_period: Duration::from_secs(60),
            ..Config::default()
        };
        let dht = DhtConfig {
            op_timeout: Duration::from_secs(8),
            get_retry: Duration::from_secs(1),
            sync_delay: Duration::from_millis(500),
            sync_period: Duration::from_secs(60),
            ..DhtConfig::default()
        };
        let scribe = ScribeConfig {
            heartbeat: Duration::from_secs(1),
            subscribe_retry: Duration::from_secs(1),
            anycast_timeout: Duration::from_secs(3),
            replay: Duration::from_secs(10),
            ..ScribeConfig::default()
        };
        StackConfig {
            node,
            dht,
            scribe,
            client_lease: Duration::from_secs(10),
        }
    }
}

/// A stack that could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The node's configuration is invalid.
    Node(ConfigError),
    /// The DHT's configuration is invalid.
    Dht(DhtError),
    /// Scribe's configuration is invalid.
    Scribe(ScribeError),
    /// The node refused an application's policy.
    Policy(CommandError),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Node(e) => write!(f, "node: {e}"),
            StackError::Dht(e) => write!(f, "dht: {e}"),
            StackError::Scribe(e) => write!(f, "scribe: {e}"),
            StackError::Policy(e) => write!(f, "application policy: {e}"),
        }
    }
}

impl core::error::Error for StackError {}

/// What a stack tells its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEvent<'a> {
    /// An overlay event no built-in application took: joins, deliveries
    /// for the user's applications, leaf-set updates, failed routes.
    Overlay(Event<'a>),
    /// A put's or get's outcome.
    Dht(DhtEvent<'a>),
    /// Multicast news and anycast outcomes.
    Scribe(ScribeEvent<'a>),
}

/// A node, its DHT and its Scribe (see the module docs). `S` keeps the
/// DHT's values, `A` decides anycasts, `F` is the user's per-hop upcall.
#[derive(Debug)]
pub struct Stack<
    S: Store,
    A: Acceptor = Members,
    F: Forwarder = Passthrough,
    const POOL: usize = STACK_POOL,
> {
    node: StackNode<POOL, F>,
    dht: Dht<S>,
    scribe: Scribe<A>,
    /// Serves clients that are not in the overlay.
    gateway: Gateway,
    /// Where a delivery is copied while the applications look at it.
    payload: Payload,
    /// The latest `now` of any input; events are handled at that time.
    now: Instant,
}

impl<S: Store, A: Acceptor, F: Forwarder, const POOL: usize> Stack<S, A, F, POOL> {
    /// A stack for the node `id` reached at `addr`; all its randomness
    /// derives from `seed`. Not yet in a ring: call [`Stack::join`].
    pub fn new(
        config: StackConfig,
        id: Id,
        addr: SocketAddr,
        seed: u64,
        parts: (S, A, F),
    ) -> Result<Self, StackError> {
        let (store, acceptor, forwarder) = parts;
        let forwarder = ((Lookups, Joins), forwarder);
        let mut node = Node::with_forwarder(config.node, id, addr, seed, forwarder)
            .map_err(StackError::Node)?;
        // A different stream from the node's, still one per seed.
        let dht_seed = seed ^ 0x5eed_d47a_5eed_d47a;
        let dht = Dht::new(config.dht, store, dht_seed).map_err(StackError::Dht)?;
        let scribe = Scribe::new(config.scribe, acceptor).map_err(StackError::Scribe)?;
        dht.install(&mut node).map_err(StackError::Policy)?;
        scribe.install(&mut node).map_err(StackError::Policy)?;
        Ok(Stack {
            node,
            dht,
            scribe,
            gateway: Gateway::new(config.client_lease),
            payload: Payload::new(),
            now: Instant::ZERO,
        })
    }

    // ----- reading -----

    /// The node.
    pub fn node(&self) -> &StackNode<POOL, F> {
        &self.node
    }

    /// The node, to change its policy or forwarder, or to call the KBR API
    /// for a user application.
    pub fn node_mut(&mut self) -> &mut StackNode<POOL, F> {
        &mut self.node
    }

    /// The DHT.
    pub fn dht(&self) -> &Dht<S> {
        &self.dht
    }

    /// Scribe.
    pub fn scribe(&self) -> &Scribe<A> {
        &self.scribe
    }

    /// The service for clients (client mode).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// This node as others see it.
    pub fn own(&self) -> Peer {
        self.node.own()
    }

    // ----- inputs -----

    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// A datagram arrived from `from`: an overlay message, or a client's
    /// request ([`client`]).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let now = self.advance(now);
        if client::msg::is_client_datagram(bytes) {
            let apps = (&mut self.node, &mut self.dht, &mut self.scribe);
            self.gateway.handle_datagram(now, from, bytes, apps);
        } else {
            self.node.handle_datagram(now, from, bytes);
        }
    }

    /// Runs whatever is due at `now` in the node and its applications.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.node.handle_timeout(now);
        self.dht.handle_timeout(now, &mut self.node);
        self.scribe.handle_timeout(now, &mut self.node);
        self.gateway
            .handle_timeout(now, &mut self.node, &mut self.scribe);
    }

    // ----- outputs -----

    /// The earliest deadline of the node and its applications.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let node = self.node.poll_timeout();
        let dht = self.dht.poll_timeout();
        let scribe = self.scribe.poll_timeout();
        let gateway = self.gateway.poll_timeout();
        node.into_iter()
            .chain(dht)
            .chain(scribe)
            .chain(gateway)
            .min()
    }

    /// The next datagram to send, encoded into `buf` (at least the node's
    /// `max_datagram` bytes).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, EncodeError> {
        if let Some(tx) = self.gateway.poll_transmit(buf) {
            return Ok(Some(tx));
        }
        self.node.poll_transmit(buf)
    }

    /// Hands the next event for the application to `f` and returns what
    /// `f` returned; `None` when there is none. Events the DHT or Scribe
    /// consume (their own messages) are handled on the way and may queue
    /// datagrams. The event borrows the stack's buffer, hence the closure.
    pub fn poll_event<R>(&mut self, f: impl FnOnce(StackEvent<'_>) -> R) -> Option<R> {
        let now = self.now;
        // Outcomes of clients' requests go to the gateway, not the caller.
        while let Some(ev) = self.node.poll_event_into(&mut self.payload) {
            let ev = match self.dht.handle_event(now, &mut self.node, ev) {
                Some(dht::Upcall::Overlay(ev)) => ev,
                Some(dht::Upcall::Dht(d)) if self.gateway.take_dht(&d) => continue,
                Some(dht::Upcall::Dht(d)) => return Some(f(StackEvent::Dht(d))),
                None => continue,
            };
            return match self.scribe.handle_event(now, &mut self.node, ev) {
                Some(scribe::Upcall::Overlay(ev)) => Some(f(StackEvent::Overlay(ev))),
                Some(scribe::Upcall::Scribe(s)) if self.gateway.take_scribe(&s) => continue,
                Some(scribe::Upcall::Scribe(s)) => Some(f(StackEvent::Scribe(s))),
                None => continue,
            };
        }
        while let Some(d) = self.dht.poll_event() {
            if !self.gateway.take_dht(&d) {
                return Some(f(StackEvent::Dht(d)));
            }
        }
        while let Some(s) = self.scribe.poll_event() {
            if !self.gateway.take_scribe(&s) {
                return Some(f(StackEvent::Scribe(s)));
            }
        }
        None
    }

    // ----- commands -----

    /// Joins the ring through `bootstrap`, or starts one ([`Node::join`]).
    pub fn join(
        &mut self,
        now: Instant,
        bootstrap: Option<SocketAddr>,
    ) -> Result<(), CommandError> {
        let now = self.advance(now);
        self.node.join(now, bootstrap)
    }

    /// Leaves the ring gracefully ([`Node::leave`]).
    pub fn leave(&mut self, now: Instant) -> Result<(), CommandError> {
        let now = self.advance(now);
        self.node.leave(now)
    }

    /// KBR `route` for a user application; the message's id.
    pub fn route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        hint: Option<Peer>,
    ) -> Result<u64, CommandError> {
        let now = self.advance(now);
        self.node.route(now, key, app, payload, hint)
    }

    /// Stores `value` under `key` at `version` ([`Dht::put`]).
    pub fn put(
        &mut self,
        now: Instant,
        key: Id,
        version: u64,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        let now = self.advance(now);
        self.dht.put(now, &mut self.node, key, version, value)
    }

    /// Stores `value` under its SHA-1 ([`Dht::put_content`]).
    pub fn put_content(&mut self, now: Instant, value: &[u8]) -> Result<(Id, OpId), DhtError> {
        let now = self.advance(now);
        self.dht.put_content(now, &mut self.node, value)
    }

    /// Looks `key` up ([`Dht::get`]).
    pub fn get(&mut self, now: Instant, key: Id) -> Result<OpId, DhtError> {
        let now = self.advance(now);
        self.dht.get(now, &mut self.node, key)
    }

    /// Looks a content-hash key up ([`Dht::get_content`]).
    pub fn get_content(&mut self, now: Instant, key: Id) -> Result<OpId, DhtError> {
        let now = self.advance(now);
        self.dht.get_content(now, &mut self.node, key)
    }

    /// Joins `group` ([`Scribe::subscribe`]).
    pub fn subscribe(&mut self, now: Instant, group: Id) -> Result<(), ScribeError> {
        let now = self.advance(now);
        self.scribe.subscribe(now, &mut self.node, group)?;
        self.gateway.own_group(group, true);
        Ok(())
    }

    /// Leaves `group` ([`Scribe::unsubscribe`]).
    pub fn unsubscribe(&mut self, now: Instant, group: Id) -> Result<(), ScribeError> {
        let now = self.advance(now);
        self.gateway.own_group(group, false);
        if self.gateway.relays_group(group) {
            // Clients still follow it: the gateway leaves the tree when
            // their leases end.
            return match self.scribe.group(group) {
                Some(_) => Ok(()),
                None => Err(ScribeError::NotSubscribed),
            };
        }
        self.scribe.unsubscribe(now, &mut self.node, group)
    }

    /// Publishes `data` to `group` ([`Scribe::publish`]).
    pub fn publish(&mut self, now: Instant, group: Id, data: &[u8]) -> Result<u64, ScribeError> {
        let now = self.advance(now);
        self.scribe.publish(now, &mut self.node, group, data)
    }

    /// Offers `data` to one member of `group` ([`Scribe::anycast`]).
    pub fn anycast(
        &mut self,
        now: Instant,
        group: Id,
        data: &[u8],
    ) -> Result<AnycastId, ScribeError> {
        let now = self.advance(now);
        self.scribe.anycast(now, &mut self.node, group, data)
    }
}
