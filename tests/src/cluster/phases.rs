//! The run's phases on an overlay of runtime nodes: joining, lookups,
//! puts and gets, multicast and anycast, crashes and repair, each judged
//! against the global view.

use super::*;

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

pub(super) fn exercise<R: Runtime>(
    rt: &mut R,
    args: &Args,
    seed: u64,
    report: &mut Report,
) -> Result<(), String> {
    let mut rng = SmallRng::new(seed);
    let mut config = StackConfig::lan();
    config.node.leaf_set_size = args.leaf_set;
    if args.leaf_set > 16 {
        config.node.max_datagram = config.node.max_datagram.max(1_400);
    }
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
