//! The routing failure test (Castro et al., OSDI 2002, §5.2): the ids
//! around any point of the ring are about as dense as those around this
//! node, so a replica set for a key that is much sparser than this node's
//! own leaf set was likely made up of colluders (an attacker holds a
//! fraction of the ids, spread at random: its nodes alone are sparse).
//! Also refused: an answer with too few distinct ids, and one whose ids
//! do not surround the key (the root's neighbours lie on both sides).

use crate::id::{Distance, Id};

/// Why an answer failed the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspicion {
    /// Fewer distinct ids than three quarters of our own leaf set's.
    TooFew,
    /// Its ids lie all on one side of the key.
    KeyOutside,
    /// Their mean gap is more than γ times our leaf set's.
    Sparse,
}

/// The test, with its threshold γ in thousandths (γ = 1.5 is 1,500).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureTest {
    /// γ × 1,000: an answer fails when its mean gap between consecutive
    /// ids exceeds γ times our own leaf set's.
    pub gamma_permille: u32,
}

/// How far a set of ids spreads around a centre: the farthest on each
/// side (top 96 bits of the distance), and how many distinct ids.
#[derive(Clone, Copy, Debug, Default)]
struct Spread {
    ccw: Option<u128>,
    cw: Option<u128>,
    count: usize,
}

impl Spread {
    fn of(centre: Id, ids: &[Id]) -> Spread {
        let mut s = Spread::default();
        for (i, &id) in ids.iter().enumerate() {
            // Repeated ids would pass for density.
            if ids[..i].contains(&id) {
                continue;
            }
            s.count += 1;
            let cw = centre.cw_distance(id);
            let (side, d) = if cw <= Distance::HALF_RING {
                (&mut s.cw, cw)
            } else {
                (&mut s.ccw, centre.ccw_distance(id))
            };
            let d = d.high_96();
            *side = Some(side.map_or(d, |m: u128| m.max(d)));
        }
        s
    }

    fn span(&self) -> u128 {
        self.ccw.unwrap_or(0) + self.cw.unwrap_or(0)
    }
}

impl FailureTest {
    /// Checks `answer`, the ids a root gave as `key`'s replica set (its
    /// leaf set and itself), against `own`'s leaf set `members`. An
    /// answer is not judged while our own leaf set is short (a ring too
    /// small to have a density).
    pub fn check(&self, own: Id, members: &[Id], key: Id, answer: &[Id]) -> Result<(), Suspicion> {
        let mine = Spread::of(own, members);
        let n_own = mine.count + 1;
        if mine.ccw.is_none() || mine.cw.is_none() || n_own < 4 {
            return Ok(());
        }
        let theirs = Spread::of(key, answer);
        if theirs.count * 4 < n_own * 3 {
            return Err(Suspicion::TooFew);
        }
        if answer.contains(&key) {
            // The key is a node's id: that node sits at the centre.
        } else if theirs.ccw.is_none() || theirs.cw.is_none() {
            return Err(Suspicion::KeyOutside);
        }
        // mean gap = span / (count − 1), compared without dividing.
        let (n_theirs, n_own) = (theirs.count.max(2) as u128 - 1, n_own as u128 - 1);
        let lhs = theirs.span().saturating_mul(n_own).saturating_mul(1_000);
        let rhs = mine
            .span()
            .saturating_mul(n_theirs)
            .saturating_mul(u128::from(self.gamma_permille));
        if lhs > rhs {
            return Err(Suspicion::Sparse);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SmallRng;
    use std::vec::Vec;

    fn id(v: u64) -> Id {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&v.to_be_bytes());
        Id::from_bytes(b)
    }

    /// The brute-force mean gap: ids as numbers (no wrap in these tests),
    /// sorted, (max − min) / (n − 1).
    fn mean_gap(ids: &[u64]) -> f64 {
        let mut v = ids.to_vec();
        v.sort_unstable();
        v.dedup();
        (v[v.len() - 1] - v[0]) as f64 / (v.len() - 1) as f64
    }

    #[test]
    fn the_verdict_is_the_brute_force_density_comparison() {
        let test = FailureTest {
            gamma_permille: 1_500,
        };
        let mut rng = SmallRng::new(52);
        for round in 0..2_000 {
            let own = 1u64 << 62;
            let gap = 1_000_000 + rng.below(1_000_000);
            let members: Vec<u64> = (1..=8)
                .flat_map(|i| {
                    [
                        own - i * gap - rng.below(gap / 2),
                        own + i * gap + rng.below(gap / 2),
                    ]
                })
                .collect();
            let key = 1u64 << 61;
            let their_gap = gap / 2 + rng.below(3 * gap);
            let answer: Vec<u64> = (0..17)
                .map(|i| key - 8 * their_gap + i * their_gap + rng.below(their_gap / 2))
                .collect();
            let mut mine = members.clone();
            mine.push(own);
            let ratio = mean_gap(&answer) / mean_gap(&mine);
            let got = test.check(
                id(own),
                &members.iter().map(|&v| id(v)).collect::<Vec<_>>(),
                id(key),
                &answer.iter().map(|&v| id(v)).collect::<Vec<_>>(),
            );
            // The top 96 bits of these distances are exact.
            let want = if ratio > 1.5 {
                Err(Suspicion::Sparse)
            } else {
                Ok(())
            };
            if (ratio - 1.5).abs() > 1e-6 {
                assert_eq!(got, want, "round {round}: ratio {ratio}");
            }
        }
    }

    #[test]
    fn short_one_sided_and_repeated_answers_fail_and_a_small_ring_is_not_judged() {
        let test = FailureTest {
            gamma_permille: 2_000,
        };
        let own = 1u64 << 62;
        let members: Vec<Id> = (1..=8u64)
            .flat_map(|i| [id(own - i * 1_000), id(own + i * 1_000)])
            .collect();
        let key = 1u64 << 61;
        let dense: Vec<Id> = (0..17u64).map(|i| id(key - 8_000 + i * 1_000)).collect();
        assert_eq!(test.check(id(own), &members, id(key), &dense), Ok(()));
        assert_eq!(
            test.check(id(own), &members, id(key), &dense[..9]),
            Err(Suspicion::TooFew)
        );
        // The same id seventeen times is one id.
        let repeated = [id(key + 10); 17];
        assert_eq!(
            test.check(id(own), &members, id(key), &repeated),
            Err(Suspicion::TooFew)
        );
        let one_side: Vec<Id> = (1..=17u64).map(|i| id(key + i * 1_000)).collect();
        assert_eq!(
            test.check(id(own), &members, id(key), &one_side),
            Err(Suspicion::KeyOutside)
        );
        // Unless the key is a node's id, at one end.
        let mut at_key = one_side.clone();
        at_key[0] = id(key);
        assert_eq!(test.check(id(own), &members, id(key), &at_key), Ok(()));
        // Colluders alone, a quarter of the nodes: four times as sparse.
        let sparse: Vec<Id> = (0..17u64).map(|i| id(key - 32_000 + i * 4_000)).collect();
        assert_eq!(
            test.check(id(own), &members, id(key), &sparse),
            Err(Suspicion::Sparse)
        );
        // A leaf set with one side empty: a tiny ring, nothing judged.
        let small: Vec<Id> = (1..=3u64).map(|i| id(own + i)).collect();
        assert_eq!(test.check(id(own), &small, id(key), &sparse[..2]), Ok(()));
    }

    #[test]
    fn sets_that_wrap_past_zero_are_measured_round_the_ring() {
        let test = FailureTest {
            gamma_permille: 1_500,
        };
        // Our leaf set straddles 00…00; so does the answer, for key 0.
        let members: Vec<Id> = (1..=8u64)
            .flat_map(|i| [id(i * 1_000), id(u64::MAX - i * 1_000 + 1)])
            .collect();
        let answer: Vec<Id> = (0..17u64)
            .map(|i| id((i * 1_000).wrapping_sub(8_000)))
            .collect();
        assert_eq!(test.check(id(0), &members, id(0), &answer), Ok(()));
    }
}
