//! `pastry-node run` as a service: signals, the data directory across
//! restarts (the id, every acknowledged value, the peers it knew), names
//! for bootstrap nodes, and the refusals a misconfigured node gets.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Running, client, start, temp_dir, wait_exit, wait_for};
use pastry_core::Id;
use pastry_tokio::Client;

fn path(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_string()
}

fn id_of(dir: &std::path::Path) -> String {
    let (ok, out, err) = client(&["id", "--data-dir", &path(dir)]);
    assert!(ok, "{err}");
    out.lines()
        .find_map(|l| l.strip_prefix("id"))
        .unwrap()
        .trim()
        .to_string()
}

fn signal(node: &Running, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn sigterm_leaves_gracefully_and_a_restart_rejoins_through_the_peers_it_knew() {
    let (a_dir, b_dir) = (temp_dir("svc-a"), temp_dir("svc-b"));
    let a = start(&["--data-dir", &path(&a_dir)]);
    let port = a.addr.rsplit(':').next().unwrap().to_string();
    // A name, not an address: resolved, and each address tried.
    let mut b = start(&[
        "--data-dir",
        &path(&b_dir),
        "--bootstrap",
        &format!("localhost:{port}"),
    ]);
    assert!(
        wait_for(&b, "joined the overlay"),
        "b joined through a name"
    );
    let (ok, out, err) = client(&["put", "--via", &a.addr, "kept", "across restarts"]);
    assert!(ok, "{out} {err}");

    signal(&b, "-TERM");
    let status = wait_exit(&mut b.child, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM exits 0: {status:?}"
    );
    let log: Vec<String> = b.log.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("leaving the overlay") && l.contains("SIGTERM")),
        "{log:?}"
    );
    let peers = std::fs::read_to_string(b_dir.join("peers")).expect("b wrote its peers");
    assert!(peers.contains(&a.addr), "a is among b's peers: {peers}");

    // No --bootstrap: b rejoins through the peers it knew, with its id.
    let b_id = id_of(&b_dir);
    let b2 = start(&["--data-dir", &path(&b_dir)]);
    assert!(wait_for(&b2, "joined the overlay"), "b rejoined through a");
    assert_eq!(id_of(&b_dir), b_id);
    let (ok, out, _) = client(&["get", "--via", &b2.addr, "kept"]);
    assert!(ok && out == "across restarts", "{out}");
    drop((a, b2));
    for d in [a_dir, b_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Puts stream into a node until it is killed (SIGKILL, no chance to
/// flush anything); after a restart from the same data directory, every
/// put that was acknowledged is there, under the same node id.
#[test]
fn kill_9_during_a_stream_of_puts_loses_no_acknowledged_value() {
    let dir = temp_dir("crash");
    let node = start(&["--data-dir", &path(&dir)]);
    let id = id_of(&dir);
    let addr: std::net::SocketAddr = node.addr.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let value = |i: u32| format!("value {i}").into_bytes();
    let acked: Vec<u32> = rt.block_on(async {
        let (c, _) = Client::connect(addr).await.unwrap();
        let mut acked = Vec::new();
        let mut node = Some(node);
        for i in 0u32.. {
            let key = Id::sha1(&i.to_be_bytes());
            let put = tokio::time::timeout(Duration::from_secs(3), c.put(key, 1, value(i)));
            match put.await {
                Ok(Ok(_)) => acked.push(i),
                // The node is gone: the stream ends.
                _ if node.is_none() => break,
                other => panic!("put {i} failed while the node ran: {other:?}"),
            }
            if acked.len() == 200 {
                // Killed between puts or during one: which is up to timing.
                let mut n = node.take().unwrap();
                let mut killer = Command::new("kill")
                    .args(["-KILL", &n.child.id().to_string()])
                    .spawn()
                    .unwrap();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = killer.wait();
                    let _ = n.child.wait();
                });
            }
        }
        acked
    });
    assert!(acked.len() >= 200, "{} puts acknowledged", acked.len());

    let restarted = start(&["--data-dir", &path(&dir)]);
    assert_eq!(id_of(&dir), id, "the id survived the crash");
    let addr: std::net::SocketAddr = restarted.addr.parse().unwrap();
    let lost: Vec<u32> = rt.block_on(async {
        let (c, _) = Client::connect(addr).await.unwrap();
        let mut lost = Vec::new();
        for &i in &acked {
            let got = c.get(Id::sha1(&i.to_be_bytes())).await.unwrap();
            if got.is_none_or(|v| v.bytes[..] != value(i)[..]) {
                lost.push(i);
            }
        }
        lost
    });
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    drop(restarted);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_wildcard_listen_without_an_advertised_address_is_refused() {
    let started = Instant::now();
    let (ok, _, err) = client(&["run", "--listen", "0.0.0.0:0"]);
    assert!(!ok && err.contains("--advertise"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_client_command_against_a_silent_address_gives_up_at_its_timeout() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let (ok, _, err) = client(&["get", "--via", &addr, "--timeout", "1", "anything"]);
    let took = started.elapsed();
    assert!(!ok && err.contains("no answer"), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
