//! Delay and loss on a node's outbound datagrams, for testbeds on hosts
//! without the kernel's netem: every datagram waits `delay` before it is
//! sent, and a fraction `loss` of them is dropped instead. Seeded, so a
//! run's losses are the same each time given the same traffic.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant as Clock;

/// What to do to every datagram the node sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// How long each datagram waits before it is sent.
    pub delay: Duration,
    /// The fraction dropped (0 to 1).
    pub loss: f64,
    /// The seed of the losses.
    pub seed: u64,
}

/// Datagrams held back at most; beyond it a datagram is dropped, as a
/// full router queue would.
const HELD: usize = 8192;

/// The datagrams held back, in the order they are due.
#[derive(Debug)]
pub(crate) struct Impaired {
    how: Impairment,
    held: VecDeque<(Clock, SocketAddr, Vec<u8>)>,
    rng: u64,
}

impl Impaired {
    pub(crate) fn new(how: Impairment) -> Impaired {
        Impaired {
            how,
            held: VecDeque::new(),
            rng: how.seed | 1,
        }
    }

    /// Takes a datagram sent at `now`: dropped, or held until it is due.
    pub(crate) fn take(&mut self, now: Clock, to: SocketAddr, bytes: &[u8]) {
        // xorshift64: a uniform draw in [0, 1).
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let draw = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        if draw < self.how.loss || self.held.len() >= HELD {
            return;
        }
        // One delay for all: the queue stays in due order.
        self.held
            .push_back((now + self.how.delay, to, bytes.to_vec()));
    }

    /// When the next held datagram is due.
    pub(crate) fn next_due(&self) -> Option<Clock> {
        self.held.front().map(|(at, _, _)| *at)
    }

    /// The next datagram due by `now`.
    pub(crate) fn pop_due(&mut self, now: Clock) -> Option<(SocketAddr, Vec<u8>)> {
        if self.next_due()? > now {
            return None;
        }
        self.held.pop_front().map(|(_, to, b)| (to, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_wait_their_delay_and_the_loss_is_near_its_fraction() {
        let how = Impairment {
            delay: Duration::from_millis(50),
            loss: 0.05,
            seed: 7,
        };
        let mut imp = Impaired::new(how);
        let t0 = Clock::now();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for i in 0..8_000u32 {
            imp.take(t0, to, &i.to_be_bytes());
        }
        let kept = imp.held.len();
        // 5 % of 8,000 lost, give or take four standard deviations (~78).
        assert!((7_522..=7_678).contains(&kept), "kept {kept}");
        assert_eq!(imp.pop_due(t0 + Duration::from_millis(49)), None);
        let first = imp.pop_due(t0 + how.delay).expect("due");
        assert_eq!(first.0, to);
        let mut n = 1;
        while imp.pop_due(t0 + how.delay).is_some() {
            n += 1;
        }
        assert_eq!(n, kept, "all due together, in order");
        // Without loss, the queue still holds no more than its bound.
        let mut full = Impaired::new(Impairment { loss: 0.0, ..how });
        for i in 0..10_000u32 {
            full.take(t0, to, &i.to_be_bytes());
        }
        assert_eq!(full.held.len(), HELD);
    }
}
