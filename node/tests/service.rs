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

/// A node killed (SIGKILL) a moment after it joined has already written
/// the peers it learnt from the join, so its restart rejoins the overlay
/// instead of starting one of its own beside it.
#[test]
fn a_node_killed_just_after_joining_rejoins_on_restart() {
    let (a_dir, b_dir) = (temp_dir("early-a"), temp_dir("early-b"));
    let a = start(&["--data-dir", &path(&a_dir)]);
    let mut b = start(&["--data-dir", &path(&b_dir), "--bootstrap", &a.addr]);
    assert!(wait_for(&b, "joined the overlay"), "b joined through a");
    // Well inside the first periodic save (ten seconds after the join).
    let peers_file = b_dir.join("peers");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !peers_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&b, "-KILL");
    let _ = wait_exit(&mut b.child, Duration::from_secs(10));
    let peers = std::fs::read_to_string(&peers_file).unwrap_or_default();
    assert!(
        peers.contains(&a.addr),
        "b wrote a as a peer on joining: {peers:?}"
    );

    let b2 = start(&["--data-dir", &path(&b_dir)]);
    assert!(wait_for(&b2, "joined the overlay"), "b rejoined through a");
    let (ok, out, err) = client(&["put", "--via", &b2.addr, "one", "overlay"]);
    assert!(ok, "{out} {err}");
    let (ok, out, _) = client(&["get", "--via", &a.addr, "one"]);
    assert!(ok && out == "overlay", "a reads what b2 stored: {out}");
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

/// A scrape of `addr` for `path`: the status line and the body.
fn scrape(addr: &str, request: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A refused request may end in a reset: no reply, not a failure.
    let _ = s.write_all(request.as_bytes());
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of the sample `name` (with its labels) in a scrape.
fn sample(body: &str, name: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_metrics_endpoint_serves_the_nodes_counters_and_refuses_the_rest() {
    let node = start(&["--metrics", "127.0.0.1:0"]);
    let addr = common::metrics_addr(&node);
    let get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let (status, before) = scrape(&addr, get);
    assert!(status.contains("200"), "{status}");
    assert_eq!(
        sample(&before, "pastry_dht_stored_total"),
        Some(0),
        "{before}"
    );
    assert_eq!(sample(&before, "pastry_active"), Some(1));
    assert!(before.trim_end().ends_with("# EOF"), "OpenMetrics ends so");

    for i in 0..3 {
        let (ok, out, err) = client(&["put", "--via", &node.addr, &format!("k{i}"), "v"]);
        assert!(ok, "{out} {err}");
    }
    let (_, after) = scrape(&addr, get);
    // A one-node overlay: every put is stored here, once.
    assert_eq!(
        sample(&after, "pastry_dht_stored_total"),
        Some(3),
        "{after}"
    );
    assert_eq!(sample(&after, "pastry_values"), Some(3));
    let routed = sample(&after, "pastry_node_sent_total{kind=\"routed\"}");
    assert!(routed.is_some(), "per-kind counters carry the kind");

    // The status an operator reads: this node, alone in its ring.
    let (ok, status, err) = client(&["status", "--metrics", &addr]);
    assert!(ok, "{err}");
    let id = status
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("id"))
        .unwrap()
        .trim();
    assert_eq!(id.len(), 40, "{status}");
    assert!(
        status.contains("in the ring     yes") && status.contains("values          3"),
        "{status}"
    );
    assert!(scrape(&addr, "GET / HTTP/1.1\r\n\r\n").0.contains("404"));
    assert!(
        scrape(&addr, "POST /metrics HTTP/1.1\r\n\r\n")
            .0
            .contains("405")
    );
    // An endless head is cut off, and the endpoint still serves.
    let (status, _) = scrape(&addr, &"X".repeat(10_000));
    assert!(
        status.is_empty(),
        "no answer to an oversized head: {status}"
    );
    assert!(scrape(&addr, get).0.contains("200"));
}

#[test]
fn a_config_file_sets_what_flags_would_and_a_wrong_key_is_named() {
    let dir = temp_dir("config");
    std::fs::create_dir_all(&dir).unwrap();
    let a = start(&[]);
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\npreset = \"lan\"\nbootstrap = [\"{}\"]\n\
             data_dir = \"{}\"\nmetrics = \"127.0.0.1:0\"\n\
             [stack.node]\nheartbeat_period = \"500ms\"\n\
             leaf_set_size = 32\nmax_datagram = 1472\n",
            a.addr,
            path(&dir.join("data"))
        ),
    )
    .unwrap();
    let b = common::start_args(&["run", "--config", &path(&file)]);
    let metrics = common::metrics_addr(&b);
    let metrics = metrics.as_str();
    assert!(
        wait_for(&b, "joined the overlay"),
        "b joined through the file's bootstrap"
    );
    // Its status lists a in its leaf set.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, status, err) = client(&["status", "--metrics", metrics]);
        assert!(ok, "{err}");
        if status.contains(&a.addr) && status.contains("leaf set        1 members") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a never in b's leaf set: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        dir.join("data").join("node.key").exists(),
        "the file's data_dir"
    );
    drop(b);

    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[stack.node]\nheartbeat = \"1s\"\n",
    )
    .unwrap();
    let (ok, _, err) = client(&["run", "--config", &path(&file)]);
    assert!(!ok && err.contains("heartbeat"), "{err}");
    // What `config` prints is a file `run` takes.
    let (ok, text, _) = client(&["config", "--lan"]);
    assert!(ok && text.contains("[stack.dht]"), "{text}");
    std::fs::write(&file, text.replace("127.0.0.1:4000", "127.0.0.1:0")).unwrap();
    let c = common::start_args(&["run", "--config", &path(&file)]);
    assert!(wait_for(&c, "joined the overlay"), "started a new overlay");
    drop((a, c));
    let _ = std::fs::remove_dir_all(dir);
}
