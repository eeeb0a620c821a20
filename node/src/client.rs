//! The client commands: a short-lived client of a running node (see
//! `pastry_tokio::Client`), each answer awaited at most `--timeout`.

use std::time::Duration;

use pastry_core::AppId;
use pastry_peerlet::{Budget, Package};

/// Bytes of a module's chunk: what a client's put carries with room to
/// spare.
const CHUNK: usize = 900;

use crate::Command;

pub(crate) async fn client(command: Command) -> Result<(), String> {
    match command {
        Command::Run(_)
        | Command::Id { .. }
        | Command::Authority { .. }
        | Command::Config { .. }
        | Command::Status { .. }
        | Command::Provider { .. }
        | Command::Peerlets { .. }
        | Command::Certify { .. } => {
            unreachable!("handled in main")
        }
        Command::Put {
            via,
            key,
            value,
            version,
            ttl,
        } => {
            let (c, _) = via.connect().await?;
            let key = via.id(&key)?;
            let value = value.into_bytes();
            let n = match ttl {
                None => via.timed(c.put(key, version, value)).await?,
                Some(t) => via.timed(c.put_expiring(key, version, value, t)).await?,
            };
            println!("stored {key} on {n} replicas");
        }
        Command::PutContent { via, value, ttl } => {
            let (c, _) = via.connect().await?;
            let value = value.into_bytes();
            let (key, n) = match ttl {
                None => via.timed(c.put_content(value)).await?,
                Some(t) => via.timed(c.put_content_expiring(value, t)).await?,
            };
            println!("{key} (stored on {n} replicas)");
        }
        Command::Deploy {
            via,
            module,
            app,
            per_hop,
            end_node: _,
            key,
            version,
        } => {
            let code = std::fs::read(&module).map_err(|e| format!("{}: {e}", module.display()))?;
            let keys = pastry_core::stack::data_dir::load_or_create_key(
                &key,
                crate::keys::PROVIDER_FILE,
                crate::keys::os_random,
            )
            .map_err(|e| format!("{}: {e}", key.display()))?;
            let package = Package::new(
                &keys,
                (AppId(app), per_hop),
                (version, Budget::DEFAULT),
                &code,
                CHUNK,
            )
            .map_err(|e| format!("{}: {e}", module.display()))?;
            let (c, _) = via.connect().await?;
            for chunk in &package.chunks {
                via.timed(c.put_content(chunk.clone())).await?;
            }
            let (locator, n) = via.timed(c.put_content(package.manifest.clone())).await?;
            debug_assert_eq!(locator, package.locator);
            let kind = if per_hop { "per-hop" } else { "end-node" };
            println!(
                "{locator} app {app:#06x} ({kind}), {} bytes in {} chunk(s), manifest on {n} replicas",
                code.len(),
                package.chunks.len()
            );
        }
        Command::Delete { via, key, version } => {
            let (c, _) = via.connect().await?;
            let key = via.id(&key)?;
            let n = via.timed(c.delete(key, version)).await?;
            println!("deleted {key} at version {version} on {n} replicas");
        }
        Command::Get { via, key, content } => {
            let (c, _) = via.connect().await?;
            let key = via.id(&key)?;
            let v = if content {
                via.timed(c.get_content(key)).await?
            } else {
                via.timed(c.get(key)).await?
            };
            match v {
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
            let (c, _) = via.connect().await?;
            let key = via.id(&key)?;
            let id = via
                .timed(c.route(key, AppId(app), message.into_bytes()))
                .await?;
            println!("routed to {key} as message {id:#x}");
        }
        Command::Publish {
            via,
            group,
            message,
        } => {
            let (c, _) = via.connect().await?;
            let id = via
                .timed(c.publish(via.group(&group)?, message.into_bytes()))
                .await?;
            println!("published as {id:#x}");
        }
        Command::Anycast {
            via,
            group,
            message,
        } => {
            let (c, _) = via.connect().await?;
            let by = via
                .timed(c.anycast(via.group(&group)?, message.into_bytes()))
                .await?;
            println!("taken by {} at {}", by.id, by.addr);
        }
        Command::Subscribe { via, group, count } => {
            let (c, mut publications) = via.connect().await?;
            via.timed(c.subscribe(via.group(&group)?)).await?;
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
