//! The standard experiment, shared by the `sim` CLI and the scenario
//! tests: build an overlay one node at a time, let it settle, then spread
//! lookups over a measurement window with churn running if asked, and
//! report what the global view saw.

use std::time::{Duration, Instant as WallClock};

use pastry_core::wire::Kind;
use serde_json::{Value, json};

use super::network::Network;
use super::report::Report;
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
}

impl Spec {
    /// The CLI's defaults for `nodes` nodes: no loss or churn, one join
    /// every 100 ms, a minute to settle, a minute of measurement.
    pub fn new(nodes: usize, seed: u64) -> Spec {
        Spec {
            nodes,
            seed,
            lookups: 1_000,
            loss: 0.0,
            jitter: 0.0,
            sessions: None,
            graceful: 0.0,
            join_interval: Duration::from_millis(100),
            settle: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(30),
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
    /// Routing-table completeness by row when the window closed: (slots
    /// filled, slots a live node could fill), summed over nodes.
    pub table_fill: Vec<(u64, u64)>,
    /// Nodes live when the window closed.
    pub live_nodes: usize,
    /// Simulated time of the whole run.
    pub sim_seconds: f64,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// Runs `spec` on a simulator over `network`, calling `progress` now and
/// then (every few simulated minutes of building, and at phase changes).
pub fn run(spec: &Spec, network: Network, mut progress: impl FnMut(&Progress)) -> Outcome {
    let wall = WallClock::now();
    let mut config = SimConfig::new(spec.seed);
    config.loss = spec.loss;
    config.jitter = spec.jitter;
    let mut sim = Sim::new(config, network);
    let start = sim.now;
    let mut tell = |sim: &Sim, phase| {
        progress(&Progress {
            phase,
            live: sim.truth.len(),
            sim_seconds: (sim.now - start).as_secs_f64(),
            events: sim.counters.events,
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
    let before = sim.counters.clone();
    let from = sim.lookup_order.len();
    let end = sim.now + spec.duration;
    // A lookup refused by its source (queue full), or with no active
    // source, still counts as one not delivered.
    let refused = spread_lookups(&mut sim, spec.lookups, spec.duration, |sim| {
        tell(sim, "measure")
    });
    sim.run_until(end);
    let window = sim.counters.since(&before);
    let leafset_correct_fraction = sim.leafset_correct_fraction();
    let table_fill = sim.table_fill();
    let live_nodes = sim.truth.len();
    tell(&sim, "measure");

    sim.stop_churn();
    sim.run_for(spec.drain);
    tell(&sim, "drain");
    let mut report = Report::of(&sim, from);
    report.lookups += refused;
    Outcome {
        report,
        window,
        total: sim.counters.clone(),
        leafset_correct_fraction,
        table_fill,
        live_nodes,
        sim_seconds: (sim.now - start).as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
    }
}

/// Starts `n` nodes, one every `interval`, each joining through a random
/// active node; `progress` is called every twentieth.
pub fn build(sim: &mut Sim, n: usize, interval: Duration, mut progress: impl FnMut(&Sim)) {
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
pub fn spread_lookups(
    sim: &mut Sim,
    m: usize,
    span: Duration,
    mut progress: impl FnMut(&Sim),
) -> usize {
    let gap = span / m.max(1) as u32;
    let every = (m / 20).max(1);
    let mut refused = 0;
    for k in 0..m {
        let sent = sim.random_active().and_then(|src| {
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
        let by_kind: serde_json::Map<String, Value> = Kind::ALL
            .iter()
            .map(|k| {
                (
                    format!("{k:?}"),
                    json!(self.window.by_kind[*k as usize & 0x0f]),
                )
            })
            .collect();
        json!({
            "nodes": spec.nodes,
            "seed": spec.seed,
            "latency": network,
            "loss": spec.loss,
            "jitter": spec.jitter,
            "session_mins": session_mins,
            "sessions": session_model,
            "graceful": spec.graceful,
            "join_interval_ms": spec.join_interval.as_millis() as u64,
            "duration_s": spec.duration.as_secs_f64(),
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
            "window_datagrams_by_kind": by_kind,
            "leafset_correct_fraction": self.leafset_correct_fraction,
            "table_fill_by_row": self.table_fill.iter().map(|(f, n)| json!({"filled": f, "fillable": n})).collect::<Vec<_>>(),
            "live_nodes": self.live_nodes,
            "datagrams": self.total.datagrams,
            "dropped": self.total.dropped,
            "join_failures": self.total.join_failures,
            "sim_seconds": self.sim_seconds,
            "events": self.total.events,
            "wall_seconds": self.wall_seconds,
            "events_per_wall_s": self.total.events as f64 / self.wall_seconds.max(1e-9),
        })
    }
}
