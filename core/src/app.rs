//! The seam every application stands on, and the one output door.
//!
//! An [`Application`] sits beside the [`Node`] and uses it only
//! through the KBR calls ([`Kbr`]). The DHT, Scribe, the client gateway and
//! a user's own application implement the same trait and get the same
//! things: the node's events, their own timers (folded into one deadline),
//! the per-hop `forward` upcall ([`Application::Forwarder`]), datagrams of
//! their own protocol, and events of their own for the caller.
//! Applications compose without allocation: `()` is none, `(A, B)` is two
//! (events go to `A` first), `Option<A>` is one that may be absent.
//!
//! [`Host`] drives a node with a set of applications as one sans-IO value,
//! and [`Host::poll_output`] is the single output door (str0m's
//! `poll_output`): a datagram to send, an event, or, once nothing is left,
//! the next deadline. The drain rule lives there and nowhere else:
//!
//! ```text
//! after any input (datagram, tick, command):
//!     loop match host.poll_output(&mut buf):
//!         Transmit(t) => send buf[..t.len] to t.destination
//!         Event(e)    => hand e to the application's user
//!         Timeout(t)  => sleep until t (or the next input), then tick; break
//! ```

use core::convert::Infallible;
use core::net::SocketAddr;

use crate::config::{Config, ConfigError};
use crate::node::{
    CommandError, DEFAULT_LEAF_HALF, DEFAULT_SESSIONS, Delivery, Event, Forwarder, Kbr, Node,
    Passthrough, Payload, Transmit,
};
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::EncodeError;

/// What a node or a host wants done next: the one output door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output<E> {
    /// Send the first `len` bytes of the buffer lent to `poll_output` to
    /// `destination`.
    Transmit(Transmit),
    /// Hand this to the application's user.
    Event(E),
    /// Nothing is left until this instant (call `handle_timeout` at or
    /// after it) or, with `None`, until the next datagram or command.
    /// Ends each drain.
    Timeout(Option<Instant>),
}

impl<E> Output<E> {
    /// The same output with its event mapped by `f`.
    #[inline]
    pub fn map_event<T>(self, f: impl FnOnce(E) -> T) -> Output<T> {
        match self {
            Output::Transmit(t) => Output::Transmit(t),
            Output::Event(e) => Output::Event(f(e)),
            Output::Timeout(t) => Output::Timeout(t),
        }
    }
}

/// An application on the overlay (PROST): the DHT, Scribe, the client
/// gateway and a user's own alike.
///
/// Every method has a default that does nothing, so an application
/// implements what it uses. The host calls them in a fixed order: a node
/// event goes to [`Application::handle_event`]; after it, and after every
/// input, the host asks [`Application::has_event`] and takes
/// [`Application::poll_event`] until there is none, before it looks at the
/// next node event. So an event may borrow the bytes of the delivery it
/// came from (`delivery`, the host's copy of the last one it handled).
pub trait Application {
    /// What it tells its user; may borrow the delivery it came from.
    type Event<'a>
    where
        Self: 'a;
    /// Its per-hop `forward` upcall, which lives in the node so it decides
    /// on the spot; it hands a message that needs the application's state
    /// over with [`Verdict::Deliver`](crate::node::Verdict::Deliver), and
    /// the message then reaches `handle_event`.
    type Forwarder: Forwarder + core::fmt::Debug;

    /// The upcall put on the node when the host is built.
    fn forwarder(&self) -> Self::Forwarder;

    /// Sets the node's policy for its application ids; called once, before
    /// the node joins.
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        let _ = node;
        Ok(())
    }

    /// A node event; `true` if it was this application's alone (the next
    /// application and the user do not see it).
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        let _ = (now, node, ev);
        false
    }

    /// Whether [`Application::poll_event`] has an event. May settle
    /// events the application keeps to itself first.
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        let _ = delivery;
        false
    }

    /// The next event for the user.
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Self::Event<'a>> {
        let _ = delivery;
        None
    }

    /// When [`Application::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        let _ = (now, node);
    }

    /// Whether it has messages waiting for room in the node (its own
    /// bounded list of what to send: descriptions or bytes).
    fn waits_for_room(&self) -> bool {
        false
    }

    /// The node has room again: send what waits, in order, while the room
    /// lasts. The host is the one way every application waits for room:
    /// it offers room after inputs that may have freed it (an ack, a
    /// timeout, the outbox drained), and ticks again soon while anything
    /// still waits.
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        let _ = (now, node);
    }

    /// A datagram that may belong to the application's own protocol (not
    /// the overlay's); `true` if it took it.
    fn handle_datagram(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        let _ = (now, node, from, bytes);
        false
    }

    /// A datagram of its own protocol to send, copied into `buf`.
    fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let _ = buf;
        None
    }
}

/// No application.
impl Application for () {
    type Event<'a> = Infallible;
    type Forwarder = Passthrough;

    fn forwarder(&self) -> Passthrough {
        Passthrough
    }
}

/// An application that may be absent (a simulated node without a DHT).
impl<A: Application> Application for Option<A> {
    type Event<'a>
        = A::Event<'a>
    where
        Self: 'a;
    type Forwarder = Option<A::Forwarder>;

    fn forwarder(&self) -> Self::Forwarder {
        self.as_ref().map(A::forwarder)
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.as_mut().map_or(Ok(()), |a| a.install(node))
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.as_mut().is_some_and(|a| a.handle_event(now, node, ev))
    }
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        self.as_mut().is_some_and(|a| a.has_event(delivery))
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Self::Event<'a>> {
        self.as_mut()?.poll_event(delivery)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.as_ref()?.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self {
            a.handle_timeout(now, node);
        }
    }
    fn waits_for_room(&self) -> bool {
        self.as_ref().is_some_and(A::waits_for_room)
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self {
            a.on_room(now, node);
        }
    }
    fn handle_datagram(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        self.as_mut()
            .is_some_and(|a| a.handle_datagram(now, node, from, bytes))
    }
    fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.as_mut()?.poll_transmit(buf)
    }
}

/// An application kept on the heap (so an absent one costs a pointer).
#[cfg(feature = "alloc")]
impl<A: Application> Application for alloc::boxed::Box<A> {
    type Event<'a>
        = A::Event<'a>
    where
        Self: 'a;
    type Forwarder = A::Forwarder;

    fn forwarder(&self) -> Self::Forwarder {
        (**self).forwarder()
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        (**self).install(node)
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        (**self).handle_event(now, node, ev)
    }
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        (**self).has_event(delivery)
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Self::Event<'a>> {
        (**self).poll_event(delivery)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        (**self).handle_timeout(now, node);
    }
    fn waits_for_room(&self) -> bool {
        (**self).waits_for_room()
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        (**self).on_room(now, node);
    }
    fn handle_datagram(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        (**self).handle_datagram(now, node, from, bytes)
    }
    fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        (**self).poll_transmit(buf)
    }
}

/// An event of one of two applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first application's.
    First(A),
    /// The second application's.
    Second(B),
}

/// Two applications side by side: node events go to the first, then (if it
/// did not take them) to the second; nest pairs for more.
impl<A: Application, B: Application> Application for (A, B) {
    type Event<'a>
        = Either<A::Event<'a>, B::Event<'a>>
    where
        Self: 'a;
    type Forwarder = (A::Forwarder, B::Forwarder);

    fn forwarder(&self) -> Self::Forwarder {
        (self.0.forwarder(), self.1.forwarder())
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.0.install(node)?;
        self.1.install(node)
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.0.handle_event(now, node, ev) || self.1.handle_event(now, node, ev)
    }
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        self.0.has_event(delivery) || self.1.has_event(delivery)
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Self::Event<'a>> {
        if self.0.has_event(delivery) {
            self.0.poll_event(delivery).map(Either::First)
        } else {
            self.1.poll_event(delivery).map(Either::Second)
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let (a, b) = (self.0.poll_timeout(), self.1.poll_timeout());
        a.into_iter().chain(b).min()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.0.handle_timeout(now, node);
        self.1.handle_timeout(now, node);
    }
    fn waits_for_room(&self) -> bool {
        self.0.waits_for_room() || self.1.waits_for_room()
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        self.0.on_room(now, node);
        self.1.on_room(now, node);
    }
    fn handle_datagram(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        self.0.handle_datagram(now, node, from, bytes)
            || self.1.handle_datagram(now, node, from, bytes)
    }
    fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.0
            .poll_transmit(buf)
            .or_else(|| self.1.poll_transmit(buf))
    }
}

/// What a host tells its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent<'a, E> {
    /// A node event no application took: joins, deliveries for
    /// applications the host does not run, leaf-set updates, failed routes.
    Overlay(Event<'a>),
    /// An application's event.
    App(E),
}

/// The node inside a host: a [`DefaultNode`](crate::node::DefaultNode)
/// with `POOL` message slots, room for `SESSIONS` verified peers and
/// `HALF` leaf-set members a side (a `DefaultNode`'s 16 by default: room
/// for OSDI'02's leaf sets of 32; a simulator of many nodes takes 8),
/// whose per-hop upcall is the applications' and then `F`.
pub type HostNode<
    A,
    F,
    const POOL: usize,
    const SESSIONS: usize = DEFAULT_SESSIONS,
    const HALF: usize = DEFAULT_LEAF_HALF,
> = Node<HALF, 8, POOL, 64, (<A as Application>::Forwarder, F), SESSIONS>;

/// A node and its applications, driven as one sans-IO value (see the
/// module docs): inputs [`Host::handle_datagram`], [`Host::handle_timeout`]
/// and commands through [`Host::parts_at`]; output [`Host::poll_output`].
#[derive(Debug)]
pub struct Host<
    A: Application,
    F: Forwarder = Passthrough,
    const POOL: usize = 16,
    const SESSIONS: usize = DEFAULT_SESSIONS,
    const HALF: usize = DEFAULT_LEAF_HALF,
> {
    node: HostNode<A, F, POOL, SESSIONS, HALF>,
    apps: A,
    /// The last delivery taken from the node; applications' events may
    /// borrow it until the next one is taken.
    payload: Payload,
    /// A node event no application took, waiting to go out (a delivery's
    /// bytes are in `payload`).
    overlay: Option<Event<'static>>,
    /// The latest `now` of any input; events are handled at that time.
    now: Instant,
    /// Room was offered to waiting applications since the last input.
    offered: bool,
    /// When to offer room again while applications still wait (room also
    /// frees without an input: the outbox drains as it is polled).
    room_retry: Option<Instant>,
}

/// How soon room is offered again to applications still waiting for it.
pub const ROOM_RETRY: core::time::Duration = core::time::Duration::from_millis(10);

impl<A: Application, F: Forwarder, const POOL: usize, const SESSIONS: usize, const HALF: usize>
    Host<A, F, POOL, SESSIONS, HALF>
{
    /// A host for the node with credentials `identity` reached at `addr`,
    /// whose randomness derives from `seed`, running `apps`; `forwarder`
    /// is the user's per-hop upcall after the applications'. Not yet in a
    /// ring.
    pub fn new(
        config: Config,
        identity: impl Into<crate::identity::Identity>,
        addr: SocketAddr,
        seed: u64,
        mut apps: A,
        forwarder: F,
    ) -> Result<Self, HostError> {
        let fw = (apps.forwarder(), forwarder);
        let mut node = HostNode::<A, F, POOL, SESSIONS, HALF>::with_forwarder(
            config, identity, addr, seed, fw,
        )
        .map_err(HostError::Config)?;
        apps.install(&mut node).map_err(HostError::Policy)?;
        Ok(Host {
            node,
            apps,
            payload: Payload::new(),
            overlay: None,
            now: Instant::ZERO,
            offered: false,
            room_retry: None,
        })
    }

    /// The node.
    pub fn node(&self) -> &HostNode<A, F, POOL, SESSIONS, HALF> {
        &self.node
    }

    /// The node, for its KBR calls, policy and forwarder.
    pub fn node_mut(&mut self) -> &mut HostNode<A, F, POOL, SESSIONS, HALF> {
        &mut self.node
    }

    /// The applications.
    pub fn apps(&self) -> &A {
        &self.apps
    }

    /// The applications, the node and the time, to give an application
    /// (or the node) a command at `now`: the host's clock moves to `now`
    /// first (a `now` in the past is clamped) and is returned. Drain with
    /// [`Host::poll_output`] after, as after any input.
    pub fn parts_at(
        &mut self,
        now: Instant,
    ) -> (&mut A, &mut HostNode<A, F, POOL, SESSIONS, HALF>, Instant) {
        let now = self.advance(now);
        (&mut self.apps, &mut self.node, now)
    }

    /// This node as others see it.
    pub fn own(&self) -> Peer {
        self.node.own()
    }

    /// Moves the host's clock to `now` (a `now` in the past is clamped);
    /// an input may have freed room, so it may be offered again.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.offered = false;
        self.now
    }

    // ----- inputs -----

    /// A datagram arrived from `from`: an application's own, or the
    /// overlay's.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let now = self.advance(now);
        if !self.apps.handle_datagram(now, &mut self.node, from, bytes) {
            self.node.handle_datagram(now, from, bytes);
        }
    }

    /// Runs whatever is due at `now` in the node and its applications.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.room_retry.is_some_and(|t| t <= now) {
            self.room_retry = None;
        }
        self.node.handle_timeout(now);
        self.apps.handle_timeout(now, &mut self.node);
    }

    // ----- the output door -----

    /// The earliest deadline of the node and its applications.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let node = self.node.poll_timeout();
        let apps = self.apps.poll_timeout();
        node.into_iter().chain(apps).chain(self.room_retry).min()
    }

    /// What to do next: a datagram to send (encoded into `buf`, at least
    /// the node's `max_datagram` bytes), an event, or, once nothing is
    /// left, the next deadline. Call it after every input until it
    /// answers [`Output::Timeout`]. Node events pass through the
    /// applications on the way; what they take stays with them.
    #[inline]
    pub fn poll_output(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Output<HostEvent<'_, A::Event<'_>>>, EncodeError> {
        loop {
            // The node's datagrams first: the hot path.
            if let Some(tx) = self.node.poll_transmit(buf)? {
                return Ok(Output::Transmit(tx));
            }
            // Asked before borrowing, so a borrow is taken only on the way
            // out (a borrow returned from one turn of a loop would be held
            // through the next).
            if self.apps.has_event(&self.payload) {
                let now = self.now;
                return Ok(match self.apps.poll_event(&self.payload) {
                    Some(e) => Output::Event(HostEvent::App(e)),
                    // has_event promised one: tick now rather than stall.
                    None => Output::Timeout(Some(now)),
                });
            }
            // After has_event: an application may answer an outcome it
            // took there with a datagram (the gateway's reply to a client),
            // which must leave in this drain, not at the next wake-up.
            if let Some(tx) = self.apps.poll_transmit(buf) {
                return Ok(Output::Transmit(tx));
            }
            if let Some(ev) = self.overlay.take() {
                return Ok(Output::Event(HostEvent::Overlay(attach(ev, &self.payload))));
            }
            let now = self.now;
            if let Some(ev) = self.node.poll_event_into(&mut self.payload) {
                if !self.apps.handle_event(now, &mut self.node, ev) {
                    self.overlay = Some(detach(ev));
                }
                continue;
            }
            // Nothing left but what waits for room: offer it once per input
            // (an application that keeps room in reserve may leave some
            // unused), and tick again soon while anything still waits.
            if !self.apps.waits_for_room() {
                self.room_retry = None;
                break;
            }
            if !self.offered && self.node.route_room() > 0 {
                self.offered = true;
                self.apps.on_room(now, &mut self.node);
                continue;
            }
            self.room_retry = Some(self.room_retry.unwrap_or(now + ROOM_RETRY));
            break;
        }
        Ok(Output::Timeout(self.poll_timeout()))
    }
}

/// The event without its delivery's bytes (which stay in the host's
/// buffer).
fn detach(ev: Event<'_>) -> Event<'static> {
    match ev {
        Event::Deliver(d) => Event::Deliver(Delivery { payload: &[], ..d }),
        Event::Joined => Event::Joined,
        Event::JoinFailed => Event::JoinFailed,
        Event::Update { peer, joined } => Event::Update { peer, joined },
        Event::RouteFailed { msg_id, key, app } => Event::RouteFailed { msg_id, key, app },
        Event::Secured(s) => Event::Secured(crate::node::Secured {
            roots: s.roots.with_bytes(&[]),
            ..s
        }),
    }
}

/// The event with its delivery's bytes back (a delivery's payload is the
/// whole buffer, see `Node::poll_event_into`).
fn attach<'p>(ev: Event<'static>, payload: &'p [u8]) -> Event<'p> {
    match ev {
        Event::Deliver(d) => Event::Deliver(Delivery { payload, ..d }),
        Event::Secured(s) => Event::Secured(crate::node::Secured {
            roots: s.roots.with_bytes(payload),
            ..s
        }),
        other => other,
    }
}

/// Where `part` lies in `whole`, if it is a part of it: for an event that
/// borrows a delivery's bytes and waits in an application until polled.
pub(crate) fn range_in(whole: &[u8], part: &[u8]) -> core::ops::Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    let range = start..start.saturating_add(part.len());
    if part.is_empty() || range.end > whole.len() {
        return 0..0;
    }
    range
}

/// A host that could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The node's configuration is invalid.
    Config(ConfigError),
    /// The node refused an application's policy.
    Policy(CommandError),
}

impl core::fmt::Display for HostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HostError::Config(e) => write!(f, "node: {e}"),
            HostError::Policy(e) => write!(f, "application policy: {e}"),
        }
    }
}

impl core::error::Error for HostError {}
