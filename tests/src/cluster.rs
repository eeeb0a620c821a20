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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use pastry_core::rng::SmallRng;
use pastry_core::scribe::group_id;
use pastry_core::stack::StackConfig;
use pastry_core::stack::waiters::NodeEvent;
use pastry_core::{AppId, Id, Peer};

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

/// The nodes, which are alive, and the global view.
struct Overlay<N> {
    nodes: Vec<N>,
    alive: Vec<bool>,
    half: usize,
    k: usize,
}

impl<N: Node> Overlay<N> {
    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.alive[i]).collect()
    }

    fn ring(&self) -> Ring {
        Ring::new(self.live().into_iter().map(|i| self.nodes[i].own().id))
    }

    /// Waits until every live leaf set is the true one; the nodes still
    /// wrong at the limit.
    fn converge(&self, limit: Duration) -> Result<(), Vec<usize>> {
        await_leaf_sets(&self.nodes, &self.live(), self.half, limit)
    }

    /// Waits until every key is on its k closest live nodes; how many are
    /// short at the limit.
    fn replicas_restored(&self, keys: &[Id], limit: Duration) -> Result<(), usize> {
        let start = Instant::now();
        loop {
            let mut holders: HashMap<Id, Vec<Id>> = HashMap::new();
            for i in self.live() {
                for k in self.nodes[i].holds(keys).unwrap_or_default() {
                    holders.entry(k).or_default().push(self.nodes[i].own().id);
                }
            }
            let ring = self.ring();
            let short = keys
                .iter()
                .filter(|k| {
                    let have = holders.get(k).map(Vec::as_slice).unwrap_or(&[]);
                    !closest_n(**k, ring.ids(), self.k)
                        .iter()
                        .all(|id| have.contains(id))
                })
                .count();
            if short == 0 {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(short);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

fn exercise<R: Runtime>(
    rt: &mut R,
    args: &Args,
    seed: u64,
    report: &mut Report,
) -> Result<(), String> {
    let mut rng = SmallRng::new(seed);
    let config = StackConfig::lan();
    let (half, k) = (config.node.leaf_set_size / 2, config.dht.replicas);

    // ----- start and join -----
    let t = Instant::now();
    let nodes = rt.start(args.nodes, config, seed)?;
    let n = nodes.len();
    report.row("start", t.elapsed(), format!("{n} sockets"), vec![]);
    let mut net = Overlay {
        alive: vec![true; n],
        nodes,
        half,
        k,
    };
    let t = Instant::now();
    net.nodes[0].join(None)?;
    let via = net.nodes[0].own().addr;
    let rest: Vec<usize> = (1..n).collect();
    let joins = parallel(&rest, n, |_, &i| net.nodes[i].join(Some(via)));
    let failures: Vec<String> = joins
        .into_iter()
        .filter_map(|(i, r, _)| r.err().map(|e| format!("node {} did not join: {e}", i + 1)))
        .collect();
    report.row(
        "join",
        t.elapsed(),
        format!("{}/{n} active", n - failures.len()),
        failures,
    );
    let t = Instant::now();
    let problems = match net.converge(Duration::from_secs(30)) {
        Ok(()) => vec![],
        Err(wrong) => vec![format!("leaf sets still wrong at nodes {wrong:?}")],
    };
    report.row(
        "leaf sets correct",
        t.elapsed(),
        format!("{n} nodes"),
        problems,
    );

    // ----- lookups -----
    while rt.next_event(Duration::ZERO).is_some() {}
    let t = Instant::now();
    let mut sent: HashMap<(Id, u64), Id> = HashMap::new();
    let mut problems = Vec::new();
    for l in 0..args.lookups {
        let from = rng.below(n as u64) as usize;
        let key = Id::sha1(&rng.next_u64().to_be_bytes());
        let node = &net.nodes[from];
        match node.route(key, LOOKUP_APP, &(l as u64).to_be_bytes()) {
            Ok(id) => drop(sent.insert((node.own().id, id), key)),
            Err(e) => problems.push(format!("lookup {l} refused at node {from}: {e}")),
        }
    }
    let ring = net.ring();
    let ids: Vec<Id> = net.nodes.iter().map(|x| x.own().id).collect();
    let (want, mut delivered, mut wrong) = (sent.len(), 0, 0);
    let until = Instant::now() + Duration::from_secs(10);
    while !sent.is_empty() {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            break;
        };
        if let Some((
            at,
            Seen::Deliver {
                key,
                app,
                source,
                msg_id,
            },
        )) = rt.next_event(left)
            && app == LOOKUP_APP
            && sent.remove(&(source, msg_id)) == Some(key)
        {
            delivered += 1;
            wrong += usize::from(ring.root_of(key) != Some(ids[at]));
        }
    }
    if !sent.is_empty() {
        problems.push(format!("{} lookups never delivered", sent.len()));
    }
    if wrong > 0 {
        problems.push(format!(
            "{wrong} lookups delivered away from the key's root"
        ));
    }
    let count = format!("{delivered}/{want} at the true root");
    report.row("lookups", t.elapsed(), count, problems);

    // ----- storage -----
    let t = Instant::now();
    let mut values: Vec<(Id, Vec<u8>)> = (0..args.values)
        .map(|i| {
            let key = Id::sha1(format!("key {seed} {i}").as_bytes());
            (key, format!("value {i} of seed {seed}").into_bytes())
        })
        .collect();
    let sources: Vec<usize> = (0..values.len())
        .map(|_| rng.below(n as u64) as usize)
        .collect();
    let puts = parallel(&values, args.in_flight, |i, (key, value)| {
        net.nodes[sources[i]].put(*key, 1, value)
    });
    let mut problems = Vec::new();
    let mut took = Vec::new();
    let mut acked = 0;
    for (i, r, d) in puts {
        took.push(d);
        match r {
            Ok(r) if usize::from(r) >= 3.min(k) => acked += 1,
            r => problems.push(format!("put of {}: {r:?}", values[i].0)),
        }
    }
    // A quarter more under their content hash.
    for c in 0..args.values.div_ceil(4) {
        let value = format!("content {c} of seed {seed}").into_bytes();
        let node = &net.nodes[rng.below(n as u64) as usize];
        match node.put_content(&value) {
            Ok((key, _)) if key == Id::sha1(&value) => {
                acked += 1;
                values.push((key, value));
            }
            r => problems.push(format!("content put: {r:?}")),
        }
    }
    let count = format!("{acked}/{} acked, {}", values.len(), percentiles(&mut took));
    report.row("puts", t.elapsed(), count, problems);
    let t = Instant::now();
    let (read, mut took, problems) = read_all(&net, &values, &mut rng, args.in_flight);
    let count = format!("{read}/{} right, {}", values.len(), percentiles(&mut took));
    report.row("gets", t.elapsed(), count, problems);

    // ----- multicast and anycast -----
    let group = group_id(b"cluster");
    let t = Instant::now();
    let all: Vec<usize> = (0..n).collect();
    let subs = parallel(&all, n, |_, &i| net.nodes[i].subscribe(group));
    let problems: Vec<String> = subs
        .into_iter()
        .filter_map(|(i, r, _)| r.err().map(|e| format!("node {i} did not attach: {e}")))
        .collect();
    let count = format!("{} members attached", n - problems.len());
    report.row("subscribe", t.elapsed(), count, problems);
    let (t, count, problems) = multicast(rt, &net, group, &mut rng, "before the crash")?;
    report.row("multicast", t, count, problems);
    let t = Instant::now();
    let from = rng.below(n as u64) as usize;
    let problems = match net.nodes[from].anycast(group, b"any taker") {
        Ok(by) if ids.contains(&by.id) => vec![],
        r => vec![format!("anycast from node {from}: {r:?}")],
    };
    report.row(
        "anycast",
        t.elapsed(),
        "1 taken by a member".into(),
        problems,
    );

    // ----- crash a fraction, in waves of at most k − 1 -----
    let crash = ((n as f64 * args.crash).round() as usize).min(n - 1);
    let mut victims: Vec<usize> = (0..n).collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.below(i as u64 + 1) as usize);
    }
    victims.truncate(crash);
    let t = Instant::now();
    let mut problems = Vec::new();
    for wave in victims.chunks(k.saturating_sub(1).max(1)) {
        for &i in wave {
            net.nodes[i].crash()?;
            net.alive[i] = false;
        }
        report.say(&format!("crashed nodes {wave:?}"));
        if let Err(wrong) = net.converge(Duration::from_secs(30)) {
            problems.push(format!("leaf sets still wrong at nodes {wrong:?}"));
            break;
        }
    }
    let count = format!("{crash} crashed, {} live", n - crash);
    report.row("crash, leaf sets repair", t.elapsed(), count, problems);
    let t = Instant::now();
    let keys: Vec<Id> = values.iter().map(|(key, _)| *key).collect();
    let problems = match net.replicas_restored(&keys, Duration::from_secs(30)) {
        Ok(()) => vec![],
        Err(short) => vec![format!(
            "{short} values short of their {k} closest replicas"
        )],
    };
    let count = format!("{} values on their {k} closest", keys.len());
    report.row("replicas restored", t.elapsed(), count, problems);
    let t = Instant::now();
    let (read, mut took, problems) = read_all(&net, &values, &mut rng, args.in_flight);
    let count = format!("{read}/{} right, {}", values.len(), percentiles(&mut took));
    report.row("gets after the crash", t.elapsed(), count, problems);
    let (t, count, problems) = multicast(rt, &net, group, &mut rng, "after the crash")?;
    report.row("multicast after crash", t, count, problems);

    // ----- graceful shutdown -----
    let t = Instant::now();
    let live = net.live();
    let problems: Vec<String> = live
        .iter()
        .filter_map(|&i| {
            net.nodes[i]
                .shutdown()
                .err()
                .map(|e| format!("node {i}: {e}"))
        })
        .collect();
    let count = format!("{} left and stopped", live.len());
    report.row("shutdown", t.elapsed(), count, problems);
    Ok(())
}

/// Reads every value from a random live node, `in_flight` at a time.
fn read_all<N: Node>(
    net: &Overlay<N>,
    values: &[(Id, Vec<u8>)],
    rng: &mut SmallRng,
    in_flight: usize,
) -> (usize, Vec<Duration>, Vec<String>) {
    let live = net.live();
    let readers: Vec<usize> = values
        .iter()
        .map(|_| live[rng.below(live.len() as u64) as usize])
        .collect();
    let gets = parallel(values, in_flight, |i, (key, _)| {
        net.nodes[readers[i]].get(*key)
    });
    let (mut ok, mut took, mut problems) = (0, Vec::new(), Vec::new());
    for (i, r, d) in gets {
        took.push(d);
        match r {
            Ok(Some(v)) if v == values[i].1 => ok += 1,
            r => problems.push(format!("get of {}: {r:?}", values[i].0)),
        }
    }
    (ok, took, problems)
}

/// Publishes from a random live member and waits until every live member
/// has it, once.
fn multicast<R: Runtime>(
    rt: &mut R,
    net: &Overlay<R::Node>,
    group: Id,
    rng: &mut SmallRng,
    when: &str,
) -> Result<(Duration, String, Vec<String>), String> {
    while rt.next_event(Duration::ZERO).is_some() {}
    let live = net.live();
    let from = live[rng.below(live.len() as u64) as usize];
    let t = Instant::now();
    let data = format!("news {when}").into_bytes();
    let id = net.nodes[from].publish(group, &data)?;
    let mut waiting: HashSet<usize> = live.iter().copied().collect();
    let mut problems = Vec::new();
    let until = Instant::now() + Duration::from_secs(15);
    while !waiting.is_empty() {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            break;
        };
        if let Some((
            at,
            Seen::Multicast {
                group: g,
                id: i,
                data: d,
            },
        )) = rt.next_event(left)
            && g == group
            && i == id
        {
            if d != data {
                problems.push(format!("node {at} got other bytes"));
            }
            if !waiting.remove(&at) {
                problems.push(format!("node {at} got it twice"));
            }
        }
    }
    let time = t.elapsed();
    let got = live.len() - waiting.len();
    if !waiting.is_empty() {
        let mut w: Vec<usize> = waiting.into_iter().collect();
        w.sort_unstable();
        problems.push(format!("never reached nodes {w:?}"));
    }
    Ok((
        time,
        format!("{got}/{} live members reached", live.len()),
        problems,
    ))
}

/// "p50 … p99 …" of operation latencies, in milliseconds.
fn percentiles(took: &mut [Duration]) -> String {
    match quantiles(took) {
        Some((p50, p99)) => format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
        None => "no operations".into(),
    }
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
