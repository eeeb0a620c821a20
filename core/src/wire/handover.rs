//! Delivery records on the wire: what a root hands a node joining beside
//! it, at the end of a probe reply, so that a copy of a message it
//! delivered (sent again, or forked by a lost ack) is not delivered a
//! second time by the node that now covers the key.
//!
//! ```text
//! count (1, at most MAX_HANDOVER) | count × ( key (8) | source (8) | message id (8) )
//! ```
//!
//! Keys and sources travel as their ids' first 64 bits: enough to tell
//! which node a key is closer to and to match a message, in a third of
//! the bytes. A reply without records carries a count of zero: a list
//! that could be left out would make a reply cut before it a valid one.

use core::fmt;

use super::cursor::{Reader, Writer};
use super::{DecodeError, EncodeError};
use crate::id::Id;

/// Most records one reply carries.
pub const MAX_HANDOVER: usize = 16;
/// Bytes of one record on the wire.
pub const HANDOVER_RECORD_BYTES: usize = 24;

/// One message the sender delivered as root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HandoverRecord {
    /// The message's key, first 64 bits.
    pub key: u64,
    /// Its source's id, first 64 bits.
    pub source: u64,
    /// Its id.
    pub msg_id: u64,
}

impl HandoverRecord {
    /// The record of `msg_id` from `source` for `key`.
    pub fn new(key: Id, source: Id, msg_id: u64) -> HandoverRecord {
        HandoverRecord {
            key: key.high_64(),
            source: source.high_64(),
            msg_id,
        }
    }
}

impl HandoverRecord {
    fn to_bytes(self) -> [u8; HANDOVER_RECORD_BYTES] {
        let mut b = [0u8; HANDOVER_RECORD_BYTES];
        for (i, word) in [self.key, self.source, self.msg_id].into_iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&word.to_be_bytes());
        }
        b
    }

    fn from_bytes(b: &[u8; HANDOVER_RECORD_BYTES]) -> HandoverRecord {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        HandoverRecord {
            key: word(0),
            source: word(1),
            msg_id: word(2),
        }
    }
}

/// The records in a probe reply.
#[derive(Clone, Copy)]
pub enum Handover<'a> {
    /// Records still in their wire form, already validated.
    Encoded {
        /// Number of records.
        count: u8,
        /// Their bytes.
        bytes: &'a [u8],
    },
    /// Records to be sent.
    Records(&'a [HandoverRecord]),
}

impl<'a> Handover<'a> {
    /// No records.
    pub const NONE: Handover<'static> = Handover::Records(&[]);

    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            Handover::Encoded { count, .. } => usize::from(*count),
            Handover::Records(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records, in wire order.
    pub fn iter(&self) -> HandoverIter<'a> {
        match *self {
            Handover::Encoded { bytes, .. } => HandoverIter {
                bytes,
                records: &[],
            },
            Handover::Records(records) => HandoverIter {
                bytes: &[],
                records,
            },
        }
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Handover<'a>, DecodeError> {
        let count = r.u8()?;
        if usize::from(count) > MAX_HANDOVER {
            return Err(DecodeError::TooLong);
        }
        let bytes = r.take(usize::from(count) * HANDOVER_RECORD_BYTES)?;
        Ok(Handover::Encoded { count, bytes })
    }

    /// Bytes on the wire, count byte included.
    pub fn encoded_len(&self) -> usize {
        1 + self.len() * HANDOVER_RECORD_BYTES
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.len() > MAX_HANDOVER {
            return Err(EncodeError::ListTooLong { len: self.len() });
        }
        Ok(())
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        // `check` ran first: the count fits.
        w.u8(self.len() as u8);
        match self {
            Handover::Encoded { bytes, .. } => w.bytes(bytes),
            Handover::Records(records) => {
                for rec in records.iter() {
                    w.bytes(&rec.to_bytes());
                }
            }
        }
    }
}

/// Iterator over a [`Handover`].
#[derive(Clone, Debug)]
pub struct HandoverIter<'a> {
    bytes: &'a [u8],
    records: &'a [HandoverRecord],
}

impl Iterator for HandoverIter<'_> {
    type Item = HandoverRecord;

    fn next(&mut self) -> Option<HandoverRecord> {
        if let Some((first, rest)) = self.records.split_first() {
            self.records = rest;
            return Some(*first);
        }
        // Validated at decode time: whole records only.
        let (rec, rest) = self.bytes.split_first_chunk::<HANDOVER_RECORD_BYTES>()?;
        self.bytes = rest;
        Some(HandoverRecord::from_bytes(rec))
    }
}

impl PartialEq for Handover<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Handover<'_> {}

impl fmt::Debug for Handover<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
