//! Replays every committed fuzz input (corpus and any crash artifacts)
//! through its harness on stable, so a fixed crash stays fixed; then feeds
//! each harness pseudo-random inputs, a small fuzz run that needs no
//! libFuzzer.

use std::path::Path;

use pastry_core::rng::SmallRng;
use pastry_tests::harness;

/// A target's name, its harness, and the seeds it must have at least.
type Target = (&'static str, fn(&[u8]), usize);

/// Every target.
const TARGETS: [Target; 7] = [
    ("wire_decode", harness::wire_decode, 12),
    ("wire_roundtrip", harness::wire_roundtrip, 12),
    ("client_decode", harness::client_decode, 8),
    ("app_payloads", harness::app_payloads, 8),
    ("node_events", harness::node_events, 4),
    ("sim_faults", harness::sim_faults, 4),
    ("peerlet_inputs", pastry_peerlet::fuzzing::inputs, 6),
];

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("replaying {}", path.display());
            harness(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_corpus_replays_cleanly() {
    for (target, harness, seeds) in TARGETS {
        let n = replay(target, harness);
        assert!(n >= seeds, "{target}: expected {seeds} seeds, found {n}");
    }
}

#[test]
fn every_fuzz_target_is_a_harness_here() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    found.sort();
    let mut known: Vec<String> = TARGETS.iter().map(|t| t.0.to_string()).collect();
    known.sort();
    assert_eq!(found, known, "fuzz targets without a replay here, or gone");
}

/// Random bytes, and mutations of the seeds (which reach deeper).
#[test]
fn harnesses_survive_random_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, harness, _) in TARGETS {
        let mut rng = SmallRng::new(7);
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(root.join(target))
            .map(|d| {
                d.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        // The simulation is the slow one: fewer runs.
        let runs = if target == "sim_faults" { 16 } else { 400 };
        for k in 0..runs {
            let mut data = match seeds.get(k % seeds.len().max(1)) {
                Some(s) if k % 2 == 0 => s.clone(),
                _ => (0..rng.below(512)).map(|_| rng.next_u64() as u8).collect(),
            };
            for _ in 0..rng.below(8) {
                if !data.is_empty() {
                    let i = rng.below(data.len() as u64) as usize;
                    data[i] = rng.next_u64() as u8;
                }
            }
            eprintln!("{target}: input {k}");
            harness(&data);
        }
    }
}
