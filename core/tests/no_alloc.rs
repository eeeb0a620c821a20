//! #3: once a node has joined, `handle_datagram`, `handle_timeout`, the
//! `poll_*` calls and `route` allocate nothing, through joins, routing
//! under loss, a crash and its repair. Counted per thread by a global
//! allocator, so the harness's other threads (and other tests running in
//! parallel under `cargo test`) do not disturb it; valid under nextest's
//! process-per-test too.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::net::Net;
use pastry_core::{AppId, Config};

struct Counting;

thread_local! {
    // `const` init: no lazy allocation inside the allocator.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter; ignore it.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: delegates to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn the_counter_sees_an_allocation() {
    let before = allocations();
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
    assert!(
        allocations() > before,
        "the counting allocator is not active"
    );
    drop(v);
}

#[test]
fn a_joined_node_allocates_nothing() {
    let seed = 11;
    let mut net = Net::new(seed);
    for _ in 0..24 {
        net.join_one(Config::default());
        net.run_for(Duration::from_millis(300));
    }
    net.run_for(Duration::from_secs(30));
    net.alloc_counter = Some(allocations);
    // Routing under loss (acks, retransmissions, reroutes, deliveries).
    net.loss = 0.05;
    for k in 0..200u32 {
        let key = net.random_id();
        net.route(k as usize % 24, key, AppId(1), &[7; 100]);
        net.run_for(Duration::from_millis(20));
    }
    // A crash: suspicion, probes, failure, announcements, repair.
    net.crash(5);
    net.run_for(Duration::from_secs(120));
    // A graceful leave and a new join, seen by the joined nodes.
    let now = net.now;
    net.nodes[9].leave(now).unwrap();
    net.drain(9);
    net.crash(9);
    net.join_one(Config::default());
    net.run_for(Duration::from_secs(60));
    assert!(
        net.delivered.len() >= 190,
        "seed {seed}: the run must have done real work"
    );
    assert_eq!(
        net.node_allocs, 0,
        "seed {seed}: node calls allocated {} times",
        net.node_allocs
    );
}
