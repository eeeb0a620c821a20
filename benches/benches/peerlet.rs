//! What a peerlet costs against the same application compiled into the
//! node (issue #30, BENCHMARKS.md):
//!
//! * `deliver`: a counter per key (read the count from the store, add
//!   one, store it, answer it, log a line), as a sandboxed, metered
//!   WebAssembly `pastry_deliver` and as native Rust;
//! * `forward`: a filter on the way (drop what carries `spam`, mark the
//!   rest), as `pastry_forward` and as native Rust;
//! * `install`: compiling and instantiating the counter's module and its
//!   first delivery, what a node pays once per peerlet (fetching aside).
//!
//! `cargo bench --manifest-path benches/Cargo.toml --bench peerlet`.

use std::collections::BTreeMap;

use divan::{Bencher, black_box};
use pastry_core::{Id, Instant};
use pastry_peerlet::{Budget, Runtime, Sandbox, Send, View};

// Counts what each benchmark allocates: `install`'s bytes bound what an
// installed peerlet holds besides its linear memory.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

/// The ABI's imports and a buffer at 1024, around `body`.
fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "pastry" "reply" (func $reply (param i32 i32) (result i32)))
            (import "pastry" "store_get" (func $store_get (param i32 i32 i32 i32) (result i32)))
            (import "pastry" "store_put" (func $store_put (param i32 i32 i32 i32) (result i32)))
            (import "pastry" "log" (func $log (param i32 i32)))
            (memory (export "memory") 1)
            (func (export "pastry_buffer") (result i32) (i32.const 1024))
            {body})"#
    ))
    .expect("valid text")
}

const COUNTER: &str = r#"
    (data (i32.const 16) "counted")
    (func (export "pastry_deliver") (param $len i32) (local $n i32)
        (if (i32.ge_s (call $store_get (i32.const 1024) (i32.const 20) (i32.const 512) (i32.const 4))
                      (i32.const 0))
            (then (local.set $n (i32.load (i32.const 512)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (i32.store (i32.const 512) (local.get $n))
        (drop (call $store_put (i32.const 1024) (i32.const 20) (i32.const 512) (i32.const 4)))
        (drop (call $reply (i32.const 512) (i32.const 4)))
        (call $log (i32.const 16) (i32.const 7)))
"#;

/// Drops a payload (at 1084) holding "spam"; else appends '+' after it
/// at the buffer's start.
const FILTER: &str = r#"
    (func (export "pastry_forward") (param $len i32) (result i32) (local $n i32) (local $i i32)
        (local.set $n (i32.sub (local.get $len) (i32.const 60)))
        (block $done
            (loop $scan
                (br_if $done (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
                (if (i32.eq (i32.load (i32.add (i32.const 1084) (local.get $i))) (i32.const 0x6d617073))
                    (then (return (i32.const -1))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $scan)))
        (memory.copy (i32.const 1024) (i32.const 1084) (local.get $n))
        (i32.store8 (i32.add (i32.const 1024) (local.get $n)) (i32.const 43))
        (i32.add (local.get $n) (i32.const 1)))
"#;

const PAYLOAD: &[u8] = b"a message of about sixty bytes, as an application sends it...";

fn view() -> View {
    View {
        own: Id::sha1(b"own"),
        neighbours: (0..16u8).map(|i| Id::sha1(&[i])).collect(),
    }
}

fn installed(body: &str) -> Sandbox {
    Runtime::new()
        .instantiate(&module(body), Budget::DEFAULT, 1)
        .expect("installs")
}

mod deliver {
    use super::*;

    #[divan::bench]
    fn wasm(b: Bencher) {
        let mut p = installed(COUNTER);
        let v = view();
        let keys: Vec<Id> = (0..64u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
        let mut i = 0;
        b.bench_local(|| {
            i = (i + 1) % keys.len();
            let e = p.deliver((Instant::ZERO, &v), keys[i], Id::ZERO, black_box(PAYLOAD));
            black_box(e.expect("delivers"))
        });
    }

    /// The counter in Rust, with the effects the host would carry out
    /// (an answer and a log line) collected the same way.
    #[divan::bench]
    fn native(b: Bencher) {
        let mut store: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let keys: Vec<Id> = (0..64u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
        let mut i = 0;
        b.bench_local(|| {
            i = (i + 1) % keys.len();
            let key = keys[i].to_bytes();
            let n = store
                .get(&key[..])
                .map_or(0, |v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
                + 1;
            store.insert(key.to_vec(), n.to_le_bytes().to_vec());
            let sends = vec![Send::Reply {
                payload: n.to_le_bytes().to_vec(),
            }];
            let logs = vec![String::from("counted")];
            black_box((sends, logs, black_box(PAYLOAD)))
        });
    }
}

mod forward {
    use super::*;

    #[divan::bench]
    fn wasm(b: Bencher) {
        let mut p = installed(FILTER);
        let v = view();
        let ids = (Id::sha1(b"k"), Id::sha1(b"s"), Some(Id::sha1(b"n")));
        b.bench_local(|| {
            let r = p.forward((Instant::ZERO, &v), ids, black_box(PAYLOAD));
            black_box(r.expect("forwards"))
        });
    }

    #[divan::bench]
    fn native(b: Bencher) {
        b.bench_local(|| {
            let payload = black_box(PAYLOAD);
            if payload.windows(4).any(|w| w == b"spam") {
                return black_box(None);
            }
            let mut out = payload.to_vec();
            out.push(b'+');
            black_box(Some(out))
        });
    }
}

/// Compiling and instantiating the counter (the runtime made once).
#[divan::bench]
fn install(b: Bencher) {
    let rt = Runtime::new();
    let code = module(COUNTER);
    b.bench_local(|| {
        black_box(
            rt.instantiate(black_box(&code), Budget::DEFAULT, 1)
                .expect("installs"),
        )
    });
}
