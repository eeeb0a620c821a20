//! A minimal pastry node as a microcontroller would run it: no std, no
//! allocator, the embedded configuration (L = 16, 4 table rows, 4 message
//! slots, queues of 16), one datagram buffer. The radio and the clock are
//! stand-ins (`black_box` keeps the compiler from assuming anything about
//! what arrives), so the binary holds the whole protocol path a real
//! device links: join, handle datagrams and timeouts, route, transmit.
//!
//! Its section sizes are the embedded footprint in BENCHMARKS.md:
//! `cargo build --release` here, then `llvm-size -A` on
//! `target/thumbv7em-none-eabihf/release/pastry-embedded`.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::net::SocketAddr;
use core::time::Duration;

use pastry_core::identity::Keypair;
use pastry_core::{AppId, Config, EmbeddedNode, Event, Id, Instant};

/// The largest datagram the device sends or takes (IPv6 minimum MTU).
const MTU: usize = 1280;

/// The reset handler: the device's whole life.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let own = SocketAddr::from(([192, 168, 1, 20], 4000));
    let bootstrap = SocketAddr::from(([192, 168, 1, 1], 4000));
    // The device's key, as provisioned in its flash.
    let keys = Keypair::from_secret(black_box([0x42; 32]));
    let Ok(mut node) = EmbeddedNode::new(Config::default(), keys, own, black_box(1)) else {
        halt()
    };
    let mut now = Instant::from_millis(0);
    if node.join(now, Some(bootstrap)).is_err() {
        halt()
    }
    let mut frame = [0u8; MTU];
    loop {
        now += Duration::from_millis(1);
        // A datagram from the radio, if any.
        let len = black_box(0usize).min(MTU);
        if len > 0 {
            let from = black_box(bootstrap);
            node.handle_datagram(now, from, black_box(&frame[..len]));
        }
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        if black_box(false) {
            let _ = node.route(now, Id::sha1(b"sensor 7"), AppId(7), b"21.5 C", None);
        }
        while let Ok(Some(tx)) = node.poll_transmit(&mut frame) {
            black_box((tx.destination, &frame[..tx.len]));
        }
        while let Some(event) = node.poll_event() {
            if let Event::Deliver(d) = event {
                black_box(d.payload);
            }
        }
    }
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}
