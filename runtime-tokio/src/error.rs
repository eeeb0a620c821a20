//! Why a command through the handle did not succeed.

use std::fmt;
use std::io;

use pastry_core::client::{ClientError, Refusal};
use pastry_core::dht::{DhtError, PutError};
use pastry_core::scribe::{AnycastError, ScribeError};
use pastry_core::stack::StackError;
use pastry_core::stack::waiters::Failure;
use pastry_core::{CommandError, Id};

/// A command's failure. Every handle call answers with a value or one of
/// these; none waits forever.
#[derive(Debug)]
pub enum Error {
    /// The node has stopped (shut down, or every handle was dropped and it
    /// left); nothing was done.
    Stopped,
    /// The node refused the command (not active, payload too large, queues
    /// full); nothing was sent.
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
    /// No answer within the operation's time limit.
    TimedOut,
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
    /// The node could not be built from its configuration.
    Config(StackError),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stopped => f.write_str("the node has stopped"),
            Error::Command(e) => write!(f, "refused: {e}"),
            Error::Dht(e) => write!(f, "dht refused: {e}"),
            Error::Scribe(e) => write!(f, "scribe refused: {e}"),
            Error::JoinFailed => f.write_str("the join got no answer"),
            Error::Put(PutError::Stale { current }) => {
                write!(f, "stale write: a replica holds version {current}")
            }
            Error::Put(PutError::Forged) => f.write_str("the key is not the value's hash"),
            Error::Put(PutError::TimedOut { replicas }) => {
                write!(f, "only {replicas} replicas stored it in time")
            }
            Error::Anycast(AnycastError::NoneAccepted) => f.write_str("no member accepted"),
            Error::Anycast(AnycastError::TimedOut) => f.write_str("the anycast timed out"),
            Error::TimedOut => f.write_str("no answer in time"),
            Error::Refused { reason, detail } => {
                write!(f, "the member refused: {reason:?} ({detail})")
            }
            Error::Client(e) => write!(f, "client: {e}"),
            Error::Forged(key) => write!(f, "value read under {key} does not hash to it"),
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

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Command(e) => Error::Command(e),
            Failure::Dht(e) => Error::Dht(e),
            Failure::Scribe(e) => Error::Scribe(e),
            Failure::JoinFailed => Error::JoinFailed,
            Failure::Put(e) => Error::Put(e),
            Failure::Anycast(e) => Error::Anycast(e),
            Failure::TimedOut => Error::TimedOut,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
