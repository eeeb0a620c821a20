//! Scribe under the simulator: groups with Zipf-like sizes, subscriptions
//! kept up through churn (a node's replacement takes over its groups),
//! publications and anycasts from random nodes, each judged against the
//! global view: who was a member and alive for the whole publication, the
//! tree's delay against direct delay from the root, the messages each node
//! sent per publication, and how fast orphans of a failed parent heal.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::scribe::{self, AnycastId, Group, ScribeEvent, ScribeStats};
use pastry_core::wire::{Body, Message};
use pastry_core::{Id, Instant};

use super::healing::HealTimes;
use super::{DetMap, Sim, SimNode, SimScribe, Slot};

/// Children per tree node in the simulator (Scribe's bound on fan-out).
pub const SIM_CHILDREN: usize = 16;
/// Trees a simulated node may be on. Measured (`trees_per_node_max` in
/// the report): at most 16 in the 2,000-node churn hour (mean 3.5), but
/// 42 in Scribe's setting at 10,000 nodes (mean 6.0) and 63 at 100,000
/// (mean 5.6): proximity makes a few central nodes everyone's next hop,
/// so forwarders for many trees.
pub const SIM_GROUPS: usize = 64;

/// A member must have subscribed this long before a publication to be
/// expected to get it.
const SUBSCRIBE_GRACE: Duration = Duration::from_secs(5);
/// A publication's "whole": members alive this long after it are judged.
pub const PUBLISH_WINDOW: Duration = Duration::from_secs(10);
/// The multicast workload of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Groups.
    pub groups: usize,
    /// Subscriptions over all groups (Zipf-like sizes, exponent 1.25).
    pub subscribers: usize,
    /// Publications, each from a random node to a random group.
    pub publishes: usize,
    /// Anycasts, each from a random node to a random group.
    pub anycasts: usize,
    /// Every anycast to the group of this rank instead (1 = the largest;
    /// Scribe's paper measures anycasts to one group of a chosen size).
    pub anycast_rank: Option<usize>,
}

impl Load {
    /// Group sizes: rank r gets a share ∝ r^-1.25 of the subscriptions
    /// (Scribe §4's distribution), at least one, at most `nodes`.
    pub fn sizes(&self, nodes: usize) -> Vec<usize> {
        let w: Vec<f64> = (1..=self.groups).map(|r| (r as f64).powf(-1.25)).collect();
        let sum: f64 = w.iter().sum();
        w.iter()
            .map(|x| ((self.subscribers as f64 * x / sum).round() as usize).clamp(1, nodes))
            .collect()
    }
}

/// One publication as the simulator saw it.
#[derive(Clone, Debug)]
struct Publication {
    group: u32,
    at: Instant,
    delivered: BTreeSet<u32>,
    duplicates: u32,
    /// Largest delay through the tree, and largest direct delay from the
    /// root, over the members that got it (microseconds).
    max_tree: u64,
    max_direct: u64,
    /// Data datagrams each node sent for it.
    sent: DetMap<u32, u32>,
}

/// What the simulator expects of Scribe and what it saw.
#[derive(Clone, Debug, Default)]
pub struct Multicast {
    /// Group ids by index.
    pub groups: Vec<Id>,
    /// Members of each group: node → when it subscribed.
    members: Vec<DetMap<u32, Instant>>,
    /// Groups each node was asked to join (for its replacement).
    joined: DetMap<u32, Vec<u32>>,
    /// Groups a newly spawned node takes over once active.
    inherit: DetMap<u32, Vec<u32>>,
    /// When each node went (crash or leave).
    departed: DetMap<u32, Instant>,
    publications: DetMap<u64, Publication>,
    anycasts: DetMap<(u32, AnycastId), u32>,
    /// Group indices by id.
    index: DetMap<Id, u32>,
    /// Per (group, subscriber): its members before it joined, and the
    /// subscribe datagrams sent for it.
    join_cost: DetMap<(u32, Id), (u32, u32)>,
    /// A forwarder's subscribes, by (group, forwarder): the member's join
    /// that made it one (Scribe §2.3: each node on a subscribe's way that
    /// is not in the tree joins it with its own).
    relay: DetMap<(u32, Id), (u32, Id)>,
    /// Per anycast: its group's members then, and the steps sent for it.
    anycast_cost: DetMap<u64, (u32, u32)>,
    /// Counts.
    pub tally: Tally,
}

/// Outcomes counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Subscribe commands issued (first ones and replacements').
    pub subscribes: u64,
    /// Subscribe datagrams sent (every overlay hop, pushes down, repairs).
    pub subscribe_msgs: u64,
    /// Publications sent.
    pub publishes: u64,
    /// Anycasts sent.
    pub anycasts: u64,
    /// Anycast datagrams (routed hops and tree steps; replies excluded).
    pub anycast_msgs: u64,
    /// Anycasts a member accepted.
    pub anycasts_accepted: u64,
    /// Anycasts that found nobody though a member was live throughout.
    pub anycasts_missed: u64,
    /// Anycasts to groups with no live member (nobody could accept).
    pub anycasts_to_empty: u64,
    /// Anycasts whose outcome never came (sender gone).
    pub anycasts_abandoned: u64,
    /// Commands their node refused (not active, full).
    pub refused: u64,
    /// Children of failed parents judged, and those with a new parent
    /// within the heartbeat plus [`HEAL_SLACK`](super::healing::HEAL_SLACK).
    pub orphans: u64,
    /// Of those, healed in time.
    pub orphans_healed: u64,
    /// Of the rest, those healed [`HEAL_LATE`](super::healing::HEAL_LATE) later.
    pub orphans_healed_late: u64,
    /// Orphans whose failed parent was the group's root, and of those the
    /// ones healed in time, and the ones still not healed the second look.
    pub root_orphans: u64,
    /// See `root_orphans`.
    pub root_orphans_healed: u64,
    /// See `root_orphans`.
    pub root_orphans_stuck: u64,
    /// Orphans not healed in time, by where they stood then: still under
    /// the failed parent (not noticed yet), no parent (a subscribe out), a
    /// new parent gone too, or a live new parent with no way to the root
    /// yet whose own parent is: none (its subscribe out, or it is not on
    /// the tree), the failed parent, another node.
    pub orphans_late: [u64; 6],
}

/// The figures a run reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Deliveries over (member, publication) pairs where the member was
    /// subscribed before and alive throughout.
    pub delivery_ratio: f64,
    /// Such pairs.
    pub expected: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Publications delivered twice to one member.
    pub duplicates: u64,
    /// Mean and 99th percentile over publications of max tree delay ÷ max
    /// direct delay from the root.
    pub delay_penalty_mean: f64,
    /// The 99th percentile.
    pub delay_penalty_p99: f64,
    /// Mean over publications of the mean datagrams sent per forwarding
    /// node, and the largest any node sent for one publication.
    pub node_stress_mean: f64,
    /// The largest.
    pub node_stress_max: u32,
    /// Per bucket of [`SIZE_BUCKETS`] (the group's members when the
    /// command was given): subscribes and the subscribe datagrams sent
    /// for them (every hop, pushes down, and that member's repairs).
    pub subscribe_by_size: [(u64, u64); SIZE_BUCKETS.len()],
    /// The same for anycasts and their steps (replies excluded).
    pub anycast_by_size: [(u64, u64); SIZE_BUCKETS.len()],
    /// How long orphans of failed parents took to heal.
    pub heal: HealTimes,
    /// Trees live nodes are on at the end (members and forwarders), mean
    /// and most: against [`SIM_GROUPS`], what a node must hold.
    pub trees_mean: f64,
    /// The most.
    pub trees_max: usize,
}

/// Lower bounds of the group-size buckets the costs are broken down by:
/// Scribe's paper reports joins and anycasts on an empty group and on one
/// of 2,500 members.
pub const SIZE_BUCKETS: [u32; 7] = [0, 1, 10, 100, 1_000, 2_000, 3_000];

/// The bucket of a group of `members`.
pub fn size_bucket(members: u32) -> usize {
    SIZE_BUCKETS
        .iter()
        .rposition(|&b| members >= b)
        .unwrap_or(0)
}

/// A bucket's label: `"0"`, `"1-9"`, ..., `"3000+"`.
pub fn size_label(bucket: usize) -> String {
    match SIZE_BUCKETS.get(bucket + 1) {
        _ if bucket == 0 => "0".to_string(),
        Some(next) => format!("{}-{}", SIZE_BUCKETS[bucket], next - 1),
        None => format!("{}+", SIZE_BUCKETS[bucket]),
    }
}

/// Scribe's news, owned (so the simulator may act while judging it).
#[derive(Clone, Copy, Debug)]
pub(super) enum News {
    Delivered(u64),
    Accepted(AnycastId),
    Failed(AnycastId),
    Other,
}

impl News {
    pub(super) fn of(ev: ScribeEvent<'_>) -> News {
        match ev {
            ScribeEvent::Delivered { id, .. } => News::Delivered(id),
            ScribeEvent::AnycastAccepted { op, .. } => News::Accepted(op),
            ScribeEvent::AnycastFailed { op, .. } => News::Failed(op),
            _ => News::Other,
        }
    }
}

/// A Scribe datagram's kind, as the counts need it.
struct Kinds {
    subscribe: bool,
    anycast_step: bool,
    data: Option<(Id, u64)>,
    /// A subscribe's group and child.
    joining: Option<(Id, Id)>,
    /// An anycast step's operation.
    anycast_op: Option<u64>,
}

/// Whether `datagram` is a Scribe message, and of which kind.
fn classify(datagram: &[u8]) -> Option<Kinds> {
    let Ok(Message {
        app,
        body: Body::Routed(m),
        ..
    }) = super::snoop(datagram)
    else {
        return None;
    };
    if app != scribe::APP && app != scribe::ROUTE_APP {
        return None;
    }
    let anycast_step = scribe::is_anycast(m.payload) && !scribe::is_anycast_reply(m.payload);
    Some(Kinds {
        subscribe: scribe::is_subscribe(m.payload),
        anycast_step,
        data: scribe::data_of(m.payload),
        joining: scribe::subscribe_of(m.payload),
        anycast_op: scribe::anycast_of(m.payload).map(|(_, op)| op),
    })
}

impl Multicast {
    /// Sets up `load`'s groups (ids from their names).
    pub fn new(load: &Load) -> Multicast {
        let groups: Vec<Id> = (0..load.groups)
            .map(|g| scribe::group_id(format!("group-{g}").as_bytes()))
            .collect();
        Multicast {
            members: vec![DetMap::default(); groups.len()],
            index: groups
                .iter()
                .enumerate()
                .map(|(i, &g)| (g, i as u32))
                .collect(),
            groups,
            ..Multicast::default()
        }
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Counts Scribe datagrams node `from` sends (called for every send
    /// when Scribe runs).
    pub(super) fn count_scribe(&mut self, from: usize, to_addr: SocketAddr, len: usize) {
        let Some(k) = classify(&self.buf[..len]) else {
            return;
        };
        let m = &mut self.multicast;
        m.tally.subscribe_msgs += u64::from(k.subscribe);
        m.tally.anycast_msgs += u64::from(k.anycast_step);
        if let Some((group, child)) = k.joining {
            let g = m.index.get(&group).copied();
            // The member whose join this datagram is part of: the child's
            // own, or the one that made the child a forwarder.
            let cause = g.and_then(|g| {
                let own = (g, child);
                m.join_cost
                    .contains_key(&own)
                    .then_some(own)
                    .or_else(|| m.relay.get(&own).copied())
            });
            if let Some(cause) = cause {
                if let Some(c) = m.join_cost.get_mut(&cause) {
                    c.1 += 1;
                }
                // The receiver may join as a forwarder for it.
                let to = self
                    .by_addr
                    .get(&to_addr)
                    .map(|&t| self.slots[t as usize].id);
                let m = &mut self.multicast;
                if let Some(to) = to.filter(|&t| !m.join_cost.contains_key(&(cause.0, t))) {
                    m.relay.insert((cause.0, to), cause);
                }
            }
        }
        let m = &mut self.multicast;
        if let Some(c) = k.anycast_op.and_then(|op| m.anycast_cost.get_mut(&op)) {
            c.1 += 1;
        }
        if let Some((_, id)) = k.data {
            if let Some(p) = m.publications.get_mut(&id) {
                *p.sent.entry(from as u32).or_default() += 1;
            }
        }
    }

    /// A random live active node not yet a member of group `g`.
    pub fn random_non_member(&mut self, g: u32) -> Option<usize> {
        for _ in 0..32 {
            let i = self.random_active()?;
            if !self.multicast.members[g as usize].contains_key(&(i as u32)) {
                return Some(i);
            }
        }
        None
    }

    /// Runs a Scribe command at node `i` for group `g`; what it returned,
    /// or `None` (counted as refused) if the node is gone or refused.
    fn scribe_command<R, E>(
        &mut self,
        i: usize,
        g: u32,
        command: impl FnOnce(&mut SimScribe, Instant, &mut SimNode<POOL, S, HALF>, Id) -> Result<R, E>,
    ) -> Option<R> {
        let (now, group) = (self.now, self.multicast.groups[g as usize]);
        let slot = &mut self.slots[i];
        let done = match slot.at(now) {
            Some((node, (_, Some(s)))) => command(s, now, node, group).ok(),
            _ => None,
        };
        if done.is_none() {
            self.multicast.tally.refused += 1;
        }
        done
    }

    /// Node `i` subscribes to group `g` (by index).
    pub fn subscribe(&mut self, i: usize, g: u32) {
        let now = self.now;
        let subscribed =
            self.scribe_command(i, g, |s, now, node, group| s.subscribe(now, node, group));
        if subscribed.is_none() {
            return;
        }
        let id = self.slots[i].id;
        let m = &mut self.multicast;
        m.tally.subscribes += 1;
        let before = m.members[g as usize].len() as u32;
        m.join_cost.entry((g, id)).or_insert((before, 0));
        m.members[g as usize].insert(i as u32, now);
        m.joined.entry(i as u32).or_default().push(g);
        self.drain(i);
    }

    /// Node `i` publishes to group `g`.
    pub fn publish(&mut self, i: usize, g: u32) {
        let now = self.now;
        let published = self.scribe_command(i, g, |s, now, node, group| {
            s.publish(now, node, group, b"news")
        });
        let Some(id) = published else {
            return;
        };
        self.multicast.tally.publishes += 1;
        self.multicast.publications.insert(
            id,
            Publication {
                group: g,
                at: now,
                delivered: BTreeSet::new(),
                duplicates: 0,
                max_tree: 0,
                max_direct: 0,
                sent: DetMap::default(),
            },
        );
        self.drain(i);
    }

    /// Node `i` anycasts to group `g`.
    pub fn anycast(&mut self, i: usize, g: u32) {
        let sent = self.scribe_command(i, g, |s, now, node, group| {
            s.anycast(now, node, group, b"job")
        });
        let Some(op) = sent else {
            return;
        };
        self.multicast.tally.anycasts += 1;
        self.multicast.anycasts.insert((i as u32, op), g);
        let members = self.multicast.members[g as usize].len() as u32;
        self.multicast.anycast_cost.insert(op.0, (members, 0));
        self.drain(i);
    }

    /// Scribe's news at node `i`.
    pub(super) fn judge_scribe(&mut self, i: usize, ev: News) {
        match ev {
            News::Delivered(id) => self.judge_delivery(i, id),
            News::Accepted(op) => {
                if self.multicast.anycasts.remove(&(i as u32, op)).is_some() {
                    self.multicast.tally.anycasts_accepted += 1;
                }
            }
            News::Failed(op) => {
                if let Some(g) = self.multicast.anycasts.remove(&(i as u32, op)) {
                    // Missed only if some member was live all along.
                    let now = self.now;
                    let live = self.multicast.members[g as usize]
                        .iter()
                        .any(|(&m, &at)| at + SUBSCRIBE_GRACE <= now && self.is_alive(m as usize));
                    if live {
                        self.multicast.tally.anycasts_missed += 1;
                    } else {
                        self.multicast.tally.anycasts_to_empty += 1;
                    }
                }
            }
            News::Other => {}
        }
    }

    fn judge_delivery(&mut self, i: usize, id: u64) {
        let Some(p) = self.multicast.publications.get_mut(&id) else {
            return;
        };
        if !p.delivered.insert(i as u32) {
            p.duplicates += 1;
            return;
        }
        // Only a first delivery walks the tree for its delay.
        let (tree, direct) = self.tree_delay(i, id).unwrap_or((0, 0));
        let Some(p) = self.multicast.publications.get_mut(&id) else {
            return;
        };
        p.max_tree = p.max_tree.max(tree);
        p.max_direct = p.max_direct.max(direct);
    }

    /// One-way delay from the root down the tree to node `i` and directly,
    /// by the tree as it stands (parent pointers up to the root).
    fn tree_delay(&self, i: usize, id: u64) -> Option<(u64, u64)> {
        let g = self.multicast.publications.get(&id)?.group;
        let group = self.multicast.groups[g as usize];
        let (mut at, mut tree) = (i, 0u64);
        for _ in 0..64 {
            let s = self.tree(at, group)?;
            let Some(parent) = s.parent else {
                let direct = self
                    .network
                    .one_way(self.slots[at].place, self.slots[i].place);
                return Some((tree, direct.as_micros() as u64));
            };
            let p = *self.by_addr.get(&parent.addr)? as usize;
            tree += self
                .network
                .one_way(self.slots[p].place, self.slots[at].place)
                .as_micros() as u64;
            at = p;
        }
        None
    }

    /// Node `i` is going: it is no member any more, and its children are
    /// orphans to judge.
    pub(super) fn scribe_departs(&mut self, i: usize) {
        let now = self.now;
        let m = &mut self.multicast;
        m.departed.insert(i as u32, now);
        for g in m.joined.get(&(i as u32)).into_iter().flatten() {
            m.members[*g as usize].remove(&(i as u32));
        }
        self.orphan_children(i);
    }

    /// Node `next` replaces the departed node `i`: it will take `i`'s
    /// groups over once active (so group sizes hold under churn).
    pub(super) fn scribe_replaces(&mut self, i: usize, next: usize) {
        if let Some(groups) = self.multicast.joined.remove(&(i as u32)) {
            self.multicast.inherit.insert(next as u32, groups);
        }
    }

    /// A node that just became active takes over its predecessor's groups.
    pub(super) fn scribe_joined(&mut self, i: usize) {
        if let Some(groups) = self.multicast.inherit.remove(&(i as u32)) {
            for g in groups {
                self.subscribe(i, g);
            }
        }
    }

    /// Node `i`'s Scribe, while it is alive and runs one.
    pub fn scribe(&self, i: usize) -> Option<&SimScribe> {
        self.slots.get(i)?.scribe()
    }

    /// Node `i`'s place in `group`'s tree, if it is alive and on it.
    pub fn tree(&self, i: usize, group: Id) -> Option<&Group<SIM_CHILDREN>> {
        self.scribe(i)?.group(group)
    }

    /// Live nodes' Scribe counters, summed.
    pub fn scribe_stats(&self) -> ScribeStats {
        let mut sum = ScribeStats::default();
        for s in self.slots.iter().filter_map(Slot::scribe) {
            sum += *s.stats();
        }
        sum
    }

    /// The run's figures (call after the last publication's window).
    pub fn multicast_figures(&mut self) -> Figures {
        let now = self.now;
        let m = &self.multicast;
        let mut f = Figures::default();
        let mut penalties = Vec::new();
        let mut stress_sum = 0.0;
        let mut stress_n = 0usize;
        let mut order: Vec<&u64> = m.publications.keys().collect();
        order.sort();
        for id in order {
            let p = &m.publications[id];
            if p.at + PUBLISH_WINDOW > now {
                continue;
            }
            let alive_through = |n: u32| {
                m.departed
                    .get(&n)
                    .is_none_or(|&d| d > p.at + PUBLISH_WINDOW)
            };
            // Members then: still members (or left by departing after
            // the window), subscribed early enough.
            let expected: Vec<u32> = m.members[p.group as usize]
                .iter()
                .filter(|&(_, &at)| at + SUBSCRIBE_GRACE <= p.at)
                .map(|(&n, _)| n)
                .filter(|&n| alive_through(n))
                .collect();
            f.expected += expected.len() as u64;
            f.delivered += expected.iter().filter(|n| p.delivered.contains(n)).count() as u64;
            f.duplicates += u64::from(p.duplicates);
            if p.max_direct > 0 {
                penalties.push(p.max_tree as f64 / p.max_direct as f64);
            }
            if !p.sent.is_empty() {
                let total: u32 = p.sent.values().sum();
                stress_sum += f64::from(total) / p.sent.len() as f64;
                stress_n += 1;
                f.node_stress_max = f.node_stress_max.max(*p.sent.values().max().unwrap_or(&0));
            }
        }
        f.delivery_ratio = if f.expected == 0 {
            1.0
        } else {
            f.delivered as f64 / f.expected as f64
        };
        penalties.sort_by(f64::total_cmp);
        if !penalties.is_empty() {
            f.delay_penalty_mean = penalties.iter().sum::<f64>() / penalties.len() as f64;
            let k = ((penalties.len() as f64 * 0.99).ceil() as usize).clamp(1, penalties.len());
            f.delay_penalty_p99 = penalties[k - 1];
        }
        f.node_stress_mean = if stress_n == 0 {
            0.0
        } else {
            stress_sum / stress_n as f64
        };
        for &(before, msgs) in m.join_cost.values() {
            let b = &mut f.subscribe_by_size[size_bucket(before)];
            *b = (b.0 + 1, b.1 + u64::from(msgs));
        }
        for &(members, msgs) in m.anycast_cost.values() {
            let b = &mut f.anycast_by_size[size_bucket(members)];
            *b = (b.0 + 1, b.1 + u64::from(msgs));
        }
        f.heal = self.heal_times();
        let trees: Vec<usize> = (self.slots.iter())
            .filter_map(Slot::scribe)
            .map(|s| s.groups().len())
            .collect();
        f.trees_max = trees.iter().copied().max().unwrap_or(0);
        f.trees_mean = trees.iter().sum::<usize>() as f64 / trees.len().max(1) as f64;
        let abandoned = self.multicast.anycasts.len() as u64;
        self.multicast.tally.anycasts_abandoned = abandoned;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_sizes_fall_in_the_bucket_their_label_names() {
        for members in 0..5_000u32 {
            let b = size_bucket(members);
            let label = size_label(b);
            let (lo, hi) = match label.split_once('-') {
                Some((lo, hi)) => (lo.parse().unwrap(), hi.parse().unwrap()),
                None if label.ends_with('+') => {
                    (label.trim_end_matches('+').parse().unwrap(), u32::MAX)
                }
                None => (label.parse().unwrap(), label.parse().unwrap()),
            };
            assert!((lo..=hi).contains(&members), "{members} in {label}");
        }
        assert_eq!(size_label(0), "0");
        assert_eq!(size_label(SIZE_BUCKETS.len() - 1), "3000+");
    }
}
