//! Scenarios on the simulator, judged by its global view (#4). Each prints
//! its seed on failure; `PASTRY_SEEDS` is not read here, the seed is fixed
//! per scenario and the `sim` CLI replays others.

use std::time::Duration;

use pastry_tests::sim::network::Network;
use pastry_tests::sim::report::Report;
use pastry_tests::sim::{Sim, SimConfig};

/// Builds an overlay of `n` nodes, one joining every `interval`, each
/// through a random active node, then lets it settle.
fn build(sim: &mut Sim, n: usize, interval: Duration, settle: Duration) {
    for _ in 0..n {
        sim.spawn();
        sim.run_for(interval);
    }
    sim.run_for(settle);
}

/// A plane-model overlay of `n` nodes built the default way (one every
/// 100 ms, then a minute to settle).
fn plane(seed: u64, n: usize) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed), Network::Plane);
    build(
        &mut sim,
        n,
        Duration::from_millis(100),
        Duration::from_secs(60),
    );
    sim
}

/// `m` lookups from random live active sources to random keys, spread
/// over `span`; then time to finish.
fn lookups(sim: &mut Sim, m: usize, span: Duration) -> Report {
    let from = sim.lookup_order.len();
    let gap = span / m as u32;
    for _ in 0..m {
        let src = sim.random_active().expect("an active node");
        let key = sim.random_key();
        sim.lookup(src, key);
        sim.run_for(gap);
    }
    sim.run_for(Duration::from_secs(30));
    Report::of(sim, from)
}

#[test]
fn stable_2000_nodes_on_the_plane_route_every_lookup_correctly() {
    let seed = 40;
    let n = 2_000;
    let mut sim = plane(seed, n);
    assert_eq!(sim.counters.join_failures, 0, "seed {seed}: joins failed");
    let wrong = sim.wrong_leaf_sets();
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} wrong leaf sets",
        wrong.len()
    );
    let r = lookups(&mut sim, 5_000, Duration::from_secs(60));
    eprintln!("{r:?}");
    assert_eq!(r.delivered, r.lookups, "seed {seed}: {r:?}");
    assert_eq!(r.correct, r.lookups, "seed {seed}: {r:?}");
    let log16 = (n as f64).ln() / 16f64.ln();
    assert!(
        r.mean_hops <= log16 + 0.5,
        "seed {seed}: mean hops {}",
        r.mean_hops
    );
    assert!(
        f64::from(r.max_hops) <= log16.ceil() + 1.0,
        "seed {seed}: max hops {}",
        r.max_hops
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let mut c = SimConfig::new(41);
        c.loss = 0.01;
        c.jitter = 0.1;
        let mut sim = Sim::new(c, Network::Plane);
        build(
            &mut sim,
            300,
            Duration::from_millis(100),
            Duration::from_secs(20),
        );
        let r = lookups(&mut sim, 500, Duration::from_secs(10));
        (r, sim.counters.clone(), sim.now)
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b, "seed 41: two runs differ");
    assert!(a.1.events > 10_000, "the run did real work");
}

#[test]
fn twenty_percent_crashing_at_once_is_repaired_within_two_minutes() {
    let seed = 42;
    let n = 2_000;
    let mut sim = plane(seed, n);
    let mut live = sim.live();
    for _ in 0..n / 5 {
        let pick = sim.rng.below(live.len() as u64) as usize;
        sim.crash(live.swap_remove(pick));
    }
    sim.run_for(Duration::from_secs(120));
    let wrong = sim.wrong_leaf_sets();
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} leaf sets not repaired after 2 minutes",
        wrong.len()
    );
    let r = lookups(&mut sim, 2_000, Duration::from_secs(20));
    eprintln!("{r:?}");
    assert_eq!(r.correct, r.lookups, "seed {seed}: {r:?}");
}

#[test]
fn a_partition_into_halves_heals_into_one_ring() {
    let seed = 43;
    let mut sim = plane(seed, 1_000);
    sim.partition();
    sim.run_for(Duration::from_secs(300));
    let split = sim.wrong_leaf_sets().len();
    assert!(
        split > 900,
        "seed {seed}: only {split} leaf sets saw the partition"
    );
    sim.heal();
    sim.run_for(Duration::from_secs(300));
    let wrong = sim.wrong_leaf_sets();
    assert!(
        wrong.is_empty(),
        "seed {seed}: {} leaf sets still split 5 minutes after healing",
        wrong.len()
    );
    let r = lookups(&mut sim, 1_000, Duration::from_secs(10));
    assert_eq!(r.correct, r.lookups, "seed {seed}: {r:?}");
    assert_eq!(r.delivered, r.lookups, "seed {seed}: {r:?}");
}
