//! The three scenarios, and the global view they are judged against.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pastry_tests::oracle::Ring;
use pastry_tokio::{Client, Id};

use crate::Args;
use crate::net::Net;
use crate::nodes::Nodes;

/// A node's leaf set size (the default, as `run --lan` keeps it).
const LEAF_SET: usize = 16;

pub(crate) async fn run(args: Args) -> Result<(), String> {
    let bin = match args.bin.clone() {
        Some(b) => b,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("pastry-node"),
    };
    if !bin.exists() {
        return Err(format!(
            "{}: build it first (cargo build -p pastry-node)",
            bin.display()
        ));
    }
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pastry-testbed-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!(
        "testbed: {} nodes, {} ms delay, {} loss; logs in {}",
        args.nodes,
        args.delay_ms,
        args.loss,
        dir.display()
    );
    // Declared first, dropped last: processes die before their links go.
    let net = Net::new(args.nodes)?;
    let mut nodes = Nodes::new(bin, dir, args.nodes, (args.delay_ms, args.loss));
    let started = Instant::now();
    nodes.start(0, None)?;
    nodes.wait_active(0, Duration::from_secs(20)).await?;
    for i in 1..args.nodes {
        nodes.start(i, Some(0))?;
    }
    for i in 1..args.nodes {
        nodes.wait_active(i, Duration::from_secs(60)).await?;
    }
    println!(
        "formed: {} nodes in the ring after {:.1} s",
        args.nodes,
        started.elapsed().as_secs_f64()
    );
    one_ring(&nodes, Duration::from_secs(60)).await?;

    let acked = traffic(&nodes, args.keys).await?;
    let after = Duration::from_secs(args.restart_after_secs);
    restart(&mut nodes, &acked, after, args.restart_one_by_one).await?;
    partition(&net, &nodes, &args).await?;
    Ok(())
}

/// Scenario 1: every node stores `keys` keys through a client, then every
/// node reads the keys its successor stored. The acknowledged ones.
async fn traffic(nodes: &Nodes, keys: usize) -> Result<Vec<(Id, Vec<u8>)>, String> {
    let n = nodes.len();
    let key = |i: usize, j: usize| Id::sha1(format!("testbed {i} {j}").as_bytes());
    let value = |i: usize, j: usize| format!("value {i} {j}").into_bytes();
    let started = Instant::now();
    let mut puts = Vec::new();
    for i in 0..n {
        let via = nodes.addr(i);
        puts.push(tokio::spawn(async move {
            let (c, _) = Client::connect(via).await.map_err(|e| e.to_string())?;
            let mut acked = Vec::new();
            for j in 0..keys {
                if c.put(key(i, j), 1, value(i, j)).await.is_ok() {
                    acked.push((i, j));
                }
            }
            Ok::<_, String>(acked)
        }));
    }
    let mut acked = Vec::new();
    for p in puts {
        acked.extend(p.await.map_err(|e| e.to_string())??);
    }
    let mut gets = Vec::new();
    for i in 0..n {
        let via = nodes.addr(i);
        let theirs: Vec<(usize, usize)> = acked
            .iter()
            .copied()
            .filter(|(w, _)| *w == (i + 1) % n)
            .collect();
        gets.push(tokio::spawn(async move {
            let (c, _) = Client::connect(via).await.map_err(|e| e.to_string())?;
            let mut ok = 0;
            for (w, j) in &theirs {
                let got = c.get(key(*w, *j)).await;
                if matches!(got, Ok(Some(v)) if v.bytes[..] == value(*w, *j)[..]) {
                    ok += 1;
                }
            }
            Ok::<_, String>(ok)
        }));
    }
    let mut gets_ok = 0;
    for g in gets {
        gets_ok += g.await.map_err(|e| e.to_string())??;
    }
    let (put_total, get_total) = (n * keys, acked.len());
    let ok = acked.len() + gets_ok;
    let total = put_total + get_total;
    let rate = ok as f64 / total as f64;
    println!(
        "traffic: {} of {put_total} puts and {gets_ok} of {get_total} gets ok ({:.2} %) in {:.1} s",
        acked.len(),
        100.0 * rate,
        started.elapsed().as_secs_f64()
    );
    if rate < 0.999 {
        return Err(format!(
            "traffic: {:.2} % of operations ok, under 99.9 %",
            100.0 * rate
        ));
    }
    Ok(acked
        .into_iter()
        .map(|(i, j)| (key(i, j), value(i, j)))
        .collect())
}

/// Scenario 2: a quarter of the processes killed without warning and
/// restarted from their data directories (no bootstrap given: they rejoin
/// through the peers they knew); then every acknowledged value is read.
async fn restart(
    nodes: &mut Nodes,
    acked: &[(Id, Vec<u8>)],
    after: Duration,
    one_by_one: bool,
) -> Result<(), String> {
    let n = nodes.len();
    let victims: Vec<usize> = (0..n).filter(|i| i % 4 == 3).collect();
    for &i in &victims {
        nodes.kill(i);
    }
    tokio::time::sleep(after).await;
    // All at once by default: ring neighbours among them rejoin together,
    // each with its old id, which the overlay still counts as a member.
    for &i in &victims {
        nodes.start(i, None)?;
        if one_by_one {
            nodes.wait_active(i, Duration::from_secs(90)).await?;
        }
    }
    for &i in &victims {
        nodes.wait_active(i, Duration::from_secs(90)).await?;
        if !nodes.alive(i) {
            return Err(format!("restart: node {i} exited"));
        }
    }
    one_ring(nodes, Duration::from_secs(60)).await?;
    // Read through every node at once, each its share of the keys.
    let mut reads = Vec::new();
    for i in 0..n {
        let via = nodes.addr(i);
        let share: Vec<(Id, Vec<u8>)> = acked.iter().skip(i).step_by(n).cloned().collect();
        reads.push(tokio::spawn(async move {
            let (c, _) = Client::connect(via).await.map_err(|e| e.to_string())?;
            let mut lost = Vec::new();
            for (key, value) in share {
                let got = c.get(key).await;
                if !matches!(&got, Ok(Some(v)) if v.bytes[..] == value[..]) {
                    lost.push((key, got.map(|v| v.map(|v| v.version))));
                }
            }
            Ok::<_, String>(lost)
        }));
    }
    let mut lost = Vec::new();
    for r in reads {
        lost.extend(r.await.map_err(|e| e.to_string())??);
    }
    println!(
        "restart: {} of {n} processes killed and restarted; {} of {} acknowledged values read back",
        victims.len(),
        acked.len() - lost.len(),
        acked.len()
    );
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "restart: {} acknowledged values lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        ))
    }
}

/// Scenario 3: the network split in halves for a while, then whole; the
/// overlay must become one ring again.
async fn partition(net: &Net, nodes: &Nodes, args: &Args) -> Result<(), String> {
    let half = nodes.len() / 2;
    net.partition(half)?;
    println!(
        "partition: nodes {half}.. cut off for {} s",
        args.partition_secs
    );
    tokio::time::sleep(Duration::from_secs(args.partition_secs)).await;
    net.heal()?;
    let started = Instant::now();
    one_ring(nodes, Duration::from_secs(args.heal_secs))
        .await
        .map_err(|e| {
            format!(
                "partition: not one ring {} s after healing: {e}",
                args.heal_secs
            )
        })?;
    println!(
        "partition: one ring again {:.1} s after healing",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Waits until every node's leaf set is what the sorted ids of all the
/// nodes say it must be.
async fn one_ring(nodes: &Nodes, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let wrong = wrong_leaf_sets(nodes).await;
        match wrong {
            Ok(ref w) if w.is_empty() => return Ok(()),
            _ if Instant::now() > deadline => {
                let why = match wrong {
                    Ok(w) => format!("{} nodes: {}", w.len(), w.join("; ")),
                    Err(e) => e,
                };
                return Err(format!("leaf sets still wrong: {why}"));
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The nodes whose leaf sets differ from the global view's (the tests'
/// oracle over every node's id), each with what it misses and holds
/// besides (ids shortened to 8 digits).
async fn wrong_leaf_sets(nodes: &Nodes) -> Result<Vec<String>, String> {
    let mut all = Vec::new();
    for i in 0..nodes.len() {
        let s = nodes.status(i).await?;
        let id: Id = s.id.parse().map_err(|e| format!("{}: {e}", s.id))?;
        all.push((id, s));
    }
    let ring = Ring::new(all.iter().map(|(id, _)| *id));
    let mut wrong = Vec::new();
    fn short<'a>(ids: impl Iterator<Item = &'a Id>) -> String {
        let ids: Vec<String> = ids.map(|id| id.to_string()[..8].to_string()).collect();
        ids.join(",")
    }
    for (i, (own, s)) in all.iter().enumerate() {
        let (left, right) = ring.leaf_set(*own, LEAF_SET / 2);
        let want: BTreeSet<Id> = left.into_iter().chain(right).collect();
        let got: BTreeSet<Id> = s.leaf_set.iter().filter_map(|h| h.parse().ok()).collect();
        if want != got || !s.active {
            wrong.push(format!(
                "node {i} ({}{}) misses [{}], holds besides [{}]",
                &own.to_string()[..8],
                if s.active { "" } else { ", not active" },
                short(want.difference(&got)),
                short(got.difference(&want)),
            ));
        }
    }
    Ok(wrong)
}
