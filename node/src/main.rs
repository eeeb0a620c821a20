//! `pastry-node`: run one Pastry node, or act as a client of a running one.
//!
//! ```text
//! pastry-node run --listen 127.0.0.1:4000 --data-dir /var/lib/pastry
//! pastry-node run --listen 127.0.0.1:4001 --bootstrap localhost:4000
//! pastry-node id --data-dir /var/lib/pastry
//! pastry-node authority --dir /etc/pastry-authority
//! pastry-node certify --dir /etc/pastry-authority --node /var/lib/pastry --days 365
//! pastry-node run --listen 127.0.0.1:4000 --data-dir /var/lib/pastry --authority <key>
//! pastry-node put --via 127.0.0.1:4001 greeting hello
//! pastry-node get --via 127.0.0.1:4000 greeting
//! pastry-node provider --dir ~/.pastry-provider
//! pastry-node run --listen 127.0.0.1:4002 --bootstrap localhost:4000 --trust-provider <key>
//! pastry-node deploy --via 127.0.0.1:4002 --app 0xa010 --end-node top_k.wasm --key ~/.pastry-provider
//! pastry-node peerlets --metrics 127.0.0.1:9100
//! pastry-node put --via 127.0.0.1:4001 session abc --ttl 30m
//! pastry-node delete --via 127.0.0.1:4001 greeting --version 2
//! ```

mod client;
mod keys;
mod metrics;
mod run;
mod settings;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pastry_core::Id;
use pastry_core::scribe::group_id;
use pastry_tokio::{Client, Publications};

/// Runs a Pastry overlay node, or talks to one as a client.
///
/// Keys and groups are names (hashed with SHA-1) unless given as 40 hex
/// digits with --hex.
#[derive(Parser, Debug)]
#[command(name = "pastry-node", version, about, long_about = None)]
struct Cli {
    /// Log more (-v: debug, -vv: trace); RUST_LOG, when set, decides
    /// instead (as `RUST_LOG=pastry_tokio=debug,info`).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one node until SIGTERM or SIGINT (Ctrl-C), which leave the
    /// overlay gracefully and exit 0.
    Run(Run),
    /// Prints the node's id (40 hex digits) and public key, making its key
    /// if the data directory has none, and its certificate if it has one.
    Id {
        /// The node's data directory.
        #[arg(long)]
        data_dir: std::path::PathBuf,
        /// A key made here solves a static puzzle of this many bits (as
        /// `run --puzzle-bits`).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=24))]
        puzzle_bits: u8,
    },
    /// Shows a running node's state (id, leaf set, routing-table fill,
    /// counters), read from its metrics endpoint (`run --metrics ADDR`).
    Status {
        /// The node's metrics address.
        #[arg(long)]
        metrics: String,
    },
    /// Prints a config file for `run --config` with every setting at its
    /// default.
    Config {
        /// The local-network timers' values (as `run --lan`).
        #[arg(long)]
        lan: bool,
    },
    /// Prints an admission authority's public key, making the key (in
    /// DIR/authority.key, owner-only) if there is none. Nodes given it
    /// with `run --authority` admit only peers it certified.
    Authority {
        /// The authority's directory (keep it apart from any node's).
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Prints a peerlet provider's public key (for nodes' --trust-provider),
    /// making the key in the directory if there is none.
    Provider {
        /// The provider's directory (keep it apart from any node's).
        #[arg(long)]
        dir: std::path::PathBuf,
    },
    /// Deploys a peerlet: signs a manifest for the WebAssembly module with
    /// the provider's key and stores the module (in chunks) and the
    /// manifest in the DHT, each under its content hash. Prints the
    /// manifest's key, which messages name the peerlet by.
    #[command(group(clap::ArgGroup::new("kind").required(true).args(["per_hop", "end_node"])))]
    Deploy {
        #[command(flatten)]
        via: Via,
        /// The module (.wasm).
        module: std::path::PathBuf,
        /// Its application id, in 0xa000..=0xafff.
        #[arg(long, value_parser = app_id)]
        app: u16,
        /// Run on every node of a message's path (`pastry_forward`).
        #[arg(
            long,
            conflicts_with = "end_node",
            required_unless_present = "end_node"
        )]
        per_hop: bool,
        /// Run where a message ends (`pastry_deliver`).
        #[arg(long)]
        end_node: bool,
        /// The provider's directory (`pastry-node provider`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The provider's version of it.
        #[arg(long, default_value_t = 1)]
        version: u64,
    },
    /// Lists the peerlets a node runs, with what they used, from its
    /// metrics endpoint.
    Peerlets {
        /// The node's metrics address.
        #[arg(long)]
        metrics: String,
    },
    /// Certifies a node's key with the authority's: writes the certificate
    /// into the node's data directory (--node), or prints it for the
    /// node.cert file of a node elsewhere (--key).
    Certify {
        /// The authority's directory.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// The node's data directory on this host (its key is made if it
        /// has none).
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        node: Option<std::path::PathBuf>,
        /// The node's public key, 64 hex digits (as `pastry-node id` prints).
        #[arg(long)]
        key: Option<String>,
        /// Days until the certificate expires.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
    /// Stores a value (client of a running node).
    Put {
        #[command(flatten)]
        via: Via,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The value's version; a replica holding a newer one refuses it.
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// Replicas drop it after this long ("90s", "10m", "24h"; to a
        /// second); a put of the same version renews it. Default: kept
        /// until replaced or deleted.
        #[arg(long, value_parser = ttl)]
        ttl: Option<Duration>,
    },
    /// Stores a value under its SHA-1 and prints the key.
    PutContent {
        #[command(flatten)]
        via: Via,
        /// The value.
        value: String,
        /// Replicas drop it after this long (see `put --ttl`); a
        /// content-hash value cannot be deleted, only left to expire.
        #[arg(long, value_parser = ttl)]
        ttl: Option<Duration>,
    },
    /// Deletes a key: its replicas keep a tombstone at this version, so
    /// no older version comes back (client of a running node).
    Delete {
        #[command(flatten)]
        via: Via,
        /// The key.
        key: String,
        /// The deletion's version, above the stored value's.
        #[arg(long)]
        version: u64,
    },
    /// Reads a value.
    Get {
        #[command(flatten)]
        via: Via,
        /// The key.
        key: String,
        /// The key is a content hash: check the value against it.
        #[arg(long)]
        content: bool,
    },
    /// Routes a message to the node numerically closest to a key.
    Route {
        #[command(flatten)]
        via: Via,
        /// The key.
        key: String,
        /// The message.
        message: String,
        /// The application id the message names.
        #[arg(long, default_value_t = 1)]
        app: u16,
    },
    /// Publishes to a multicast group.
    Publish {
        #[command(flatten)]
        via: Via,
        /// The group.
        group: String,
        /// The message.
        message: String,
    },
    /// Follows a multicast group and prints its publications.
    Subscribe {
        #[command(flatten)]
        via: Via,
        /// The group.
        group: String,
        /// Stop after this many publications (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Offers a message to one member of a group; prints who took it.
    Anycast {
        #[command(flatten)]
        via: Via,
        /// The group.
        group: String,
        /// The message.
        message: String,
    },
}

#[derive(Args, Debug)]
struct Run {
    /// A config file (TOML; `pastry-node config` prints one with every
    /// setting). The flags below override it.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Address to listen on (port 0: any free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address others reach this node at, if not the listening one.
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// A running node to join through, HOST:PORT (a name is resolved and
    /// each of its addresses tried); repeat to try several in turn. The
    /// peers the data directory knew are tried after these. With none of
    /// either, the node starts a new overlay.
    #[arg(long)]
    bootstrap: Vec<String>,
    /// The directory that keeps the node's key (made on first start), its
    /// values (store.redb) and the peers it knew, so a restart has the
    /// same id, keeps the values and rejoins. Without one, the node makes
    /// a new key, and so a new id, each time, and keeps values in memory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Timers for a local network (failures noticed in seconds, not a
    /// minute; more heartbeat traffic).
    #[arg(long)]
    lan: bool,
    /// Admit only peers certified by this authority (its public key, 64
    /// hex digits, as `pastry-node authority` prints); this node needs a
    /// certificate from it in its data directory. Without it, any key is
    /// admitted (each still proves it holds its id's key).
    #[arg(long, conflicts_with = "puzzle_bits")]
    authority: Option<String>,
    /// Admit only peers whose id's SHA-1 has this many leading zero bits
    /// (S/Kademlia's static puzzle: placing an id next to a chosen key
    /// costs about 2^N key generations). A key made for this node solves
    /// it; a key already in the data directory must.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=24))]
    puzzle_bits: Option<u8>,
    /// Groups to join as a member (their publications are logged).
    #[arg(long)]
    subscribe: Vec<String>,
    /// Serve the node's counters for Prometheus at http://ADDR/metrics.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Run the peerlets this provider deploys (its public key, 64 hex
    /// digits, as `pastry-node provider` prints); repeat for several.
    /// Without any, the node runs no peerlet (it hands their messages to
    /// the next node that might).
    #[arg(long)]
    trust_provider: Vec<String>,
    /// Testbeds only: delay every datagram sent by this many milliseconds.
    #[arg(long, hide = true, default_value_t = 0)]
    impair_delay_ms: u64,
    /// Testbeds only: drop this fraction of the datagrams sent.
    #[arg(long, hide = true, default_value_t = 0.0)]
    impair_loss: f64,
}

#[derive(Args, Debug)]
struct Via {
    /// The running node to ask, HOST:PORT.
    #[arg(long)]
    via: String,
    /// Keys and groups are 40 hex digits, not names.
    #[arg(long)]
    hex: bool,
    /// Seconds to wait for the node's answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

impl Via {
    /// A client of the node named by --via.
    async fn connect(&self) -> Result<(Client, Publications), String> {
        let addr = tokio::net::lookup_host(self.via.as_str())
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("--via {}: not an address or a name that resolves", self.via))?;
        Client::connect(addr).await.map_err(|e| e.to_string())
    }

    /// The answer of `call`, or an error after --timeout seconds.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, pastry_tokio::Error>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(Duration::from_secs(self.timeout), call).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "no answer from {} within {} s (--timeout)",
                self.via, self.timeout
            )),
        }
    }

    fn id(&self, s: &str) -> Result<Id, String> {
        if self.hex {
            s.parse().map_err(|e| format!("{s}: {e}"))
        } else {
            Ok(Id::sha1(s.as_bytes()))
        }
    }

    fn group(&self, s: &str) -> Result<Id, String> {
        if self.hex {
            s.parse().map_err(|e| format!("{s}: {e}"))
        } else {
            Ok(group_id(s.as_bytes()))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG (EnvFilter's syntax, as `pastry_core=debug,info`) wins;
    // without it, -v and -vv raise the level for every crate.
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let r = match cli.command {
        Command::Run(run) => match settings::resolve(run) {
            Ok(s) => run::run_node(s).await,
            Err(e) => Err(e),
        },
        Command::Config { lan } => settings::example(lan).map(|text| print!("{text}")),
        Command::Status { metrics } => metrics::fetch(&metrics, "/status")
            .await
            .map(|text| print!("{text}")),
        Command::Id {
            data_dir,
            puzzle_bits,
        } => keys::show_id(&data_dir, puzzle_bits),
        Command::Authority { dir } => keys::show_authority(&dir),
        Command::Provider { dir } => keys::show_provider(&dir),
        Command::Peerlets { metrics } => metrics::fetch(&metrics, "/peerlets")
            .await
            .map(|text| print!("{text}")),
        Command::Certify {
            dir,
            node,
            key,
            days,
        } => keys::certify(&dir, node.as_deref(), key.as_deref(), days),
        other => client::client(other).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pastry-node: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A `--ttl` value: a whole number and a unit.
fn ttl(text: &str) -> Result<Duration, String> {
    match pastry_core::config::duration::parse(text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{text:?}: a time to live is a whole number and a unit (h, m, s, ms), above zero"
        )),
    }
}

/// An `--app` value: a peerlet's application id, decimal or 0x-hex.
fn app_id(text: &str) -> Result<u16, String> {
    let n = match text.strip_prefix("0x") {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|e| format!("{text:?}: {e}"))?;
    if pastry_peerlet::manifest::APP_IDS.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{text}: peerlets' application ids are 0xa000..=0xafff"
        ))
    }
}
