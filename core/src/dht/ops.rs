//! A node's own operations in flight: what each waits for.

#[cfg(feature = "secure-routing")]
use super::secure;
use crate::id::Id;
use crate::time::Instant;

/// A put's acknowledgements so far.
#[derive(Clone, Copy, Debug)]
pub(super) struct PutAcks {
    pub(super) version: u64,
    pub(super) acks: u8,
    pub(super) ackers: [u32; 8],
    /// Acks that complete it: the configured quorum, or fewer when the
    /// whole overlay has fewer nodes than that (or a secure lookup found
    /// fewer roots).
    pub(super) quorum: u8,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum OpKind {
    Put(PutAcks),
    Get {
        min_version: u64,
        content: bool,
        /// Only a value signed by the key's owner answers it.
        signed: bool,
        retried: bool,
    },
    /// A put sent to each root secure lookup `lookup` finds.
    #[cfg(feature = "secure-routing")]
    SecurePut {
        acks: PutAcks,
        lookup: u64,
    },
    /// A get sent to each root a secure lookup finds, its answers tallied.
    #[cfg(feature = "secure-routing")]
    SecureGet(secure::Tally),
}

impl OpKind {
    pub(super) fn is_put(&self) -> bool {
        match self {
            OpKind::Put(_) => true,
            #[cfg(feature = "secure-routing")]
            OpKind::SecurePut { .. } => true,
            _ => false,
        }
    }

    pub(super) fn put_acks(&mut self) -> Option<&mut PutAcks> {
        match self {
            OpKind::Put(a) => Some(a),
            #[cfg(feature = "secure-routing")]
            OpKind::SecurePut { acks, .. } => Some(acks),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Op {
    pub(super) id: u64,
    pub(super) key: Id,
    pub(super) deadline: Instant,
    pub(super) kind: OpKind,
}
