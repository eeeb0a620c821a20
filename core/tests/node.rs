//! The node state machine on an in-memory network: join, keep-alive,
//! repair, reliable routing, application policy, hostile input.

mod common;

use std::time::Duration;

use common::net::Net;
use pastry_core::node::Passthrough;
use pastry_core::{AppId, Config, Id, Output, Phase};

const APP: AppId = AppId(7);

#[test]
fn two_nodes_join_and_route() {
    let mut net = Net::new(1);
    let a = net.join_one(Config::default());
    assert_eq!(
        net.nodes[a].phase(),
        Phase::Active,
        "the first node is a ring of one"
    );
    net.run_for(Duration::from_millis(10));
    let b = net.join_one(Config::default());
    assert_eq!(net.nodes[b].phase(), Phase::Joining);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[b].phase(), Phase::Active, "seed 1");
    assert!(net.nodes[a].leaf_set().contains(net.peer(b).id));
    assert!(net.nodes[b].leaf_set().contains(net.peer(a).id));
    for k in 0..20u8 {
        let key = Id::sha1(&[k]);
        let from = if k % 2 == 0 { a } else { b };
        let id = net.route(from, key, APP, &[k]);
        net.run_for(Duration::from_secs(1));
        let d = net
            .delivered
            .iter()
            .find(|d| d.msg_id == id)
            .expect("delivered");
        assert_eq!(d.at, net.true_root(key));
        assert_eq!(d.payload, vec![k]);
    }
}

#[test]
fn sixty_four_nodes_joined_one_by_one_have_true_leaf_sets() {
    for seed in common::seeds(&[2, 3, 4, 6]) {
        let net = Net::ring(64, seed);
        assert!(
            net.live().iter().all(|&i| net.nodes[i].is_active()),
            "seed {seed}: not all active"
        );
        let wrong = net.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "seed {seed}: wrong leaf sets at {wrong:?}"
        );
        assert_updates_track_leaf_sets(&net, seed);
    }
}

/// KBR `update(node, joined)`: replaying a node's update events gives
/// exactly its leaf set's members.
fn assert_updates_track_leaf_sets(net: &Net, seed: u64) {
    for i in net.live() {
        let mut members = std::collections::BTreeSet::new();
        for &(_, id, joined) in net.updates.iter().filter(|u| u.0 == i) {
            let changed = if joined {
                members.insert(id)
            } else {
                members.remove(&id)
            };
            assert!(
                changed,
                "seed {seed}: node {i}: update {joined} for {id} changes nothing"
            );
        }
        let actual: std::collections::BTreeSet<_> =
            net.nodes[i].leaf_set().members().map(|p| p.id).collect();
        assert_eq!(
            members, actual,
            "seed {seed}: node {i}: updates disagree with the leaf set"
        );
    }
}

/// One crash: its 16 members learn of it and repair, but in a ring whose
/// leaf sets agree only the first to find it silent announces it to its
/// 16 members; those it told on its side that is a member short tell the
/// one member it cannot reach (its side lost the failed node), the rest
/// nobody.
/// Every member telling every member would be 16 × 16 leaf sets. The
/// members are right within two minutes, long before the leaf-set
/// exchange of a maintenance period (20 minutes) would mend them.
#[test]
fn a_crash_is_told_to_every_member_without_each_telling_all() {
    use pastry_core::wire::Kind;
    for seed in common::seeds(&[40, 41, 42]) {
        let mut net = Net::ring(64, seed);
        net.run_for(Duration::from_secs(5));
        let before = net.by_kind[Kind::LeafSet as usize];
        let gone = net.live()[net.rng.below(64) as usize];
        net.crash(gone);
        net.run_for(Duration::from_secs(120));
        let wrong = net.wrong_leaf_sets();
        assert!(wrong.is_empty(), "seed {seed}: not repaired: {wrong:?}");
        let told = net.by_kind[Kind::LeafSet as usize] - before;
        assert!(
            (16..=24).contains(&told),
            "seed {seed}: {told} leaf sets for one crash"
        );
    }
}

#[test]
fn ten_percent_crash_is_repaired_and_keys_route_to_the_live_root() {
    for seed in common::seeds(&[4, 5, 14, 61]) {
        let mut net = Net::ring(64, seed);
        let mut live = net.live();
        for _ in 0..6 {
            let pick = net.rng.below(live.len() as u64) as usize;
            net.crash(live.swap_remove(pick));
        }
        // Lease (33 s) + a probe cycle (seconds; at most 21 s) + repair.
        net.run_for(Duration::from_secs(120));
        let wrong = net.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "seed {seed}: leaf sets not repaired at {wrong:?}"
        );
        assert_updates_track_leaf_sets(&net, seed);
        // Routing tables still hold crashed nodes (lazy repair): a hop into
        // one times out, is retransmitted, then rerouted.
        let checked = net.check_lookups(APP, 200, Duration::from_secs(30));
        assert_eq!(checked, Ok(()), "seed {seed}");
    }
}

#[test]
fn routing_under_ten_percent_loss_delivers_every_message_exactly_once() {
    for seed in common::seeds(&[6, 7, 22, 71]) {
        let mut net = Net::ring(64, seed);
        net.loss = 0.10;
        let checked = net.check_lookups(APP, 300, Duration::from_secs(30));
        assert_eq!(checked, Ok(()), "seed {seed}");
        let reroutes: u64 = net.nodes.iter().map(|n| n.stats().reroutes).sum();
        assert!(
            reroutes > 0,
            "seed {seed}: 10 % loss must have cost some hops a retransmission"
        );
        let duplicates: u64 = net.nodes.iter().map(|n| n.stats().drops.duplicate).sum();
        assert!(
            duplicates > 0,
            "seed {seed}: some retransmissions must have crossed a lost ack"
        );
    }
}

#[test]
fn a_root_that_denies_an_end_node_app_hands_the_message_to_the_next_replica() {
    let mut net = Net::ring(32, 7);
    let denied = AppId(99);
    for k in 0..30u32 {
        let key = net.random_id();
        let root = net.true_root(key);
        let second = {
            let mut by: Vec<usize> = net.live();
            by.sort_by(|&a, &b| key.cmp_closeness(net.nodes[a].own().id, net.nodes[b].own().id));
            by[1]
        };
        net.nodes[root]
            .policy_mut()
            .set(
                denied,
                pastry_core::node::AppPolicy {
                    allow: false,
                    per_hop: false,
                    receipts: true,
                },
            )
            .unwrap();
        let id = net.route(k as usize % 32, key, denied, b"x");
        net.run_for(Duration::from_secs(1));
        let d: Vec<_> = net.delivered.iter().filter(|d| d.msg_id == id).collect();
        assert_eq!(d.len(), 1, "key {key}");
        assert_eq!(d[0].at, second, "key {key}: not served by the next replica");
        net.nodes[root]
            .policy_mut()
            .set(
                denied,
                pastry_core::node::AppPolicy {
                    allow: true,
                    per_hop: false,
                    receipts: true,
                },
            )
            .unwrap();
    }
}

#[test]
fn a_message_no_node_accepts_is_reported_to_its_source() {
    let mut net = Net::ring(16, 10);
    let denied = AppId(98);
    for i in net.live() {
        net.nodes[i]
            .policy_mut()
            .set(
                denied,
                pastry_core::node::AppPolicy {
                    allow: false,
                    per_hop: false,
                    receipts: true,
                },
            )
            .unwrap();
    }
    let mut remote = 0;
    for k in 0..20u32 {
        let key = net.random_id();
        let from = k as usize % 16;
        if net.true_root(key) != from {
            remote += 1;
        }
        let id = net.route(from, key, denied, b"x");
        net.run_for(Duration::from_secs(2));
        assert!(
            net.delivered.iter().all(|d| d.msg_id != id),
            "key {key}: delivered though every node denies the app"
        );
        let failed: Vec<_> = net.failed.iter().filter(|f| f.1 == id).collect();
        assert_eq!(
            failed,
            [&(from, id)],
            "key {key}: the source must hear once"
        );
    }
    assert!(
        remote > 0,
        "some failures must have happened away from the source"
    );
}

#[test]
fn a_joining_node_never_delivers_before_it_is_active() {
    for seed in common::seeds(&[12, 13]) {
        let mut net = Net::ring(32, seed);
        for _ in 0..5 {
            let old_live = net.live();
            let j = net.join_one(Config::default());
            let jid = net.peer(j).id;
            // The keys the joiner will be root of, sent while it joins.
            let mut sent = Vec::new();
            for k in 0..20u32 {
                let key = if k % 2 == 0 { jid } else { net.random_id() };
                let old_root = old_live
                    .iter()
                    .copied()
                    .min_by(|&a, &b| key.cmp_closeness(net.peer(a).id, net.peer(b).id))
                    .unwrap();
                let from = old_live[k as usize % old_live.len()];
                sent.push((net.route(from, key, APP, b"j"), key, old_root));
                net.run_for(Duration::from_millis(40));
            }
            net.run_for(Duration::from_secs(10));
            assert!(net.nodes[j].is_active(), "seed {seed}: joiner not active");
            for (id, key, old_root) in sent {
                let d: Vec<_> = net.delivered.iter().filter(|d| d.msg_id == id).collect();
                assert_eq!(d.len(), 1, "seed {seed}: key {key}");
                assert!(
                    d[0].was_active,
                    "seed {seed}: delivered by a node not active"
                );
                assert!(
                    d[0].at == old_root || d[0].at == net.true_root(key),
                    "seed {seed}: key {key} at neither its old nor its new root"
                );
            }
        }
        assert!(
            net.delivered.iter().all(|d| d.was_active),
            "seed {seed}: a delivery by a node not active"
        );
    }
}

#[test]
fn a_graceful_leave_is_repaired_at_once() {
    for seed in common::seeds(&[14, 15]) {
        let mut net = Net::ring(48, seed);
        for _ in 0..4 {
            let live = net.live();
            let x = live[net.rng.below(live.len() as u64) as usize];
            let failures_before: u64 = net.nodes.iter().map(|n| n.stats().failures).sum();
            let now = net.now;
            net.nodes[x].leave(now).unwrap();
            net.drain(x);
            assert!(net.nodes[x].leave(now).is_err(), "leaving twice is misuse");
            net.crash(x); // gone from the network's view
            // Well inside a lease: no failure detection involved.
            net.run_for(Duration::from_secs(3));
            let wrong = net.wrong_leaf_sets();
            assert!(wrong.is_empty(), "seed {seed}: after {x} left: {wrong:?}");
            let failures: u64 = net.nodes.iter().map(|n| n.stats().failures).sum();
            assert_eq!(
                failures, failures_before,
                "seed {seed}: a leave is not a failure"
            );
            // Routing tables elsewhere still name the leaver (lazy repair):
            // those hops time out and reroute.
            let checked = net.check_lookups(APP, 20, Duration::from_secs(10));
            assert_eq!(checked, Ok(()), "seed {seed}");
            // Let those suspicions of the leaver end (as failures of a
            // table entry) before the next leave is judged.
            net.run_for(Duration::from_secs(30));
        }
    }
}

/// What a node's observable state is, for before/after comparison.
fn snapshot(n: &common::net::SimNode<Passthrough>) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {} {} {:?}",
        n.phase(),
        n.leaf_set().left(),
        n.leaf_set().right(),
        n.routing_table().entries().collect::<Vec<_>>(),
        n.messages_held(),
        n.probes_outstanding(),
        n.poll_timeout(),
    )
}

#[test]
fn malformed_datagrams_are_counted_and_change_nothing() {
    let mut net = Net::ring(16, 8);
    let target = 3;
    let before = snapshot(&net.nodes[target]);
    let stats_before = net.nodes[target].stats().clone();
    let from = net.addr(5);
    let now = net.now;
    // A valid frame to mutate: a heartbeat from another node, re-encoded.
    let mut rng = pastry_core::rng::SmallRng::new(8);
    let mut garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        b"PA".to_vec(),
        [b'P', b'A', pastry_core::wire::VERSION, 4].to_vec(),
        vec![0xff; 2_000],
    ];
    for _ in 0..2_000 {
        let len = rng.below(120) as usize;
        let mut g: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len > 4 {
            // This version's header, so the garbage reaches the session
            // layer, and some claim a member's id.
            g[..3].copy_from_slice(&[b'P', b'A', pastry_core::wire::VERSION]);
            g[3] = 1 + rng.below(pastry_core::wire::Kind::ALL.len() as u64) as u8;
            if len > 30 && rng.below(2) == 0 {
                g[6..26].copy_from_slice(&net.peer(target).id.to_bytes());
            }
        }
        garbage.push(g);
    }
    let mut accepted = 0;
    for g in &garbage {
        net.nodes[target].handle_datagram(now, from, g);
        if pastry_core::wire::Message::decode(g).is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 0,
        "the garbage must be invalid for this test to mean anything"
    );
    // Nothing to report, nothing changed, and nothing sent but notices
    // that a sender's session is stale here, each shorter than the
    // shortest datagram that can prompt one (a header and a trailer).
    let mut buf = [0u8; 1_280];
    while let Some(tx) = net.nodes[target].poll_transmit(&mut buf).unwrap() {
        assert_eq!(buf[3], pastry_core::wire::Kind::Stale as u8, "{tx:?}");
        assert_eq!(tx.destination, from);
        assert!(tx.len < pastry_core::wire::HEADER_LEN_V4 + pastry_core::session::TRAILER_BYTES);
    }
    assert!(net.nodes[target].poll_event().is_none());
    assert_eq!(snapshot(&net.nodes[target]), before);
    let s = net.nodes[target].stats();
    let drops = s.drops.malformed
        + s.drops.unsupported_version
        + s.drops.oversized
        + s.drops.unauthenticated;
    let drops_before = stats_before.drops.malformed
        + stats_before.drops.unsupported_version
        + stats_before.drops.oversized
        + stats_before.drops.unauthenticated;
    assert_eq!(drops - drops_before, garbage.len() as u64);
}

/// Control traffic of a ring at rest stays small (the target at 60-minute
/// sessions is 0.3 messages per node per second; at rest it should be a
/// fraction of that). Prints the figure:
/// `cargo test -p pastry-core --test node control_traffic -- --nocapture`.
#[test]
fn control_traffic_at_rest_is_small() {
    let mut net = Net::ring(64, 9);
    net.run_for(Duration::from_secs(600));
    let before: u64 = net.nodes.iter().map(|n| n.stats().control_sent()).sum();
    let secs = 1_800;
    net.run_for(Duration::from_secs(secs));
    let after: u64 = net.nodes.iter().map(|n| n.stats().control_sent()).sum();
    let rate = (after - before) as f64 / 64.0 / secs as f64;
    eprintln!("control messages per node per second at rest: {rate:.4}");
    assert!(rate > 0.0, "a ring at rest still sends heartbeats");
    assert!(rate <= 0.1, "control traffic at rest {rate:.4} msg/node/s");
    assert!(net.wrong_leaf_sets().is_empty());
}

#[test]
fn a_join_no_one_answers_fails_cleanly_and_can_be_retried() {
    use pastry_core::wire::{Body, JoinReply, Kind, LeafSetView, Message, PeerList};
    use pastry_core::{Event, Instant, Node};
    let config = Config::default();
    let id = common::keys(b"lonely");
    let mut node: Node = Node::new(config.clone(), id, common::addr(1), 5).unwrap();
    let mut now = Instant::from_secs(1);
    node.join(now, Some(common::addr(2))).unwrap();
    let mut buf = vec![0u8; config.max_datagram];
    let (mut requests, mut failed) = (0, false);
    // A node on the way offers table rows, but the root never answers: the
    // rows' probes (their handshakes, which nobody answers) are still out
    // when the join gives up.
    let mut rng = pastry_core::rng::SmallRng::new(5);
    let offered: Vec<pastry_core::Peer> = (0..3).map(|_| common::random_peer(&mut rng)).collect();
    let mut bootstrap = common::speaker::Speaker::new(common::keys(b"boot"), common::addr(2));
    let reply = Message {
        app: AppId::OVERLAY,
        sender: bootstrap.me,
        body: Body::JoinReply(JoinReply {
            from_root: false,
            rows: PeerList::Peers(&offered),
            leaf_set: LeafSetView {
                left: PeerList::Peers(&[]),
                right: PeerList::Peers(&[]),
            },
        }),
    };
    let mut hs = vec![0u8; config.max_datagram];
    // Each deadline is honoured.
    for _ in 0..1_000 {
        while let Ok(Some(tx)) = node.poll_transmit(&mut buf) {
            if tx.destination != common::addr(2) {
                continue;
            }
            // The bootstrap answers handshakes, and counts join requests.
            let got = bootstrap.open(now, node.own().addr, &buf[..tx.len]);
            if matches!(got.map(|m| m.body.kind()), Some(Kind::JoinRequest)) {
                requests += 1;
                if requests == 1 {
                    let sealed = bootstrap.seal(now, node.own().addr, &reply);
                    node.handle_datagram(now, common::addr(2), &sealed);
                }
            }
            while let Some((to, len, _)) = bootstrap
                .guard
                .poll_transmit(bootstrap.me, &mut hs)
                .unwrap()
            {
                assert_eq!(to, node.own().addr);
                node.handle_datagram(now, common::addr(2), &hs[..len]);
            }
        }
        while let Some(ev) = node.poll_event() {
            failed |= matches!(ev, Event::JoinFailed);
        }
        let Some(t) = node.poll_timeout() else { break };
        assert!(
            t > now,
            "a deadline that does not move would spin a runtime"
        );
        now = t;
        node.handle_timeout(now);
    }
    assert!(failed, "the join is reported failed");
    // Each of the 1 + join_retries rounds sends the request, then again
    // on backed-off retransmission timeouts (never acked) within the round.
    let rounds = usize::from(config.join_retries) + 1;
    assert!(
        (rounds..=5 * rounds).contains(&requests),
        "{requests} join requests in {rounds} rounds"
    );
    assert_eq!(node.phase(), Phase::Idle);
    assert_eq!(
        node.poll_timeout(),
        None,
        "an idle node has nothing to wake for"
    );
    assert!(node.leaf_set().is_empty(), "nothing half-learned is kept");
    // It can try again: alone, it is a ring of one.
    node.join(now, None).unwrap();
    assert_eq!(node.phase(), Phase::Active);
}

#[test]
fn a_leaving_node_hands_on_the_messages_it_holds() {
    for seed in common::seeds(&[16, 17, 18]) {
        let mut net = Net::ring(32, seed);
        let x = net.live()[0];
        // A key x is not the root of, so the message leaves x.
        let (key, first) = loop {
            let key = net.random_id();
            let first = net.nodes[x].local_lookup(key, 1)[0];
            if first.id != net.peer(x).id {
                break (key, net.index_of(first.id));
            }
        };
        let id = net.route(x, key, APP, b"hand on");
        // Its first hop dies with the message on the way, and x leaves
        // before the hop's silence could be noticed.
        net.crash(first);
        let now = net.now;
        net.nodes[x].leave(now).unwrap();
        net.drain(x);
        net.crash(x);
        net.run_for(Duration::from_secs(60));
        let root = net.true_root(key);
        let at = net.delivered_at(id);
        assert_eq!(
            at,
            vec![root],
            "seed {seed}: delivered at {at:?}, root {root}"
        );
    }
}

/// Two bare nodes and a clock: what each sends is returned, not delivered,
/// so a test decides what the network does.
struct Pair {
    nodes: [pastry_core::Node; 2],
    now: pastry_core::Instant,
    buf: Vec<u8>,
    /// The joiner's first join request, sent once the pair's handshake
    /// was done.
    first: Vec<(std::net::SocketAddr, Vec<u8>)>,
}

impl Pair {
    /// Node 0 is a ring of one; node 1 starts joining through it.
    fn new(config: &Config) -> Pair {
        use pastry_core::{Instant, Node};
        let mk = |i: u8| {
            Node::new(
                config.clone(),
                common::keys(&[i]),
                common::addr(u16::from(i) + 1),
                u64::from(i),
            )
            .unwrap()
        };
        let mut p = Pair {
            nodes: [mk(0), mk(1)],
            now: Instant::from_secs(1),
            buf: vec![0; config.max_datagram],
            first: Vec::new(),
        };
        p.nodes[0].join(p.now, None).unwrap();
        p.nodes[1].join(p.now, Some(common::addr(1))).unwrap();
        // The handshake first; the join request it released is held back
        // for the test to deliver or lose.
        let mut to_joiner = Vec::new();
        for _ in 0..4 {
            for (_, bytes) in p.sent(1) {
                if kind(&bytes) == Some(pastry_core::wire::Kind::JoinRequest) {
                    p.first = vec![(common::addr(1), bytes)];
                    return p;
                }
                p.deliver(0, &bytes);
            }
            to_joiner.extend(p.sent(0));
            for (_, bytes) in std::mem::take(&mut to_joiner) {
                p.deliver(1, &bytes);
            }
        }
        panic!("no handshake between the pair");
    }

    /// What node `i` sends now: (destination, bytes).
    fn sent(&mut self, i: usize) -> Vec<(std::net::SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match self.nodes[i].poll_output(&mut self.buf) {
                Ok(Output::Transmit(tx)) => {
                    out.push((tx.destination, self.buf[..tx.len].to_vec()));
                }
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(_)) | Err(_) => return out,
            }
        }
    }

    /// Node `i` receives `bytes` from the other node.
    fn deliver(&mut self, i: usize, bytes: &[u8]) {
        let from = common::addr(2 - i as u16);
        self.nodes[i].handle_datagram(self.now, from, bytes);
    }

    /// Moves the clock to node `i`'s next deadline and fires it.
    fn tick(&mut self, i: usize) {
        let t = self.nodes[i].poll_timeout().expect("a deadline");
        self.now = t;
        self.nodes[i].handle_timeout(t);
    }
}

/// The kind a datagram's header names (sealed or not).
fn kind(bytes: &[u8]) -> Option<pastry_core::wire::Kind> {
    bytes
        .get(3)
        .and_then(|&k| pastry_core::wire::Kind::from_u8(k))
}

/// MSPastry acks the join request's first hop like any hop: a request
/// the bootstrap dropped (its message pool full under a burst of joins,
/// or the datagram lost) is sent again after a retransmission timeout, not
/// after the whole join timeout (the loopback benchmark's 256 nodes joining
/// at once waited 2 s for it).
#[test]
fn a_join_request_the_bootstrap_never_acked_is_sent_again_after_an_rto() {
    use pastry_core::wire::Kind;
    let config = Config::default();
    let mut p = Pair::new(&config);
    let start = p.now;
    let first = std::mem::take(&mut p.first);
    assert_eq!(first.len(), 1);
    assert_eq!(kind(&first[0].1), Some(Kind::JoinRequest));
    // Lost. The joiner's next deadline is one initial RTO away, and then it
    // sends the request again.
    p.tick(1);
    assert_eq!(p.now, start + config.initial_rto);
    let again = p.sent(1);
    assert!(
        again
            .iter()
            .any(|(_, b)| kind(b) == Some(Kind::JoinRequest)),
        "the request is sent again: {again:?}"
    );
    // Delivered this time: the pair exchanges until the joiner is active,
    // well within one join timeout of the start.
    let mut to = [Vec::new(), again];
    for _ in 0..20 {
        for i in 0..2 {
            for (_, bytes) in std::mem::take(&mut to[1 - i]) {
                p.deliver(i, &bytes);
            }
            to[i] = p.sent(i);
        }
        if p.nodes[1].is_active() {
            break;
        }
    }
    assert!(p.nodes[1].is_active(), "{:?}", p.nodes[1].phase());
    assert!(p.now < start + config.join_timeout);
}

/// Once the bootstrap has acked the request, the joiner waits the join
/// timeout for the join itself before it asks again.
#[test]
fn an_acked_join_request_is_not_sent_again_before_the_join_timeout() {
    use pastry_core::wire::Kind;
    let config = Config::default();
    let mut p = Pair::new(&config);
    let start = p.now;
    for (_, bytes) in std::mem::take(&mut p.first) {
        p.deliver(0, &bytes);
    }
    // Only the bootstrap's ack arrives; its reply is lost.
    let answers = p.sent(0);
    let ack = answers
        .iter()
        .find(|(_, b)| kind(b) == Some(Kind::Ack))
        .expect("the bootstrap acks the first hop");
    p.deliver(1, &ack.1.clone());
    let mut resent_at = None;
    for _ in 0..10 {
        p.tick(1);
        if p.sent(1)
            .iter()
            .any(|(_, b)| kind(b) == Some(Kind::JoinRequest))
        {
            resent_at = Some(p.now);
            break;
        }
    }
    assert_eq!(resent_at, Some(start + config.join_timeout));
}

/// A node that crashes and starts again at once, with its key and address
/// (a service restarted by its supervisor): its neighbours still hold its
/// old self, and it must still join, and the ring be whole again.
#[test]
fn a_node_restarted_at_once_with_its_key_and_address_rejoins() {
    for seed in common::seeds(&[21, 22, 23]) {
        let lan = pastry_core::StackConfig::lan().node;
        let mut net = Net::new(seed);
        net.form(32, &lan);
        net.loss = 0.05;
        let live = net.live();
        let victim = live[7];
        let through = live[0];
        net.crash(victim);
        net.run_for(Duration::from_millis(500));
        net.restart(victim, lan);
        net.join_through(victim, through);
        net.run_for(Duration::from_secs(180));
        assert_eq!(
            net.nodes[victim].0.node().phase(),
            Phase::Active,
            "seed {seed}: the restarted node did not rejoin"
        );
        let wrong = net.wrong_leaf_sets();
        assert!(wrong.is_empty(), "seed {seed}: {wrong:?}");
    }
}

/// Two ring neighbours crash and restart together with their keys and
/// addresses: each new process answers its neighbours for its old self,
/// so the overlay routes each one's join to the other, which is joining
/// too. Both must still get in (before, each held the other's join
/// until it was active itself, and neither ever was).
#[test]
fn two_neighbours_restarted_together_both_rejoin() {
    for seed in common::seeds(&[24, 25, 26]) {
        let lan = pastry_core::StackConfig::lan().node;
        let mut net = Net::new(seed);
        net.form(32, &lan);
        let mut ring = net.live();
        ring.sort_by_key(|&i| net.nodes[i].own().id);
        let (a, b) = (ring[10], ring[11]);
        let (through_a, through_b) = (ring[0], ring[20]);
        net.crash(a);
        net.crash(b);
        net.run_for(Duration::from_millis(500));
        net.restart(a, lan.clone());
        net.restart(b, lan.clone());
        net.join_through(a, through_a);
        net.join_through(b, through_b);
        net.run_for(Duration::from_secs(120));
        for i in [a, b] {
            assert_eq!(
                net.nodes[i].0.node().phase(),
                Phase::Active,
                "seed {seed}: restarted node {i} did not rejoin"
            );
        }
        let wrong = net.wrong_leaf_sets();
        assert!(wrong.is_empty(), "seed {seed}: {wrong:?}");
    }
}

#[test]
fn a_silent_table_entry_is_rerouted_at_once_a_silent_leaf_member_retried_first() {
    for seed in common::seeds(&[31, 32, 33]) {
        let mut net = Net::ring(48, seed);
        // A routing-table entry of node 0 that is not in its leaf set, and
        // a leaf-set member; each crashes, unannounced.
        let table_only = (0..8)
            .flat_map(|row| (0..16).map(move |col| (row, col)))
            .filter_map(|(row, col)| net.nodes[0].routing_table().at(row, col).copied())
            .map(|e| e.peer)
            .find(|p| !net.nodes[0].leaf_set().contains(p.id))
            .expect("a table entry outside the leaf set");
        let member = *net.nodes[0].leaf_set().members().next().unwrap();
        let (x, y) = (net.index_of(table_only.id), net.index_of(member.id));
        let mut probes = Vec::new();
        for (dead, key, sends) in [(x, table_only.id, 1), (y, member.id, 2)] {
            // Crashed just before: its neighbours have not noticed yet.
            net.crash(dead);
            let id = net.route(0, key, APP, b"to a departed node's key");
            net.run_for(Duration::from_secs(60));
            assert_eq!(
                net.delivered_at(id),
                [net.true_root(key)],
                "seed {seed}: delivered once at the live root"
            );
            assert_eq!(
                net.routed_pairs.get(&(0, dead)).copied(),
                Some(sends),
                "seed {seed}: sends to the silent hop before the reroute"
            );
            probes.push(net.probe_pairs.get(&(0, dead)).copied().unwrap_or(0));
        }
        // A suspected member gets every retry (a wrong verdict moves
        // roots); a table entry fewer (it costs a slot).
        assert!(
            probes[0] < probes[1],
            "seed {seed}: probes of the silent entry and member: {probes:?}"
        );
    }
}

/// A table entry that departed unannounced: the message goes round it to
/// the slot's spare, which shares as many digits with the key, not to a
/// leaf-set member that shares fewer (before spares, each such reroute
/// took a hop more and met the same departed entry again at the next
/// node: 1,000 nodes at 10-minute sessions, 3.45 hops a lookup, now 3.0).
#[test]
fn a_departed_table_entry_is_routed_round_through_its_spare() {
    for seed in common::seeds(&[34, 35, 36]) {
        let mut net = Net::ring(48, seed);
        net.run_for(Duration::from_secs(30));
        let n0 = &net.nodes[0];
        let outside = |p: &pastry_core::Peer| !n0.leaf_set().contains(p.id);
        let (entry, spare) = (0..8)
            .flat_map(|row| (0..16).map(move |col| (row, col)))
            .filter_map(|(r, c)| {
                let t = n0.routing_table();
                Some((t.at(r, c)?.peer, t.spare_at(r, c)?.peer))
            })
            .find(|(e, s)| outside(e) && outside(s))
            .unwrap_or_else(|| panic!("seed {seed}: no slot with a spare outside the leaf set"));
        let (x, s) = (net.index_of(entry.id), net.index_of(spare.id));
        net.crash(x);
        let to_members = |net: &Net| {
            (net.nodes[0].leaf_set().members())
                .map(|p| {
                    net.routed_pairs
                        .get(&(0, net.index_of(p.id)))
                        .copied()
                        .unwrap_or(0)
                })
                .sum::<u32>()
        };
        let before = (
            to_members(&net),
            net.routed_pairs.get(&(0, s)).copied().unwrap_or(0),
        );
        let id = net.route(0, entry.id, APP, b"to a departed entry's key");
        // Past the entry's timeout, before the source would send it again.
        net.run_for(Duration::from_secs(3));
        let after = (
            to_members(&net),
            net.routed_pairs.get(&(0, s)).copied().unwrap_or(0),
        );
        assert_eq!(after.1, before.1 + 1, "seed {seed}: sent on to the spare");
        assert_eq!(after.0, before.0, "seed {seed}: not to a leaf-set member");
        net.run_for(Duration::from_secs(60));
        assert_eq!(
            net.delivered_at(id),
            [net.true_root(entry.id)],
            "seed {seed}: delivered once at the live root"
        );
    }
}

#[test]
fn a_crash_costs_each_member_one_candidate_probe_not_one_per_offer() {
    for seed in common::seeds(&[40, 41, 42]) {
        let mut net = Net::ring(64, seed);
        net.run_for(Duration::from_secs(60));
        let gone = net.live()[net.rng.below(64) as usize];
        let members: Vec<usize> = net.nodes[gone]
            .leaf_set()
            .members()
            .map(|p| net.index_of(p.id))
            .collect();
        let before: Vec<Vec<Id>> = members
            .iter()
            .map(|&m| net.nodes[m].leaf_set().members().map(|p| p.id).collect())
            .collect();
        let probes = net.probe_pairs.clone();
        net.crash(gone);
        net.run_for(Duration::from_secs(120));
        let wrong = net.wrong_leaf_sets();
        assert!(wrong.is_empty(), "seed {seed}: not repaired: {wrong:?}");
        // Probes from the members to live nodes that were not members
        // before and are not now: candidates that found no place (some
        // still measured for the routing table). Each member needs one
        // replacement; probing every candidate the repair's leaf sets
        // offered cost 75-97 here.
        let mut wasted = 0;
        for (k, &m) in members.iter().enumerate() {
            for (&(from, to), &n) in &net.probe_pairs {
                let id = net.nodes[to].own().id;
                let stayed_out = !before[k].contains(&id) && !net.nodes[m].leaf_set().contains(id);
                if from == m && to != gone && stayed_out {
                    wasted += n - probes.get(&(from, to)).copied().unwrap_or(0);
                }
            }
        }
        assert!(
            wasted <= 3 * members.len() as u32,
            "seed {seed}: {wasted} probes of candidates that found no place"
        );
    }
}
