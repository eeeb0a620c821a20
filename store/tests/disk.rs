//! The disk store against the in-memory one as the oracle: the same
//! operations give the same answers, and after reopening the file holds
//! exactly what memory held.

use std::path::PathBuf;

use pastry_core::Id;
use pastry_core::dht::{MapStore, Meta, Store};
use pastry_store::DiskStore;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pastry-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every key, meta and value of `s`, in key order.
fn contents(s: &impl Store) -> Vec<(Id, Meta, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = s.first_from(Id::ZERO);
    while let Some((key, meta)) = next {
        out.push((key, meta, s.get(key).unwrap().value.to_vec()));
        next = s.next_after(key);
    }
    out
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn the_disk_store_answers_as_the_map_does_and_keeps_it_all_across_reopening() {
    for seed in 1..=3u64 {
        let dir = scratch(&format!("oracle-{seed}"));
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut oracle = MapStore::with_limits(40, 4_000);
        let mut disk = DiskStore::open_with_limits(&dir, 40, 4_000).unwrap();
        for step in 0..600 {
            // Few keys, so versions collide and the rule is exercised.
            let key = Id::sha1(&(rng.next() % 60).to_be_bytes());
            let r = rng.next();
            if r.is_multiple_of(5) {
                assert_eq!(
                    disk.remove(key),
                    oracle.remove(key),
                    "seed {seed} step {step}"
                );
                continue;
            }
            let meta = Meta {
                version: r % 4,
                content: r & 0x10 != 0,
                signed: r & 0x20 != 0,
                diverted: r & 0x40 != 0,
                // Expiries are checked in wall time by the record's tests.
                ..Meta::default()
            };
            let value = vec![(r >> 8) as u8 % 3; (r >> 16) as usize % 200];
            assert_eq!(
                disk.insert(key, meta, &value),
                oracle.insert(key, meta, &value),
                "seed {seed} step {step}"
            );
            if step % 150 == 149 {
                drop(disk);
                disk = DiskStore::open_with_limits(&dir, 40, 4_000).unwrap();
                assert_eq!(disk.dropped_at_open(), 0, "seed {seed}");
            }
            assert_eq!(disk.len(), oracle.len(), "seed {seed} step {step}");
        }
        drop(disk);
        let disk = DiskStore::open_with_limits(&dir, 40, 4_000).unwrap();
        assert!(
            oracle.len() > 10,
            "seed {seed}: the run stored too little to mean much"
        );
        assert_eq!(contents(&disk), contents(&oracle), "seed {seed}");
        assert_eq!(disk.bytes_used(), oracle.bytes_used(), "seed {seed}");
        assert_eq!(disk.write_errors(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn lowered_limits_drop_the_excess_from_the_file_at_opening() {
    let dir = scratch("limits");
    let keys: Vec<Id> = (0u32..10).map(|i| Id::sha1(&i.to_be_bytes())).collect();
    {
        let mut s = DiskStore::open(&dir).unwrap();
        for k in &keys {
            s.insert(*k, Meta::default(), b"v").unwrap();
        }
    }
    let s = DiskStore::open_with_limits(&dir, 4, usize::MAX).unwrap();
    assert_eq!((s.len(), s.dropped_at_open()), (4, 6));
    let kept = contents(&s);
    drop(s);
    // The drop was written: a roomy reopening finds the same four.
    let s = DiskStore::open(&dir).unwrap();
    assert_eq!((contents(&s), s.dropped_at_open()), (kept, 0));
    // Kept in key order: the file is a B-tree of ids.
    let mut sorted = keys.clone();
    sorted.sort();
    let first: Vec<Id> = contents(&s).iter().map(|(k, _, _)| *k).collect();
    assert_eq!(first, sorted[..4]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_an_error_not_a_panic() {
    let dir = scratch("garbage");
    std::fs::write(dir.join(pastry_store::STORE_FILE), vec![0xA5; 4096]).unwrap();
    let e = DiskStore::open(&dir).unwrap_err();
    assert!(!e.to_string().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
