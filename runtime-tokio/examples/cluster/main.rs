//! The README's main job: a whole Pastry overlay on loopback in one
//! process, put through its paces and judged against the global view.
//!
//! `cargo run --release -p pastry-tokio --example cluster [-- --nodes 64]`
//!
//! Starts the nodes on 127.0.0.1 (free ports), joins them, routes lookups
//! (each must reach the live node numerically closest to its key), puts
//! and gets values (k = 5), runs one multicast group and an anycast, then
//! crashes a quarter of the nodes (in waves of at most k − 1, so no value
//! loses every replica at once), waits for repair, and checks that every
//! value is still readable, on its k closest live nodes, and that a
//! publication reaches every live member. Prints progress, then a table.
//! Exits 0 only if every check passed.

mod overlay;

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use pastry_core::rng::SmallRng;
use pastry_core::scribe::group_id;
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id};
use pastry_tokio::NodeEvent;
use tokio::task::JoinSet;

use overlay::Overlay;

/// Runs an overlay of N nodes on loopback and checks it end to end.
#[derive(Parser, Debug)]
struct Args {
    /// Nodes to start.
    #[arg(long, default_value_t = 32)]
    nodes: usize,
    /// Lookups to route.
    #[arg(long, default_value_t = 256)]
    lookups: usize,
    /// Values to store (a quarter more by content hash).
    #[arg(long, default_value_t = 64)]
    values: usize,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// Fraction of the nodes to crash.
    #[arg(long, default_value_t = 0.25)]
    crash: f64,
    /// Seed of the random choices (keys, sources, crashes); random if unset.
    #[arg(long)]
    seed: Option<u64>,
}

const LOOKUP_APP: AppId = AppId(1);

/// One line of the closing table.
struct Row {
    phase: &'static str,
    time: Duration,
    count: String,
    ok: bool,
}

struct Run {
    started: Instant,
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Run {
    fn say(&self, what: &str) {
        println!("[{:7.2} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn row(&mut self, phase: &'static str, time: Duration, count: String, problems: Vec<String>) {
        let ok = problems.is_empty();
        self.say(&format!(
            "{phase}: {count} in {:.3} s{}",
            time.as_secs_f64(),
            if ok { "" } else { " — FAILED" }
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

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.nodes < 2 {
        eprintln!("cluster: --nodes must be at least 2");
        return ExitCode::FAILURE;
    }
    let seed = args.seed.unwrap_or_else(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(Instant::now())
    });
    let mut run = Run {
        started: Instant::now(),
        rows: Vec::new(),
        failures: Vec::new(),
    };
    run.say(&format!(
        "{} nodes on 127.0.0.1, seed {seed} (--seed {seed} repeats the choices)",
        args.nodes
    ));
    match exercise(&args, seed, &mut run).await {
        Ok(()) => {}
        Err(e) => run.failures.push(format!("stopped early: {e}")),
    }
    println!();
    println!("{:<22} {:>10}  {:<34} result", "phase", "time", "count");
    for r in &run.rows {
        println!(
            "{:<22} {:>8.3} s  {:<34} {}",
            r.phase,
            r.time.as_secs_f64(),
            r.count,
            if r.ok { "ok" } else { "FAILED" }
        );
    }
    println!();
    if run.failures.is_empty() {
        println!("all checks passed (seed {seed})");
        ExitCode::SUCCESS
    } else {
        println!("{} checks failed (seed {seed})", run.failures.len());
        ExitCode::FAILURE
    }
}

async fn exercise(args: &Args, seed: u64, run: &mut Run) -> Result<(), pastry_tokio::Error> {
    let mut rng = SmallRng::new(seed);
    let config = StackConfig::lan();
    let k = config.dht.replicas;

    // ----- start and join -----
    let t = Instant::now();
    let mut net = Overlay::start(args.nodes, config, seed).await?;
    run.row(
        "start",
        t.elapsed(),
        format!("{} sockets", args.nodes),
        vec![],
    );

    let t = Instant::now();
    let failures = net.join_all(|_| 0).await;
    let joined = args.nodes - failures.len();
    run.row(
        "join",
        t.elapsed(),
        format!("{joined}/{} active", args.nodes),
        failures,
    );
    let t = Instant::now();
    let problems = match net.converge(Duration::from_secs(30)).await {
        Ok(_) => vec![],
        Err(wrong) => vec![format!("leaf sets still wrong at nodes {wrong:?}")],
    };
    run.row(
        "leaf sets correct",
        t.elapsed(),
        format!("{} nodes", args.nodes),
        problems,
    );

    // ----- lookups -----
    net.flush_events();
    let t = Instant::now();
    let mut sent: HashMap<(Id, u64), Id> = HashMap::new();
    let mut problems = Vec::new();
    for n in 0..args.lookups {
        let from = rng.below(args.nodes as u64) as usize;
        let key = Id::sha1(&rng.next_u64().to_be_bytes());
        let h = &net.members[from].handle;
        match h
            .route(key, LOOKUP_APP, (n as u64).to_be_bytes().to_vec())
            .await
        {
            Ok(id) => {
                sent.insert((h.own().id, id), key);
            }
            Err(e) => problems.push(format!("lookup {n} refused at node {from}: {e}")),
        }
    }
    let ring = net.ring();
    let ids: Vec<Id> = (0..args.nodes).map(|i| net.peer(i).id).collect();
    let mut delivered = 0;
    let mut wrong = 0;
    let want = sent.len();
    net.watch(Duration::from_secs(10), |at, ev| {
        if let NodeEvent::Deliver {
            app,
            source,
            msg_id,
            key,
            ..
        } = ev
            && app == LOOKUP_APP
            && sent.remove(&(source.id, msg_id)) == Some(key)
        {
            delivered += 1;
            if ring.root_of(key) != Some(ids[at]) {
                wrong += 1;
            }
        }
        sent.is_empty()
    })
    .await;
    if !sent.is_empty() {
        problems.push(format!("{} lookups never delivered", sent.len()));
    }
    if wrong > 0 {
        problems.push(format!(
            "{wrong} lookups delivered away from the key's root"
        ));
    }
    run.row(
        "lookups",
        t.elapsed(),
        format!("{delivered}/{want} at the true root"),
        problems,
    );

    // ----- storage -----
    let t = Instant::now();
    let mut keys: Vec<(Id, Vec<u8>)> = (0..args.values)
        .map(|i| {
            let key = Id::sha1(format!("key {seed} {i}").as_bytes());
            (key, format!("value {i} of seed {seed}").into_bytes())
        })
        .collect();
    let mut problems = Vec::new();
    let mut acked = 0;
    let mut latencies = Vec::new();
    for chunk in keys.chunks(args.in_flight.max(1)) {
        let mut puts = JoinSet::new();
        for (key, value) in chunk.iter().cloned() {
            let h = net.members[rng.below(args.nodes as u64) as usize]
                .handle
                .clone();
            puts.spawn(async move {
                let t = Instant::now();
                let r = h.put(key, 1, value).await;
                (key, r, t.elapsed())
            });
        }
        while let Some(r) = puts.join_next().await {
            let (key, r, took) = r.expect("a put task");
            latencies.push(took);
            match r {
                Ok(r) if r as usize >= 3.min(k) => acked += 1,
                r => problems.push(format!("put of {key}: {r:?}")),
            }
        }
    }
    // A quarter more under their content hash.
    let contents: Vec<Vec<u8>> = (0..args.values.div_ceil(4))
        .map(|i| format!("content {i} of seed {seed}").into_bytes())
        .collect();
    for value in &contents {
        let h = &net.members[rng.below(args.nodes as u64) as usize].handle;
        match h.put_content(value.clone()).await {
            Ok((key, _)) if key == Id::sha1(value) => {
                acked += 1;
                keys.push((key, value.clone()));
            }
            r => problems.push(format!("content put: {r:?}")),
        }
    }
    run.row(
        "puts",
        t.elapsed(),
        format!(
            "{acked}/{} acked, {}",
            args.values + contents.len(),
            percentiles(&mut latencies)
        ),
        problems,
    );
    let t = Instant::now();
    let (read, mut took, problems) = read_all(&net, &keys, &mut rng, args.in_flight).await;
    run.row(
        "gets",
        t.elapsed(),
        format!("{read}/{} right, {}", keys.len(), percentiles(&mut took)),
        problems,
    );

    // ----- multicast and anycast -----
    let group = group_id(b"cluster");
    let t = Instant::now();
    let mut subs = JoinSet::new();
    for m in &net.members {
        let h = m.handle.clone();
        subs.spawn(async move { (h.own(), h.subscribe(group).await) });
    }
    let mut problems = Vec::new();
    while let Some(r) = subs.join_next().await {
        if let (p, Err(e)) = r.expect("a subscribe task") {
            problems.push(format!("{} did not attach: {e}", p.addr));
        }
    }
    run.row(
        "subscribe",
        t.elapsed(),
        format!("{} members attached", args.nodes - problems.len()),
        problems,
    );
    let (t, count, problems) = multicast(&mut net, group, &mut rng, "before the crash").await?;
    run.row("multicast", t, count, problems);
    let t = Instant::now();
    let from = rng.below(args.nodes as u64) as usize;
    let problems = match net.members[from]
        .handle
        .anycast(group, &b"any taker"[..])
        .await
    {
        Ok(by) if net.index_of(by.id).is_some() => vec![],
        r => vec![format!("anycast from node {from}: {r:?}")],
    };
    run.row(
        "anycast",
        t.elapsed(),
        "1 taken by a member".into(),
        problems,
    );

    // ----- crash a quarter, in waves of at most k − 1 -----
    let crash = ((args.nodes as f64 * args.crash).round() as usize).min(args.nodes - 1);
    let mut victims: Vec<usize> = (0..args.nodes).collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.below(i as u64 + 1) as usize);
    }
    victims.truncate(crash);
    let t = Instant::now();
    let mut problems = Vec::new();
    for wave in victims.chunks(k.saturating_sub(1).max(1)) {
        for &i in wave {
            net.members[i].handle.crash().await?;
            net.members[i].alive = false;
        }
        run.say(&format!("crashed nodes {wave:?}"));
        if let Err(wrong) = net.converge(Duration::from_secs(30)).await {
            problems.push(format!("leaf sets still wrong at nodes {wrong:?}"));
            break;
        }
    }
    run.row(
        "crash, leaf sets repair",
        t.elapsed(),
        format!("{crash} crashed, {} live", args.nodes - crash),
        problems,
    );
    let t = Instant::now();
    let all: Vec<Id> = keys.iter().map(|(k, _)| *k).collect();
    let problems = match net.replicas_restored(&all, Duration::from_secs(30)).await {
        Ok(_) => vec![],
        Err(missing) => vec![format!(
            "{missing} values short of their {k} closest replicas"
        )],
    };
    run.row(
        "replicas restored",
        t.elapsed(),
        format!("{} values on their {k} closest", all.len()),
        problems,
    );
    let t = Instant::now();
    let (read, mut took, problems) = read_all(&net, &keys, &mut rng, args.in_flight).await;
    run.row(
        "gets after the crash",
        t.elapsed(),
        format!("{read}/{} right, {}", keys.len(), percentiles(&mut took)),
        problems,
    );
    let (t, count, problems) = multicast(&mut net, group, &mut rng, "after the crash").await?;
    run.row("multicast after crash", t, count, problems);

    // ----- graceful shutdown -----
    let t = Instant::now();
    let mut problems = Vec::new();
    for i in net.live() {
        let h = &net.members[i].handle;
        if let Err(e) = h.shutdown().await {
            problems.push(format!("node {i} shutdown: {e}"));
        }
        if !h.is_stopped() {
            problems.push(format!("node {i} still running"));
        }
    }
    run.row(
        "shutdown",
        t.elapsed(),
        format!("{} left and stopped", net.live().len()),
        problems,
    );
    Ok(())
}

/// Reads every key from a random live node, `in_flight` at a time.
async fn read_all(
    net: &Overlay,
    keys: &[(Id, Vec<u8>)],
    rng: &mut SmallRng,
    in_flight: usize,
) -> (usize, Vec<Duration>, Vec<String>) {
    let live = net.live();
    let mut ok = 0;
    let mut latencies = Vec::new();
    let mut problems = Vec::new();
    for chunk in keys.chunks(in_flight.max(1)) {
        let mut gets = JoinSet::new();
        for (key, value) in chunk.iter().cloned() {
            let h = net.members[live[rng.below(live.len() as u64) as usize]]
                .handle
                .clone();
            gets.spawn(async move {
                let t = Instant::now();
                let r = h.get(key).await;
                (key, value, r, t.elapsed())
            });
        }
        while let Some(r) = gets.join_next().await {
            let (key, want, r, took) = r.expect("a get task");
            latencies.push(took);
            match r {
                Ok(Some(v)) if v.bytes[..] == want[..] => ok += 1,
                r => problems.push(format!("get of {key}: {r:?}")),
            }
        }
    }
    (ok, latencies, problems)
}

/// Publishes from a random live member and waits until every live member
/// has it.
async fn multicast(
    net: &mut Overlay,
    group: Id,
    rng: &mut SmallRng,
    when: &str,
) -> Result<(Duration, String, Vec<String>), pastry_tokio::Error> {
    net.flush_events();
    let live = net.live();
    let from = live[rng.below(live.len() as u64) as usize];
    let t = Instant::now();
    let data = format!("news {when}");
    let id = net.members[from]
        .handle
        .publish(group, data.clone())
        .await?;
    let mut waiting: HashSet<usize> = live.iter().copied().collect();
    let mut problems = Vec::new();
    net.watch(Duration::from_secs(15), |at, ev| {
        if let NodeEvent::Multicast {
            group: g,
            id: i,
            data: d,
        } = ev
            && g == group
            && i == id
        {
            if d[..] != *data.as_bytes() {
                problems.push(format!("node {at} got other bytes"));
            }
            if !waiting.remove(&at) {
                problems.push(format!("node {at} got it twice"));
            }
        }
        waiting.is_empty()
    })
    .await;
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
    if took.is_empty() {
        return "no operations".into();
    }
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.1} ms, p99 {:.1} ms", at(0.5), at(0.99))
}
