//! The standard experiment, shared by the `sim` CLI and the scenario
//! tests: build an overlay one node at a time, let it settle, then spread
//! lookups over a measurement window with churn running if asked, and
//! report what the global view saw.

use std::time::{Duration, Instant as WallClock};

use pastry_core::Id;
use pastry_core::wire::Kind;
use serde_json::{Value, json};

use super::attack::{Attack, AttackTally};
use super::byzantine::Attacks;
use super::groups::{self, Figures, PUBLISH_WINDOW};
use super::healing::Percentiles;
use super::keytrace::KeyTrace;
use super::network::Network;
use super::report::Report;
use super::storage::{Load, SecureDht, Tally};
use super::{Churn, Counters, Sessions, Sim, SimConfig};

/// What to run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Overlay size (steady under churn).
    pub nodes: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Lookups spread evenly over the measurement window.
    pub lookups: usize,
    /// Datagram loss probability.
    pub loss: f64,
    /// Each delay is stretched by up to this fraction, at random.
    pub jitter: f64,
    /// Leaf-set heartbeat period, if not the default (the lease is a
    /// tenth longer, as 33 s is to 30 s).
    pub heartbeat: Option<Duration>,
    /// Nodes verify each other and seal their datagrams (the runtimes'
    /// default); off, the simulator models the protocol without its
    /// cryptography.
    pub verify: bool,
    /// Median session under churn; `None` for a stable overlay.
    pub sessions: Option<Sessions>,
    /// Fraction of departures that are graceful leaves.
    pub graceful: f64,
    /// One node starts joining every this often while the overlay is built.
    pub join_interval: Duration,
    /// Quiet time between the last join and the measurement window.
    pub settle: Duration,
    /// The measurement window.
    pub duration: Duration,
    /// After the window, time for lookups in flight to end (churn stopped).
    pub drain: Duration,
    /// The DHT's workload, if the run stores values: puts spread over the
    /// first tenth of the window, gets over the rest.
    pub dht: Option<Load>,
    /// Scribe's workload, if the run multicasts: subscriptions over the
    /// first tenth of the window, publications and anycasts over the rest.
    pub multicast: Option<groups::Load>,
    /// DHT keys whose holders are logged on stderr as they change
    /// ([`keytrace`](super::keytrace)).
    pub trace_keys: Vec<Id>,
    /// Describe every secure lookup that missed a correct root
    /// ([`Outcome::secure_misses`]).
    pub dump_misses: bool,
    /// An attacker that never joins forges datagrams through the
    /// measurement window ([`attack`](super::attack)).
    pub attack: Option<Attack>,
    /// Fraction of the nodes that are faulty and collude
    /// ([`byzantine`](super::byzantine)), making `attacks`.
    pub faulty: f64,
    /// What the faulty nodes do.
    pub attacks: Attacks,
    /// Secure lookups (`sec_route` to `secure_r` roots) spread over the
    /// window beside the plain ones.
    pub secure_lookups: usize,
    /// Replica roots each secure lookup must reach.
    pub secure_r: usize,
    /// Nodes fill constrained tables and check their leaf sets by secure
    /// lookups ([`pastry_core::secure::SecureConfig::enabled`]); always
    /// when the run sends secure lookups.
    pub secure: bool,
    /// The routing failure test's γ in thousandths, if not the default.
    pub gamma_permille: Option<u32>,
    /// First hops of redundant routing, if not the default.
    pub secure_routes: Option<u8>,
    /// Leaf-set size l: even, 2 to 32 (16 by default). Above 16 the nodes
    /// hold 16 members a side (OSDI'02 §5.3 measured secure routing with
    /// l = 32); such runs have no multicast groups.
    pub leaf_set: usize,
    /// The nodes' `max_datagram`, if not the default: 1,280 bytes, or
    /// 1,472 (an Ethernet frame's UDP payload) for leaf sets above 16,
    /// whose full leaf set of IPv6 peers needs 1,327.
    pub max_datagram: Option<usize>,
}

/// The nodes' `max_datagram` for leaf sets of `leaf_set` when a run does
/// not set it: the default, or above 16 an Ethernet frame's UDP payload
/// (a full leaf set of 32 IPv6 peers needs 1,327 bytes).
pub fn datagram_for(leaf_set: usize) -> usize {
    if leaf_set > 16 {
        1_472
    } else {
        pastry_core::Config::default().max_datagram
    }
}

impl Spec {
    /// The nodes' `max_datagram`: [`Spec::max_datagram`], else
    /// [`datagram_for`] the leaf set.
    pub fn datagram(&self) -> usize {
        self.max_datagram
            .unwrap_or_else(|| datagram_for(self.leaf_set))
    }

    /// The CLI's defaults for `nodes` nodes: no loss or churn, one join
    /// every 100 ms, a minute to settle, a minute of measurement.
    pub fn new(nodes: usize, seed: u64) -> Spec {
        Spec {
            nodes,
            seed,
            lookups: 1_000,
            loss: 0.0,
            jitter: 0.0,
            heartbeat: None,
            verify: false,
            sessions: None,
            graceful: 0.0,
            join_interval: Duration::from_millis(100),
            settle: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(30),
            dht: None,
            multicast: None,
            trace_keys: Vec::new(),
            dump_misses: false,
            attack: None,
            faulty: 0.0,
            attacks: Attacks::ALL,
            secure_lookups: 0,
            secure_r: 5,
            secure: false,
            gamma_permille: None,
            secure_routes: None,
            leaf_set: 16,
            max_datagram: None,
        }
    }
}

/// Where a long run is, for progress lines.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// What the run is doing: `"build"`, `"settle"`, `"measure"`, `"drain"`.
    pub phase: &'static str,
    /// Live nodes.
    pub live: usize,
    /// Simulated seconds since the start.
    pub sim_seconds: f64,
    /// Events so far.
    pub events: u64,
    /// In a DHT run, acknowledged values no live node holds now, so a
    /// long run shows a loss when it happens (only a copy still in flight
    /// could bring one back).
    pub values_lost: Option<usize>,
    /// Wall seconds since the start.
    pub wall_seconds: f64,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The lookups of the measurement window, judged.
    pub report: Report,
    /// Counters over the measurement window only.
    pub window: Counters,
    /// Counters over the whole run.
    pub total: Counters,
    /// Fraction of live active nodes whose leaf set was right when the
    /// window closed.
    pub leafset_correct_fraction: f64,
    /// Correct nodes with a wrong leaf set, by the position of their first
    /// wrong member (0: the nearest), either side.
    pub leaf_set_first_errors: Vec<u64>,
    /// Leaf-set entries of departed nodes, and true members absent, over
    /// the correct nodes when the window closed.
    pub leaf_set_errors: super::views::LeafSetErrors,
    /// Routing-table completeness by row when the window closed, summed
    /// over nodes.
    pub table_fill: Vec<super::views::TableFill>,
    /// Nodes live when the window closed.
    pub live_nodes: usize,
    /// The live nodes' session counters at the end, and sessions held.
    pub sessions: (pastry_core::session::SessionStats, u64),
    /// Simulated time of the whole run.
    pub sim_seconds: f64,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
    /// DHT outcomes, and (values lost, values acknowledged) at the end.
    pub storage: Option<(Tally, usize, usize)>,
    /// Acknowledged values that every correct one of their key's k
    /// closest live nodes holds at the end.
    pub values_on_correct_roots: usize,
    /// The keys of the values lost (replay a seed with
    /// [`Spec::trace_keys`] to see how).
    pub lost_keys: Vec<Id>,
    /// The live nodes' DHT counters at the end.
    pub dht_stats: Option<pastry_core::dht::DhtStats>,
    /// Scribe's figures and counts, and the live nodes' Scribe counters.
    pub multicast: Option<(Figures, groups::Tally, pastry_core::scribe::ScribeStats)>,
    /// What the attacker sent and heard back, the datagrams the live
    /// nodes dropped as unauthenticated, and forged copies they hold.
    pub attack: Option<(AttackTally, u64, usize)>,
    /// Live faulty nodes when the window closed.
    pub faulty_live: usize,
    /// The secure lookups of the window, judged.
    pub secure: super::secure::SecureReport,
    /// The live nodes' secure-routing counters at the end.
    pub secure_stats: pastry_core::node::SecureStats,
    /// Secure lookups their source refused.
    pub secure_refused: u64,
    /// With [`Spec::dump_misses`]: why each secure lookup of the window
    /// that missed a correct root missed, read when the run ended.
    pub secure_misses: Vec<String>,
    /// Over correct nodes when the window closed: the share of proximity-
    /// table entries that are faulty, the share of constrained entries
    /// that are, and constrained entries per node.
    pub table_faulty_share: f64,
    /// See `table_faulty_share`.
    pub constrained_faulty_share: f64,
    /// See `table_faulty_share`.
    pub constrained_per_node: f64,
}

/// Runs `spec` on a simulator over `network`, calling `progress` now and
/// then (every few simulated minutes of building, and at phase changes).
pub fn run(spec: &Spec, network: Network, progress: impl FnMut(&Progress)) -> Outcome {
    // Scribe's tree nodes need more message slots (see `SCRIBE_POOL`);
    // nodes that verify nobody need no room for sessions.
    // Leaf sets above 16 take one build of their own, with sessions so
    // that it may verify (and not multicast: one build fewer).
    use super::{PLAIN_SESSIONS, SCRIBE_POOL, SIM_SESSIONS};
    assert!(
        spec.leaf_set <= 16 || spec.multicast.is_none(),
        "a leaf set of {} runs without multicast",
        spec.leaf_set
    );
    match (spec.multicast, spec.verify) {
        _ if spec.leaf_set > 16 => run_on::<16, SIM_SESSIONS, 16>(spec, network, progress),
        (Some(_), _) => run_on::<SCRIBE_POOL, SIM_SESSIONS, 8>(spec, network, progress),
        (None, true) => run_on::<16, SIM_SESSIONS, 8>(spec, network, progress),
        (None, false) => run_on::<16, PLAIN_SESSIONS, 8>(spec, network, progress),
    }
}

fn run_on<const POOL: usize, const S: usize, const HALF: usize>(
    spec: &Spec,
    network: Network,
    mut progress: impl FnMut(&Progress),
) -> Outcome {
    let wall = WallClock::now();
    let mut config = SimConfig::new(spec.seed);
    config.loss = spec.loss;
    config.jitter = spec.jitter;
    config.node.verify_peers = spec.verify;
    config.node.leaf_set_size = spec.leaf_set;
    config.node.max_datagram = spec.datagram();
    let secure_dht = spec.dht.is_some_and(|l| l.secure != SecureDht::Off);
    config.node.secure.enabled = spec.secure || spec.secure_lookups > 0 || secure_dht;
    if let Some(g) = spec.gamma_permille {
        config.node.secure.gamma_permille = g;
    }
    if let Some(r) = spec.secure_routes {
        config.node.secure.routes = r;
    }
    if let Some(h) = spec.heartbeat {
        config.node.heartbeat_period = h;
        config.node.lease = h + h / 10;
    }
    config.dht = spec.dht.map(|l| pastry_core::dht::DhtConfig {
        replicas: l.replicas,
        spares: l.spares,
        eager_spares: l.eager_spares,
        quorum: l.replicas.div_ceil(2).max(1),
        ..Default::default()
    });
    config.scribe = spec
        .multicast
        .map(|_| pastry_core::scribe::ScribeConfig::default());
    let mut sim = Sim::<POOL, S, HALF>::with_pool(config, network);
    if spec.faulty > 0.0 {
        sim.set_faulty(spec.faulty, spec.attacks);
    }
    sim.key_trace = KeyTrace::new(spec.trace_keys.clone());
    sim.secure.trace = spec.dump_misses;
    sim.storage.value_bytes = spec.dht.map_or(0, |l| l.value_bytes);
    sim.storage.secure = spec.dht.map_or(SecureDht::Off, |l| l.secure);
    if let Some(load) = &spec.multicast {
        sim.multicast = groups::Multicast::new(load);
    }
    let start = sim.now;
    let mut tell = |sim: &Sim<POOL, S, HALF>, phase| {
        progress(&Progress {
            phase,
            live: sim.truth.len(),
            sim_seconds: (sim.now - start).as_secs_f64(),
            events: sim.counters.events,
            values_lost: spec.dht.map(|_| sim.values_lost().0.len()),
            wall_seconds: wall.elapsed().as_secs_f64(),
        })
    };

    build(&mut sim, spec.nodes, spec.join_interval, |sim| {
        tell(sim, "build")
    });
    sim.run_for(spec.settle);
    tell(&sim, "settle");

    if let Some(sessions) = spec.sessions {
        sim.start_churn(Churn {
            sessions,
            graceful: spec.graceful,
        });
    }
    if let Some(attack) = spec.attack {
        sim.start_attack(attack);
    }
    let before = sim.counters.clone();
    let from = sim.lookup_order.len();
    let secure_from = sim.secure.order.len();
    // A lookup refused by its source (queue full), or with no active
    // source, still counts as one not delivered. The work runs to the
    // window's end.
    let refused = spread_work(&mut sim, spec, |sim| tell(sim, "measure"));
    let window = sim.counters.since(&before);
    let leafset_correct_fraction = sim.leafset_correct_fraction();
    let leaf_set_first_errors = sim.leaf_set_first_errors();
    let leaf_set_errors = sim.leaf_set_errors();
    let table_fill = sim.table_fill();
    let live_nodes = sim.truth.len();
    let faulty_live = sim.faulty_live();
    let (table_faulty_share, constrained_faulty_share, constrained_per_node) = sim.table_shares();
    tell(&sim, "measure");

    sim.stop_churn();
    sim.stop_attack();
    sim.run_for(spec.drain);
    tell(&sim, "drain");
    let mut report = Report::of(&sim, from);
    report.lookups += refused;
    let mut lost_keys = Vec::new();
    let mut on_correct_roots = 0;
    let storage = spec.dht.map(|_| {
        sim.abandon_orphans();
        let (lost, acked) = sim.values_lost();
        lost_keys = lost;
        on_correct_roots = spec
            .dht
            .map_or(0, |l| sim.on_every_correct_root(l.replicas));
        (sim.storage.tally, lost_keys.len(), acked)
    });
    let multicast = spec.multicast.map(|_| {
        let f = sim.multicast_figures();
        (f, sim.multicast.tally, sim.scribe_stats())
    });
    Outcome {
        report,
        window,
        sessions: sim.session_totals(),
        total: sim.counters.clone(),
        leafset_correct_fraction,
        leaf_set_first_errors,
        leaf_set_errors,
        table_fill,
        live_nodes,
        sim_seconds: (sim.now - start).as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        dht_stats: spec.dht.map(|_| sim.dht_stats()),
        storage,
        values_on_correct_roots: on_correct_roots,
        lost_keys,
        multicast,
        attack: sim
            .attack_tally()
            .map(|t| (t, sim.unauthenticated_drops(), sim.forged_values_held())),
        faulty_live,
        secure: sim.secure_report(secure_from),
        secure_stats: sim.secure_stats(),
        secure_refused: sim.secure.refused,
        secure_misses: match spec.dump_misses {
            true => sim.describe_secure_misses(secure_from),
            false => Vec::new(),
        },
        table_faulty_share,
        constrained_faulty_share,
        constrained_per_node,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    Lookup,
    Secure,
    Put,
    Get,
    Subscribe(u32),
    Publish,
    Anycast,
}

/// Runs the measurement window's work in time order: lookups spread evenly
/// over it, and the DHT's puts over its first tenth and gets over the
/// rest. Returns the lookups that could not be sent.
fn spread_work<const POOL: usize, const S: usize, const HALF: usize>(
    sim: &mut Sim<POOL, S, HALF>,
    spec: &Spec,
    mut progress: impl FnMut(&Sim<POOL, S, HALF>),
) -> usize {
    let span = spec.duration;
    let spread = |n: usize, from: Duration, len: Duration| {
        let gap = len / n.max(1) as u32;
        (0..n).map(move |k| from + gap * k as u32)
    };
    let mut work: Vec<(Duration, Work)> = spread(spec.lookups, Duration::ZERO, span)
        .map(|t| (t, Work::Lookup))
        .collect();
    work.extend(spread(spec.secure_lookups, Duration::ZERO, span).map(|t| (t, Work::Secure)));
    if let Some(load) = spec.dht {
        let puts_span = span / 10;
        work.extend(spread(load.puts, Duration::ZERO, puts_span).map(|t| (t, Work::Put)));
        work.extend(spread(load.gets, puts_span, span - puts_span).map(|t| (t, Work::Get)));
    }
    if let Some(load) = spec.multicast {
        // Subscriptions over the first tenth; publications and anycasts
        // after, ending a publication's window before the window closes.
        let subs_span = span / 10;
        let sizes = load.sizes(spec.nodes);
        let n: usize = sizes.iter().sum();
        let mut times = spread(n, Duration::ZERO, subs_span);
        for (g, &size) in sizes.iter().enumerate() {
            work.extend(
                times
                    .by_ref()
                    .take(size)
                    .map(|t| (t, Work::Subscribe(g as u32))),
            );
        }
        let rest = span.saturating_sub(subs_span + PUBLISH_WINDOW);
        work.extend(spread(load.publishes, subs_span, rest).map(|t| (t, Work::Publish)));
        work.extend(spread(load.anycasts, subs_span, rest).map(|t| (t, Work::Anycast)));
    }
    work.sort();
    let start = sim.now;
    let every = (work.len() / 20).max(1);
    // Progress also every fiftieth of the window: the work is bunched
    // (subscriptions in the first tenth), and a long quiet stretch after
    // it must not look like a stall.
    let tick = (span / 50).max(Duration::from_millis(1));
    let mut next_tick = start + tick;
    let mut run_to =
        |sim: &mut Sim<POOL, S, HALF>, until, progress: &mut dyn FnMut(&Sim<POOL, S, HALF>)| {
            while next_tick <= until {
                sim.run_until(next_tick);
                progress(sim);
                next_tick += tick;
            }
            sim.run_until(until);
        };
    let mut refused = 0;
    for (k, (at, what)) in work.into_iter().enumerate() {
        run_to(sim, start + at, &mut progress);
        match what {
            Work::Lookup => {
                let sent = sim.random_correct().and_then(|src| {
                    let key = sim.random_key();
                    sim.lookup(src, key)
                });
                refused += usize::from(sent.is_none());
            }
            Work::Secure => match sim.random_correct() {
                Some(src) => {
                    let key = sim.random_key();
                    sim.secure_lookup(src, key, spec.secure_r);
                }
                None => sim.secure.refused += 1,
            },
            Work::Put => match sim.random_correct() {
                Some(i) => sim.dht_put(i),
                None => sim.storage.tally.refused += 1,
            },
            Work::Get => match sim.random_correct() {
                Some(i) => sim.dht_get(i),
                None => sim.storage.tally.refused += 1,
            },
            Work::Subscribe(g) => match sim.random_non_member(g) {
                Some(i) => sim.subscribe(i, g),
                None => sim.multicast.tally.refused += 1,
            },
            Work::Publish | Work::Anycast => {
                let rank = spec.multicast.and_then(|l| l.anycast_rank);
                let g = match rank.filter(|_| what == Work::Anycast) {
                    Some(r) => r.saturating_sub(1) as u32,
                    None => sim.rng.below(sim.multicast.groups.len() as u64) as u32,
                };
                match sim.random_active() {
                    Some(i) if what == Work::Publish => sim.publish(i, g),
                    Some(i) => sim.anycast(i, g),
                    None => sim.multicast.tally.refused += 1,
                }
            }
        }
        if (k + 1) % every == 0 {
            progress(sim);
        }
    }
    run_to(sim, start + span, &mut progress);
    refused
}

/// Starts `n` nodes, one every `interval`, each joining through a random
/// active node; `progress` is called every twentieth.
pub fn build<const POOL: usize, const S: usize, const HALF: usize>(
    sim: &mut Sim<POOL, S, HALF>,
    n: usize,
    interval: Duration,
    mut progress: impl FnMut(&Sim<POOL, S, HALF>),
) {
    let every = (n / 20).max(1);
    for k in 0..n {
        sim.spawn();
        sim.run_for(interval);
        if (k + 1) % every == 0 && k + 1 < n {
            progress(sim);
        }
    }
}

/// Sends `m` lookups spread evenly over `span`, each from a random live
/// active node to a random key; `progress` is called every twentieth.
/// Returns how many could not be sent (no active source, or refused).
pub fn spread_lookups<const POOL: usize, const S: usize, const HALF: usize>(
    sim: &mut Sim<POOL, S, HALF>,
    m: usize,
    span: Duration,
    mut progress: impl FnMut(&Sim<POOL, S, HALF>),
) -> usize {
    let gap = span / m.max(1) as u32;
    let every = (m / 20).max(1);
    let mut refused = 0;
    for k in 0..m {
        let sent = sim.random_correct().and_then(|src| {
            let key = sim.random_key();
            sim.lookup(src, key)
        });
        refused += usize::from(sent.is_none());
        sim.run_for(gap);
        if (k + 1) % every == 0 && k + 1 < m {
            progress(sim);
        }
    }
    refused
}

impl Outcome {
    /// Control datagrams (and bytes) per live node per second of the
    /// measurement window.
    pub fn control_per_node_per_s(&self, spec: &Spec) -> (f64, f64) {
        let node_seconds = self.live_nodes.max(1) as f64 * spec.duration.as_secs_f64().max(1e-9);
        (
            self.window.control_datagrams as f64 / node_seconds,
            self.window.control_bytes as f64 / node_seconds,
        )
    }

    /// The CLI's JSON object. Everything but the `wall_*` and
    /// `events_per_wall_s` fields is a function of the spec alone.
    pub fn to_json(&self, spec: &Spec, network: &str) -> Value {
        let r = &self.report;
        let (msgs, bytes) = self.control_per_node_per_s(spec);
        let (session_mins, session_model) = match spec.sessions {
            None => (0.0, "none".to_string()),
            Some(Sessions::Exponential(m)) => (m.as_secs_f64() / 60.0, "exponential".into()),
            Some(Sessions::Pareto(m, a)) => (m.as_secs_f64() / 60.0, format!("pareto({a})")),
        };
        let by_kind = |counts: &[u64; 32]| -> serde_json::Map<String, Value> {
            Kind::ALL
                .iter()
                .map(|k| (format!("{k:?}"), json!(counts[*k as usize & 0x1f])))
                .collect()
        };
        let mut out = json!({
            "nodes": spec.nodes,
            "seed": spec.seed,
            "latency": network,
            "loss": spec.loss,
            "jitter": spec.jitter,
            "heartbeat_s": config_heartbeat(spec).as_secs_f64(),
            "verify": spec.verify,
            "session_mins": session_mins,
            "sessions": session_model,
            "graceful": spec.graceful,
            "join_interval_ms": spec.join_interval.as_millis() as u64,
            "duration_s": spec.duration.as_secs_f64(),
            "faulty": spec.faulty,
            "attacks": if spec.faulty > 0.0 { spec.attacks.names() } else { Vec::new() },
            "faulty_live": self.faulty_live,
            "lookups": r.lookups,
            "delivered": r.delivered,
            "correct": r.correct,
            "duplicated": r.duplicated,
            "failed": r.failed,
            "mean_hops": r.mean_hops,
            "p50_hops": r.p50_hops,
            "p99_hops": r.p99_hops,
            "max_hops": r.max_hops,
            "hop_histogram": r.hop_histogram,
            "mean_rdp": r.mean_rdp,
            "p50_rdp": r.p50_rdp,
            "p99_rdp": r.p99_rdp,
            "control_msgs_per_node_per_s": msgs,
            "control_bytes_per_node_per_s": bytes,
            "window_datagrams_by_kind": by_kind(&self.window.by_kind),
            "leafset_correct_fraction": self.leafset_correct_fraction,
            "table_fill_by_row": self.table_fill.iter().map(|t| json!({"filled": t.filled, "fillable": t.fillable, "departed": t.departed, "covered": t.covered})).collect::<Vec<_>>(),
            "live_nodes": self.live_nodes,
            "datagrams": self.total.datagrams,
            "dropped": self.total.dropped,
            "join_failures": self.total.join_failures,
            "sim_seconds": self.sim_seconds,
            "events": self.total.events,
            "wall_seconds": self.wall_seconds,
            "events_per_wall_s": self.total.events as f64 / self.wall_seconds.max(1e-9),
        });
        let queries = (self.window.by_kind[Kind::Query as usize]
            + self.window.by_kind[Kind::ReplicaSet as usize]) as f64;
        let node_seconds = self.live_nodes.max(1) as f64 * spec.duration.as_secs_f64().max(1e-9);
        // The judged lookups' own queries and answers; the rest are the
        // nodes' (constrained-table fills, leaf-set checks).
        let judged = self.window.judged_query_datagrams as f64;
        let per_lookup = if self.secure.lookups == 0 {
            0.0
        } else {
            judged / self.secure.lookups as f64
        };
        let secure = json!({
            "secure": spec.secure || spec.secure_lookups > 0,
            "secure_r": spec.secure_r,
            "leaf_set": spec.leaf_set,
            "max_datagram": spec.datagram(),
            "secure_routes": spec.secure_routes.unwrap_or(pastry_core::secure::SecureConfig::default().routes),
            "gamma_permille": spec.gamma_permille.unwrap_or(pastry_core::secure::SecureConfig::default().gamma_permille),
            "secure_lookups": self.secure.lookups,
            "secure_ok": self.secure.ok,
            "leaf_set_first_errors": self.leaf_set_first_errors,
            "leaf_set_stale": self.leaf_set_errors.stale,
            "leaf_set_missing": self.leaf_set_errors.missing,
            "secure_any_ok": self.secure.any_ok,
            "secure_ended": self.secure.ended,
            "secure_ended_ms_p50": self.secure.ended_ms.0,
            "secure_ended_ms_p99": self.secure.ended_ms.1,
            "secure_reached_ms_p50": self.secure.reached_ms.0,
            "secure_reached_ms_p99": self.secure.reached_ms.1,
            "secure_refused": self.secure_refused,
            "secure_redundant": self.secure.redundant,
            "failure_test_fired": self.secure_stats.test_fired,
            "secure_single_timeouts": self.secure_stats.single_timeouts,
            "secure_msgs_per_lookup": per_lookup,
            "secure_control_msgs_per_node_per_s": queries / node_seconds,
            "secure_own_query_msgs_per_node_per_s": (queries - judged) / node_seconds,
            "table_faulty_share": self.table_faulty_share,
            "constrained_entries_per_node": self.constrained_per_node,
            "constrained_faulty_share": self.constrained_faulty_share,
            "secure_live_stats": format!("{:?}", self.secure_stats),
        });
        if let (Value::Object(out), Value::Object(more)) = (&mut out, secure) {
            out.extend(more);
        }
        out["datagrams_by_kind"] = Value::Object(by_kind(&self.total.by_kind));
        out["lost_source_gone"] = json!(r.lost_source_gone);
        out["handshakes"] = json!({
            "established": self.sessions.0.established,
            "timed_out": self.sessions.0.timed_out,
            "evicted": self.sessions.0.evicted,
            "refused": self.sessions.0.refused,
            "no_session": self.sessions.0.no_session,
            "wrong_address": self.sessions.0.wrong_address,
            "bad_tag": self.sessions.0.bad_tag,
            "replayed": self.sessions.0.replayed,
            "rationed": self.sessions.0.rationed,
            "stale_sent": self.sessions.0.stale_sent,
            "stale_heard": self.sessions.0.stale_heard,
            "sessions_held": self.sessions.1,
        });
        if let Some((t, dropped, forged)) = &self.attack {
            let by_kind: serde_json::Map<String, Value> = super::attack::KINDS
                .iter()
                .zip(t.by_kind)
                .map(|(k, n)| (k.to_string(), json!(n)))
                .collect();
            out["attack"] = json!({
                "every_ms": spec.attack.map_or(0, |a| a.every.as_millis() as u64),
                "sent": t.sent,
                "sent_bytes": t.sent_bytes,
                "by_kind": by_kind,
                "answers": t.answers,
                "answer_bytes": t.answer_bytes,
                "dropped_unauthenticated": dropped,
                "forged_values_held": forged,
            });
        }
        if let (Some(load), Some((t, lost, acked))) = (spec.dht, &self.storage) {
            let node_seconds =
                self.live_nodes.max(1) as f64 * spec.duration.as_secs_f64().max(1e-9);
            let fields = json!({
                "replicas": load.replicas,
                "spares": load.spares,
                "eager_spares": load.eager_spares,
                "value_bytes": load.value_bytes,
                "secure_dht": format!("{:?}", load.secure).to_lowercase(),
                "puts": t.puts,
                "puts_acked": t.puts_acked,
                "puts_failed": t.puts_failed,
                "puts_timed_out": t.puts_timed_out,
                "dht_live_stats": format!("{:?}", self.dht_stats.unwrap_or_default()),
                "gets": t.gets,
                "gets_ok": t.gets_ok,
                "gets_from_cache": t.gets_from_cache,
                "gets_not_found": t.gets_not_found,
                "gets_wrong_value": t.gets_wrong_value,
                "gets_timed_out": t.gets_timed_out,
                "gets_disputed": t.gets_disputed,
                "dht_refused": t.refused,
                "dht_abandoned": t.abandoned,
                "puts_abandoned": t.puts_abandoned,
                "values_acked": acked,
                "values_lost": lost,
                "values_on_every_correct_root": self.values_on_correct_roots,
                "replication_msgs_per_node_per_s": self.window.replication_datagrams as f64 / node_seconds,
                "replication_bytes_per_node_per_s": self.window.replication_bytes as f64 / node_seconds,
            });
            if let (Value::Object(out), Value::Object(more)) = (&mut out, fields) {
                out.extend(more);
            }
        }
        if let (Some(load), Some((f, t, stats))) = (spec.multicast, &self.multicast) {
            let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
            // Milliseconds, `null` for "not healed by the end of the run".
            let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
            let pct = |p: &Percentiles| json!({"min": ms(p.min), "p50": ms(p.p50), "p90": ms(p.p90), "p99": ms(p.p99), "max": ms(p.max)});
            // {"0": {"count": n, "msgs_mean": m}, "1-9": ...}, empty
            // buckets left out.
            let by_size = |b: &[(u64, u64)]| {
                let mut o = serde_json::Map::new();
                for (i, &(n, msgs)) in b.iter().enumerate().filter(|(_, c)| c.0 > 0) {
                    o.insert(
                        groups::size_label(i),
                        json!({ "count": n, "msgs_mean": per(msgs, n) }),
                    );
                }
                Value::Object(o)
            };
            let fields = json!({
                "groups": load.groups,
                "subscribers": load.subscribers,
                "anycast_rank": load.anycast_rank,
                "publishes": t.publishes,
                "anycasts": t.anycasts,
                "multicast_delivery_ratio": f.delivery_ratio,
                "multicast_expected": f.expected,
                "multicast_delivered": f.delivered,
                "multicast_duplicates": f.duplicates,
                "delay_penalty_mean": f.delay_penalty_mean,
                "delay_penalty_p99": f.delay_penalty_p99,
                "node_stress_mean": f.node_stress_mean,
                "node_stress_max": f.node_stress_max,
                "subscribes": t.subscribes,
                "subscribe_msgs_mean": per(t.subscribe_msgs, t.subscribes),
                "anycast_msgs_mean": per(t.anycast_msgs, t.anycasts),
                "subscribe_msgs_by_group_size": by_size(&f.subscribe_by_size),
                "anycast_msgs_by_group_size": by_size(&f.anycast_by_size),
                "anycast_success_ratio": per(t.anycasts_accepted, t.anycasts_accepted + t.anycasts_missed),
                "anycasts_accepted": t.anycasts_accepted,
                "anycasts_missed": t.anycasts_missed,
                "anycasts_to_empty": t.anycasts_to_empty,
                "anycasts_abandoned": t.anycasts_abandoned,
                "orphans": t.orphans,
                "orphans_healed_in_heartbeat": t.orphans_healed,
                "orphans_healed_10s_later": t.orphans_healed_late,
                "orphan_heal_ms": pct(&f.heal.after_failure),
                "orphan_heal_after_noticing_ms": pct(&f.heal.after_noticing),
                "orphans_never_healed": f.heal.never,
                "root_orphans": t.root_orphans,
                "root_orphans_healed_in_heartbeat": t.root_orphans_healed,
                "root_orphans_not_healed_10s_later": t.root_orphans_stuck,
                "orphans_late_by_state": {
                    "still_under_failed_parent": t.orphans_late[0],
                    "waiting_for_parent": t.orphans_late[1],
                    "new_parent_gone": t.orphans_late[2],
                    "new_parent_detached_waiting": t.orphans_late[3],
                    "new_parent_detached_under_failed": t.orphans_late[4],
                    "new_parent_detached_under_other": t.orphans_late[5],
                },
                "multicast_refused": t.refused,
                "trees_per_node_mean": f.trees_mean,
                "trees_per_node_max": f.trees_max,
                "subscribes_refused_full": stats.refused,
                "scribe_live_stats": format!("{stats:?}"),
            });
            if let (Value::Object(out), Value::Object(more)) = (&mut out, fields) {
                out.extend(more);
            }
        }
        out
    }
}

/// The leaf-set heartbeat period a run uses.
fn config_heartbeat(spec: &Spec) -> Duration {
    spec.heartbeat
        .unwrap_or(pastry_core::Config::default().heartbeat_period)
}
