//! What the application gets back: events, values, counters and errors,
//! as owned values that cross threads.

use std::fmt;
use std::io;

use pastry_core::CommandError;
use pastry_core::client::Refusal;
use pastry_core::dht::{DhtError, DhtStats, PutError};
use pastry_core::node::Stats as NodeStats;
use pastry_core::scribe::{AnycastError, ScribeError, ScribeStats};
use pastry_core::stack::StackError;
use pastry_core::stack::waiters::Failure;

/// What the runtime counts for one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Datagrams read.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Sends that would have blocked (kept and sent later).
    pub send_blocked: u64,
    /// Sends the system refused (dropped; the overlay recovers as from a loss).
    pub send_errors: u64,
    /// Reads the system failed.
    pub recv_errors: u64,
    /// Events dropped because the application did not read them in time.
    pub events_dropped: u64,
}

/// A snapshot of every counter of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The overlay's (malformed and hostile datagrams are counted here).
    pub node: NodeStats,
    /// The DHT's.
    pub dht: DhtStats,
    /// Scribe's.
    pub scribe: ScribeStats,
    /// The runtime's.
    pub runtime: RuntimeStats,
}

/// A command's failure. Every handle call answers a value or one of these
/// within its time limit.
#[derive(Debug)]
pub enum Error {
    /// The node or the event loop has stopped; nothing was done.
    Stopped,
    /// The command queue is full; retry later.
    Busy,
    /// No answer within the handle's time limit (the command may still
    /// complete).
    TimedOut,
    /// The node refused the command.
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
    /// The member a client asked refused the request (`detail` is a limit
    /// where one applies).
    Refused {
        /// Why.
        reason: Refusal,
        /// The number that goes with it, or 0.
        detail: u64,
    },
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
            Error::Put(e) => write!(f, "put failed: {e:?}"),
            Error::Anycast(e) => write!(f, "anycast failed: {e:?}"),
            Error::Refused { reason, detail } => {
                write!(f, "the member refused: {reason:?} ({detail})")
            }
            Error::Config(e) => write!(f, "bad configuration: {e}"),
            Error::Io(e) => write!(f, "socket: {e}"),
        }
    }
}

impl std::error::Error for Error {}

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
