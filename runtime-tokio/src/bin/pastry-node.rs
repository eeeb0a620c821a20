//! `pastry-node`: run one Pastry node, or act as a client of a running one.
//!
//! ```text
//! pastry-node run --listen 127.0.0.1:4000 --data-dir /var/lib/pastry
//! pastry-node run --listen 127.0.0.1:4001 --bootstrap 127.0.0.1:4000
//! pastry-node id --data-dir /var/lib/pastry
//! pastry-node authority --dir /etc/pastry-authority
//! pastry-node certify --dir /etc/pastry-authority --node /var/lib/pastry --days 365
//! pastry-node run --listen 127.0.0.1:4000 --data-dir /var/lib/pastry --authority <key>
//! pastry-node put --via 127.0.0.1:4001 greeting hello
//! pastry-node get --via 127.0.0.1:4000 greeting
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pastry_core::identity::{Admission, Certificate, PublicKey, UnixTime};
use pastry_core::scribe::group_id;
use pastry_core::stack::{StackConfig, data_dir};
use pastry_core::{AppId, Id};
use pastry_tokio::{Builder, Client, Error, NodeEvent};

/// Runs a Pastry overlay node, or talks to one as a client.
///
/// Keys and groups are names (hashed with SHA-1) unless given as 40 hex
/// digits with --hex.
#[derive(Parser, Debug)]
#[command(name = "pastry-node", version, about, long_about = None)]
struct Cli {
    /// Log more (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one node until interrupted (Ctrl-C leaves the overlay gracefully).
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
    /// Prints an admission authority's public key, making the key (in
    /// DIR/authority.key, owner-only) if there is none. Nodes given it
    /// with `run --authority` admit only peers it certified.
    Authority {
        /// The authority's directory (keep it apart from any node's).
        #[arg(long)]
        dir: std::path::PathBuf,
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
    },
    /// Stores a value under its SHA-1 and prints the key.
    PutContent {
        #[command(flatten)]
        via: Via,
        /// The value.
        value: String,
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
    /// Address to listen on (port 0: any free port).
    #[arg(long)]
    listen: SocketAddr,
    /// Address others reach this node at, if not the listening one.
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// A running node to join through (repeat to try several in turn).
    /// Without one, the node starts a new overlay.
    #[arg(long)]
    bootstrap: Vec<SocketAddr>,
    /// The directory that keeps the node's key (made on first start), so
    /// its id is the same after a restart. Without one, the node makes a
    /// new key, and so a new id, each time.
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
}

#[derive(Args, Debug)]
struct Via {
    /// The running node to ask.
    #[arg(long)]
    via: SocketAddr,
    /// Keys and groups are 40 hex digits, not names.
    #[arg(long)]
    hex: bool,
}

impl Via {
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
    let level = match cli.verbose {
        0 => tracing::Level::INFO,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let r = match cli.command {
        Command::Run(run) => run_node(run).await,
        Command::Id {
            data_dir,
            puzzle_bits,
        } => show_id(&data_dir, puzzle_bits),
        Command::Authority { dir } => show_authority(&dir),
        Command::Certify {
            dir,
            node,
            key,
            days,
        } => certify(&dir, node.as_deref(), key.as_deref(), days),
        other => client(other).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pastry-node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn show_id(dir: &std::path::Path, puzzle_bits: u8) -> Result<(), String> {
    let identity =
        data_dir::load_or_create_solving(dir, puzzle_bits, os_random).map_err(|e| e.to_string())?;
    println!("id          {}", identity.id());
    println!(
        "public key  {}",
        data_dir::hex(&identity.keypair.public().to_bytes())
    );
    match identity.certificate {
        Some(c) => println!("certificate expires {} (Unix time)", c.expires.0),
        None => println!("certificate none"),
    }
    Ok(())
}

fn os_random(b: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(b).map_err(std::io::Error::other)
}

fn show_authority(dir: &std::path::Path) -> Result<(), String> {
    let key = data_dir::load_or_create_key(dir, data_dir::AUTHORITY_FILE, os_random)
        .map_err(|e| e.to_string())?;
    println!("{}", data_dir::hex(&key.public().to_bytes()));
    Ok(())
}

fn public_key(hex: &str) -> Result<PublicKey, String> {
    let bytes = data_dir::parse_hex::<32>(hex.trim()).ok_or("a public key is 64 hex digits")?;
    PublicKey::from_bytes(bytes).map_err(|e| format!("{hex}: {e}"))
}

fn certify(
    dir: &std::path::Path,
    node: Option<&std::path::Path>,
    key: Option<&str>,
    days: u64,
) -> Result<(), String> {
    let authority = data_dir::load_or_create_key(dir, data_dir::AUTHORITY_FILE, os_random)
        .map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let expires = UnixTime(now.saturating_add(days.saturating_mul(86_400)));
    match (node, key) {
        (Some(node_dir), _) => {
            let identity =
                data_dir::load_or_create(node_dir, os_random).map_err(|e| e.to_string())?;
            let cert = Certificate::issue(&authority, identity.keypair.public(), expires);
            data_dir::store_certificate(node_dir, &cert).map_err(|e| e.to_string())?;
            println!(
                "certified {} until {} (Unix time)",
                identity.id(),
                expires.0
            );
        }
        (None, Some(hex)) => {
            let cert = Certificate::issue(&authority, public_key(hex)?, expires);
            println!("{}", data_dir::hex(&cert.to_bytes()));
        }
        (None, None) => return Err("give --node or --key".into()),
    }
    Ok(())
}

async fn run_node(run: Run) -> Result<(), String> {
    let mut config = if run.lan {
        StackConfig::lan()
    } else {
        StackConfig::default()
    };
    if let Some(hex) = &run.authority {
        config.node.admission = Admission::Certified {
            authority: public_key(hex)?,
        };
    }
    if let Some(puzzle_bits) = run.puzzle_bits {
        config.node.admission = Admission::Open { puzzle_bits };
    }
    let mut b = Builder::new(run.listen).config(config);
    if let Some(a) = run.advertise {
        b = b.advertise(a);
    }
    if let Some(dir) = run.data_dir {
        b = b.data_dir(dir);
    }
    let (node, mut events) = b.spawn().await.map_err(|e| e.to_string())?;
    let own = node.own();
    tracing::info!(id = %own.id, addr = %own.addr, "node started");
    let mut joined = run.bootstrap.is_empty() && node.join(None).await.is_ok();
    for boot in &run.bootstrap {
        match node.join(Some(*boot)).await {
            Ok(()) => {
                joined = true;
                break;
            }
            Err(e) => tracing::warn!(%boot, error = %e, "could not join"),
        }
    }
    if !joined {
        return Err("could not join through any bootstrap node".into());
    }
    let groups: Vec<(String, Id)> = run
        .subscribe
        .iter()
        .map(|g| (g.clone(), group_id(g.as_bytes())))
        .collect();
    for (name, group) in &groups {
        if let Err(e) = node.subscribe(*group).await {
            tracing::warn!(group = %name, error = %e, "subscribe");
        }
    }
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(NodeEvent::Deliver { key, app, source, payload, .. }) => tracing::info!(
                    %key, app = app.0, from = %source.addr,
                    message = %String::from_utf8_lossy(&payload), "delivered"
                ),
                Some(NodeEvent::Multicast { group, data, .. }) => {
                    let name = groups.iter().find(|(_, g)| *g == group).map_or("?", |(n, _)| n);
                    tracing::info!(group = %name, message = %String::from_utf8_lossy(&data), "multicast");
                }
                Some(_) => {}
                None => return Err("the node stopped".into()),
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await.map_err(|e| e.to_string())
}

async fn client(command: Command) -> Result<(), String> {
    let s = |e: Error| e.to_string();
    match command {
        Command::Run(_)
        | Command::Id { .. }
        | Command::Authority { .. }
        | Command::Certify { .. } => {
            unreachable!("handled in main")
        }
        Command::Put {
            via,
            key,
            value,
            version,
        } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let key = via.id(&key)?;
            let n = c.put(key, version, value.into_bytes()).await.map_err(s)?;
            println!("stored {key} on {n} replicas");
        }
        Command::PutContent { via, value } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let (key, n) = c.put_content(value.into_bytes()).await.map_err(s)?;
            println!("{key} (stored on {n} replicas)");
        }
        Command::Get { via, key, content } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let key = via.id(&key)?;
            let v = if content {
                c.get_content(key).await
            } else {
                c.get(key).await
            };
            match v.map_err(s)? {
                Some(v) => println!("{}", String::from_utf8_lossy(&v.bytes)),
                None => return Err(format!("{key}: not found")),
            }
        }
        Command::Route {
            via,
            key,
            message,
            app,
        } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let key = via.id(&key)?;
            let id = c
                .route(key, AppId(app), message.into_bytes())
                .await
                .map_err(s)?;
            println!("routed to {key} as message {id:#x}");
        }
        Command::Publish {
            via,
            group,
            message,
        } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let id = c
                .publish(via.group(&group)?, message.into_bytes())
                .await
                .map_err(s)?;
            println!("published as {id:#x}");
        }
        Command::Anycast {
            via,
            group,
            message,
        } => {
            let (c, _) = Client::connect(via.via).await.map_err(s)?;
            let by = c
                .anycast(via.group(&group)?, message.into_bytes())
                .await
                .map_err(s)?;
            println!("taken by {} at {}", by.id, by.addr);
        }
        Command::Subscribe { via, group, count } => {
            let (c, mut publications) = Client::connect(via.via).await.map_err(s)?;
            c.subscribe(via.group(&group)?).await.map_err(s)?;
            eprintln!("following {group}; Ctrl-C to stop");
            let mut seen = 0;
            while count.is_none_or(|n| seen < n) {
                tokio::select! {
                    p = publications.recv() => match p {
                        Some(p) => {
                            println!("{}", String::from_utf8_lossy(&p.data));
                            seen += 1;
                        }
                        None => return Err("the client stopped".into()),
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), c.unsubscribe(via.group(&group)?))
                .await;
        }
    }
    Ok(())
}
