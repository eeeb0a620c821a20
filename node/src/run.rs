//! `pastry-node run`: one node as a service. It keeps its key, its values
//! and the peers it knew in the data directory, rejoins through those
//! peers after a restart, and leaves the overlay on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pastry_core::Id;
use pastry_core::Peer;
use pastry_core::dht::Store;
use pastry_core::scribe::group_id;
use pastry_core::stack::data_dir;
use pastry_peerlet::{Hops, PeerletEvent, Peerlets, Policy};
use pastry_store::DiskStore;
use pastry_tokio::{Builder, Handle, NodeEvent};

use crate::settings::Settings;

/// How often the peers file is rewritten while the node runs. It is first
/// written as soon as the join completes (a node killed a moment later
/// must still rejoin rather than start an overlay of its own), again a
/// little later once the routing table has filled, then periodically.
const PEERS_PERIOD: Duration = Duration::from_secs(60);
const PEERS_FIRST: Duration = Duration::from_secs(10);
/// How long a start keeps trying its bootstrap nodes and known peers. A
/// node restarted at once after a crash has an old self the overlay has
/// not yet declared failed (a lease and a probe cycle: seconds with the
/// LAN timers, about a minute with the papers'), and a join routed to
/// that old self goes unanswered until then.
const JOIN_PATIENCE: Duration = Duration::from_secs(150);

pub(crate) async fn run_node(run: Settings) -> Result<(), String> {
    if run.listen.ip().is_unspecified() && run.advertise.is_none() {
        return Err(format!(
            "--listen {} is a wildcard: peers would be told to reach this node at {}; \
             give --advertise with the address they can reach",
            run.listen, run.listen
        ));
    }
    let mut b = Builder::new(run.listen).config(run.stack.clone());
    if let Some(a) = run.advertise {
        b = b.advertise(a);
    }
    if let Some(n) = run.events {
        b = b.event_capacity(n);
    }
    if let Some((delay_ms, loss)) = run.impair {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        tracing::warn!(
            delay_ms,
            loss,
            "impaired: every datagram sent is delayed, some dropped"
        );
        b = b.impairment(pastry_tokio::Impairment {
            delay: Duration::from_millis(delay_ms),
            loss,
            seed: u64::from_be_bytes(seed),
        });
    }
    let (values, bytes) = run.store_limits;
    b = b.store_limits(values, bytes);
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
    let policy = Policy {
        trusted: run.trusted.clone(),
        ..Policy::default()
    };
    if !policy.trusted.is_empty() {
        tracing::info!(
            providers = policy.trusted.len(),
            "runs peerlets of trusted providers"
        );
    }
    b = b
        .app(Peerlets::new(policy, u64::from_be_bytes(seed)))
        .forwarder(Hops);
    let dir = run.data_dir.as_deref();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let store = DiskStore::open_with_limits(dir, values, bytes)
            .map_err(|e| format!("{}: {e}", dir.join(pastry_store::STORE_FILE).display()))?;
        tracing::info!(values = store.len(), path = %store.path().display(), "store opened");
        b = b.data_dir(dir).store(store);
    }
    let (node, mut events) = b.spawn().await.map_err(|e| e.to_string())?;
    let own = node.own();
    tracing::info!(id = %own.id, addr = %own.addr, "node started");
    if let Some(addr) = run.metrics {
        let bound = crate::metrics::serve(addr, node.clone()).await?;
        tracing::info!(%bound, "metrics at http://{bound}/metrics");
    }
    join(&node, &run.bootstrap, dir).await?;
    remember_peers(&node, dir).await;

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
    let first = tokio::time::Instant::now() + PEERS_FIRST;
    let mut save_peers = tokio::time::interval_at(first, PEERS_PERIOD);
    let name_of = |group: Id| {
        groups
            .iter()
            .find(|(_, g)| *g == group)
            .map_or("?", |(n, _)| n)
    };
    let mut terminate = Terminate::new()?;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(NodeEvent::Deliver { key, app, source, payload, .. }) => tracing::info!(
                    %key, app = app.0, from = %source.addr,
                    message = %String::from_utf8_lossy(&payload), "delivered"
                ),
                Some(NodeEvent::Multicast { group, data, .. }) => {
                    let name = name_of(group);
                    tracing::info!(group = %name, message = %String::from_utf8_lossy(&data), "multicast");
                }
                Some(NodeEvent::Anycast { group, origin, data }) => {
                    let name = name_of(group);
                    tracing::info!(group = %name, from = %origin.addr, message = %String::from_utf8_lossy(&data), "anycast taken");
                }
                Some(NodeEvent::App(bytes)) => log_peerlet(&bytes),
                Some(_) => {}
                None => return Err("the node stopped".into()),
            },
            _ = save_peers.tick() => remember_peers(&node, dir).await,
            signal = terminate.wait() => {
                tracing::info!(signal, "leaving the overlay");
                break;
            }
        }
    }
    remember_peers(&node, dir).await;
    node.shutdown().await.map_err(|e| e.to_string())
}

/// Logs what the node's peerlets did.
fn log_peerlet(bytes: &[u8]) {
    match PeerletEvent::decode(bytes) {
        Some(PeerletEvent::Installed { locator, app }) => {
            tracing::info!(%locator, app = app.0, "peerlet installed")
        }
        Some(PeerletEvent::Stopped {
            locator,
            app,
            fault,
        }) => {
            tracing::warn!(%locator, app = app.0, %fault, "peerlet stopped for its faults")
        }
        Some(PeerletEvent::Log { app, line }) => tracing::info!(app = app.0, %line, "peerlet says"),
        Some(PeerletEvent::Reply {
            locator,
            from,
            payload,
            ..
        }) => tracing::info!(
            %locator, %from, reply = %String::from_utf8_lossy(&payload), "peerlet answered"
        ),
        Some(PeerletEvent::Refused { locator, key }) => {
            tracing::warn!(%locator, %key, "no node runs the peerlet")
        }
        _ => {}
    }
}

/// Joins through the first of the bootstrap nodes (names resolved, each
/// address tried) and then the peers the data directory knew that
/// answers; with neither, starts a new overlay.
async fn join(node: &Handle, bootstrap: &[String], dir: Option<&Path>) -> Result<(), String> {
    let mut candidates: Vec<SocketAddr> = Vec::new();
    for name in bootstrap {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(addrs) => candidates.extend(addrs),
            Err(e) => tracing::warn!(bootstrap = %name, error = %e, "could not resolve"),
        }
    }
    let known = match dir {
        Some(d) => data_dir::load_peers(d).map_err(|e| format!("{}: {e}", d.display()))?,
        None => Vec::new(),
    };
    let own = node.own().addr;
    candidates.extend(known.iter().map(|p| p.addr).filter(|a| *a != own));
    if bootstrap.is_empty() && candidates.is_empty() {
        tracing::info!("no bootstrap node and no known peers: starting a new overlay");
        return node.join(None).await.map_err(|e| e.to_string());
    }
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    loop {
        for boot in &candidates {
            match node.join(Some(*boot)).await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(%boot, error = %e, "could not join"),
            }
        }
        if candidates.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut why = format!(
        "could not join through any bootstrap node ({} addresses tried for {} s)",
        candidates.len(),
        JOIN_PATIENCE.as_secs()
    );
    if !known.is_empty() {
        why += "; to start a new overlay instead, remove the data directory's peers file";
    }
    Err(why)
}

/// Writes the peers the node knows (leaf set first, then its routing
/// table) to the data directory, for the next start.
async fn remember_peers(node: &Handle, dir: Option<&Path>) {
    let Some(dir) = dir else { return };
    let known = node
        .inspect(|s| {
            let n = s.node();
            let mut peers: Vec<Peer> = n.leaf_set().members().copied().collect();
            peers.extend(n.routing_table().entries().map(|(_, _, e)| e.peer));
            let mut seen = std::collections::HashSet::new();
            peers.retain(|p| seen.insert(p.addr));
            peers
        })
        .await;
    match known {
        Ok(peers) if !peers.is_empty() => {
            if let Err(e) = data_dir::store_peers(dir, &peers) {
                tracing::warn!(error = %e, "could not write the peers file");
            }
        }
        _ => {}
    }
}

/// SIGTERM (a service manager's stop) and SIGINT (Ctrl-C) alike.
struct Terminate {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Terminate {
    fn new() -> Result<Terminate, String> {
        Ok(Terminate {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("SIGTERM handler: {e}"))?,
        })
    }

    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
