//! The node state machine on an in-memory network: join, keep-alive,
//! repair, reliable routing, application policy, hostile input.

mod common;

use std::time::Duration;

use common::net::Net;
use pastry_core::{AppId, Config, Phase};

const APP: AppId = AppId(7);

fn ring(n: usize, seed: u64) -> Net {
    let mut net = Net::new(seed);
    for _ in 0..n {
        net.join_one(Config::default());
        net.run_for(Duration::from_millis(300));
    }
    net.run_for(Duration::from_secs(20));
    net
}

#[test]
fn two_nodes_join_and_route() {
    let mut net = Net::new(1);
    let a = net.join_one(Config::default());
    assert_eq!(
        net.nodes[a].phase(),
        Phase::Active,
        "the first node is a ring of one"
    );
    net.run_for(Duration::from_millis(10));
    let b = net.join_one(Config::default());
    assert_eq!(net.nodes[b].phase(), Phase::Joining);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[b].phase(), Phase::Active, "seed 1");
    assert!(net.nodes[a].leaf_set().contains(net.peer(b).id));
    assert!(net.nodes[b].leaf_set().contains(net.peer(a).id));
    for k in 0..20u8 {
        let key = pastry_core::Id::sha1(&[k]);
        let from = if k % 2 == 0 { a } else { b };
        let id = net.route(from, key, APP, &[k]);
        net.run_for(Duration::from_secs(1));
        let d = net
            .delivered
            .iter()
            .find(|d| d.msg_id == id)
            .expect("delivered");
        assert_eq!(d.at, net.true_root(key));
        assert_eq!(d.payload, vec![k]);
    }
}

#[test]
fn sixty_four_nodes_joined_one_by_one_have_true_leaf_sets() {
    for seed in [2, 3] {
        let net = ring(64, seed);
        assert!(
            net.live().iter().all(|&i| net.nodes[i].is_active()),
            "seed {seed}: not all active"
        );
        let wrong = net.wrong_leaf_sets();
        assert!(
            wrong.is_empty(),
            "seed {seed}: wrong leaf sets at {wrong:?}"
        );
    }
}
