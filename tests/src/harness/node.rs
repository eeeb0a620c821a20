//! `node_events`: one active node, with its DHT and Scribe (a core
//! [`Stack`]), in a small made-up world of 48 peers that answer it, fed
//! whatever the fuzzer chooses: well-formed messages from plausible and
//! hostile senders, frames with a valid header and any body, raw bytes,
//! client requests, time jumps (backwards too) and commands. The world's
//! peers hold keys and sessions with the node, so what they send is
//! authenticated and reaches the protocol; strangers and impostors have no
//! session, so what they send must be dropped. After every step the
//! node's routing state keeps its invariants and its queues their bounds;
//! at the end it still verifies a newcomer and answers its probe.

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use pastry_core::dht::{self, MapStore};
use pastry_core::identity::{Admission, Keypair};
use pastry_core::scribe::{self, Members};
use pastry_core::session::Guard;
use pastry_core::stack::STACK_POOL;
use pastry_core::wire::{
    Ack, AppId, Body, Handover, Heartbeat, JoinReply, LeafSetExchange, LeafSetView, Message,
    PeerList, ProbeReply, RowReply,
};
use pastry_core::{Id, Instant, Output, Peer, Phase, Stack, StackConfig};

use super::wire::ArbBody;

/// Peers in the made-up world.
const WORLD: usize = 48;
/// Probe queue of a stack's node (`StackNode`'s `QUEUE`).
const QUEUE: usize = 64;
/// Datagrams (or events) one step may cause before the harness calls the
/// output unbounded.
const MAX_OUTPUT: usize = 10_000;
/// Answer rounds per step: the world replies, the node reacts, and so on.
const ROUNDS: usize = 4;

type FuzzStack = Stack<MapStore>;

/// What the fuzzer chooses: whether the world answers at first, then the
/// steps.
#[derive(Arbitrary, Debug)]
pub struct NodeRun {
    /// Whether the world answers the node's probes, row requests, leaf
    /// sets and routed messages (a step can change it).
    pub answer: bool,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// One input to the node.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Step {
    /// A well-formed message.
    Message {
        from: Sender,
        app: App,
        body: ArbBody,
    },
    /// A valid header of any kind number, then any body.
    Framed {
        from: Sender,
        kind: u8,
        app: App,
        body: Vec<u8>,
    },
    /// Any bytes, from the sender's address.
    Raw { from: Sender, bytes: Vec<u8> },
    /// The client protocol's magic, then any bytes.
    Client { from: u8, body: Vec<u8> },
    /// Time moves on by this many milliseconds.
    Tick { ms: u32 },
    /// The node alone is told the time, this far from the stack's
    /// (backwards too), as a runtime with a bad clock would.
    NodeTick { back: bool, ms: u32 },
    /// A command, as the application gives it.
    Command(Command),
    /// The world starts or stops answering.
    Answer(bool),
}

/// Who a datagram claims to come from.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Sender {
    /// A peer of the world, from its own address.
    Known(u8),
    /// Any id at any address.
    Stranger(Peer),
    /// The node's own id, from elsewhere.
    Impostor(u8),
}

/// The application a message names.
#[derive(Arbitrary, Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum App {
    Overlay,
    Dht,
    DhtLookup,
    Scribe,
    Other(u16),
}

/// A key: the node's own (it is the root), a world peer's, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum Key {
    Own,
    Known(u8),
    Any(Id),
}

/// A command of the stack's API.
#[derive(Arbitrary, Debug)]
#[allow(missing_docs)]
pub enum Command {
    Route {
        key: Key,
        app: u16,
        payload: Vec<u8>,
    },
    Put {
        key: Key,
        version: u64,
        value: Vec<u8>,
    },
    PutContent {
        value: Vec<u8>,
    },
    Get {
        key: Key,
    },
    GetContent {
        key: Key,
    },
    Subscribe {
        group: u8,
    },
    Unsubscribe {
        group: u8,
    },
    Publish {
        group: u8,
        data: Vec<u8>,
    },
    Anycast {
        group: u8,
        data: Vec<u8>,
    },
    Leave,
    Join,
    /// `sec_route` (OSDI'02), `redundant` always or test first.
    SecureRoute {
        key: Key,
        replicas: u8,
        payload: Vec<u8>,
    },
    SecureLookup {
        key: Key,
        replicas: u8,
        redundant: bool,
    },
}

/// Runs one fuzz input (see the module docs).
pub fn node_events(data: &[u8]) {
    let Ok(run) = NodeRun::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut h = Harness::new();
    h.answer = run.answer;
    for step in &run.steps {
        h.step(step);
        h.check();
    }
    h.answers_a_probe();
}

/// The harness's setting for benchmarks: an active stack whose leaf set
/// and table come from a world of 48 peers that answer it (probes, leaf
/// sets, row requests, routed messages).
#[derive(Debug)]
pub struct World(Harness);

impl World {
    /// The stack, joined and active, and every world peer verified by it
    /// (a session each way).
    pub fn new() -> World {
        let mut h = Harness::new();
        for i in 0..WORLD {
            assert!(h.greet(i), "world peer {i} has no session with the node");
        }
        World(h)
    }

    /// `bytes`, a message from world peer `from`, sealed in its session
    /// with the node (as that peer would send it).
    pub fn seal(&mut self, from: Peer, bytes: &[u8]) -> Vec<u8> {
        let i = self.0.world_index(from).expect("a world peer");
        assert!(self.0.greet(i), "a session with world peer {i}");
        self.0.seal(i, bytes.to_vec())
    }

    /// The node under test.
    pub fn stack(&mut self) -> &mut FuzzStack {
        &mut self.0.stack
    }

    /// The world's peers.
    pub fn peers(&self) -> &[Peer] {
        &self.0.world
    }

    /// The world's time.
    pub fn now(&self) -> Instant {
        self.0.now
    }

    /// Moves the world's time on to `now`.
    pub fn set_now(&mut self, now: Instant) {
        self.0.now = now;
    }

    /// The world peer at `to` answers the node's datagram `bytes` (a
    /// datagram to anyone else is dropped).
    pub fn answer(&mut self, to: SocketAddr, bytes: &[u8]) {
        if let Some(p) = self.0.world.iter().find(|p| p.addr == to).copied() {
            self.0.answer_as(p, bytes);
        }
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

#[derive(Debug)]
struct Harness {
    stack: Box<FuzzStack>,
    world: Vec<Peer>,
    /// Each world peer's end of its session with the node.
    guards: Vec<Guard<2>>,
    now: Instant,
    answer: bool,
    /// Datagrams the node sent outside the world in the last step.
    outside: Vec<(SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Harness {
    /// The node, active, its leaf set and table filled from the world.
    fn new() -> Harness {
        let keys = Keypair::from_secret([0xf0; 32]);
        let own = Peer::new(keys.id(), SocketAddr::from(([10, 0, 0, 1], 7000)));
        let world_keys: Vec<Keypair> = (0..WORLD as u8)
            .map(|i| Keypair::from_secret([i; 32]))
            .collect();
        let world: Vec<Peer> = (0..WORLD as u8)
            .map(|i| {
                Peer::new(
                    world_keys[usize::from(i)].id(),
                    SocketAddr::from(([10, 0, 1, i], 7000)),
                )
            })
            .collect();
        let guards = world_keys
            .into_iter()
            .zip(0..)
            .map(|(k, i)| Guard::new(k.into(), Admission::default(), i))
            .collect();
        let parts = (MapStore::new(), Members, Default::default());
        let stack = FuzzStack::new(StackConfig::default(), keys, own.addr, 1, parts)
            .expect("default configuration");
        let mut h = Harness {
            stack: Box::new(stack),
            world,
            guards,
            now: Instant::from_secs(1),
            answer: true,
            outside: Vec::new(),
            buf: vec![0; 2048],
        };
        h.stack
            .join(h.now, Some(h.world[0].addr))
            .expect("a fresh node joins");
        // The join request's root answers with the world as rows and its
        // own leaf set; the node then probes its leaf-set candidates.
        let root = *h
            .world
            .iter()
            .min_by(|a, b| own.id.cmp_closeness(a.id, b.id))
            .expect("a world");
        let (left, right) = h.leaf_set_of(root.id);
        // Half the world fits a datagram beside a leaf set; the node asks
        // the rows' members for more once active.
        let rows = h.world[..WORLD / 2].to_vec();
        let reply = Body::JoinReply(JoinReply {
            from_root: true,
            rows: PeerList::Peers(&rows),
            leaf_set: LeafSetView {
                left: PeerList::Peers(&left),
                right: PeerList::Peers(&right),
            },
        });
        h.settle();
        h.deliver(root, AppId::OVERLAY, reply);
        for _ in 0..100 {
            if h.stack.node().is_active() {
                break;
            }
            h.now += Duration::from_millis(50);
            h.stack.handle_timeout(h.now);
            h.settle();
        }
        assert!(
            h.stack.node().is_active(),
            "the harness's node joined: {:?}, {} probes, {:?}",
            h.stack.node().phase(),
            h.stack.node().probes_outstanding(),
            h.stack.node().stats()
        );
        h.check();
        h
    }

    /// The world's leaf set of `id` (the node included), nearest first.
    fn leaf_set_of(&self, id: Id) -> (Vec<Peer>, Vec<Peer>) {
        let half = self.stack.node().leaf_set().half();
        let mut all: Vec<Peer> = self.world.clone();
        all.push(self.stack.own());
        all.retain(|p| p.id != id);
        all.sort_by_key(|p| id.ccw_distance(p.id));
        let left = all.iter().take(half).copied().collect();
        all.sort_by_key(|p| id.cw_distance(p.id));
        let right = all.iter().take(half).copied().collect();
        (left, right)
    }

    fn peer(&self, s: Sender) -> Peer {
        match s {
            Sender::Known(i) => self.world[usize::from(i) % WORLD],
            Sender::Stranger(p) => p,
            Sender::Impostor(i) => {
                Peer::new(self.stack.own().id, SocketAddr::from(([10, 0, 2, i], 7000)))
            }
        }
    }

    fn key(&self, k: Key) -> Id {
        match k {
            Key::Own => self.stack.own().id,
            Key::Known(i) => self.world[usize::from(i) % WORLD].id,
            Key::Any(id) => id,
        }
    }

    fn encode(&mut self, sender: Peer, app: AppId, body: Body<'_>) -> Vec<u8> {
        let m = Message { app, sender, body };
        let n = m.encode(&mut self.buf).unwrap_or(0);
        self.buf[..n].to_vec()
    }

    /// The world peer `from` is, if it is one (its id at its address).
    fn world_index(&self, from: Peer) -> Option<usize> {
        self.world.iter().position(|p| *p == from)
    }

    /// A message from `from`: sealed in its session if it is a world
    /// peer (after a handshake, if it has none), else as it is.
    fn deliver(&mut self, from: Peer, app: AppId, body: Body<'_>) {
        let mut bytes = self.encode(from, app, body);
        if bytes.is_empty() {
            return;
        }
        if let Some(i) = self.world_index(from) {
            if !self.greet(i) {
                return;
            }
            bytes = self.seal(i, bytes);
        }
        self.stack.handle_datagram(self.now, from.addr, &bytes);
        self.settle();
    }

    /// `bytes` sealed in world peer `i`'s session.
    fn seal(&mut self, i: usize, mut bytes: Vec<u8>) -> Vec<u8> {
        let len = bytes.len();
        bytes.resize(len + pastry_core::session::TRAILER_BYTES, 0);
        let to = self.stack.own().addr;
        match self.guards[i].seal(self.now, to, &mut bytes, len) {
            Some(n) => bytes.truncate(n),
            None => bytes.truncate(len),
        }
        bytes
    }

    /// Makes sure world peer `i` holds a session with the node (a
    /// handshake while the world answers): whether it does.
    fn greet(&mut self, i: usize) -> bool {
        let node = self.stack.own();
        if self.guards[i].is_verified(node) {
            return true;
        }
        let answer = std::mem::replace(&mut self.answer, true);
        self.guards[i].connect(self.now, node.addr);
        for _ in 0..4 {
            self.flush_guard(i);
            self.settle();
            if self.guards[i].is_verified(node) {
                break;
            }
        }
        self.answer = answer;
        self.guards[i].is_verified(node)
    }

    /// World peer `i`'s handshake datagrams, to the node.
    fn flush_guard(&mut self, i: usize) {
        let me = self.world[i];
        let mut buf = [0u8; 1280];
        while let Ok(Some((_, len, _))) = self.guards[i].poll_transmit(me, &mut buf) {
            self.stack.handle_datagram(self.now, me.addr, &buf[..len]);
        }
    }

    fn step(&mut self, step: &Step) {
        self.outside.clear();
        let now = self.now;
        match step {
            Step::Message { from, app, body } => {
                let m = super::ArbMessage {
                    app: app_id(*app).0,
                    sender: self.peer(*from),
                    body: body.clone(),
                };
                let from = m.sender;
                self.deliver(from, app_id(*app), m.message().body);
            }
            Step::Framed {
                from,
                kind,
                app,
                body,
            } => {
                let from = self.peer(*from);
                let mut bytes = self.encode(from, app_id(*app), Body::Heartbeat(Heartbeat));
                if bytes.len() > 3 {
                    bytes[3] = *kind;
                }
                bytes.extend_from_slice(body);
                // A world peer's frame is sealed, so its body reaches the
                // decoder behind the session layer.
                if let Some(i) = self.world_index(from) {
                    if self.greet(i) {
                        bytes = self.seal(i, bytes);
                    }
                }
                self.stack.handle_datagram(now, from.addr, &bytes);
            }
            Step::Raw { from, bytes } => {
                let from = self.peer(*from);
                self.stack.handle_datagram(now, from.addr, bytes);
            }
            Step::Client { from, body } => {
                let mut bytes = pastry_core::client::msg::MAGIC.to_vec();
                bytes.extend_from_slice(body);
                let addr = SocketAddr::from(([10, 0, 3, *from], 9000));
                self.stack.handle_datagram(now, addr, &bytes);
            }
            Step::Tick { ms } => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.stack.handle_timeout(self.now);
            }
            Step::NodeTick { back, ms } => {
                let d = Duration::from_millis(u64::from(*ms));
                let t = if *back {
                    now.checked_sub(d).unwrap_or(Instant::ZERO)
                } else {
                    now + d
                };
                self.stack.node_mut().handle_timeout(t);
            }
            Step::Command(c) => self.command(c),
            Step::Answer(a) => self.answer = *a,
        }
        self.settle();
    }

    fn command(&mut self, c: &Command) {
        let now = self.now;
        let group = |g: &u8| Id::sha1(&[b'g', *g]);
        // Refusals are typed answers, not failures: only panics count.
        match c {
            Command::Route { key, app, payload } => {
                let key = self.key(*key);
                let _ = self.stack.route(now, key, AppId(*app), payload, None);
            }
            Command::SecureRoute {
                key,
                replicas,
                payload,
            } => {
                let key = self.key(*key);
                let node = self.stack.node_mut();
                let _ = node.secure_route(now, key, AppId(7), payload, usize::from(*replicas));
            }
            Command::SecureLookup {
                key,
                replicas,
                redundant,
            } => {
                let key = self.key(*key);
                let node = self.stack.node_mut();
                let _ = node.secure_lookup(now, key, usize::from(*replicas), *redundant);
            }
            Command::Put {
                key,
                version,
                value,
            } => {
                let key = self.key(*key);
                let _ = self.stack.put(now, key, *version, value);
            }
            Command::PutContent { value } => drop(self.stack.put_content(now, value)),
            Command::Get { key } => {
                let key = self.key(*key);
                let _ = self.stack.get(now, key);
            }
            Command::GetContent { key } => {
                let key = self.key(*key);
                let _ = self.stack.get_content(now, key);
            }
            Command::Subscribe { group: g } => drop(self.stack.subscribe(now, group(g))),
            Command::Unsubscribe { group: g } => drop(self.stack.unsubscribe(now, group(g))),
            Command::Publish { group: g, data } => drop(self.stack.publish(now, group(g), data)),
            Command::Anycast { group: g, data } => drop(self.stack.anycast(now, group(g), data)),
            Command::Leave => drop(self.stack.leave(now)),
            Command::Join => drop(self.stack.join(now, Some(self.world[1].addr))),
        }
    }

    /// Takes every datagram and event the node has; the world answers
    /// what it would answer, for a few rounds.
    fn settle(&mut self) {
        for _ in 0..ROUNDS {
            let mut sent = Vec::new();
            let mut events = 0;
            // `buf` (2,048 bytes) holds any datagram up to `max_datagram`.
            loop {
                match self.stack.poll_output(&mut self.buf).expect("buffer fits") {
                    Output::Transmit(tx) => {
                        sent.push((tx.destination, self.buf[..tx.len].to_vec()));
                        assert!(sent.len() <= MAX_OUTPUT, "unbounded output");
                    }
                    Output::Event(_) => {
                        events += 1;
                        assert!(events <= MAX_OUTPUT, "unbounded events");
                    }
                    Output::Timeout(_) => break,
                }
            }
            if sent.is_empty() {
                return;
            }
            for (to, bytes) in sent {
                match self.world.iter().find(|p| p.addr == to).copied() {
                    Some(p) if self.answer => self.answer_as(p, &bytes),
                    Some(_) => {}
                    None => self.outside.push((to, bytes)),
                }
            }
        }
    }

    /// World peer `p` answers one datagram from the node: its guard
    /// takes handshakes, and a message in its session is answered.
    fn answer_as(&mut self, p: Peer, bytes: &[u8]) {
        let Some(i) = self.world_index(p) else { return };
        let from = self.stack.own().addr;
        let opened = self.guards[i].receive(self.now, from, bytes);
        self.flush_guard(i);
        let Some((_, m)) = opened else {
            assert!(
                bytes
                    .get(3)
                    .and_then(|&k| pastry_core::wire::Kind::from_u8(k))
                    .is_some(),
                "the node sent a frame of no kind: {bytes:02x?}"
            );
            return;
        };
        let (left, right) = self.leaf_set_of(p.id);
        let leaf_set = LeafSetView {
            left: PeerList::Peers(&left),
            right: PeerList::Peers(&right),
        };
        let rows: Vec<Peer>;
        let body = match m.body {
            Body::Probe(q) => Body::ProbeReply(ProbeReply {
                nonce: q.nonce,
                leaf_set: if q.want_leaf_set {
                    leaf_set
                } else {
                    LeafSetView::EMPTY
                },
                handover: Handover::NONE,
            }),
            Body::LeafSet(x) if x.want_reply => Body::LeafSet(LeafSetExchange {
                want_reply: false,
                announces: false,
                leaf_set,
            }),
            Body::RowRequest(r) => {
                let table = self.stack.node().routing_table();
                let own = self.stack.own().id;
                rows = (self.world.iter().copied())
                    .filter(|q| q.id != own && table.slot(q.id).map(|s| s.0) == Some(r.row.into()))
                    .collect();
                Body::RowReply(RowReply {
                    row: r.row,
                    entries: PeerList::Peers(&rows),
                })
            }
            Body::Routed(r) => Body::Ack(Ack { msg_id: r.msg_id }),
            Body::Query(q) => Body::Ack(Ack { msg_id: q.msg_id }),
            _ => return,
        };
        let reply = self.encode(p, m.app, body);
        let reply = self.seal(i, reply);
        self.stack.handle_datagram(self.now, p.addr, &reply);
    }

    /// The invariants of the node's state.
    fn check(&self) {
        let n = self.stack.node();
        let own = n.own().id;
        let ls = n.leaf_set();
        for (side, dist) in [
            (ls.left(), Id::ccw_distance as fn(Id, Id) -> _),
            (ls.right(), Id::cw_distance),
        ] {
            assert!(side.len() <= ls.half(), "leaf set over its bound");
            assert!(side.iter().all(|p| p.id != own), "leaf set holds the node");
            assert!(
                side.windows(2)
                    .all(|w| dist(own, w[0].id) < dist(own, w[1].id)),
                "leaf set side not sorted or with a duplicate: {side:?}"
            );
        }
        let table = n.routing_table();
        for (row, col, e) in table.entries() {
            assert!(e.peer.id != own, "routing table holds the node");
            assert_eq!(
                table.slot(e.peer.id),
                Some((row, col)),
                "entry out of its slot"
            );
        }
        assert!(
            n.probes_outstanding() <= QUEUE,
            "probe queue over its bound"
        );
        assert!(
            n.messages_held() <= STACK_POOL,
            "message pool over its bound"
        );
    }

    /// An active node still verifies a newcomer, and answers its probe
    /// with the nonce.
    fn answers_a_probe(&mut self) {
        if self.stack.node().phase() != Phase::Active {
            return;
        }
        self.settle();
        let keys = Keypair::from_secret([0x5e; 32]);
        let newcomer = Peer::new(keys.id(), SocketAddr::from(([10, 0, 4, 1], 7000)));
        let mut guard: Guard<2> = Guard::new(keys.into(), Admission::default(), 99);
        let node = self.stack.own();
        let mut buf = [0u8; 2048];
        guard.connect(self.now, node.addr);
        let probe = Message {
            app: AppId::OVERLAY,
            sender: newcomer,
            body: Body::Probe(pastry_core::wire::Probe {
                nonce: 0x5eed,
                want_leaf_set: true,
            }),
        };
        let mut probed = false;
        for _ in 0..6 {
            while let Ok(Some((_, len, _))) = guard.poll_transmit(newcomer, &mut buf) {
                self.stack
                    .handle_datagram(self.now, newcomer.addr, &buf[..len]);
            }
            if guard.is_verified(node) && !probed {
                let len = guard
                    .send(self.now, node.addr, &probe, &mut buf)
                    .expect("a session");
                self.stack
                    .handle_datagram(self.now, newcomer.addr, &buf[..len]);
                probed = true;
            }
            self.outside.clear();
            self.settle();
            for (to, bytes) in std::mem::take(&mut self.outside) {
                if to != newcomer.addr {
                    continue;
                }
                if let Some((_, m)) = guard.receive(self.now, node.addr, &bytes) {
                    if matches!(m.body, Body::ProbeReply(r) if r.nonce == 0x5eed) {
                        return;
                    }
                }
            }
        }
        panic!(
            "the node no longer verifies and answers a newcomer: {:?}",
            self.stack.node().session_stats()
        );
    }
}

fn app_id(a: App) -> AppId {
    match a {
        App::Overlay => AppId::OVERLAY,
        App::Dht => dht::APP,
        App::DhtLookup => dht::LOOKUP_APP,
        App::Scribe => scribe::APP,
        App::Other(n) => AppId(n),
    }
}
