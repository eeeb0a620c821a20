//! `sim_faults`: 8–16 nodes in the simulator while the fuzzer chooses what
//! the network does to each datagram (drop, delay or duplicate, up to 65 s
//! late) and when
//! nodes crash, leave or restart. Once the faults stop and the network has
//! been quiet for a while, every leaf set equals the true one and every
//! lookup reaches the live node numerically closest to its key, once.
//! Or, when the fuzzer makes up to a quarter of the nodes faulty (every
//! attack, #29), every secure lookup from a correct node ends (its source
//! hears how), with nothing spinning or growing.

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use pastry_core::Id;

use crate::oracle::Ring;
use crate::sim::byzantine::Attacks;
use crate::sim::network::Network;
use crate::sim::report::Report;
use crate::sim::{Fault, Sim, SimConfig};

/// At most this many per-datagram faults are taken from one input.
const MAX_FAULTS: usize = 2_000;
/// At most this many crashes, leaves and restarts.
const MAX_EVENTS: usize = 32;
/// Quiet time after the faults: leaf-set repair needs a few heartbeat and
/// probe periods, a node cut off by the faults needs the graveyard's
/// re-probes to find its way back (the partition scenario heals in 300 s),
/// and a dead member nobody watched is found by the leaf-set swap of the
/// maintenance period (20 minutes by default).
const QUIET: Duration = Duration::from_secs(25 * 60);

/// What the fuzzer chooses.
#[derive(Arbitrary, Debug)]
pub struct FaultRun {
    /// 8 + this mod 9 nodes.
    pub nodes: u8,
    /// The simulation's seed (ids, delays).
    pub seed: u8,
    /// What happens to each datagram, from the first join on.
    pub faults: Vec<ArbFault>,
    /// Crashes, leaves and restarts, each some time after the previous.
    pub events: Vec<NodeFault>,
    /// Faulty nodes: this mod (a quarter of the nodes + 1).
    pub faulty: u8,
}

/// One datagram's fate.
#[derive(Arbitrary, Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum ArbFault {
    Deliver,
    Drop,
    /// Milliseconds late.
    Delay(u16),
    /// Again, this many milliseconds later.
    Duplicate(u16),
}

/// A node fault, `after_ms` after the previous one.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct NodeFault {
    /// Milliseconds since the previous event (or the end of the build).
    pub after_ms: u16,
    /// What happens.
    pub what: What,
    /// Which node (mod the number of nodes).
    pub node: u8,
}

/// What happens to a node.
#[derive(Arbitrary, Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum What {
    Crash,
    Leave,
    Restart,
}

/// Runs one fuzz input (see the module docs).
pub fn sim_faults(data: &[u8]) {
    let Ok(run) = FaultRun::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let n = 8 + usize::from(run.nodes % 9);
    let seed = u64::from(run.seed);
    let faulty = usize::from(run.faulty) % (n / 4 + 1);
    let mut config = SimConfig::new(seed);
    config.node.secure.enabled = faulty > 0;
    let mut sim = Sim::new(config, Network::Plane);
    if faulty > 0 {
        sim.set_faulty(faulty as f64 / n as f64, Attacks::ALL);
    }
    sim.set_faults(run.faults.iter().take(MAX_FAULTS).map(|f| match *f {
        ArbFault::Deliver => Fault::Deliver,
        ArbFault::Drop => Fault::Drop,
        // Up to 65 s late, longer than a lease: late copies from nodes
        // that have since crashed or left arrive among the living.
        ArbFault::Delay(ms) => Fault::Delay(Duration::from_millis(ms.into())),
        ArbFault::Duplicate(ms) => Fault::Duplicate(Duration::from_millis(ms.into())),
    }));
    for _ in 0..n {
        sim.spawn();
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(10));
    for e in run.events.iter().take(MAX_EVENTS) {
        sim.run_for(Duration::from_millis(e.after_ms.into()));
        let i = usize::from(e.node) % n;
        match e.what {
            What::Crash => sim.crash(i),
            What::Leave => sim.leave(i),
            What::Restart => drop(sim.restart(i)),
        }
    }
    // The faults stop; the network is the model's again.
    let unused = sim.faults_pending();
    sim.set_faults([]);
    sim.run_for(QUIET);

    let context = || format!("seed {seed}, {n} nodes ({faulty} faulty), {unused} faults unused");
    let live = sim.live();
    if faulty > 0 {
        return secure_lookups_end(&mut sim, &context());
    }
    let idle: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| sim.node(i).is_some_and(|n| !n.is_active()))
        .collect();
    assert!(idle.is_empty(), "{}: nodes not active: {idle:?}", context());
    let parts = knowledge_parts(&sim);
    if parts.len() == 1 {
        let wrong = sim.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "{}: wrong leaf sets at {wrong:?}",
            context()
        );
    } else {
        // The faults split the overlay so that no live node of one part
        // knows any live node of another (the only bridge crashed): no
        // protocol inside the overlay can merge them. Each part must
        // still be an exact ring of its own.
        for part in &parts {
            let ring = Ring::new(part.iter().map(|&i| node_id(&sim, i)));
            for &i in part {
                let node = sim.node(i).expect("live");
                let ls = node.leaf_set();
                let ids = |ps: &[pastry_core::Peer]| ps.iter().map(|p| p.id).collect::<Vec<Id>>();
                assert_eq!(
                    (ids(ls.left()), ids(ls.right())),
                    ring.leaf_set(node.own().id, ls.half()),
                    "{}: node {i}'s leaf set is wrong for its part {part:?} of {parts:?}",
                    context()
                );
            }
        }
    }
    // Every live node looks up four random keys.
    let from = sim.lookup_order.len();
    let mut sent = 0;
    for &i in &live {
        for _ in 0..4 {
            let key = sim.random_key();
            sent += usize::from(sim.lookup(i, key).is_some());
        }
    }
    assert_eq!(sent, 4 * live.len(), "{}: lookups refused", context());
    sim.run_for(Duration::from_secs(30));
    if parts.len() == 1 {
        let r = Report::of(&sim, from);
        assert!(
            r.lookups == sent && r.correct == sent && r.delivered == sent && r.duplicated == 0,
            "{}: {r:?}",
            context()
        );
        return;
    }
    // Split: each lookup reaches, once, the root within its source's part.
    for id in &sim.lookup_order[from..] {
        let l = &sim.lookups[id];
        let part = parts
            .iter()
            .find(|p| p.contains(&(l.source as usize)))
            .expect("a live source");
        let root = part
            .iter()
            .copied()
            .min_by(|&a, &b| l.key.cmp_closeness(node_id(&sim, a), node_id(&sim, b)))
            .expect("a part has members");
        let at: Vec<u32> = l.deliveries.iter().map(|d| d.0).collect();
        assert_eq!(
            at,
            vec![root as u32],
            "{}: lookup from {} for {} in part {part:?}",
            context(),
            l.source,
            l.key
        );
    }
}

fn node_id(sim: &Sim, i: usize) -> Id {
    sim.node(i).expect("live").own().id
}

/// The live nodes grouped by what they know of each other: two are in one
/// part when either holds the other in its leaf set, routing table or list
/// of failed peers it still re-probes (a path through such knowledge is
/// how an overlay heals a partition).
fn knowledge_parts(sim: &Sim) -> Vec<Vec<usize>> {
    let live = sim.live();
    let index: BTreeMap<Id, usize> = live.iter().map(|&i| (node_id(sim, i), i)).collect();
    // Union-find over node indices (a handful of nodes: no path halving).
    let mut parent: Vec<usize> = (0..sim.len()).collect();
    let root = |parent: &[usize], mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    for &i in &live {
        let node = sim.node(i).expect("live");
        let known = (node.leaf_set().members().copied())
            .chain(node.routing_table().entries().map(|(_, _, e)| e.peer))
            .chain(node.failed_peers());
        for p in known {
            if let Some(&j) = index.get(&p.id) {
                let (a, b) = (root(&parent, i), root(&parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &live {
        groups.entry(root(&parent, i)).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = groups.into_values().collect();
    out.sort();
    out
}

/// With faulty nodes: four secure lookups from every live correct node,
/// each ending at its source. What they reach is not judged here: after
/// crashes and restarts in rings this small, a correct node's leaf set can
/// still miss a correct neighbour that rejoined behind a faulty root, and
/// a lookup then misses it (found by this target; open in #29). The
/// scenario tests judge secure lookups at scale.
fn secure_lookups_end(sim: &mut Sim, context: &str) {
    let from = sim.secure.order.len();
    let correct: Vec<usize> = sim
        .live()
        .into_iter()
        .filter(|&i| !sim.is_faulty(i) && sim.node(i).is_some_and(|n| n.is_active()))
        .collect();
    for &i in &correct {
        for _ in 0..4 {
            let key = sim.random_key();
            sim.secure_lookup(i, key, 5);
            sim.run_for(Duration::from_millis(50));
        }
    }
    sim.run_for(Duration::from_secs(30));
    let r = sim.secure_report(from);
    assert_eq!(
        r.ended, r.lookups,
        "{context}: secure lookups whose source never heard: {r:?}"
    );
}
