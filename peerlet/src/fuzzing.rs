//! The fuzz harness for what a peerlet host reads from the network and
//! from providers, in the library so the same code runs as ordinary tests
//! (the fuzz crate's `peerlet_inputs` target calls it).

use pastry_core::{Id, Instant};

use crate::budget::Budget;
use crate::envelope::Envelope;
use crate::event::PeerletEvent;
use crate::manifest::Manifest;
use crate::sandbox::{Runtime, View};

/// The first byte picks what the rest is: an envelope, a manifest, an
/// event, or a module to install and run once under a small budget. Total:
/// no input panics, hangs or grows memory past the budget; what decodes
/// encodes back canonically.
pub fn inputs(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Some(e) = Envelope::decode(rest) {
                assert_eq!(e.encode(), rest, "an envelope re-encodes as it came");
            }
        }
        1 => {
            if let Ok(m) = Manifest::open(rest) {
                assert!(crate::manifest::APP_IDS.contains(&m.app.0));
                assert!(!m.chunks.is_empty() && m.chunks.len() <= crate::manifest::MAX_CHUNKS);
            }
        }
        2 => {
            if let Some(e) = PeerletEvent::decode(rest) {
                assert_eq!(PeerletEvent::decode(&e.encode()), Some(e));
            }
        }
        _ => {
            let budget = Budget {
                fuel_per_call: 20_000,
                memory_bytes: 4 << 16,
                ..Budget::DEFAULT
            };
            let Ok(mut p) = Runtime::new().instantiate(rest, budget, 1) else {
                return;
            };
            let view = View::default();
            let _ = p.deliver((Instant::ZERO, &view), Id::ZERO, Id::ZERO, b"fuzz");
            let _ = p.forward((Instant::ZERO, &view), (Id::ZERO, Id::ZERO, None), b"fuzz");
            assert!(p.memory_bytes() <= budget.memory_bytes as usize);
        }
    }
}
