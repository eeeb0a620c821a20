//! The measurements behind pastry's choice of Ed25519 crate: the code size
//! (`llvm-size -A` on the binary), the deepest stack and the instructions
//! that one signature and one verification take on a Cortex-M4F, run
//! under qemu (`cargo run --release --features dalek`, or `compact`).
//!
//! qemu's `-icount shift=0` advances virtual time one nanosecond per
//! instruction, and the MPS2 board's SysTick counts at 25 MHz, so one tick
//! is 40 instructions. Instructions are not cycles: a Cortex-M4 spends
//! somewhat more than one cycle on an average instruction (loads, taken
//! branches), so read the figures as a lower bound on the time.

#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

/// Instructions per SysTick tick (25 MHz tick, one instruction per ns).
const INSTRUCTIONS_PER_TICK: u32 = 40;
/// How deep below the caller's frame the stack is painted, in bytes.
const PAINT: usize = 48 * 1024;
const PATTERN: u32 = 0xA5A5_5A5A;
/// Repetitions per figure; the median is printed.
const RUNS: usize = 5;

/// No signature at all: the harness's own size, to subtract.
#[cfg(not(any(feature = "dalek", feature = "compact")))]
mod candidate {
    pub(crate) const NAME: &str = "baseline (no signature crate)";

    pub(crate) struct Keys([u8; 32]);

    pub(crate) fn keys(seed: &[u8; 32]) -> Keys {
        Keys(*seed)
    }

    pub(crate) fn sign(keys: &Keys, msg: &[u8]) -> [u8; 64] {
        let mut sig = [0; 64];
        sig[..32].copy_from_slice(&keys.0);
        sig[32] = msg.iter().fold(0, |a, b| a ^ b);
        sig
    }

    pub(crate) fn verify(keys: &Keys, msg: &[u8], sig: &[u8; 64]) -> bool {
        sign(keys, msg) == *sig
    }

    pub(crate) fn agree(_: &Keys) -> Option<[u8; 32]> {
        None
    }
}

#[cfg(feature = "dalek")]
mod candidate {
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

    pub(crate) const NAME: &str = "ed25519-dalek 3 (no default features)";

    pub(crate) struct Keys(SigningKey);

    pub(crate) fn keys(seed: &[u8; 32]) -> Keys {
        Keys(SigningKey::from_bytes(seed))
    }

    pub(crate) fn sign(keys: &Keys, msg: &[u8]) -> [u8; 64] {
        keys.0.sign(msg).to_bytes()
    }

    pub(crate) fn verify(keys: &Keys, msg: &[u8], sig: &[u8; 64]) -> bool {
        keys.0
            .verifying_key()
            .verify(msg, &Signature::from_bytes(sig))
            .is_ok()
    }

    /// Static Diffie-Hellman between two Ed25519 keys (through their
    /// Montgomery forms): how two neighbours agree a key for their hops.
    pub(crate) fn agree(keys: &Keys) -> Option<[u8; 32]> {
        let peer = keys.0.verifying_key().to_montgomery();
        Some(peer.mul_clamped(keys.0.to_scalar_bytes()).to_bytes())
    }
}

#[cfg(feature = "compact")]
mod candidate {
    use ed25519_compact::{KeyPair, Seed, Signature};

    pub(crate) const NAME: &str = "ed25519-compact 2 (no default features)";

    pub(crate) struct Keys(KeyPair);

    pub(crate) fn keys(seed: &[u8; 32]) -> Keys {
        Keys(KeyPair::from_seed(Seed::new(*seed)))
    }

    pub(crate) fn sign(keys: &Keys, msg: &[u8]) -> [u8; 64] {
        *keys.0.sk.sign(msg, None)
    }

    pub(crate) fn verify(keys: &Keys, msg: &[u8], sig: &[u8; 64]) -> bool {
        keys.0.pk.verify(msg, &Signature::new(*sig)).is_ok()
    }

    pub(crate) fn agree(_: &Keys) -> Option<[u8; 32]> {
        None
    }
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap_or_else(|| fail());
    let syst = &mut core.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_counter();

    // A challenge answer is about this long: a 32-byte nonce, two ids, an address.
    let msg = black_box([7u8; 96]);
    let seed = black_box([42u8; 32]);

    let mut keys_t = [0u32; RUNS];
    let mut sign_t = [0u32; RUNS];
    let mut verify_t = [0u32; RUNS];
    let mut agree_t = [0u32; RUNS];
    let mut agrees = false;
    let (mut keys_s, mut sign_s, mut verify_s, mut agree_s) = (0, 0, 0, 0);
    for run in 0..RUNS {
        paint();
        let (keys, t) = timed(syst, || candidate::keys(&seed));
        keys_t[run] = t;
        keys_s = keys_s.max(depth());
        paint();
        let (sig, t) = timed(syst, || candidate::sign(&keys, &msg));
        sign_t[run] = t;
        sign_s = sign_s.max(depth());
        paint();
        let (ok, t) = timed(syst, || candidate::verify(&keys, &msg, &sig));
        verify_t[run] = t;
        verify_s = verify_s.max(depth());
        paint();
        let (agreed, t) = timed(syst, || candidate::agree(&keys));
        agrees = agreed.is_some();
        agree_t[run] = t;
        agree_s = agree_s.max(depth());
        let mut bad = sig;
        bad[5] ^= 1;
        if !ok || candidate::verify(&keys, &msg, &bad) {
            hprintln!("verification is wrong");
            fail()
        }
    }
    hprintln!("{}", candidate::NAME);
    hprintln!("operation  instructions  stack bytes");
    hprintln!("key pair   {:>12}  {:>11}", median(&mut keys_t), keys_s);
    hprintln!("sign       {:>12}  {:>11}", median(&mut sign_t), sign_s);
    hprintln!("verify     {:>12}  {:>11}", median(&mut verify_t), verify_s);
    if agrees {
        hprintln!("agree      {:>12}  {:>11}", median(&mut agree_t), agree_s);
    }
    debug::exit(debug::EXIT_SUCCESS);
    fail()
}

/// Runs `f` and returns its result with the instructions it took.
fn timed<T>(syst: &mut SYST, f: impl FnOnce() -> T) -> (T, u32) {
    syst.clear_current();
    let start = SYST::get_current();
    let out = black_box(f());
    let end = SYST::get_current();
    // SysTick counts down from 2^24 - 1; one operation stays far below a wrap.
    (
        out,
        (start.wrapping_sub(end) & 0x00FF_FFFF) * INSTRUCTIONS_PER_TICK,
    )
}

fn median(xs: &mut [u32]) -> u32 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// Fills the stack below the current frame with a pattern.
#[inline(never)]
fn paint() {
    let sp = cortex_m::register::msp::read() as usize;
    // Leave this function's own frame alone.
    let top = (sp - 256) & !3;
    let mut p = top - PAINT;
    while p < top {
        // SAFETY: the region lies inside RAM below the live stack (memory.x
        // gives 4 MiB and the program uses a few KiB).
        unsafe { core::ptr::write_volatile(p as *mut u32, PATTERN) };
        p += 4;
    }
}

/// How many bytes below the caller's frame the last operation wrote.
#[inline(never)]
fn depth() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let top = (sp - 256) & !3;
    let mut p = top - PAINT;
    // SAFETY: the same region `paint` wrote.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PATTERN {
        p += 4;
    }
    top - p
}

fn fail() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    fail()
}
