//! The overlay node: a sans-IO state machine that joins a ring, keeps its
//! leaf set and routing table alive and repaired, and routes messages by key
//! with per-hop acknowledgements.
//!
//! # Driving a node (the drain rule)
//!
//! Give it input through one of three doors, each with the current time:
//! [`Node::handle_datagram`], [`Node::handle_timeout`], or a command
//! ([`Node::join`], [`Node::route`], [`Node::leave`]). After **any** input,
//! drain its one output door, [`Node::poll_output`], until it answers
//! [`Output::Timeout`](crate::Output::Timeout), sending each datagram and handling each event;
//! then call `handle_timeout` at or after that instant. (The parts of the
//! door, [`Node::poll_transmit`], [`Node::poll_event`] and
//! [`Node::poll_timeout`], stay public for a caller that wants them one by
//! one; a node with applications is driven through a
//! [`Host`](crate::Host).) Early or repeated ticks are harmless; a `now`
//! earlier than one seen before is treated as the latest seen.

#[cfg(feature = "adversary")]
mod adversary;
mod app;
mod arrival;
mod doors;
mod event;
mod forwarding;
mod graveyard;
mod handover;
mod heard;
mod join;
mod kbr;
mod liveness;
mod measured;
mod origin;
mod outbox;
mod pool;
mod presets;
mod probes;
mod queries;
mod receipts;
#[cfg(feature = "secure-routing")]
mod redundant;
mod repair;
mod reroute;
#[cfg(feature = "secure-routing")]
mod secure;
mod stats;
#[cfg(feature = "secure-routing")]
mod upkeep;

use core::net::SocketAddr;
use core::time::Duration;

use heapless::Deque;

#[cfg(feature = "adversary")]
pub use adversary::{Adversary, Conduct};
pub use app::{AppPolicy, ForwardHop, Forwarder, MAX_POLICY_ENTRIES, Passthrough, Policy, Verdict};
pub use event::{CommandError, Delivery, Event, Transmit};
pub use kbr::Kbr;
pub use pool::{MAX_PAYLOAD, SLOT_BYTES};
pub use presets::{DEFAULT_LEAF_HALF, DEFAULT_SESSIONS, DefaultNode, EmbeddedNode};
pub use queries::{ANSWER_BURST, ANSWER_EVERY, MAX_ROUTES, MAX_SECURE_ROOTS, SecureStats, Secured};

/// A buffer that holds any routed payload (see [`Node::poll_event_into`]).
pub type Payload = heapless::Vec<u8, MAX_PAYLOAD>;
pub use stats::{Drops, Stats};

use crate::config::{Config, ConfigError};
use crate::id::Id;
use crate::identity::{Identity, UnixTime};
use crate::leaf_set::{LeafSet, NodeSet};
use crate::peer::Peer;
use crate::rng::SmallRng;
use crate::routing::RoutingState;
use crate::routing_table::RoutingTable;
use crate::session::{Guard, SessionStats};
use crate::time::Instant;
use crate::wire::{Body, Message};
use event::Ev;
use liveness::RttEstimator;
use outbox::Out;
use pool::Pool;
use probes::{Probes, SeenCache};

/// Where the node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Constructed; not part of any ring.
    Idle,
    /// Join request sent; waiting for the root's reply and for every
    /// leaf-set candidate to be confirmed.
    Joining,
    /// In the ring: may be the root of keys.
    Active,
    /// Left the ring (gracefully); inert.
    Left,
}

#[derive(Clone, Copy, Debug)]
struct JoinState {
    bootstrap: SocketAddr,
    retries_left: u8,
    root_replied: bool,
    /// The bootstrap acked the request (it took the first hop).
    acked: bool,
    /// Times the current request was re-sent for want of that ack.
    resent: u8,
}

/// Node-wide timers, one slot each (STYLE §3): deadlines kept per entity
/// (slots, probes) live with the entity; the next deadline is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Heartbeat = 0,
    Maintenance = 1,
    Join = 2,
    Refine = 3,
    /// Secure lookups for the constrained table's empty slots.
    Fill = 4,
}

const TIMERS: usize = 5;

/// Rounds of proximity refinement after joining.
const REFINE_ROUNDS: u8 = 3;

/// A Pastry node.
///
/// Capacities are const generics, so memory is fixed at compile time:
/// `HALF` leaf-set members per side (L = 2·HALF at most), `ROWS` routing
/// table rows, `POOL` message slots (each holds one routed message; their
/// payloads share `POOL` × [`SLOT_BYTES`] bytes), `QUEUE` entries in each
/// of the outbound queue, the event queue, the probe table and the
/// duplicate cache, and `SESSIONS` verified peers cached (more than the
/// routing state holds, or its members are greeted again and again). `F`
/// is the per-hop `forward` upcall ([`Passthrough`] by default).
#[derive(Debug)]
pub struct Node<
    const HALF: usize = 8,
    const ROWS: usize = 8,
    const POOL: usize = 16,
    const QUEUE: usize = 64,
    F: Forwarder = Passthrough,
    const SESSIONS: usize = DEFAULT_SESSIONS,
> {
    config: Config,
    routing: RoutingState<HALF, ROWS>,
    rng: SmallRng,
    now: Instant,
    phase: Phase,
    join: Option<JoinState>,
    outbox: Deque<Out, QUEUE>,
    events: Deque<Ev, QUEUE>,
    pool: Pool<POOL>,
    probes: Probes<QUEUE>,
    /// Table candidates measured lately: not probed again while they lose.
    measured: measured::Measured<QUEUE>,
    seen: SeenCache<QUEUE>,
    /// What this node delivered lately, for a node joining beside it.
    handed: handover::Records,
    /// When each timer is due; `Instant::MAX` when it is not set (half
    /// the bytes of an `Option`).
    timers: [Instant; TIMERS],
    /// The clockwise neighbour we watch for heartbeats, and when we last
    /// heard from it (MSPastry: each node heartbeats its left neighbour).
    right_watch: Option<(Id, Instant)>,
    rtt: RttEstimator,
    /// Proximity-refinement rounds still to run after joining.
    refine_rounds: u8,
    policy: Policy,
    forwarder: F,
    stats: Stats,
    /// A slot lent out by the last `poll_event`; freed on the next call.
    lent: Option<pool::SlotRef>,
    /// Members declared failed recently, re-probed to heal partitions.
    graveyard: graveyard::Graveyard,
    /// When leaf-set members last spoke to us.
    heard_lately: heard::HeardLately<HALF>,
    /// Sessions with verified peers and handshakes under way.
    guard: Guard<SESSIONS>,
    /// Datagrams waiting for a handshake with their destination.
    parked: Deque<Out, QUEUE>,
    /// Some parked datagram's handshake could not start (all slots busy).
    unconnected: bool,
    /// Answers to secure queries left in the ration, and since when.
    answer_ration: crate::ration::Ration,
    /// The constrained routing table (OSDI'02 §4), for secure queries.
    #[cfg(feature = "secure-routing")]
    constrained: crate::secure::ConstrainedTable<ROWS>,
    /// Secure lookups under way, and ended ones waiting to be polled.
    #[cfg(feature = "secure-routing")]
    secure_ops: heapless::Vec<secure::SecureOp, { secure::SECURE_OPS }>,
    /// The next constrained slot to fill (row × 16 + column).
    #[cfg(feature = "secure-routing")]
    fill_cursor: u16,
    /// A lookup whose outcome the last `poll_event` lent out.
    #[cfg(feature = "secure-routing")]
    lent_secure: Option<u64>,
    /// `secure_route` messages still to go to some roots: no slot was free
    /// for their copies when the lookup ended.
    #[cfg(feature = "secure-routing")]
    unsent_roots: heapless::Vec<(pool::SlotRef, Peer), MAX_SECURE_ROOTS>,
    /// The node this one joined through, as it answered.
    #[cfg(feature = "secure-routing")]
    bootstrap: Option<Peer>,
    /// The constrained table was filled once since joining.
    #[cfg(feature = "secure-routing")]
    filled_once: bool,
    /// A leaf-set candidate was passed over for nearer ones of the same
    /// leaf set (see `repair::offer_leaf_set`) since a probed one was
    /// last found dead.
    passed_over: bool,
    /// The leaf set's span when the last fill began (see
    /// `refill_if_grown`).
    #[cfg(feature = "secure-routing")]
    fill_span: Option<u128>,
    /// The adversary this node answers to, when it is faulty.
    #[cfg(feature = "adversary")]
    adversary: adversary::Faulty,
}

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, Passthrough, SESSIONS>
{
    /// A node with the credentials `identity` (its id is the hash of the
    /// public key) reached at `addr`, whose randomness (message ids,
    /// jitter) derives from `seed`. Not yet in a ring: call [`Node::join`].
    pub fn new(
        config: Config,
        identity: impl Into<Identity>,
        addr: SocketAddr,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        Node::with_forwarder(config, identity, addr, seed, Passthrough)
    }
}

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Like [`Node::new`], with a per-hop `forward` upcall.
    pub fn with_forwarder(
        config: Config,
        identity: impl Into<Identity>,
        addr: SocketAddr,
        seed: u64,
        forwarder: F,
    ) -> Result<Self, ConfigError> {
        let identity = identity.into();
        #[cfg(feature = "secure-routing")]
        let identity_id = identity.id();
        let routing = RoutingState::new(Peer::new(identity.id(), addr), &config)?;
        // Every peer would refuse a node its own mode refuses. The expiry
        // waits for the wall time; the rest is checked here.
        let unexpired = Some(UnixTime(0));
        config
            .admission
            .admits(
                &identity.keypair.public(),
                identity.certificate.as_ref(),
                unexpired,
            )
            .map_err(ConfigError::OwnIdentity)?;
        // The guard's nonces come from a stream of their own, so the
        // node's randomness is the same with and without verification.
        let guard_seed = SmallRng::new(seed ^ 0x5e55_10a5_5e55_10a5).next_u64();
        let guard = Guard::new(identity, config.admission, guard_seed)
            .with_hello_timeout(config.initial_rto);
        let rng = SmallRng::new(seed);
        Ok(Node {
            config,
            routing,
            rng,
            now: Instant::ZERO,
            phase: Phase::Idle,
            join: None,
            outbox: Deque::new(),
            events: Deque::new(),
            pool: Pool::new(),
            probes: Probes::new(),
            measured: measured::Measured::new(),
            seen: SeenCache::new(),
            handed: handover::Records::new(),
            timers: [Instant::MAX; TIMERS],
            right_watch: None,
            rtt: RttEstimator::default(),
            refine_rounds: 0,
            policy: Policy::default(),
            forwarder,
            stats: Stats::default(),
            lent: None,
            graveyard: graveyard::Graveyard::new(),
            heard_lately: heard::HeardLately::new(),
            guard,
            parked: Deque::new(),
            unconnected: false,
            answer_ration: crate::ration::Ration::full(ANSWER_BURST),
            #[cfg(feature = "secure-routing")]
            constrained: crate::secure::ConstrainedTable::new(identity_id),
            #[cfg(feature = "secure-routing")]
            secure_ops: heapless::Vec::new(),
            #[cfg(feature = "secure-routing")]
            fill_cursor: 0,
            #[cfg(feature = "secure-routing")]
            lent_secure: None,
            #[cfg(feature = "secure-routing")]
            unsent_roots: heapless::Vec::new(),
            #[cfg(feature = "secure-routing")]
            bootstrap: None,
            #[cfg(feature = "secure-routing")]
            filled_once: false,
            passed_over: false,
            #[cfg(feature = "secure-routing")]
            fill_span: None,
            #[cfg(feature = "adversary")]
            adversary: None,
        })
    }

    // ----- reading the node -----

    /// This node as others see it.
    pub fn own(&self) -> Peer {
        self.routing.own()
    }

    /// Where the node is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the node is active (may be the root of keys).
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The leaf set.
    pub fn leaf_set(&self) -> &LeafSet<HALF> {
        self.routing.leaf_set()
    }

    /// The routing table.
    pub fn routing_table(&self) -> &RoutingTable<ROWS> {
        self.routing.table()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The node's credentials.
    pub fn identity(&self) -> &Identity {
        self.guard.identity()
    }

    /// How the node's handshakes and authentication went.
    pub fn session_stats(&self) -> &SessionStats {
        &self.guard.stats
    }

    /// Peers this node holds a session with (verified, and cached).
    pub fn sessions(&self) -> usize {
        self.guard.sessions()
    }

    /// Whether `peer` answered this node's challenge from `peer.addr`
    /// and its session is still cached.
    pub fn is_verified(&self, peer: Peer) -> bool {
        self.guard.is_verified(peer)
    }

    /// Datagrams waiting for a handshake with their destination.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Tells the node the wall time (`unix`, seconds since the Unix
    /// epoch) at `now`, for certificates' expiry; the node counts on
    /// from it with `now`. The certified admission mode refuses every
    /// peer until it is told.
    pub fn set_unix_time(&mut self, now: Instant, unix: UnixTime) {
        self.advance(now);
        self.guard.set_unix_time(self.now, unix);
    }

    /// The application policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The application policy, to change.
    pub fn policy_mut(&mut self) -> &mut Policy {
        &mut self.policy
    }

    /// The per-hop upcall.
    pub fn forwarder(&self) -> &F {
        &self.forwarder
    }

    /// The per-hop upcall, to change.
    pub fn forwarder_mut(&mut self) -> &mut F {
        &mut self.forwarder
    }

    /// Messages held: waiting for acks, buffered, or waiting to be polled.
    pub fn messages_held(&self) -> usize {
        self.pool.used()
    }

    /// How many more messages `route` would take now: free message slots,
    /// bounded by the room in the outbound queue and by the free payload
    /// bytes, counted in slot shares ([`SLOT_BYTES`]; smaller messages fit
    /// more).
    pub fn route_room(&self) -> usize {
        (POOL - self.pool.used())
            .min(QUEUE - self.outbox.len())
            .min(self.pool.free_bytes() / SLOT_BYTES)
    }

    /// Payload bytes free in the message store (`POOL` × [`SLOT_BYTES`]).
    pub fn payload_room(&self) -> usize {
        self.pool.free_bytes()
    }

    /// Outstanding probes.
    pub fn probes_outstanding(&self) -> usize {
        self.probes.len()
    }

    /// Leaf-set members declared failed recently and still re-probed now
    /// and then, in case they come back (a healed partition).
    pub fn failed_remembered(&self) -> usize {
        self.graveyard.len()
    }

    /// The members counted by [`Node::failed_remembered`]: what this node
    /// still knows of peers it declared failed.
    pub fn failed_peers(&self) -> impl Iterator<Item = Peer> + '_ {
        self.graveyard.all()
    }

    /// Largest payload [`Node::route`] accepts: what a datagram of
    /// `max_datagram` carries, and no more than the message store holds
    /// (`POOL` × [`SLOT_BYTES`]).
    pub fn max_payload(&self) -> usize {
        let signature = usize::from(self.config.verify_peers) * crate::wire::SOURCE_SIGNATURE_BYTES;
        let overhead =
            crate::wire::HEADER_LEN_V6 + pool::ROUTED_OVERHEAD_V6 + self.trailer() + signature;
        MAX_PAYLOAD
            .min(self.config.max_datagram.saturating_sub(overhead))
            .min(Pool::<POOL>::BYTES)
    }

    // ----- commands -----

    /// Joins the ring through `bootstrap`, any node already in it; or, with
    /// `None`, starts a new ring of one (active at once).
    pub fn join(
        &mut self,
        now: Instant,
        bootstrap: Option<SocketAddr>,
    ) -> Result<(), CommandError> {
        self.advance(now);
        if self.phase != Phase::Idle {
            return Err(CommandError::AlreadyJoined);
        }
        match bootstrap {
            None => {
                self.become_active();
                Ok(())
            }
            Some(addr) => self.start_join(addr),
        }
    }

    /// Leaves the ring gracefully: tells the leaf set (which repairs at
    /// once), hands messages still held to the best other node for their
    /// keys, and goes inert.
    pub fn leave(&mut self, now: Instant) -> Result<(), CommandError> {
        self.advance(now);
        if self.phase != Phase::Active {
            return Err(CommandError::NotActive);
        }
        let members: NodeSet = self
            .routing
            .neighbor_set(crate::leaf_set::NODE_SET_CAPACITY);
        for m in &members {
            self.push_out(Out::Leave { to: m.addr });
        }
        self.hand_on_before_leaving();
        self.phase = Phase::Left;
        self.timers = [Instant::MAX; TIMERS];
        self.right_watch = None;
        Ok(())
    }

    // ----- shared internals -----

    /// Moves the clock forward; a `now` in the past is clamped (STYLE §1).
    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        self.release_lent();
    }

    fn release_lent(&mut self) {
        if let Some(r) = self.lent.take() {
            self.pool.free(r);
        }
        #[cfg(feature = "secure-routing")]
        self.release_secured();
    }

    /// Queues a datagram; a full queue drops it and counts (the protocol's
    /// timers recover from a lost datagram like from network loss).
    fn push_out(&mut self, out: Out) -> bool {
        if self.outbox.push_back(out).is_err() {
            self.stats.transmits_dropped += 1;
            return false;
        }
        true
    }

    fn push_event(&mut self, ev: Ev) -> bool {
        if self.events.push_back(ev).is_err() {
            self.stats.events_dropped += 1;
            return false;
        }
        true
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// `period` less up to 10 %, so nodes started together do not keep
    /// sending in step, and a heartbeat is never later than its period
    /// (the watcher's lease counts from the last one).
    fn jittered(&mut self, period: Duration) -> Duration {
        let tenth = period / 10;
        let span = u64::try_from(tenth.as_micros()).unwrap_or(u64::MAX).max(1);
        period - Duration::from_micros(self.rng.below(span))
    }

    fn set_timer(&mut self, t: Timer, at: Option<Instant>) {
        self.timers[t as usize] = at.unwrap_or(Instant::MAX);
    }

    fn on_message(&mut self, from: SocketAddr, msg: Message<'_>) {
        let sender = msg.sender;
        match msg.body {
            Body::JoinRequest(m) => self.on_join_request(from, sender, m),
            Body::JoinReply(m) => self.on_join_reply(sender, m),
            Body::LeafSet(m) => self.on_leaf_set(from, sender, m),
            Body::Heartbeat(_) => {
                self.heard_from(sender);
            }
            Body::Probe(m) => {
                self.heard_from(sender);
                let with_leaf_set = m.want_leaf_set;
                self.push_out(Out::ProbeReply {
                    to: from,
                    nonce: m.nonce,
                    with_leaf_set,
                    prober: sender.id,
                });
            }
            Body::ProbeReply(m) => self.on_probe_reply(sender, m),
            Body::RowRequest(m) => {
                self.heard_one_way(sender);
                // Rare (joins, refinement, maintenance): worth measuring
                // the asker as a nearer entry for its slot.
                self.offer_table_candidate(sender);
                if usize::from(m.row) < ROWS {
                    self.push_out(Out::RowReply {
                        to: from,
                        row: m.row,
                    });
                }
            }
            Body::RowReply(m) => {
                self.heard_one_way(sender);
                for p in m.entries.iter() {
                    self.offer_table_candidate(p);
                }
            }
            Body::Routed(m) => self.on_routed(from, sender, msg.app, m),
            Body::Ack(m) => {
                // A joiner has only its join request out: an ack from its
                // bootstrap is for that.
                if !self.join_acked(from, sender) {
                    self.on_ack(sender, m.msg_id);
                }
            }
            Body::Leave(m) => self.on_leave(sender, m),
            Body::RouteFailed(m) => self.on_route_failed(msg.app, m),
            Body::Receipt(m) => self.on_receipt(m),
            Body::Query(m) => self.on_query(from, sender, m),
            #[cfg(feature = "secure-routing")]
            Body::ReplicaSet(m) => self.on_replica_set(sender, m),
            // This build sends no queries: nothing it asked.
            #[cfg(not(feature = "secure-routing"))]
            Body::ReplicaSet(_) => self.stats.secure.unsolicited_answers += 1,
            // The guard took these before decoding.
            Body::Hello(_) | Body::Challenge(_) | Body::Confirm(_) | Body::Ready | Body::Stale => {}
        }
    }
}
