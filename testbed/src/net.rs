//! The testbed's network: a bridge on the host, and per node a network
//! namespace joined to it by a veth pair, with 10.77.0.(i + 1)/24. The
//! host holds 10.77.0.254 on the bridge, so the testbed's clients reach
//! every node. A second bridge, with no address, takes half the nodes to
//! partition the network. Every name starts with `ptb-`; dropping the
//! [`Net`] removes them all, and [`Net::new`] first removes any a killed
//! run left behind.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

const BRIDGE: &str = "ptb-br0";
const ISLAND: &str = "ptb-br1";

/// The namespaces and links of one run.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) nodes: usize,
}

/// Runs `ip` with `args`; an error names the command.
pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespace of node `i`.
pub(crate) fn namespace(i: usize) -> String {
    format!("ptb-n{i}")
}

/// The address of node `i`.
pub(crate) fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, 0, i as u8 + 1))
}

fn host_side(i: usize) -> String {
    format!("ptb-h{i}")
}

impl Net {
    /// Whether this host lets us make namespaces (root, or the right
    /// capabilities); the reason if not.
    pub(crate) fn available() -> Result<(), String> {
        ip(&["netns", "add", "ptb-probe"])?;
        ip(&["netns", "del", "ptb-probe"])
    }

    /// A bridge and `nodes` namespaces on it (at most 250).
    pub(crate) fn new(nodes: usize) -> Result<Net, String> {
        assert!(nodes <= 250, "10.77.0.0/24 holds 250 nodes");
        cleanup();
        let net = Net { nodes };
        for b in [BRIDGE, ISLAND] {
            ip(&["link", "add", b, "type", "bridge"])?;
            ip(&["link", "set", b, "up"])?;
        }
        ip(&["addr", "add", "10.77.0.254/24", "dev", BRIDGE])?;
        for i in 0..nodes {
            let (ns, host, inner) = (namespace(i), host_side(i), format!("ptb-c{i}"));
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &host, "master", BRIDGE, "up"])?;
            let cidr = format!("{}/24", addr(i));
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Cuts nodes `from..` off from the rest (and from the host's
    /// clients): their links move to the island bridge.
    pub(crate) fn partition(&self, from: usize) -> Result<(), String> {
        for i in from..self.nodes {
            ip(&["link", "set", &host_side(i), "master", ISLAND])?;
        }
        Ok(())
    }

    /// Joins every node to one bridge again.
    pub(crate) fn heal(&self) -> Result<(), String> {
        for i in 0..self.nodes {
            ip(&["link", "set", &host_side(i), "master", BRIDGE])?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        cleanup();
    }
}

/// Removes every namespace and link a run (this or a killed one) made.
/// Deleting a namespace deletes its end of the veth pair, and the host's
/// end with it.
pub(crate) fn cleanup() {
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line
                .split_whitespace()
                .next()
                .filter(|n| n.starts_with("ptb-"))
            {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split(':').nth(1).map(str::trim).unwrap_or("");
            let name = name.split('@').next().unwrap_or("");
            if name.starts_with("ptb-") {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}
