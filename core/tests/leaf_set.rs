//! Leaf-set invariants under arbitrary operation sequences, and exactness
//! against the sorted-ring oracle for insert-only histories.

mod common;

use std::collections::BTreeSet;

use arbitrary::{Arbitrary, Unstructured};
use common::{addr, arb_id, for_each_case, random_id};
use pastry_core::rng::SmallRng;
use pastry_core::{Id, LeafSet, Peer};

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u16),
    Remove(u16),
}

/// Sorted by distance on each side, bounded, no self, no duplicates.
fn check_invariants<const H: usize>(ls: &LeafSet<H>) {
    let own = ls.own_id();
    for (side, dist) in [
        (ls.left(), Id::ccw_distance as fn(Id, Id) -> _),
        (ls.right(), Id::cw_distance as fn(Id, Id) -> _),
    ] {
        assert!(side.len() <= ls.half(), "side over L/2");
        assert!(side.iter().all(|p| p.id != own), "self in leaf set");
        assert!(
            side.windows(2)
                .all(|w| dist(own, w[0].id) < dist(own, w[1].id)),
            "side not strictly sorted (or duplicated): {side:?}"
        );
    }
    let distinct: BTreeSet<Id> = ls.members().map(|p| p.id).collect();
    assert_eq!(distinct.len(), ls.len());
}

fn true_sides(own: Id, others: &BTreeSet<Id>, half: usize) -> (Vec<Id>, Vec<Id>) {
    let mut left: Vec<Id> = others.iter().copied().collect();
    left.sort_by_key(|id| own.ccw_distance(*id));
    let mut right = left.clone();
    right.sort_by_key(|id| own.cw_distance(*id));
    left.truncate(half);
    right.truncate(half);
    (left, right)
}

#[test]
fn arbitrary_histories_keep_the_invariants_and_report_honestly() {
    for_each_case(10, 1_500, 400, |u: &mut Unstructured<'_>| {
        let Ok(own) = arb_id(u, &[]) else { return };
        let pool: Vec<Id> = (0..24).map(|i| Id::sha1(&[i])).collect();
        let half = 1 + (u.arbitrary::<u8>().unwrap_or(0) % 8) as usize;
        let mut ls: LeafSet<8> = LeafSet::with_half(own, half);
        let Ok(ops) = u.arbitrary::<Vec<Op>>() else {
            return;
        };
        for op in ops {
            match op {
                Op::Insert(i) => {
                    let id = if i.is_multiple_of(3) {
                        own
                    } else {
                        pool[i as usize % pool.len()]
                    };
                    let was = ls.contains(id);
                    let before: Vec<Id> = ls.members().map(|p| p.id).collect();
                    let ins = ls.insert(Peer::new(id, addr(i)));
                    assert_eq!(ins.added, !was && ls.contains(id));
                    assert_eq!(ins.refreshed, was);
                    if was {
                        assert_eq!(ls.get(id).unwrap().addr, addr(i), "address refreshed");
                    }
                    for e in ins.evicted() {
                        assert!(before.contains(&e.id) && !ls.contains(e.id));
                    }
                    // Whoever left the set was reported as evicted.
                    for b in before {
                        assert!(ls.contains(b) || ins.evicted().any(|e| e.id == b));
                    }
                }
                Op::Remove(i) => {
                    let id = pool[i as usize % pool.len()];
                    let was = ls.contains(id);
                    assert_eq!(ls.remove(id), was);
                    assert!(!ls.contains(id));
                }
            }
            check_invariants(&ls);
        }
    });
}

#[test]
fn inserting_everyone_gives_the_true_leaf_set() {
    let mut rng = SmallRng::new(11);
    for n in [1usize, 2, 3, 8, 9, 16, 17, 40, 300] {
        let ids: Vec<Id> = (0..n).map(|_| random_id(&mut rng)).collect();
        let own = ids[0];
        let others: BTreeSet<Id> = ids[1..].iter().copied().collect();
        let mut ls: LeafSet<8> = LeafSet::new(own);
        for (i, id) in ids.iter().enumerate() {
            ls.insert(Peer::new(*id, addr(i as u16)));
        }
        check_invariants(&ls);
        let (l, r) = true_sides(own, &others, 8);
        assert_eq!(
            ls.left().iter().map(|p| p.id).collect::<Vec<_>>(),
            l,
            "n={n}"
        );
        assert_eq!(
            ls.right().iter().map(|p| p.id).collect::<Vec<_>>(),
            r,
            "n={n}"
        );
        // Fewer than L others: the sides overlap or are short, so all are known.
        assert_eq!(ls.knows_whole_ring(), others.len() < 16, "n={n}");
    }
}

/// A small ring (the sides overlap) stays exact as members leave: each
/// side refills from the other. The fuzzer's `sim_faults` found the sides
/// stuck short of a member after one graceful leave in a ring of 12.
#[test]
fn removals_from_a_small_ring_leave_the_true_leaf_set() {
    let mut rng = SmallRng::new(12);
    for n in [3usize, 5, 9, 12, 16] {
        for _ in 0..50 {
            let ids: Vec<Id> = (0..n).map(|_| random_id(&mut rng)).collect();
            let own = ids[0];
            let mut others: BTreeSet<Id> = ids[1..].iter().copied().collect();
            let mut ls: LeafSet<8> = LeafSet::new(own);
            for (i, id) in ids.iter().enumerate() {
                ls.insert(Peer::new(*id, addr(i as u16)));
            }
            while let Some(&gone) = others.iter().nth(rng.below(others.len() as u64) as usize) {
                others.remove(&gone);
                assert!(ls.remove(gone));
                check_invariants(&ls);
                let (l, r) = true_sides(own, &others, 8);
                let ids = |side: &[Peer]| side.iter().map(|p| p.id).collect::<Vec<_>>();
                assert_eq!(ids(ls.left()), l, "n={n}, {} left", others.len());
                assert_eq!(ids(ls.right()), r, "n={n}, {} left", others.len());
            }
        }
    }
}

/// `admits` answers for each side: a member of one side that `insert`
/// would add to the other is admitted (and then probed by the node),
/// one on both sides is not.
#[test]
fn admits_agrees_with_insert_side_by_side() {
    let mut rng = SmallRng::new(13);
    for n in [3usize, 9, 17, 18, 40] {
        let ids: Vec<Id> = (0..n).map(|_| random_id(&mut rng)).collect();
        let own = ids[0];
        let mut ls: LeafSet<8> = LeafSet::new(own);
        for (i, id) in ids.iter().enumerate().skip(1) {
            ls.insert(Peer::new(*id, addr(i as u16)));
        }
        // The nearest on the left leaves, without a refill when the ring
        // is larger than the leaf set.
        let gone = ls.left()[0].id;
        ls.remove(gone);
        for (i, id) in ids
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, id)| **id != gone)
        {
            let admitted = ls.admits(*id);
            let mut copy = ls.clone();
            let sides = |l: &LeafSet<8>| {
                let on = |side: &[Peer]| side.iter().any(|p| p.id == *id);
                (on(l.left()), on(l.right()))
            };
            let before = sides(&copy);
            copy.insert(Peer::new(*id, addr(i as u16)));
            let after = sides(&copy);
            assert_eq!(admitted, before != after, "n={n}: {before:?} -> {after:?}");
        }
        assert!(!ls.admits(own));
    }
}

#[test]
fn closest_and_covers_agree_with_brute_force() {
    let mut rng = SmallRng::new(12);
    for n in [1usize, 2, 5, 17, 200] {
        let ids: Vec<Id> = (0..n).map(|_| random_id(&mut rng)).collect();
        let own = ids[0];
        let mut ls: LeafSet<8> = LeafSet::new(own);
        for (i, id) in ids.iter().enumerate() {
            ls.insert(Peer::new(*id, addr(i as u16)));
        }
        let members: Vec<Id> = ls.members().map(|p| p.id).chain([own]).collect();
        for _ in 0..2_000 {
            let key = random_id(&mut rng);
            let best = members
                .iter()
                .copied()
                .min_by(|a, b| key.cmp_closeness(*a, *b))
                .unwrap();
            let got = ls.closest(key, |_| false).map_or(own, |p| p.id);
            assert_eq!(got, best);
            // Excluding the best yields the best of the rest.
            let rest = members
                .iter()
                .copied()
                .filter(|id| *id != best || *id == own)
                .min_by(|a, b| key.cmp_closeness(*a, *b))
                .unwrap();
            assert_eq!(
                ls.closest(key, |p| p.id == best).map_or(own, |p| p.id),
                rest
            );
            if ls.covers(key) && !ls.knows_whole_ring() {
                // Inside the range, the leaf set's closest is the global closest.
                let global = ids
                    .iter()
                    .copied()
                    .min_by(|a, b| key.cmp_closeness(*a, *b))
                    .unwrap();
                assert_eq!(got, global);
            }
        }
        if ls.knows_whole_ring() {
            assert!(ls.covers(random_id(&mut rng)));
        }
    }
}

/// Keys near the members, many members excluded at once, and rings whose
/// ids crowd one arc (sides that overlap yet span little of the ring):
/// `closest` against a scan of every member.
#[test]
fn closest_with_exclusions_agrees_with_brute_force() {
    let mut rng = SmallRng::new(14);
    for (n, crowded) in [(10usize, true), (17, true), (40, false), (500, false)] {
        for _ in 0..20 {
            let ids: Vec<Id> = (0..n)
                .map(|_| {
                    let mut b = random_id(&mut rng).to_bytes();
                    if crowded {
                        // All within 1/256 of the ring.
                        b[0] = 0x42;
                    }
                    Id::from_bytes(b)
                })
                .collect();
            let own = ids[0];
            let mut ls: LeafSet<8> = LeafSet::new(own);
            for (i, id) in ids.iter().enumerate() {
                ls.insert(Peer::new(*id, addr(i as u16)));
            }
            let members: Vec<Id> = ls.members().map(|p| p.id).collect();
            for _ in 0..200 {
                // A key just beside a member or the node, either way.
                let near = if rng.below(4) == 0 {
                    own
                } else {
                    members[rng.below(members.len() as u64) as usize]
                };
                let step = Id::from_bytes({
                    let mut b = [0u8; 20];
                    b[2 + rng.below(18) as usize] = rng.next_u64() as u8;
                    b
                })
                .ring_distance(Id::ZERO);
                let key = if rng.below(2) == 0 {
                    near.wrapping_add(step)
                } else {
                    near.wrapping_sub(step)
                };
                let excluded: BTreeSet<Id> = members
                    .iter()
                    .copied()
                    .filter(|_| rng.below(10) < 3)
                    .collect();
                let want = members
                    .iter()
                    .copied()
                    .filter(|id| !excluded.contains(id))
                    .chain([own])
                    .min_by(|a, b| key.cmp_closeness(*a, *b))
                    .unwrap();
                let got = ls
                    .closest(key, |p| excluded.contains(&p.id))
                    .map_or(own, |p| p.id);
                assert_eq!(got, want, "n={n} key={key:?}");
            }
        }
    }
}

#[test]
fn farthest_members_are_the_ends_of_each_side() {
    let mut rng = SmallRng::new(13);
    let own = random_id(&mut rng);
    let mut ls: LeafSet<4> = LeafSet::new(own);
    assert!(ls.farthest_left().is_none() && ls.farthest_right().is_none());
    assert!(
        ls.covers(random_id(&mut rng)),
        "an empty leaf set knows the whole (one-node) ring"
    );
    for i in 0..50 {
        ls.insert(Peer::new(random_id(&mut rng), addr(i)));
    }
    let fl = ls.farthest_left().unwrap().id;
    let fr = ls.farthest_right().unwrap().id;
    assert!(
        ls.left()
            .iter()
            .all(|p| own.ccw_distance(p.id) <= own.ccw_distance(fl))
    );
    assert!(
        ls.right()
            .iter()
            .all(|p| own.cw_distance(p.id) <= own.cw_distance(fr))
    );
}
