//! Why a secure lookup missed (`sim --dump-misses`): for every secure
//! lookup that left a correct replica root unreached, what the source
//! believed against the global view, and what stood around each correct
//! root it missed. Read at the end of the run, so a view that changed
//! after the lookup shows as it is then; the run is deterministic, so a
//! seed's misses replay.

use std::fmt::Write;

use pastry_core::Id;

use super::Sim;
use super::secure::SecureLookup;

/// How many of the key's closest live nodes a rank is looked for in, and
/// how many of its neighbourhood are counted for faults.
const NEAR: usize = 64;

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// One paragraph per secure lookup since `from` that missed a correct
    /// root.
    pub fn describe_secure_misses(&self, from: usize) -> Vec<String> {
        self.secure_misses(from)
            .into_iter()
            .map(|l| self.describe_miss(l))
            .collect()
    }

    fn describe_miss(&self, l: &SecureLookup) -> String {
        let near = self.truth.closest(l.key, NEAR);
        let rank = |id: Id| {
            self.truth
                .index_of(id)
                .and_then(|i| near.iter().position(|&n| n == i))
        };
        let role = |i: u32| if self.is_faulty(i as usize) { 'F' } else { 'c' };
        let mut s = String::new();
        let _ = write!(
            s,
            "miss key {} from node {} at {:.1} s:",
            l.key,
            l.source,
            l.sent_at.as_micros() as f64 / 1e6
        );
        match l.ended {
            None => s.push_str(" the source never heard"),
            Some((_, redundant)) => {
                let _ = write!(s, " redundant {redundant}, accepted");
                for id in &l.accepted {
                    match (self.truth.index_of(*id), rank(*id)) {
                        (Some(i), Some(r)) => {
                            let _ = write!(s, " #{r}{}", role(i));
                        }
                        (Some(i), None) => {
                            let _ = write!(s, " far{}", role(i));
                        }
                        (None, _) => s.push_str(" gone"),
                    }
                }
            }
        }
        let faulty_near = near.iter().filter(|&&n| self.is_faulty(n as usize)).count();
        let _ = write!(
            s,
            "\n  key's {} closest: {faulty_near} faulty; live nodes sharing 1-4 digits:",
            near.len()
        );
        // Each live node's shared prefix with the key, scanned once.
        let shared: Vec<(u32, usize)> = self
            .alive
            .iter()
            .filter_map(|&j| {
                let n = self.slots[j as usize].node()?;
                Some((j, n.own().id.shared_prefix_len(l.key)))
            })
            .collect();
        for p in 1..=4 {
            let _ = write!(s, " {}", shared.iter().filter(|(_, d)| *d >= p).count());
        }
        let deepest = shared.iter().map(|(_, d)| *d).max().unwrap_or(0);
        let _ = write!(s, "; sharing {deepest}:");
        for (j, _) in shared.iter().filter(|(_, d)| *d == deepest) {
            let _ = write!(s, " {j}{}", role(*j));
        }
        let _ = write!(s, "\n  source {}", self.node_view(l.source as usize));
        let routes = l.hops.iter().map(|h| h.route).max().map_or(0, |r| r + 1);
        for k in 0..routes {
            let _ = write!(s, "\n  route {k}:");
            for h in l.hops.iter().filter(|h| h.route == k) {
                match (h.answer, h.to) {
                    (None, Some(to)) => {
                        let _ = write!(s, " >{to}{}", role(to));
                    }
                    (None, None) => s.push_str(" >?"),
                    (Some(complete), _) => {
                        let c = if complete { "!" } else { "" };
                        let _ = write!(s, " <{}{}{c}", h.from, role(h.from));
                    }
                }
            }
        }
        for (r, &root) in l.roots.iter().enumerate() {
            let reached = l.reached_at(root).is_some();
            let _ = write!(s, "\n  root #{r} node {root} {}", role(root));
            if self.is_faulty(root as usize) {
                continue;
            }
            let _ = write!(
                s,
                " {}: {}; in {} correct leaf sets, {} constrained tables",
                if reached { "reached" } else { "MISSED" },
                self.node_view(root as usize),
                self.correct_holders_of(root as usize, |n, id| n.leaf_set().contains(id)),
                self.correct_holders_of(root as usize, |n, id| {
                    n.constrained_table().entries().any(|p| p.id == id)
                }),
            );
        }
        s
    }

    /// A node's view against the truth: its leaf set's faulty members and
    /// the correct true neighbours it lacks, its tables' faulty shares.
    fn node_view(&self, i: usize) -> String {
        let Some(n) = self.slots[i].node() else {
            return "gone".into();
        };
        if !n.is_active() {
            return format!("not active ({:?})", n.phase());
        }
        let bad = |id: Id| {
            self.truth
                .index_of(id)
                .is_none_or(|j| self.is_faulty(j as usize))
        };
        let ls = n.leaf_set();
        let (left, right) = self.truth.leaf_set(n.own().id, ls.half());
        let lacks = left
            .iter()
            .chain(right.iter())
            .filter(|&&id| !ls.contains(id) && !bad(id))
            .count();
        let members = ls.members().count();
        let ls_bad = ls.members().filter(|p| bad(p.id)).count();
        let table: Vec<bool> = n
            .routing_table()
            .entries()
            .map(|(_, _, e)| bad(e.peer.id))
            .collect();
        let con: Vec<bool> = n.constrained_table().entries().map(|p| bad(p.id)).collect();
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
        format!(
            "leaf set {ls_bad}/{members} faulty, lacks {lacks} correct; table {}/{} faulty; constrained {}/{} faulty",
            count(&table),
            table.len(),
            count(&con),
            con.len()
        )
    }

    /// How many live correct nodes other than `i` hold node `i` by `holds`.
    fn correct_holders_of(
        &self,
        i: usize,
        holds: impl Fn(&super::SimNode<POOL, S, HALF>, Id) -> bool,
    ) -> usize {
        let Some(id) = self.slots[i].node().map(|n| n.own().id) else {
            return 0;
        };
        self.alive
            .iter()
            .map(|&j| j as usize)
            .filter(|&j| j != i && !self.is_faulty(j))
            .filter_map(|j| self.slots[j].node())
            .filter(|n| holds(n, id))
            .count()
    }
}
