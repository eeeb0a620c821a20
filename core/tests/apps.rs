//! PROST applications on the overlay: the per-hop `forward` upcall (it may
//! change the payload, stop the message or redirect it) and per-node
//! policy (a node that denies a per-hop application forwards without it).

mod common;

use std::time::Duration;

use common::net::Net;
use pastry_core::node::{AppPolicy, ForwardHop, Forwarder, Policy, Verdict};
use pastry_core::routing::NextHop;
use pastry_core::{AppId, Config, DefaultNode, Id, Peer};

const PER_HOP: AppId = AppId(40);

/// Acts on the payload's first byte: `a` appends the hop count seen here,
/// `s` stops the message at its second node, `r` redirects it at its
/// source to `redirect_to`. Records every key it is called for.
#[derive(Default)]
struct Recorder {
    seen: Vec<Id>,
    /// Per call: the key, whether this node is where the overlay would
    /// deliver, and whether only a suspect closer to the key makes it so.
    local: Vec<(Id, bool, bool)>,
    redirect_to: Option<Peer>,
}

impl Forwarder for Recorder {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        self.seen.push(hop.key);
        let here = hop.next_hop == NextHop::Local;
        self.local.push((hop.key, here, hop.closer_suspected));
        match hop.payload.first() {
            Some(b'a') => {
                let _ = hop.payload.push(hop.hops);
                Verdict::Continue
            }
            Some(b's') if hop.hops == 1 => Verdict::Stop,
            Some(b'r') if hop.hops == 0 => self
                .redirect_to
                .map_or(Verdict::Continue, Verdict::Redirect),
            _ => Verdict::Continue,
        }
    }
}

fn ring(n: usize, seed: u64) -> Net<Recorder> {
    let mut net = Net::with_forwarders(seed);
    net.form(n, &Config::default());
    for i in net.live() {
        per_hop(net.nodes[i].policy_mut());
    }
    net
}

/// Makes `PER_HOP` a per-hop application under `policy`.
fn per_hop(policy: &mut Policy) {
    let p = AppPolicy {
        allow: true,
        per_hop: true,
        receipts: true,
    };
    policy.set(PER_HOP, p).unwrap();
}

fn calls(net: &Net<Recorder>, key: Id) -> usize {
    net.nodes
        .iter()
        .map(|n| n.forwarder().1.seen.iter().filter(|k| **k == key).count())
        .sum()
}

#[test]
fn every_node_on_the_path_runs_the_upcall_and_may_change_the_payload() {
    let seed = 20;
    let mut net = ring(48, seed);
    let mut multi_hop = 0;
    for k in 0..60u32 {
        let key = net.random_id();
        let id = net.route(k as usize % 48, key, PER_HOP, b"a");
        net.run_for(Duration::from_secs(1));
        let d: Vec<_> = net.delivered.iter().filter(|d| d.msg_id == id).collect();
        assert_eq!(d.len(), 1, "seed {seed}: key {key}");
        assert_eq!(d[0].at, net.true_root(key), "seed {seed}: key {key}");
        // Source, each intermediate node and the root appended their hop
        // count, in path order.
        let want: Vec<u8> = std::iter::once(b'a').chain(0..=d[0].hops).collect();
        assert_eq!(d[0].payload, want, "seed {seed}: key {key}");
        assert_eq!(calls(&net, key), want.len() - 1, "seed {seed}: key {key}");
        if want.len() > 3 {
            multi_hop += 1;
        }
    }
    assert!(
        multi_hop > 0,
        "seed {seed}: no route had an intermediate hop"
    );
}

#[test]
fn the_upcall_can_stop_and_redirect() {
    let seed = 21;
    let mut net = ring(48, seed);
    // Stop at the second node: never delivered, and no failure reported.
    let mut stopped = 0;
    for k in 0..30u32 {
        let key = net.random_id();
        let from = k as usize % 48;
        let id = net.route(from, key, PER_HOP, b"s");
        net.run_for(Duration::from_secs(1));
        let delivered = net.delivered.iter().any(|d| d.msg_id == id);
        let at_source = net.true_root(key) == from;
        if at_source {
            assert!(
                delivered,
                "seed {seed}: a root-local message has no second node"
            );
        } else {
            assert!(!delivered, "seed {seed}: key {key} went past a Stop");
            stopped += 1;
        }
        assert!(
            net.failed.is_empty(),
            "seed {seed}: a Stop is not a failure"
        );
    }
    assert!(stopped > 0);
    // Redirect at the source through a chosen node, which routes it on.
    for k in 0..30u32 {
        let key = net.random_id();
        let from = k as usize % 48;
        let via = (from + 7 + k as usize) % 48;
        let via_peer = net.peer(via);
        net.nodes[from].forwarder_mut().1.redirect_to = Some(via_peer);
        let id = net.route(from, key, PER_HOP, b"r");
        net.run_for(Duration::from_secs(1));
        let d: Vec<_> = net.delivered.iter().filter(|d| d.msg_id == id).collect();
        assert_eq!(d.len(), 1, "seed {seed}: key {key}");
        assert_eq!(d[0].at, net.true_root(key), "seed {seed}: key {key}");
        assert!(
            net.nodes[via].forwarder().1.seen.contains(&key),
            "seed {seed}: key {key} did not pass the redirect target"
        );
    }
}

#[test]
fn a_node_that_denies_a_per_hop_app_forwards_without_the_upcall() {
    let seed = 22;
    let mut net = ring(48, seed);
    for k in 0..40u32 {
        let key = net.random_id();
        let root = net.true_root(key);
        let from = k as usize % 48;
        // Only the root serves the application; everyone else denies it
        // (the source still marks the message per-hop).
        for i in net.live() {
            let allow = i == root;
            net.nodes[i]
                .policy_mut()
                .set(
                    PER_HOP,
                    AppPolicy {
                        allow,
                        per_hop: true,
                        receipts: true,
                    },
                )
                .unwrap();
        }
        let id = net.route(from, key, PER_HOP, b"a");
        net.run_for(Duration::from_secs(1));
        let d: Vec<_> = net.delivered.iter().filter(|d| d.msg_id == id).collect();
        assert_eq!(d.len(), 1, "seed {seed}: key {key}");
        assert_eq!(d[0].at, root, "seed {seed}: key {key}");
        assert_eq!(
            d[0].payload,
            vec![b'a', d[0].hops],
            "seed {seed}: only the root appended"
        );
        assert_eq!(calls(&net, key), 1, "seed {seed}: key {key}");
    }
}

#[test]
fn the_upcall_learns_when_only_a_suspect_keeps_this_node_from_the_root() {
    for seed in [5, 6] {
        let mut net = ring(16, seed);
        // D is the root of its own id; H, the live node closest to it
        // after D, is the root once D is gone.
        let d = net.live()[3];
        let key = net.nodes[d].own().id;
        let h = net
            .live()
            .into_iter()
            .filter(|&i| i != d)
            .min_by(|&a, &b| key.cmp_closeness(net.nodes[a].own().id, net.nodes[b].own().id))
            .unwrap();
        net.crash(d);
        assert!(!net.nodes[h].is_suspected(key), "seed {seed}");
        assert!(
            net.nodes[h].suspect_peer(key),
            "seed {seed}: D unknown at H"
        );
        assert!(net.nodes[h].is_suspected(key), "seed {seed}");
        assert!(
            !net.nodes[h].suspect_peer(Id::sha1(b"nobody")),
            "seed {seed}"
        );

        let msg = net.route(h, key, PER_HOP, b"x");
        net.run_for(Duration::from_secs(1));
        let at_h = &net.nodes[h].forwarder().1.local;
        assert!(
            at_h.contains(&(key, true, true)),
            "seed {seed}: H was not told a suspect is closer: {at_h:?}"
        );
        // The overlay itself holds the message until the probe of D fails.
        assert!(
            net.delivered_at(msg).is_empty(),
            "seed {seed}: delivered while D suspected"
        );
        let c = Config::default();
        net.run_for(c.probe_timeout * (u32::from(c.probe_retries) + 2));
        assert_eq!(net.delivered_at(msg), [h], "seed {seed}");

        // Its own id: the root, with nobody closer suspected.
        let own = net.nodes[h].own().id;
        net.route(h, own, PER_HOP, b"y");
        net.run_for(Duration::from_secs(1));
        assert!(
            net.nodes[h]
                .forwarder()
                .1
                .local
                .contains(&(own, true, false)),
            "seed {seed}"
        );
    }
}

/// Takes every message over at its second node and later ones.
#[derive(Default)]
struct TakeOver;

impl Forwarder for TakeOver {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        if hop.hops > 0 {
            Verdict::Deliver
        } else {
            Verdict::Continue
        }
    }
}

#[test]
fn a_node_takes_a_message_over_only_once_active() {
    use pastry_core::wire::{Body, Message, Routed};
    use pastry_core::{Event, Instant};
    use std::net::SocketAddr;

    let addr = |i: u8| SocketAddr::from(([10, 0, 0, i], 7000));
    let now = Instant::from_secs(1);
    let node = |i: u8| {
        let mut n = DefaultNode::<TakeOver>::with_forwarder(
            Config::default(),
            common::keys(&[i]),
            addr(i),
            u64::from(i),
            TakeOver,
        )
        .unwrap();
        per_hop(n.policy_mut());
        n
    };
    // A per-hop message from a third node, one hop along.
    let mut speaker = common::speaker::Speaker::new(common::keys(b"source"), addr(9));
    let source = speaker.me;
    let datagram = Message {
        app: PER_HOP,
        sender: source,
        body: Body::Routed(Routed {
            msg_id: 77,
            key: Id::sha1(b"some key"),
            per_hop: true,
            handoff: false,
            receipt: false,
            attempt: 0,
            hops: 1,
            source,
            payload: b"x",
            signature: None,
        }),
    };
    let delivered = |n: &mut DefaultNode<TakeOver>| {
        let mut out = 0;
        while let Some(ev) = n.poll_event() {
            out += usize::from(matches!(ev, Event::Deliver(_)));
        }
        out
    };

    // Joining (its request not yet answered): it routes the message on.
    let mut joining = node(1);
    joining.join(now, Some(addr(2))).unwrap();
    speaker.greet(now, &mut joining, addr(1));
    let sealed = speaker.seal(now, addr(1), &datagram);
    joining.handle_datagram(now, source.addr, &sealed);
    assert_eq!(delivered(&mut joining), 0, "a joining node took it over");

    // Active (a ring of one): the upcall's verdict stands.
    let mut active = node(3);
    active.join(now, None).unwrap();
    speaker.greet(now, &mut active, addr(3));
    let sealed = speaker.seal(now, addr(3), &datagram);
    active.handle_datagram(now, source.addr, &sealed);
    assert_eq!(delivered(&mut active), 1, "an active node takes it over");
}
