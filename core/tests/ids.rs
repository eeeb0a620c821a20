//! Id arithmetic against naive oracles (digit by digit, big integers by hand).

mod common;

use core::cmp::Ordering;

use common::{for_each_case, random_id};
use pastry_core::Id;
use pastry_core::id::{DIGITS, Distance};
use pastry_core::rng::SmallRng;

fn digits(id: Id) -> Vec<u8> {
    let hex = id.to_string();
    hex.bytes()
        .map(|c| (c as char).to_digit(16).unwrap() as u8)
        .collect()
}

/// (to - from) mod 2^160 through byte arithmetic, independent of the limbs.
fn sub_bytes(to: Id, from: Id) -> [u8; 20] {
    let (a, b) = (to.to_bytes(), from.to_bytes());
    let mut out = [0u8; 20];
    let mut borrow = 0i16;
    for i in (0..20).rev() {
        let mut d = a[i] as i16 - b[i] as i16 - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn sha1_matches_the_fips_test_vector() {
    // FIPS 180-1 appendix A: SHA-1("abc").
    let want: Id = "a9993e364706816aba3e25717850c26c9cd0d89d".parse().unwrap();
    assert_eq!(Id::sha1(b"abc"), want);
}

#[test]
fn hex_display_and_parse_round_trip() {
    let mut rng = SmallRng::new(1);
    for _ in 0..1_000 {
        let id = random_id(&mut rng);
        let s = id.to_string();
        assert_eq!(s.len(), 40);
        assert_eq!(s.parse::<Id>().unwrap(), id);
        assert_eq!(s.to_uppercase().parse::<Id>().unwrap(), id);
        assert_eq!(Id::from_bytes(id.to_bytes()), id);
    }
    assert!("abc".parse::<Id>().is_err());
    assert!("g".repeat(40).parse::<Id>().is_err());
}

#[test]
fn digits_and_shared_prefix_match_the_hex_digits() {
    let mut rng = SmallRng::new(2);
    for _ in 0..5_000 {
        let a = random_id(&mut rng);
        // Often share a prefix: copy some leading bytes.
        let mut bb = random_id(&mut rng).to_bytes();
        let keep = rng.below(21) as usize;
        bb[..keep].copy_from_slice(&a.to_bytes()[..keep]);
        let b = Id::from_bytes(bb);
        let (da, db) = (digits(a), digits(b));
        for (i, d) in da.iter().enumerate() {
            assert_eq!(a.digit(i), *d);
        }
        assert_eq!(da.len(), DIGITS);
        let naive = da.iter().zip(&db).take_while(|(x, y)| x == y).count();
        assert_eq!(a.shared_prefix_len(b), naive);
        assert_eq!(b.shared_prefix_len(a), naive);
    }
    let a = Id::sha1(b"x");
    assert_eq!(a.shared_prefix_len(a), DIGITS);
}

#[test]
fn distances_match_byte_arithmetic() {
    let mut rng = SmallRng::new(3);
    for _ in 0..5_000 {
        let (a, b) = (random_id(&mut rng), random_id(&mut rng));
        assert_eq!(a.cw_distance(b).to_bytes(), sub_bytes(b, a));
        assert_eq!(a.ccw_distance(b).to_bytes(), sub_bytes(a, b));
        let ring = a.ring_distance(b);
        assert_eq!(ring, b.ring_distance(a));
        assert!(ring <= Distance::HALF_RING);
        assert_eq!(a.wrapping_add(a.cw_distance(b)), b);
        assert_eq!(a.wrapping_sub(a.ccw_distance(b)), b);
    }
    // Wrap-around: MAX is one step counter-clockwise of ZERO.
    assert_eq!(
        Id::MAX.cw_distance(Id::ZERO),
        Id::ZERO.ccw_distance(Id::MAX)
    );
    assert_eq!(Id::MAX.ring_distance(Id::ZERO).to_bytes()[19], 1);
}

#[test]
fn closeness_is_a_total_order_with_the_clockwise_tie_rule() {
    for_each_case(4, 2_000, 120, |u| {
        let Ok(raw) = u.arbitrary::<[[u8; 20]; 4]>() else {
            return;
        };
        let [key, a, b, c] = raw.map(Id::from_bytes);
        let ab = key.cmp_closeness(a, b);
        assert_eq!(ab, key.cmp_closeness(b, a).reverse(), "antisymmetric");
        assert_eq!(ab == Ordering::Equal, a == b);
        if ab == Ordering::Less && key.cmp_closeness(b, c) == Ordering::Less {
            assert_eq!(key.cmp_closeness(a, c), Ordering::Less, "transitive");
        }
        if key.ring_distance(a) < key.ring_distance(b) {
            assert_eq!(ab, Ordering::Less);
        }
    });
    // An exact tie: key halfway between two nodes; the clockwise one wins.
    let key = Id::sha1(b"k");
    let d = Id::sha1(b"d").ring_distance(Id::ZERO);
    let (cw, ccw) = (key.wrapping_add(d), key.wrapping_sub(d));
    assert_eq!(key.cmp_closeness(cw, ccw), Ordering::Less);
    assert_eq!(key.cmp_closeness(ccw, cw), Ordering::Greater);
    // The antipode, half the ring away both ways, is farther than ids a
    // little nearer on either side.
    let antipode = key.wrapping_add(Distance::HALF_RING);
    let mut less = [0u8; 20];
    less[0] = 0x7f;
    less[19] = 0xff;
    let less = Id::from_bytes(less).ring_distance(Id::ZERO);
    for other in [key.wrapping_add(less), key.wrapping_sub(less)] {
        assert_eq!(key.cmp_closeness(antipode, other), Ordering::Greater);
        assert_eq!(key.cmp_closeness(other, antipode), Ordering::Less);
    }
    assert_eq!(key.cmp_closeness(antipode, antipode), Ordering::Equal);
}

#[test]
fn boundary_splits_an_arc_by_the_tie_rule() {
    let mut rng = SmallRng::new(5);
    for _ in 0..2_000 {
        let (a, b) = (random_id(&mut rng), random_id(&mut rng));
        if a == b {
            continue;
        }
        let m = Id::boundary(a, b);
        let one = Distance::ZERO.to_bytes().map(|_| 0u8);
        let mut unit = one;
        unit[19] = 1;
        let one = Id::ZERO.cw_distance(Id::from_bytes(unit));
        // The boundary (and on to b) goes to b; the key just before it, to a.
        assert_eq!(
            m.cmp_closeness(b, a),
            Ordering::Less,
            "boundary belongs to b"
        );
        assert_eq!(
            m.wrapping_sub(one).cmp_closeness(a, b),
            Ordering::Less,
            "just before belongs to a"
        );
    }
}
