//! Scenarios on the simulator, judged by its global view (#4). Each prints
//! its seed on failure; `PASTRY_SEEDS` is not read here, the seed is fixed
//! per scenario and the `sim` CLI replays others.

use std::time::Duration;

use pastry_core::secure::SecureConfig;
use pastry_core::stack::StackConfig;
use pastry_core::wire::Kind;
use pastry_tests::sim::attack::Attack;
use pastry_tests::sim::byzantine::Attacks;
use pastry_tests::sim::groups;
use pastry_tests::sim::healing::HEAL_SLACK;
use pastry_tests::sim::network::Network;
use pastry_tests::sim::report::Report;
use pastry_tests::sim::scenario::{self, Spec};
use pastry_tests::sim::storage::{Load, SecureDht};
use pastry_tests::sim::{SCRIBE_POOL, Sessions, Sim, SimConfig};

/// Builds an overlay of `n` nodes, one joining every `interval`, each
/// through a random active node, then lets it settle.
fn build(sim: &mut Sim, n: usize, interval: Duration, settle: Duration) {
    scenario::build(sim, n, interval, |_| {});
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
    let refused = scenario::spread_lookups(sim, m, span, |_| {});
    sim.run_for(Duration::from_secs(30));
    // A lookup that could not be sent counts as not delivered.
    let mut r = Report::of(sim, from);
    r.lookups += refused;
    r
}

#[test]
fn stable_2000_nodes_on_the_plane_route_every_lookup_correctly() {
    let seed = 40;
    let n = 2_000;
    let mut sim = plane(seed, n);
    assert_eq!(sim.counters.join_failures, 0, "seed {seed}: joins failed");
    // Routing tables against the global view: row 0 (where every route
    // starts) is complete; row 1 misses at most one fillable slot in 200.
    let fill = sim.table_fill();
    assert_eq!(
        fill[0].filled, fill[0].fillable,
        "seed {seed}: row 0 holes: {fill:?}"
    );
    assert!(
        fill[1].filled * 200 >= fill[1].fillable * 199,
        "seed {seed}: row 1 holes: {fill:?}"
    );
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
fn a_crowd_joining_one_lone_node_at_once_ends_with_every_leaf_set_right() {
    // 31 nodes ask one lone node to join at the same instant, with LAN
    // timers and delays stretched at random, so the answers to a joiner's
    // probes overtake each other. Each (seed, stretch) here once left two
    // concurrent joiners that never learned of each other: a joiner went
    // active on an answer that carried no leaf set (pastry-mio's cluster
    // example failed so under load).
    let cases = [
        (179, 1.0),
        (190, 0.5),
        (215, 0.5),
        (224, 1.0),
        (284, 0.5),
        (287, 1.0),
        (297, 0.5),
    ];
    for (seed, jitter) in cases {
        let mut c = SimConfig::new(seed);
        c.node = StackConfig::lan().node;
        c.node.verify_peers = false;
        c.jitter = jitter;
        let mut sim = Sim::new(c, Network::Plane);
        let lone = sim.add_node();
        sim.join(lone, None);
        sim.run_for(Duration::from_millis(50));
        let crowd: Vec<usize> = (0..31).map(|_| sim.add_node()).collect();
        for &i in &crowd {
            sim.join(i, Some(lone));
        }
        sim.run_for(Duration::from_secs(30));
        assert_eq!(sim.live().len(), 32);
        let wrong = sim.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "seed {seed}, jitter {jitter}: leaf sets wrong at {wrong:?}"
        );
    }
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

/// At least `share` of the lookups delivered, each once and at its true
/// root.
fn delivered_once_at_roots(seed: u64, r: &Report, share: f64) {
    assert!(
        r.delivered as f64 >= share * r.lookups as f64,
        "seed {seed}: {} of {} delivered",
        r.delivered,
        r.lookups
    );
    assert_eq!(r.correct, r.delivered, "seed {seed}: wrong roots: {r:?}");
    assert_eq!(r.duplicated, 0, "seed {seed}: duplicates: {r:?}");
}

/// `spec` run with verification, and the same without as the control.
fn verified_and_plain(spec: &Spec) -> (scenario::Outcome, scenario::Outcome) {
    let verified = Spec {
        verify: true,
        ..spec.clone()
    };
    let plain = Spec {
        verify: false,
        ..spec.clone()
    };
    (
        scenario::run(&verified, Network::Plane, |_| {}),
        scenario::run(&plain, Network::Plane, |_| {}),
    )
}

#[test]
fn verified_nodes_under_churn_with_loss_deliver_and_stay_correct() {
    // #28: every node verifies its peers and seals its datagrams (the
    // runtimes' default); 300 nodes, median session 30 minutes, 1 % loss,
    // 20 simulated minutes of lookups. The same runs without verification
    // are the control: verification may cost at most a tenth of a percent
    // of the deliveries, over three seeds. It does cost some: over 20
    // seeds of this setting (`sim --nodes 300 --lookups 2000
    // --session-mins 30 --loss 0.01 --duration-s 1200 --verify`) the
    // verified runs lost 8 of 40,000 lookups, the plain ones none.
    let (mut verified, mut control) = (0, 0);
    for seed in [45, 46, 47] {
        let spec = Spec {
            lookups: 2_000,
            loss: 0.01,
            sessions: Some(Sessions::Exponential(Duration::from_secs(30 * 60))),
            duration: Duration::from_secs(20 * 60),
            verify: true,
            ..Spec::new(300, seed)
        };
        let (out, plain) = verified_and_plain(&spec);
        let (r, p) = (&out.report, &plain.report);
        eprintln!("verified {r:?}\nplain {p:?}\nhandshakes {:?}", out.sessions);
        assert!(
            out.sessions.0.established > 0,
            "seed {seed}: no handshake ran"
        );
        assert_eq!(
            plain.sessions.0.established, 0,
            "seed {seed}: the control verified"
        );
        delivered_once_at_roots(seed, r, 0.998);
        assert_eq!(
            out.sessions.0.refused, 0,
            "seed {seed}: honest peers refused"
        );
        verified += r.delivered;
        control += p.delivered;
    }
    assert!(
        verified + 6 >= control,
        "seeds 45-47: verification lost deliveries: {verified} against {control}"
    );
}

#[test]
fn an_attacker_that_never_joins_changes_nothing_when_nodes_verify() {
    // #28's table, from the simulator: an attacker that never joins sends
    // one forged datagram every 20 ms (leaves, heartbeats and messages in
    // members' names, probes from invented ids, replica copies at the
    // highest version, join requests naming other addresses) through a
    // minute of lookups, puts and gets on 200 nodes. The same run without
    // verification is the control: there the attack does its damage.
    let seed = 46;
    let spec = Spec {
        lookups: 1_000,
        verify: true,
        attack: Some(Attack {
            every: Duration::from_millis(20),
        }),
        dht: Some(Load {
            puts: 100,
            gets: 300,
            replicas: 5,
            spares: 3,
            eager_spares: 2,
            value_bytes: 100,
            secure: SecureDht::Off,
        }),
        ..Spec::new(200, seed)
    };
    let (out, plain) = verified_and_plain(&spec);
    let ((a, dropped, forged), (pa, _, pforged)) = (out.attack.unwrap(), plain.attack.unwrap());
    let (t, pt) = (out.storage.unwrap().0, plain.storage.unwrap().0);
    eprintln!("verified {a:?} dropped {dropped} forged {forged} {t:?}");
    eprintln!("plain {pa:?} forged {pforged} {pt:?}");
    // The control: believing every datagram, leaf sets and values fall.
    assert!(
        plain.leafset_correct_fraction < 0.9 && pforged > 0 && pt.gets_wrong_value > 0,
        "seed {seed}: the attack did nothing to the control: leaf sets {}, forged {pforged}, {pt:?}",
        plain.leafset_correct_fraction
    );
    // Verified: every forgery dropped as unauthenticated, and nothing moved.
    let r = &out.report;
    assert!(a.sent >= 2_900, "seed {seed}: {a:?}");
    assert!(
        dropped >= a.sent,
        "seed {seed}: {dropped} dropped of {}",
        a.sent
    );
    assert_eq!(
        (r.delivered, r.correct),
        (r.lookups, r.lookups),
        "seed {seed}: {r:?}"
    );
    assert_eq!(out.leafset_correct_fraction, 1.0, "seed {seed}");
    assert_eq!(forged, 0, "seed {seed}: forged copies held");
    assert_eq!(
        (t.gets_wrong_value, t.gets_ok),
        (0, t.gets),
        "seed {seed}: {t:?}"
    );
    // No amplification: the attacker hears back less than it sent.
    assert!(
        a.answer_bytes * 2 < a.sent_bytes,
        "seed {seed}: {} bytes back for {}",
        a.answer_bytes,
        a.sent_bytes
    );
}

#[test]
fn faulty_nodes_inside_the_overlay_break_plain_routing_each_attack_its_own_way() {
    // #29's adversary: a fifth of 300 nodes collude. The control is the
    // same seed without faulty nodes; each attack alone must bite, and the
    // judge must never credit a delivery by a faulty node.
    let seed = 29;
    let load = Load {
        puts: 60,
        gets: 300,
        replicas: 5,
        spares: 3,
        eager_spares: 2,
        value_bytes: 100,
        secure: SecureDht::Off,
    };
    let spec = |faulty: f64, attacks: &str| Spec {
        lookups: 1_000,
        faulty,
        attacks: Attacks::parse(attacks).expect("names"),
        dht: Some(load),
        ..Spec::new(300, seed)
    };
    let run = |s: &Spec| scenario::run(s, Network::Plane, |_| {});
    let control = run(&spec(0.0, "all"));
    let c = &control.report;
    assert_eq!(
        (c.delivered, c.correct, control.faulty_live),
        (c.lookups, c.lookups, 0),
        "seed {seed}: control {c:?}"
    );
    assert_eq!(control.leafset_correct_fraction, 1.0, "seed {seed}");
    for attack in Attacks::NAMES {
        let out = run(&spec(0.2, attack));
        let r = &out.report;
        let t = out.storage.as_ref().expect("DHT run").0;
        eprintln!(
            "{attack}: faulty {} of {}, {r:?}, leaf sets {}, {t:?}",
            out.faulty_live, out.live_nodes, out.leafset_correct_fraction
        );
        let share = out.faulty_live as f64 / out.live_nodes as f64;
        assert!((0.12..0.28).contains(&share), "seed {seed}: {share} faulty");
        // Every attack costs correct deliveries; by a fifth at the least
        // (two hops in three through correct nodes is under 0.9).
        assert!(
            (r.correct as f64) < 0.9 * r.lookups as f64,
            "seed {seed}: {attack} did not bite: {r:?}"
        );
        match attack {
            // Swallowed: what fails is not delivered anywhere, and DHT
            // operations through faulty relays time out.
            "drop" => {
                assert!(
                    r.delivered - r.correct <= r.lookups / 50,
                    "seed {seed}: {r:?}"
                );
                assert!(
                    t.gets_ok < t.gets && t.puts_acked < t.puts,
                    "seed {seed}: {t:?}"
                );
            }
            // Delivered, but at a colluder.
            "misroute" => assert_eq!(r.delivered, r.lookups, "seed {seed}: {r:?}"),
            // Claimed, and DHT gets answered with the adversary's value.
            "fake-root" => {
                assert_eq!(r.delivered, r.lookups, "seed {seed}: {r:?}");
                assert!(t.gets_wrong_value > 0, "seed {seed}: {t:?}");
            }
            // A join whose root is faulty gets a leaf set of colluders,
            // and neither the joiner nor its true neighbours learn of
            // each other.
            "eclipse" => assert!(out.leafset_correct_fraction < 0.9, "seed {seed}"),
            _ => unreachable!(),
        }
    }
}

#[test]
fn secure_routing_reaches_every_correct_root_with_a_fifth_of_the_nodes_colluding() {
    // #29: 2,000 nodes, a fifth faulty making every attack at once (drop,
    // misroute, fake-root, eclipse). Secure lookups (sec_route to the 5
    // closest) must reach every correct one of the key's true roots;
    // plain lookups in the same run show the attack biting; the
    // constrained tables hold no more faulty entries than there are
    // faulty nodes, though the proximity tables do.
    let seed = 1;
    let spec = Spec {
        lookups: 1_000,
        secure_lookups: 1_000,
        secure_r: 5,
        faulty: 0.2,
        attacks: Attacks::ALL,
        dump_misses: true,
        ..Spec::new(2_000, seed)
    };
    let out = scenario::run(&spec, Network::Plane, |_| {});
    let (r, s) = (&out.report, out.secure);
    eprintln!(
        "plain {r:?}\nsecure {s:?}\nleaf sets {} tables faulty {:.3} constrained faulty {:.3}\n{:?}\n{}",
        out.leafset_correct_fraction,
        out.table_faulty_share,
        out.constrained_faulty_share,
        out.secure_stats,
        out.secure_misses.join("\n")
    );
    assert_eq!(s.lookups, 1_000, "seed {seed}");
    // Every miss is described, and only misses.
    assert_eq!(out.secure_misses.len(), s.lookups - s.ok, "seed {seed}");
    // The lookups' own queries and answers are told from the nodes' own
    // (fills and checks), which go on beside them.
    let queries =
        out.window.by_kind[Kind::Query as usize] + out.window.by_kind[Kind::ReplicaSet as usize];
    let judged = out.window.judged_query_datagrams;
    assert!(
        judged >= 2 * s.lookups as u64 && judged < queries,
        "seed {seed}: {judged} of {queries} queries and answers judged"
    );
    // 99.9 % is #29's target: seeds 1-3 give 1,000, 999 and 1,000.
    assert!(s.ok >= 999, "seed {seed}: {s:?}");
    // Every lookup ends within its two rounds' deadlines (the routes',
    // then the roots asked straight), and its roots have it soon after.
    let round = SecureConfig::default().timeout.as_secs_f64() * 1e3;
    assert!(
        s.ended == s.lookups && s.ended_ms.0 > 0.0 && s.ended_ms.0 <= s.ended_ms.1,
        "seed {seed}: {s:?}"
    );
    assert!(s.ended_ms.1 < 2.5 * round, "seed {seed}: {s:?}");
    assert!(
        s.reached_ms.0 >= s.ended_ms.0 * 0.5 && s.reached_ms.1 < 3.0 * round,
        "seed {seed}: {s:?}"
    );
    assert!(
        r.correct * 2 < r.lookups,
        "seed {seed}: the attack did not bite: {r:?}"
    );
    assert!(
        out.constrained_faulty_share < 0.23 && out.table_faulty_share > 0.25,
        "seed {seed}: constrained {} proximity {}",
        out.constrained_faulty_share,
        out.table_faulty_share
    );
}

#[test]
fn with_leaf_sets_of_32_secure_routing_reaches_every_correct_root_with_a_quarter_colluding() {
    // #29's target at OSDI'02's leaf-set size: 2,000 nodes, a quarter
    // faulty making every attack at once; at least 99.9 % of secure
    // lookups reach every correct one of the key's 5 true roots. A correct
    // node whose join a faulty root answered (a leaf set of colluders,
    // and no correct node that knows it) must find its true neighbours:
    // until it does, the keys it is a root of miss it and its own lookups
    // go through colluders.
    let seed = 2;
    let spec = Spec {
        lookups: 1_000,
        secure_lookups: 1_000,
        secure_r: 5,
        faulty: 0.25,
        attacks: Attacks::ALL,
        leaf_set: 32,
        ..Spec::new(2_000, seed)
    };
    let out = scenario::run(&spec, Network::Plane, |_| {});
    let (r, s) = (&out.report, out.secure);
    eprintln!(
        "plain {r:?}\nsecure {s:?}\nleaf sets {} errors {:?}\n{:?}",
        out.leafset_correct_fraction, out.leaf_set_first_errors, out.secure_stats
    );
    assert_eq!(s.lookups, 1_000, "seed {seed}");
    assert!(s.ok >= 999, "seed {seed}: {s:?}");
    assert!(
        out.leafset_correct_fraction >= 0.98,
        "seed {seed}: leaf sets right {}",
        out.leafset_correct_fraction
    );
    assert!(
        r.correct * 2 < r.lookups,
        "seed {seed}: the attack did not bite: {r:?}"
    );
}

#[test]
fn a_secure_put_then_a_secure_get_from_every_correct_node_returns_the_value() {
    // #29: 2,000 nodes, a fifth faulty making every attack (their DHT
    // answers every get with a forgery). One content-hash value put
    // through secure routing, then got through secure routing by every
    // correct node: each gets the value, none a forgery. The same key got
    // plainly by a hundred of them shows what the attack does without (the
    // majority rule for plain values is measured by `sim --secure-dht
    // plain`, BENCHMARKS.md).
    let seed = 3;
    let mut config = SimConfig::new(seed);
    config.node.secure.enabled = true;
    config.dht = Some(pastry_core::dht::DhtConfig::default());
    let mut sim = Sim::new(config, Network::Plane);
    sim.set_faulty(0.2, Attacks::ALL);
    sim.storage.value_bytes = 100;
    sim.storage.secure = SecureDht::Content;
    build(
        &mut sim,
        2_000,
        Duration::from_millis(100),
        Duration::from_secs(60),
    );
    let writer = sim.random_correct().expect("a correct node");
    sim.dht_put(writer);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(
        sim.storage.tally.puts_acked, 1,
        "seed {seed}: {:?}",
        sim.storage.tally
    );
    let correct: Vec<usize> = sim
        .live()
        .into_iter()
        .filter(|&i| !sim.is_faulty(i))
        .collect();
    for (n, &i) in correct.iter().enumerate() {
        sim.dht_get(i);
        if n % 20 == 19 {
            sim.run_for(Duration::from_millis(500));
        }
    }
    sim.run_for(Duration::from_secs(30));
    let t = sim.storage.tally;
    eprintln!("secure {t:?}");
    assert_eq!(
        t.gets as usize + t.refused as usize,
        correct.len(),
        "seed {seed}"
    );
    assert!(t.refused <= 10, "seed {seed}: {t:?}");
    assert_eq!(t.gets_ok, t.gets, "seed {seed}: {t:?}");

    sim.storage.secure = SecureDht::Off;
    let before = t;
    for &i in correct.iter().take(100) {
        sim.dht_get(i);
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(30));
    let t = sim.storage.tally;
    let (ok, wrong) = (
        t.gets_ok - before.gets_ok,
        t.gets_wrong_value - before.gets_wrong_value,
    );
    eprintln!("plain: {ok} ok, {wrong} wrong of 100");
    // Caches on the paths answer many (the value proves itself); faulty
    // roots and paths still fail some: 16 with this seed.
    assert!(
        ok <= 95 && wrong > 0,
        "seed {seed}: the attack did not bite: {t:?}"
    );
}

#[test]
fn an_hour_of_churn_with_loss_delivers_and_stays_correct() {
    // #4: 2,000 nodes, median session 30 minutes (exponential, crashes),
    // 1 % loss, one simulated hour of lookups.
    let seed = 44;
    let spec = Spec {
        lookups: 10_000,
        loss: 0.01,
        sessions: Some(Sessions::Exponential(Duration::from_secs(30 * 60))),
        duration: Duration::from_secs(3_600),
        ..Spec::new(2_000, seed)
    };
    let out = scenario::run(&spec, Network::Plane, |_| {});
    let r = &out.report;
    eprintln!("{r:?}");
    assert!(
        out.total.events > 1_000_000,
        "seed {seed}: churn ran ({} events)",
        out.total.events
    );
    delivered_once_at_roots(seed, r, 0.999);
    // Routes stay about as short as in a stable overlay (the stable
    // scenario's bound): a departed table entry's spare still gains a
    // digit. Before spares, 3.44 hops here against 2.69 stable.
    let log16 = 2_000f64.ln() / 16f64.ln();
    assert!(
        r.mean_hops <= log16 + 0.5,
        "seed {seed}: mean hops {} under churn",
        r.mean_hops
    );
}

#[test]
fn six_hours_of_churn_lose_no_stored_value() {
    // #5: 2,000 nodes, k = 5, median session 30 minutes (crashes), 1 %
    // loss, 6 simulated hours, 10,000 values put in the first 36 minutes
    // and read back at random over the rest.
    let seed = 51;
    let spec = Spec {
        lookups: 1_000,
        loss: 0.01,
        sessions: Some(Sessions::Exponential(Duration::from_secs(30 * 60))),
        duration: Duration::from_secs(6 * 3_600),
        dht: Some(Load {
            puts: 10_000,
            gets: 20_000,
            replicas: 5,
            spares: 3,
            eager_spares: 2,
            value_bytes: 100,
            secure: SecureDht::Off,
        }),
        ..Spec::new(2_000, seed)
    };
    let out = scenario::run(&spec, Network::Plane, |_| {});
    let (t, lost, acked) = out.storage.expect("a DHT run");
    eprintln!("{t:?}; {lost} of {acked} lost; {:?}", out.dht_stats);
    // A put whose node crashed before its quorum has nobody to be
    // acknowledged to: it counts neither way (the run spreads puts over
    // nodes that churn, so how many depends on every random draw).
    let judged = t.puts - t.puts_abandoned;
    assert!(
        acked as f64 >= 0.999 * judged as f64,
        "seed {seed}: {acked} of {judged} puts acknowledged ({} abandoned)",
        t.puts_abandoned
    );
    assert_eq!(lost, 0, "seed {seed}: values lost");
    assert!(
        t.gets_ok as f64 >= 0.999 * t.gets as f64,
        "seed {seed}: {} of {} gets right: {t:?}",
        t.gets_ok,
        t.gets
    );
    assert_eq!(t.gets_wrong_value, 0, "seed {seed}: wrong values: {t:?}");
    // Refusals (a node's slots full) are for the caller to retry; they
    // must stay rare.
    assert!(t.refused * 1_000 <= t.puts + t.gets, "seed {seed}: {t:?}");
}

#[test]
fn an_hour_of_churn_multicasts_to_every_member_and_heals_orphans() {
    // #6: 2,000 nodes, median session 30 minutes (crashes), 1 % loss, an
    // hour; 100 groups holding 4,000 subscriptions (Zipf-like sizes; a
    // departed member's replacement takes its groups over), 1,000
    // publications and 1,000 anycasts from random nodes.
    let seed = 61;
    let spec = Spec {
        lookups: 500,
        loss: 0.01,
        sessions: Some(Sessions::Exponential(Duration::from_secs(30 * 60))),
        duration: Duration::from_secs(3_600),
        multicast: Some(groups::Load {
            groups: 100,
            subscribers: 4_000,
            publishes: 1_000,
            anycasts: 1_000,
            anycast_rank: None,
        }),
        ..Spec::new(2_000, seed)
    };
    let out = scenario::run(&spec, Network::Plane, |_| {});
    let (f, t, stats) = out.multicast.expect("a multicast run");
    eprintln!("{f:?}\n{t:?}\n{stats:?}");
    // Members subscribed before a publication and alive through it get it:
    // #6 asks 99.9 %; this seed gives 100 % in the CLI (`sim --seed 61
    // --lookups 500 ...`, see the README).
    assert!(
        f.delivery_ratio >= DELIVERED,
        "seed {seed}: delivered {} of {}",
        f.delivered,
        f.expected
    );
    assert_eq!(f.duplicates, 0, "seed {seed}: a member delivered twice");
    assert!(f.expected >= 10_000, "seed {seed}: too few judged: {f:?}");
    // Children of a failed parent have a live parent with a way to the
    // root a heartbeat plus a second after the failure.
    assert!(
        t.orphans > 1_000 && t.orphans_healed as f64 >= HEALED * t.orphans as f64,
        "seed {seed}: {} of {} orphans healed in time",
        t.orphans_healed,
        t.orphans
    );
    // An anycast to a group with a live member finds one.
    assert!(
        t.anycasts_accepted as f64 >= 0.99 * (t.anycasts_accepted + t.anycasts_missed) as f64,
        "seed {seed}: {t:?}"
    );
    // Every subscribe and anycast datagram is put down to one member's
    // join or one anycast, forwarders' subscribes included.
    let sum = |b: &[(u64, u64)]| b.iter().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
    assert_eq!(
        sum(&f.subscribe_by_size),
        (t.subscribes, t.subscribe_msgs),
        "seed {seed}"
    );
    assert_eq!(
        sum(&f.anycast_by_size),
        (t.anycasts, t.anycast_msgs),
        "seed {seed}"
    );
}

#[test]
fn a_value_whose_holders_all_crash_is_reported_lost() {
    let seed = 71;
    let mut config = SimConfig::new(seed);
    config.dht = Some(pastry_core::dht::DhtConfig::default());
    let mut sim = Sim::new(config, Network::Plane);
    sim.storage.value_bytes = 100;
    build(
        &mut sim,
        40,
        Duration::from_millis(100),
        Duration::from_secs(30),
    );
    for _ in 0..10 {
        let i = sim.random_active().expect("an active node");
        sim.dht_put(i);
        sim.run_for(Duration::from_secs(1));
    }
    sim.run_for(Duration::from_secs(10));
    let keys = sim.acked_keys().to_vec();
    assert!(keys.len() >= 8, "seed {seed}: {} acked", keys.len());
    assert_eq!(sim.values_lost(), (vec![], keys.len()), "seed {seed}");
    let victim = keys[0];
    let holders = sim.holders(victim);
    assert!(holders.len() >= 5, "seed {seed}: held by {holders:?}");
    for i in holders {
        sim.crash(i);
    }
    // The brute force: every acknowledged key no live slot holds.
    let mut want: Vec<_> = keys
        .iter()
        .copied()
        .filter(|&k| sim.holders(k).is_empty())
        .collect();
    want.sort_unstable();
    let (lost, acked) = sim.values_lost();
    assert!(lost.contains(&victim), "seed {seed}");
    assert_eq!((lost, acked), (want, keys.len()), "seed {seed}");
}

/// The children of crashed tree nodes in a quiet overlay: each hangs from
/// the root again, by live parents that list it (walked here over every
/// node's state), and the simulator's heal times agree: none before a
/// quarter heartbeat (the parent beat at most half a heartbeat before it
/// crashed; a child asks for a beat an eighth of a heartbeat late and
/// waits at least an eighth more), none after a heartbeat and a second.
#[test]
fn children_of_crashed_tree_nodes_heal_within_a_heartbeat_and_a_second() {
    let seed = 83;
    let mut config = SimConfig::new(seed);
    let scribe = pastry_core::scribe::ScribeConfig::default();
    config.scribe = Some(scribe);
    let mut sim = Sim::<SCRIBE_POOL>::with_pool(config, Network::Plane);
    scenario::build(&mut sim, 300, Duration::from_millis(100), |_| {});
    sim.run_for(Duration::from_secs(60));
    sim.multicast = groups::Multicast::new(&groups::Load {
        groups: 1,
        subscribers: 150,
        publishes: 0,
        anycasts: 0,
        anycast_rank: None,
    });
    for _ in 0..150 {
        if let Some(i) = sim.random_non_member(0) {
            sim.subscribe(i, 0);
        }
        sim.run_for(Duration::from_millis(50));
    }
    sim.run_for(Duration::from_secs(30));
    let group = sim.multicast.groups[0];
    let index = |sim: &Sim<SCRIBE_POOL>, addr| {
        sim.live()
            .into_iter()
            .find(|&j| sim.node(j).is_some_and(|n| n.own().addr == addr))
    };
    // Three tree nodes with children, none of them the root.
    let victims: Vec<usize> = sim
        .live()
        .into_iter()
        .filter(|&i| {
            sim.tree(i, group)
                .is_some_and(|g| !g.root && g.children.len() >= 2)
        })
        .take(3)
        .collect();
    assert_eq!(victims.len(), 3, "seed {seed}: too few interior nodes");
    let mut orphans: Vec<usize> = victims
        .iter()
        .flat_map(|&v| sim.tree(v, group).unwrap().children.iter().map(|c| c.addr))
        .filter_map(|addr| index(&sim, addr))
        .filter(|c| !victims.contains(c))
        .collect();
    orphans.sort_unstable();
    orphans.dedup();
    for &v in &victims {
        sim.crash(v);
    }
    sim.run_for(scribe.heartbeat + HEAL_SLACK + Duration::from_secs(15));
    for &c in &orphans {
        // The brute force: up the parent pointers to the root.
        let mut at = c;
        for step in 0.. {
            let g = sim.tree(at, group).expect("on the tree");
            if g.root {
                break;
            }
            assert!(step < 64, "seed {seed}: {c}'s way up loops");
            let p = index(&sim, g.parent.expect("a parent").addr).expect("a live parent");
            let own = sim.node(at).unwrap().own().id;
            assert!(sim.tree(p, group).unwrap().has_child(own), "seed {seed}");
            at = p;
        }
    }
    let t = sim.multicast.tally;
    let h = sim.heal_times();
    assert_eq!(t.orphans, orphans.len() as u64, "seed {seed}: {t:?}");
    assert_eq!(t.orphans_healed, t.orphans, "seed {seed}: {h:?}");
    assert_eq!(h.never, 0, "seed {seed}");
    let p = h.after_failure;
    assert!(
        p.max.unwrap() <= scribe.heartbeat + HEAL_SLACK,
        "seed {seed}: {h:?}"
    );
    assert!(p.min.unwrap() >= scribe.heartbeat / 4, "seed {seed}: {h:?}");
}

/// Share of (member, publication) pairs that must be delivered.
const DELIVERED: f64 = 0.999;
/// Share of orphans that must have healed a heartbeat plus a second after
/// their parent failed (98.7 % at this seed; 97.3 % before children asked
/// for late beats, 86.1 % before a node could stand in for a failed root).
const HEALED: f64 = 0.95;

#[test]
fn the_cli_report_is_a_function_of_seed_and_flags() {
    let spec = Spec {
        dht: Some(Load {
            puts: 200,
            gets: 300,
            replicas: 3,
            spares: 3,
            eager_spares: 0,
            value_bytes: 500,
            secure: SecureDht::Off,
        }),
        multicast: Some(groups::Load {
            groups: 10,
            subscribers: 300,
            publishes: 50,
            anycasts: 50,
            anycast_rank: None,
        }),
        lookups: 300,
        loss: 0.01,
        jitter: 0.2,
        sessions: Some(Sessions::Pareto(Duration::from_secs(120), 1.5)),
        duration: Duration::from_secs(60),
        ..Spec::new(200, 45)
    };
    let json = || {
        let mut v = scenario::run(&spec, Network::Plane, |_| {}).to_json(&spec, "plane");
        let o = v.as_object_mut().expect("an object");
        for wall in ["wall_seconds", "events_per_wall_s"] {
            assert!(o.remove(wall).is_some(), "{wall} reported");
        }
        v
    };
    let (a, b) = (json(), json());
    assert_eq!(a, b, "seed 45: two runs differ");
    // The fields #4 asks of `sim --json` (the wall ones checked above).
    for field in [
        "nodes",
        "seed",
        "lookups",
        "delivered",
        "correct",
        "mean_hops",
        "p50_hops",
        "p99_hops",
        "max_hops",
        "hop_histogram",
        "mean_rdp",
        "p50_rdp",
        "p99_rdp",
        "control_msgs_per_node_per_s",
        "control_bytes_per_node_per_s",
        "leafset_correct_fraction",
        "sim_seconds",
        "events",
        // #5's, with a DHT load.
        "puts_acked",
        "gets_ok",
        "gets_not_found",
        "gets_wrong_value",
        "values_lost",
        "replication_msgs_per_node_per_s",
        "replication_bytes_per_node_per_s",
        // #6's, with a multicast load.
        "multicast_delivery_ratio",
        "delay_penalty_mean",
        "delay_penalty_p99",
        "node_stress_mean",
        "node_stress_max",
        "subscribe_msgs_mean",
        "anycast_msgs_mean",
        "anycast_success_ratio",
        "subscribe_msgs_by_group_size",
        "anycast_msgs_by_group_size",
    ] {
        assert!(a.get(field).is_some(), "{field} missing from {a}");
    }
    assert!(
        a["lookups"] == 300 && a["delivered"].as_u64() > Some(0),
        "{a}"
    );
    assert!(a["puts_acked"].as_u64() > Some(150), "{a}");
    assert!(a["gets_ok"].as_u64() > Some(250), "{a}");
}

/// `--heartbeat-s` reaches the nodes: a 5 s period sends about six times
/// the leaf-set heartbeats of the default 30 s, and the report says which
/// period ran.
#[test]
fn a_shorter_heartbeat_period_sends_more_heartbeats() {
    let spec = |heartbeat| Spec {
        lookups: 50,
        heartbeat,
        duration: Duration::from_secs(120),
        ..Spec::new(100, 91)
    };
    let beats = |heartbeat: Option<Duration>| {
        let s = spec(heartbeat);
        let json = scenario::run(&s, Network::Plane, |_| {}).to_json(&s, "plane");
        let period = json["heartbeat_s"].as_f64().expect("heartbeat_s");
        let n = json["window_datagrams_by_kind"]["Heartbeat"]
            .as_u64()
            .expect("heartbeats counted");
        (period, n)
    };
    let (default_period, slow) = beats(None);
    let (period, fast) = beats(Some(Duration::from_secs(5)));
    assert_eq!((default_period, period), (30.0, 5.0));
    assert!(
        fast >= 4 * slow && fast <= 8 * slow,
        "seed 91: {fast} heartbeats at 5 s, {slow} at 30 s"
    );
}

/// A long DHT run's progress lines count lost values as they happen: the
/// last line agrees with the report, and runs without a DHT count none.
#[test]
fn progress_lines_count_lost_values_as_the_report_does() {
    // One-minute sessions for ten minutes at 150 nodes: harsh enough that
    // this seed loses values (asserted, so the comparison is not 0 = 0).
    let seed = 93;
    let spec = Spec {
        dht: Some(Load {
            puts: 300,
            gets: 0,
            replicas: 3,
            spares: 0,
            eager_spares: 0,
            value_bytes: 100,
            secure: SecureDht::Off,
        }),
        lookups: 20,
        sessions: Some(Sessions::Exponential(Duration::from_secs(60))),
        duration: Duration::from_secs(600),
        ..Spec::new(150, seed)
    };
    let mut seen = Vec::new();
    let out = scenario::run(&spec, Network::Plane, |p| {
        seen.push((p.phase, p.values_lost))
    });
    let (_, lost, _) = out.storage.expect("a DHT run");
    assert!(
        lost > 0,
        "seed {seed}: nothing lost, the check would be empty"
    );
    assert!(seen.iter().all(|s| s.1.is_some()), "seed {seed}: {seen:?}");
    assert_eq!(
        seen.last(),
        Some(&("drain", Some(lost))),
        "seed {seed}: {seen:?}"
    );

    let plain = Spec { dht: None, ..spec };
    let mut counts = Vec::new();
    scenario::run(&plain, Network::Plane, |p| counts.push(p.values_lost));
    assert!(
        !counts.is_empty() && counts.iter().all(Option::is_none),
        "seed {seed}"
    );
}
