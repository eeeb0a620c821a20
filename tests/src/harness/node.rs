//! `node_events`: one active node, with its DHT and Scribe (a core
//! [`Stack`]), in a small made-up world of 48 peers that answer it, fed
//! whatever the fuzzer chooses: well-formed messages from plausible and
//! hostile senders, frames with a valid header and any body, raw bytes,
//! client requests, time jumps (backwards too) and commands. After every
//! step its routing state keeps its invariants and its queues their
//! bounds; at the end it still answers a probe.

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use pastry_core::dht::{self, MapStore};
use pastry_core::scribe::{self, Members};
use pastry_core::stack::STACK_POOL;
use pastry_core::wire::{
    Ack, AppId, Body, Heartbeat, JoinReply, LeafSetExchange, LeafSetView, Message, PeerList,
    ProbeReply, RowReply,
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
    /// The stack, joined and active.
    pub fn new() -> World {
        World(Harness::new())
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
    now: Instant,
    answer: bool,
    /// Datagrams the node sent outside the world in the last step.
    outside: Vec<(SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Harness {
    /// The node, active, its leaf set and table filled from the world.
    fn new() -> Harness {
        let own = Peer::new(
            Id::sha1(b"the fuzzed node"),
            SocketAddr::from(([10, 0, 0, 1], 7000)),
        );
        let world: Vec<Peer> = (0..WORLD as u8)
            .map(|i| Peer::new(Id::sha1(&[i]), SocketAddr::from(([10, 0, 1, i], 7000))))
            .collect();
        let parts = (MapStore::new(), Members, Default::default());
        let stack = FuzzStack::new(StackConfig::default(), own.id, own.addr, 1, parts)
            .expect("default configuration");
        let mut h = Harness {
            stack: Box::new(stack),
            world,
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

    fn deliver(&mut self, from: Peer, app: AppId, body: Body<'_>) {
        let bytes = self.encode(from, app, body);
        if !bytes.is_empty() {
            self.stack.handle_datagram(self.now, from.addr, &bytes);
            self.settle();
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

    /// World peer `p` answers one datagram from the node.
    fn answer_as(&mut self, p: Peer, bytes: &[u8]) {
        let Ok(m) = Message::decode(bytes) else {
            panic!("the node sent a frame that does not decode: {bytes:02x?}");
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
            }),
            Body::LeafSet(x) if x.want_reply => Body::LeafSet(LeafSetExchange {
                want_reply: false,
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
            _ => return,
        };
        let reply = self.encode(p, m.app, body);
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

    /// An active node answers a stranger's probe with its nonce.
    fn answers_a_probe(&mut self) {
        if self.stack.node().phase() != Phase::Active {
            return;
        }
        self.settle();
        let stranger = Peer::new(
            Id::sha1(b"a stranger"),
            SocketAddr::from(([10, 0, 4, 1], 7000)),
        );
        let probe = pastry_core::wire::Probe {
            nonce: 0x5eed,
            want_leaf_set: true,
        };
        self.outside.clear();
        self.deliver(stranger, AppId::OVERLAY, Body::Probe(probe));
        let answered = self.outside.iter().any(|(to, bytes)| {
            *to == stranger.addr
                && matches!(Message::decode(bytes), Ok(Message {
                    body: Body::ProbeReply(r), ..
                }) if r.nonce == probe.nonce)
        });
        assert!(answered, "the node no longer answers a probe");
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
