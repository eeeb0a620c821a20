//! Faulty nodes inside the overlay (#29; Castro et al., OSDI 2002, §2): a
//! fraction of the nodes, drawn by the seed, are one colluding adversary.
//! They hold ids like everyone's (the seed draws their keys as it draws
//! every node's: certified or self-certifying ids cannot be placed) and
//! follow the protocol except for the attacks the run turns on:
//!
//! - `drop`: swallow routed messages they relay (after acking them);
//! - `misroute`: send them to the colluder nearest the key instead, which
//!   delivers them as if it were the root;
//! - `fake-root`: claim to be the root of every key they see, and answer
//!   DHT gets with a value of their own;
//! - `eclipse`: offer only colluders in routing-table rows, leaf-set
//!   exchanges and join replies.
//!
//! With several routing attacks on, each faulty node picks one per key.
//! The judge knows every node's role: lookups and DHT operations start at
//! correct nodes, and a lookup reached its root only if a correct live
//! node nearest the key delivered it. New nodes join through a correct
//! node: OSDI'02's model, in which a joiner trusts its bootstrap (one
//! that does not can do nothing against a faulty one).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use pastry_core::node::{Adversary, Conduct};
use pastry_core::rng::SmallRng;
use pastry_core::routing::NextHop;
use pastry_core::wire::AppId;
use pastry_core::{Id, Peer};

use super::Sim;

/// The attacks faulty nodes make.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attacks {
    /// Swallow routed messages.
    pub drop: bool,
    /// Forward them to a colluder, which delivers them.
    pub misroute: bool,
    /// Claim every key and answer gets falsely.
    pub fake_root: bool,
    /// Offer only colluders.
    pub eclipse: bool,
}

impl Attacks {
    /// Every attack at once.
    pub const ALL: Attacks = Attacks {
        drop: true,
        misroute: true,
        fake_root: true,
        eclipse: true,
    };

    /// The names the CLI takes, in order.
    pub const NAMES: [&'static str; 4] = ["drop", "misroute", "fake-root", "eclipse"];

    /// Parses a comma-separated list of [`Attacks::NAMES`], or `all`.
    pub fn parse(list: &str) -> Result<Attacks, String> {
        let mut a = Attacks::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => a = Attacks::ALL,
                "drop" => a.drop = true,
                "misroute" => a.misroute = true,
                "fake-root" => a.fake_root = true,
                "eclipse" => a.eclipse = true,
                _ => {
                    return Err(format!(
                        "unknown attack {name:?}: one of {} or all",
                        Attacks::NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(a)
    }

    /// The names of the attacks on.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [self.drop, self.misroute, self.fake_root, self.eclipse];
        Attacks::NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// The adversary: which attacks, and every active faulty node by id.
#[derive(Debug)]
pub struct Colluders {
    attacks: Attacks,
    active: RwLock<BTreeMap<Id, Peer>>,
}

impl Colluders {
    fn new(attacks: Attacks) -> Colluders {
        Colluders {
            attacks,
            active: RwLock::new(BTreeMap::new()),
        }
    }

    fn insert(&self, p: Peer) {
        self.active.write().expect("not poisoned").insert(p.id, p);
    }

    fn remove(&self, id: Id) {
        self.active.write().expect("not poisoned").remove(&id);
    }

    /// The active colluder numerically closest to `key`.
    fn nearest(&self, key: Id) -> Option<Peer> {
        let map = self.active.read().expect("not poisoned");
        let after = map
            .range(key..)
            .next()
            .or_else(|| map.iter().next())
            .map(|(_, p)| *p);
        let before = map
            .range(..key)
            .next_back()
            .or_else(|| map.iter().next_back())
            .map(|(_, p)| *p);
        match (after, before) {
            (Some(a), Some(b)) if key.cmp_closeness(b.id, a.id).is_lt() => Some(b),
            (a, b) => a.or(b),
        }
    }
}

/// Mixes two ids into a number, for choices that must be the same each
/// time the same node sees the same key.
fn mix(a: Id, b: Id) -> u64 {
    let (a, b) = (a.to_bytes(), b.to_bytes());
    let word = |x: &[u8; 20]| u64::from_be_bytes(x[12..20].try_into().expect("8 bytes"));
    (word(&a) ^ word(&b).rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Adversary for Colluders {
    fn on_route(&self, me: Peer, key: Id, _app: AppId, _honest: NextHop) -> Conduct {
        let a = self.attacks;
        let mut kinds: [Option<Conduct>; 3] = [None; 3];
        let mut n = 0;
        for (on, c) in [
            (a.drop, Conduct::Drop),
            (a.misroute, Conduct::Forward(me)),
            (a.fake_root, Conduct::Deliver),
        ] {
            if on {
                kinds[n] = Some(c);
                n += 1;
            }
        }
        if n == 0 {
            return Conduct::Honest;
        }
        match kinds[(mix(me.id, key) % n as u64) as usize] {
            Some(Conduct::Forward(_)) => match self.nearest(key) {
                Some(p) if p.id != me.id => Conduct::Forward(p),
                _ => Conduct::Deliver,
            },
            Some(c) => c,
            None => Conduct::Honest,
        }
    }

    fn eclipses(&self) -> bool {
        self.attacks.eclipse
    }

    fn colluder_in_slot(&self, me: Id, row: usize, col: u8) -> Option<Peer> {
        let (lo, hi) = slot_range(me, row, col);
        let map = self.active.read().expect("not poisoned");
        map.range(lo..=hi).next().map(|(_, p)| *p)
    }

    fn colluders_beside(&self, me: Id, clockwise: bool, out: &mut [Peer]) -> usize {
        let map = self.active.read().expect("not poisoned");
        let others = map.len() - usize::from(map.contains_key(&me));
        let side: Box<dyn Iterator<Item = (&Id, &Peer)>> = if clockwise {
            Box::new(
                map.range((Bound::Excluded(me), Bound::Unbounded))
                    .chain(map.range(..me)),
            )
        } else {
            Box::new(
                map.range(..me)
                    .rev()
                    .chain(map.range((Bound::Excluded(me), Bound::Unbounded)).rev()),
            )
        };
        let mut n = 0;
        for ((_, p), slot) in side.take(others).zip(out.iter_mut()) {
            *slot = *p;
            n += 1;
        }
        n
    }
}

/// The ids that fit slot (`row`, `col`) of `own`'s table: `own`'s first
/// `row` digits, then `col`, then anything.
pub(super) fn slot_range(own: Id, row: usize, col: u8) -> (Id, Id) {
    let (mut lo, mut hi) = (own.to_bytes(), own.to_bytes());
    for d in row..lo.len() * 2 {
        let (v_lo, v_hi) = if d == row { (col, col) } else { (0, 15) };
        let shift = if d % 2 == 0 { 4 } else { 0 };
        let mask = !(0x0f << shift);
        lo[d / 2] = (lo[d / 2] & mask) | (v_lo << shift);
        hi[d / 2] = (hi[d / 2] & mask) | (v_hi << shift);
    }
    (Id::from_bytes(lo), Id::from_bytes(hi))
}

/// The adversary of a run and how it draws its nodes.
#[derive(Debug)]
pub(super) struct Byzantine {
    pub(super) fraction: f64,
    pub(super) colluders: Arc<Colluders>,
    /// Its own stream, so the nodes' ids and the run's other choices are
    /// the same whatever the fraction.
    rng: SmallRng,
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Makes a `fraction` of the nodes created from now on faulty, making
    /// `attacks`. Call before the first node is added.
    pub fn set_faulty(&mut self, fraction: f64, attacks: Attacks) {
        self.byzantine = Some(Byzantine {
            fraction,
            colluders: Arc::new(Colluders::new(attacks)),
            rng: SmallRng::new(self.config.seed ^ 0xb42a_7e11_b42a_7e11),
        });
    }

    /// Whether node `i` is faulty.
    pub fn is_faulty(&self, i: usize) -> bool {
        self.slots[i].faulty
    }

    /// Live nodes that are faulty.
    pub fn faulty_live(&self) -> usize {
        self.alive
            .iter()
            .filter(|&&i| self.slots[i as usize].faulty)
            .count()
    }

    /// The attacks faulty nodes make, if any are.
    pub fn attacks(&self) -> Option<Attacks> {
        self.byzantine.as_ref().map(|b| b.colluders.attacks)
    }

    /// Draws whether new node `i` is faulty and, if it is, hands it (and
    /// its DHT) to the adversary.
    pub(super) fn draw_role(&mut self, i: usize) {
        let Some(b) = self.byzantine.as_mut() else {
            return;
        };
        let faulty = b.rng.unit() < b.fraction;
        self.slots[i].faulty = faulty;
        if faulty {
            self.corrupt(i);
        }
    }

    /// Hands live faulty node `i` to the adversary.
    pub(super) fn corrupt(&mut self, i: usize) {
        let Some(b) = self.byzantine.as_ref() else {
            return;
        };
        let (colluders, fake_root) = (b.colluders.clone(), b.colluders.attacks.fake_root);
        let now = self.now;
        if let Some((node, apps)) = self.slots[i].at(now) {
            node.make_faulty(colluders);
            if let Some(dht) = apps.0.as_deref_mut().filter(|_| fake_root) {
                dht.make_faulty(pastry_core::dht::FakeRoot::Wrong);
            }
        }
    }

    /// A faulty node became active: its colluders may name it.
    pub(super) fn colluder_joined(&mut self, i: usize) {
        if let (Some(b), Some(n)) = (self.byzantine.as_ref(), self.slots[i].node()) {
            if self.slots[i].faulty {
                b.colluders.insert(n.own());
            }
        }
    }

    /// A faulty node is gone.
    pub(super) fn colluder_gone(&mut self, id: Id) {
        if let Some(b) = self.byzantine.as_ref() {
            b.colluders.remove(id);
        }
    }

    /// A random live active correct node: where lookups and DHT operations
    /// start, and what new nodes join through. Without faulty nodes, the
    /// same draws as [`Sim::random_active`].
    pub fn random_correct(&mut self) -> Option<usize> {
        for _ in 0..64 {
            let i = self.random_active()?;
            if !self.slots[i].faulty {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(b: u8) -> Peer {
        let mut id = [0u8; 20];
        id[0] = b;
        Peer::new(
            Id::from_bytes(id),
            std::net::SocketAddr::from(([10, 0, 0, b], 1)),
        )
    }

    #[test]
    fn names_parse_and_round_trip() {
        assert_eq!(Attacks::parse("all"), Ok(Attacks::ALL));
        let a = Attacks::parse("drop, eclipse").unwrap();
        assert_eq!(a.names(), vec!["drop", "eclipse"]);
        assert_eq!(
            Attacks::parse(&Attacks::ALL.names().join(",")),
            Ok(Attacks::ALL)
        );
        assert!(Attacks::parse("flood").is_err());
    }

    #[test]
    fn colluders_are_found_by_slot_and_beside_an_id_as_brute_force_finds_them() {
        let c = Colluders::new(Attacks::ALL);
        let peers: Vec<Peer> = [0x05, 0x12, 0x1f, 0x40, 0x41, 0xa0, 0xf3]
            .into_iter()
            .map(peer)
            .collect();
        for p in &peers {
            c.insert(*p);
        }
        let me = peer(0x13).id;
        for row in 0..2 {
            for col in 0..16u8 {
                let want = peers
                    .iter()
                    .filter(|p| p.id.shared_prefix_len(me) >= row && p.id.digit(row) == col)
                    .copied()
                    .next();
                assert_eq!(
                    c.colluder_in_slot(me, row, col),
                    want,
                    "row {row} col {col}"
                );
            }
        }
        let mut out = [peer(0); 3];
        assert_eq!(c.colluders_beside(me, true, &mut out), 3);
        assert_eq!(out.map(|p| p.id), [0x1f, 0x40, 0x41].map(|b| peer(b).id));
        assert_eq!(c.colluders_beside(me, false, &mut out), 3);
        assert_eq!(out.map(|p| p.id), [0x12, 0x05, 0xf3].map(|b| peer(b).id));
        // The nearest to a key, by the ring's closeness.
        for k in [0x00u8, 0x11, 0x30, 0x9f, 0xff] {
            let key = peer(k).id;
            let want = peers
                .iter()
                .min_by(|a, b| key.cmp_closeness(a.id, b.id))
                .copied();
            assert_eq!(c.nearest(key), want, "key {k:#x}");
        }
    }

    #[test]
    fn a_faulty_node_misroutes_to_the_colluder_nearest_the_key_or_delivers() {
        let c = Colluders::new(Attacks {
            misroute: true,
            ..Attacks::default()
        });
        let (a, b) = (peer(0x10), peer(0x80));
        c.insert(a);
        c.insert(b);
        let key = peer(0x7f).id;
        let honest = NextHop::Local;
        assert_eq!(c.on_route(a, key, AppId(1), honest), Conduct::Forward(b));
        assert_eq!(c.on_route(b, key, AppId(1), honest), Conduct::Deliver);
        let none = Colluders::new(Attacks::default());
        assert_eq!(none.on_route(a, key, AppId(1), honest), Conduct::Honest);
    }
}
