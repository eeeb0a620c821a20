//! Property tests of the DHT's stores against a model (a sorted map with
//! the version rule written out): same answers, same contents, same key
//! order, and a refused write changes nothing. Some writes are of values
//! whose key proves them (signed), which outrank the rest.

mod common;

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use common::for_each_case;
use pastry_core::Id;
use pastry_core::dht::{FixedStore, MapStore, Meta, Store, StoreError};

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        key: u8,
        version: u8,
        len: u8,
        fill: u8,
        signed: bool,
    },
    Remove {
        key: u8,
    },
    FirstFrom {
        key: u8,
    },
}

/// Few distinct keys (so versions collide), spread over the ring.
fn key(k: u8) -> Id {
    Id::sha1(&[k % 10])
}

/// The model: unbounded map plus explicit limits.
struct Model {
    /// Key → (version, proven, bytes).
    map: BTreeMap<Id, (u64, bool, Vec<u8>)>,
    max_items: usize,
    max_bytes: usize,
}

impl Model {
    fn insert(
        &mut self,
        key: Id,
        version: u64,
        proven: bool,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let old = self.map.get(&key);
        if let Some((v, was_proven, bytes)) = old {
            if *was_proven && !proven {
                return Err(StoreError::Protected);
            }
            let outranks = proven && !*was_proven;
            if !outranks && (version < *v || (version == *v && bytes.as_slice() != value)) {
                return Err(StoreError::Stale { current: *v });
            }
        }
        let freed = old.map_or(0, |(_, _, b)| b.len());
        let items = self.map.len() + usize::from(old.is_none());
        let bytes: usize =
            self.map.values().map(|(_, _, b)| b.len()).sum::<usize>() - freed + value.len();
        if items > self.max_items || bytes > self.max_bytes {
            return Err(StoreError::Full);
        }
        self.map.insert(key, (version, proven, value.to_vec()));
        Ok(())
    }
}

/// Outcomes of inserts seen: stored, stale, full, protected (so a run
/// shows it exercised each).
type Seen = [usize; 4];

fn check<S: Store>(
    mut store: S,
    max_items: usize,
    max_bytes: usize,
    u: &mut Unstructured<'_>,
    seen_outcomes: &mut Seen,
) {
    let mut model = Model {
        map: BTreeMap::new(),
        max_items,
        max_bytes,
    };
    while let Ok(op) = Op::arbitrary(u) {
        if u.is_empty() {
            break;
        }
        match op {
            Op::Insert {
                key: k,
                version,
                len,
                fill,
                signed,
            } => {
                let value = vec![fill; usize::from(len) % 40];
                // Proven writes are rarer, so plain ones still meet each
                // other's versions.
                let signed = signed && fill % 4 == 0;
                let meta = Meta {
                    version: u64::from(version % 4),
                    signed,
                    ..Meta::default()
                };
                let got = store.insert(key(k), meta, &value);
                let want = model.insert(key(k), meta.version, signed, &value);
                assert_eq!(
                    got,
                    want,
                    "insert {k} v{} len {}",
                    meta.version,
                    value.len()
                );
                seen_outcomes[match got {
                    Ok(()) => 0,
                    Err(StoreError::Stale { .. }) => 1,
                    Err(StoreError::Full) => 2,
                    Err(StoreError::Protected) => 3,
                    Err(other) => unreachable!("{other:?}"),
                }] += 1;
            }
            Op::Remove { key: k } => {
                assert_eq!(store.remove(key(k)), model.map.remove(&key(k)).is_some());
            }
            Op::FirstFrom { key: k } => {
                let want = model
                    .map
                    .range(key(k)..)
                    .next()
                    .map(|(k, (v, ..))| (*k, *v));
                let got = store.first_from(key(k)).map(|(k, m)| (k, m.version));
                assert_eq!(got, want);
            }
        }
        // Contents, in key order, through the iteration calls.
        assert_eq!(store.len(), model.map.len());
        let mut seen = Vec::new();
        let mut cur = store.first_from(Id::ZERO);
        while let Some((k, meta)) = cur {
            let item = store.get(k).expect("iterated key is stored");
            assert_eq!(item.meta, meta);
            assert_eq!(meta.signed, model.map[&k].1, "proof kept with the value");
            seen.push((k, meta.version, item.value.to_vec()));
            cur = store.next_after(k);
        }
        let want: Vec<_> = model
            .map
            .iter()
            .map(|(k, (v, _, b))| (*k, *v, b.clone()))
            .collect();
        assert_eq!(seen, want);
    }
}

#[test]
fn fixed_store_matches_the_model() {
    let mut seen = Seen::default();
    for_each_case(1, 300, 2_000, |u| {
        check(FixedStore::<8, 120>::new(), 8, 120, u, &mut seen);
    });
    assert!(
        seen.iter().all(|&n| n > 100),
        "every outcome exercised: {seen:?}"
    );
}

#[test]
fn map_store_matches_the_model() {
    let mut seen = Seen::default();
    for_each_case(2, 300, 2_000, |u| {
        check(MapStore::new(), usize::MAX, usize::MAX, u, &mut seen)
    });
    assert_eq!(seen[2], 0, "an unbounded store is never full");
    for_each_case(3, 300, 2_000, |u| {
        check(MapStore::with_limits(6, 100), 6, 100, u, &mut seen)
    });
    assert!(
        seen.iter().all(|&n| n > 100),
        "every outcome exercised: {seen:?}"
    );
}

#[test]
fn a_full_fixed_store_still_takes_a_newer_version_that_fits() {
    let mut s = FixedStore::<2, 10>::new();
    let m = |version| Meta {
        version,
        ..Meta::default()
    };
    s.insert(key(1), m(1), b"aaaa").unwrap();
    s.insert(key(2), m(1), b"bbbbbb").unwrap();
    assert_eq!(
        s.insert(key(3), m(1), b""),
        Err(StoreError::Full),
        "no entry left"
    );
    assert_eq!(
        s.insert(key(1), m(2), b"aaaaa"),
        Err(StoreError::Full),
        "11 bytes"
    );
    s.insert(key(1), m(2), b"cccc").unwrap();
    assert_eq!(s.get(key(1)).unwrap().value, b"cccc");
    assert_eq!(s.get(key(2)).unwrap().value, b"bbbbbb");
    assert_eq!(s.bytes_used(), 10);
}
