//! `sim`: build a Pastry overlay in the deterministic simulator, run
//! lookups over it (with churn and loss if asked) and report what the
//! global view saw.
//!
//! ```text
//! cargo run --release -p pastry-tests --bin sim -- --nodes 2000 --lookups 10000 --json
//! ```
//!
//! Same seed and flags give the same figures; only `wall_seconds`,
//! `events_per_wall_s` and `peak_rss_mib` depend on the machine. Progress goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use pastry_core::Id;
use pastry_tests::sim::Sessions;
use pastry_tests::sim::groups;
use pastry_tests::sim::network::{Matrix, Network};
use pastry_tests::sim::scenario::{self, Spec};
use pastry_tests::sim::storage::{Load, SecureDht};

/// Default location of the PlanetLab matrix, relative to the workspace.
const PLANETLAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/latency/planetlab490/rtt_ms_median.tsv"
);

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Latency {
    /// The measured PlanetLab RTT matrix (490 sites; node i at site i mod 490).
    Planetlab,
    /// Nodes uniform in a 1000 × 1000 square, delay proportional to distance.
    Plane,
}

/// Simulate a Pastry overlay and judge its lookups against the global view.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Overlay size (kept steady under churn).
    #[arg(long, default_value_t = 1_000)]
    nodes: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lookups, spread evenly over the measurement window.
    #[arg(long, default_value_t = 1_000)]
    lookups: usize,
    /// Network model.
    #[arg(long, value_enum, default_value_t = Latency::Plane)]
    latency: Latency,
    /// Path of the RTT matrix for `--latency planetlab`.
    #[arg(long, default_value = PLANETLAB)]
    matrix: PathBuf,
    /// Probability that a datagram is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Each delay is stretched by up to this fraction, at random.
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
    /// Leaf-set heartbeat period in seconds (default 30, MSPastry's); the
    /// lease, after which a silent member is probed, is a tenth longer.
    /// Shorter notices failures sooner at more control traffic.
    #[arg(long)]
    heartbeat_s: Option<f64>,
    /// Nodes verify each other (handshakes with Ed25519 signatures) and
    /// seal every datagram, as the runtimes do; without it the simulator
    /// models the protocol without its cryptography (far faster).
    #[arg(long)]
    verify: bool,
    /// An attacker that never joins sends one forged datagram every this
    /// many milliseconds through the measurement window (forged leaves,
    /// heartbeats, probes, replica copies, join requests, messages in a
    /// member's name); the report's `attack` object says what it did.
    #[arg(long)]
    attack_ms: Option<u64>,
    /// Fraction of the nodes that are faulty: one colluding adversary,
    /// chosen by the seed, making the attacks of --attack.
    #[arg(long, default_value_t = 0.0)]
    faulty: f64,
    /// What faulty nodes do, comma-separated: drop (swallow routed
    /// messages), misroute (to the colluder nearest the key), fake-root
    /// (claim every key, answer DHT gets falsely), eclipse (offer only
    /// colluders), or all.
    #[arg(long, default_value = "all", value_parser = pastry_tests::sim::byzantine::Attacks::parse)]
    attack: pastry_tests::sim::byzantine::Attacks,
    /// Secure lookups (OSDI'02's sec_route to --secure-r roots) spread
    /// over the window beside the plain ones; implies --secure.
    #[arg(long, default_value_t = 0)]
    secure_lookups: usize,
    /// Replica roots each secure lookup must reach.
    #[arg(long, default_value_t = 5)]
    secure_r: usize,
    /// Nodes fill constrained routing tables and check their leaf sets by
    /// secure lookups (SecureConfig::enabled).
    #[arg(long)]
    secure: bool,
    /// The routing failure test's threshold γ: an answer sparser than γ
    /// times the node's own leaf set fails (default 3).
    #[arg(long)]
    gamma: Option<f64>,
    /// First hops of redundant routing (default 32, at most 32).
    #[arg(long)]
    secure_routes: Option<u8>,
    /// Leaf-set size l, even, 2 to 32 (OSDI'02 measured secure routing
    /// with 32); above 16, no --groups.
    #[arg(long, default_value_t = 16)]
    leaf_set: usize,
    /// The nodes' largest datagram in bytes (default 1,280; 1,472 with
    /// --leaf-set above 16).
    #[arg(long)]
    max_datagram: Option<usize>,
    /// Median session length in minutes during the measurement; 0 = no churn.
    #[arg(long, default_value_t = 0.0)]
    session_mins: f64,
    /// Pareto sessions with this shape instead of exponential ones.
    #[arg(long)]
    pareto: Option<f64>,
    /// Fraction of departures that are graceful leaves (the rest crash).
    #[arg(long, default_value_t = 0.0)]
    graceful: f64,
    /// One node starts joining every J simulated milliseconds, through a
    /// random active node.
    #[arg(long, default_value_t = 100)]
    join_interval_ms: u64,
    /// Simulated seconds between the last join and the measurement.
    #[arg(long, default_value_t = 60)]
    settle_s: u64,
    /// Simulated seconds of measurement.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// DHT: values put (new random keys, over the first tenth of the
    /// measurement window); with --gets, runs the DHT on every node.
    #[arg(long, default_value_t = 0)]
    puts: usize,
    /// DHT: gets of acknowledged keys (over the rest of the window).
    #[arg(long, default_value_t = 0)]
    gets: usize,
    /// DHT: replicas per value, k (1 to 7, and below half the leaf set).
    #[arg(long, default_value_t = 5)]
    replicas: usize,
    /// DHT: spare copies kept beyond k by nodes that fell out of a key's
    /// replica set (k + spares at most 9; default 3, or fewer to fit).
    #[arg(long)]
    spares: Option<usize>,
    /// DHT: of the spares, how many are kept in sync like replicas
    /// (`DhtConfig::eager_spares`; default 2, or fewer to fit --spares; only
    /// as many as keep k + eager spares at most 7 are eager).
    #[arg(long)]
    eager_spares: Option<usize>,
    /// DHT: bytes per value (at most 1,086 with the default datagrams, 966
    /// with --verify).
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// DHT: puts and gets through secure routing: `plain` values (a get
    /// takes what a majority of the roots return) or `content`-hash
    /// values (a get takes any that hashes to its key); `off` by default.
    #[arg(long, default_value = "off", value_parser = secure_dht)]
    secure_dht: SecureDht,
    /// Scribe: groups (Zipf-like sizes); with --subscribers, runs Scribe
    /// on every node.
    #[arg(long, default_value_t = 0)]
    groups: usize,
    /// Scribe: subscriptions over all groups (over the first tenth of the
    /// window; a departed member's replacement takes its groups over).
    #[arg(long, default_value_t = 0)]
    subscribers: usize,
    /// Scribe: publications, each from a random node to a random group.
    #[arg(long, default_value_t = 0)]
    publishes: usize,
    /// Scribe: anycasts, each from a random node to a random group.
    #[arg(long, default_value_t = 0)]
    anycasts: usize,
    /// Scribe: send every anycast to the group of this size rank (1 = the
    /// largest) instead of a random one.
    #[arg(long)]
    anycast_rank: Option<usize>,
    /// Log on stderr every change in who holds this DHT key (hex id; may
    /// be repeated): rerun a seed with a key it lost to see how.
    #[arg(long = "trace-key", value_name = "ID")]
    trace_keys: Vec<Id>,
    /// Describe on stderr every secure lookup that missed a correct root:
    /// what its source accepted and knew, and what stood around each
    /// correct root it missed, against the global view.
    #[arg(long)]
    dump_misses: bool,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let fraction = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("--{name} {v}: must be between 0 and 1"))
        }
    };
    if args.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    if !(args.session_mins.is_finite() && args.session_mins >= 0.0) {
        return Err(format!("--session-mins {}: must be ≥ 0", args.session_mins));
    }
    let median = Duration::from_secs_f64(args.session_mins * 60.0);
    let sessions = match (args.session_mins > 0.0, args.pareto) {
        (false, _) => None,
        (true, None) => Some(Sessions::Exponential(median)),
        (true, Some(a)) if a > 0.0 => Some(Sessions::Pareto(median, a)),
        (true, Some(a)) => return Err(format!("--pareto {a}: the shape must be > 0")),
    };
    let spares = args
        .spares
        .unwrap_or(9usize.saturating_sub(args.replicas).min(3));
    let dht = (args.puts > 0 || args.gets > 0).then_some(Load {
        puts: args.puts,
        gets: args.gets,
        replicas: args.replicas,
        spares,
        eager_spares: args.eager_spares.unwrap_or(spares.min(2)),
        value_bytes: args.value_bytes,
        secure: args.secure_dht,
    });
    // The core's own check of the two (sizes, and room for a full leaf
    // set in a datagram), at the simulator's most: 16 a side.
    let datagram = args
        .max_datagram
        .unwrap_or_else(|| scenario::datagram_for(args.leaf_set));
    let node = pastry_core::Config {
        leaf_set_size: args.leaf_set,
        max_datagram: datagram,
        ..pastry_core::Config::default()
    };
    node.validate(16).map_err(|e| {
        format!(
            "--leaf-set {} --max-datagram {datagram}: {e}",
            args.leaf_set
        )
    })?;
    if args.leaf_set > 16 && args.groups > 0 {
        return Err(format!(
            "--leaf-set {}: runs without --groups",
            args.leaf_set
        ));
    }
    // Below half the leaf set (see `DhtConfig::replicas`: at half no
    // replica set is kept in sync).
    let most = (args.leaf_set / 2 - 1).clamp(1, 7);
    if !(1..=most).contains(&args.replicas) {
        return Err(format!("--replicas {}: must be 1 to {most}", args.replicas));
    }
    if let Some(d) = &dht {
        if d.eager_spares > d.spares {
            return Err(format!(
                "--eager-spares {}: at most --spares ({})",
                d.eager_spares, d.spares
            ));
        }
    }
    if let Some(s) = args.spares.filter(|s| args.replicas + s > 9) {
        return Err(format!("--spares {s}: k + spares must be at most 9"));
    }
    let max_value = pastry_core::node::MAX_PAYLOAD - pastry_core::dht::VALUE_OVERHEAD;
    if args.value_bytes > max_value {
        return Err(format!(
            "--value-bytes {}: at most {max_value}",
            args.value_bytes
        ));
    }
    let multicast = (args.groups > 0 && args.subscribers > 0).then_some(groups::Load {
        groups: args.groups,
        subscribers: args.subscribers,
        publishes: args.publishes,
        anycasts: args.anycasts,
        anycast_rank: args.anycast_rank,
    });
    if (args.publishes > 0 || args.anycasts > 0) && multicast.is_none() {
        return Err("--publishes and --anycasts need --groups and --subscribers".into());
    }
    if let Some(r) = args.anycast_rank.filter(|&r| r == 0 || r > args.groups) {
        return Err(format!("--anycast-rank {r}: must be 1 to --groups"));
    }
    let spec = Spec {
        dht,
        multicast,
        lookups: args.lookups,
        loss: fraction("loss", args.loss)?,
        jitter: if args.jitter.is_finite() && args.jitter >= 0.0 {
            args.jitter
        } else {
            return Err(format!("--jitter {}: must be ≥ 0", args.jitter));
        },
        heartbeat: match args.heartbeat_s {
            None => None,
            Some(h) if h.is_finite() && (1.0..=3600.0).contains(&h) => {
                Some(Duration::from_secs_f64(h))
            }
            Some(h) => return Err(format!("--heartbeat-s {h}: must be 1 to 3600")),
        },
        sessions,
        verify: args.verify,
        graceful: fraction("graceful", args.graceful)?,
        join_interval: Duration::from_millis(args.join_interval_ms),
        settle: Duration::from_secs(args.settle_s),
        duration: Duration::from_secs(args.duration_s),
        trace_keys: args.trace_keys.clone(),
        dump_misses: args.dump_misses,
        faulty: args.faulty,
        attacks: args.attack,
        secure_lookups: args.secure_lookups,
        secure_r: args.secure_r,
        secure: args.secure,
        secure_routes: args.secure_routes,
        leaf_set: args.leaf_set,
        max_datagram: args.max_datagram,
        gamma_permille: args.gamma.map(|g| (g * 1000.0).round() as u32),
        attack: args.attack_ms.map(|ms| pastry_tests::sim::attack::Attack {
            every: Duration::from_millis(ms.max(1)),
        }),
        ..Spec::new(args.nodes, args.seed)
    };
    let (network, name) = match args.latency {
        Latency::Plane => (Network::Plane, "plane"),
        Latency::Planetlab => (
            Network::Matrix(Matrix::load(&args.matrix).map_err(|e| e.to_string())?),
            "planetlab",
        ),
    };
    let quiet = args.quiet;
    let out = scenario::run(&spec, network, |p| {
        if !quiet {
            let lost = p
                .values_lost
                .map_or(String::new(), |n| format!("  lost {n}"));
            eprintln!(
                "[{:>7.1} s wall] {:<7} t = {:>8.0} s  live {:>7}  events {:>11}{lost}",
                p.wall_seconds, p.phase, p.sim_seconds, p.live, p.events
            );
        }
    });
    // The process's peak resident memory (Linux; machine-dependent like
    // the wall time).
    let peak_rss_mib = pastry_tests::process::status_kib("VmHWM:").map(|k| k as f64 / 1024.0);
    for key in &out.lost_keys {
        eprintln!(
            "sim: lost {key} (replay with --seed {} --trace-key {key})",
            spec.seed
        );
    }
    for miss in &out.secure_misses {
        eprintln!("sim: {miss}");
    }
    if args.json {
        let mut json = out.to_json(&spec, name);
        json["peak_rss_mib"] = peak_rss_mib.into();
        println!("{json}");
        return Ok(());
    }
    let r = &out.report;
    let pct = |k: usize| 100.0 * k as f64 / r.lookups.max(1) as f64;
    let (msgs, bytes) = out.control_per_node_per_s(&spec);
    println!(
        "{} nodes ({name}), seed {}: {} lookups, {} delivered ({:.3} %), {} correct ({:.3} %), {} failed, {} lost with their source",
        spec.nodes,
        spec.seed,
        r.lookups,
        r.delivered,
        pct(r.delivered),
        r.correct,
        pct(r.correct),
        r.failed,
        r.lost_source_gone
    );
    println!(
        "hops: mean {:.3}, p50 {}, p99 {}, max {}; histogram {:?}",
        r.mean_hops, r.p50_hops, r.p99_hops, r.max_hops, r.hop_histogram
    );
    println!(
        "rdp: mean {:.3}, p50 {:.3}, p99 {:.3}",
        r.mean_rdp, r.p50_rdp, r.p99_rdp
    );
    println!(
        "control: {msgs:.3} msg and {bytes:.1} B per node per s; leaf sets correct {:.4}",
        out.leafset_correct_fraction
    );
    if let Some((t, lost, acked)) = &out.storage {
        let node_seconds = out.live_nodes.max(1) as f64 * spec.duration.as_secs_f64().max(1e-9);
        println!(
            "dht: {} puts, {} acked, {} failed ({} timed out); {} gets, {} ok ({} from caches), {} not found, {} wrong, {} timed out, {} disputed; {} refused, {} abandoned",
            t.puts,
            t.puts_acked,
            t.puts_failed,
            t.puts_timed_out,
            t.gets,
            t.gets_ok,
            t.gets_from_cache,
            t.gets_not_found,
            t.gets_wrong_value,
            t.gets_timed_out,
            t.gets_disputed,
            t.refused,
            t.abandoned
        );
        if let Some(stats) = &out.dht_stats {
            println!("dht (live nodes): {stats:?}");
        }
        println!(
            "dht: {lost} of {acked} values lost; replication {:.3} msg and {:.1} B per node per s",
            out.window.replication_datagrams as f64 / node_seconds,
            out.window.replication_bytes as f64 / node_seconds
        );
    }
    if let Some((f, t, stats)) = &out.multicast {
        println!(
            "multicast: {} publications, delivered {} of {} ({:.4}), {} twice; delay penalty mean {:.2}, p99 {:.2}; node stress mean {:.2}, max {}",
            t.publishes,
            f.delivered,
            f.expected,
            f.delivery_ratio,
            f.duplicates,
            f.delay_penalty_mean,
            f.delay_penalty_p99,
            f.node_stress_mean,
            f.node_stress_max
        );
        println!(
            "subscribe: {} commands, {:.2} datagrams each; anycast: {} sent, {} accepted, {} missed, {} to empty groups, {:.2} datagrams each; orphans healed in a heartbeat and a second: {} of {} ({} more 10 s later)",
            t.subscribes,
            t.subscribe_msgs as f64 / t.subscribes.max(1) as f64,
            t.anycasts,
            t.anycasts_accepted,
            t.anycasts_missed,
            t.anycasts_to_empty,
            t.anycast_msgs as f64 / t.anycasts.max(1) as f64,
            t.orphans_healed,
            t.orphans,
            t.orphans_healed_late
        );
        let ms = |d: Option<Duration>| {
            d.map_or("not healed".into(), |d| format!("{} ms", d.as_millis()))
        };
        for (what, p) in [
            ("their parent failed", f.heal.after_failure),
            ("they noticed", f.heal.after_noticing),
        ] {
            println!(
                "orphans healed after {what}: median {}, p90 {}, p99 {}, longest {}",
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.max)
            );
        }
        println!("orphans never healed: {}", f.heal.never);
        println!(
            "trees per live node at the end: mean {:.2}, most {}; subscribes refused by a node on all the trees it holds: {}",
            f.trees_mean, f.trees_max, stats.refused
        );
        println!("scribe (live nodes): {stats:?}");
    }
    println!(
        "{:.0} simulated s, {} events in {:.1} wall s ({:.0} events per wall s), peak RSS {}",
        out.sim_seconds,
        out.total.events,
        out.wall_seconds,
        out.total.events as f64 / out.wall_seconds.max(1e-9),
        peak_rss_mib.map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    Ok(())
}

fn secure_dht(s: &str) -> Result<SecureDht, String> {
    match s {
        "off" => Ok(SecureDht::Off),
        "plain" => Ok(SecureDht::Plain),
        "content" => Ok(SecureDht::Content),
        other => Err(format!("{other}: off, plain or content")),
    }
}
