//! A node with the built-in services and a user's application, driven as
//! one sans-IO value.
//!
//! [`Stack`] is a [`Host`] running [`Services`] (the DHT, Scribe and the
//! client gateway) beside a user's [`Application`] (`()` for none), with
//! the commands of each service at hand. A runtime feeds a stack exactly
//! as it would feed a host (datagram, tick, command) and drains it
//! through the one output door, [`Stack::poll_output`], until it answers
//! [`Output::Timeout`]; it stays free of protocol logic. An embedded user
//! who wants other capacities composes a [`Host`] from the same parts.

#[cfg(feature = "std")]
pub mod data_dir;
#[cfg(feature = "std")]
pub mod runtime;
mod services;
#[cfg(feature = "alloc")]
pub mod waiters;

use core::convert::Infallible;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use crate::app::{Application, Either, Host, HostError, HostEvent, Output};
use crate::client::Gateway;
use crate::config::{Config, ConfigError};
use crate::dht::{Dht, DhtConfig, DhtError, DhtEvent, Lookups, OpId, Store};
use crate::id::Id;
use crate::identity::Identity;
use crate::node::{CommandError, DefaultNode, Event, Forwarder, Passthrough};
use crate::node::{DEFAULT_LEAF_HALF, DEFAULT_SESSIONS};
use crate::peer::Peer;
use crate::scribe::{
    Acceptor, AnycastId, Joins, Members, Scribe, ScribeConfig, ScribeError, ScribeEvent,
};
use crate::time::Instant;
use crate::wire::{AppId, EncodeError};

pub use services::{ServiceEvent, Services};

/// The per-hop upcall of a stack's node: the DHT's lookups and Scribe's
/// joins, then the user application's, then the user's own `F`.
pub type StackForwarder<F, U = ()> = (((Lookups, Joins), <U as Application>::Forwarder), F);

/// The node inside a stack: a [`DefaultNode`] with `POOL` message slots.
pub type StackNode<const POOL: usize, F, U = ()> = DefaultNode<StackForwarder<F, U>, POOL>;

/// Message slots of a stack's node by default. Scribe beats every child at
/// once, and slots wait on departed peers under churn: with 16 slots the
/// simulator lost heartbeats and publications, with 64 it did not.
pub const STACK_POOL: usize = 64;

/// The settings of the node and its applications.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct StackConfig {
    /// The overlay.
    pub node: Config,
    /// Replicated storage.
    pub dht: DhtConfig,
    /// Multicast trees.
    pub scribe: ScribeConfig,
    /// How long this member relays a group to a client after the client's
    /// subscribe (clients renew at a third of it).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
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
            // Loss is rare here: a receipt's second copy would be overhead.
            receipt_copies: 1,
            // Under attack a secure lookup waits this long for routes a
            // faulty node swallowed (BENCHMARKS.md: its median is this).
            secure: crate::secure::SecureConfig {
                timeout: Duration::from_secs(1),
                ..crate::secure::SecureConfig::default()
            },
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
#[non_exhaustive]
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

/// What a stack tells its application; `E` is the user application's
/// events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEvent<'a, E = Infallible> {
    /// An overlay event no application took: joins, deliveries for
    /// applications the stack does not run, leaf-set updates, failed
    /// routes.
    Overlay(Event<'a>),
    /// A put's or get's outcome.
    Dht(DhtEvent<'a>),
    /// Multicast news and anycast outcomes.
    Scribe(ScribeEvent<'a>),
    /// The user application's.
    App(E),
}

impl<'a, E> From<HostEvent<'a, Either<ServiceEvent<'a>, E>>> for StackEvent<'a, E> {
    #[inline]
    fn from(ev: HostEvent<'a, Either<ServiceEvent<'a>, E>>) -> Self {
        match ev {
            HostEvent::Overlay(e) => StackEvent::Overlay(e),
            HostEvent::App(Either::First(ServiceEvent::Dht(d))) => StackEvent::Dht(d),
            HostEvent::App(Either::First(ServiceEvent::Scribe(s))) => StackEvent::Scribe(s),
            HostEvent::App(Either::Second(e)) => StackEvent::App(e),
        }
    }
}

/// The applications a stack runs.
type Apps<S, A, U> = (Services<S, A>, U);

/// A node, its services and a user application (see the module docs).
/// `S` keeps the DHT's values, `A` decides anycasts, `F` is the user's
/// per-hop upcall, `U` the user's application.
#[derive(Debug)]
pub struct Stack<
    S: Store,
    A: Acceptor = Members,
    F: Forwarder = Passthrough,
    const POOL: usize = STACK_POOL,
    U: Application = (),
> {
    host: Host<Apps<S, A, U>, F, POOL, DEFAULT_SESSIONS, DEFAULT_LEAF_HALF>,
}

impl<S: Store, A: Acceptor, F: Forwarder, const POOL: usize> Stack<S, A, F, POOL> {
    /// A stack for the node with credentials `identity` reached at
    /// `addr`; all its randomness derives from `seed`. Not yet in a ring:
    /// call [`Stack::join`].
    pub fn new(
        config: StackConfig,
        identity: impl Into<Identity>,
        addr: SocketAddr,
        seed: u64,
        parts: (S, A, F),
    ) -> Result<Self, StackError> {
        Stack::with_app(config, identity, addr, seed, parts, ())
    }
}

impl<S: Store, A: Acceptor, F: Forwarder, const POOL: usize, U: Application>
    Stack<S, A, F, POOL, U>
{
    /// Like [`Stack::new`], with the user's application `app` beside the
    /// services: it gets the node's events after them, its own timers, and
    /// its per-hop upcall before `F`.
    pub fn with_app(
        config: StackConfig,
        identity: impl Into<Identity>,
        addr: SocketAddr,
        seed: u64,
        parts: (S, A, F),
        app: U,
    ) -> Result<Self, StackError> {
        let (store, acceptor, forwarder) = parts;
        // A different stream from the node's, still one per seed.
        let dht_seed = seed ^ 0x5eed_d47a_5eed_d47a;
        let dht = Dht::new(config.dht, store, dht_seed).map_err(StackError::Dht)?;
        let scribe = Scribe::new(config.scribe, acceptor).map_err(StackError::Scribe)?;
        let services = Services::new(dht, scribe, Gateway::new(config.client_lease));
        let host = Host::new(
            config.node,
            identity,
            addr,
            seed,
            (services, app),
            forwarder,
        )
        .map_err(|e| match e {
            HostError::Config(e) => StackError::Node(e),
            HostError::Policy(e) => StackError::Policy(e),
        })?;
        Ok(Stack { host })
    }

    // ----- reading -----

    /// The node.
    pub fn node(&self) -> &StackNode<POOL, F, U> {
        self.host.node()
    }

    /// The node, to change its policy or forwarder, or to call the KBR API
    /// for a user application.
    pub fn node_mut(&mut self) -> &mut StackNode<POOL, F, U> {
        self.host.node_mut()
    }

    fn services(&self) -> &Services<S, A> {
        &self.host.apps().0
    }

    /// The DHT.
    pub fn dht(&self) -> &Dht<S> {
        &self.services().dht
    }

    /// Scribe.
    pub fn scribe(&self) -> &Scribe<A> {
        &self.services().scribe
    }

    /// The service for clients (client mode).
    pub fn gateway(&self) -> &Gateway {
        &self.services().gateway
    }

    /// The user's application.
    pub fn app(&self) -> &U {
        &self.host.apps().1
    }

    /// The user's application and the node, to give the application a
    /// command at `now` (it sends through the node). Call
    /// [`Stack::poll_output`] after, as after any input.
    pub fn app_mut(&mut self, now: Instant) -> (&mut U, &mut StackNode<POOL, F, U>, Instant) {
        let (apps, node, now) = self.host.parts_at(now);
        (&mut apps.1, node, now)
    }

    /// This node as others see it.
    pub fn own(&self) -> Peer {
        self.host.own()
    }

    // ----- inputs -----

    /// A datagram arrived from `from`: an overlay message, or a client's
    /// request ([`client`](crate::client)).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.host.handle_datagram(now, from, bytes);
    }

    /// Runs whatever is due at `now` in the node and its applications.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
    }

    // ----- the output door -----

    /// The earliest deadline of the node and its applications.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    /// What to do next: a datagram to send (encoded into `buf`, at least
    /// the node's `max_datagram` bytes), an event for the application, or
    /// once nothing is left the next deadline ([`Host::poll_output`]).
    /// Outcomes of clients' requests go to the gateway, not the caller.
    #[inline]
    pub fn poll_output(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Output<StackEvent<'_, U::Event<'_>>>, EncodeError> {
        Ok(self.host.poll_output(buf)?.map_event(StackEvent::from))
    }

    // ----- commands -----

    /// The services and the node at `now` (a `now` in the past is clamped).
    fn at(&mut self, now: Instant) -> (&mut Services<S, A>, &mut StackNode<POOL, F, U>, Instant) {
        let (apps, node, now) = self.host.parts_at(now);
        (&mut apps.0, node, now)
    }

    /// Joins the ring through `bootstrap`, or starts one ([`Node::join`](crate::Node::join)).
    pub fn join(
        &mut self,
        now: Instant,
        bootstrap: Option<SocketAddr>,
    ) -> Result<(), CommandError> {
        let (_, node, now) = self.at(now);
        node.join(now, bootstrap)
    }

    /// Leaves the ring gracefully ([`Node::leave`](crate::Node::leave)).
    pub fn leave(&mut self, now: Instant) -> Result<(), CommandError> {
        let (_, node, now) = self.at(now);
        node.leave(now)
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
        let (_, node, now) = self.at(now);
        node.route(now, key, app, payload, hint)
    }

    /// Stores `value` under `key` at `version` ([`Dht::put`]).
    pub fn put(
        &mut self,
        now: Instant,
        key: Id,
        version: u64,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        let (s, node, now) = self.at(now);
        s.dht.put(now, node, key, version, value)
    }

    /// Deletes `key` at `version` ([`Dht::delete`]).
    pub fn delete(&mut self, now: Instant, key: Id, version: u64) -> Result<OpId, DhtError> {
        let (s, node, now) = self.at(now);
        s.dht.delete(now, node, key, version)
    }

    /// Stores `value` under its SHA-1 ([`Dht::put_content`]).
    pub fn put_content(&mut self, now: Instant, value: &[u8]) -> Result<(Id, OpId), DhtError> {
        let (s, node, now) = self.at(now);
        s.dht.put_content(now, node, value)
    }

    /// Looks `key` up ([`Dht::get`]).
    pub fn get(&mut self, now: Instant, key: Id) -> Result<OpId, DhtError> {
        let (s, node, now) = self.at(now);
        s.dht.get(now, node, key)
    }

    /// Looks a content-hash key up ([`Dht::get_content`]).
    pub fn get_content(&mut self, now: Instant, key: Id) -> Result<OpId, DhtError> {
        let (s, node, now) = self.at(now);
        s.dht.get_content(now, node, key)
    }

    /// Joins `group` ([`Scribe::subscribe`]).
    pub fn subscribe(&mut self, now: Instant, group: Id) -> Result<(), ScribeError> {
        let (s, node, now) = self.at(now);
        s.scribe.subscribe(now, node, group)?;
        s.gateway.own_group(group, true);
        Ok(())
    }

    /// Joins `group` straight under its root, by secure routing
    /// ([`Scribe::secure_subscribe`]).
    #[cfg(feature = "secure-routing")]
    pub fn secure_subscribe(&mut self, now: Instant, group: Id) -> Result<(), ScribeError> {
        let (s, node, now) = self.at(now);
        s.scribe.secure_subscribe(now, node, group)?;
        s.gateway.own_group(group, true);
        Ok(())
    }

    /// Leaves `group` ([`Scribe::unsubscribe`]).
    pub fn unsubscribe(&mut self, now: Instant, group: Id) -> Result<(), ScribeError> {
        let (s, node, now) = self.at(now);
        s.gateway.own_group(group, false);
        if s.gateway.relays_group(group) {
            // Clients still follow it: the gateway leaves the tree when
            // their leases end.
            return match s.scribe.group(group) {
                Some(_) => Ok(()),
                None => Err(ScribeError::NotSubscribed),
            };
        }
        s.scribe.unsubscribe(now, node, group)
    }

    /// Publishes `data` to `group` ([`Scribe::publish`]).
    pub fn publish(&mut self, now: Instant, group: Id, data: &[u8]) -> Result<u64, ScribeError> {
        let (s, node, now) = self.at(now);
        s.scribe.publish(now, node, group, data)
    }

    /// Offers `data` to one member of `group` ([`Scribe::anycast`]).
    pub fn anycast(
        &mut self,
        now: Instant,
        group: Id,
        data: &[u8],
    ) -> Result<AnycastId, ScribeError> {
        let (s, node, now) = self.at(now);
        s.scribe.anycast(now, node, group, data)
    }
}
