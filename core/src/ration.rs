//! A ration of replies to strangers and floods: a bucket of `burst`
//! tokens, one back every `every`, whole intervals counted from the last
//! refill. The session guard rations its signatures with one, the node
//! its answers to secure queries.

use core::time::Duration;

use crate::time::Instant;

/// Tokens left, and when they were last refilled.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ration {
    tokens: u32,
    refilled: Instant,
}

impl Ration {
    /// A full bucket of `burst`.
    pub(crate) const fn full(burst: u32) -> Ration {
        Ration {
            tokens: burst,
            refilled: Instant::ZERO,
        }
    }

    /// Spends a token at `now`, if one is left after refilling.
    pub(crate) fn take(&mut self, now: Instant, burst: u32, every: Duration) -> bool {
        let since = now.saturating_duration_since(self.refilled);
        let new = u32::try_from(since.as_micros() / every.as_micros().max(1)).unwrap_or(u32::MAX);
        if new > 0 {
            self.tokens = self.tokens.saturating_add(new).min(burst);
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_token_per_interval() {
        let every = Duration::from_millis(10);
        let mut r = Ration::full(3);
        let t = Instant::from_secs(1);
        assert_eq!((0..5).filter(|_| r.take(t, 3, every)).count(), 3);
        assert!(!r.take(t + Duration::from_millis(9), 3, every));
        assert!(r.take(t + Duration::from_millis(10), 3, every));
        assert!(!r.take(t + Duration::from_millis(10), 3, every));
        // A long silence refills the burst, no more.
        let later = t + Duration::from_secs(60);
        assert_eq!((0..5).filter(|_| r.take(later, 3, every)).count(), 3);
    }
}
