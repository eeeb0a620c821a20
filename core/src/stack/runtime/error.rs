//! A handle's errors, one type for both runtimes.

use core::fmt;
use std::io;

use crate::client::{ClientError, Refusal};
use crate::dht::{DhtError, PutError};
use crate::id::Id;
use crate::node::CommandError;
use crate::scribe::{AnycastError, ScribeError};
use crate::stack::StackError;
use crate::stack::waiters::Failure;

/// A command's failure. Every handle call answers with a value or one of
/// these; none waits forever.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The node or its event loop has stopped; nothing was done.
    Stopped,
    /// The command queue is full; retry later.
    Busy,
    /// No answer within the call's time limit (the command may still
    /// complete).
    TimedOut,
    /// The node refused the command (not active, payload too large,
    /// queues full); nothing was sent.
    Command(CommandError),
    /// The DHT refused the command.
    Dht(DhtError),
    /// Scribe refused the command.
    Scribe(ScribeError),
    /// The join got no answer after every retry.
    JoinFailed,
    /// A put was refused by the replicas or did not reach its quorum.
    Put(PutError),
    /// An anycast found no member that accepts.
    Anycast(AnycastError),
    /// The value or payload is over the limit, `max` bytes (the same
    /// error whether the node or a member for a client said so).
    TooLarge {
        /// The most bytes allowed.
        max: u64,
    },
    /// The member a client asked refused the request (see [`Refusal`];
    /// `detail` is a limit or a version where one applies).
    Refused {
        /// Why.
        reason: Refusal,
        /// The number that goes with it, or 0.
        detail: u64,
    },
    /// The client could not send the request.
    Client(ClientError),
    /// The content-hash key of a value read is not the value's hash.
    Forged(Id),
    /// A secure get's replica roots disagreed and none of their answers
    /// had a majority: nothing trustworthy to return.
    Disputed,
    /// The node hosts no application of the type asked for.
    NoApp,
    /// The node could not be built from its configuration.
    Config(StackError),
    /// The socket or the poller failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stopped => f.write_str("the node has stopped"),
            Error::Busy => f.write_str("the command queue is full"),
            Error::TimedOut => f.write_str("no answer in time"),
            Error::Command(e) => write!(f, "refused: {e}"),
            Error::Dht(e) => write!(f, "dht refused: {e}"),
            Error::Scribe(e) => write!(f, "scribe refused: {e}"),
            Error::JoinFailed => f.write_str("the join got no answer"),
            Error::Put(e) => write!(f, "{e}"),
            Error::Anycast(e) => write!(f, "{e}"),
            Error::TooLarge { max } => write!(f, "over the limit of {max} bytes"),
            Error::Refused { reason, detail: 0 } => write!(f, "the member refused: {reason}"),
            Error::Refused { reason, detail } => {
                write!(f, "the member refused: {reason} ({detail})")
            }
            Error::Client(e) => write!(f, "client: {e}"),
            Error::Forged(key) => write!(f, "value read under {key} does not hash to it"),
            Error::Disputed => f.write_str("the replica roots disagree, none by a majority"),
            Error::NoApp => f.write_str("no hosted application of that type"),
            Error::Config(e) => write!(f, "bad configuration: {e}"),
            Error::Io(e) => write!(f, "socket: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Command(e) => Some(e),
            Error::Dht(e) => Some(e),
            Error::Scribe(e) => Some(e),
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The error a client's runtime answers for a member's refusal: the
    /// same variant a node's own handle would give where there is one.
    pub fn from_refusal(reason: Refusal, detail: u64) -> Error {
        match reason {
            Refusal::Stale => Error::Put(PutError::Stale { current: detail }),
            Refusal::Forged => Error::Put(PutError::Forged),
            Refusal::Protected => Error::Put(PutError::Protected),
            Refusal::OverQuota => Error::Put(PutError::OverQuota),
            Refusal::TimedOut => Error::TimedOut,
            Refusal::NoneAccepted => Error::Anycast(AnycastError::NoneAccepted),
            Refusal::Busy => Error::Busy,
            Refusal::TooLarge => Error::TooLarge { max: detail },
            reason => Error::Refused { reason, detail },
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        let too_large = |max: usize| Error::TooLarge { max: max as u64 };
        match f {
            Failure::Command(CommandError::PayloadTooLarge { max })
            | Failure::Dht(DhtError::ValueTooLarge { max })
            | Failure::Scribe(ScribeError::PayloadTooLarge { max }) => too_large(max),
            Failure::Command(e) => Error::Command(e),
            Failure::Dht(e) => Error::Dht(e),
            Failure::Scribe(e) => Error::Scribe(e),
            Failure::JoinFailed => Error::JoinFailed,
            Failure::Put(e) => Error::Put(e),
            Failure::Anycast(e) => Error::Anycast(e),
            Failure::TimedOut => Error::TimedOut,
            Failure::Disputed => Error::Disputed,
        }
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Busy => Error::Busy,
            ClientError::TooLarge { max } => Error::TooLarge { max: max as u64 },
            e => Error::Client(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
