//! Modules the tests share, in the WebAssembly text format.

#![allow(dead_code, unreachable_pub)]

/// The ABI's imports and a buffer at 1024, around `body`.
pub fn module(body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            (import "pastry" "route" (func $route (param i32 i32 i32) (result i32)))
            (import "pastry" "reply" (func $reply (param i32 i32) (result i32)))
            (import "pastry" "store_get" (func $store_get (param i32 i32 i32 i32) (result i32)))
            (import "pastry" "store_put" (func $store_put (param i32 i32 i32 i32) (result i32)))
            (import "pastry" "log" (func $log (param i32 i32)))
            (import "pastry" "own_id" (func $own_id (param i32)))
            (import "pastry" "replica_set" (func $replica_set (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "pastry_buffer") (result i32) (i32.const 1024))
            {body})"#
    );
    wat::parse_str(&text).expect("valid text")
}

/// A counter per key: the count is kept in the peerlet's store under the
/// key (the first 20 bytes of the buffer), replied to the source as 4
/// bytes, and logged.
pub const COUNTER: &str = r#"
    (data (i32.const 16) "counted")
    (func (export "pastry_deliver") (param $len i32)
        (local $n i32)
        ;; read the old count into 512 (absent: 0)
        (if (i32.ge_s (call $store_get (i32.const 1024) (i32.const 20) (i32.const 512) (i32.const 4))
                      (i32.const 0))
            (then (local.set $n (i32.load (i32.const 512)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (i32.store (i32.const 512) (local.get $n))
        (drop (call $store_put (i32.const 1024) (i32.const 20) (i32.const 512) (i32.const 4)))
        (drop (call $reply (i32.const 512) (i32.const 4)))
        (call $log (i32.const 16) (i32.const 7)))
"#;

/// Spins for ever on every delivery.
pub const SPIN: &str = r#"(func (export "pastry_deliver") (param i32) (loop (br 0)))"#;

/// Per-hop: on the way, appends the first 4 bytes of the node's id to the
/// payload (at 1084, after three ids) and goes on; at the end, replies
/// with the payload, so the origin sees every node that ran it.
pub const TRAIL: &str = r#"
    (func (export "pastry_forward") (param $len i32) (result i32)
        (local $n i32)
        (local.set $n (i32.sub (local.get $len) (i32.const 60)))
        (call $own_id (i32.const 512))
        (i32.store (i32.add (i32.const 1084) (local.get $n)) (i32.load (i32.const 512)))
        (memory.copy (i32.const 1024) (i32.const 1084) (i32.add (local.get $n) (i32.const 4)))
        (i32.add (local.get $n) (i32.const 4)))
    (func (export "pastry_deliver") (param $len i32)
        (drop (call $reply (i32.const 1064) (i32.sub (local.get $len) (i32.const 40)))))
"#;
