//! The guest side of pastry-peerlet's ABI (`pastry_peerlet::abi`), for
//! peerlets written in Rust and built for `wasm32-unknown-unknown`:
//! safe functions over the host's imports, the input buffer, and macros
//! that export a peerlet's entry points.
//!
//! ```ignore
//! pastry_peerlet_guest::end_node!(deliver);
//! fn deliver(m: pastry_peerlet_guest::Message<'_>) {
//!     pastry_peerlet_guest::reply(m.payload);
//! }
//! ```

#![no_std]

use core::cell::UnsafeCell;

/// Bytes of the input buffer: three ids and the largest payload a node
/// routes (the host's `abi::BUFFER_LEN`), rounded up.
pub const BUFFER_LEN: usize = 1_280;

/// `forward`'s answers (the host's `abi::FORWARD_STOP` and `FORWARD_CONTINUE`).
pub const FORWARD_STOP: i32 = -1;
/// Go on unchanged.
pub const FORWARD_CONTINUE: i32 = -2;

/// The buffer the host writes inputs into. One thread runs a module, and
/// only through the functions below, which never hold two borrows at once.
struct Buffer(UnsafeCell<[u8; BUFFER_LEN]>);

// SAFETY: a WebAssembly module has one thread; the host calls one entry
// point at a time.
unsafe impl Sync for Buffer {}

static BUFFER: Buffer = Buffer(UnsafeCell::new([0; BUFFER_LEN]));

/// The buffer's address, for the host (`pastry_buffer`).
#[unsafe(no_mangle)]
pub extern "C" fn pastry_buffer() -> i32 {
    BUFFER.0.get() as i32
}

/// The input, as the host wrote it before this call.
fn input() -> &'static [u8; BUFFER_LEN] {
    // SAFETY: see `Buffer`; nothing writes the buffer during a call until
    // a forward's answer, after the last read.
    unsafe { &*BUFFER.0.get() }
}

mod sys {
    #[link(wasm_import_module = "pastry")]
    unsafe extern "C" {
        pub fn route(key: *const u8, ptr: *const u8, len: i32) -> i32;
        pub fn reply(ptr: *const u8, len: i32) -> i32;
        pub fn store_get(k: *const u8, klen: i32, out: *mut u8, cap: i32) -> i32;
        pub fn store_put(k: *const u8, klen: i32, v: *const u8, vlen: i32) -> i32;
        pub fn store_remove(k: *const u8, klen: i32) -> i32;
        pub fn log(ptr: *const u8, len: i32);
        pub fn now_ms() -> i64;
        pub fn random() -> i64;
        pub fn set_timer(after_ms: i64);
        pub fn own_id(out: *mut u8);
    }
}

/// An id: 20 bytes.
pub type Id = [u8; 20];

/// A message as an entry point gets it.
#[derive(Debug)]
pub struct Message<'a> {
    /// The key it was routed to.
    pub key: Id,
    /// The node that sent it first.
    pub source: Id,
    /// The next hop (`None` at the end of the path; per-hop only).
    pub next: Option<Id>,
    /// Its bytes.
    pub payload: &'a [u8],
}

fn id_at(b: &[u8], at: usize) -> Id {
    let mut id = [0; 20];
    id.copy_from_slice(&b[at..at + 20]);
    id
}

/// The message in the buffer (`ids`: 2 for a delivery, 3 for a forward).
#[doc(hidden)]
pub fn message(len: i32, ids: usize) -> Message<'static> {
    let b = input();
    let len = (len.max(0) as usize).min(BUFFER_LEN);
    let next = (ids == 3).then(|| id_at(b, 40)).filter(|n| *n != [0; 20]);
    Message {
        key: id_at(b, 0),
        source: id_at(b, 20),
        next,
        payload: &b[ids * 20..len.max(ids * 20)],
    }
}

/// What a per-hop peerlet decides.
#[derive(Debug)]
pub enum Verdict {
    /// Go on unchanged.
    Continue,
    /// Go on with the first n bytes of the output buffer instead.
    Replace(usize),
    /// Drop the message here.
    Stop,
}

/// Puts a forward's answer where the host reads it: `out[..n]` at the
/// start of the buffer for a replacement.
#[doc(hidden)]
pub fn answer(v: Verdict, out: &[u8; BUFFER_LEN]) -> i32 {
    match v {
        Verdict::Continue => FORWARD_CONTINUE,
        Verdict::Stop => FORWARD_STOP,
        Verdict::Replace(n) => {
            let n = n.min(BUFFER_LEN);
            // SAFETY: `out` is the caller's own array, not the buffer; the
            // input is read no more in this call.
            unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), BUFFER.0.get().cast(), n) };
            n as i32
        }
    }
}

/// Exports `pastry_deliver`, calling `$f(Message)`.
#[macro_export]
macro_rules! end_node {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn pastry_deliver(len: i32) {
            $f($crate::message(len, 2))
        }
    };
}

/// Exports `pastry_forward`, calling `$f(Message, &mut out) -> Verdict`
/// (a replacement payload is written into `out`).
#[macro_export]
macro_rules! per_hop {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn pastry_forward(len: i32) -> i32 {
            let m = $crate::message(len, 3);
            let mut out = [0u8; $crate::BUFFER_LEN];
            let v = $f(m, &mut out);
            $crate::answer(v, &out)
        }
    };
}

/// Routes `bytes` to `key`'s root as this peerlet; `false` if refused
/// (over the send budget).
pub fn route(key: &Id, bytes: &[u8]) -> bool {
    // SAFETY: the pointers are valid for the lengths given.
    unsafe { sys::route(key.as_ptr(), bytes.as_ptr(), bytes.len() as i32) == 0 }
}

/// Answers the source of the message being handled.
pub fn reply(bytes: &[u8]) -> bool {
    // SAFETY: as above.
    unsafe { sys::reply(bytes.as_ptr(), bytes.len() as i32) == 0 }
}

/// The value under `key` in the peerlet's store, copied into `out`; its
/// full length.
pub fn store_get(key: &[u8], out: &mut [u8]) -> Option<usize> {
    // SAFETY: as above.
    let n = unsafe {
        sys::store_get(
            key.as_ptr(),
            key.len() as i32,
            out.as_mut_ptr(),
            out.len() as i32,
        )
    };
    usize::try_from(n).ok()
}

/// Stores `value` under `key`; `false` past the store budget.
pub fn store_put(key: &[u8], value: &[u8]) -> bool {
    // SAFETY: as above.
    unsafe {
        sys::store_put(
            key.as_ptr(),
            key.len() as i32,
            value.as_ptr(),
            value.len() as i32,
        ) == 0
    }
}

/// Removes `key` from the store; whether it was there.
pub fn store_remove(key: &[u8]) -> bool {
    // SAFETY: as above.
    unsafe { sys::store_remove(key.as_ptr(), key.len() as i32) == 1 }
}

/// A line for the node's operator.
pub fn log(line: &str) {
    // SAFETY: as above.
    unsafe { sys::log(line.as_ptr(), line.len() as i32) }
}

/// The node's clock, in milliseconds.
pub fn now_ms() -> i64 {
    // SAFETY: no pointers.
    unsafe { sys::now_ms() }
}

/// A number from the peerlet's seeded generator.
pub fn random() -> u64 {
    // SAFETY: no pointers.
    unsafe { sys::random() as u64 }
}

/// Calls `pastry_timer` after `ms` milliseconds.
pub fn set_timer(ms: i64) {
    // SAFETY: no pointers.
    unsafe { sys::set_timer(ms) }
}

/// This node's id.
pub fn own_id() -> Id {
    let mut id = [0; 20];
    // SAFETY: 20 writable bytes.
    unsafe { sys::own_id(id.as_mut_ptr()) };
    id
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
