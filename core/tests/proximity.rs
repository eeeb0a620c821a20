//! Proximity (Pastry'01 §2.5, §3): with delays from positions in a plane,
//! routing-table entries are near nodes, even when every node joined
//! through the farthest node of the ring.

mod common;

use std::time::Duration;

use common::net::Net;
use pastry_core::Config;

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
