//! Scribe on the in-memory network, judged against the network's global
//! view: every node's tree state, the true root of each group id, and who
//! was a member when each publication was sent.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::net::{Net, ScribeDone};
use common::seeds;
use pastry_core::scribe::{AnycastError, Group, Joins, ScribeConfig, ScribeError, group_id};
use pastry_core::{Config, Id};

type Ring = Net<Joins>;

/// `Scribe::max_publish_len` as the crate docs state it.
const DOC_MAX_PUBLISH: usize = 1_014;
/// `Scribe::max_anycast_len` as the crate docs state it.
const DOC_MAX_ANYCAST: usize = 717;

fn ring(n: usize, seed: u64, loss: f64) -> Ring {
    let mut net = Net::<Joins>::with_forwarders(seed);
    net.scribe_config = Some(ScribeConfig::default());
    net.form(n, &Config::default());
    net.loss = loss;
    net
}

fn subscribe(net: &mut Ring, i: usize, group: Id) {
    net.with_scribe(i, |s, now, node| s.subscribe(now, node, group))
        .expect("subscribe");
}

/// Node `i`'s place in `group`'s tree, if it is on it.
fn tree(net: &Ring, i: usize, group: Id) -> Option<&Group<4>> {
    net.scribe_ref(i)?.group(group)
}

/// Members of `group`, from each live node's own state.
fn members(net: &Ring, group: Id) -> BTreeSet<usize> {
    net.live()
        .into_iter()
        .filter(|&i| tree(net, i, group).is_some_and(|g| g.member))
        .collect()
}

/// The tree of `group` is sound: parent and live child pointers agree, every
/// node on it reaches the true root by parent pointers without a cycle,
/// only that node calls itself the root, and fan-out stays bounded.
fn check_tree(net: &Ring, group: Id) -> Result<(), String> {
    let root = net.true_root(group);
    let on: BTreeMap<usize, _> = net
        .live()
        .into_iter()
        .filter_map(|i| Some((i, tree(net, i, group)?)))
        .collect();
    for (&i, g) in &on {
        if g.root != (i == root) {
            return Err(format!(
                "node {i} root={} but the true root is {root}",
                g.root
            ));
        }
        for c in &g.children {
            let ci = net.index_of(c.id);
            if !net.alive[ci] {
                // A failed child is dropped when a message for it reaches
                // the node now nearest its id, which the overlay holds until
                // it declares the failure (MSPastry consistency).
                continue;
            }
            let back = on.get(&ci).and_then(|cg| cg.parent).map(|p| p.id);
            if back != Some(net.nodes[i].own().id) {
                return Err(format!(
                    "node {i} lists child {ci}, whose parent is {back:?}"
                ));
            }
        }
        if let Some(p) = g.parent {
            let pi = net.index_of(p.id);
            let listed = on
                .get(&pi)
                .is_some_and(|pg| pg.has_child(net.nodes[i].own().id));
            if net.alive[pi] && !listed {
                return Err(format!("node {i}'s parent {pi} does not list it"));
            }
        }
        // Up to the root without meeting a node twice.
        let (mut at, mut seen) = (i, BTreeSet::new());
        while at != root {
            if !seen.insert(at) {
                return Err(format!("cycle through {at} above {i}"));
            }
            let Some(p) = on.get(&at).and_then(|g| g.parent) else {
                return Err(format!("node {at} (above {i}) has no parent"));
            };
            at = net.index_of(p.id);
            if !net.alive[at] || !on.contains_key(&at) {
                return Err(format!(
                    "node {i}'s chain reaches {at}, which is not on the tree"
                ));
            }
        }
    }
    if !on.is_empty() && !on.contains_key(&root) {
        return Err(format!("the true root {root} is not on the tree"));
    }
    Ok(())
}

/// Publishes from `from`; then every member (at the time) must deliver it
/// exactly once and no one else at all.
fn publish_and_check(net: &mut Ring, from: usize, group: Id, data: &[u8]) -> Result<(), String> {
    let want = members(net, group);
    let id = net
        .with_scribe(from, |s, now, node| s.publish(now, node, group, data))
        .map_err(|e| format!("publish: {e}"))?;
    net.run_for(Duration::from_secs(3));
    let got = deliveries(net, group, id, data);
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    let got: BTreeSet<usize> = got.keys().copied().collect();
    if !twice.is_empty() || got != want {
        return Err(format!(
            "publication {id:#x}: delivered twice at {twice:?}; missing at {:?}; extra at {:?}",
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>(),
        ));
    }
    Ok(())
}

/// How many times each node delivered publication `id` of `group`, whose
/// payload must still be `data`.
fn deliveries(net: &Ring, group: Id, id: u64, data: &[u8]) -> BTreeMap<usize, usize> {
    let mut got: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, _, d) in &net.scribe_done {
        if let ScribeDone::Delivered {
            group: g,
            id: x,
            data: bytes,
        } = d
        {
            if *g == group && *x == id {
                assert_eq!(bytes, data, "payload changed on the way");
                *got.entry(*i).or_default() += 1;
            }
        }
    }
    got
}

fn pick(net: &mut Ring, from: &[usize]) -> usize {
    from[net.rng.below(from.len() as u64) as usize]
}

#[test]
fn publish_reaches_every_member_exactly_once_over_sound_trees() {
    for seed in seeds(&[1, 2, 3]) {
        let mut net = ring(64, seed, 0.0);
        let live = net.live();
        // Three groups: a few members, a third of the nodes, everyone.
        let groups: Vec<(Id, usize)> = [("small", 4), ("third", 21), ("all", 64)]
            .iter()
            .map(|(n, k)| (group_id(n.as_bytes()), *k))
            .collect();
        for &(group, k) in &groups {
            let mut order = live.clone();
            for j in (1..order.len()).rev() {
                order.swap(j, net.rng.below(j as u64 + 1) as usize);
            }
            for &i in &order[..k] {
                subscribe(&mut net, i, group);
                net.run_for(Duration::from_millis(50));
            }
        }
        net.run_for(Duration::from_secs(10));
        for &(group, k) in &groups {
            assert_eq!(members(&net, group).len(), k, "seed {seed}");
            check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            for _ in 0..3 {
                let from = pick(&mut net, &live);
                publish_and_check(&mut net, from, group, b"news")
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            }
        }
        // Every member was told it is on the tree, once per group.
        let attached = net
            .scribe_done
            .iter()
            .filter(|(_, _, d)| matches!(d, ScribeDone::Attached(_)))
            .count();
        assert_eq!(attached, 4 + 21 + 64, "seed {seed}");
        // 64 members under fan-out 4: some subscribes were passed down.
        let pushed: u64 = live
            .iter()
            .map(|&i| net.scribe(i).stats().pushed_down)
            .sum();
        assert!(pushed > 0, "seed {seed}: fan-out never bounded anything");
    }
}

#[test]
fn trees_survive_loss_and_deliver_exactly_once() {
    for seed in seeds(&[4, 5]) {
        let mut net = ring(64, seed, 0.02);
        let live = net.live();
        let group = group_id(b"lossy");
        for &i in live.iter().step_by(2) {
            subscribe(&mut net, i, group);
        }
        net.run_for(Duration::from_secs(15));
        check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // A lost datagram on a tree edge loses a publication below it (no
        // end-to-end repair), so judge delivery with the loss turned off
        // after the tree was built under it.
        net.loss = 0.0;
        for _ in 0..3 {
            let from = pick(&mut net, &live);
            publish_and_check(&mut net, from, group, b"x")
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }
}

#[test]
fn anycast_reaches_one_member_that_accepts() {
    for seed in seeds(&[6, 7]) {
        let mut net = ring(64, seed, 0.0);
        let live = net.live();
        let group = group_id(b"workers");
        let subs: Vec<usize> = live.iter().copied().step_by(3).collect();
        for &i in &subs {
            subscribe(&mut net, i, group);
        }
        // Three members accept; the others decline.
        let accepting: BTreeSet<usize> = subs.iter().copied().skip(2).step_by(7).take(3).collect();
        for &i in &accepting {
            net.scribe(i).acceptor_mut().accepting = true;
        }
        net.run_for(Duration::from_secs(10));
        let mut ops = Vec::new();
        for k in 0..12u8 {
            let from = pick(&mut net, &live);
            let op = net
                .with_scribe(from, |s, now, node| s.anycast(now, node, group, &[k]))
                .expect("anycast");
            ops.push((from, op, k));
            net.run_for(Duration::from_secs(2));
        }
        for &(from, op, k) in &ops {
            let outcome = net.scribe_done.iter().find_map(|(i, _, d)| match d {
                ScribeDone::Accepted { op: o, by } if *o == op && *i == from => Some(*by),
                ScribeDone::Failed { op: o, error } if *o == op && *i == from => {
                    panic!("seed {seed}: anycast {k} failed: {error:?}")
                }
                _ => None,
            });
            let by = outcome.unwrap_or_else(|| panic!("seed {seed}: anycast {k}: no outcome"));
            let by = net.index_of(by);
            assert!(accepting.contains(&by), "seed {seed}: {by} does not accept");
            // Exactly one member took it, and it was the one named.
            let takers: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&i| {
                    net.scribe_ref(i)
                        .unwrap()
                        .acceptor()
                        .taken
                        .contains(&(group, vec![k]))
                })
                .collect();
            assert_eq!(takers, [by], "seed {seed}: anycast {k}");
            // The taker's application heard of it, with the bytes and the
            // sender; nobody else did (a node taking its own anycast hears
            // of it as Accepted).
            let origin = net.nodes[from].own().id;
            let heard: Vec<usize> = net
                .scribe_done
                .iter()
                .filter(|(_, _, d)| {
                    *d == ScribeDone::Taken {
                        group,
                        origin,
                        data: vec![k],
                    }
                })
                .map(|(i, _, _)| *i)
                .collect();
            let want: Vec<usize> = if by == from { vec![] } else { vec![by] };
            assert_eq!(heard, want, "seed {seed}: anycast {k}");
        }
        // Nobody accepts in a group of decliners, nor in an empty group.
        for &i in &accepting {
            net.scribe(i).acceptor_mut().accepting = false;
        }
        for (name, subscribe_some) in [("decliners", true), ("empty", false)] {
            let g = group_id(name.as_bytes());
            if subscribe_some {
                for &i in live.iter().take(10) {
                    subscribe(&mut net, i, g);
                }
                net.run_for(Duration::from_secs(5));
            }
            let from = live[40];
            let op = net
                .with_scribe(from, |s, now, node| s.anycast(now, node, g, b"?"))
                .expect("anycast");
            net.run_for(Duration::from_secs(3));
            let failed = net.scribe_done.iter().any(|(i, _, d)| {
                *i == from
                    && *d
                        == ScribeDone::Failed {
                            op,
                            error: AnycastError::NoneAccepted,
                        }
            });
            assert!(
                failed,
                "seed {seed}: anycast to {name} did not report NoneAccepted"
            );
        }
    }
}

/// The node on `group`'s tree with the most children, other than the root.
fn busiest_parent(net: &Ring, group: Id) -> usize {
    let root = net.true_root(group);
    net.live()
        .into_iter()
        .filter(|&i| i != root)
        .max_by_key(|&i| tree(net, i, group).map_or(0, |g| g.children.len()))
        .unwrap()
}

#[test]
fn a_failed_parent_heals_within_the_heartbeat_and_a_round_trip() {
    for seed in seeds(&[8, 9, 10]) {
        let mut net = ring(64, seed, 0.01);
        let live = net.live();
        let group = group_id(b"heal");
        for &i in &live {
            subscribe(&mut net, i, group);
        }
        net.run_for(Duration::from_secs(10));
        check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let parent = busiest_parent(&net, group);
        let orphans = net.scribe(parent).group(group).unwrap().children.len();
        assert!(orphans > 0, "seed {seed}: no interior node");
        net.crash(parent);
        // Heartbeat period, then a subscribe's round trip (well under a
        // second here, with 5–50 ms links).
        let heartbeat = ScribeConfig::default().heartbeat;
        net.run_for(heartbeat + Duration::from_secs(1));
        check_tree(&net, group)
            .unwrap_or_else(|e| panic!("seed {seed}: after crashing {parent}: {e}"));
        let losses: u64 = net
            .live()
            .iter()
            .map(|&i| net.scribe(i).stats().parent_losses)
            .sum();
        assert!(
            losses >= orphans as u64,
            "seed {seed}: {losses} parent losses for {orphans} orphans"
        );
        net.loss = 0.0;
        let alive = net.live();
        let from = pick(&mut net, &alive);
        publish_and_check(&mut net, from, group, b"after")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // The failed child leaves its parent's table once the overlay has
        // declared it failed.
        net.run_for(Duration::from_secs(30));
        let stale: Vec<usize> = net
            .live()
            .into_iter()
            .filter(|&i| {
                net.scribe_ref(i)
                    .unwrap()
                    .group(group)
                    .is_some_and(|g| g.has_child(net.nodes[parent].own().id))
            })
            .collect();
        assert!(
            stale.is_empty(),
            "seed {seed}: {stale:?} still list {parent} as a child"
        );
    }
}

/// 48 nodes, every other one subscribed to group `name`, its tree sound.
fn half_subscribed(seed: u64, name: &[u8]) -> (Ring, Id) {
    let mut net = ring(48, seed, 0.0);
    let group = group_id(name);
    let live = net.live();
    for &i in live.iter().step_by(2) {
        subscribe(&mut net, i, group);
    }
    net.run_for(Duration::from_secs(10));
    check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    (net, group)
}

#[test]
fn the_tree_follows_its_root_when_the_root_fails_or_a_closer_node_joins() {
    for seed in seeds(&[11, 12]) {
        let (mut net, group) = half_subscribed(seed, b"moving");

        // The root fails: the next closest node takes the group over.
        let old_root = net.true_root(group);
        let old_id = net.nodes[old_root].own().id;
        net.crash(old_root);
        // Its children miss its heartbeats and tell their overlay nodes,
        // which route around it; the next closest node stands in as root
        // while the overlay still holds the old one in its leaf set, so
        // the tree heals within a heartbeat and a subscribe's round trip
        // (with a handshake on each hop between strangers).
        net.run_for(ScribeConfig::default().heartbeat + Duration::from_secs(3));
        let new_root = net.true_root(group);
        assert!(
            net.nodes[new_root].leaf_set().contains(old_id),
            "seed {seed}: the overlay already declared the old root failed"
        );
        check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: stand-in: {e}"));
        // The overlay delivers nothing for the group id at its new root
        // until the old one's leaf-set lease has run out and its probes
        // failed (MSPastry's consistency); the tree stays whole through
        // that hand-over.
        let c = Config::default();
        let detect = c.lease + c.probe_timeout * (u32::from(c.probe_retries) + 1);
        net.run_for(detect + 2 * ScribeConfig::default().heartbeat + Duration::from_secs(2));
        check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: root failed: {e}"));
        let alive = net.live();
        let from = pick(&mut net, &alive);
        publish_and_check(&mut net, from, group, b"one")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));

        // A node whose id is nearer the group id than any other joins: it
        // is the new root.
        let keys = net.keypair_nearest(group);
        let newcomer = net.add_with_keys(Config::default(), keys);
        let boot = net.live()[0];
        net.join_through(newcomer, boot);
        for _ in 0..60 {
            if net.nodes[newcomer].is_active() {
                break;
            }
            net.run_for(Duration::from_millis(500));
        }
        assert_eq!(
            net.true_root(group),
            newcomer,
            "seed {seed}: newcomer not active"
        );
        // It learns of the group when the old root, told of a closer node,
        // subscribes toward it; stale pointers of the hand-over heal within
        // two heartbeats.
        net.run_for(2 * ScribeConfig::default().heartbeat);
        check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: new root: {e}"));
        let alive = net.live();
        let from = pick(&mut net, &alive);
        publish_and_check(&mut net, from, group, b"two")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// A root that fails part way through sending a publication down: the
/// children it reached push it up to the new root when they reattach, so
/// every member still gets it, once.
#[test]
fn a_publication_the_root_sent_to_one_child_before_failing_reaches_every_member() {
    for seed in seeds(&[21, 22, 23]) {
        let (mut net, group) = half_subscribed(seed, b"half-sent");
        let root = net.true_root(group);
        let children: Vec<usize> = (tree(&net, root, group).unwrap().children.iter())
            .map(|c| net.index_of(c.id))
            .collect();
        // The node that takes the group over once the root is gone, and
        // the root's child it hangs from (or is).
        net.alive[root] = false;
        let next_root = net.true_root(group);
        net.alive[root] = true;
        let mut top = next_root;
        while let Some(p) = tree(&net, top, group).and_then(|g| g.parent) {
            if net.index_of(p.id) == root {
                break;
            }
            top = net.index_of(p.id);
        }
        // The publication reaches one child, in another subtree.
        assert!(children.len() >= 2, "seed {seed}: the root has one child");
        let reached = *children.iter().find(|&&c| c != top).unwrap();
        net.cut_links = (children.iter().filter(|&&c| c != reached))
            .map(|&c| (root, c))
            .collect();
        let want: BTreeSet<usize> = members(&net, group)
            .into_iter()
            .filter(|&m| m != root)
            .collect();
        let from = *net.live().iter().find(|&&i| i != root).unwrap();
        let sent = |net: &Ring| net.scribe_ref(root).unwrap().stats().data_sent;
        let before = sent(&net);
        let id = net
            .with_scribe(from, |s, now, node| s.publish(now, node, group, b"half"))
            .expect("publish");
        while sent(&net) == before {
            net.run_for(Duration::from_micros(100));
        }
        net.crash(root);
        net.cut_links.clear();
        let c = Config::default();
        let detect = c.lease + c.probe_timeout * (u32::from(c.probe_retries) + 1);
        net.run_for(detect + 2 * ScribeConfig::default().heartbeat);
        let got = deliveries(&net, group, id, b"half");
        assert!(got.values().all(|&n| n == 1), "seed {seed}: twice: {got:?}");
        let got: BTreeSet<usize> = got.into_keys().collect();
        assert_eq!(
            want.difference(&got).collect::<Vec<_>>(),
            Vec::<&usize>::new(),
            "seed {seed}: members missed it (reached child {reached})"
        );
    }
}

#[test]
fn unsubscribed_leaves_prune_the_tree_away() {
    let mut net = ring(48, 13, 0.0);
    let group = group_id(b"fleeting");
    let live = net.live();
    let subs: Vec<usize> = live.iter().copied().step_by(3).collect();
    for &i in &subs {
        subscribe(&mut net, i, group);
    }
    net.run_for(Duration::from_secs(5));
    let on_tree = |net: &Ring| {
        net.live()
            .into_iter()
            .filter(|&i| net.scribe_ref(i).unwrap().group(group).is_some())
            .count()
    };
    assert!(on_tree(&net) >= subs.len());
    // Half leave: the tree stays sound and only reaches those left.
    for &i in subs.iter().step_by(2) {
        net.with_scribe(i, |s, now, node| s.unsubscribe(now, node, group))
            .unwrap();
    }
    net.run_for(Duration::from_secs(3));
    check_tree(&net, group).unwrap();
    publish_and_check(&mut net, live[1], group, b"fewer").unwrap();
    // The rest leave: no node keeps any state for the group.
    for &i in subs.iter().skip(1).step_by(2) {
        net.with_scribe(i, |s, now, node| s.unsubscribe(now, node, group))
            .unwrap();
    }
    net.run_for(Duration::from_secs(3));
    assert_eq!(on_tree(&net), 0);
    let without: u64 = {
        let from = live[2];
        net.with_scribe(from, |s, now, node| s.publish(now, node, group, b"void"))
            .unwrap();
        net.run_for(Duration::from_secs(2));
        net.live()
            .iter()
            .map(|&i| net.scribe(i).stats().without_tree)
            .sum()
    };
    assert_eq!(without, 1);
}

#[test]
fn misuse_gets_typed_errors() {
    let mut net = Net::<Joins>::with_forwarders(14);
    net.scribe_config = Some(ScribeConfig::default());
    let idle = net.add(Config::default());
    let g = group_id(b"g");
    assert_eq!(
        net.with_scribe(idle, |s, now, node| s.subscribe(now, node, g)),
        Err(ScribeError::NotActive)
    );
    assert_eq!(
        net.with_scribe(idle, |s, now, node| s.publish(now, node, g, b"x")),
        Err(ScribeError::NotActive)
    );
    let mut net = ring(8, 14, 0.0);
    let max = net.with_scribe(0, |s, _, node| s.max_publish_len(node));
    // The documented limit at the default 1,280-byte datagrams.
    assert_eq!(max, DOC_MAX_PUBLISH);
    let big = vec![0u8; max + 1];
    assert_eq!(
        net.with_scribe(0, |s, now, node| s.publish(now, node, g, &big)),
        Err(ScribeError::PayloadTooLarge { max })
    );
    assert!(
        net.with_scribe(0, |s, now, node| s.publish(now, node, g, &big[..max]))
            .is_ok()
    );
    let amax = net.with_scribe(0, |s, _, node| s.max_anycast_len(node));
    assert_eq!(amax, DOC_MAX_ANYCAST);
    assert_eq!(
        net.with_scribe(0, |s, now, node| s.anycast(now, node, g, &big[..amax + 1])),
        Err(ScribeError::PayloadTooLarge { max: amax })
    );
    assert_eq!(
        net.with_scribe(0, |s, now, node| s.unsubscribe(now, node, g)),
        Err(ScribeError::NotSubscribed)
    );
    // Sixteen trees fill the table; the seventeenth is refused.
    for k in 0..16u8 {
        net.with_scribe(0, |s, now, node| s.subscribe(now, node, group_id(&[k])))
            .unwrap();
    }
    assert_eq!(
        net.with_scribe(0, |s, now, node| s.subscribe(
            now,
            node,
            group_id(b"one more")
        )),
        Err(ScribeError::TooManyGroups)
    );
    // MAX_ANYCASTS in flight; then Busy.
    for _ in 0..pastry_core::scribe::MAX_ANYCASTS {
        net.with_scribe(1, |s, now, node| s.anycast(now, node, g, b"a"))
            .unwrap();
    }
    assert_eq!(
        net.with_scribe(1, |s, now, node| s.anycast(now, node, g, b"a")),
        Err(ScribeError::Busy)
    );
    assert!(
        pastry_core::scribe::Scribe::<pastry_core::scribe::Members>::new(
            ScribeConfig {
                max_depth: 0,
                ..ScribeConfig::default()
            },
            pastry_core::scribe::Members
        )
        .is_err()
    );
}

/// #29: a secure subscriber's subscribe goes straight to the group id's
/// true root by secure routing, so no node on a path becomes its parent;
/// the tree stays sound and publications reach it. Plain subscribers
/// beside it hang from whoever their route met first.
#[test]
fn a_secure_subscriber_hangs_straight_from_the_true_root() {
    let seed = 2903;
    let mut net = Net::<Joins>::with_forwarders(seed);
    net.scribe_config = Some(ScribeConfig::default());
    let mut config = Config::default();
    config.secure.enabled = true;
    net.form(48, &config);
    let group = group_id(b"secure subscribers");
    let root = net.true_root(group);
    let others: Vec<usize> = net.live().into_iter().filter(|&i| i != root).collect();
    // Fewer than the root's fan-out (4): a full root would pass them down.
    let secure = &others[..3];
    for &i in secure {
        net.with_scribe(i, |s, now, node| s.secure_subscribe(now, node, group))
            .expect("secure subscribe");
    }
    net.run_for(Duration::from_secs(10));
    let root_id = net.nodes[root].own().id;
    for &i in secure {
        let parent = tree(&net, i, group).and_then(|g| g.parent).map(|p| p.id);
        assert_eq!(parent, Some(root_id), "seed {seed}: secure subscriber {i}");
        assert!(net.scribe_ref(i).unwrap().stats().secure_subscribes >= 1);
    }
    for &i in &others[3..23] {
        subscribe(&mut net, i, group);
    }
    net.run_for(Duration::from_secs(10));
    let under_root = others[3..23]
        .iter()
        .filter(|&&i| tree(&net, i, group).and_then(|g| g.parent).map(|p| p.id) == Some(root_id))
        .count();
    assert!(
        under_root < 20,
        "seed {seed}: every plain subscriber hangs from the root"
    );
    check_tree(&net, group).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    publish_and_check(&mut net, others[30], group, b"to all")
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
}
