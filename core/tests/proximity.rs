//! Proximity (Pastry'01 §2.5, §3): with delays from positions in a plane,
//! routing-table entries are near nodes, even when every node joined
//! through the farthest node of the ring; and a candidate measured lately
//! is judged by that measurement, not probed again.

mod common;

use std::time::Duration;

use common::net::Net;
use common::speaker::Speaker;
use pastry_core::wire::{Body, Message, PeerList, RowReply};
use pastry_core::{AppId, Config, Peer};

/// For every filled entry in row 0 of every node: the chosen entry's
/// distance, the mean over all live candidates for that slot (what an
/// arbitrary choice gives) and the nearest candidate's.
fn row0(net: &Net) -> (f64, f64, f64) {
    let (mut chosen, mut arbitrary, mut best, mut n) = (0.0, 0.0, 0.0, 0.0);
    for i in net.live() {
        let own = net.peer(i).id;
        for (row, col, e) in net.nodes[i].routing_table().entries() {
            if row != 0 {
                continue;
            }
            let cands: Vec<f64> = net
                .live()
                .into_iter()
                .filter(|&j| j != i && net.peer(j).id.shared_prefix_len(own) == 0)
                .filter(|&j| usize::from(net.peer(j).id.digit(0)) == col)
                .map(|j| net.distance(i, j))
                .collect();
            let at = net.index_of(e.peer.id);
            chosen += net.distance(i, at);
            arbitrary += cands.iter().sum::<f64>() / cands.len() as f64;
            best += cands.iter().cloned().fold(f64::MAX, f64::min);
            n += 1.0;
        }
    }
    (chosen / n, arbitrary / n, best / n)
}

#[test]
fn a_far_bootstrap_still_yields_near_table_entries() {
    for seed in common::seeds(&[30, 31]) {
        let mut net = Net::new(seed);
        net.plane = true;
        net.join_one(Config::default());
        for _ in 1..100 {
            let i = net.add(Config::default());
            let far = net
                .live()
                .into_iter()
                .filter(|&j| j != i && net.nodes[j].is_active())
                .max_by(|&a, &b| net.distance(i, a).total_cmp(&net.distance(i, b)))
                .unwrap();
            net.join_through(i, far);
            net.run_for(Duration::from_millis(500));
        }
        net.run_for(Duration::from_secs(60));
        let (chosen, arbitrary, best) = row0(&net);
        eprintln!(
            "row 0 mean distance: chosen {chosen:.0}, arbitrary {arbitrary:.0}, nearest {best:.0}"
        );
        assert!(net.wrong_leaf_sets().is_empty(), "seed {seed}");
        assert!(
            chosen <= 0.65 * arbitrary,
            "seed {seed}: entries ({chosen:.0}) not much nearer than arbitrary ({arbitrary:.0})"
        );
        assert!(
            chosen <= 1.35 * best,
            "seed {seed}: entries ({chosen:.0}) far from the nearest possible ({best:.0})"
        );
    }
}

/// Offers `peers` to node `i` for row 0 in a row reply from `speaker`.
fn offer(net: &mut Net, speaker: &mut Speaker, i: usize, peers: &[Peer]) {
    let to = net.addr(i);
    let msg = Message {
        app: AppId::OVERLAY,
        sender: speaker.me,
        body: Body::RowReply(RowReply {
            row: 0,
            entries: PeerList::Peers(peers),
        }),
    };
    let sealed = speaker.seal(net.now, to, &msg);
    net.nodes[i].handle_datagram(net.now, speaker.me.addr, &sealed);
    net.drain(i);
}

/// Probes node `i` sent to any of `peers` so far.
fn probes_to(net: &Net, i: usize, peers: &[Peer]) -> u32 {
    peers
        .iter()
        .map(|p| {
            let j = net.index_of(p.id);
            net.probe_pairs.get(&(i, j)).copied().unwrap_or(0)
        })
        .sum()
}

#[test]
fn a_candidate_measured_lately_is_not_probed_again() {
    for seed in common::seeds(&[33, 34]) {
        let mut net = Net::new(seed);
        net.plane = true;
        net.form(60, &Config::default());
        net.run_for(Duration::from_secs(30));
        let i = net.live()[0];
        let own = net.peer(i).id;
        // For each row-0 entry, a live node outside the leaf set that could
        // take its slot but is farther: it loses when measured.
        let mut losers = Vec::new();
        for (row, col, e) in net.nodes[i].routing_table().entries() {
            let at = net.index_of(e.peer.id);
            let loser = net.live().into_iter().find(|&j| {
                let id = net.peer(j).id;
                row == 0
                    && j != i
                    && j != at
                    && id.shared_prefix_len(own) == 0
                    && usize::from(id.digit(0)) == col
                    && !net.nodes[i].leaf_set().contains(id)
                    && net.distance(i, j) > net.distance(i, at) + 1.0
            });
            losers.extend(loser.map(|j| net.peer(j)));
        }
        assert!(losers.len() >= 3, "seed {seed}: {} losers", losers.len());
        let entries: Vec<_> = net.nodes[i]
            .routing_table()
            .entries()
            .map(|(r, c, e)| (r, c, e.peer.id))
            .collect();
        let mut mallory = Speaker::stranger(0x33);
        let to = net.addr(i);
        let now = net.now;
        mallory.greet(now, &mut net.nodes[i], to);
        offer(&mut net, &mut mallory, i, &losers);
        net.run_for(Duration::from_secs(20));
        let after_first = probes_to(&net, i, &losers);
        let kept: Vec<_> = net.nodes[i]
            .routing_table()
            .entries()
            .map(|(r, c, e)| (r, c, e.peer.id))
            .collect();
        assert_eq!(
            kept, entries,
            "seed {seed}: a farther candidate took a slot"
        );
        offer(&mut net, &mut mallory, i, &losers);
        net.run_for(Duration::from_secs(20));
        assert_eq!(
            probes_to(&net, i, &losers),
            after_first,
            "seed {seed}: candidates that lost lately were probed again"
        );
    }
}
