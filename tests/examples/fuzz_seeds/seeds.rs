//! Seeds of the targets other than `wire_decode`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use pastry_core::client::msg::{Frame, Refusal, Reply, Request};
use pastry_core::dht::MapStore;
use pastry_core::identity::Keypair;
use pastry_core::rng::SmallRng;
use pastry_core::session::message_of;
use pastry_core::wire::{AppId, Body, Message};
use pastry_core::{Id, Instant, Output, Peer, Stack, StackConfig, dht, scribe};
use pastry_tests::harness::{ArbMessage, FaultRun, NodeRun};

fn write(target: &str, seeds: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
    Ok(())
}

/// One frame of every request and reply kind.
pub(crate) fn client_frames() -> std::io::Result<()> {
    let key = Id::sha1(b"key");
    let peer = Peer::new(Id::sha1(b"p"), "[2001:db8::7]:4000".parse().unwrap());
    let frames = [
        (
            "put",
            Frame::Request(
                1,
                Request::Put {
                    key,
                    version: 3,
                    ttl_secs: 60,
                    value: b"v",
                },
            ),
        ),
        (
            "put_content",
            Frame::Request(
                2,
                Request::PutContent {
                    ttl_secs: 0,
                    value: b"c",
                },
            ),
        ),
        (
            "delete",
            Frame::Request(9, Request::Delete { key, version: 4 }),
        ),
        (
            "get",
            Frame::Request(3, Request::Get { key, content: true }),
        ),
        (
            "route",
            Frame::Request(
                4,
                Request::Route {
                    key,
                    app: AppId(9),
                    payload: b"r",
                },
            ),
        ),
        (
            "publish",
            Frame::Request(
                5,
                Request::Publish {
                    group: key,
                    data: b"d",
                },
            ),
        ),
        (
            "anycast",
            Frame::Request(
                6,
                Request::Anycast {
                    group: key,
                    data: b"a",
                },
            ),
        ),
        (
            "subscribe",
            Frame::Request(7, Request::Subscribe { group: key }),
        ),
        (
            "unsubscribe",
            Frame::Request(8, Request::Unsubscribe { group: key }),
        ),
        (
            "stored",
            Frame::Reply(1, Reply::Stored { key, replicas: 5 }),
        ),
        (
            "found",
            Frame::Reply(
                3,
                Reply::Found {
                    version: 3,
                    cached: true,
                    value: b"v",
                },
            ),
        ),
        ("not_found", Frame::Reply(3, Reply::NotFound)),
        ("sent", Frame::Reply(4, Reply::Sent { id: 77 })),
        ("accepted", Frame::Reply(6, Reply::Accepted { by: peer })),
        (
            "subscribed",
            Frame::Reply(7, Reply::Subscribed { lease_ms: 30_000 }),
        ),
        (
            "multicast",
            Frame::Reply(
                7,
                Reply::Multicast {
                    group: key,
                    id: 2,
                    data: b"m",
                },
            ),
        ),
        ("unsubscribed", Frame::Reply(8, Reply::Unsubscribed)),
        (
            "refused",
            Frame::Reply(
                1,
                Reply::Refused {
                    reason: Refusal::Stale,
                    detail: 4,
                },
            ),
        ),
    ];
    let mut seeds = BTreeMap::new();
    for (name, f) in frames {
        let mut buf = vec![0u8; f.encoded_len()];
        let n = f.encode(&mut buf).expect("seed frames encode");
        seeds.insert(name.to_string(), buf[..n].to_vec());
    }
    write("client_decode", &seeds)
}

/// Five stacks in memory put, get, subscribe, publish and anycast, one
/// leaves; the first payload of every (application, kind) is kept.
pub(crate) fn app_payloads() -> std::io::Result<()> {
    let addr = |i: u8| SocketAddr::from(([10, 0, 0, i], 7000));
    let mut stacks: Vec<Stack<MapStore>> = (0..5u8)
        .map(|i| {
            let parts = (MapStore::new(), Default::default(), Default::default());
            let keys = Keypair::from_secret([i; 32]);
            Stack::new(StackConfig::lan(), keys, addr(i), i.into(), parts).unwrap()
        })
        .collect();
    let mut net = Net {
        now: Instant::from_secs(1),
        seen: BTreeMap::new(),
    };
    stacks[0].join(net.now, None).unwrap();
    for i in 1..5 {
        stacks[i].join(net.now, Some(addr(0))).unwrap();
        net.run(&mut stacks, Duration::from_secs(2));
    }
    let (key, group) = (Id::sha1(b"a key"), Id::sha1(b"a group"));
    let now = net.now;
    stacks[1].put(now, key, 1, b"a value").unwrap();
    stacks[2].put_content(now, b"content").unwrap();
    net.run(&mut stacks, Duration::from_secs(2));
    let now = net.now;
    stacks[3].get(now, key).unwrap();
    stacks[3].get(now, Id::sha1(b"absent")).unwrap();
    stacks[1].put(now, key, 0, b"stale").unwrap();
    for s in &mut stacks[2..] {
        s.subscribe(now, group).unwrap();
    }
    net.run(&mut stacks, Duration::from_secs(2));
    let now = net.now;
    stacks[0].publish(now, group, b"news").unwrap();
    stacks[1].anycast(now, group, b"anyone").unwrap();
    stacks[4].unsubscribe(now, group).unwrap();
    net.run(&mut stacks, Duration::from_secs(2));
    let now = net.now;
    stacks[2].leave(now).unwrap();
    // Replica maintenance and Scribe heartbeats run on their periods.
    net.run(&mut stacks, Duration::from_secs(120));
    let names = [
        (dht::APP, "dht"),
        (dht::LOOKUP_APP, "lookup"),
        (scribe::APP, "scribe"),
    ];
    let seeds = net
        .seen
        .into_iter()
        .map(|((app, kind), bytes)| {
            let name = names.iter().find(|n| n.0.0 == app).map_or("app", |n| n.1);
            (format!("{name}_{kind:02x}"), bytes)
        })
        .collect();
    write("app_payloads", &seeds)
}

struct Net {
    now: Instant,
    seen: BTreeMap<(u16, u8), Vec<u8>>,
}

impl Net {
    /// Delivers every datagram at once and runs timers until `d` passes.
    fn run(&mut self, stacks: &mut [Stack<MapStore>], d: Duration) {
        let end = self.now + d;
        let mut buf = vec![0u8; 2048];
        loop {
            let mut quiet = true;
            for i in 0..stacks.len() {
                loop {
                    let tx = match stacks[i].poll_output(&mut buf).unwrap().map_event(|_| ()) {
                        Output::Transmit(tx) => tx,
                        Output::Event(()) => {
                            quiet = false;
                            continue;
                        }
                        Output::Timeout(_) => break,
                    };
                    quiet = false;
                    let bytes = buf[..tx.len].to_vec();
                    self.keep(&bytes);
                    let from = stacks[i].own().addr;
                    if let Some(to) = stacks.iter_mut().find(|s| s.own().addr == tx.destination) {
                        to.handle_datagram(self.now, from, &bytes);
                    }
                }
            }
            if quiet {
                let next = stacks.iter().filter_map(|s| s.poll_timeout()).min();
                match next {
                    Some(t) if t <= end => {
                        self.now = self.now.max(t);
                        stacks.iter_mut().for_each(|s| s.handle_timeout(self.now));
                    }
                    _ => break,
                }
            }
        }
        self.now = end;
    }

    fn keep(&mut self, bytes: &[u8]) {
        if let Ok(Message {
            app,
            body: Body::Routed(r),
            ..
        }) = Message::decode(message_of(bytes))
        {
            let apps = [dht::APP, dht::LOOKUP_APP, scribe::APP];
            if let (true, Some(&kind)) = (apps.contains(&app), r.payload.first()) {
                self.seen
                    .entry((app.0, kind))
                    .or_insert_with(|| r.payload.to_vec());
            }
        }
    }
}

/// For the `arbitrary`-built targets: byte strings that decode to
/// different shapes (every message kind; runs of several steps).
pub(crate) fn structured() -> std::io::Result<()> {
    let mut rng = SmallRng::new(2026);
    let mut random = |len: usize| -> Vec<u8> { (0..len).map(|_| rng.next_u64() as u8).collect() };

    let mut kinds = BTreeMap::new();
    while kinds.len() < 12 {
        let data = random(64);
        if let Ok(m) = ArbMessage::arbitrary_take_rest(Unstructured::new(&data)) {
            let kind = format!("{:?}", m.body);
            let kind = kind.split([' ', '{']).next().unwrap_or("").to_lowercase();
            kinds.entry(kind).or_insert(data);
        }
    }
    write("wire_roundtrip", &kinds)?;

    let mut runs = BTreeMap::new();
    while runs.len() < 6 {
        let data = random(512);
        let steps =
            NodeRun::arbitrary_take_rest(Unstructured::new(&data)).map_or(0, |r| r.steps.len());
        if steps >= 4 {
            runs.insert(format!("run_{}", runs.len()), data);
        }
    }
    write("node_events", &runs)?;

    let mut faults = BTreeMap::new();
    while faults.len() < 4 {
        let data = random(256);
        if let Ok(r) = FaultRun::arbitrary_take_rest(Unstructured::new(&data))
            && !r.faults.is_empty()
            && !r.events.is_empty()
        {
            faults.insert(format!("run_{}", faults.len()), data);
        }
    }
    write("sim_faults", &faults)
}
