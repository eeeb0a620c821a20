//! `run --metrics ADDR`: the node's counters and gauges for Prometheus at
//! `http://ADDR/metrics`, in the OpenMetrics text format, read from the
//! node at each scrape. A minimal HTTP/1.1 responder: one request per
//! connection, a bounded request head, a deadline, and a cap on
//! connections at once, so a scraper (or anyone else) cannot make the node
//! hold more than that.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pastry_core::counters::Counters;
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
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
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
