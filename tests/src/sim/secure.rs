//! Secure lookups under the simulator (#29): `sec_route(key, msg, r)` from
//! random correct nodes, judged by the global view. The judge takes the
//! key's `r` closest live active nodes when the lookup is sent; the lookup
//! succeeds when every correct one among them received the message, and
//! reached "any" when at least one did.

use pastry_core::{Id, Instant};

use super::{DetMap, LOOKUP_APP, Sim};

/// One secure lookup as the judge saw it.
#[derive(Clone, Debug)]
pub struct SecureLookup {
    /// The key.
    pub key: Id,
    /// The node that sent it.
    pub source: u32,
    /// When.
    pub sent_at: Instant,
    /// The key's true `r` closest live active nodes then.
    pub roots: Vec<u32>,
    /// Nodes that delivered it, each with when it first did.
    pub reached: Vec<(u32, Instant)>,
    /// Once its source heard how it ended (the `Secured` event): when,
    /// and whether it went redundant.
    pub ended: Option<(Instant, bool)>,
    /// The roots the source accepted, closest first.
    pub accepted: Vec<Id>,
    /// With [`SecureLookups::trace`]: every datagram of its queries and
    /// answers, in the order sent.
    pub hops: Vec<QueryHop>,
}

impl SecureLookup {
    /// When node `n` first delivered it, if it did.
    pub fn reached_at(&self, n: u32) -> Option<Instant> {
        self.reached.iter().find(|(m, _)| *m == n).map(|&(_, t)| t)
    }
}

/// One datagram of a traced secure lookup.
#[derive(Clone, Copy, Debug)]
pub struct QueryHop {
    /// Which of the lookup's routes (0: the first, or the single route).
    pub route: u8,
    /// The sender.
    pub from: u32,
    /// The receiver (`None`: not a node, or gone).
    pub to: Option<u32>,
    /// An answer (`Some(complete)`), or the query going on (`None`).
    pub answer: Option<bool>,
}

/// The secure lookups of a run.
#[derive(Clone, Debug, Default)]
pub struct SecureLookups {
    /// By message id.
    pub by_id: DetMap<u64, SecureLookup>,
    /// Ids in the order sent.
    pub order: Vec<u64>,
    /// Lookups their source refused (busy, not active).
    pub refused: u64,
    /// The keys looked up and their lookups' ids, to tell their queries
    /// and answers from the nodes' own (constrained-table fills, leaf-set
    /// checks).
    pub keys: DetMap<Id, u64>,
    /// Record each lookup's [`SecureLookup::hops`].
    pub trace: bool,
}

/// The judge's figures for secure lookups.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SecureReport {
    /// Secure lookups sent (and refused ones).
    pub lookups: usize,
    /// Every correct one of the true roots received it.
    pub ok: usize,
    /// At least one correct true root received it.
    pub any_ok: usize,
    /// Their sources heard back (a `Secured` event).
    pub ended: usize,
    /// Of those, the ones that used redundant routing.
    pub redundant: usize,
    /// Milliseconds from sending until the source heard how it ended:
    /// median and 99th percentile over the ended ones.
    pub ended_ms: (f64, f64),
    /// Milliseconds from sending until the last correct true root had
    /// it: median and 99th percentile over the `ok` ones.
    pub reached_ms: (f64, f64),
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Node `source` sends a secure lookup for `key` to its `r` roots.
    pub fn secure_lookup(&mut self, source: usize, key: Id, r: usize) -> Option<u64> {
        let now = self.now;
        let sent = self.slots[source]
            .at(now)
            .and_then(|(node, _)| node.secure_route(now, key, LOOKUP_APP, &[], r).ok());
        let Some(id) = sent else {
            self.secure.refused += 1;
            return None;
        };
        let roots = self.truth.closest(key, r);
        self.secure.by_id.insert(
            id,
            SecureLookup {
                key,
                source: source as u32,
                sent_at: now,
                roots,
                reached: Vec::new(),
                ended: None,
                accepted: Vec::new(),
                hops: Vec::new(),
            },
        );
        self.secure.order.push(id);
        self.secure.keys.insert(key, id);
        self.drain(source);
        Some(id)
    }

    /// Whether the datagram `bytes`, sent by node `from` to `to`, is a
    /// query or an answer of one of the judged secure lookups (not a
    /// node's own); recorded when tracing.
    pub(super) fn judge_query(&mut self, from: usize, to: Option<u32>, bytes: &[u8]) -> bool {
        use pastry_core::wire::Body;
        let (msg_id, key, answer) = match super::snoop(bytes).map(|m| m.body) {
            Ok(Body::Query(q)) => (q.msg_id, q.key, None),
            Ok(Body::ReplicaSet(a)) => (a.msg_id, a.key, Some(a.complete)),
            _ => return false,
        };
        let Some(&id) = self.secure.keys.get(&key) else {
            return false;
        };
        if self.secure.trace {
            // Route k's queries carry the lookup's id + k + 1 (the single
            // route: the id itself).
            let route = msg_id.wrapping_sub(id).saturating_sub(1).min(255) as u8;
            if let Some(l) = self.secure.by_id.get_mut(&id) {
                l.hops.push(QueryHop {
                    route,
                    from: from as u32,
                    to,
                    answer,
                });
            }
        }
        true
    }

    /// A delivery at node `at`: one of a secure lookup's copies?
    pub(super) fn judge_secure_delivery(&mut self, at: usize, msg_id: u64) -> bool {
        let Some(l) = self.secure.by_id.get_mut(&msg_id) else {
            return false;
        };
        if l.reached_at(at as u32).is_none() {
            l.reached.push((at as u32, self.now));
        }
        true
    }

    /// A source heard how its secure lookup ended.
    pub(super) fn judge_secured(&mut self, op: u64, roots: &[Id], redundant: bool) {
        if let Some(l) = self.secure.by_id.get_mut(&op) {
            l.ended = Some((self.now, redundant));
            l.accepted = roots.to_vec();
        }
    }

    /// Judges the secure lookups in `self.secure.order[from..]`.
    pub fn secure_report(&self, from: usize) -> SecureReport {
        let mut r = SecureReport {
            lookups: self.secure.order.len() - from,
            ..SecureReport::default()
        };
        let (mut ended, mut reached) = (Vec::new(), Vec::new());
        let ms = |from: Instant, to: Instant| {
            to.saturating_duration_since(from).as_micros() as f64 / 1e3
        };
        for id in &self.secure.order[from..] {
            let l = &self.secure.by_id[id];
            if let Some((at, redundant)) = l.ended {
                ended.push(ms(l.sent_at, at));
                r.ended += 1;
                r.redundant += usize::from(redundant);
            }
            let correct: Vec<u32> = l
                .roots
                .iter()
                .copied()
                .filter(|&n| !self.is_faulty(n as usize))
                .collect();
            let at: Vec<Instant> = correct.iter().filter_map(|&n| l.reached_at(n)).collect();
            let got = at.len();
            r.ok += usize::from(got == correct.len());
            if got == correct.len() {
                let last = at.into_iter().max();
                reached.push(last.map_or(0.0, |t| ms(l.sent_at, t)));
            }
            r.any_ok += usize::from(got > 0 || correct.is_empty());
        }
        r.ended_ms = median_p99(ended);
        r.reached_ms = median_p99(reached);
        r
    }

    /// The secure lookups that missed a correct root, for a failing
    /// scenario to print.
    pub fn secure_misses(&self, from: usize) -> Vec<&SecureLookup> {
        self.secure.order[from..]
            .iter()
            .map(|id| &self.secure.by_id[id])
            .filter(|l| {
                l.roots
                    .iter()
                    .any(|&n| !self.is_faulty(n as usize) && l.reached_at(n).is_none())
            })
            .collect()
    }

    /// The live nodes' secure-routing counters, summed.
    pub fn secure_stats(&self) -> pastry_core::node::SecureStats {
        let mut t = pastry_core::node::SecureStats::default();
        for &i in &self.alive {
            let Some(n) = self.slots[i as usize].node() else {
                continue;
            };
            let s = n.stats().secure;
            t.lookups += s.lookups;
            t.completed += s.completed;
            t.test_fired += s.test_fired;
            t.single_timeouts += s.single_timeouts;
            t.redundant += s.redundant;
            t.queries_sent += s.queries_sent;
            t.queries_relayed += s.queries_relayed;
            t.answered += s.answered;
            t.answers_rationed += s.answers_rationed;
            t.unsolicited_answers += s.unsolicited_answers;
            t.unconstrained_hops += s.unconstrained_hops;
            t.fills += s.fills;
            t.routes_refused += s.routes_refused;
        }
        t
    }

    /// Over live active correct nodes: the share of their proximity-table
    /// entries that are faulty, the share of their constrained entries
    /// that are, and constrained entries per node.
    pub fn table_shares(&self) -> (f64, f64, f64) {
        let (mut table, mut table_bad, mut con, mut con_bad, mut nodes) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        for &i in &self.alive {
            let i = i as usize;
            if self.slots[i].faulty {
                continue;
            }
            let Some(n) = self.slots[i].node().filter(|n| n.is_active()) else {
                continue;
            };
            nodes += 1;
            let bad = |id: Id| {
                self.truth
                    .index_of(id)
                    .is_some_and(|j| self.slots[j as usize].faulty)
            };
            for (_, _, e) in n.routing_table().entries() {
                table += 1;
                table_bad += u64::from(bad(e.peer.id));
            }
            for p in n.constrained_table().entries() {
                con += 1;
                con_bad += u64::from(bad(p.id));
            }
        }
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        (
            share(table_bad, table),
            share(con_bad, con),
            share(con, nodes),
        )
    }
}

/// The median and 99th percentile of `v` (zeros when empty).
fn median_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q| super::report::percentile(&v, q).unwrap_or(0.0);
    (at(0.5), at(0.99))
}
