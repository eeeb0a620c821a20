//! What both runtimes share, written once: the options a node is built
//! from, the hooks an application puts on it (the per-hop upcall, the
//! anycast predicate, a hosted application), the counters, and the errors
//! a handle answers. Still no I/O and no clock: a runtime brings those.

mod counters;
mod error;
mod hosted;
mod options;

pub use counters::{Gauges, RuntimeStats, Stats};
pub use error::Error;
use hosted::fetch;
pub use hosted::{Hosted, HostedApp, MAX_FETCHES};
pub use options::{DEFAULT_STORE_LIMITS, Options};

use alloc::boxed::Box;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use super::waiters::{NodeEvent, Waiters};
use super::{STACK_POOL, Stack, StackEvent};
use crate::app::Output;
use crate::dht::{Item, Meta, Store, StoreError};
use crate::id::Id;
use crate::node::{ForwardHop, Forwarder, Verdict};
use crate::scribe::Acceptor;
use crate::time::Instant;
use crate::wire::EncodeError;

/// The stack every runtime node runs: values in the store the builder
/// was given (a growable map by default), the application's anycast
/// predicate, per-hop upcall and hosted application.
pub type RuntimeStack = Stack<NodeStore, Accept, Hop, STACK_POOL, Hosted>;

/// Where a runtime node keeps its values: any [`Store`] behind a box, so
/// one node type serves the in-memory map and a disk store alike (the
/// `pastry-store` crate's, or the user's own).
pub struct NodeStore(Box<dyn Store + Send>);

impl NodeStore {
    /// Keeps values in `store`.
    pub fn new(store: impl Store + Send + 'static) -> NodeStore {
        NodeStore(Box::new(store))
    }
}

impl fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeStore({} values)", self.0.len())
    }
}

impl Store for NodeStore {
    fn get(&self, key: Id) -> Option<Item<'_>> {
        self.0.get(key)
    }
    fn insert(&mut self, key: Id, meta: Meta, value: &[u8]) -> Result<(), StoreError> {
        self.0.insert(key, meta, value)
    }
    fn remove(&mut self, key: Id) -> bool {
        self.0.remove(key)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn first_from(&self, from: Id) -> Option<(Id, Meta)> {
        self.0.first_from(from)
    }
    fn next_after(&self, after: Id) -> Option<(Id, Meta)> {
        self.0.next_after(after)
    }
}

// ----- hooks -----

/// The application's per-hop upcall (KBR `forward`): called at every node
/// a per-hop application's message passes, after the built-in services'.
/// None: every message continues unchanged.
#[derive(Default)]
pub struct Hop(pub Option<Box<dyn Forwarder + Send>>);

impl Forwarder for Hop {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        match self.0.as_mut() {
            Some(f) => f.forward(hop),
            None => Verdict::Continue,
        }
    }
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Hop(user)"
        } else {
            "Hop(none)"
        })
    }
}

/// A predicate deciding whether this member takes an anycast.
pub type AcceptFn = Box<dyn FnMut(Id, &[u8]) -> bool + Send>;

/// The anycast predicate; none: every member accepts.
#[derive(Default)]
pub struct Accept(pub Option<AcceptFn>);

impl Acceptor for Accept {
    fn accept(&mut self, group: Id, data: &[u8]) -> bool {
        self.0.as_mut().is_none_or(|f| f(group, data))
    }
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Accept(user)"
        } else {
            "Accept(all)"
        })
    }
}

// ----- the drain -----

/// One turn of a runtime node's drain: what the stack's output door said,
/// with events made owned for the application's channel.
#[derive(Debug)]
pub enum Step {
    /// Send the first `len` bytes of the buffer to this address.
    Send(SocketAddr, usize),
    /// Give this to the application.
    Tell(NodeEvent),
    /// An outcome went to the caller waiting for it; poll again.
    Answered,
    /// Nothing is left until this deadline (or the next input).
    Idle(Option<Instant>),
}

/// Polls `stack`'s output door once, answering whoever in `waiters` waits
/// for an outcome; once the door is empty it carries the hosted
/// application's DHT reads ([`HostedApp::poll_fetch`]) both ways and
/// polls again if it did. `buf` holds the datagram (at
/// least `max_datagram` bytes; a smaller one is refused with the size
/// needed). A runtime calls it at `now` until [`Step::Idle`], or until
/// its socket would block.
pub fn step(
    stack: &mut RuntimeStack,
    waiters: &mut Waiters,
    now: Instant,
    buf: &mut [u8],
) -> Result<Step, EncodeError> {
    loop {
        let deadline = match stack.poll_output(buf)? {
            Output::Transmit(tx) => return Ok(Step::Send(tx.destination, tx.len)),
            Output::Event(StackEvent::App(bytes)) => return Ok(Step::Tell(NodeEvent::App(bytes))),
            Output::Event(ev) => {
                return Ok(waiters.outcome(ev).map_or(Step::Answered, Step::Tell));
            }
            Output::Timeout(t) => t,
        };
        // Deliveries handled in this drain may have asked for fetches, and
        // answers may wait for the application: carry them now, not at
        // the next wake-up, which may be far off.
        if !fetch(stack, waiters, now) {
            return Ok(Step::Idle(deadline));
        }
    }
}

// ----- the wall clock -----

/// Tells a node the wall time now and then: the core reads no clock, and
/// certificates expire by the calendar. A runtime calls
/// [`WallClock::tell`] on each wake-up; it reads the system clock once a
/// minute (and at once the first time), so a stepped clock is followed.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock {
    next: Option<Instant>,
}

impl WallClock {
    /// Tells `stack`'s node the wall time at `now`, if a minute passed.
    pub fn tell(&mut self, stack: &mut RuntimeStack, now: Instant) {
        if self.next.is_some_and(|t| now < t) {
            return;
        }
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        stack
            .node_mut()
            .set_unix_time(now, crate::identity::UnixTime(unix));
        self.next = Some(now + Duration::from_secs(60));
    }
}

/// The builder methods both runtimes share, written once: expands, inside
/// the `impl` of a runtime's builder that has a field `options:`
/// [`Options`], to its setters. For the runtime crates.
#[doc(hidden)]
#[macro_export]
macro_rules! runtime_builder_options {
    () => {
        /// The overlay's, the DHT's and Scribe's settings.
        pub fn config(mut self, config: $crate::stack::StackConfig) -> Self {
            self.options.config = config;
            self
        }

        /// The address other nodes reach this one at, when it is not the
        /// bound one (a wildcard bind, or a NAT with a known mapping).
        pub fn advertise(mut self, addr: ::core::net::SocketAddr) -> Self {
            self.options.advertise = Some(addr);
            self
        }

        /// The node's key pair and certificate; its id is the hash of the
        /// public key (by default a new key each start).
        pub fn identity(mut self, identity: impl Into<$crate::identity::Identity>) -> Self {
            self.options.identity = Some(identity.into());
            self
        }

        /// The directory the node keeps its key in (made on first start,
        /// owner-only), so its id survives restarts.
        pub fn data_dir(mut self, dir: impl Into<::std::path::PathBuf>) -> Self {
            self.options.data_dir = Some(dir.into());
            self
        }

        /// The seed of the core's randomness (random by default); with the
        /// same seed and inputs the core decides the same.
        pub fn seed(mut self, seed: u64) -> Self {
            self.options.seed = Some(seed);
            self
        }

        /// The application's per-hop upcall (KBR `forward`).
        pub fn forwarder(mut self, f: impl $crate::node::Forwarder + Send + 'static) -> Self {
            self.options.hop = $crate::stack::runtime::Hop(Some(Box::new(f)));
            self
        }

        /// Which anycasts this member takes (all, by default).
        pub fn acceptor(
            mut self,
            f: impl FnMut($crate::Id, &[u8]) -> bool + Send + 'static,
        ) -> Self {
            self.options.accept = $crate::stack::runtime::Accept(Some(Box::new(f)));
            self
        }

        /// An application of the user's, beside the DHT and Scribe: it gets
        /// the node's events after them and its own timers; reach it with
        /// [`Handle::app`](crate::Handle::app), and read its events as
        /// [`NodeEvent::App`](crate::NodeEvent::App).
        pub fn app(mut self, app: impl $crate::stack::runtime::HostedApp) -> Self {
            self.options.app = $crate::stack::runtime::Hosted::new(app);
            self
        }

        /// Events kept for the application before newer ones are dropped.
        pub fn event_capacity(mut self, n: usize) -> Self {
            self.options.events = n.max(1);
            self
        }

        /// How long [`Handle::subscribe`](crate::Handle::subscribe) waits
        /// for the member to attach.
        pub fn attach_timeout(mut self, d: ::core::time::Duration) -> Self {
            self.options.attach_timeout = d;
            self
        }

        /// Most values and most bytes of values the node stores in memory
        /// (default
        /// [`DEFAULT_STORE_LIMITS`](pastry_core::stack::runtime::DEFAULT_STORE_LIMITS)):
        /// a put beyond them is refused, whoever sends it. A store given
        /// with [`store`](Self::store) has limits of its own.
        pub fn store_limits(mut self, values: usize, bytes: usize) -> Self {
            self.options.store_limits = (values, bytes);
            self
        }

        /// Where the node keeps its values, instead of memory: for
        /// instance `pastry_store::DiskStore`, so they survive a restart.
        pub fn store(mut self, store: impl $crate::dht::Store + Send + 'static) -> Self {
            self.options.store = Some($crate::stack::runtime::NodeStore::new(store));
            self
        }
    };
}
