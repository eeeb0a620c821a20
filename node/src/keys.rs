//! The key commands: a node's id (`id`), an admission authority
//! (`authority`) and the certificates it issues (`certify`), and a
//! peerlet provider's key (`provider`).

use std::path::Path;

use pastry_core::identity::{Certificate, PublicKey, UnixTime};
use pastry_core::stack::data_dir;

pub(crate) fn show_id(dir: &Path, puzzle_bits: u8) -> Result<(), String> {
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

pub(crate) fn os_random(b: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(b).map_err(std::io::Error::other)
}

pub(crate) fn show_authority(dir: &Path) -> Result<(), String> {
    let key = data_dir::load_or_create_key(dir, data_dir::AUTHORITY_FILE, os_random)
        .map_err(|e| e.to_string())?;
    println!("{}", data_dir::hex(&key.public().to_bytes()));
    Ok(())
}

/// The file a provider's key is kept in.
pub(crate) const PROVIDER_FILE: &str = "provider.key";

pub(crate) fn show_provider(dir: &Path) -> Result<(), String> {
    let key =
        data_dir::load_or_create_key(dir, PROVIDER_FILE, os_random).map_err(|e| e.to_string())?;
    println!("{}", data_dir::hex(&key.public().to_bytes()));
    Ok(())
}

pub(crate) fn public_key(hex: &str) -> Result<PublicKey, String> {
    let bytes = data_dir::parse_hex::<32>(hex.trim()).ok_or("a public key is 64 hex digits")?;
    PublicKey::from_bytes(bytes).map_err(|e| format!("{hex}: {e}"))
}

pub(crate) fn certify(
    dir: &Path,
    node: Option<&Path>,
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
