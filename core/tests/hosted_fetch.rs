//! A hosted application reads the DHT through its runtime
//! (`HostedApp::poll_fetch`, `fetched`), driven here by the same
//! `runtime::step` the runtimes call, on an in-memory network with a
//! virtual clock. The fetch a delivery asks for leaves in the drain that
//! handled the delivery (a drain that ended first left it for the next
//! wake-up, hundreds of milliseconds later), and the value comes back.

#![cfg(feature = "std")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::identity::Keypair;
use pastry_core::node::{Event, Kbr};
use pastry_core::stack::StackConfig;
use pastry_core::stack::runtime::{Hosted, HostedApp, Options, RuntimeStack, Step, step};
use pastry_core::stack::waiters::Waiters;
use pastry_core::{AppId, Id, Instant};

const APP: AppId = AppId(0x7777);

/// On a delivery of its application, fetches the key the payload names.
#[derive(Debug, Default)]
struct Fetcher {
    want: Option<Id>,
    got: Vec<(Id, Option<Vec<u8>>)>,
}

impl HostedApp for Fetcher {
    fn handle_event(&mut self, _: Instant, _: &mut dyn Kbr, ev: Event<'_>) -> bool {
        match ev {
            Event::Deliver(d) if d.app == APP => {
                let mut b = [0u8; 20];
                b.copy_from_slice(&d.payload[..20]);
                self.want = Some(Id::from_bytes(b));
                true
            }
            _ => false,
        }
    }
    fn poll_fetch(&mut self) -> Option<Id> {
        self.want.take()
    }
    fn fetched(&mut self, _: Instant, _: &mut dyn Kbr, key: Id, value: Option<&[u8]>) {
        self.got.push((key, value.map(<[u8]>::to_vec)));
    }
}

struct Node {
    stack: Box<RuntimeStack>,
    waiters: Waiters,
}

type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;

/// The drain rule, through `runtime::step`; the datagrams it sent.
fn drain(n: &mut Node, now: Instant, wire: &mut Wire) -> usize {
    let mut buf = vec![0u8; 1280];
    let mut sent = 0;
    loop {
        match step(&mut n.stack, &mut n.waiters, now, &mut buf).expect("buffer fits") {
            Step::Send(to, len) => {
                wire.push_back((to, n.stack.own().addr, buf[..len].to_vec()));
                sent += 1;
            }
            Step::Idle(_) => return sent,
            _ => {}
        }
    }
}

fn run(nodes: &mut [Node], now: &mut Instant, until: Instant, wire: &mut Wire) {
    while *now < until {
        *now += Duration::from_millis(1);
        while let Some((to, from, bytes)) = wire.pop_front() {
            if let Some(n) = nodes.iter_mut().find(|n| n.stack.own().addr == to) {
                n.stack.handle_datagram(*now, from, &bytes);
                drain(n, *now, wire);
            }
        }
        for n in nodes.iter_mut() {
            if n.stack.poll_timeout().is_some_and(|t| t <= *now) {
                n.stack.handle_timeout(*now);
                drain(n, *now, wire);
            }
        }
    }
}

#[test]
fn a_fetch_asked_during_a_delivery_leaves_in_that_drain_and_its_value_comes_back() {
    let mut nodes: Vec<Node> = (1..=3u8)
        .map(|i| {
            let addr = SocketAddr::from(([10, 0, 0, i], 4000));
            let mut o = Options::new(addr);
            o.config = StackConfig::lan();
            o.identity = Some(Keypair::from_secret([i; 32]).into());
            o.seed = Some(u64::from(i));
            o.app = Hosted::new(Fetcher::default());
            let stack = o
                .build(addr, |_| unreachable!("key and seed given"))
                .unwrap();
            Node {
                stack,
                waiters: Waiters::default(),
            }
        })
        .collect();
    let (mut wire, mut now) = (Wire::new(), Instant::from_secs(1));
    let first = nodes[0].stack.own().addr;
    for (i, n) in nodes.iter_mut().enumerate() {
        n.stack.join(now, (i > 0).then_some(first)).unwrap();
        drain(n, now, &mut wire);
    }
    run(&mut nodes, &mut now, Instant::from_secs(4), &mut wire);
    // Node 0 stores a value; node 1 is told (by node 2) to fetch it.
    let (key, _) = nodes[0].stack.put_content(now, b"the value").unwrap();
    drain(&mut nodes[0], now, &mut wire);
    run(&mut nodes, &mut now, Instant::from_secs(5), &mut wire);
    let target = nodes[1].stack.own();
    nodes[2]
        .stack
        .route(now, target.id, APP, &key.to_bytes(), Some(target))
        .unwrap();
    drain(&mut nodes[2], now, &mut wire);
    // The message reaches node 1; the drain that delivers it sends the get.
    let (to, from, bytes) = wire.pop_front().expect("the message is on its way");
    assert_eq!(to, target.addr);
    now += Duration::from_millis(1);
    nodes[1].stack.handle_datagram(now, from, &bytes);
    let sent = drain(&mut nodes[1], now, &mut wire);
    assert!(
        sent >= 2,
        "the hop's ack and the get left in this drain: {sent}"
    );
    run(&mut nodes, &mut now, Instant::from_secs(6), &mut wire);
    let (hosted, _, _) = nodes[1].stack.app_mut(now);
    let f = hosted.get_mut::<Fetcher>().expect("hosted");
    assert_eq!(f.got, [(key, Some(b"the value".to_vec()))]);
}
