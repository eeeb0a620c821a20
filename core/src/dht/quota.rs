//! Per-client put allowances at a key's root: a token bucket per client,
//! in a table of fixed size. A client that floods one root is refused once
//! its burst is spent; the store's limits bound what all clients together
//! can leave behind.

use heapless::Vec;

use super::types::Quota;
use crate::id::Id;
use crate::time::Instant;

/// Clients tracked at once. A client forgotten for want of room comes
/// back with a full bucket, so the one forgotten is the one with the most
/// tokens left: it lost the least.
const CLIENTS: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    client: Id,
    tokens: u32,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

/// The buckets of the clients a root has heard from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Quotas {
    buckets: Vec<Bucket, CLIENTS>,
}

impl Quotas {
    /// Takes one put from `client`'s allowance; `false` if it has none.
    pub(crate) fn take(&mut self, quota: Quota, client: Id, now: Instant) -> bool {
        if quota.refill.is_zero() {
            return true;
        }
        let i = match self.buckets.iter().position(|b| b.client == client) {
            Some(i) => i,
            None => {
                let fresh = Bucket {
                    client,
                    tokens: quota.burst,
                    at: now,
                };
                if self.buckets.push(fresh).is_err() {
                    let richest = (0..CLIENTS)
                        .max_by_key(|&i| self.refilled(quota, i, now))
                        .unwrap_or(0);
                    self.buckets[richest] = fresh;
                    richest
                } else {
                    self.buckets.len() - 1
                }
            }
        };
        let b = &mut self.buckets[i];
        let earned = earned(quota, b.at, now);
        if u64::from(b.tokens) + earned >= u64::from(quota.burst) {
            b.tokens = quota.burst;
            b.at = now;
        } else {
            // Whole intervals only: the remainder keeps counting.
            b.tokens += earned as u32;
            b.at += quota.refill * earned as u32;
        }
        if b.tokens == 0 {
            return false;
        }
        b.tokens -= 1;
        true
    }

    fn refilled(&self, quota: Quota, i: usize, now: Instant) -> u64 {
        let b = &self.buckets[i];
        (u64::from(b.tokens) + earned(quota, b.at, now)).min(u64::from(quota.burst))
    }
}

/// Whole refill intervals from `since` to `now`, capped at the burst.
fn earned(quota: Quota, since: Instant, now: Instant) -> u64 {
    let waited = now.saturating_duration_since(since).as_nanos();
    let n = waited / quota.refill.as_nanos().max(1);
    n.min(u128::from(quota.burst)) as u64
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_the_refill_rate_and_others_are_unaffected() {
        let quota = Quota {
            burst: 10,
            refill: Duration::from_millis(100),
        };
        let mut q = Quotas::default();
        let (flood, other) = (Id::sha1(b"flood"), Id::sha1(b"other"));
        let t = Instant::from_secs(5);
        let taken = (0..100).filter(|_| q.take(quota, flood, t)).count();
        assert_eq!(taken, 10, "the burst, then nothing");
        assert!(q.take(quota, other, t), "another client has its own bucket");
        // One second refills ten, spread over it.
        let mut granted = 0;
        for ms in (0..1_000).step_by(10) {
            let now = t + Duration::from_millis(ms);
            granted += usize::from(q.take(quota, flood, now));
        }
        assert!((9..=10).contains(&granted), "refill rate: {granted}");
        // Many other clients cannot wipe the flooder's debt: the table
        // forgets the clients with the most left, not the one with none.
        for i in 0..(2 * CLIENTS as u32) {
            q.take(
                quota,
                Id::sha1(&i.to_be_bytes()),
                t + Duration::from_millis(1_000),
            );
        }
        let now = t + Duration::from_millis(1_000);
        let left = (0..10).filter(|_| q.take(quota, flood, now)).count();
        assert!(left <= 1, "still over its quota, not a fresh burst: {left}");
    }
}
