//! What a runtime node is built from, and the building.

use alloc::boxed::Box;
use core::net::SocketAddr;
use core::time::Duration;
use std::io;

use crate::dht::MapStore;
use crate::identity::{Identity, Keypair};
use crate::stack::StackConfig;

use super::{Accept, Error, Hop, Hosted, NodeStore, RuntimeStack};

/// What a runtime node is built from; each runtime's builder sets these
/// and adds its own knobs.
#[derive(Debug)]
pub struct Options {
    /// Where the socket binds (port 0: any free port).
    pub listen: SocketAddr,
    /// The address others reach the node at, when not the bound one.
    pub advertise: Option<SocketAddr>,
    /// The overlay's and the services' settings.
    pub config: StackConfig,
    /// The node's key pair and certificate (default: the data
    /// directory's, else a new key each start).
    pub identity: Option<Identity>,
    /// Where the node keeps its key (see [`crate::stack::data_dir`]), so its id
    /// survives a restart.
    pub data_dir: Option<std::path::PathBuf>,
    /// The seed of the core's randomness (default: random per start).
    pub seed: Option<u64>,
    /// The application's per-hop upcall.
    pub hop: Hop,
    /// Which anycasts this member takes.
    pub accept: Accept,
    /// The hosted application.
    pub app: Hosted,
    /// Events kept for the application before newer ones are dropped.
    pub events: usize,
    /// How long a subscribe waits for the member to attach.
    pub attach_timeout: Duration,
    /// Most values, and most bytes of values, the default store holds;
    /// beyond them a put is refused (a replica diverts it, PAST §3.3).
    pub store_limits: (usize, usize),
    /// Where values are kept (default: in memory, within `store_limits`).
    pub store: Option<NodeStore>,
}

/// The store limits a runtime node starts with: 65,536 values and 64 MiB,
/// so no stream of puts can take more of a server's memory than that.
pub const DEFAULT_STORE_LIMITS: (usize, usize) = (65_536, 64 << 20);

impl Options {
    /// The papers' settings, a random id, 1,024 events of buffer, a
    /// 30-second wait for a subscribe to attach and
    /// [`DEFAULT_STORE_LIMITS`].
    pub fn new(listen: SocketAddr) -> Options {
        Options {
            listen,
            advertise: None,
            config: StackConfig::default(),
            identity: None,
            data_dir: None,
            seed: None,
            hop: Hop::default(),
            accept: Accept::default(),
            app: Hosted::default(),
            events: 1024,
            attach_timeout: Duration::from_secs(30),
            store_limits: DEFAULT_STORE_LIMITS,
            store: None,
        }
    }

    /// Builds the node's stack for a socket bound at `bound`; `random`
    /// fills bytes from the operating system's cryptographic source, for
    /// a key and a seed when none was set (the core has no randomness of
    /// its own). The stack is large: built here and boxed, so no future or
    /// small thread stack has to hold it.
    pub fn build(
        self,
        bound: SocketAddr,
        mut random: impl FnMut(&mut [u8]) -> io::Result<()>,
    ) -> Result<Box<RuntimeStack>, Error> {
        let addr = self.advertise.unwrap_or(bound);
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                random(&mut b).map_err(Error::Io)?;
                u64::from_be_bytes(b)
            }
        };
        // In the open mode with a puzzle, a key made here solves it.
        let puzzle = match self.config.node.admission {
            crate::identity::Admission::Open { puzzle_bits } => puzzle_bits,
            crate::identity::Admission::Certified { .. } => 0,
        };
        let identity = match (self.identity, &self.data_dir) {
            (Some(i), _) => i,
            (None, Some(dir)) => {
                crate::stack::data_dir::load_or_create_solving(dir, puzzle, &mut random)
                    .map_err(Error::Io)?
            }
            (None, None) => {
                let wanted = |k: &Keypair| crate::stack::data_dir::solves(k, puzzle);
                let secret =
                    crate::stack::data_dir::draw_secret(wanted, &mut random).map_err(Error::Io)?;
                Identity::new(Keypair::from_secret(secret))
            }
        };
        let (items, bytes) = self.store_limits;
        let store = self
            .store
            .unwrap_or_else(|| NodeStore::new(MapStore::with_limits(items, bytes)));
        let parts = (store, self.accept, self.hop);
        let (config, app) = (self.config, self.app);
        // Built on a thread of its own: an unoptimised build copies the
        // stack (hundreds of KiB) through every constructor's frame, which
        // overflowed a test thread's 2 MiB; optimised builds need little.
        std::thread::scope(|scope| {
            let built = std::thread::Builder::new()
                .name("pastry-build".into())
                .stack_size(BUILD_STACK)
                .spawn_scoped(scope, move || {
                    RuntimeStack::with_app(config, identity, addr, seed, parts, app).map(Box::new)
                })
                .map_err(Error::Io)?;
            match built.join() {
                Ok(stack) => stack.map_err(Error::Config),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Stack of the thread a node is built on (address space; only what is
/// touched is used).
const BUILD_STACK: usize = 32 << 20;
