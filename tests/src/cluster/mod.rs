//! The `cluster` examples' run, written once for every runtime: an overlay
//! of real nodes on loopback in one process, put through its paces and
//! judged against the global view (every node's id is known here).
//!
//! A runtime plugs in through [`Runtime`] and [`Node`], blocking calls
//! each (an async runtime blocks on its futures). The run starts the
//! nodes, joins them, routes lookups (each must reach the live node
//! numerically closest to its key), puts and gets values, runs one
//! multicast group and an anycast, crashes a fraction of the nodes (in
//! waves of at most k − 1, so no value loses every replica at once), waits
//! for repair, checks every value is still readable and on its k closest
//! live nodes and that a publication reaches every live member, then shuts
//! the rest down. It prints each phase, then a table, and says whether
//! every check passed.

mod phases;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use pastry_core::rng::SmallRng;
use pastry_core::scribe::group_id;
use pastry_core::stack::StackConfig;
use pastry_core::stack::waiters::NodeEvent;
use pastry_core::{AppId, Id, Peer};

use phases::exercise;

use crate::oracle::{Ring, closest_n};

/// The run's settings (the examples' flags).
#[derive(Parser, Debug, Clone)]
#[command(about = "Runs an overlay of N nodes on loopback and checks it end to end")]
pub struct Args {
    /// Nodes to start.
    #[arg(long, default_value_t = 32)]
    pub nodes: usize,
    /// Lookups to route.
    #[arg(long, default_value_t = 256)]
    pub lookups: usize,
    /// Values to store (a quarter more by content hash).
    #[arg(long, default_value_t = 64)]
    pub values: usize,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Fraction of the nodes to crash.
    #[arg(long, default_value_t = 0.25)]
    pub crash: f64,
    /// Seed of the random choices (keys, sources, crashes); random if unset.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the loopback benchmark instead of the checks (BENCHMARKS.md):
    /// join, then `--ops` lookups, puts and gets, `--in-flight` at a time.
    #[arg(long)]
    pub bench: bool,
    /// Operations of each kind for `--bench`.
    #[arg(long, default_value_t = 20_000)]
    pub ops: usize,
    /// pastry-mio: event-loop threads, the nodes spread over them in turn
    /// (0: one per CPU). pastry-tokio ignores it (its runtime schedules
    /// every node's task on all its worker threads). More than one: see
    /// BENCHMARKS.md (leaf sets after a mass join).
    #[arg(long, default_value_t = 1)]
    pub loops: usize,
    /// Leaf-set size l (even, 2 to 32; OSDI'02 measured secure routing
    /// with 32, which needs datagrams of 1,400 bytes: set with it).
    #[arg(long, default_value_t = 16)]
    pub leaf_set: usize,
}

impl Args {
    /// The flags of this process's command line (`--help` prints them).
    pub fn from_env() -> Args {
        Args::parse()
    }
}

/// What the run needs to see of a node's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A routed message delivered at this node.
    Deliver {
        /// Its key.
        key: Id,
        /// Its application.
        app: AppId,
        /// Its source.
        source: Id,
        /// The source's id for it.
        msg_id: u64,
    },
    /// A publication delivered at this node.
    Multicast {
        /// The group.
        group: Id,
        /// The publication's id.
        id: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
}

impl Seen {
    /// What the run sees of a runtime's event (both runtimes hand out the
    /// core's owned events).
    pub fn of(ev: NodeEvent) -> Option<Seen> {
        match ev {
            NodeEvent::Deliver {
                key,
                app,
                source,
                msg_id,
                ..
            } => Some(Seen::Deliver {
                key,
                app,
                source: source.id,
                msg_id,
            }),
            NodeEvent::Multicast { group, id, data } => Some(Seen::Multicast { group, id, data }),
            _ => None,
        }
    }
}

/// One running node, through blocking calls; errors as text.
pub trait Node: Send + Sync {
    /// The node's id and address.
    fn own(&self) -> Peer;
    /// Joins through `via`, or starts the overlay.
    fn join(&self, via: Option<SocketAddr>) -> Result<(), String>;
    /// KBR route; the message's id.
    fn route(&self, key: Id, app: AppId, payload: &[u8]) -> Result<u64, String>;
    /// A put; the replicas that stored it.
    fn put(&self, key: Id, version: u64, value: &[u8]) -> Result<u8, String>;
    /// A content put; the key and replicas.
    fn put_content(&self, value: &[u8]) -> Result<(Id, u8), String>;
    /// A get.
    fn get(&self, key: Id) -> Result<Option<Vec<u8>>, String>;
    /// Joins a group (answers once attached).
    fn subscribe(&self, group: Id) -> Result<(), String>;
    /// Publishes; the publication's id.
    fn publish(&self, group: Id, data: &[u8]) -> Result<u64, String>;
    /// Anycasts; who took it.
    fn anycast(&self, group: Id, data: &[u8]) -> Result<Peer, String>;
    /// The leaf set's ids, counter-clockwise and clockwise, nearest first.
    fn leaf_set(&self) -> Result<(Vec<Id>, Vec<Id>), String>;
    /// Which of `keys` the node's store holds.
    fn holds(&self, keys: &[Id]) -> Result<Vec<Id>, String>;
    /// Stops at once without telling anyone.
    fn crash(&self) -> Result<(), String>;
    /// Leaves gracefully and stops.
    fn shutdown(&self) -> Result<(), String>;
}

/// A runtime that starts nodes and reports their events.
pub trait Runtime {
    /// Its nodes.
    type Node: Node;
    /// The runtime's name, for the report.
    fn name(&self) -> &'static str;
    /// Starts `n` idle nodes on 127.0.0.1 (free ports).
    fn start(
        &mut self,
        n: usize,
        config: StackConfig,
        seed: u64,
    ) -> Result<Vec<Self::Node>, String>;
    /// The next event of any node, within `limit`: (node index, event).
    fn next_event(&mut self, limit: Duration) -> Option<(usize, Seen)>;
}

/// The application of the runs' lookups.
pub(crate) const LOOKUP_APP: AppId = AppId(1);

struct Row {
    phase: &'static str,
    time: Duration,
    count: String,
    ok: bool,
}

struct Report {
    started: Instant,
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Report {
    fn say(&self, what: &str) {
        println!("[{:7.2} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn row(&mut self, phase: &'static str, time: Duration, count: String, problems: Vec<String>) {
        let ok = problems.is_empty();
        let flag = if ok { "" } else { " — FAILED" };
        self.say(&format!(
            "{phase}: {count} in {:.3} s{flag}",
            time.as_secs_f64()
        ));
        for p in problems.iter().take(5) {
            println!("            {p}");
        }
        if problems.len() > 5 {
            println!("            … and {} more", problems.len() - 5);
        }
        self.failures.extend(problems);
        self.rows.push(Row {
            phase,
            time,
            count,
            ok,
        });
    }
}

/// Runs the whole exercise on `rt` and prints the report; whether every
/// check passed.
pub fn run<R: Runtime>(rt: &mut R, args: &Args) -> bool {
    if args.nodes < 2 {
        eprintln!("cluster: --nodes must be at least 2");
        return false;
    }
    let seed = args.seed.unwrap_or_else(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(Instant::now())
    });
    if args.bench {
        return crate::loadbench::run(rt, args, seed);
    }
    let mut report = Report {
        started: Instant::now(),
        rows: Vec::new(),
        failures: Vec::new(),
    };
    report.say(&format!(
        "{} nodes on 127.0.0.1 ({}), seed {seed} (--seed {seed} repeats the choices)",
        args.nodes,
        rt.name()
    ));
    if let Err(e) = exercise(rt, args, seed, &mut report) {
        report.failures.push(format!("stopped early: {e}"));
    }
    println!();
    println!("{:<22} {:>10}  {:<34} result", "phase", "time", "count");
    for r in &report.rows {
        let result = if r.ok { "ok" } else { "FAILED" };
        let secs = r.time.as_secs_f64();
        println!("{:<22} {secs:>8.3} s  {:<34} {result}", r.phase, r.count);
    }
    println!();
    if report.failures.is_empty() {
        println!("all checks passed (seed {seed})");
        true
    } else {
        println!("{} checks failed (seed {seed})", report.failures.len());
        false
    }
}

/// Waits until the leaf set of every node of `live` is the true one among
/// them; the nodes still wrong at the limit.
pub(crate) fn await_leaf_sets<N: Node>(
    nodes: &[N],
    live: &[usize],
    half: usize,
    limit: Duration,
) -> Result<(), Vec<usize>> {
    let ring = Ring::new(live.iter().map(|&i| nodes[i].own().id));
    let start = Instant::now();
    loop {
        let wrong: Vec<usize> = (live.iter().copied())
            .filter(|&i| {
                let n = &nodes[i];
                n.leaf_set().ok() != Some(ring.leaf_set(n.own().id, half))
            })
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(wrong);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What is wrong with node `i`'s leaf set against `ring` (the live nodes),
/// for a failure message: members missing and members it should not hold,
/// each as its place on the ring relative to the node (+1 its successor,
/// -1 its predecessor).
pub(crate) fn leaf_set_diff<N: Node>(ring: &Ring, nodes: &[N], half: usize, i: usize) -> String {
    let own = nodes[i].own().id;
    let ids = ring.ids();
    let at = |id: &Id| -> String {
        let (Some(a), Some(b)) = (
            ids.iter().position(|x| *x == own),
            ids.iter().position(|x| x == id),
        ) else {
            return format!("{id} (not live)");
        };
        let n = ids.len() as isize;
        let d = (b as isize - a as isize).rem_euclid(n);
        format!("{:+}", if d > n / 2 { d - n } else { d })
    };
    let want = ring.leaf_set(own, half);
    let Ok(got) = nodes[i].leaf_set() else {
        return format!("node {i}: leaf set unreadable");
    };
    let want: Vec<Id> = want.0.into_iter().chain(want.1).collect();
    let got: Vec<Id> = got.0.into_iter().chain(got.1).collect();
    let missing: Vec<String> = want.iter().filter(|x| !got.contains(x)).map(at).collect();
    let extra: Vec<String> = got.iter().filter(|x| !want.contains(x)).map(at).collect();
    format!(
        "node {i} misses [{}], holds extra [{}]",
        missing.join(" "),
        extra.join(" ")
    )
}

/// Runs `op` on every item from `in_flight` threads; (item, outcome,
/// latency) for each.
pub(crate) fn parallel<T: Sync, O: Send>(
    items: &[T],
    in_flight: usize,
    op: impl Fn(usize, &T) -> O + Sync,
) -> Vec<(usize, O, Duration)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..in_flight.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let t = Instant::now();
                    let o = op(i, item);
                    let took = t.elapsed();
                    out.lock().expect("results").push((i, o, took));
                }
            });
        }
    });
    out.into_inner().expect("results")
}

/// p50 and p99 of operation latencies in milliseconds (none for none).
pub(crate) fn quantiles(took: &mut [Duration]) -> Option<(f64, f64)> {
    if took.is_empty() {
        return None;
    }
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Some((at(0.5), at(0.99)))
}

/// The ids of a leaf set, counter-clockwise and clockwise (for
/// [`Node::leaf_set`]).
pub fn leaf_set_ids<const HALF: usize>(ls: &pastry_core::LeafSet<HALF>) -> (Vec<Id>, Vec<Id>) {
    let ids = |ps: &[Peer]| ps.iter().map(|p| p.id).collect::<Vec<Id>>();
    (ids(ls.left()), ids(ls.right()))
}

/// Which of `keys` a store holds (for [`Node::holds`]).
pub fn held(store: &impl pastry_core::dht::Store, keys: Vec<Id>) -> Vec<Id> {
    keys.into_iter()
        .filter(|k| store.get(*k).is_some())
        .collect()
}

/// The seed of node `i` of a run.
pub fn node_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(i as u64)
}

/// The next event on `rx` within `limit` (none waiting, for zero).
pub fn recv_within<T>(rx: &std::sync::mpsc::Receiver<T>, limit: Duration) -> Option<T> {
    if limit.is_zero() {
        return rx.try_recv().ok();
    }
    rx.recv_timeout(limit).ok()
}

/// A node that a crowd of `crowd` strangers greeted at once (each joining
/// through it): it holds a session with each, and turned none of their
/// Hellos away (the runtimes drain the node after every datagram, so the
/// handshake's answers never outnumber its queue).
pub fn check_crowd_answered(
    sessions: &pastry_core::session::SessionStats,
    crowd: u64,
) -> Result<(), String> {
    if sessions.established < crowd {
        return Err(format!(
            "{} sessions for a crowd of {crowd}: {sessions:?}",
            sessions.established
        ));
    }
    if sessions.rationed > 0 {
        return Err(format!("Hellos turned away: {sessions:?}"));
    }
    Ok(())
}
