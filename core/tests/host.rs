//! The application seam: a user application on a `Host` gets the node's
//! events (and keeps what it takes from the applications after it), its
//! own timers folded into the host's deadline, its per-hop upcall on the
//! node, and a way out for its own events; all judged against the sorted
//! ids of a small in-memory ring.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use common::seeds;
use pastry_core::app::Either;
use pastry_core::node::{AppPolicy, ForwardHop, Forwarder, Verdict};
use pastry_core::rng::SmallRng;
use pastry_core::{
    AppId, Application, CommandError, Config, Event, Host, HostEvent, Id, Instant, Kbr, Output,
};

/// End-node counters: the root counts each delivery for its key.
const COUNT: AppId = AppId(0xC0);
/// Per-hop: every node on the path appends a byte.
const TRAIL: AppId = AppId(0x7A);

/// Appends one byte per hop to `TRAIL` messages.
#[derive(Debug, Default)]
struct Trail;

impl Forwarder for Trail {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        if hop.app == TRAIL {
            let _ = hop.payload.push(b'+');
        }
        Verdict::Continue
    }
}

/// The application under test.
#[derive(Debug, Default)]
struct Counter {
    counts: BTreeMap<Id, u64>,
    /// Counts reported to the user, oldest first.
    told: VecDeque<u64>,
    ticks: u64,
    next_tick: Option<Instant>,
    /// Increments waiting for room in the node (a burst larger than its
    /// message slots).
    waiting: VecDeque<Id>,
}

impl Counter {
    /// Sends one increment per key, now while the node has room, the rest
    /// when the host offers room.
    fn burst(&mut self, now: Instant, node: &mut impl Kbr, keys: &[Id]) {
        self.waiting.extend(keys);
        self.on_room(now, node);
    }
}

impl Application for Counter {
    type Event<'a> = u64;
    type Forwarder = Trail;

    fn forwarder(&self) -> Trail {
        Trail
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        node.set_policy(
            COUNT,
            AppPolicy {
                allow: true,
                per_hop: false,
                receipts: true,
            },
        )?;
        node.set_policy(
            TRAIL,
            AppPolicy {
                allow: true,
                per_hop: true,
                receipts: true,
            },
        )
    }
    fn handle_event(&mut self, now: Instant, _node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.next_tick.get_or_insert(now + Duration::from_secs(1));
        match ev {
            Event::Deliver(d) if d.app == COUNT => {
                let n = self.counts.entry(d.key).or_default();
                *n += 1;
                self.told.push_back(*n);
                true
            }
            _ => false,
        }
    }
    fn has_event(&mut self, _delivery: &[u8]) -> bool {
        !self.told.is_empty()
    }
    fn poll_event<'a>(&'a mut self, _delivery: &'a [u8]) -> Option<u64> {
        self.told.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }
    fn handle_timeout(&mut self, now: Instant, _node: &mut impl Kbr) {
        if self.next_tick.is_some_and(|t| t <= now) {
            self.ticks += 1;
            self.next_tick = Some(now + Duration::from_secs(1));
        }
    }
    fn waits_for_room(&self) -> bool {
        !self.waiting.is_empty()
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        while let Some(&key) = self.waiting.front() {
            if node.route_room() == 0 {
                return;
            }
            match node.route(now, key, COUNT, b"+1", None) {
                Ok(_) => drop(self.waiting.pop_front()),
                Err(CommandError::PoolFull | CommandError::QueueFull) => return,
                Err(e) => panic!("route refused: {e:?}"),
            }
        }
    }
}

/// Records every node event it is offered, and takes none.
#[derive(Debug, Default)]
struct Witness {
    deliveries: Vec<AppId>,
}

impl Application for Witness {
    type Event<'a> = std::convert::Infallible;
    type Forwarder = pastry_core::node::Passthrough;

    fn forwarder(&self) -> Self::Forwarder {
        pastry_core::node::Passthrough
    }
    fn handle_event(&mut self, _now: Instant, _node: &mut impl Kbr, ev: Event<'_>) -> bool {
        if let Event::Deliver(d) = ev {
            self.deliveries.push(d.app);
        }
        false
    }
}

type Peer = Host<(Counter, Witness)>;

/// The ring: hosts, datagrams in flight (due, to, from, bytes), and what
/// reached each user.
struct Ring {
    hosts: Vec<Peer>,
    wire: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    now: Instant,
    /// (host, count told by the counter)
    told: Vec<(usize, u64)>,
    /// (host, payload) of `TRAIL` deliveries, with their hop count.
    trails: Vec<(usize, Vec<u8>, u8)>,
    rng: SmallRng,
}

impl Ring {
    fn new(n: usize, seed: u64) -> Ring {
        let mut rng = SmallRng::new(seed);
        let hosts = (0..n)
            .map(|i| {
                let addr = SocketAddr::from(([10, 0, 1, i as u8], 4000));
                let id = common::random_keypair(&mut rng);
                let apps = (Counter::default(), Witness::default());
                Host::new(
                    Config::default(),
                    id,
                    addr,
                    rng.next_u64(),
                    apps,
                    Default::default(),
                )
                .unwrap()
            })
            .collect();
        let mut r = Ring {
            hosts,
            wire: VecDeque::new(),
            now: Instant::from_secs(1),
            told: Vec::new(),
            trails: Vec::new(),
            rng,
        };
        let boot = r.hosts[0].own().addr;
        for i in 0..n {
            let now = r.now;
            let (_, node, at) = r.hosts[i].parts_at(now);
            node.join(at, (i > 0).then_some(boot)).unwrap();
            r.drain(i);
            r.run_for(Duration::from_millis(300));
        }
        r.run_for(Duration::from_secs(5));
        r
    }

    fn drain(&mut self, i: usize) {
        let mut buf = [0u8; 1280];
        loop {
            let from = self.hosts[i].own().addr;
            match self.hosts[i].poll_output(&mut buf).unwrap() {
                Output::Transmit(tx) => {
                    let delay = Duration::from_micros(500 + self.rng.below(2_000));
                    let at = self.now + delay;
                    self.wire
                        .push_back((at, tx.destination, from, buf[..tx.len].to_vec()));
                }
                Output::Event(HostEvent::App(Either::First(n))) => self.told.push((i, n)),
                Output::Event(HostEvent::App(Either::Second(never))) => match never {},
                Output::Event(HostEvent::Overlay(Event::Deliver(d))) => {
                    assert_eq!(d.app, TRAIL, "only TRAIL reaches the user");
                    self.trails.push((i, d.payload.to_vec(), d.hops));
                }
                Output::Event(HostEvent::Overlay(_)) => {}
                Output::Timeout(_) => return,
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        // A deadline left in the past after its tick would spin: fail.
        let mut steps = 0u32;
        loop {
            steps += 1;
            assert!(steps < 1_000_000, "a timer spins at {:?}", self.now);
            let wire = self.wire.iter().map(|w| w.0).min();
            let timer = self.hosts.iter().filter_map(Host::poll_timeout).min();
            let next = wire.into_iter().chain(timer).min().filter(|t| *t <= until);
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            if wire == Some(t) {
                let k = self.wire.iter().position(|w| w.0 == t).unwrap();
                let (_, to, from, bytes) = self.wire.remove(k).unwrap();
                let i = self.hosts.iter().position(|h| h.own().addr == to).unwrap();
                self.hosts[i].handle_datagram(self.now, from, &bytes);
                self.drain(i);
            } else {
                for i in 0..self.hosts.len() {
                    if self.hosts[i].poll_timeout().is_some_and(|t| t <= self.now) {
                        self.hosts[i].handle_timeout(self.now);
                        self.drain(i);
                    }
                }
            }
        }
        self.now = until;
    }

    fn route(&mut self, from: usize, key: Id, app: AppId, payload: &[u8]) {
        let now = self.now;
        let (_, node, at) = self.hosts[from].parts_at(now);
        node.route(at, key, app, payload, None).unwrap();
        self.drain(from);
    }

    /// The live node numerically closest to `key`.
    fn root(&self, key: Id) -> usize {
        let ids: Vec<Id> = self.hosts.iter().map(|h| h.own().id).collect();
        (0..ids.len())
            .min_by(|&a, &b| key.cmp_closeness(ids[a], ids[b]))
            .unwrap()
    }
}

#[test]
fn an_application_takes_its_deliveries_and_tells_its_user() {
    for seed in seeds(&[1, 2, 3]) {
        let mut ring = Ring::new(12, seed);
        let keys: Vec<Id> = (0..4u8).map(|k| Id::sha1(&[k])).collect();
        let mut sent: BTreeMap<Id, u64> = BTreeMap::new();
        for round in 0..5 {
            for (j, &key) in keys.iter().enumerate() {
                let from = (round * 5 + j) % ring.hosts.len();
                ring.route(from, key, COUNT, b"+1");
                *sent.entry(key).or_default() += 1;
            }
            ring.run_for(Duration::from_millis(200));
        }
        ring.run_for(Duration::from_secs(2));
        for (&key, &n) in &sent {
            let root = ring.root(key);
            for (i, h) in ring.hosts.iter().enumerate() {
                let counted = h.apps().0.counts.get(&key).copied().unwrap_or(0);
                let want = if i == root { n } else { 0 };
                assert_eq!(
                    counted, want,
                    "seed {seed}: key {key} at node {i} (root {root})"
                );
            }
        }
        // Each count was told once, in order, by the node that counted it.
        for (i, h) in ring.hosts.iter().enumerate() {
            let told: Vec<u64> = ring.told.iter().filter(|t| t.0 == i).map(|t| t.1).collect();
            let total: u64 = h.apps().0.counts.values().sum();
            assert_eq!(told.len() as u64, total, "seed {seed}: node {i} told");
            // The second application never saw what the first took.
            assert!(
                !h.apps().1.deliveries.contains(&COUNT),
                "seed {seed}: node {i}'s witness saw a counter message"
            );
        }
    }
}

#[test]
fn the_applications_upcall_runs_at_every_hop_and_their_timers_run() {
    for seed in seeds(&[4, 5]) {
        let mut ring = Ring::new(16, seed);
        let start = ring.now;
        for k in 0..20u8 {
            let key = Id::sha1(&[b't', k]);
            ring.route(usize::from(k) % 16, key, TRAIL, b"");
        }
        ring.run_for(Duration::from_secs(3));
        assert_eq!(ring.trails.len(), 20, "seed {seed}: every trail delivered");
        for (at, payload, hops) in &ring.trails {
            // One byte per node that forwarded it, the root included.
            assert_eq!(
                payload.len(),
                usize::from(*hops) + 1,
                "seed {seed}: at {at}"
            );
            // The witness saw it pass to the user: it took nothing.
            assert!(ring.hosts[*at].apps().1.deliveries.contains(&TRAIL));
        }
        // Each counter ticks once a second from its first event: its
        // deadline is folded into the host's.
        let secs = (ring.now - start).as_secs();
        for (i, h) in ring.hosts.iter().enumerate() {
            let ticks = h.apps().0.ticks;
            assert!(
                ticks >= secs,
                "seed {seed}: node {i} ticked {ticks} times in {secs}+ s"
            );
        }
    }
}

#[test]
fn a_burst_larger_than_the_node_waits_for_room_the_host_offers() {
    for seed in seeds(&[6, 7]) {
        let mut ring = Ring::new(12, seed);
        let keys: Vec<Id> = (0..120u8).map(|k| Id::sha1(&[b'b', k])).collect();
        let now = ring.now;
        let (apps, node, at) = ring.hosts[3].parts_at(now);
        apps.0.burst(at, node, &keys);
        assert!(
            apps.0.waits_for_room(),
            "seed {seed}: 120 messages do not fit 16 slots at once"
        );
        ring.drain(3);
        ring.run_for(Duration::from_secs(5));
        assert!(
            ring.hosts[3].apps().0.waiting.is_empty(),
            "seed {seed}: all sent"
        );
        // Every increment counted once, at its key's true root.
        for &key in &keys {
            let root = ring.root(key);
            for (i, h) in ring.hosts.iter().enumerate() {
                let counted = h.apps().0.counts.get(&key).copied().unwrap_or(0);
                assert_eq!(
                    counted,
                    u64::from(i == root),
                    "seed {seed}: key {key} at {i}"
                );
            }
        }
    }
}
