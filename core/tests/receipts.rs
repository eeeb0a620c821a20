//! End-to-end receipts: a message whose relay acked it and then crashed
//! still arrives, once; a copy sent again after a lost receipt is not
//! delivered twice, not even by a node that joined beside its root
//! meanwhile; one lost copy of a receipt (it goes twice) costs nothing;
//! receipts nobody asked for change nothing.

mod common;

use std::time::Duration;

use common::net::Net;
use common::speaker::Speaker;
use pastry_core::wire::{
    AppId as WireApp, Body, Handover, HandoverRecord, LeafSetView, Message, ProbeReply, Receipt,
    Routed,
};
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
fn a_copy_sent_again_reaches_a_node_that_joined_beside_the_root_and_is_not_delivered_twice() {
    for seed in common::seeds(&[7, 8, 9]) {
        let (mut net, id, key, root, source) = route_losing_receipts(seed, 3, 1);
        net.run_for(Duration::from_millis(500));
        assert_eq!(net.delivered_at(id), [root], "seed {seed}: delivered");
        // A node joins closer to the key before the source sends again
        // (after 5 s): the copy goes to it, the key's new root.
        let keys = net.keypair_nearest(key);
        let joiner = net.add_with_keys(Config::default(), keys);
        net.join_through(joiner, source);
        net.run_for(Duration::from_secs(10));
        assert_eq!(net.true_root(key), joiner, "seed {seed}: the new root");
        assert!(net.nodes[joiner].is_active(), "seed {seed}: joined");
        assert_eq!(
            net.delivered_at(id),
            [root],
            "seed {seed}: the copy sent again was not delivered again"
        );
        let at_joiner = net.nodes[joiner].stats().clone();
        assert!(at_joiner.handed_over >= 1, "seed {seed}: {at_joiner:?}");
        assert!(at_joiner.drops.duplicate >= 1, "seed {seed}: answered");
        let at_source = net.nodes[source].stats().clone();
        assert_eq!(
            (at_source.resent, at_source.unconfirmed),
            (1, 0),
            "seed {seed}: sent again once, then receipted by the new root"
        );
    }
}

#[test]
fn delivery_records_in_a_reply_nobody_asked_for_stop_no_delivery() {
    for seed in common::seeds(&[10, 11]) {
        let mut net = Net::ring(32, seed);
        let key = net.random_id();
        let keys = net.keypair_nearest(key);
        let joiner = net.add_with_keys(Config::default(), keys);
        net.join_through(joiner, (joiner + 1) % 32);
        // Mallory, verified but no neighbour, hands the joiner the record
        // of the message she will send it, in a reply to no probe; then
        // hands it again once the joiner is active.
        let mut mallory = Speaker::stranger(0x44);
        let to = net.addr(joiner);
        let msg_id = 0x5eed_u64;
        let records = [HandoverRecord::new(key, mallory.me.id, msg_id)];
        let forged = Message {
            app: WireApp::OVERLAY,
            sender: mallory.me,
            body: Body::ProbeReply(ProbeReply {
                nonce: 1,
                leaf_set: LeafSetView::EMPTY,
                handover: Handover::Records(&records),
            }),
        };
        let now = net.now;
        mallory.greet(now, &mut net.nodes[joiner], to);
        let sealed = mallory.seal(now, to, &forged);
        net.nodes[joiner].handle_datagram(now, mallory.me.addr, &sealed);
        net.drain(joiner);
        // (The joiner probes Mallory, now a leaf-set candidate, and waits
        // for her answer or its timeout before it goes active.)
        net.run_for(Duration::from_secs(20));
        assert!(net.nodes[joiner].is_active(), "seed {seed}: joined");
        assert_eq!(net.true_root(key), joiner, "seed {seed}");
        let now = net.now;
        let sealed = mallory.seal(now, to, &forged);
        net.nodes[joiner].handle_datagram(now, mallory.me.addr, &sealed);
        let payload = b"mine";
        let routed = Message {
            app: WireApp(APP.0),
            sender: mallory.me,
            body: Body::Routed(Routed {
                msg_id,
                key,
                per_hop: false,
                handoff: false,
                receipt: true,
                attempt: 0,
                hops: 0,
                source: mallory.me,
                payload,
                signature: None,
            }),
        };
        let sealed = mallory.seal(now, to, &routed);
        net.nodes[joiner].handle_datagram(now, mallory.me.addr, &sealed);
        net.drain(joiner);
        net.run_for(Duration::from_secs(1));
        let stats = net.nodes[joiner].stats().clone();
        assert_eq!(stats.handed_over, 0, "seed {seed}: a record was taken");
        assert!(
            stats.drops.unsolicited >= 2,
            "seed {seed}: the replies were counted unsolicited: {stats:?}"
        );
        assert_eq!(
            net.delivered_at(msg_id),
            [joiner],
            "seed {seed}: the message was delivered"
        );
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
