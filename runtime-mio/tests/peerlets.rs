//! pastry-mio hosts peerlets as pastry-tokio does (#30): six nodes on one
//! loop, an echo peerlet offered to all; the key's root stops trusting its
//! provider, so the next member of the true replica set answers.

#![cfg(not(loom))]

use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use pastry_core::identity::Keypair;
use pastry_core::stack::StackConfig;
use pastry_core::{AppId, Id};
use pastry_mio::{Builder, Handle, NodeEvent, Runtime};
use pastry_peerlet::{Budget, Hops, Package, PeerletEvent, Peerlets, Policy};

/// Echoes the payload to the source (40 bytes of ids precede it).
const ECHO: &str = r#"(module
    (import "pastry" "reply" (func $reply (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "pastry_buffer") (result i32) (i32.const 1024))
    (func (export "pastry_deliver") (param $len i32)
        (drop (call $reply (i32.const 1064) (i32.sub (local.get $len) (i32.const 40))))))"#;

#[test]
fn pastry_mio_nodes_run_a_peerlet_and_fall_over_past_a_denying_root() {
    let provider = Keypair::from_secret([0x61; 32]);
    let code = wat::parse_str(ECHO).expect("valid text");
    let package = Package::new(
        &provider,
        (AppId(0xa030), false),
        (1, Budget::DEFAULT),
        &code,
        900,
    )
    .expect("a valid module");
    let rt = Runtime::start().expect("loop starts");
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut nodes: Vec<(Handle, Receiver<NodeEvent>)> = Vec::new();
    for i in 0..6u8 {
        let mut policy = Policy::default();
        policy.trusted.push(provider.public());
        let b = Builder::new(loopback)
            .config(StackConfig::lan())
            .identity(Keypair::from_secret([i + 1; 32]))
            .seed(900 + u64::from(i))
            .app(Peerlets::new(policy, u64::from(i)))
            .forwarder(Hops);
        let (h, e) = rt.spawn(b).expect("node starts");
        let via = nodes.first().map(|(f, _)| f.own().addr);
        h.join(via).expect("joined");
        let (m, c) = (package.manifest.clone(), code.clone());
        h.app(move |p: &mut Peerlets, _, _| p.offer(&m, &c))
            .unwrap()
            .expect("offered");
        nodes.push((h, e));
    }
    std::thread::sleep(Duration::from_millis(500));
    let ids: Vec<Id> = nodes.iter().map(|(h, _)| h.own().id).collect();
    let key = Id::sha1(b"echo here");
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| key.cmp_closeness(ids[a], ids[b]));
    // The root stops trusting the provider: the next closest answers.
    nodes[order[0]]
        .0
        .app(|p: &mut Peerlets, _, _| p.set_policy(Policy::default()))
        .unwrap();
    let from = order[3];
    let l = package.locator;
    let sent = nodes[from]
        .0
        .app(move |p: &mut Peerlets, node, now| p.send(now, node, (l, key), b"ping"))
        .unwrap();
    assert!(matches!(sent, Ok(Some(_))), "{sent:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    while got.is_none() && Instant::now() < deadline {
        if let Ok(NodeEvent::App(b)) = nodes[from].1.recv_timeout(Duration::from_millis(100))
            && let Some(e @ PeerletEvent::Reply { .. }) = PeerletEvent::decode(&b)
        {
            got = Some(e);
        }
    }
    assert_eq!(
        got,
        Some(PeerletEvent::Reply {
            locator: l,
            key,
            from: ids[order[1]],
            payload: b"ping".to_vec(),
        })
    );
    rt.shutdown().expect("stops");
}
