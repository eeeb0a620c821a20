//! What the global view says of the nodes' routing state: leaf sets
//! against the true neighbours, routing-table fill against what live
//! nodes could fill.

use pastry_core::Id;
use pastry_core::leaf_set::LeafSet;

use super::{Sim, Slot};

/// Wrong entries over all leaf sets (see [`Sim::leaf_set_errors`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafSetErrors {
    /// Entries of nodes no longer live.
    pub stale: u64,
    /// True members absent.
    pub missing: u64,
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// The live nodes' session counters, summed, and the sessions they
    /// hold.
    pub fn session_totals(&self) -> (pastry_core::session::SessionStats, u64) {
        let mut t = pastry_core::session::SessionStats::default();
        let mut held = 0;
        for n in self.slots.iter().filter_map(Slot::node) {
            let s = n.session_stats();
            t.established += s.established;
            t.timed_out += s.timed_out;
            t.evicted += s.evicted;
            t.refused += s.refused;
            t.no_session += s.no_session;
            t.wrong_address += s.wrong_address;
            t.bad_tag += s.bad_tag;
            t.replayed += s.replayed;
            t.bad_cookie += s.bad_cookie;
            t.unsolicited += s.unsolicited;
            t.stale_sent += s.stale_sent;
            t.stale_heard += s.stale_heard;
            t.rationed += s.rationed;
            held += n.sessions() as u64;
        }
        (t, held)
    }

    /// Fraction of live active nodes whose leaf set equals the true one.
    pub fn leafset_correct_fraction(&self) -> f64 {
        let wrong = self.wrong_leaf_sets().len();
        let n = self.truth.len();
        if n == 0 {
            return 1.0;
        }
        (n - wrong) as f64 / n as f64
    }

    /// Routing-table completeness by row, over live active nodes: for each
    /// row, slots holding a live node, slots some live active node could
    /// fill, and slots holding a node that is gone.
    pub fn table_fill(&self) -> Vec<TableFill> {
        let mut out = Vec::new();
        for n in self.slots.iter().filter_map(Slot::node) {
            if !n.is_active() {
                continue;
            }
            let own = n.own().id;
            let t = n.routing_table();
            for row in 0.. {
                let Some(entries) = t.row(row) else { break };
                if out.len() <= row {
                    out.push(TableFill::default());
                }
                for (col, e) in entries.iter().enumerate() {
                    if col == usize::from(own.digit(row)) {
                        continue;
                    }
                    // An entry of a node that is gone fills nothing.
                    let live = e.map(|e| self.truth.contains(e.peer.id));
                    out[row].filled += u64::from(live == Some(true));
                    out[row].departed += u64::from(live == Some(false));
                    let spare = t.spare_at(row, col).map(|e| self.truth.contains(e.peer.id));
                    out[row].covered += u64::from(live == Some(false) && spare == Some(true));
                    out[row].fillable += u64::from(self.truth.fills(own, row, col as u8));
                }
            }
        }
        out
    }

    /// Live active nodes whose leaf set differs from the true one.
    pub fn wrong_leaf_sets(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.first_leaf_set_error(i).is_some())
            .collect()
    }

    /// Over live active correct nodes whose leaf set is wrong: how many
    /// first differ from the true one at each position from the node
    /// outwards (index 0: the nearest member), either side.
    pub fn leaf_set_first_errors(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for i in (0..self.slots.len()).filter(|&i| !self.is_faulty(i)) {
            if let Some(k) = self.first_leaf_set_error(i) {
                if out.len() <= k {
                    out.resize(k + 1, 0);
                }
                out[k] += 1;
            }
        }
        out
    }

    /// Over live active correct nodes' leaf sets: entries of nodes that are
    /// gone (`stale`), and true members they lack (`missing`; a joiner not
    /// yet heard of, or one pushed out). Tells a leaf set kept too long
    /// from one filled too slowly.
    pub fn leaf_set_errors(&self) -> LeafSetErrors {
        let mut e = LeafSetErrors::default();
        for i in (0..self.slots.len()).filter(|&i| !self.is_faulty(i)) {
            let Some((ls, left, right)) = self.leaf_set_and_truth(i) else {
                continue;
            };
            e.stale += ls.members().filter(|p| !self.truth.contains(p.id)).count() as u64;
            e.missing += (left.iter().chain(right.iter()))
                .filter(|&&id| !ls.contains(id))
                .count() as u64;
        }
        e
    }

    /// Where live active node `i`'s leaf set first differs from the true
    /// one, counted from the node outwards on either side; `None` if it is
    /// right (or the node is not live and active).
    fn first_leaf_set_error(&self, i: usize) -> Option<usize> {
        let (ls, left, right) = self.leaf_set_and_truth(i)?;
        let first = |got: &[pastry_core::Peer], want: &[Id]| {
            (0..want.len().max(got.len()))
                .find(|&k| got.get(k).map(|p| p.id) != want.get(k).copied())
        };
        [first(ls.left(), &left), first(ls.right(), &right)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Live active node `i`'s leaf set, and the true left and right sides
    /// it should hold.
    fn leaf_set_and_truth(&self, i: usize) -> Option<(&LeafSet<HALF>, Vec<Id>, Vec<Id>)> {
        let n = self.slots[i].node().filter(|n| n.is_active())?;
        let ls = n.leaf_set();
        let (left, right) = self.truth.leaf_set(n.own().id, ls.half());
        Some((ls, left, right))
    }
}

/// One routing-table row summed over the live active nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableFill {
    /// Slots holding a live node.
    pub filled: u64,
    /// Slots some live active node could fill.
    pub fillable: u64,
    /// Slots holding a node that is gone: a message sent there waits for
    /// a timeout and goes round it.
    pub departed: u64,
    /// Of those, slots whose spare is live: the message goes round to it
    /// and still gains a digit.
    pub covered: u64,
}
