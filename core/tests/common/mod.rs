//! Helpers shared by the core's integration tests.
#![allow(dead_code, unreachable_pub)]

use core::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

pub mod net;
pub mod speaker;

use arbitrary::{Arbitrary, Unstructured};
use pastry_core::rng::SmallRng;
use pastry_core::{Id, Peer};

/// Runs `case` on `cases` byte strings of random length drawn from `seed`,
/// each wrapped as `arbitrary` input: property testing without a framework,
/// reproducible from the printed case number.
pub fn for_each_case(
    seed: u64,
    cases: usize,
    max_len: usize,
    mut case: impl FnMut(&mut Unstructured<'_>),
) {
    let mut rng = SmallRng::new(seed);
    let mut bytes = vec![0u8; max_len];
    for i in 0..cases {
        let len = rng.below(max_len as u64 + 1) as usize;
        for b in &mut bytes[..len] {
            *b = rng.next_u64() as u8;
        }
        let mut u = Unstructured::new(&bytes[..len]);
        // Report which case failed so it can be replayed.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut u)));
        if let Err(e) = result {
            eprintln!("property failed: seed {seed}, case {i}");
            std::panic::resume_unwind(e);
        }
    }
}

/// A key pair named by `name` (its secret is a hash of the name): a
/// test's fixed node, standing where it used to pick an id.
#[allow(dead_code)]
pub fn keys(name: &[u8]) -> pastry_core::identity::Keypair {
    let h = Id::sha1(name).to_bytes();
    let mut secret = [0u8; 32];
    secret[..20].copy_from_slice(&h);
    pastry_core::identity::Keypair::from_secret(secret)
}

/// A key pair whose secret comes from `rng` (a test's seeded stream).
#[allow(dead_code)]
pub fn random_keypair(rng: &mut SmallRng) -> pastry_core::identity::Keypair {
    let mut b = [0u8; 32];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    pastry_core::identity::Keypair::from_secret(b)
}

pub fn random_id(rng: &mut SmallRng) -> Id {
    let mut b = [0u8; 20];
    for chunk in b.chunks_mut(8) {
        let x = rng.next_u64().to_be_bytes();
        chunk.copy_from_slice(&x[..chunk.len()]);
    }
    Id::from_bytes(b)
}

/// A peer with a v4 or v6 address (v6 without flow info or scope, which the
/// wire does not carry).
pub fn random_peer(rng: &mut SmallRng) -> Peer {
    let id = random_id(rng);
    let port = rng.next_u64() as u16;
    let addr = if rng.next_u64().is_multiple_of(2) {
        SocketAddr::from((u32::to_be_bytes(rng.next_u64() as u32), port))
    } else {
        let ip = Ipv6Addr::from(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()));
        SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
    };
    Peer::new(id, addr)
}

/// An id from arbitrary input; `pool` small ids make collisions likely.
pub fn arb_id(u: &mut Unstructured<'_>, pool: &[Id]) -> arbitrary::Result<Id> {
    if !pool.is_empty() && bool::arbitrary(u)? {
        Ok(*u.choose(pool)?)
    } else {
        Ok(Id::from_bytes(<[u8; 20]>::arbitrary(u)?))
    }
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

/// The seeds a scenario runs: `defaults`, or those in `PASTRY_SEEDS`
/// ("7", "3,5,9" or a range "0..50") to replay a failure or sweep many.
pub fn seeds(defaults: &[u64]) -> Vec<u64> {
    let Ok(s) = std::env::var("PASTRY_SEEDS") else {
        return defaults.to_vec();
    };
    if let Some((a, b)) = s.split_once("..") {
        let a: u64 = a.trim().parse().expect("PASTRY_SEEDS range start");
        let b: u64 = b.trim().parse().expect("PASTRY_SEEDS range end");
        return (a..b).collect();
    }
    s.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .expect("PASTRY_SEEDS: comma-separated u64s")
        })
        .collect()
}
