//! The `pastry-node` binary end to end: two nodes started as processes,
//! then the client commands against them, judged by their output.

mod common;

use std::time::Duration;

use common::{client, start, temp_dir, wait_for};

#[test]
fn two_processes_form_an_overlay_that_clients_use() {
    let a = start(&["--subscribe", "chat"]);
    let b = start(&["--bootstrap", &a.addr]);
    assert!(wait_for(&b, "joined the overlay"), "b joined through a");

    let (ok, out, err) = client(&["put", "--via", &a.addr, "greeting", "hello"]);
    assert!(ok && out.starts_with("stored"), "{out} {err}");
    let (ok, out, _) = client(&["get", "--via", &b.addr, "greeting"]);
    assert!(ok && out == "hello", "{out}");
    let (ok, out, err) = client(&["get", "--via", &b.addr, "nothing here"]);
    assert!(!ok && out.is_empty() && err.contains("not found"), "{err}");

    let (ok, out, _) = client(&["put-content", "--via", &b.addr, "text"]);
    assert!(ok, "{out}");
    let key = out.split_whitespace().next().unwrap().to_string();
    let (ok, got, _) = client(&["get", "--via", &a.addr, "--hex", "--content", &key]);
    assert!(ok && got == "text", "{got}");

    let (ok, _, err) = client(&["publish", "--via", &b.addr, "chat", "hi all"]);
    assert!(ok, "{err}");
    assert!(wait_for(&a, "hi all"), "the member logged the publication");
    let (ok, out, _) = client(&["anycast", "--via", &b.addr, "chat", "job"]);
    assert!(ok && out.contains(&a.addr), "only a is a member: {out}");
    assert!(
        wait_for(&a, "anycast taken"),
        "the taker logged the anycast"
    );

    let (ok, _, err) = client(&["get", "--via", &a.addr, "--hex", "not-hex"]);
    assert!(!ok && err.contains("40 hex digits"), "{err}");

    // Deletion needs a newer version; then nothing is found.
    let (ok, _, err) = client(&["delete", "--via", &b.addr, "greeting", "--version", "1"]);
    assert!(!ok && err.contains("version 1"), "a stale deletion: {err}");
    let (ok, out, err) = client(&["delete", "--via", &b.addr, "greeting", "--version", "2"]);
    assert!(ok && out.starts_with("deleted"), "{out} {err}");
    let (ok, _, err) = client(&["get", "--via", &a.addr, "greeting"]);
    assert!(!ok && err.contains("not found"), "{err}");
    // A value with a time to live is there, then gone.
    let (ok, out, err) = client(&["put", "--via", &a.addr, "brief", "x", "--ttl", "2s"]);
    assert!(ok && out.starts_with("stored"), "{out} {err}");
    let (ok, out, _) = client(&["get", "--via", &b.addr, "brief"]);
    assert!(ok && out == "x", "{out}");
    std::thread::sleep(Duration::from_secs(4));
    let (ok, _, err) = client(&["get", "--via", &b.addr, "brief"]);
    assert!(!ok && err.contains("not found"), "expired: {err}");
    let (ok, _, err) = client(&["put", "--via", &a.addr, "k", "v", "--ttl", "0s"]);
    assert!(!ok && err.contains("time to live"), "{err}");
}

#[test]
fn help_names_every_command() {
    let (ok, out, _) = client(&["--help"]);
    assert!(ok);
    for c in [
        "run",
        "put",
        "put-content",
        "delete",
        "get",
        "route",
        "publish",
        "subscribe",
        "anycast",
        "authority",
        "certify",
        "provider",
        "deploy",
        "peerlets",
    ] {
        assert!(out.contains(c), "--help lacks {c}: {out}");
    }
    let (ok, out, _) = client(&["run", "--help"]);
    assert!(
        ok && out.contains("--bootstrap")
            && out.contains("--listen")
            && out.contains("--authority"),
        "{out}"
    );
}

/// The certified admission mode from the command line: an authority
/// certifies two nodes, which form an overlay; a node with a key of its
/// own but no certificate is refused by both and cannot join.
#[test]
fn certified_nodes_admit_each_other_and_refuse_an_uncertified_one() {
    let (authority, a_dir, b_dir, c_dir) = (
        temp_dir("authority"),
        temp_dir("a"),
        temp_dir("b"),
        temp_dir("c"),
    );
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, key, err) = client(&["authority", "--dir", &path(&authority)]);
    assert!(ok && key.len() == 64, "{key} {err}");
    let (ok, again, _) = client(&["authority", "--dir", &path(&authority)]);
    assert!(ok && again == key, "the authority's key is kept");
    for dir in [&a_dir, &b_dir] {
        let (ok, out, err) = client(&["certify", "--dir", &path(&authority), "--node", &path(dir)]);
        assert!(ok && out.starts_with("certified"), "{out} {err}");
        let (ok, out, _) = client(&["id", "--data-dir", &path(dir)]);
        assert!(ok && out.contains("certificate expires"), "{out}");
    }
    // A certificate for a key given in hex, to copy to a node elsewhere.
    let (_, c_id, _) = client(&["id", "--data-dir", &path(&c_dir)]);
    let c_key = c_id
        .lines()
        .find_map(|l| l.strip_prefix("public key"))
        .unwrap()
        .trim()
        .to_string();
    let (ok, cert, err) = client(&["certify", "--dir", &path(&authority), "--key", &c_key]);
    assert!(ok && cert.len() == 208, "{cert} {err}");

    let a = start(&["--data-dir", &path(&a_dir), "--authority", &key]);
    let b = start(&[
        "--data-dir",
        &path(&b_dir),
        "--authority",
        &key,
        "--bootstrap",
        &a.addr,
    ]);
    assert!(wait_for(&b, "joined the overlay"), "b joined through a");
    let (ok, out, err) = client(&["put", "--via", &b.addr, "greeting", "hello"]);
    assert!(ok && out.starts_with("stored"), "{out} {err}");
    let (ok, out, _) = client(&["get", "--via", &a.addr, "greeting"]);
    assert!(ok && out == "hello", "{out}");

    // C has a key but no certificate, and runs open: the certified nodes
    // refuse it, so it cannot join (it keeps trying; its first attempt
    // failing is the proof).
    let c = start(&["--data-dir", &path(&c_dir), "--bootstrap", &a.addr]);
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !log.iter().any(|l: &String| l.contains("could not join")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match c.log.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("no failed join logged: {log:?}"),
        }
    }
    assert!(
        !log.iter().any(|l| l.contains("joined the overlay")),
        "an uncertified node joined: {log:?}"
    );
    drop(c);
    // Told to admit only certified peers, C refuses to start: it is not one.
    let (ok, _, err) = client(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &path(&c_dir),
        "--authority",
        &key,
    ]);
    assert!(!ok && err.contains("not admitted"), "{err}");
    for dir in [authority, a_dir, b_dir, c_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_provider_deploys_a_peerlet_that_a_trusting_node_lists_its_provider_for() {
    let provider = temp_dir("provider");
    let (ok, key, err) = client(&["provider", "--dir", provider.to_str().unwrap()]);
    assert!(ok && key.len() == 64, "{key} {err}");
    // The same key the second time: it is kept.
    let (_, again, _) = client(&["provider", "--dir", provider.to_str().unwrap()]);
    assert_eq!(again, key);
    let a = start(&["--trust-provider", &key, "--metrics", "127.0.0.1:0"]);
    let metrics = common::metrics_addr(&a);
    let b = start(&["--bootstrap", &a.addr]);
    assert!(wait_for(&b, "joined the overlay"), "b joined through a");

    let module = provider.join("echo.wasm");
    let code = wat::parse_str(
        r#"(module
            (import "pastry" "reply" (func $reply (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "pastry_buffer") (result i32) (i32.const 1024))
            (func (export "pastry_deliver") (param $len i32)
                (drop (call $reply (i32.const 1064) (i32.sub (local.get $len) (i32.const 40))))))"#,
    )
    .unwrap();
    std::fs::write(&module, &code).unwrap();
    let m = module.to_str().unwrap();
    let p = provider.to_str().unwrap();
    let (ok, out, err) = client(&[
        "deploy",
        "--via",
        &b.addr,
        "--app",
        "0xa020",
        "--end-node",
        m,
        "--key",
        p,
    ]);
    assert!(ok, "{out} {err}");
    let locator = out.split_whitespace().next().unwrap().to_string();
    assert!(
        out.contains("end-node") && out.contains(&format!("{} bytes", code.len())),
        "{out}"
    );
    // The manifest is in the DHT under the printed key, as a content value.
    let (ok, _, err) = client(&["get", "--via", &a.addr, "--hex", "--content", &locator]);
    assert!(ok, "{err}");
    // Bad ids and a missing kind are refused before anything is stored.
    let (ok, _, err) = client(&[
        "deploy",
        "--via",
        &b.addr,
        "--app",
        "0x5041",
        "--end-node",
        m,
        "--key",
        p,
    ]);
    assert!(!ok && err.contains("0xa000"), "{err}");
    let (ok, _, err) = client(&["deploy", "--via", &b.addr, "--app", "0xa020", m, "--key", p]);
    assert!(!ok && err.contains("--end-node"), "{err}");

    let (ok, listing, err) = client(&["peerlets", "--metrics", &metrics]);
    assert!(ok, "{err}");
    assert!(listing.contains("trusted providers  1"), "{listing}");
    assert!(listing.contains("installed          0"), "{listing}");
}
