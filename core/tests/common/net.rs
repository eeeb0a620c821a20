//! A small in-memory network for node tests: virtual clock, seeded delay
//! and loss, nodes driven only through the public sans-IO API and the drain
//! rule. Deterministic per seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use std::ops::{Deref, DerefMut};

use pastry_core::app::{Application, Either, HostNode};
use pastry_core::dht::{Dht, DhtEvent, MapStore, OpId, PutError};
use pastry_core::identity::Keypair;
use pastry_core::node::{Forwarder, Passthrough};
use pastry_core::rng::SmallRng;
use pastry_core::scribe::{Acceptor, AnycastError, AnycastId, Scribe, ScribeConfig, ScribeEvent};
use pastry_core::session::message_of;
use pastry_core::wire::{Body, Kind, Message};
use pastry_core::{
    AppId, CommandError, Config, Event, Host, HostEvent, Id, Instant, Kbr, Output, Peer, Phase,
};

/// A delivery as the test saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub at: usize,
    pub key: Id,
    pub app: AppId,
    pub msg_id: u64,
    pub hops: u8,
    pub source: Id,
    pub payload: Vec<u8>,
    pub when: Instant,
    pub was_active: bool,
    pub source_addr: SocketAddr,
    pub authenticated: bool,
    pub signature: Option<[u8; 96]>,
}

impl Delivered {
    /// The node's verdict on the source ([`pastry_core::Delivery::verify_source`]).
    pub fn source_proven(&self) -> bool {
        pastry_core::node::Delivery {
            key: self.key,
            app: self.app,
            source: Peer::new(self.source, self.source_addr),
            msg_id: self.msg_id,
            hops: self.hops,
            authenticated: self.authenticated,
            signature: self.signature,
            payload: &self.payload,
        }
        .verify_source()
    }
}

/// A DHT operation's outcome, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtDone {
    Stored {
        replicas: u8,
    },
    PutFailed(PutError),
    Found {
        version: u64,
        cached: bool,
        value: Vec<u8>,
    },
    NotFound,
    TimedOut,
    Disputed,
}

impl DhtDone {
    fn from_event(ev: DhtEvent<'_>) -> (OpId, Id, DhtDone) {
        match ev {
            DhtEvent::Stored { op, key, replicas } => (op, key, DhtDone::Stored { replicas }),
            DhtEvent::PutFailed { op, key, error } => (op, key, DhtDone::PutFailed(error)),
            DhtEvent::Found {
                op,
                key,
                version,
                cached,
                value,
            } => {
                let done = DhtDone::Found {
                    version,
                    cached,
                    value: value.to_vec(),
                };
                (op, key, done)
            }
            DhtEvent::NotFound { op, key } => (op, key, DhtDone::NotFound),
            DhtEvent::GetTimedOut { op, key } => (op, key, DhtDone::TimedOut),
            DhtEvent::Disputed { op, key } => (op, key, DhtDone::Disputed),
            other => unreachable!("a DHT event the tests do not know: {other:?}"),
        }
    }
}

/// Scribe's anycast predicate in tests: accept while `accepting`, and keep
/// what was taken.
#[derive(Debug, Default)]
pub struct Gate {
    pub accepting: bool,
    pub taken: Vec<(Id, Vec<u8>)>,
}

impl Acceptor for Gate {
    fn accept(&mut self, group: Id, data: &[u8]) -> bool {
        if self.accepting {
            self.taken.push((group, data.to_vec()));
        }
        self.accepting
    }
}

/// Scribe as the tests run it: small fan-out so pushing down happens.
pub type TestScribe = Scribe<Gate, 16, 4>;

/// Scribe news, owned: (node, when, what).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScribeDone {
    Attached(Id),
    Delivered {
        group: Id,
        id: u64,
        data: Vec<u8>,
    },
    Accepted {
        op: AnycastId,
        by: Id,
    },
    Failed {
        op: AnycastId,
        error: AnycastError,
    },
    Taken {
        group: Id,
        origin: Id,
        data: Vec<u8>,
    },
}

impl ScribeDone {
    fn from_event(ev: ScribeEvent<'_>) -> ScribeDone {
        match ev {
            ScribeEvent::Attached { group } => ScribeDone::Attached(group),
            ScribeEvent::Delivered { group, id, data } => ScribeDone::Delivered {
                group,
                id,
                data: data.to_vec(),
            },
            ScribeEvent::AnycastAccepted { op, by, .. } => ScribeDone::Accepted { op, by: by.id },
            ScribeEvent::AnycastFailed { op, error, .. } => ScribeDone::Failed { op, error },
            ScribeEvent::AnycastTaken {
                group,
                origin,
                data,
            } => ScribeDone::Taken {
                group,
                origin: origin.id,
                data: data.to_vec(),
            },
            other => unreachable!("a Scribe event the tests do not know: {other:?}"),
        }
    }
}

/// A datagram in flight: arrival time, sequence (ties), to, from, bytes.
type InFlight = Reverse<(Instant, u64, usize, SocketAddr, Vec<u8>)>;

/// An application without its per-hop upcall: the tests choose the
/// node's upcalls themselves (`Net<F>`), as they did before the seam, so a
/// DHT test without `dht::Lookups` sees no answers on the way.
#[derive(Debug)]
pub struct Bare<A>(pub A);

impl<A> Deref for Bare<A> {
    type Target = A;
    fn deref(&self) -> &A {
        &self.0
    }
}

impl<A> DerefMut for Bare<A> {
    fn deref_mut(&mut self) -> &mut A {
        &mut self.0
    }
}

impl<A: Application> Application for Bare<A> {
    type Event<'a>
        = A::Event<'a>
    where
        Self: 'a;
    type Forwarder = Passthrough;

    fn forwarder(&self) -> Passthrough {
        Passthrough
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.0.install(node)
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.0.handle_event(now, node, ev)
    }
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        self.0.has_event(delivery)
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Self::Event<'a>> {
        self.0.poll_event(delivery)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.0.handle_timeout(now, node);
    }
    fn waits_for_room(&self) -> bool {
        self.0.waits_for_room()
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        self.0.on_room(now, node);
    }
}

/// The applications a test node may run.
pub type TestApps = (Option<Bare<Dht<MapStore>>>, Option<Bare<TestScribe>>);

/// Nodes of the default shape: the applications' upcalls, then `F`.
pub type SimNode<F> = HostNode<TestApps, F, 16>;

/// A test node: a host of its DHT and Scribe (when the net gives it them),
/// which the tests reach as the node it holds.
#[derive(Debug)]
pub struct TestNode<F: Forwarder>(pub Host<TestApps, F>);

impl<F: Forwarder> Deref for TestNode<F> {
    type Target = SimNode<F>;
    fn deref(&self) -> &SimNode<F> {
        self.0.node()
    }
}

impl<F: Forwarder> DerefMut for TestNode<F> {
    fn deref_mut(&mut self) -> &mut SimNode<F> {
        self.0.node_mut()
    }
}

pub struct Net<F: Forwarder + Default = Passthrough> {
    pub nodes: Vec<TestNode<F>>,
    pub alive: Vec<bool>,
    pub now: Instant,
    pub rng: SmallRng,
    pub loss: f64,
    /// One-way delay range, in microseconds.
    pub delay: (u64, u64),
    queue: BinaryHeap<InFlight>,
    seq: u64,
    by_addr: HashMap<SocketAddr, usize>,
    pub delivered: Vec<Delivered>,
    pub failed: Vec<(usize, u64)>,
    pub joined: Vec<usize>,
    /// Secure lookups ended: (node, op, roots, redundant).
    pub secured: Vec<(usize, u64, Vec<Peer>, bool)>,
    /// When each secure lookup's `Secured` event came, by its id.
    pub secured_at: HashMap<u64, Instant>,
    /// KBR `update` upcalls: (node, peer, joined).
    pub updates: Vec<(usize, Id, bool)>,
    pub datagrams: u64,
    /// Reads the calling thread's allocation count, when a test installs a
    /// counting allocator; then `node_allocs` sums what the node calls
    /// allocated (the harness's own allocations between calls excluded).
    pub alloc_counter: Option<fn() -> u64>,
    pub node_allocs: u64,
    /// Node positions in a 1000 x 1000 plane (Pastry'01 §3's model).
    pub positions: Vec<(f64, f64)>,
    /// When set, one-way delay is 1 ms plus 0.1 ms per unit of distance
    /// (so RTTs reflect proximity); otherwise uniform in `delay`.
    pub plane: bool,
    buf: Vec<u8>,
    /// When set, every node added gets a DHT with these settings.
    pub dht_config: Option<pastry_core::dht::DhtConfig>,
    /// DHT outcomes: (node, operation, key, outcome).
    pub dht_done: Vec<(usize, OpId, Id, DhtDone)>,
    /// When set, every node added gets Scribe with these settings.
    pub scribe_config: Option<ScribeConfig>,
    /// Scribe news: (node, when, what).
    pub scribe_done: Vec<(usize, Instant, ScribeDone)>,
    /// Links whose datagrams are lost: (from, to).
    pub cut_links: Vec<(usize, usize)>,
    /// A node whose secure-routing answers are lost, though it acks what
    /// it is sent: a faulty root that swallows queries.
    pub mute_answers: Option<usize>,
    /// The first node other than the key's root to take the routed
    /// message with this id acks it and crashes at once: its forward is
    /// lost with it (`crashed_relay` names it).
    pub crash_relay_of: Option<u64>,
    pub crashed_relay: Option<usize>,
    /// Receipt datagrams sent while this is above zero are lost (one
    /// each; a node sends each receipt twice).
    pub lose_receipts: u32,
    /// Routed messages sent, by (from, to) node.
    pub routed_pairs: HashMap<(usize, usize), u32>,
    /// Probes sent, by (from, to).
    pub probe_pairs: HashMap<(usize, usize), u32>,
    /// Secure-routing queries sent: (from, to, message id, when).
    pub queries: Vec<(usize, usize, u64, Instant)>,
    /// Datagrams sent, by kind (the header's kind byte).
    pub by_kind: [u64; 32],
}

impl Net<Passthrough> {
    pub fn new(seed: u64) -> Net {
        Net::with_forwarders(seed)
    }

    /// `n` nodes with the default configuration, joined one by one and
    /// settled.
    pub fn ring(n: usize, seed: u64) -> Net {
        let mut net = Net::new(seed);
        net.form(n, &Config::default());
        net
    }

    /// `n` nodes with a DHT each, joined one by one and settled.
    pub fn dht_ring(n: usize, seed: u64, dht: pastry_core::dht::DhtConfig, node: Config) -> Net {
        let mut net = Net::new(seed);
        net.dht_config = Some(dht);
        net.form(n, &node);
        net
    }
}

impl<F: Forwarder + Default> Net<F> {
    /// A network whose nodes each get `F::default()` as their upcall.
    pub fn with_forwarders(seed: u64) -> Net<F> {
        Net {
            nodes: Vec::new(),
            alive: Vec::new(),
            now: Instant::from_secs(1),
            rng: SmallRng::new(seed),
            loss: 0.0,
            delay: (5_000, 50_000),
            queue: BinaryHeap::new(),
            seq: 0,
            by_addr: HashMap::new(),
            delivered: Vec::new(),
            failed: Vec::new(),
            joined: Vec::new(),
            secured: Vec::new(),
            secured_at: HashMap::new(),
            mute_answers: None,
            updates: Vec::new(),
            datagrams: 0,
            alloc_counter: None,
            node_allocs: 0,
            positions: Vec::new(),
            plane: false,
            buf: vec![0u8; 1_280],
            dht_config: None,
            dht_done: Vec::new(),
            scribe_config: None,
            scribe_done: Vec::new(),
            cut_links: Vec::new(),
            crash_relay_of: None,
            crashed_relay: None,
            lose_receipts: 0,
            routed_pairs: HashMap::new(),
            probe_pairs: HashMap::new(),
            queries: Vec::new(),
            by_kind: [0; 32],
        }
    }

    /// Joins `n` new nodes configured by `node`, one every 300 ms, each
    /// through a random active node, then lets the overlay settle 20 s.
    pub fn form(&mut self, n: usize, node: &Config) {
        for _ in 0..n {
            self.join_one(node.clone());
            self.run_for(Duration::from_millis(300));
        }
        self.run_for(Duration::from_secs(20));
    }

    pub fn random_id(&mut self) -> Id {
        super::random_id(&mut self.rng)
    }

    /// A key pair from the network's seeded stream.
    pub fn random_keypair(&mut self) -> Keypair {
        super::random_keypair(&mut self.rng)
    }

    /// A key pair whose id is closer to `key` than any live node's: what
    /// a test that wants a new root for `key` joins with (ids are hashes
    /// of keys, so they are drawn, not chosen; about N draws for N nodes).
    pub fn keypair_nearest(&mut self, key: Id) -> Keypair {
        let nearest = self
            .live()
            .into_iter()
            .map(|i| self.nodes[i].own().id.ring_distance(key))
            .min();
        loop {
            let k = self.random_keypair();
            if nearest.is_none_or(|d| k.id().ring_distance(key) < d) {
                return k;
            }
        }
    }

    /// Adds a node (not yet joined); its index.
    pub fn add(&mut self, config: Config) -> usize {
        let keys = self.random_keypair();
        self.add_with_keys(config, keys)
    }

    /// Adds a node with the given key pair, and so the id it certifies
    /// (not yet joined); its index.
    pub fn add_with_keys(&mut self, config: Config, keys: Keypair) -> usize {
        let i = self.nodes.len();
        let host = self.host(i, config, keys);
        self.nodes.push(TestNode(host));
        self.alive.push(true);
        let addr = self.addr(i);
        self.by_addr.insert(addr, i);
        let pos = (self.rng.unit() * 1000.0, self.rng.unit() * 1000.0);
        self.positions.push(pos);
        i
    }

    /// Node `i` crashed and started again at once: a new process with the
    /// same key and address and none of the old state (not yet joined).
    pub fn restart(&mut self, i: usize, config: Config) {
        let keys = Keypair::from_secret(self.nodes[i].0.node().identity().keypair.secret());
        self.nodes[i] = TestNode(self.host(i, config, keys));
        self.alive[i] = true;
    }

    /// A new host for slot `i`.
    fn host(&mut self, i: usize, config: Config, keys: Keypair) -> Host<TestApps, F> {
        let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7000));
        let seed = self.rng.next_u64();
        let dht = self.dht_config.clone().map(|config| {
            let seed = self.rng.next_u64();
            Bare(Dht::new(config, MapStore::new(), seed).expect("valid DHT config"))
        });
        let scribe = self
            .scribe_config
            .map(|config| Bare(Scribe::new(config, Gate::default()).expect("valid Scribe")));
        let host = Host::new(config, keys, addr, seed, (dht, scribe), F::default());
        host.expect("valid config, policy room")
    }

    fn allocs(&self) -> u64 {
        self.alloc_counter.map_or(0, |f| f())
    }

    /// Euclidean distance between two nodes in the plane.
    pub fn distance(&self, a: usize, b: usize) -> f64 {
        let (p, q) = (self.positions[a], self.positions[b]);
        ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].own().addr
    }

    /// Output of node `i` after an input: the drain rule, through the
    /// node's one output door until it answers with its deadline.
    pub fn drain(&mut self, i: usize) {
        if !self.alive[i] {
            return;
        }
        let was_active = self.nodes[i].phase() == Phase::Active;
        loop {
            let before = self.allocs();
            let out = self.nodes[i]
                .0
                .poll_output(&mut self.buf)
                .expect("buffer is max_datagram");
            // The counter is read as a field: `out` still borrows the node.
            self.node_allocs += self.alloc_counter.map_or(0, |f| f()) - before;
            let ev = match out {
                Output::Transmit(tx) => {
                    self.send(i, tx.destination, tx.len);
                    continue;
                }
                Output::Timeout(_) => return,
                Output::Event(HostEvent::App(Either::First(d))) => {
                    let (op, key, done) = DhtDone::from_event(d);
                    self.dht_done.push((i, op, key, done));
                    continue;
                }
                Output::Event(HostEvent::App(Either::Second(s))) => {
                    let done = ScribeDone::from_event(s);
                    self.scribe_done.push((i, self.now, done));
                    continue;
                }
                Output::Event(HostEvent::Overlay(ev)) => ev,
            };
            match ev {
                Event::Deliver(d) => self.delivered.push(Delivered {
                    at: i,
                    key: d.key,
                    app: d.app,
                    msg_id: d.msg_id,
                    hops: d.hops,
                    source: d.source.id,
                    payload: d.payload.to_vec(),
                    when: self.now,
                    was_active,
                    source_addr: d.source.addr,
                    authenticated: d.authenticated,
                    signature: d.signature,
                }),
                Event::RouteFailed { msg_id, .. } => self.failed.push((i, msg_id)),
                Event::Joined => self.joined.push(i),
                Event::Update { peer, joined } => self.updates.push((i, peer.id, joined)),
                Event::JoinFailed => {}
                Event::Secured(s) => {
                    self.secured_at.insert(s.op, self.now);
                    self.secured
                        .push((i, s.op, s.roots.iter().collect(), s.redundant))
                }
                other => unreachable!("an event the tests do not know: {other:?}"),
            }
        }
    }

    /// Puts `len` bytes of the buffer on the wire from node `i` to `to`,
    /// with the network's loss, cuts and delay.
    fn send(&mut self, i: usize, to: SocketAddr, len: usize) {
        self.datagrams += 1;
        self.by_kind[usize::from(self.buf.get(3).copied().unwrap_or(0) & 0x1f)] += 1;
        if self.loss > 0.0 && self.rng.unit() < self.loss {
            return;
        }
        let Some(&to) = self.by_addr.get(&to) else {
            return;
        };
        if self.buf.get(3) == Some(&(Kind::Routed as u8)) {
            *self.routed_pairs.entry((i, to)).or_default() += 1;
        }
        if self.buf.get(3) == Some(&(Kind::Probe as u8)) {
            *self.probe_pairs.entry((i, to)).or_default() += 1;
        }
        if self.buf.get(3) == Some(&(Kind::Query as u8)) {
            let bytes = message_of(&self.buf[..len]);
            if let Ok(Message {
                body: Body::Query(q),
                ..
            }) = Message::decode(bytes)
            {
                self.queries.push((i, to, q.msg_id, self.now));
            }
        }
        if self.cut_links.contains(&(i, to)) {
            return;
        }
        if self.mute_answers == Some(i) && self.buf.get(3) == Some(&(Kind::ReplicaSet as u8)) {
            return;
        }
        let kind = self.buf.get(3).copied();
        if self.crashed_relay == Some(i) && kind != Some(Kind::Ack as u8) {
            return;
        }
        if self.lose_receipts > 0 && kind == Some(Kind::Receipt as u8) {
            self.lose_receipts -= 1;
            return;
        }
        let d = if self.plane {
            1_000 + (self.distance(i, to) * 100.0) as u64
        } else {
            self.delay.0 + self.rng.below(self.delay.1 - self.delay.0 + 1)
        };
        let at = self.now + Duration::from_micros(d);
        self.seq += 1;
        let from = self.addr(i);
        let bytes = self.buf[..len].to_vec();
        self.queue.push(Reverse((at, self.seq, to, from, bytes)));
    }

    /// Node `i`'s Scribe.
    pub fn scribe(&mut self, i: usize) -> &mut TestScribe {
        let (apps, ..) = self.nodes[i].0.parts_at(self.now);
        apps.1.as_deref_mut().expect("node has Scribe")
    }

    /// Node `i`'s Scribe, to read.
    pub fn scribe_ref(&self, i: usize) -> Option<&TestScribe> {
        self.nodes[i].0.apps().1.as_deref()
    }

    /// Runs a Scribe command at node `i` (which gets the node), then drains.
    pub fn with_scribe<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut TestScribe, Instant, &mut SimNode<F>) -> R,
    ) -> R {
        let (apps, node, now) = self.nodes[i].0.parts_at(self.now);
        let r = f(apps.1.as_deref_mut().expect("node has Scribe"), now, node);
        self.drain(i);
        r
    }

    pub fn dht(&mut self, i: usize) -> &mut Dht<MapStore> {
        let (apps, ..) = self.nodes[i].0.parts_at(self.now);
        apps.0.as_deref_mut().expect("node has a DHT")
    }

    /// Node `i`'s DHT and node, for a command at the net's time (drain after).
    pub fn dht_and_node(&mut self, i: usize) -> (&mut Dht<MapStore>, &mut SimNode<F>) {
        let (apps, node, _) = self.nodes[i].0.parts_at(self.now);
        (apps.0.as_deref_mut().expect("node has a DHT"), node)
    }

    /// Node `i` puts `value` under `key` at `version`.
    pub fn put(&mut self, i: usize, key: Id, version: u64, value: &[u8]) -> OpId {
        let now = self.now;
        let (dht, node) = self.dht_and_node(i);
        let op = dht.put(now, node, key, version, value).expect("put");
        self.drain(i);
        op
    }

    /// Node `i` looks `key` up.
    pub fn get(&mut self, i: usize, key: Id) -> OpId {
        let now = self.now;
        let (dht, node) = self.dht_and_node(i);
        let op = dht.get(now, node, key).expect("get");
        self.drain(i);
        op
    }

    /// The outcome of node `i`'s operation `op`, if it completed.
    pub fn outcome(&self, i: usize, op: OpId) -> Option<&DhtDone> {
        self.dht_done
            .iter()
            .find(|(at, o, ..)| *at == i && *o == op)
            .map(|(.., d)| d)
    }

    /// Live nodes whose store holds `key`, with the version held.
    pub fn holders(&self, key: Id) -> Vec<(usize, u64)> {
        use pastry_core::dht::Store;
        self.live()
            .into_iter()
            .filter_map(|i| {
                let it = self.nodes[i].0.apps().0.as_deref()?.store().get(key)?;
                Some((i, it.meta.version))
            })
            .collect()
    }

    /// The `k` live active nodes numerically closest to `key`, sorted by index.
    pub fn true_replicas(&self, key: Id, k: usize) -> Vec<usize> {
        let mut live: Vec<usize> = self
            .live()
            .into_iter()
            .filter(|&i| self.nodes[i].is_active())
            .collect();
        live.sort_by(|&a, &b| key.cmp_closeness(self.nodes[a].own().id, self.nodes[b].own().id));
        live.truncate(k);
        live.sort();
        live
    }

    /// The earliest deadline of node `i` and its applications.
    fn deadline(&self, i: usize) -> Option<Instant> {
        self.nodes[i].0.poll_timeout()
    }

    /// Runs the network until `until`: datagrams and node deadlines in time order.
    pub fn run_until(&mut self, until: Instant) {
        // A node whose deadline stays at the present after its timeout ran
        // would spin here for ever: fail instead.
        let mut spin = (usize::MAX, Instant::ZERO, 0u32);
        loop {
            let next_dgram = self.queue.peek().map(|Reverse((t, ..))| *t);
            // The iterator chain allocates nothing; poll_timeout is measured.
            let before = self.allocs();
            let next_timer = (0..self.nodes.len())
                .filter(|&i| self.alive[i])
                .filter_map(|i| self.deadline(i).map(|t| (t, i)))
                .min();
            self.node_allocs += self.allocs() - before;
            let t_dgram = next_dgram.unwrap_or(Instant::MAX);
            let t_timer = next_timer.map_or(Instant::MAX, |(t, _)| t);
            let t = t_dgram.min(t_timer);
            if t > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(t);
            if t_dgram <= t_timer {
                let Reverse((_, _, to, from, bytes)) = self.queue.pop().unwrap();
                if self.alive[to] {
                    let relay = self.is_relay_to_crash(to, &bytes);
                    if relay {
                        self.crashed_relay = Some(to);
                        self.crash_relay_of = None;
                    }
                    let before = self.allocs();
                    self.nodes[to].0.handle_datagram(self.now, from, &bytes);
                    self.node_allocs += self.allocs() - before;
                    self.drain(to);
                    if relay {
                        self.crash(to);
                    }
                }
            } else {
                let (_, i) = next_timer.unwrap();
                spin = match spin {
                    (j, at, n) if (j, at) == (i, self.now) => (j, at, n + 1),
                    _ => (i, self.now, 0),
                };
                assert!(spin.2 < 10_000, "node {i}'s timer spins at {:?}", self.now);
                let before = self.allocs();
                self.nodes[i].0.handle_timeout(self.now);
                self.node_allocs += self.allocs() - before;
                self.drain(i);
            }
        }
    }

    /// Whether `bytes`, arriving at `to`, is the message `crash_relay_of`
    /// names and `to` is not its key's root.
    fn is_relay_to_crash(&self, to: usize, bytes: &[u8]) -> bool {
        let Some(id) = self.crash_relay_of else {
            return false;
        };
        let msg = Message::decode(bytes).or_else(|_| Message::decode(message_of(bytes)));
        match msg {
            Ok(Message {
                body: Body::Routed(m),
                ..
            }) => m.msg_id == id && self.true_root(m.key) != to,
            _ => false,
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    pub fn crash(&mut self, i: usize) {
        self.alive[i] = false;
    }

    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.alive[i]).collect()
    }

    /// The live, active node numerically closest to `key`.
    pub fn true_root(&self, key: Id) -> usize {
        self.live()
            .into_iter()
            .filter(|&i| self.nodes[i].is_active())
            .min_by(|&a, &b| key.cmp_closeness(self.nodes[a].own().id, self.nodes[b].own().id))
            .expect("a live node")
    }

    /// The true leaf set of live node `i` (left, right), from the sorted
    /// live ids.
    pub fn true_leaf_set(&self, i: usize) -> (Vec<Id>, Vec<Id>) {
        let mut ids: Vec<Id> = self
            .live()
            .iter()
            .map(|&i| self.nodes[i].own().id)
            .collect();
        ids.sort();
        let n = ids.len();
        let node = &self.nodes[i];
        let half = node.leaf_set().half().min(n - 1);
        let pos = ids.binary_search(&node.own().id).unwrap();
        let left = (1..=half).map(|k| ids[(pos + n - k) % n]).collect();
        let right = (1..=half).map(|k| ids[(pos + k) % n]).collect();
        (left, right)
    }

    /// Checks every live node's leaf set against the true one; describes
    /// each wrong node (its index, the members missing and those extra).
    pub fn wrong_leaf_sets(&self) -> Vec<String> {
        let mut wrong = Vec::new();
        for i in self.live() {
            let ls = self.nodes[i].leaf_set();
            let (left, right) = self.true_leaf_set(i);
            let got_l: Vec<Id> = ls.left().iter().map(|p| p.id).collect();
            let got_r: Vec<Id> = ls.right().iter().map(|p| p.id).collect();
            if got_l != left || got_r != right {
                let want: Vec<Id> = left.iter().chain(&right).copied().collect();
                let got: Vec<Id> = got_l.iter().chain(&got_r).copied().collect();
                let short = |v: Vec<&Id>| {
                    v.iter()
                        .map(|id| {
                            let j = self.index_of(**id);
                            let dead = if self.alive.get(j) == Some(&false) {
                                " (crashed)"
                            } else {
                                ""
                            };
                            format!("{j}{dead}")
                        })
                        .collect::<Vec<_>>()
                };
                wrong.push(format!(
                    "node {i}: missing {:?}, extra {:?}",
                    short(want.iter().filter(|x| !got.contains(x)).collect()),
                    short(got.iter().filter(|x| !want.contains(x)).collect()),
                ));
            }
        }
        wrong
    }

    /// The index of the node with `id` (`usize::MAX` if none).
    pub fn index_of(&self, id: Id) -> usize {
        self.nodes
            .iter()
            .position(|n| n.own().id == id)
            .unwrap_or(usize::MAX)
    }

    /// Joins added node `i` through live node `bootstrap`.
    pub fn join_through(&mut self, i: usize, bootstrap: usize) {
        let now = self.now;
        let to = self.addr(bootstrap);
        self.nodes[i].join(now, Some(to)).expect("join");
        self.drain(i);
    }

    /// Starts a node and joins it through a random active live node (or
    /// alone if there is none).
    pub fn join_one(&mut self, config: Config) -> usize {
        let i = self.add(config);
        let boots: Vec<usize> = self
            .live()
            .into_iter()
            .filter(|&j| j != i && self.nodes[j].is_active())
            .collect();
        let bootstrap = if boots.is_empty() {
            None
        } else {
            let pick = self.rng.below(boots.len() as u64) as usize;
            Some(self.addr(boots[pick]))
        };
        let now = self.now;
        self.nodes[i].join(now, bootstrap).expect("join");
        self.drain(i);
        i
    }

    /// Routes from node `i`; the message id.
    pub fn route(&mut self, i: usize, key: Id, app: AppId, payload: &[u8]) -> u64 {
        let now = self.now;
        let before = self.allocs();
        let id = self.nodes[i]
            .route(now, key, app, payload, None)
            .expect("route");
        self.node_allocs += self.allocs() - before;
        self.drain(i);
        id
    }

    /// The nodes that delivered message `msg_id`, in order.
    pub fn delivered_at(&self, msg_id: u64) -> Vec<usize> {
        self.delivered
            .iter()
            .filter(|d| d.msg_id == msg_id)
            .map(|d| d.at)
            .collect()
    }

    /// Routes `n` random keys from the live nodes in turn, 50 ms apart,
    /// runs `settle` longer, then judges against the global view: no
    /// route failure, and each message delivered exactly once, at the live
    /// node numerically closest to its key.
    pub fn check_lookups(&mut self, app: AppId, n: u32, settle: Duration) -> Result<(), String> {
        let live = self.live();
        let mut sent = Vec::new();
        for k in 0..n {
            let key = self.random_id();
            let from = live[k as usize % live.len()];
            sent.push((self.route(from, key, app, &k.to_be_bytes()), key));
            self.run_for(Duration::from_millis(50));
        }
        self.run_for(settle);
        if !self.failed.is_empty() {
            return Err(format!("route failures {:?}", self.failed));
        }
        for (id, key) in sent {
            let at = self.delivered_at(id);
            if at != [self.true_root(key)] {
                return Err(format!(
                    "key {key}: delivered at {at:?}, root is {}",
                    self.true_root(key)
                ));
            }
        }
        Ok(())
    }

    pub fn peer(&self, i: usize) -> Peer {
        self.nodes[i].own()
    }
}
