//! Counters: messages sent and received per kind, drops by reason, and the
//! overlay's own work (reroutes, suspicions, failures).

use crate::wire::{DecodeError, Kind};

/// Kinds are numbered from 1.
const KINDS: usize = Kind::ALL.len();

fn slot(kind: Kind) -> usize {
    (kind as usize - 1).min(KINDS - 1)
}

/// Why an inbound datagram (or a message in it) was dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Not a well-formed message.
    pub malformed: u64,
    /// A format version this build does not speak.
    pub unsupported_version: u64,
    /// Larger than `max_datagram`.
    pub oversized: u64,
    /// Arrived while the node could not use it (idle, left, or not active).
    pub not_active: u64,
    /// A bounded queue or pool was full.
    pub queue_full: u64,
    /// A routed message seen before (a retransmission), or a receipt's
    /// second copy.
    pub duplicate: u64,
    /// A reply or ack nobody asked for, or a message claiming our own id.
    pub unsolicited: u64,
    /// Not from a verified peer, or not authentic (see
    /// [`crate::session::SessionStats`] for why), or a handshake message
    /// the node refused.
    pub unauthenticated: u64,
}

/// The node's counters. Read with [`super::Node::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub(crate) sent: [u64; KINDS],
    pub(crate) received: [u64; KINDS],
    /// Drops by reason.
    pub drops: Drops,
    /// Routed messages re-sent through another next hop after a timeout.
    pub reroutes: u64,
    /// Nodes suspected (silent, or a missed ack) and probed.
    pub suspicions: u64,
    /// Nodes declared failed after unanswered probes.
    pub failures: u64,
    /// Messages delivered here as root.
    pub delivered: u64,
    /// Routed messages forwarded (including those this node originated).
    pub forwarded: u64,
    /// Messages that could not be routed.
    pub route_failures: u64,
    /// Messages of this node's sent again because no receipt came from
    /// the node that should deliver them (`Config::max_resends`).
    pub resent: u64,
    /// Messages of this node's let go without a receipt after their last
    /// attempt (each attempt's first hop took it; see `resent`).
    pub unconfirmed: u64,
    /// Delivery records taken from a neighbour while joining: messages it
    /// delivered as root of keys now this node's, which this node then
    /// answers rather than delivers again (`wire::Handover`).
    pub handed_over: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Outbound messages dropped because the outbound queue was full.
    pub transmits_dropped: u64,
    /// Secure routing's work.
    pub secure: super::SecureStats,
}

impl Stats {
    /// Messages of `kind` sent.
    pub fn sent(&self, kind: Kind) -> u64 {
        self.sent[slot(kind)]
    }

    /// Messages of `kind` received (well-formed).
    pub fn received(&self, kind: Kind) -> u64 {
        self.received[slot(kind)]
    }

    /// Every message sent.
    pub fn sent_total(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// Maintenance messages sent: everything but routed messages, their
    /// acks and receipts, and join traffic.
    pub fn control_sent(&self) -> u64 {
        self.sent_total()
            - self.sent(Kind::Routed)
            - self.sent(Kind::Ack)
            - self.sent(Kind::Receipt)
            - self.sent(Kind::JoinRequest)
            - self.sent(Kind::JoinReply)
    }

    pub(crate) fn count_sent(&mut self, kind: Kind) {
        self.sent[slot(kind)] += 1;
    }

    pub(crate) fn count_received(&mut self, kind: Kind) {
        self.received[slot(kind)] += 1;
    }

    pub(crate) fn count_decode_error(&mut self, e: DecodeError) {
        match e {
            DecodeError::UnsupportedVersion(_) => self.drops.unsupported_version += 1,
            _ => self.drops.malformed += 1,
        }
    }
}
