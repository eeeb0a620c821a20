//! The history of chosen DHT keys, for finding how a value was lost: every
//! time a node starts or stops holding one of them, or departs holding
//! it, a line on stderr says when, which node, where that node stands
//! among the key's true closest live nodes, and who holds it now.
//!
//! A run is deterministic per seed, so a key the first run reports lost is
//! traced by running the same seed again with `--trace-key`.

use std::fmt::Write;

use pastry_core::dht::Store;
use pastry_core::{Id, Instant};

use super::{DetMap, Sim};

/// Keys traced and which nodes were last seen holding each.
#[derive(Clone, Debug, Default)]
pub struct KeyTrace {
    keys: Vec<Id>,
    /// (key index, node index) of every holder.
    held: DetMap<(u32, u32), ()>,
}

impl KeyTrace {
    /// Traces `keys`.
    pub fn new(keys: Vec<Id>) -> KeyTrace {
        KeyTrace {
            keys,
            held: DetMap::default(),
        }
    }

    /// Whether any key is traced.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Notes what node `i` now holds of the traced keys.
    pub(super) fn trace_keys(&mut self, i: usize) {
        for k in 0..self.key_trace.keys.len() {
            let key = self.key_trace.keys[k];
            let holds = self.slots[i]
                .dht()
                .and_then(|d| d.store().get(key))
                .map(|item| item.meta.version);
            let was = self.key_trace.held.contains_key(&(k as u32, i as u32));
            match (was, holds) {
                (false, Some(v)) => {
                    self.key_trace.held.insert((k as u32, i as u32), ());
                    self.trace_line(key, k, i, &format!("stores v{v}"));
                }
                (true, None) => {
                    self.key_trace.held.remove(&(k as u32, i as u32));
                    let why = if self.slots[i].host.is_some() {
                        "drops it"
                    } else {
                        "departs holding it"
                    };
                    self.trace_line(key, k, i, why);
                    self.trace_views(key, k);
                }
                _ => {}
            }
        }
    }

    fn trace_line(&self, key: Id, k: usize, i: usize, what: &str) {
        let rank = |j: usize| {
            let id = self.slots[j].id;
            if !self.truth.contains(id) && self.slots[j].host.is_some() {
                return "joining".to_string();
            }
            match self.true_rank(key, id) {
                Some(r) => format!("#{r}"),
                None => "gone".to_string(),
            }
        };
        let mut holders = String::new();
        for j in self.traced_holders(k) {
            let _ = write!(holders, " {j}({})", rank(j));
        }
        eprintln!(
            "trace {} t={:.3} node {i}({}) {what}; holders:{holders}",
            short(key),
            secs(self.now),
            rank(i),
        );
    }

    /// The nodes last seen holding traced key `k`, by index.
    fn traced_holders(&self, k: usize) -> Vec<usize> {
        let mut list: Vec<usize> = self
            .key_trace
            .held
            .keys()
            .filter(|(kk, _)| *kk == k as u32)
            .map(|&(_, j)| j as usize)
            .collect();
        list.sort_unstable();
        list
    }

    /// Each holder's view of the key's replica set, when few are left.
    fn trace_views(&self, key: Id, k: usize) {
        let holders = self.traced_holders(k);
        if holders.len() > 3 {
            return;
        }
        let r = self
            .config
            .dht
            .as_ref()
            .map_or(5, |c| c.replicas + c.spares);
        for j in holders {
            let Some(node) = self.slots[j].node() else {
                continue;
            };
            let mut view = String::new();
            for p in node.replica_set(key, r) {
                let at = self.by_addr.get(&p.addr).copied();
                let rank = self.true_rank(key, p.id);
                let _ = write!(view, " {}", at.map_or(-1, i64::from));
                match rank {
                    Some(r) => {
                        let _ = write!(view, "(#{r})");
                    }
                    None => view.push_str("(gone)"),
                }
            }
            let dht = self.slots[j].dht();
            let stats = dht.map(|d| *d.stats()).unwrap_or_default();
            eprintln!(
                "trace {}   holder {j} sees:{view}; sync rounds {}, deferred {}, dropped {}",
                short(key),
                stats.sync_rounds,
                stats.deferred,
                stats.dropped
            );
        }
    }

    /// Where `id` stands among the live active nodes by closeness to
    /// `key` (1 = root), if it is one of the 16 closest.
    fn true_rank(&self, key: Id, id: Id) -> Option<usize> {
        let (left, right) = self.truth.leaf_set(key, 8);
        let mut near: Vec<Id> = left.into_iter().chain(right).collect();
        if self.truth.contains(key) {
            near.push(key);
        }
        near.sort_by(|&a, &b| key.cmp_closeness(a, b));
        near.dedup();
        near.iter().position(|&n| n == id).map(|p| p + 1)
    }
}

fn short(key: Id) -> String {
    key.to_string().chars().take(8).collect()
}

fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}
