//! A node's settings: the config file (`run --config node.toml`), with
//! the command line's flags over it.
//!
//! Every key is optional. The `[stack]` table holds the protocol's knobs
//! (`pastry_core::StackConfig`: `[stack.node]`, `[stack.node.secure]`,
//! `[stack.dht]`, `[stack.scribe]`), laid over the `preset`'s values;
//! `pastry-node config` prints them all. A key nobody knows is an error,
//! not a silent default.

use pastry_core::StackConfig;
use pastry_core::identity::Admission;
use pastry_core::stack::runtime::DEFAULT_STORE_LIMITS;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Run;
use crate::keys::public_key;

/// The config file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct File {
    /// Address to listen on.
    listen: Option<SocketAddr>,
    /// Address peers reach the node at.
    advertise: Option<SocketAddr>,
    /// Nodes to join through, HOST:PORT.
    bootstrap: Vec<String>,
    /// The data directory.
    data_dir: Option<PathBuf>,
    /// The timers the `[stack]` table is laid over: "internet" (the
    /// papers') or "lan".
    preset: Preset,
    /// The admission authority's public key (certified mode).
    authority: Option<String>,
    /// The static puzzle's bits (open mode).
    puzzle_bits: Option<u8>,
    /// Groups to join as a member.
    subscribe: Vec<String>,
    /// Most values the store holds.
    store_values: Option<usize>,
    /// Most bytes of values the store holds.
    store_bytes: Option<usize>,
    /// Events kept for the application before newer ones are dropped.
    events: Option<usize>,
    /// Address of the Prometheus metrics endpoint.
    metrics: Option<SocketAddr>,
    /// Peerlet providers whose code the node runs (public keys, 64 hex
    /// digits).
    trust_provider: Vec<String>,
    /// The protocol's settings, over the preset's.
    stack: Option<toml::Table>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Preset {
    #[default]
    Internet,
    Lan,
}

impl Preset {
    fn config(self) -> StackConfig {
        match self {
            Preset::Internet => StackConfig::default(),
            Preset::Lan => StackConfig::lan(),
        }
    }
}

/// Everything `run` needs, resolved.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) bootstrap: Vec<String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) stack: StackConfig,
    pub(crate) subscribe: Vec<String>,
    pub(crate) store_limits: (usize, usize),
    pub(crate) events: Option<usize>,
    pub(crate) metrics: Option<SocketAddr>,
    /// Peerlet providers the node trusts.
    pub(crate) trusted: Vec<pastry_core::identity::PublicKey>,
    /// A testbed's delay (ms) and loss on what the node sends.
    pub(crate) impair: Option<(u64, f64)>,
}

/// The file `run.config` names (if any), with `run`'s flags over it.
pub(crate) fn resolve(run: Run) -> Result<Settings, String> {
    let file = match &run.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => (File::default(), StackConfig::default()),
    };
    let (file, mut stack) = file;
    if run.lan {
        // The flag picks the preset; the file's [stack] still lies over it.
        stack = with_preset(&file, Preset::Lan)?;
    }
    let authority = run.authority.or(file.authority);
    let puzzle_bits = run.puzzle_bits.or(file.puzzle_bits);
    match (authority, puzzle_bits) {
        (Some(_), Some(_)) => return Err("give authority or puzzle_bits, not both".into()),
        (Some(hex), None) => {
            stack.node.admission = Admission::Certified {
                authority: public_key(&hex)?,
            }
        }
        (None, Some(bits)) => stack.node.admission = Admission::Open { puzzle_bits: bits },
        (None, None) => {}
    }
    let flag_or = |flag: Vec<String>, file: Vec<String>| if flag.is_empty() { file } else { flag };
    let (values, bytes) = DEFAULT_STORE_LIMITS;
    Ok(Settings {
        listen: run
            .listen
            .or(file.listen)
            .ok_or("give --listen, or listen in the config file")?,
        advertise: run.advertise.or(file.advertise),
        bootstrap: flag_or(run.bootstrap, file.bootstrap),
        data_dir: run.data_dir.or(file.data_dir),
        stack,
        subscribe: flag_or(run.subscribe, file.subscribe),
        store_limits: (
            file.store_values.unwrap_or(values),
            file.store_bytes.unwrap_or(bytes),
        ),
        events: file.events,
        metrics: run.metrics.or(file.metrics),
        trusted: flag_or(run.trust_provider, file.trust_provider)
            .iter()
            .map(|k| public_key(k))
            .collect::<Result<_, _>>()?,
        impair: (run.impair_delay_ms > 0 || run.impair_loss > 0.0)
            .then_some((run.impair_delay_ms, run.impair_loss.clamp(0.0, 1.0))),
    })
}

/// A config file's settings, and its protocol settings over its preset.
fn parse(text: &str) -> Result<(File, StackConfig), String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let stack = with_preset(&file, file.preset)?;
    Ok((file, stack))
}

/// `file`'s `[stack]` table over `preset`'s settings.
fn with_preset(file: &File, preset: Preset) -> Result<StackConfig, String> {
    let base = preset.config();
    let Some(over) = &file.stack else {
        return Ok(base);
    };
    let mut merged = toml::Table::try_from(&base).map_err(|e| e.to_string())?;
    lay_over(&mut merged, over);
    merged
        .try_into()
        .map_err(|e: toml::de::Error| format!("[stack]: {e}"))
}

/// `over`'s keys replace `base`'s, table by table.
fn lay_over(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => lay_over(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A config file with every protocol knob at the preset's value, for
/// `pastry-node config`.
pub(crate) fn example(lan: bool) -> Result<String, String> {
    let preset = if lan { Preset::Lan } else { Preset::Internet };
    let stack = toml::Table::try_from(preset.config()).map_err(|e| e.to_string())?;
    let file = File {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 4000))),
        preset,
        stack: Some(stack),
        ..File::default()
    };
    let body = toml::to_string(&file).map_err(|e| e.to_string())?;
    Ok(format!(
        "# pastry-node run --config FILE; flags given on the command line win.\n\
         # Optional: advertise, bootstrap = [\"HOST:PORT\"], data_dir, authority,\n\
         # puzzle_bits, subscribe = [\"GROUP\"], store_values, store_bytes, events,\n\
         # metrics (ADDR of the Prometheus endpoint).\n\
         # Durations are a whole number and a unit: ns, us, ms, s, m, h.\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_example_file_reads_back_as_the_preset_it_shows() {
        for lan in [false, true] {
            let text = example(lan).unwrap();
            let (file, stack) = parse(&text).unwrap();
            let want = if lan {
                StackConfig::lan()
            } else {
                StackConfig::default()
            };
            assert_eq!(stack, want, "{text}");
            assert_eq!(file.listen, Some(SocketAddr::from(([127, 0, 0, 1], 4000))));
        }
    }

    #[test]
    fn stack_keys_lie_over_the_preset_and_unknown_keys_are_errors() {
        let (_, stack) = parse(
            "preset = \"lan\"\n[stack.node]\nheartbeat_period = \"250ms\"\n\
             [stack.dht]\nreplicas = 7\n",
        )
        .unwrap();
        let mut want = StackConfig::lan();
        want.node.heartbeat_period = Duration::from_millis(250);
        want.dht.replicas = 7;
        assert_eq!(stack, want);
        for bad in [
            "lsiten = \"127.0.0.1:1\"",
            "[stack.node]\nheartbeat = \"1s\"",
            "[stack.node]\nheartbeat_period = 5",
            "[stack.node]\nheartbeat_period = \"soon\"",
            "preset = \"moon\"",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }
}
