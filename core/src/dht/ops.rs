//! A node's own operations in flight: what each waits for.

#[cfg(feature = "secure-routing")]
use super::secure;
use super::{DhtEvent, OpId, PutError};
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

impl PutAcks {
    /// None yet, complete at `quorum`.
    pub(super) fn new(version: u64, quorum: usize) -> PutAcks {
        PutAcks {
            version,
            acks: 0,
            ackers: [0; 8],
            quorum: quorum.clamp(1, usize::from(u8::MAX)) as u8,
        }
    }
}

impl OpKind {
    /// A put's acknowledgements, plain or secure.
    pub(super) fn put_acks(&self) -> Option<&PutAcks> {
        match self {
            OpKind::Put(a) => Some(a),
            #[cfg(feature = "secure-routing")]
            OpKind::SecurePut { acks, .. } => Some(acks),
            _ => None,
        }
    }

    pub(super) fn put_acks_mut(&mut self) -> Option<&mut PutAcks> {
        match self {
            OpKind::Put(a) => Some(a),
            #[cfg(feature = "secure-routing")]
            OpKind::SecurePut { acks, .. } => Some(acks),
            _ => None,
        }
    }

    pub(super) fn is_put(&self) -> bool {
        self.put_acks().is_some()
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Op {
    pub(super) id: u64,
    pub(super) key: Id,
    pub(super) deadline: Instant,
    pub(super) kind: OpKind,
}

impl Op {
    /// Its outcome when it ends unanswered: a put with the acks it has, a
    /// get timed out.
    pub(super) fn timed_out(&self) -> DhtEvent<'static> {
        let (op, key) = (OpId(self.id), self.key);
        match self.kind.put_acks() {
            Some(a) => DhtEvent::PutFailed {
                op,
                key,
                error: PutError::TimedOut { replicas: a.acks },
            },
            None => DhtEvent::GetTimedOut { op, key },
        }
    }
}
