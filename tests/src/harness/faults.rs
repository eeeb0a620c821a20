//! `sim_faults`: 8–16 nodes in the simulator while the fuzzer chooses what
//! the network does to each datagram (drop, delay or duplicate, up to 65 s
//! late) and when
//! nodes crash, leave or restart. Once the faults stop and the network has
//! been quiet for a while, every leaf set equals the true one and every
//! lookup reaches the live node numerically closest to its key, once.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

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
    let mut sim = Sim::new(SimConfig::new(seed), Network::Plane);
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

    let context = || format!("seed {seed}, {n} nodes, {unused} faults unused");
    let live = sim.live();
    let idle: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| sim.node(i).is_some_and(|n| !n.is_active()))
        .collect();
    assert!(idle.is_empty(), "{}: nodes not active: {idle:?}", context());
    let wrong = sim.wrong_leaf_sets();
    assert!(
        wrong.is_empty(),
        "{}: wrong leaf sets at {wrong:?}",
        context()
    );
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
    let r = Report::of(&sim, from);
    assert!(
        r.lookups == sent && r.correct == sent && r.delivered == sent && r.duplicated == 0,
        "{}: {r:?}",
        context()
    );
}
