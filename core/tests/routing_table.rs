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
fn each_slot_keeps_the_nearest_candidate() {
    for_each_case(20, 800, 2_000, |u: &mut Unstructured<'_>| {
        let Ok(own) = arb_id(u, &[]) else { return };
        // Candidates that share prefixes with `own`, so rows beyond 0 fill.
        let mut t: RoutingTable<4> = RoutingTable::new(own);
        let mut best: HashMap<(usize, usize), (Rtt, Id)> = HashMap::new();
        // `arbitrary` yields zeros once input runs out, so stop at the end.
        while !u.is_empty() {
            let Ok((mut bytes, share, rtt_raw)) = u.arbitrary::<([u8; 20], u8, u16)>() else {
                break;
            };
            let share = (share % 4) as usize;
            bytes[..share].copy_from_slice(&own.to_bytes()[..share]);
            let id = Id::from_bytes(bytes);
            let rtt = if rtt_raw.is_multiple_of(7) {
                Rtt::UNKNOWN
            } else {
                Rtt::from_micros(u32::from(rtt_raw))
            };
            let res = t.consider(Peer::new(id, addr(rtt_raw)), rtt);
            match t.slot(id) {
                None => assert_eq!(res, Considered::NoSlot),
                Some(slot) => {
                    // The oracle: first-come among equals, strictly lower RTT
                    // replaces, the same node refreshes (keeping a measurement).
                    let want = match best.get(&slot) {
                        None => (rtt, id),
                        Some(&(r, i)) if i == id => (if rtt.is_known() { rtt } else { r }, id),
                        Some(&(r, _)) if rtt < r => (rtt, id),
                        Some(&cur) => cur,
                    };
                    best.insert(slot, want);
                    let e = t.at(slot.0, slot.1).unwrap();
                    assert_eq!((e.rtt, e.peer.id), want);
                }
            }
            check_slots(&t);
        }
        assert_eq!(t.len(), best.len());
    });
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
        assert_eq!(
            held,
            t.at(slot.0, slot.1).is_some_and(|e| e.peer.id == p.id)
        );
    }
    let victim = t.entries().next().unwrap().2.peer;
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
    assert_eq!(t.consider(b, Rtt::UNKNOWN), Considered::Kept);
    assert_eq!(
        t.consider(b, Rtt::from_micros(500)),
        Considered::Kept,
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
