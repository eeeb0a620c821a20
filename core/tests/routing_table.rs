//! Routing-table invariants: every entry in its slot, and each slot holding
//! the lowest-RTT candidate ever offered for it (brute-force oracle).

mod common;

use std::collections::HashMap;

use arbitrary::Unstructured;
use common::{addr, arb_id, for_each_case, random_id};
use pastry_core::rng::SmallRng;
use pastry_core::routing_table::Considered;
use pastry_core::{Id, Peer, RoutingTable, Rtt};

fn check_slots<const R: usize>(t: &RoutingTable<R>) {
    let own = t.own_id();
    let mut n = 0;
    for (row, col, e) in t.entries() {
        assert_eq!(
            own.shared_prefix_len(e.peer.id),
            row,
            "entry in the wrong row"
        );
        assert_eq!(
            usize::from(e.peer.id.digit(row)),
            col,
            "entry in the wrong column"
        );
        assert!(row < R);
        assert_ne!(e.peer.id, own);
        n += 1;
    }
    assert_eq!(n, t.len());
}

#[test]
fn each_slot_keeps_the_nearest_candidate_and_the_next_as_its_spare() {
    for_each_case(20, 800, 2_000, |u: &mut Unstructured<'_>| {
        let Ok(own) = arb_id(u, &[]) else { return };
        // Candidates that share prefixes with `own`, so rows beyond 0 fill.
        let mut t: RoutingTable<4> = RoutingTable::new(own);
        // The oracle: every candidate offered for each slot, in order.
        let mut offered: HashMap<(usize, usize), Vec<(Rtt, Id)>> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        // `arbitrary` yields zeros once input runs out, so stop at the end.
        while !u.is_empty() {
            let Ok((mut bytes, share, rtt_raw)) = u.arbitrary::<([u8; 20], u8, u16)>() else {
                break;
            };
            let share = (share % 4) as usize;
            bytes[..share].copy_from_slice(&own.to_bytes()[..share]);
            let id = Id::from_bytes(bytes);
            // Each node offered once here (re-offers have a test of their own).
            if !seen.insert(id) {
                continue;
            }
            let rtt = if rtt_raw.is_multiple_of(7) {
                Rtt::UNKNOWN
            } else {
                Rtt::from_micros(u32::from(rtt_raw))
            };
            let res = t.consider(Peer::new(id, addr(rtt_raw)), rtt);
            match t.slot(id) {
                None => assert_eq!(res, Considered::NoSlot),
                Some(slot) => {
                    let all = offered.entry(slot).or_default();
                    all.push((rtt, id));
                    // Nearest first; among equals the first offered (a stable sort).
                    let mut ranked = all.clone();
                    ranked.sort_by_key(|&(r, _)| r);
                    let e = t.at(slot.0, slot.1).unwrap();
                    assert_eq!((e.rtt, e.peer.id), ranked[0], "the entry");
                    let spare = t.spare_at(slot.0, slot.1).map(|e| (e.rtt, e.peer.id));
                    assert_eq!(spare, ranked.get(1).copied(), "the spare");
                    let want = match ranked.iter().position(|&(_, i)| i == id) {
                        Some(0) if ranked.len() == 1 => Considered::Inserted,
                        Some(0) => Considered::Replaced(pastry_core::Entry {
                            peer: Peer::new(ranked[1].1, t.get(ranked[1].1).unwrap().peer.addr),
                            rtt: ranked[1].0,
                        }),
                        Some(1) => Considered::Spare,
                        _ => Considered::Kept,
                    };
                    assert_eq!(res, want);
                }
            }
            check_slots(&t);
        }
        assert_eq!(t.len(), offered.len());
    });
}

/// A re-measured entry farther than its spare changes places with it; an
/// unmeasured re-offer keeps the measurement; a removed entry's spare
/// takes its place; a new address reaches entry and spare alike.
#[test]
fn spares_follow_measurements_and_take_over_removed_entries() {
    let own = Id::ZERO;
    let mut t: RoutingTable = RoutingTable::new(own);
    let in_slot = |name: &[u8]| {
        let mut b = Id::sha1(name).to_bytes();
        b[0] = 0x50 | (b[0] & 0x0f); // row 0, column 5
        Peer::new(Id::from_bytes(b), addr(u16::from(name[0])))
    };
    let (a, b, c) = (in_slot(b"a"), in_slot(b"b"), in_slot(b"c"));
    let us = Rtt::from_micros;
    assert_eq!(t.consider(a, us(100)), Considered::Inserted);
    assert_eq!(t.consider(b, us(200)), Considered::Spare);
    assert_eq!(t.consider(c, us(300)), Considered::Kept);
    assert_eq!(t.consider(b, Rtt::UNKNOWN), Considered::Spare, "refreshed");
    assert_eq!(t.spare(b.id).unwrap().rtt, us(200), "measurement kept");
    // `a` measured again, farther than `b`: they change places.
    assert_eq!(t.consider(a, us(250)), Considered::Refreshed);
    assert_eq!(t.at(0, 5).unwrap().peer, b);
    assert_eq!(t.spare_at(0, 5).unwrap().peer, a);
    assert!(t.set_rtt(a.id, us(50)));
    assert_eq!(t.at(0, 5).unwrap().peer, a, "set_rtt orders them too");
    // A new address, for the spare.
    let moved = Peer::new(b.id, addr(999));
    t.readdress(moved);
    assert_eq!(t.spare(b.id).unwrap().peer, moved);
    assert_eq!(t.next_hop_spare(c.id).map(|e| e.peer), Some(moved));
    // The entry goes: the spare takes its place, and the slot has none.
    let n = t.len();
    assert_eq!(t.remove(a.id).map(|e| e.peer), Some(a));
    assert_eq!(t.at(0, 5).unwrap().peer, moved);
    assert_eq!(t.spare_at(0, 5), None);
    assert_eq!(t.len(), n, "still filled");
    assert_eq!(t.remove(b.id).map(|e| e.peer), Some(moved));
    assert_eq!(t.len(), n - 1);
    assert!(!t.contains(b.id));
    // A spare removed leaves the entry alone.
    t.consider(a, us(1));
    t.consider(c, us(2));
    assert_eq!(t.remove(c.id).map(|e| e.peer), Some(c));
    assert_eq!(t.at(0, 5).unwrap().peer, a);
    assert!(t.spares().next().is_none());
}

#[test]
fn remove_and_lookup() {
    let mut rng = SmallRng::new(21);
    let own = random_id(&mut rng);
    let mut t: RoutingTable = RoutingTable::new(own);
    let peers: Vec<Peer> = (0..500)
        .map(|i| Peer::new(random_id(&mut rng), addr(i)))
        .collect();
    for (i, p) in peers.iter().enumerate() {
        t.consider(*p, Rtt::from_micros(i as u32));
    }
    check_slots(&t);
    // Row 0 fills with 500 random ids; the table is consistent with `get`.
    assert_eq!(t.row(0).unwrap().iter().flatten().count(), 15);
    for p in &peers {
        let held = t.get(p.id).is_some();
        let slot = t.slot(p.id).unwrap();
        let at = |e: Option<&pastry_core::Entry>| e.is_some_and(|e| e.peer.id == p.id);
        assert_eq!(
            held,
            at(t.at(slot.0, slot.1)) || at(t.spare_at(slot.0, slot.1))
        );
    }
    // An entry without a spare leaves its slot empty.
    let victim = (t.entries())
        .find(|&(r, c, _)| t.spare_at(r, c).is_none())
        .unwrap()
        .2
        .peer;
    let n = t.len();
    assert_eq!(t.remove(victim.id).map(|e| e.peer), Some(victim));
    assert_eq!(t.remove(victim.id), None);
    assert_eq!(t.len(), n - 1);
    check_slots(&t);
    // The routing entry for a key: row = shared prefix with own, column = key's next digit.
    for _ in 0..1_000 {
        let key = random_id(&mut rng);
        let row = own.shared_prefix_len(key);
        let want = t.at(row, usize::from(key.digit(row)));
        assert_eq!(t.next_hop_entry(key), want);
    }
    assert_eq!(t.next_hop_entry(own), None);
    assert!(t.set_rtt(peers[1].id, Rtt::from_micros(3)) || !t.contains(peers[1].id));
}

#[test]
fn unknown_rtt_never_displaces_a_measurement() {
    let own = Id::ZERO;
    let mut t: RoutingTable = RoutingTable::new(own);
    let a = Peer::new(Id::sha1(b"a"), addr(1));
    let mut b_bytes = Id::sha1(b"b").to_bytes();
    b_bytes[0] = (b_bytes[0] & 0x0f) | (a.id.to_bytes()[0] & 0xf0); // same slot as `a`
    let b = Peer::new(Id::from_bytes(b_bytes), addr(2));
    assert_eq!(t.slot(a.id), t.slot(b.id));
    assert_eq!(t.consider(a, Rtt::from_micros(500)), Considered::Inserted);
    assert_eq!(t.consider(b, Rtt::UNKNOWN), Considered::Spare);
    assert_eq!(
        t.consider(b, Rtt::from_micros(500)),
        Considered::Spare,
        "ties keep the incumbent"
    );
    assert_eq!(
        t.consider(b, Rtt::from_micros(499)),
        Considered::Replaced(pastry_core::Entry {
            peer: a,
            rtt: Rtt::from_micros(500)
        })
    );
    assert_eq!(t.consider(b, Rtt::UNKNOWN), Considered::Refreshed);
    assert_eq!(
        t.get(b.id).unwrap().rtt,
        Rtt::from_micros(499),
        "measurement kept"
    );
}
