//! End-to-end receipts: a message whose relay acked it and then crashed
//! still arrives, once; a copy sent again after a lost receipt is not
//! delivered twice; one lost copy of a receipt (it goes twice) costs
//! nothing; receipts nobody asked for change nothing.

mod common;

use std::time::Duration;

use common::net::Net;
use pastry_core::wire::{AppId as WireApp, Body, Message, Receipt};
use pastry_core::{AppId, Config, Id, Peer};

const APP: AppId = AppId(7);

/// Routes from node 0 to random keys until one message's first relay
/// (not its root) acks it and crashes; then runs `settle`. The message's
/// id and key, and its root, or `None` after 40 keys without a relay.
fn route_through_a_crashing_relay(net: &mut Net, settle: Duration) -> Option<(u64, Id, usize)> {
    for _ in 0..40 {
        let key = net.random_id();
        let root = net.true_root(key);
        if root == 0 {
            continue;
        }
        let id = net.route(0, key, APP, b"through a relay");
        net.crash_relay_of = Some(id);
        net.run_for(settle);
        net.crash_relay_of = None;
        if net.crashed_relay.take().is_some() {
            return Some((id, key, root));
        }
    }
    None
}

#[test]
fn a_message_whose_relay_acked_and_crashed_still_arrives_once() {
    let mut cases = 0;
    for seed in common::seeds(&[1, 2, 3]) {
        let mut net = Net::ring(48, seed);
        for _ in 0..3 {
            let Some((id, key, root)) =
                route_through_a_crashing_relay(&mut net, Duration::from_secs(20))
            else {
                break;
            };
            cases += 1;
            // The root as it is now: the relay may have been it for a
            // moment, never after its crash.
            let root_now = net.true_root(key);
            assert_eq!(
                net.delivered_at(id),
                [root_now],
                "seed {seed}: key {key}: delivered once at its live root (was {root})"
            );
            assert!(net.failed.is_empty(), "seed {seed}: no failure reported");
        }
        assert!(net.nodes[0].stats().resent >= 1, "seed {seed}");
    }
    assert!(cases >= 3, "only {cases} messages crossed a relay");
}

#[test]
fn without_receipts_the_same_crash_loses_the_message() {
    // The control for the test above: its harness does lose the message.
    let config = Config {
        max_resends: 0,
        ..Config::default()
    };
    let mut lost = 0;
    for seed in common::seeds(&[1, 2, 3]) {
        let mut net = Net::new(seed);
        net.form(48, &config);
        if let Some((id, ..)) = route_through_a_crashing_relay(&mut net, Duration::from_secs(20)) {
            lost += usize::from(net.delivered_at(id).is_empty());
        }
    }
    assert!(
        lost >= 2,
        "{lost} of 3 lost: the relay's crash did not bite"
    );
}

/// A ring of 32 (`seed`), and a message routed from the node `offset`
/// places after its key's root while the next `lost` receipts are lost
/// (both copies of each).
/// The net, the message's id and key, its root and its source.
fn route_losing_receipts(seed: u64, offset: usize, lost: u32) -> (Net, u64, Id, usize, usize) {
    let mut net = Net::ring(32, seed);
    let key = net.random_id();
    let root = net.true_root(key);
    let source = (root + offset) % 32;
    net.lose_receipts = 2 * lost;
    let id = net.route(source, key, APP, b"answer me");
    (net, id, key, root, source)
}

#[test]
fn a_copy_sent_again_after_a_lost_receipt_is_answered_not_delivered() {
    for seed in common::seeds(&[4, 5]) {
        let (mut net, id, _, root, source) = route_losing_receipts(seed, 1, 1);
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.lose_receipts, 0, "seed {seed}: a receipt was sent");
        assert_eq!(net.delivered_at(id), [root], "seed {seed}: delivered once");
        let stats = net.nodes[source].stats().clone();
        assert_eq!(
            (stats.resent, stats.unconfirmed),
            (1, 0),
            "seed {seed}: sent again once, then receipted"
        );
        assert!(net.nodes[root].stats().drops.duplicate >= 1, "seed {seed}");
        assert!(net.failed.is_empty(), "seed {seed}");
    }
}

#[test]
fn a_source_whose_receipts_all_fail_lets_go_without_a_false_failure() {
    let (mut net, id, _, root, source) = route_losing_receipts(6, 5, 100);
    // Each attempt waits twice as long as the one before: 5, 10, 20, 40 s
    // (within a few milliseconds of hops and acks).
    let (sent, mut seen) = (net.now, Vec::new());
    for at in [4, 6, 14, 16, 34, 36, 74, 76] {
        let until = sent + Duration::from_secs(at);
        net.run_for(until.saturating_duration_since(net.now));
        let stats = net.nodes[source].stats();
        seen.push((at, stats.resent, stats.unconfirmed));
    }
    assert_eq!(
        seen,
        [
            (4, 0, 0),
            (6, 1, 0),
            (14, 1, 0),
            (16, 2, 0),
            (34, 2, 0),
            (36, 3, 0),
            (74, 3, 0),
            (76, 3, 1)
        ],
        "(seconds, resent, let go)"
    );
    assert_eq!(net.delivered_at(id), [root]);
    assert!(
        net.failed.is_empty(),
        "delivered: a failure event would be false"
    );
}

#[test]
fn forged_receipts_end_no_wait() {
    for seed in common::seeds(&[7, 8]) {
        // The real receipt is lost, so the source waits for one.
        let (mut net, id, key, root, source) = route_losing_receipts(seed, 3, 1);
        net.run_for(Duration::from_millis(500));
        let stranger = Peer::new(Id::sha1(b"stranger"), common::addr(9_999));
        let forgeries = [
            Receipt {
                msg_id: id ^ 1,
                key,
            },
            Receipt {
                msg_id: id,
                key: Id::sha1(b"another key"),
            },
        ];
        let before = net.nodes[source].stats().drops.unsolicited;
        for body in forgeries {
            let mut buf = [0u8; 128];
            let len = Message {
                app: WireApp(APP.0),
                sender: stranger,
                body: Body::Receipt(body),
            }
            .encode(&mut buf)
            .unwrap();
            let now = net.now;
            net.nodes[source].handle_datagram(now, stranger.addr, &buf[..len]);
            net.drain(source);
        }
        assert_eq!(
            net.nodes[source].stats().drops.unsolicited - before,
            2,
            "seed {seed}: both counted and dropped"
        );
        net.run_for(Duration::from_secs(10));
        // Still waiting after the forgeries: the source sent it again.
        assert_eq!(net.nodes[source].stats().resent, 1, "seed {seed}");
        assert_eq!(net.delivered_at(id), [root], "seed {seed}");
    }
}

#[test]
fn a_receipt_whose_first_copy_is_lost_still_ends_the_wait() {
    for seed in common::seeds(&[4, 5]) {
        let mut net = Net::ring(32, seed);
        let key = net.random_id();
        let root = net.true_root(key);
        let source = (root + 3) % 32;
        net.lose_receipts = 1;
        let id = net.route(source, key, APP, b"answer me");
        net.run_for(Duration::from_secs(30));
        assert_eq!(net.lose_receipts, 0, "seed {seed}: a copy was lost");
        assert_eq!(net.delivered_at(id), [root], "seed {seed}");
        let stats = net.nodes[source].stats();
        assert_eq!(
            (stats.resent, stats.unconfirmed),
            (0, 0),
            "seed {seed}: the second copy ended the wait"
        );
        // Unlost, both copies come: the second is counted a duplicate,
        // not unsolicited.
        let before = net.nodes[source].stats().drops;
        let id = net.route(source, key, APP, b"again");
        net.run_for(Duration::from_secs(2));
        assert_eq!(net.delivered_at(id), [root], "seed {seed}");
        let drops = &net.nodes[source].stats().drops;
        assert_eq!(drops.duplicate, before.duplicate + 1, "seed {seed}");
    }
}
