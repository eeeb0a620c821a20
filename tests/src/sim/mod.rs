//! A deterministic discrete-event simulator over many `pastry_core::Node`s.
//!
//! Each node is a `pastry_core::Host` of the DHT and Scribe the run asks
//! for, driven only through the public sans-IO API (the drain rule after
//! every input) and exchange the same encoded datagrams a network
//! would carry. Events run in time order, ties in the order they were
//! scheduled; every random choice (ids, delays, loss, churn) comes from one
//! seeded generator, so a seed and a script replay exactly.
//!
//! The simulator keeps the global view ([`truth::Truth`]) and judges each
//! lookup: delivered, correct (delivered by the live active node
//! numerically closest to the key at that moment), hops, and relative
//! delay penalty (the sum of one-way delays along the overlay path over
//! the direct one-way delay from source to the node that delivered).

pub mod attack;
pub mod byzantine;
mod faults;
pub mod groups;
pub mod healing;
pub mod keytrace;
mod misses;
pub mod network;
mod queue;
pub mod report;
mod run;
pub mod scenario;
pub mod secure;
pub mod storage;
pub mod truth;
pub mod views;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::app::{Host, HostNode};
use pastry_core::dht::{Dht, DhtConfig, MapStore};
use pastry_core::identity::Keypair;
use pastry_core::node::Passthrough;
use pastry_core::rng::SmallRng;
use pastry_core::scribe::{Members, Scribe, ScribeConfig};
use pastry_core::{AppId, Config, Id, Instant};

pub use faults::Fault;
use network::{Network, Place};
use queue::EventQueue;
use truth::Truth;

/// A hash map with a fixed hasher: no per-process random seed.
pub type DetMap<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// The applications a simulated node runs: the DHT and Scribe when the
/// run asks for them (boxed, so a node without them pays a pointer).
pub type SimApps = (Option<Box<Dht<MapStore>>>, Option<Box<SimScribe>>);

/// A simulated node with its applications, driven through the core's one
/// output door like a runtime's.
pub type SimHost<const POOL: usize = 16, const S: usize = SIM_SESSIONS, const HALF: usize = 8> =
    Host<SimApps, Passthrough, POOL, S, HALF>;

/// Sessions a simulated node keeps: half a runtime node's
/// ([`pastry_core::node::DEFAULT_SESSIONS`]), so 100,000 nodes still fit in
/// memory (each session is 184 bytes, held whether or not the run
/// verifies peers). With `--verify`, nodes of large overlays push out
/// more sessions than a runtime node would, and greet peers again.
pub const SIM_SESSIONS: usize = 128;

/// Sessions a simulated node keeps in a run that verifies nobody (`sim`
/// without `--verify`): none is ever opened, and 128 would be 2.3 GiB at
/// 100,000 nodes.
pub const PLAIN_SESSIONS: usize = 1;

/// The node type simulated: the default table, `HALF` leaf-set members
/// a side (8 by default; 16 for `sim --leaf-set 32`), `POOL` message
/// slots (16 by default; runs with Scribe use [`SCRIBE_POOL`]), queues of
/// 64, and the per-hop upcalls of the DHT and Scribe it runs.
pub type SimNode<const POOL: usize = 16, const S: usize = SIM_SESSIONS, const HALF: usize = 8> =
    HostNode<SimApps, Passthrough, POOL, S, HALF>;

/// Message slots of simulated nodes running Scribe: a tree node with 16
/// children beats them all at once, and under churn slots wait on departed
/// peers; with 16 slots, heartbeats and publications were lost (99.5 %
/// delivery and twice the parent losses at 2,000 nodes, 30-min sessions),
/// with 64 they are not. Each slot holds a whole datagram, so the nodes
/// of other runs keep 16.
pub const SCRIBE_POOL: usize = 64;

/// Scribe as simulated: every member accepts anycasts.
pub type SimScribe = Scribe<Members, { groups::SIM_GROUPS }, { groups::SIM_CHILDREN }>;

/// The application lookups are sent under.
pub const LOOKUP_APP: AppId = AppId(1);

/// How long sessions last under churn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sessions {
    /// Exponential with this median.
    Exponential(Duration),
    /// Pareto with this median and shape `alpha` (heavy-tailed).
    Pareto(Duration, f64),
}

/// Churn: every live node's session ends after a random time, and a new
/// node joins (through a random active node) as each one goes, so the
/// population stays steady.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// Session lengths.
    pub sessions: Sessions,
    /// Fraction of departures that are graceful leaves (the rest crash).
    pub graceful: f64,
}

impl Sessions {
    /// Draws one session length.
    pub fn draw(&self, rng: &mut SmallRng) -> Duration {
        // 1 - unit() is in (0, 1]: no log of zero.
        let u = 1.0 - rng.unit();
        let secs = match *self {
            Sessions::Exponential(median) => {
                -u.ln() * median.as_secs_f64() / std::f64::consts::LN_2
            }
            Sessions::Pareto(median, alpha) => {
                let scale = median.as_secs_f64() / 2f64.powf(1.0 / alpha);
                scale * u.powf(-1.0 / alpha)
            }
        };
        Duration::from_secs_f64(secs.min(1e9))
    }
}

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// The nodes' configuration.
    pub node: Config,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Each delay is stretched by up to this fraction, at random.
    pub jitter: f64,
    /// When set, every node runs the DHT with these settings.
    pub dht: Option<DhtConfig>,
    /// When set, every node runs Scribe with these settings.
    pub scribe: Option<ScribeConfig>,
}

impl SimConfig {
    /// Defaults: no loss, no jitter, the papers' node configuration
    /// without the cryptography (`verify_peers` off: the protocol as the
    /// papers model it, at the scale of 100,000 nodes); set
    /// `node.verify_peers` to run every handshake and seal.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            node: Config {
                verify_peers: false,
                ..Config::default()
            },
            loss: 0.0,
            jitter: 0.0,
            dht: None,
            scribe: None,
        }
    }
}

#[derive(Debug)]
enum Action {
    /// A datagram arrives.
    Arrive {
        to: u32,
        from: u32,
        delay_us: u64,
        /// Index of the datagram's bytes in `Sim::wire`.
        buf: u32,
    },
    /// A node's deadline, if it is still the one scheduled.
    Wake(u32),
    /// Churn: a node's session ends (and a new node arrives).
    Depart(u32),
    /// Judge the orphans of this failed Scribe parent.
    Inspect(u32),
    /// A node whose join failed tries again through another node, as an
    /// application would.
    Rejoin(u32),
    /// The attacker's turn ([`attack`]).
    Attack,
}

#[derive(Debug)]
struct Slot<const POOL: usize, const S: usize, const HALF: usize> {
    /// The node and its applications while it is alive; dropped when it
    /// crashes or leaves, so churn does not grow memory with every
    /// departure.
    host: Option<Box<SimHost<POOL, S, HALF>>>,
    /// Its id, key and address, kept after it is gone (a restart reuses
    /// them).
    id: Id,
    secret: [u8; 32],
    addr: SocketAddr,
    place: Place,
    /// Side of a partition, when one is in force.
    side: bool,
    /// The deadline a `Wake` is scheduled for.
    wake: Option<Instant>,
    /// Where the node stands in `Sim::alive` while it is alive.
    alive_at: u32,
    /// When it last crashed or left.
    gone_at: Option<Instant>,
    /// One of the adversary's nodes ([`byzantine`]).
    faulty: bool,
}

impl<const POOL: usize, const S: usize, const HALF: usize> Slot<POOL, S, HALF> {
    /// The node, while it is alive.
    fn node(&self) -> Option<&SimNode<POOL, S, HALF>> {
        self.host.as_deref().map(Host::node)
    }

    /// Its DHT, when the run has one.
    fn dht(&self) -> Option<&Dht<MapStore>> {
        self.host.as_deref()?.apps().0.as_deref()
    }

    /// Its Scribe, when the run has it.
    fn scribe(&self) -> Option<&SimScribe> {
        self.host.as_deref()?.apps().1.as_deref()
    }

    /// The node and its applications for a command at `now` (the host's
    /// clock moves there first, as a runtime's does).
    fn at(&mut self, now: Instant) -> Option<(&mut SimNode<POOL, S, HALF>, &mut SimApps)> {
        let (apps, node, _) = self.host.as_deref_mut()?.parts_at(now);
        Some((node, apps))
    }
}

/// One lookup as the simulator saw it.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The key.
    pub key: Id,
    /// The node that sent it.
    pub source: u32,
    /// When it was sent.
    pub sent_at: Instant,
    /// Deliveries: (node, whether it was the true root then, hops, RDP if
    /// defined).
    pub deliveries: Vec<(u32, bool, u8, Option<f64>)>,
    /// Whether the source was told it failed.
    pub failed: bool,
    /// Nodes reached so far and the one-way delay accumulated to each.
    path: Vec<(u32, u64)>,
}

impl Lookup {
    /// Nodes the lookup reached (the source first), each with the one-way
    /// delay accumulated to it along the first copy's path, in microseconds.
    pub fn path(&self) -> &[(u32, u64)] {
        &self.path
    }
}

/// Counters the simulator keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events processed (datagram arrivals and node wake-ups).
    pub events: u64,
    /// Datagrams sent by nodes.
    pub datagrams: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams the network dropped (loss, partition, dead receiver).
    pub dropped: u64,
    /// Control datagrams (all but routed messages and their acks) and bytes.
    pub control_datagrams: u64,
    /// Their bytes.
    pub control_bytes: u64,
    /// Joins that failed (`Event::JoinFailed`).
    pub join_failures: u64,
    /// Datagrams sent, by wire kind number.
    pub by_kind: [u64; 32],
    /// DHT replica-maintenance datagrams (digests, listings, copies
    /// pushed to replicas) and their bytes.
    pub replication_datagrams: u64,
    /// Their bytes.
    pub replication_bytes: u64,
    /// Queries and answers of the secure lookups the judge sent (the rest
    /// of `by_kind`'s queries are the nodes' own: fills and checks).
    pub judged_query_datagrams: u64,
}

impl Counters {
    /// What was counted since `before` was taken.
    pub fn since(&self, before: &Counters) -> Counters {
        Counters {
            events: self.events - before.events,
            datagrams: self.datagrams - before.datagrams,
            bytes: self.bytes - before.bytes,
            dropped: self.dropped - before.dropped,
            control_datagrams: self.control_datagrams - before.control_datagrams,
            control_bytes: self.control_bytes - before.control_bytes,
            join_failures: self.join_failures - before.join_failures,
            by_kind: std::array::from_fn(|k| self.by_kind[k] - before.by_kind[k]),
            replication_datagrams: self.replication_datagrams - before.replication_datagrams,
            replication_bytes: self.replication_bytes - before.replication_bytes,
            judged_query_datagrams: self.judged_query_datagrams - before.judged_query_datagrams,
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Sim<const POOL: usize = 16, const S: usize = SIM_SESSIONS, const HALF: usize = 8> {
    /// Settings.
    pub config: SimConfig,
    /// The network model.
    pub network: Network,
    /// Virtual time.
    pub now: Instant,
    /// The generator of every random choice.
    pub rng: SmallRng,
    slots: Vec<Slot<POOL, S, HALF>>,
    /// Indices of live nodes, in no order: under churn most slots belong
    /// to departed nodes, and a day at 10,000 nodes leaves over a million.
    alive: Vec<u32>,
    by_addr: DetMap<SocketAddr, u32>,
    queue: EventQueue<Action>,
    /// The global view: live active nodes.
    pub truth: Truth,
    /// Lookups by message id.
    pub lookups: DetMap<u64, Lookup>,
    /// Message ids in the order lookups were sent.
    pub lookup_order: Vec<u64>,
    /// Counters.
    pub counters: Counters,
    /// Node wake-ups at the instant `.0`, to catch a timer that spins (a
    /// deadline left at the present after its timeout ran).
    wakes_now: (Instant, u32),
    partitioned: bool,
    /// Faults for the next datagrams sent, in order ([`Sim::set_faults`]).
    faults: VecDeque<Fault>,
    churn: Option<Churn>,
    buf: Vec<u8>,
    /// Bytes of datagrams in flight, by index; `free_wire` lists those
    /// free for reuse.
    wire: Vec<Vec<u8>>,
    free_wire: Vec<u32>,
    /// DHT operations and the values they stored.
    pub storage: storage::Storage,
    /// Scribe's groups, publications and anycasts.
    pub multicast: groups::Multicast,
    /// Orphans of failed Scribe parents and how fast they healed.
    pub healing: healing::Healing,
    /// DHT keys whose holders are logged as they change.
    pub key_trace: keytrace::KeyTrace,
    /// The attacker that never joins, when one runs.
    attacker: Option<attack::Attacker>,
    /// Faulty nodes' adversary, when some nodes are faulty.
    byzantine: Option<byzantine::Byzantine>,
    /// Secure lookups and how they went.
    pub secure: secure::SecureLookups,
}

impl Sim {
    /// An empty simulation of nodes with 16 message slots.
    pub fn new(config: SimConfig, network: Network) -> Sim {
        Sim::with_pool(config, network)
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// An empty simulation of nodes with `POOL` message slots.
    pub fn with_pool(config: SimConfig, network: Network) -> Sim<POOL, S, HALF> {
        let rng = SmallRng::new(config.seed);
        let buf = vec![0u8; config.node.max_datagram];
        Sim {
            config,
            network,
            now: Instant::from_secs(1),
            rng,
            slots: Vec::new(),
            alive: Vec::new(),
            by_addr: DetMap::default(),
            queue: EventQueue::new(),
            truth: Truth::default(),
            lookups: DetMap::default(),
            lookup_order: Vec::new(),
            counters: Counters::default(),
            wakes_now: (Instant::ZERO, 0),
            partitioned: false,
            faults: VecDeque::new(),
            churn: None,
            buf,
            wire: Vec::new(),
            free_wire: Vec::new(),
            storage: storage::Storage::default(),
            multicast: groups::Multicast::default(),
            healing: healing::Healing::default(),
            key_trace: keytrace::KeyTrace::default(),
            attacker: None,
            byzantine: None,
            secure: secure::SecureLookups::default(),
        }
    }

    // ----- nodes -----

    /// Creates a node (not yet joined); its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.slots.len();
        let mut secret = [0u8; 32];
        for c in secret.chunks_mut(8) {
            c.copy_from_slice(&self.rng.next_u64().to_be_bytes());
        }
        let keys = Keypair::from_secret(secret);
        let id = keys.id();
        let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7000));
        let seed = self.rng.next_u64();
        let place = self.network.place(i, &mut self.rng);
        let host = self.new_host(keys, addr, seed);
        self.slots.push(Slot {
            host: Some(host),
            id,
            secret,
            addr,
            place,
            side: false,
            wake: None,
            alive_at: 0,
            gone_at: None,
            faulty: false,
        });
        self.now_alive(i);
        self.by_addr.insert(addr, i as u32);
        self.draw_role(i);
        i
    }

    /// A fresh node whose randomness derives from `seed`, with the
    /// applications the configuration asks for (theirs drawn from the
    /// simulation's randomness).
    fn new_host(
        &mut self,
        keys: Keypair,
        addr: SocketAddr,
        seed: u64,
    ) -> Box<SimHost<POOL, S, HALF>> {
        let dht = self.config.dht.clone().map(|config| {
            let seed = self.rng.next_u64();
            Box::new(Dht::new(config, MapStore::new(), seed).expect("valid DHT"))
        });
        let scribe = self
            .config
            .scribe
            .map(|config| Box::new(SimScribe::new(config, Members).expect("valid Scribe config")));
        let config = self.config.node.clone();
        let host =
            SimHost::<POOL, S, HALF>::new(config, keys, addr, seed, (dht, scribe), Passthrough);
        Box::new(host.expect("valid config and policy room"))
    }

    /// Number of nodes ever created.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no node was ever created.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node `i`, while it is alive.
    pub fn node(&self, i: usize) -> Option<&SimNode<POOL, S, HALF>> {
        self.slots[i].node()
    }

    fn active(&self, i: usize) -> bool {
        self.slots[i].node().is_some_and(|n| n.is_active())
    }

    /// Whether node `i` is alive (not crashed, not left).
    pub fn is_alive(&self, i: usize) -> bool {
        self.slots[i].host.is_some()
    }

    /// Indices of live nodes.
    pub fn live(&self) -> Vec<usize> {
        let mut live: Vec<usize> = self.alive.iter().map(|&i| i as usize).collect();
        live.sort_unstable();
        live
    }

    /// A random live active node.
    pub fn random_active(&mut self) -> Option<usize> {
        if self.truth.is_empty() {
            return None;
        }
        // Rejection sampling over live nodes: cheap while most are active.
        for _ in 0..64 {
            let i = self.alive[self.rng.below(self.alive.len() as u64) as usize] as usize;
            if self.active(i) {
                return Some(i);
            }
        }
        let active: Vec<usize> = self
            .alive
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| self.active(i))
            .collect();
        Some(active[self.rng.below(active.len() as u64) as usize])
    }

    /// Records that node `i` came alive.
    fn now_alive(&mut self, i: usize) {
        self.slots[i].alive_at = self.alive.len() as u32;
        self.slots[i].gone_at = None;
        self.alive.push(i as u32);
    }

    /// Records that node `i` is gone.
    fn now_gone(&mut self, i: usize) {
        let at = self.slots[i].alive_at as usize;
        self.slots[i].gone_at = Some(self.now);
        self.alive.swap_remove(at);
        if let Some(&moved) = self.alive.get(at) {
            self.slots[moved as usize].alive_at = at as u32;
        }
    }

    /// Starts node `i` joining through `bootstrap` (or alone).
    pub fn join(&mut self, i: usize, bootstrap: Option<usize>) {
        let now = self.now;
        let to = bootstrap.map(|b| self.slots[b].addr);
        self.slots[i]
            .at(now)
            .expect("a node joins while alive")
            .0
            .join(now, to)
            .expect("a fresh node joins");
        self.drain(i);
    }

    /// Creates a node and joins it through a random active node; its index.
    /// Under churn its session end is scheduled.
    pub fn spawn(&mut self) -> usize {
        let boot = self.random_correct();
        let i = self.add_node();
        self.join(i, boot);
        self.schedule_departure(i);
        i
    }

    /// Starts churn: every live node gets a session end from now (fresh
    /// draws, exact for exponential sessions), and so does every node
    /// spawned later.
    pub fn start_churn(&mut self, churn: Churn) {
        self.churn = Some(churn);
        for i in self.live() {
            self.schedule_departure(i);
        }
    }

    /// Stops churn: departures already scheduled are ignored.
    pub fn stop_churn(&mut self) {
        self.churn = None;
    }

    fn schedule_departure(&mut self, i: usize) {
        if let Some(c) = self.churn {
            let at = self.now + c.sessions.draw(&mut self.rng);
            self.schedule(at, Action::Depart(i as u32));
        }
    }

    fn depart(&mut self, i: usize) {
        let Some(c) = self.churn else { return };
        if self.slots[i].host.is_none() {
            return;
        }
        if self.rng.unit() < c.graceful {
            self.leave(i);
        } else {
            self.crash(i);
        }
        let next = self.spawn();
        self.scribe_replaces(i, next);
    }

    /// Node `i` stops without a word.
    pub fn crash(&mut self, i: usize) {
        if self.slots[i].host.is_none() {
            return;
        }
        if self.slots[i].scribe().is_some() {
            self.scribe_departs(i);
        }
        let Some(host) = self.slots[i].host.take() else {
            return;
        };
        self.now_gone(i);
        let id = host.own().id;
        if self.truth.contains(id) {
            self.truth.remove(id);
        }
        if self.slots[i].faulty {
            self.colluder_gone(id);
        }
        if !self.key_trace.is_empty() {
            self.trace_keys(i);
        }
    }

    /// Node `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        if self.slots[i]
            .at(now)
            .is_some_and(|(n, _)| n.leave(now).is_ok())
        {
            self.drain(i);
        }
        self.crash(i);
    }

    /// Splits the live nodes in two halves by index parity: datagrams
    /// between halves are lost until [`Sim::heal`].
    pub fn partition(&mut self) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            s.side = i % 2 == 1;
        }
        self.partitioned = true;
    }

    /// Ends a partition.
    pub fn heal(&mut self) {
        self.partitioned = false;
    }

    // ----- lookups -----

    /// Routes a lookup for `key` from node `source`; its message id, or
    /// `None` if the node refused (not active, queue full).
    pub fn lookup(&mut self, source: usize, key: Id) -> Option<u64> {
        let now = self.now;
        let msg_id = self.slots[source]
            .at(now)?
            .0
            .route(now, key, LOOKUP_APP, &[], None)
            .ok()?;
        self.lookups.insert(
            msg_id,
            Lookup {
                key,
                source: source as u32,
                sent_at: now,
                deliveries: Vec::new(),
                failed: false,
                path: vec![(source as u32, 0)],
            },
        );
        self.lookup_order.push(msg_id);
        self.drain(source);
        Some(msg_id)
    }

    /// A random key.
    pub fn random_key(&mut self) -> Id {
        random_id(&mut self.rng)
    }
}

/// The message a datagram carries, as the global view reads it: as it is
/// without verification, or without its trailer when sealed.
pub(crate) fn snoop(
    bytes: &[u8],
) -> Result<pastry_core::wire::Message<'_>, pastry_core::wire::DecodeError> {
    pastry_core::wire::Message::decode(bytes)
        .or_else(|_| pastry_core::wire::Message::decode(pastry_core::session::message_of(bytes)))
}

fn random_id(rng: &mut SmallRng) -> Id {
    let mut b = [0u8; 20];
    for c in b.chunks_mut(8) {
        c.copy_from_slice(&rng.next_u64().to_be_bytes()[..c.len()]);
    }
    Id::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_list_follows_spawns_departures_and_restarts() {
        let mut sim = Sim::new(SimConfig::new(4), Network::Plane);
        for _ in 0..30 {
            sim.spawn();
            sim.run_for(Duration::from_millis(200));
        }
        sim.run_for(Duration::from_secs(20));
        for i in [3, 7, 8, 20, 29] {
            sim.crash(i);
        }
        sim.leave(11);
        sim.run_for(Duration::from_secs(5));
        assert!(sim.restart(7));
        sim.run_for(Duration::from_secs(20));
        // The brute-force view: every slot's node.
        let truth: Vec<usize> = (0..sim.len()).filter(|&i| sim.is_alive(i)).collect();
        assert_eq!(sim.live(), truth);
        assert_eq!(truth.len(), 25);
        let active: std::collections::BTreeSet<usize> =
            truth.iter().copied().filter(|&i| sim.active(i)).collect();
        let mut drawn = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let i = sim.random_active().expect("active nodes");
            assert!(active.contains(&i), "drew {i}, not live and active");
            drawn.insert(i);
        }
        assert_eq!(drawn, active, "some active node never drawn");
    }

    #[test]
    fn session_draws_have_the_asked_median() {
        let median = Duration::from_secs(600);
        for sessions in [Sessions::Exponential(median), Sessions::Pareto(median, 1.5)] {
            let mut rng = SmallRng::new(9);
            let mut v: Vec<Duration> = (0..20_001).map(|_| sessions.draw(&mut rng)).collect();
            v.sort();
            let got = v[10_000].as_secs_f64();
            assert!(
                (got / 600.0 - 1.0).abs() < 0.05,
                "{sessions:?}: median {got}"
            );
            assert!(v[0] > Duration::ZERO);
        }
    }
}
