//! An overlay of tokio nodes in one process, judged against the global
//! view (every node's id is known here): the integration tests' helpers.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pastry_core::stack::StackConfig;
use pastry_core::{Id, Peer};
use pastry_tests::oracle::{Ring, closest_n};
use pastry_tokio::{Builder, Error, Handle, NodeEvent};
use tokio::sync::mpsc;

/// One node of the overlay.
#[derive(Debug)]
pub struct Member {
    pub handle: Handle,
    pub alive: bool,
}

/// The nodes, and every node's events on one channel: (node index, event).
#[derive(Debug)]
pub struct Overlay {
    pub members: Vec<Member>,
    pub events: mpsc::UnboundedReceiver<(usize, NodeEvent)>,
    pub half: usize,
    pub replicas: usize,
}

impl Overlay {
    /// `n` nodes with LAN timers, joined (node i through node i / 2) and
    /// their leaf sets right; panics, naming the seed, otherwise.
    pub async fn formed(n: usize, seed: u64) -> Overlay {
        let net = Overlay::start(n, StackConfig::lan(), seed)
            .await
            .expect("nodes start");
        let failures = net.join_all(|i| i / 2).await;
        assert!(failures.is_empty(), "seed {seed}: {failures:?}");
        if let Err(wrong) = net.converge(Duration::from_secs(30)).await {
            panic!("seed {seed}: leaf sets wrong at {wrong:?}");
        }
        net
    }

    /// Starts `n` idle nodes on loopback, each on a free port.
    pub async fn start(n: usize, config: StackConfig, seed: u64) -> Result<Overlay, Error> {
        let (tx, events) = mpsc::unbounded_channel();
        let half = config.node.leaf_set_size / 2;
        let replicas = config.dht.replicas;
        let mut members = Vec::with_capacity(n);
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        for i in 0..n {
            let (handle, mut ev) = Builder::new(loopback)
                .config(config.clone())
                .seed(seed.wrapping_mul(1_000_003).wrapping_add(i as u64))
                .event_capacity(65_536)
                .spawn()
                .await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = ev.recv().await {
                    if tx.send((i, e)).is_err() {
                        return;
                    }
                }
            });
            members.push(Member {
                handle,
                alive: true,
            });
        }
        Ok(Overlay {
            members,
            events,
            half,
            replicas,
        })
    }

    /// Node 0 starts the ring; every other joins through `bootstrap(i)`,
    /// all at once. Answers the failures.
    pub async fn join_all(&self, bootstrap: impl Fn(usize) -> usize) -> Vec<String> {
        let mut failures = Vec::new();
        if let Err(e) = self.members[0].handle.join(None).await {
            failures.push(format!("node 0 could not start the ring: {e}"));
            return failures;
        }
        let mut joins = tokio::task::JoinSet::new();
        for i in 1..self.members.len() {
            let h = self.members[i].handle.clone();
            let via = self.members[bootstrap(i)].handle.own().addr;
            joins.spawn(async move { (i, h.join(Some(via)).await) });
        }
        while let Some(r) = joins.join_next().await {
            match r {
                Ok((_, Ok(()))) => {}
                Ok((i, Err(e))) => failures.push(format!("node {i} did not join: {e}")),
                Err(e) => failures.push(format!("a join task failed: {e}")),
            }
        }
        failures
    }

    /// Indices of the live nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].alive)
            .collect()
    }

    pub fn peer(&self, i: usize) -> Peer {
        self.members[i].handle.own()
    }

    /// The live nodes' ring.
    pub fn ring(&self) -> Ring {
        Ring::new(self.live().into_iter().map(|i| self.peer(i).id))
    }

    /// Index of the node with this id.
    pub fn index_of(&self, id: Id) -> Option<usize> {
        self.members.iter().position(|m| m.handle.own().id == id)
    }

    /// Live nodes whose leaf set differs from the true one.
    pub async fn wrong_leaf_sets(&self) -> Result<Vec<usize>, Error> {
        let ring = self.ring();
        let mut wrong = Vec::new();
        for i in self.live() {
            let h = &self.members[i].handle;
            let got = h
                .inspect(|s| {
                    let ids = |ps: &[Peer]| ps.iter().map(|p| p.id).collect::<Vec<Id>>();
                    let ls = s.node().leaf_set();
                    (ids(ls.left()), ids(ls.right()))
                })
                .await?;
            if got != ring.leaf_set(h.own().id, self.half) {
                wrong.push(i);
            }
        }
        Ok(wrong)
    }

    /// Waits until every live leaf set is the true one; how long it took,
    /// or the nodes still wrong at the deadline.
    pub async fn converge(&self, limit: Duration) -> Result<Duration, Vec<usize>> {
        let start = Instant::now();
        loop {
            let wrong = self.wrong_leaf_sets().await.unwrap_or_else(|_| self.live());
            if wrong.is_empty() {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit {
                return Err(wrong);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// For each key, whether its k true closest live nodes all hold it.
    pub async fn replicas_in_place(&self, keys: &[Id]) -> Result<Vec<bool>, Error> {
        let mut holders: HashMap<Id, Vec<Id>> = HashMap::new();
        for i in self.live() {
            let h = &self.members[i].handle;
            let ks = keys.to_vec();
            let held: Vec<Id> = h
                .inspect(move |s| {
                    use pastry_core::dht::Store;
                    ks.into_iter()
                        .filter(|k| s.dht().store().get(*k).is_some())
                        .collect()
                })
                .await?;
            for k in held {
                holders.entry(k).or_default().push(h.own().id);
            }
        }
        let ring = self.ring();
        Ok(keys
            .iter()
            .map(|k| {
                let have = holders.get(k).map(Vec::as_slice).unwrap_or(&[]);
                closest_n(*k, ring.ids(), self.replicas)
                    .iter()
                    .all(|id| have.contains(id))
            })
            .collect())
    }

    /// Waits until every key has its k replicas in place.
    pub async fn replicas_restored(&self, keys: &[Id], limit: Duration) -> Result<Duration, usize> {
        let start = Instant::now();
        loop {
            let ok = self.replicas_in_place(keys).await.unwrap_or_default();
            let missing = ok.iter().filter(|b| !**b).count() + keys.len() - ok.len();
            if missing == 0 {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit {
                return Err(missing);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Collects events until `done` says so or `limit` passes; answers
    /// whether `done` did.
    pub async fn watch(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(usize, NodeEvent) -> bool,
    ) -> bool {
        let until = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(until, self.events.recv()).await {
                Ok(Some((i, e))) => {
                    if done(i, e) {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// Drops events waiting now.
    pub fn flush_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }
}
