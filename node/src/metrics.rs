//! `run --metrics ADDR`: the node's counters and gauges for Prometheus at
//! `http://ADDR/metrics`, in the OpenMetrics text format, read from the
//! node at each scrape; and its state for an operator at `/status` (what
//! `pastry-node status` prints). Both stay off the overlay's UDP port on
//! purpose: a node tells strangers there nothing of its leaf set. A
//! minimal HTTP/1.1 responder: one request per
//! connection, a bounded request head, a deadline, and a cap on
//! connections at once, so a scraper (or anyone else) cannot make the node
//! hold more than that.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pastry_core::counters::Counters;
use pastry_peerlet::Peerlets;
use pastry_tokio::{Handle, Stats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the kernel's backlog.
const CONNECTIONS: usize = 8;
/// Bytes of request head read at most.
const HEAD: usize = 4096;
/// A connection's whole life.
const DEADLINE: Duration = Duration::from_secs(5);

/// Binds `addr` and serves the endpoint in the background; the address
/// bound (port 0: any free one).
pub(crate) async fn serve(addr: SocketAddr, node: Handle) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--metrics {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let slots = Arc::new(Semaphore::new(CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let node = node.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(DEADLINE, answer(stream, &node)).await;
                drop(permit);
            });
        }
    });
    Ok(bound)
}

async fn answer(mut stream: TcpStream, node: &Handle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|b| *b == b' ');
    let (method, path) = (words.next(), words.next());
    let (status, kind, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => match node.stats().await {
            Ok(stats) => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                render(stats),
            ),
            Err(e) => ("503 Service Unavailable", "text/plain", format!("{e}\n")),
        },
        (Some(b"GET"), Some(b"/status")) => match status(node).await {
            Ok(text) => ("200 OK", "text/plain; charset=utf-8", text),
            Err(e) => ("503 Service Unavailable", "text/plain", format!("{e}\n")),
        },
        (Some(b"GET"), Some(b"/peerlets")) => match peerlets(node).await {
            Ok(text) => ("200 OK", "text/plain; charset=utf-8", text),
            Err(e) => ("503 Service Unavailable", "text/plain", format!("{e}\n")),
        },
        (Some(b"GET"), _) => (
            "404 Not Found",
            "text/plain",
            "try /metrics, /status or /peerlets\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// The peerlets a node runs, what they used, and its peerlet counters.
async fn peerlets(node: &Handle) -> Result<String, pastry_tokio::Error> {
    use std::fmt::Write;
    let (list, st, trusted) = node
        .app::<Peerlets, _>(|p, _, _| (p.list(), *p.stats(), p.policy().trusted.len()))
        .await?;
    let mut t = String::new();
    let _ = writeln!(t, "trusted providers  {trusted}");
    let _ = writeln!(t, "installed          {}", list.len());
    for s in &list {
        let kind = if s.per_hop { "per-hop" } else { "end-node" };
        let per_call = s.fuel.checked_div(s.calls).unwrap_or(0);
        let _ = writeln!(
            t,
            "  {} app {:#06x} {kind} v{}: {} calls, {per_call} fuel/call, {} faults, {} KiB memory, {} B stored",
            s.locator,
            s.app.0,
            s.version,
            s.calls,
            s.faults,
            s.memory_bytes / 1024,
            s.store_bytes
        );
    }
    let _ = writeln!(
        t,
        "messages           {} run, {} fell over, {} refused by policy, {} without code",
        st.calls, st.fall_overs, st.refused_policy, st.refused_unknown
    );
    let _ = writeln!(
        t,
        "code               {} fetched, {} fetches failed, {} stopped for faults",
        st.fetched, st.fetch_failures, st.stopped
    );
    Ok(t)
}

/// The node's state for an operator: who it is, its leaf set, how full
/// its routing table is, and the counters that say whether it is well.
async fn status(node: &Handle) -> Result<String, pastry_tokio::Error> {
    use std::fmt::Write;
    let stats = node.stats().await?;
    let (leaf_set, rows) = node
        .inspect(|s| {
            let n = s.node();
            let leaf: Vec<_> = n.leaf_set().members().copied().collect();
            let mut rows: Vec<usize> = Vec::new();
            for (row, _, _) in n.routing_table().entries() {
                if rows.len() <= row {
                    rows.resize(row + 1, 0);
                }
                rows[row] += 1;
            }
            (leaf, rows)
        })
        .await?;
    let own = node.own();
    let g = stats.gauges;
    let mut t = String::new();
    let _ = writeln!(t, "id              {}", own.id);
    let _ = writeln!(t, "address         {}", own.addr);
    let _ = writeln!(t, "in the ring     {}", if g.active { "yes" } else { "no" });
    let _ = writeln!(t, "values          {}", g.values);
    let _ = writeln!(t, "sessions        {}", g.sessions);
    let _ = writeln!(t, "leaf set        {} members", leaf_set.len());
    for p in &leaf_set {
        let _ = writeln!(t, "  {} {}", p.id, p.addr);
    }
    let _ = writeln!(t, "routing table   {} entries", g.routing_table);
    for (row, n) in rows.iter().enumerate().filter(|(_, n)| **n > 0) {
        let _ = writeln!(t, "  row {row:2}  {n:2} of 15");
    }
    let d = &stats.node.drops;
    let _ = writeln!(
        t,
        "messages        {} sent, {} delivered here, {} forwarded",
        stats.node.sent_total(),
        stats.node.delivered,
        stats.node.forwarded
    );
    let _ = writeln!(
        t,
        "dropped         {} malformed, {} unauthenticated, {} duplicate, {} queue full",
        d.malformed, d.unauthenticated, d.duplicate, d.queue_full
    );
    let _ = writeln!(
        t,
        "failures        {} suspected, {} declared failed",
        stats.node.suspicions, stats.node.failures
    );
    Ok(t)
}

/// The body of `GET path` from the endpoint at `addr` (for `pastry-node
/// status`).
pub(crate) async fn fetch(addr: &str, path: &str) -> Result<String, String> {
    let ask = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout(DEADLINE, ask)
        .await
        .map_err(|_| format!("{addr}: no answer within {} s", DEADLINE.as_secs()))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{addr}: {}",
            head.lines().next().unwrap_or("no answer")
        ));
    }
    Ok(body.to_string())
}

/// The OpenMetrics text of `stats`.
pub(crate) fn render(stats: Stats) -> String {
    let mut registry = Registry::with_prefix("pastry");
    registry.register_collector(Box::new(Snapshot(stats)));
    let mut text = String::new();
    // Writing to a String does not fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// One scrape's values.
#[derive(Debug)]
struct Snapshot(Stats);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Families in name order; a per-kind counter is one family.
        let mut families: BTreeMap<&str, Vec<(Option<&str>, u64)>> = BTreeMap::new();
        self.0
            .each_counter(&mut |c| families.entry(c.name).or_default().push((c.kind, c.value)));
        for (name, values) in &families {
            let help = name.replace('_', " ");
            let probe = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, &help, None, probe.metric_type())?;
            if let [(None, value)] = values[..] {
                ConstCounter::new(value).encode(family)?;
                continue;
            }
            for (kind, value) in values {
                let label = [("kind", kind.unwrap_or_default())];
                ConstCounter::new(*value).encode(family.encode_family(&label)?)?;
            }
        }
        let g = self.0.gauges;
        for (name, help, value) in [
            (
                "active",
                "1 while the node is in the ring",
                i64::from(g.active),
            ),
            ("leaf_set_members", "leaf-set members", g.leaf_set as i64),
            (
                "routing_table_entries",
                "routing-table entries",
                g.routing_table as i64,
            ),
            (
                "sessions",
                "peers with an authenticated session",
                g.sessions as i64,
            ),
            ("values", "values in the store", g.values as i64),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
