//! How fast Scribe trees heal after a parent fails (#6: within the
//! heartbeat period plus a round trip; Scribe §2.4). Every child of a
//! departed parent is an orphan, watched until it hangs from a root again:
//! by the global view (live parents up to a root, each listing the node
//! below as its child) and in its own view (it knows its way to the
//! root, so it takes in subscribes and gets publications). Each orphan is
//! judged a heartbeat plus [`HEAL_SLACK`] after the failure, and again
//! [`HEAL_LATE`] later, and the time it took is kept for the percentiles.

use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::scribe::Group;
use pastry_core::{Id, Instant};

use super::groups::SIM_CHILDREN;
use super::{Action, Sim};

/// Slack over the heartbeat for an orphan to find a new parent (a
/// subscribe's round trip through the overlay).
pub const HEAL_SLACK: Duration = Duration::from_secs(1);
/// Orphans not healed in time are looked at again this much later.
pub const HEAL_LATE: Duration = Duration::from_secs(10);

/// Orphans being watched and how long the healed ones took.
#[derive(Clone, Debug, Default)]
pub struct Healing {
    orphans: Vec<Orphan>,
    /// From the parent's failure to healing, per judged orphan healed.
    took: Vec<Duration>,
    /// From the orphan noticing (leaving the failed parent) to healing.
    repair: Vec<Duration>,
}

/// A child of a failed parent.
#[derive(Clone, Copy, Debug)]
struct Orphan {
    child: u32,
    group: Id,
    /// The failed parent's address.
    parent: SocketAddr,
    /// When the parent failed.
    since: Instant,
    /// The failed parent was the group's root.
    of_root: bool,
    /// When it was first seen off the failed parent (it noticed).
    noticed: Option<Instant>,
    /// When it was first seen healed.
    healed: Option<Instant>,
    /// Next judgement (`None`: judged twice, watched for its time only).
    due: Option<Instant>,
    /// Judged once already.
    judged: bool,
    /// Judged and healed, or off the tree: to be forgotten.
    done: bool,
}

/// Heal times over the orphans judged, from the parent's failure and
/// from the orphan's noticing it; those still not healed when the run
/// ended count as endless (a percentile among them is `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HealTimes {
    /// From the failure.
    pub after_failure: Percentiles,
    /// From the orphan letting go of the failed parent (the rest is
    /// noticing: up to a heartbeat).
    pub after_noticing: Percentiles,
    /// Judged orphans, alive at the end, never healed.
    pub never: u64,
}

/// The shortest, median, 90th and 99th percentile, and the longest.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// The shortest.
    pub min: Option<Duration>,
    /// Median.
    pub p50: Option<Duration>,
    /// 90th percentile.
    pub p90: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// The longest.
    pub max: Option<Duration>,
}

impl Percentiles {
    /// Of `times`, with `endless` more beyond every one.
    fn of(times: &[Duration], endless: usize) -> Percentiles {
        let mut t = times.to_vec();
        t.sort_unstable();
        let n = t.len() + endless;
        let at = |q: f64| {
            let k = ((n as f64 * q).ceil() as usize).clamp(1, n.max(1));
            t.get(k - 1).copied()
        };
        Percentiles {
            min: at(0.0),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

impl Healing {
    /// Whether any orphan is waiting to heal.
    pub fn is_watching(&self) -> bool {
        !self.orphans.is_empty()
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Node `i`, a Scribe node, is going: its children become orphans.
    pub(super) fn orphan_children(&mut self, i: usize) {
        let now = self.now;
        // A departing child is not judged any more.
        let me = i as u32;
        self.healing.orphans.retain(|o| o.child != me);
        let Some(s) = self.slots[i].scribe() else {
            return;
        };
        let parent = self.slots[i].addr;
        let hb = self.config.scribe.map_or(Duration::ZERO, |c| c.heartbeat);
        let due = now + hb + HEAL_SLACK;
        let mut any = false;
        for g in s.groups() {
            for c in &g.children {
                let Some(&child) = self.by_addr.get(&c.addr) else {
                    continue;
                };
                any = true;
                self.healing.orphans.push(Orphan {
                    child,
                    group: g.id,
                    parent,
                    since: now,
                    of_root: g.root,
                    noticed: None,
                    healed: None,
                    due: Some(due),
                    judged: false,
                    done: false,
                });
            }
        }
        if any {
            self.schedule(due, Action::Inspect(i as u32));
        }
    }

    /// After node `i` handled events: its orphans that noticed or healed
    /// just now.
    pub(super) fn watch_orphans(&mut self, i: usize) {
        let now = self.now;
        let mut finished = false;
        for k in 0..self.healing.orphans.len() {
            let o = self.healing.orphans[k];
            if o.child != i as u32 || o.healed.is_some() {
                continue;
            }
            let Some(state) = self.tree(i, o.group) else {
                // Pruned itself off the tree: nothing left to heal.
                self.healing.orphans[k].done = true;
                finished = true;
                continue;
            };
            let noticed = state.parent.is_none_or(|p| p.addr != o.parent);
            let healed = self.healed(&o, state);
            let o = &mut self.healing.orphans[k];
            if noticed && o.noticed.is_none() {
                o.noticed = Some(now);
            }
            if healed {
                o.healed = Some(now);
                // Judged already: its time counts now; otherwise when judged.
                o.done = o.judged && o.due.is_none();
                finished |= o.done;
                let o = *o;
                if o.judged {
                    self.took(&o, now);
                }
            }
        }
        if finished {
            self.healing.orphans.retain(|o| !o.done);
        }
    }

    /// Counts orphan `o`'s heal, at `at`.
    fn took(&mut self, o: &Orphan, at: Instant) {
        self.healing.took.push(at - o.since);
        let noticed = o.noticed.unwrap_or(at);
        self.healing.repair.push(at - noticed);
    }

    /// Whether orphan `o`, whose place in the tree is `state`, hangs from a
    /// root again, in the global view and its own.
    fn healed(&self, o: &Orphan, state: &Group<SIM_CHILDREN>) -> bool {
        state.root
            || (state.attached()
                && state.parent.is_some_and(|p| p.addr != o.parent)
                && self.way_to_root(o.child as usize, o.group))
    }

    /// Whether parent pointers lead from node `i` to a root of `group`
    /// through live nodes that each list the one below as a child.
    fn way_to_root(&self, i: usize, group: Id) -> bool {
        let mut at = i;
        for _ in 0..64 {
            let Some(g) = self.tree(at, group) else {
                return false;
            };
            if g.root {
                return true;
            }
            let Some(q) = g.parent.and_then(|p| self.by_addr.get(&p.addr)) else {
                return false;
            };
            let q = *q as usize;
            let below = self.slots[at].id;
            let listed = self.tree(q, group).is_some_and(|pg| pg.has_child(below));
            if !self.is_alive(q) || !listed {
                return false;
            }
            at = q;
        }
        false
    }

    /// Judges the orphans of node `parent` that are due: healed, or where
    /// they stand (see [`Tally::orphans_late`](super::groups::Tally)).
    pub(super) fn inspect_orphans(&mut self, parent: usize) {
        let now = self.now;
        let parent_addr = self.slots[parent].addr;
        let mut again = false;
        for k in 0..self.healing.orphans.len() {
            let o = self.healing.orphans[k];
            if o.parent != parent_addr || o.due != Some(now) {
                continue;
            }
            let Some(state) = self.tree(o.child as usize, o.group) else {
                // Gone, or pruned itself off the tree: nothing to judge.
                self.healing.orphans[k].done = true;
                continue;
            };
            let parent_now = state.parent.map(|p| p.addr);
            let healed_at = o.healed.or(self.healed(&o, state).then_some(now));
            let healed = healed_at.is_some();
            let t = &mut self.multicast.tally;
            if o.judged {
                t.orphans_healed_late += u64::from(healed);
                t.root_orphans_stuck += u64::from(o.of_root && !healed);
            } else {
                t.orphans += 1;
                t.orphans_healed += u64::from(healed);
                t.root_orphans += u64::from(o.of_root);
                t.root_orphans_healed += u64::from(o.of_root && healed);
                if !healed {
                    let at = self.where_it_stands(parent_now, o);
                    self.multicast.tally.orphans_late[at] += 1;
                }
            }
            // A heal first seen now, or seen before the first judgement.
            if let Some(at) = healed_at.filter(|_| o.healed.is_none() || !o.judged) {
                self.took(&o, at);
            }
            let o = &mut self.healing.orphans[k];
            o.healed = healed_at;
            o.due = (!o.judged && !healed).then_some(now + HEAL_LATE);
            o.judged = true;
            o.done = healed;
            again |= o.due.is_some();
        }
        self.healing.orphans.retain(|o| !o.done);
        if again {
            self.schedule(now + HEAL_LATE, Action::Inspect(parent as u32));
        }
    }

    /// Where an orphan not healed in time stands, as an index into
    /// `Tally::orphans_late`.
    fn where_it_stands(&self, parent: Option<SocketAddr>, o: Orphan) -> usize {
        let Some(p) = parent else {
            return 1;
        };
        if p == o.parent {
            return 0;
        }
        let Some(&q) = self.by_addr.get(&p).filter(|&&q| self.is_alive(q as usize)) else {
            return 2;
        };
        let above = self
            .tree(q as usize, o.group)
            .map(|g| g.parent.map(|pp| pp.addr == o.parent));
        match above {
            None | Some(None) => 3,
            Some(Some(true)) => 4,
            Some(Some(false)) => 5,
        }
    }

    /// Heal times of the orphans judged so far.
    pub fn heal_times(&self) -> HealTimes {
        let never = self
            .healing
            .orphans
            .iter()
            .filter(|o| o.judged && o.healed.is_none())
            .count();
        HealTimes {
            after_failure: Percentiles::of(&self.healing.took, never),
            after_noticing: Percentiles::of(&self.healing.repair, never),
            never: never as u64,
        }
    }
}
