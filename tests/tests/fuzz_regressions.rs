//! Bugs the fuzz targets found, each replayed through the simulator's
//! public API as the smallest scenario that showed it (the crashing inputs
//! themselves are also in `fuzz/corpus/`, replayed by `fuzz_corpus.rs`).

use std::time::Duration;

use pastry_tests::sim::network::Network;
use pastry_tests::sim::{Fault, Sim, SimConfig};

/// Runs a committed `sim_faults` input through its harness.
fn replay(name: &str) {
    let path = format!(
        "{}/../fuzz/corpus/sim_faults/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    pastry_tests::harness::sim_faults(&std::fs::read(path).expect("committed input"));
}

fn ring(seed: u64, n: usize) -> Sim {
    let sim = faulty_ring(seed, n, Vec::new());
    assert!(sim.wrong_leaf_sets().is_empty(), "seed {seed}: not built");
    sim
}

fn assert_exact_leaf_sets(sim: &Sim, seed: u64) {
    let wrong = sim.wrong_leaf_sets();
    assert!(wrong.is_empty(), "seed {seed}: wrong leaf sets {wrong:?}");
}

/// `n` nodes joined 100 ms apart, the first datagrams meeting `faults`.
fn faulty_ring(seed: u64, n: usize, faults: Vec<Fault>) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed), Network::Plane);
    sim.set_faults(faults);
    for _ in 0..n {
        sim.spawn();
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(10));
    sim
}

/// sim_faults, input 5 of the stable run: in a ring of 12 every leaf set
/// holds every node on both sides; one graceful leave left 11 leaf sets
/// short of a member for good (a side was not refilled from the other).
#[test]
fn a_leave_from_a_small_ring_leaves_exact_leaf_sets() {
    for seed in [143, 1, 2, 3] {
        let mut sim = ring(seed, 12);
        sim.leave(7);
        sim.run_for(Duration::from_secs(1));
        assert_exact_leaf_sets(&sim, seed);
    }
}

/// sim_faults, crash-19a41b8: the first datagrams arrive again 65 s late,
/// and a node crashes after the build. A late copy of the dead node's old
/// datagram made a member count as heard lately, so the leaf sets that
/// hinted at its failure were ignored, and no hint came again: one node
/// kept the dead member for good.
#[test]
fn late_copies_of_a_dead_nodes_datagrams_do_not_keep_it_a_member() {
    let seed = 255;
    let mut late = vec![Fault::Duplicate(Duration::from_millis(65_535)); 10];
    late.push(Fault::Duplicate(Duration::from_millis(40_538)));
    let mut sim = faulty_ring(seed, 11, late);
    sim.run_for(Duration::from_millis(20_575));
    sim.crash(1);
    // A lease and a heartbeat after the last late copy, and some probes.
    sim.run_for(Duration::from_secs(180));
    assert_exact_leaf_sets(&sim, seed);
}

/// sim_faults, crash-3b9a259: the same late copies, and node 0 crashes
/// right after the build. Node 1 declared it failed, then a late copy of
/// its old datagrams brought it back from the graveyard (as if a partition
/// had healed) and nothing removed it again. A buried node now returns
/// only by answering a probe.
#[test]
fn late_copies_do_not_bring_a_failed_node_back() {
    let seed = 255;
    let mut late = vec![Fault::Duplicate(Duration::from_millis(65_535)); 8];
    late.extend([
        Fault::Drop,
        Fault::Delay(Duration::from_millis(38_979)),
        Fault::Drop,
    ]);
    let mut sim = faulty_ring(seed, 11, late);
    sim.run_for(Duration::from_millis(94));
    sim.crash(0);
    sim.run_for(Duration::from_secs(300));
    assert_exact_leaf_sets(&sim, seed);
}

/// sim_faults, crash-aac3040: late copies again, and node 0 leaves
/// gracefully 33.7 s after the build. A copy of a datagram it sent before
/// leaving arrived after its Leave and made it a member again for good. A
/// leaver is now buried like a failed node.
#[test]
fn late_copies_do_not_bring_a_leaver_back() {
    let seed = 255;
    let mut late = vec![Fault::Duplicate(Duration::from_millis(65_535)); 5];
    late.push(Fault::Delay(Duration::from_millis(33_924)));
    let mut sim = faulty_ring(seed, 11, late);
    sim.run_for(Duration::from_millis(33_653));
    sim.leave(0);
    sim.run_for(Duration::from_secs(300));
    assert_exact_leaf_sets(&sim, seed);
}

/// sim_faults, crash-6fcb5ad: the joins' first datagrams arrive 10 s late
/// and the first node crashes right after the build. Three joiners heard
/// its reply as root only after it died; their probe of it went
/// unanswered, and with no candidate left they became active alone, three
/// rings of one for good. A join whose every candidate failed now fails
/// (JoinFailed), and the node joins again through another node.
#[test]
fn a_joiner_whose_root_died_does_not_become_a_ring_of_one() {
    let seed = 167;
    // 60 late datagrams (was 19): joiners now send their request again
    // when the bootstrap's ack is late, and those copies must be late too.
    let mut late = vec![Fault::Delay(Duration::from_secs(10)); 60];
    late.push(Fault::Duplicate(Duration::from_secs(10)));
    late.extend([Fault::Delay(Duration::from_secs(10)); 3]);
    let mut sim = faulty_ring(seed, 11, late);
    sim.run_for(Duration::from_millis(188));
    sim.crash(0);
    sim.run_for(Duration::from_secs(300));
    assert_exact_leaf_sets(&sim, seed);
    assert!(
        sim.counters.join_failures > 0,
        "seed {seed}: no join failed"
    );
}

/// sim_faults, crash-f36a84c (the input is in the corpus): the joins'
/// datagrams arrive 40 s late and the first node crashes after the build.
/// Late copies of its datagrams counted as the dead node speaking while it
/// was being probed, so the probe ended without a verdict and two nodes
/// kept it. Only the probe's own answer ends a probe now.
#[test]
fn late_copies_do_not_count_as_an_answer_to_a_probe() {
    replay("regress-late-copies-answer-a-probe");
}

/// sim_faults, crash-4e28c70 (the input is in the corpus), found once
/// the fix above made only a probe's answer end a probe: a node restarted
/// with its old id while another was still probing its old incarnation;
/// that probe ran out although the new one had spoken, the node was
/// declared failed after it had rejoined, and it never spoke to that
/// member again. A probe whose peer spoke meanwhile now starts over with a
/// new nonce instead of giving a verdict.
#[test]
fn a_node_restarted_while_under_probe_is_not_declared_failed() {
    replay("regress-restarted-node-declared-failed-while-rejoining");
}

/// sim_faults, crash-8899608: the joins' datagrams arrive 43 s late and
/// the first node crashes right after the build. Its left neighbour joined
/// after it died and never knew it, so nobody watched it (heartbeats go to
/// the left neighbour), nobody declared it failed, and seven nodes kept it
/// for good. A node whose right neighbour is alive but sends it no
/// heartbeats now sends that neighbour its leaf set, whose gap is a hint.
#[test]
fn a_dead_node_nobody_watches_is_still_found() {
    replay("regress-dead-node-nobody-watches");
}

/// sim_faults, crash-ccdeaf9 (the input is in the corpus): the joins'
/// datagrams 43–65 s late and the first node crashing 3 ms after the
/// build. Its two ring neighbours joined without learning of it, so
/// nothing watched it; three other members that knew it kept it, and a
/// settled ring exchanges no leaf sets, so no hint reached them. Each node
/// now swaps leaf sets with a random member once per maintenance period.
#[test]
fn a_dead_member_of_nobodys_neighbourhood_is_found() {
    replay("regress-dead-member-of-no-neighbour");
}

/// sim_faults, crash-06fd762 (the input is in the corpus): a node left
/// gracefully and restarted with its old id minutes later. Three members
/// had buried it (fix for leavers) and were probing it once more when it
/// came back; it spoke to them, but a buried node's datagrams did not mark
/// that probe, which expired on the dead incarnation's silence, and the
/// node never spoke to them again. Now such a probe starts over.
#[test]
fn a_restarted_leaver_is_taken_back_by_every_member() {
    replay("regress-restarted-leaver-missed-by-an-expiring-probe");
}

/// sim_faults, crash-f50e4f5 (the input is in the corpus): datagrams 43 s
/// late while 11 nodes join through the first. It declared the second
/// node failed (its answers were late), the next six joined through it,
/// then it crashed: the only node that knew both groups. Two overlays
/// remain, {1, 2} and {3 … 10}, and no live node of one knows any of the
/// other, so nothing inside the overlay can merge them (that needs a
/// rendezvous outside it, such as the application's bootstrap list).
/// The harness now judges such a split part by part: each part an exact
/// ring, each lookup at the root within its source's part.
#[test]
fn an_overlay_split_by_its_only_bridge_crashing_is_judged_part_by_part() {
    replay("regress-split-after-bridge-crash");
}
