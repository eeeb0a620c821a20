//! What both runtimes share, written once: the options a node is built
//! from, the hooks an application puts on it (the per-hop upcall, the
//! anycast predicate, a hosted application), the counters, and the errors
//! a handle answers. Still no I/O and no clock: a runtime brings those.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;
use std::io;

use super::waiters::{Failure, NodeEvent, Waiters};
use super::{STACK_POOL, Stack, StackConfig, StackError, StackEvent};
use crate::app::{Application, Output};
use crate::client::{ClientError, Refusal};
use crate::counters::{Counter, Counters};
use crate::dht::{DhtError, DhtStats, Item, MapStore, Meta, PutError, Store, StoreError};
use crate::id::Id;
use crate::identity::{Identity, Keypair};
use crate::node::{
    CommandError, Event, ForwardHop, Forwarder, Kbr, Passthrough, Stats as NodeStats, Verdict,
};
use crate::scribe::{Acceptor, AnycastError, ScribeError, ScribeStats};
use crate::session::SessionStats;
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

/// A user application as a runtime hosts it: an [`Application`] behind a
/// box, so one node type serves every application, and reached from a
/// handle by its concrete type. Its events leave as bytes
/// ([`NodeEvent::App`]).
pub trait HostedApp: Any + Send {
    /// Sets the node's policy for its application ids; called once.
    fn install(&mut self, node: &mut dyn Kbr) -> Result<(), CommandError> {
        let _ = node;
        Ok(())
    }
    /// A node event; `true` if it was this application's alone.
    fn handle_event(&mut self, now: Instant, node: &mut dyn Kbr, ev: Event<'_>) -> bool {
        let _ = (now, node, ev);
        false
    }
    /// The next event for the application's user.
    fn poll_event(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// When [`HostedApp::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant, node: &mut dyn Kbr) {
        let _ = (now, node);
    }
    /// Whether it has messages waiting for room in the node.
    fn waits_for_room(&self) -> bool {
        false
    }
    /// The node has room again: send what waits while it lasts.
    fn on_room(&mut self, now: Instant, node: &mut dyn Kbr) {
        let _ = (now, node);
    }
    /// A content-hash key whose value the application wants from the DHT
    /// (a hosted application reads the DHT through the runtime, which
    /// owns it). At most [`MAX_FETCHES`] are asked at once.
    fn poll_fetch(&mut self) -> Option<Id> {
        None
    }
    /// The answer to a fetch: the value (checked against its hash), or
    /// `None` if no replica has it or the get failed.
    fn fetched(&mut self, now: Instant, node: &mut dyn Kbr, key: Id, value: Option<&[u8]>) {
        let _ = (now, node, key, value);
    }
}

/// Fetches a hosted application has in flight at once.
pub const MAX_FETCHES: usize = 8;

/// The hosted application, if any, with its next event read ahead (the
/// host asks whether there is one before it takes it).
#[derive(Default)]
pub struct Hosted {
    app: Option<Box<dyn HostedApp>>,
    next: Option<Vec<u8>>,
}

impl Hosted {
    /// Hosts `app`.
    pub fn new(app: impl HostedApp) -> Hosted {
        Hosted {
            app: Some(Box::new(app)),
            next: None,
        }
    }

    /// The application, if it is a `T`.
    pub fn get_mut<T: HostedApp>(&mut self) -> Option<&mut T> {
        let app: &mut dyn Any = self.app.as_deref_mut()?;
        app.downcast_mut()
    }
}

impl fmt::Debug for Hosted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.app.is_some() {
            "Hosted(app)"
        } else {
            "Hosted(none)"
        })
    }
}

impl Application for Hosted {
    type Event<'a> = Vec<u8>;
    type Forwarder = Passthrough;

    fn forwarder(&self) -> Passthrough {
        Passthrough
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.app.as_mut().map_or(Ok(()), |a| a.install(node))
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.app
            .as_mut()
            .is_some_and(|a| a.handle_event(now, node, ev))
    }
    fn has_event(&mut self, _delivery: &[u8]) -> bool {
        if self.next.is_none() {
            self.next = self.app.as_mut().and_then(|a| a.poll_event());
        }
        self.next.is_some()
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Vec<u8>> {
        self.has_event(delivery);
        self.next.take()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.app.as_ref()?.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self.app.as_mut() {
            a.handle_timeout(now, node);
        }
    }
    fn waits_for_room(&self) -> bool {
        self.app.as_ref().is_some_and(|a| a.waits_for_room())
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self.app.as_mut() {
            a.on_room(now, node);
        }
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
/// for an outcome, and first carries the hosted application's DHT reads
/// ([`HostedApp::poll_fetch`]) both ways. `buf` holds the datagram (at
/// least `max_datagram` bytes; a smaller one is refused with the size
/// needed). A runtime calls it at `now` until [`Step::Idle`], or until
/// its socket would block.
pub fn step(
    stack: &mut RuntimeStack,
    waiters: &mut Waiters,
    now: Instant,
    buf: &mut [u8],
) -> Result<Step, EncodeError> {
    fetch(stack, waiters, now);
    loop {
        let deadline = match stack.poll_output(buf)? {
            Output::Transmit(tx) => return Ok(Step::Send(tx.destination, tx.len)),
            Output::Event(StackEvent::App(bytes)) => return Ok(Step::Tell(NodeEvent::App(bytes))),
            Output::Event(ev) => {
                return Ok(waiters.outcome(ev).map_or(Step::Answered, Step::Tell));
            }
            Output::Timeout(t) => t,
        };
        // A delivery handled in that poll may have asked for a fetch (or
        // an answer may wait for the application): carry it now, not at
        // the next wake-up, which may be far off.
        if !fetch(stack, waiters, now) {
            return Ok(Step::Idle(deadline));
        }
    }
}

/// Hands the hosted application the values it fetched, and starts the
/// fetches it asks for (as content-hash gets) while fewer than
/// [`MAX_FETCHES`] are in flight; whether it did either.
fn fetch(stack: &mut RuntimeStack, waiters: &mut Waiters, now: Instant) -> bool {
    let mut did = false;
    while let Some((key, value)) = waiters.take_fetched() {
        did = true;
        let (hosted, node, now) = stack.app_mut(now);
        if let Some(app) = hosted.app.as_mut() {
            app.fetched(now, node, key, value.as_deref());
        }
    }
    while waiters.fetches() < MAX_FETCHES {
        let (hosted, _, _) = stack.app_mut(now);
        let Some(key) = hosted.app.as_mut().and_then(|a| a.poll_fetch()) else {
            return did;
        };
        did = true;
        let (s, node, now) = stack.at(now);
        match s.dht.get_content(now, node, key) {
            Ok(op) => waiters.fetch(op, key),
            Err(_) => {
                let (hosted, node, now) = stack.app_mut(now);
                if let Some(app) = hosted.app.as_mut() {
                    app.fetched(now, node, key, None);
                }
            }
        }
    }
    did
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

// ----- options -----

/// What a runtime node is built from; each runtime's builder sets these
/// and adds its own knobs.
#[derive(Debug)]
pub struct Options {
    /// Where the socket binds (port 0: any free port).
    pub listen: SocketAddr,
    /// The address others reach the node at, when not the bound one.
    pub advertise: Option<SocketAddr>,
    /// The overlay's and the services' settings.
    pub config: StackConfig,
    /// The node's key pair and certificate (default: the data
    /// directory's, else a new key each start).
    pub identity: Option<Identity>,
    /// Where the node keeps its key (see [`super::data_dir`]), so its id
    /// survives a restart.
    pub data_dir: Option<std::path::PathBuf>,
    /// The seed of the core's randomness (default: random per start).
    pub seed: Option<u64>,
    /// The application's per-hop upcall.
    pub hop: Hop,
    /// Which anycasts this member takes.
    pub accept: Accept,
    /// The hosted application.
    pub app: Hosted,
    /// Events kept for the application before newer ones are dropped.
    pub events: usize,
    /// How long a subscribe waits for the member to attach.
    pub attach_timeout: Duration,
    /// Most values, and most bytes of values, the default store holds;
    /// beyond them a put is refused (a replica diverts it, PAST §3.3).
    pub store_limits: (usize, usize),
    /// Where values are kept (default: in memory, within `store_limits`).
    pub store: Option<NodeStore>,
}

/// The store limits a runtime node starts with: 65,536 values and 64 MiB,
/// so no stream of puts can take more of a server's memory than that.
pub const DEFAULT_STORE_LIMITS: (usize, usize) = (65_536, 64 << 20);

impl Options {
    /// The papers' settings, a random id, 1,024 events of buffer, a
    /// 30-second wait for a subscribe to attach and
    /// [`DEFAULT_STORE_LIMITS`].
    pub fn new(listen: SocketAddr) -> Options {
        Options {
            listen,
            advertise: None,
            config: StackConfig::default(),
            identity: None,
            data_dir: None,
            seed: None,
            hop: Hop::default(),
            accept: Accept::default(),
            app: Hosted::default(),
            events: 1024,
            attach_timeout: Duration::from_secs(30),
            store_limits: DEFAULT_STORE_LIMITS,
            store: None,
        }
    }

    /// Builds the node's stack for a socket bound at `bound`; `random`
    /// fills bytes from the operating system's cryptographic source, for
    /// a key and a seed when none was set (the core has no randomness of
    /// its own). The stack is large: built here and boxed, so no future or
    /// small thread stack has to hold it.
    pub fn build(
        self,
        bound: SocketAddr,
        mut random: impl FnMut(&mut [u8]) -> io::Result<()>,
    ) -> Result<Box<RuntimeStack>, Error> {
        let addr = self.advertise.unwrap_or(bound);
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                random(&mut b).map_err(Error::Io)?;
                u64::from_be_bytes(b)
            }
        };
        // In the open mode with a puzzle, a key made here solves it.
        let puzzle = match self.config.node.admission {
            crate::identity::Admission::Open { puzzle_bits } => puzzle_bits,
            crate::identity::Admission::Certified { .. } => 0,
        };
        let identity = match (self.identity, &self.data_dir) {
            (Some(i), _) => i,
            (None, Some(dir)) => super::data_dir::load_or_create_solving(dir, puzzle, &mut random)
                .map_err(Error::Io)?,
            (None, None) => {
                let wanted = |k: &Keypair| super::data_dir::solves(k, puzzle);
                let secret =
                    super::data_dir::draw_secret(wanted, &mut random).map_err(Error::Io)?;
                Identity::new(Keypair::from_secret(secret))
            }
        };
        let (items, bytes) = self.store_limits;
        let store = self
            .store
            .unwrap_or_else(|| NodeStore::new(MapStore::with_limits(items, bytes)));
        let parts = (store, self.accept, self.hop);
        let (config, app) = (self.config, self.app);
        // Built on a thread of its own: an unoptimised build copies the
        // stack (hundreds of KiB) through every constructor's frame, which
        // overflowed a test thread's 2 MiB; optimised builds need little.
        std::thread::scope(|scope| {
            let built = std::thread::Builder::new()
                .name("pastry-build".into())
                .stack_size(BUILD_STACK)
                .spawn_scoped(scope, move || {
                    RuntimeStack::with_app(config, identity, addr, seed, parts, app).map(Box::new)
                })
                .map_err(Error::Io)?;
            match built.join() {
                Ok(stack) => stack.map_err(Error::Config),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Stack of the thread a node is built on (address space; only what is
/// touched is used).
const BUILD_STACK: usize = 32 << 20;

// ----- counters -----

/// What a runtime counts for one node (the core counts the protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Times the node woke (socket, deadline or command).
    pub wakeups: u64,
    /// Datagrams read from the socket.
    pub datagrams_in: u64,
    /// Bytes read from the socket.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Sends that would have blocked (the datagram was kept and sent later).
    pub send_blocked: u64,
    /// Sends the system refused (the datagram was dropped; the overlay's
    /// acks and probes recover as from a loss).
    pub send_errors: u64,
    /// Reads the system failed (such as an ICMP error surfacing).
    pub recv_errors: u64,
    /// Events dropped because the application did not read them in time.
    pub events_dropped: u64,
}

crate::counters::plain!(
    RuntimeStats,
    "runtime_",
    [
        wakeups,
        datagrams_in,
        bytes_in,
        datagrams_out,
        bytes_out,
        send_blocked,
        send_errors,
        recv_errors,
        events_dropped,
    ]
);

/// How much a node holds now (values that go up and down, unlike the
/// counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Whether the node is in the ring.
    pub active: bool,
    /// Leaf-set members.
    pub leaf_set: usize,
    /// Routing-table entries.
    pub routing_table: usize,
    /// Peers with an authenticated session.
    pub sessions: usize,
    /// Values in the store.
    pub values: usize,
}

/// A snapshot of every counter of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The overlay's: messages per kind, drops by reason (malformed and
    /// hostile datagrams are counted here), reroutes, failures.
    pub node: NodeStats,
    /// The sessions': handshakes, and datagrams refused as not authentic.
    pub sessions: SessionStats,
    /// The DHT's.
    pub dht: DhtStats,
    /// Scribe's.
    pub scribe: ScribeStats,
    /// The runtime's.
    pub runtime: RuntimeStats,
    /// What the node holds now.
    pub gauges: Gauges,
}

impl Counters for Stats {
    fn each_counter(&self, f: &mut dyn FnMut(Counter)) {
        self.node.each_counter(f);
        self.sessions.each_counter(f);
        self.dht.each_counter(f);
        self.scribe.each_counter(f);
        self.runtime.each_counter(f);
    }
}

impl Stats {
    /// The counters of `stack` and its runtime.
    pub fn of(stack: &RuntimeStack, runtime: RuntimeStats) -> Stats {
        let node = stack.node();
        Stats {
            node: node.stats().clone(),
            sessions: *node.session_stats(),
            dht: *stack.dht().stats(),
            scribe: *stack.scribe().stats(),
            runtime,
            gauges: Gauges {
                active: node.is_active(),
                leaf_set: node.leaf_set().len(),
                routing_table: node.routing_table().len(),
                sessions: node.sessions(),
                values: stack.dht().store().len(),
            },
        }
    }
}

// ----- errors -----

/// A command's failure. Every handle call answers with a value or one of
/// these; none waits forever.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The node or its event loop has stopped; nothing was done.
    Stopped,
    /// The command queue is full; retry later.
    Busy,
    /// No answer within the call's time limit (the command may still
    /// complete).
    TimedOut,
    /// The node refused the command (not active, payload too large,
    /// queues full); nothing was sent.
    Command(CommandError),
    /// The DHT refused the command.
    Dht(DhtError),
    /// Scribe refused the command.
    Scribe(ScribeError),
    /// The join got no answer after every retry.
    JoinFailed,
    /// A put was refused by the replicas or did not reach its quorum.
    Put(PutError),
    /// An anycast found no member that accepts.
    Anycast(AnycastError),
    /// The value or payload is over the limit, `max` bytes (the same
    /// error whether the node or a member for a client said so).
    TooLarge {
        /// The most bytes allowed.
        max: u64,
    },
    /// The member a client asked refused the request (see [`Refusal`];
    /// `detail` is a limit or a version where one applies).
    Refused {
        /// Why.
        reason: Refusal,
        /// The number that goes with it, or 0.
        detail: u64,
    },
    /// The client could not send the request.
    Client(ClientError),
    /// The content-hash key of a value read is not the value's hash.
    Forged(Id),
    /// A secure get's replica roots disagreed and none of their answers
    /// had a majority: nothing trustworthy to return.
    Disputed,
    /// The node hosts no application of the type asked for.
    NoApp,
    /// The node could not be built from its configuration.
    Config(StackError),
    /// The socket or the poller failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stopped => f.write_str("the node has stopped"),
            Error::Busy => f.write_str("the command queue is full"),
            Error::TimedOut => f.write_str("no answer in time"),
            Error::Command(e) => write!(f, "refused: {e}"),
            Error::Dht(e) => write!(f, "dht refused: {e}"),
            Error::Scribe(e) => write!(f, "scribe refused: {e}"),
            Error::JoinFailed => f.write_str("the join got no answer"),
            Error::Put(e) => write!(f, "{e}"),
            Error::Anycast(e) => write!(f, "{e}"),
            Error::TooLarge { max } => write!(f, "over the limit of {max} bytes"),
            Error::Refused { reason, detail: 0 } => write!(f, "the member refused: {reason}"),
            Error::Refused { reason, detail } => {
                write!(f, "the member refused: {reason} ({detail})")
            }
            Error::Client(e) => write!(f, "client: {e}"),
            Error::Forged(key) => write!(f, "value read under {key} does not hash to it"),
            Error::Disputed => f.write_str("the replica roots disagree, none by a majority"),
            Error::NoApp => f.write_str("no hosted application of that type"),
            Error::Config(e) => write!(f, "bad configuration: {e}"),
            Error::Io(e) => write!(f, "socket: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Command(e) => Some(e),
            Error::Dht(e) => Some(e),
            Error::Scribe(e) => Some(e),
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The error a client's runtime answers for a member's refusal: the
    /// same variant a node's own handle would give where there is one.
    pub fn from_refusal(reason: Refusal, detail: u64) -> Error {
        match reason {
            Refusal::Stale => Error::Put(PutError::Stale { current: detail }),
            Refusal::Forged => Error::Put(PutError::Forged),
            Refusal::Protected => Error::Put(PutError::Protected),
            Refusal::OverQuota => Error::Put(PutError::OverQuota),
            Refusal::TimedOut => Error::TimedOut,
            Refusal::NoneAccepted => Error::Anycast(AnycastError::NoneAccepted),
            Refusal::Busy => Error::Busy,
            Refusal::TooLarge => Error::TooLarge { max: detail },
            reason => Error::Refused { reason, detail },
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        let too_large = |max: usize| Error::TooLarge { max: max as u64 };
        match f {
            Failure::Command(CommandError::PayloadTooLarge { max })
            | Failure::Dht(DhtError::ValueTooLarge { max })
            | Failure::Scribe(ScribeError::PayloadTooLarge { max }) => too_large(max),
            Failure::Command(e) => Error::Command(e),
            Failure::Dht(e) => Error::Dht(e),
            Failure::Scribe(e) => Error::Scribe(e),
            Failure::JoinFailed => Error::JoinFailed,
            Failure::Put(e) => Error::Put(e),
            Failure::Anycast(e) => Error::Anycast(e),
            Failure::TimedOut => Error::TimedOut,
            Failure::Disputed => Error::Disputed,
        }
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Busy => Error::Busy,
            ClientError::TooLarge { max } => Error::TooLarge { max: max as u64 },
            e => Error::Client(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
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
