//! Node configuration: the papers' defaults, validated once at construction.
//!
//! Memory-sizing capacities (leaf-set slots, routing-table rows, queue
//! depths) are const generics on the state types, so an embedded build picks
//! them at compile time; `Config` holds the run-time knobs and is checked
//! against those capacities when a node is built.

use core::fmt;
use core::time::Duration;

use crate::identity::{Admission, MAX_PUZZLE_BITS};
pub use crate::secure::SecureConfig;
use crate::session::TRAILER_BYTES;
use crate::wire;

/// Next hops one routed message may try (first send plus reroutes); sizes
/// the per-message record of hops that timed out.
pub const MAX_TRIED: usize = 8;

/// Run-time parameters of a node. Build with `Config::default()` and adjust
/// fields; the node validates the whole thing once when it is constructed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Config {
    /// Leaf-set size `L`: `L/2` numerically closest nodes on each side
    /// (Pastry'01 §2.1; default 16). Even, at least 2, at most twice the leaf
    /// set's per-side capacity.
    pub leaf_set_size: usize,
    /// Replica count `k` for storage (PAST; default 5). At most `L/2 + 1`, so
    /// a root's leaf set always holds the whole replica set.
    pub replicas: usize,
    /// Period of leaf-set heartbeats (MSPastry §3.1: `Tls` = 30 s).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub heartbeat_period: Duration,
    /// A leaf-set member is live for this long after we last heard from it;
    /// then it is suspected and probed. Longer than `heartbeat_period`
    /// (default 30 s + 3 s probe timeout, as in MSPastry).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub lease: Duration,
    /// Longest wait for one probe reply (MSPastry: `To` = 3 s). A probe
    /// first waits the hop timeout from measured RTT and doubles it on each
    /// retry, up to this.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub probe_timeout: Duration,
    /// Probes retried before a suspect is declared failed. The default, 6,
    /// keeps false failures rare under 10 % loss (a round trip is lost
    /// with probability 0.19, all seven with 9e-6; with 4 retries a
    /// 300-seed sweep still found one); with RTTs of tens of milliseconds
    /// the seven tries take under 10 s. A suspected routing-table entry
    /// that is not a leaf-set member gets at most 3 (a wrong verdict
    /// costs only its slot).
    pub probe_retries: u8,
    /// Period of routing-table maintenance: ask a row's members for their
    /// row and keep the closer entries (MSPastry §3.2: 20 min).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub maintenance_period: Duration,
    /// Initial per-hop retransmission timeout before any RTT is measured
    /// (RFC 6298 §2.1: 1 s).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub initial_rto: Duration,
    /// Lower bound on the per-hop retransmission timeout.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub min_rto: Duration,
    /// Upper bound on the per-hop retransmission timeout.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub max_rto: Duration,
    /// Times a routed message is re-sent through another next hop before the
    /// source is told it could not be routed. Each next hop also gets one
    /// retransmission first. The default, 5, makes a failure under 10 %
    /// loss about (0.19²)⁶ ≈ 2e-9 per message; 3 failed in sweeps.
    pub max_reroutes: u8,
    /// Times the source sends an end-node application's message again
    /// when no [`wire::Receipt`] comes from the node that delivers it
    /// (default 3, the most [`wire::MAX_ATTEMPT`] allows; 0 asks for no
    /// receipts). Per-hop acks alone lose a message whose hop acked it and
    /// then crashed; the root delivers a copy it has delivered only once.
    /// With 2, the third attempt (15 s after the first) still met the root
    /// that held the first two for a suspected neighbour and crashed; the
    /// fourth (35 s) goes round it.
    pub max_resends: u8,
    /// How long the source waits for a receipt after the first hop acked
    /// its first attempt, doubled for each attempt after (default 5 s:
    /// several one-way paths of a wide-area overlay with a reroute on the
    /// way; then 10 s and 20 s, past a root's hold for a suspected
    /// neighbour).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub receipt_timeout: Duration,
    /// Copies of each receipt the delivering node sends, 1 to
    /// [`MAX_RECEIPT_COPIES`] (default 2). Nothing retransmits a receipt,
    /// and a lost one makes the source send the message again, which a
    /// root that changed meanwhile delivers a second time (1 % loss, 1,000
    /// nodes at 10-minute sessions: 61 lookups in 400,000 delivered twice
    /// with one copy, 18 with two). Where loss is rare (a LAN) one does.
    pub receipt_copies: u8,
    /// How long a joining node waits for its join to complete before it
    /// sends the request again.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub join_timeout: Duration,
    /// Join requests re-sent before the join is reported failed.
    pub join_retries: u8,
    /// Largest datagram the node sends or accepts, in bytes (default 1,280:
    /// the IPv6 minimum path MTU, so nothing is fragmented), including
    /// the session's authentication trailer.
    pub max_datagram: usize,
    /// Which keys may be members (default: any key, no puzzle). Every
    /// node of one overlay must use the same mode.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub admission: Admission,
    /// Whether peers are verified and datagrams sealed (default: true).
    /// `false` is the insecure overlay of the papers, which believes every
    /// datagram: for simulations that model the protocol without its
    /// cryptography, and closed test networks; never on the Internet.
    /// Every node of one overlay must use the same setting.
    pub verify_peers: bool,
    /// Secure routing (OSDI'02): the failure test's threshold, redundant
    /// routes, and whether the node fills its constrained table and checks
    /// its leaf set after joining (default: off).
    pub secure: SecureConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            leaf_set_size: 16,
            replicas: 5,
            heartbeat_period: Duration::from_secs(30),
            lease: Duration::from_secs(33),
            probe_timeout: Duration::from_secs(3),
            probe_retries: 6,
            maintenance_period: Duration::from_secs(20 * 60),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(20),
            max_rto: Duration::from_secs(3),
            max_reroutes: 5,
            max_resends: 3,
            receipt_timeout: Duration::from_secs(5),
            receipt_copies: 2,
            join_timeout: Duration::from_secs(10),
            join_retries: 3,
            max_datagram: 1_280,
            admission: Admission::default(),
            verify_peers: true,
            secure: SecureConfig::default(),
        }
    }
}

/// Most copies of a receipt a node may be configured to send.
pub const MAX_RECEIPT_COPIES: u8 = 3;

/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

impl Config {
    /// The longest a probe cycle can take from the first probe to
    /// declaring the peer failed: every try waiting `probe_timeout`.
    pub fn probe_cycle(&self) -> Duration {
        self.probe_timeout * (u32::from(self.probe_retries) + 1)
    }

    /// Checks every field and their relations. `leaf_half_capacity` is the
    /// per-side capacity the leaf set was built with (its const generic).
    pub fn validate(&self, leaf_half_capacity: usize) -> Result<(), ConfigError> {
        let l = self.leaf_set_size;
        if l < 2 || !l.is_multiple_of(2) || l / 2 > leaf_half_capacity {
            return Err(ConfigError::LeafSetSize {
                got: l,
                max: 2 * leaf_half_capacity,
            });
        }
        if self.replicas == 0 || self.replicas > l / 2 + 1 {
            return Err(ConfigError::Replicas {
                got: self.replicas,
                max: l / 2 + 1,
            });
        }
        for (name, d) in [
            ("heartbeat_period", self.heartbeat_period),
            ("lease", self.lease),
            ("probe_timeout", self.probe_timeout),
            ("maintenance_period", self.maintenance_period),
            ("initial_rto", self.initial_rto),
            ("min_rto", self.min_rto),
            ("join_timeout", self.join_timeout),
            ("receipt_timeout", self.receipt_timeout),
            ("secure.timeout", self.secure.timeout),
            ("secure.refresh", self.secure.refresh),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.lease <= self.heartbeat_period {
            return Err(ConfigError::LeaseTooShort);
        }
        if self.min_rto > self.initial_rto || self.initial_rto > self.max_rto {
            return Err(ConfigError::RtoBounds);
        }
        if usize::from(self.max_reroutes) >= MAX_TRIED {
            return Err(ConfigError::MaxReroutes {
                max: MAX_TRIED as u8 - 1,
            });
        }
        if self.max_resends > wire::MAX_ATTEMPT {
            return Err(ConfigError::MaxResends {
                max: wire::MAX_ATTEMPT,
            });
        }
        if self.receipt_copies == 0 || self.receipt_copies > MAX_RECEIPT_COPIES {
            return Err(ConfigError::ReceiptCopies {
                max: MAX_RECEIPT_COPIES,
            });
        }
        if let Admission::Open { puzzle_bits } = self.admission {
            if puzzle_bits > MAX_PUZZLE_BITS {
                return Err(ConfigError::PuzzleBits {
                    max: MAX_PUZZLE_BITS,
                });
            }
        }
        if self.secure.routes == 0 || usize::from(self.secure.routes) > crate::node::MAX_ROUTES {
            return Err(ConfigError::SecureRoutes {
                max: crate::node::MAX_ROUTES as u8,
            });
        }
        if self.secure.gamma_permille < 1_000 {
            return Err(ConfigError::SecureGamma);
        }
        let min = wire::max_leaf_set_message_len(l) + TRAILER_BYTES;
        if self.max_datagram < min || self.max_datagram > MAX_UDP_PAYLOAD {
            return Err(ConfigError::DatagramSize {
                got: self.max_datagram,
                min,
                max: MAX_UDP_PAYLOAD,
            });
        }
        Ok(())
    }
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `leaf_set_size` must be even, at least 2 and at most `max`.
    LeafSetSize {
        /// The value given.
        got: usize,
        /// The largest this build's leaf-set capacity allows.
        max: usize,
    },
    /// `replicas` must be in `1..=max` (`max` = L/2 + 1).
    Replicas {
        /// The value given.
        got: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The named duration must not be zero.
    ZeroDuration(&'static str),
    /// `lease` must be longer than `heartbeat_period`, or live members would
    /// be suspected between two heartbeats.
    LeaseTooShort,
    /// Need `min_rto <= initial_rto <= max_rto`.
    RtoBounds,
    /// `max_reroutes` is at most `max`.
    MaxReroutes {
        /// The largest allowed.
        max: u8,
    },
    /// `max_resends` is at most `max`.
    MaxResends {
        /// The largest allowed.
        max: u8,
    },
    /// `receipt_copies` is at least 1 and at most `max`.
    ReceiptCopies {
        /// The largest allowed.
        max: u8,
    },
    /// `max_datagram` must hold a full leaf set of IPv6 peers (`min`) and fit
    /// in a UDP payload (`max`).
    DatagramSize {
        /// The value given.
        got: usize,
        /// The smallest that carries a leaf set of this size.
        min: usize,
        /// The largest UDP payload.
        max: usize,
    },
    /// The admission puzzle asks for more than `max` bits.
    PuzzleBits {
        /// The most allowed.
        max: u8,
    },
    /// `secure.routes` must be in `1..=max`.
    SecureRoutes {
        /// The most allowed.
        max: u8,
    },
    /// `secure.gamma_permille` below 1,000 would fail a leaf set as dense
    /// as our own.
    SecureGamma,
    /// This node's own credentials fail its admission mode (its id does
    /// not solve the puzzle, or it has no certificate from the authority
    /// for its key): every peer would refuse it.
    OwnIdentity(crate::identity::IdentityError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::LeafSetSize { got, max } => {
                write!(f, "leaf_set_size {got} must be even and in 2..={max}")
            }
            ConfigError::Replicas { got, max } => write!(f, "replicas {got} must be in 1..={max}"),
            ConfigError::ZeroDuration(name) => write!(f, "{name} must not be zero"),
            ConfigError::LeaseTooShort => f.write_str("lease must be longer than heartbeat_period"),
            ConfigError::RtoBounds => f.write_str("need min_rto <= initial_rto <= max_rto"),
            ConfigError::MaxReroutes { max } => write!(f, "max_reroutes must be at most {max}"),
            ConfigError::MaxResends { max } => write!(f, "max_resends must be at most {max}"),
            ConfigError::ReceiptCopies { max } => {
                write!(f, "receipt_copies must be from 1 to {max}")
            }
            ConfigError::DatagramSize { got, min, max } => {
                write!(f, "max_datagram {got} must be in {min}..={max}")
            }
            ConfigError::PuzzleBits { max } => {
                write!(f, "the admission puzzle takes at most {max} bits")
            }
            ConfigError::SecureRoutes { max } => {
                write!(f, "secure.routes must be in 1..={max}")
            }
            ConfigError::SecureGamma => f.write_str("secure.gamma_permille must be at least 1000"),
            ConfigError::OwnIdentity(e) => {
                write!(f, "this node's own key is not admitted: {e}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_the_papers_values() {
        let c = Config::default();
        assert_eq!(c.validate(8), Ok(()));
        assert_eq!(
            (c.leaf_set_size, c.replicas, c.max_datagram),
            (16, 5, 1_280)
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate(8)
        };
        assert_eq!(
            bad(|c| c.leaf_set_size = 15),
            Err(ConfigError::LeafSetSize { got: 15, max: 16 })
        );
        assert_eq!(
            bad(|c| c.leaf_set_size = 18),
            Err(ConfigError::LeafSetSize { got: 18, max: 16 })
        );
        assert_eq!(
            bad(|c| c.leaf_set_size = 0),
            Err(ConfigError::LeafSetSize { got: 0, max: 16 })
        );
        assert_eq!(
            bad(|c| c.replicas = 0),
            Err(ConfigError::Replicas { got: 0, max: 9 })
        );
        assert_eq!(
            bad(|c| c.replicas = 10),
            Err(ConfigError::Replicas { got: 10, max: 9 })
        );
        assert_eq!(
            bad(|c| c.probe_timeout = Duration::ZERO),
            Err(ConfigError::ZeroDuration("probe_timeout"))
        );
        assert_eq!(
            bad(|c| c.lease = c.heartbeat_period),
            Err(ConfigError::LeaseTooShort)
        );
        assert_eq!(
            bad(|c| c.min_rto = Duration::from_secs(2)),
            Err(ConfigError::RtoBounds)
        );
        assert!(matches!(
            bad(|c| c.max_datagram = 200),
            Err(ConfigError::DatagramSize { got: 200, .. })
        ));
        assert!(matches!(
            bad(|c| c.max_datagram = 70_000),
            Err(ConfigError::DatagramSize { .. })
        ));
        let refused = ConfigError::ReceiptCopies {
            max: MAX_RECEIPT_COPIES,
        };
        assert_eq!(bad(|c| c.receipt_copies = 0), Err(refused));
        assert_eq!(
            bad(|c| c.receipt_copies = MAX_RECEIPT_COPIES + 1),
            Err(refused)
        );
    }

    #[test]
    fn a_large_leaf_set_needs_a_large_enough_datagram() {
        let c = Config {
            leaf_set_size: 32,
            ..Config::default()
        };
        // 32 IPv6 peers do not fit in 1,280 bytes with the header.
        assert!(matches!(
            c.validate(16),
            Err(ConfigError::DatagramSize { .. })
        ));
        let c = Config {
            max_datagram: 1_400,
            ..c
        };
        assert_eq!(c.validate(16), Ok(()));
    }
}

/// Durations in configuration files: an integer and a unit, `"300ms"`,
/// `"2s"`, `"1h"` (units `ns`, `us`, `ms`, `s`, `m`, `h`), written with
/// the largest unit that is exact. With the `serde` feature, every
/// duration of [`Config`], the DHT's, Scribe's and the stack's settings
/// reads and writes this way.
#[cfg(feature = "serde")]
pub mod duration {
    use core::fmt;
    use core::time::Duration;

    const UNITS: [(&str, u128); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];

    /// The duration `text` spells; `None` if it is not a whole number
    /// followed by one of the units, or does not fit.
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let digits = text.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = text.split_at(digits);
        let n: u128 = n.parse().ok()?;
        let per = UNITS.iter().find(|(u, _)| *u == unit.trim())?.1;
        let nanos = n.checked_mul(per)?;
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }

    /// `d` in the largest unit that is exact.
    pub fn display(d: Duration) -> impl fmt::Display {
        struct Show(Duration);
        impl fmt::Display for Show {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let nanos = self.0.as_nanos();
                let (unit, per) = UNITS
                    .iter()
                    .find(|(_, per)| nanos.is_multiple_of(*per) && nanos > 0)
                    .copied()
                    .unwrap_or(("s", 1_000_000_000));
                write!(f, "{}{unit}", nanos / per)
            }
        }
        Show(d)
    }

    pub(crate) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&display(*d))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"300ms\", \"2s\" or \"1h\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(Visit)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use alloc::string::ToString;

        #[test]
        fn durations_read_back_as_written_in_the_largest_exact_unit() {
            for (d, text) in [
                (Duration::from_secs(7200), "2h"),
                (Duration::from_secs(90), "90s"),
                (Duration::from_secs(120), "2m"),
                (Duration::from_millis(300), "300ms"),
                (Duration::from_micros(1500), "1500us"),
                (Duration::from_nanos(7), "7ns"),
                (Duration::ZERO, "0s"),
            ] {
                assert_eq!(display(d).to_string(), text);
                assert_eq!(parse(text), Some(d), "{text}");
            }
            for bad in [
                "",
                "ms",
                "3",
                "1.5s",
                "-1s",
                "2 days",
                "99999999999999999999999h",
            ] {
                assert_eq!(parse(bad), None, "{bad}");
            }
            assert_eq!(parse(" 2 s "), Some(Duration::from_secs(2)));
        }
    }
}
