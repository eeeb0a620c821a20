//! Replays every committed fuzz input (corpus and any crash artifacts)
//! through its harness on stable, so a fixed crash stays fixed.

use std::path::Path;

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
fn wire_decode_corpus_replays_cleanly() {
    let n = replay("wire_decode", pastry_tests::harness::wire_decode);
    assert!(
        n >= 12,
        "expected a seed for every message kind, found {n} inputs"
    );
}
