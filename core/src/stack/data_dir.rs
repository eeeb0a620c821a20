//! A node's data directory: its key (and certificate) on disk, so its id
//! is the same after a restart.
//!
//! ```text
//! DIR/node.key    the key pair's 32-byte secret, 64 hex digits; owner-only (0600)
//! DIR/node.cert   the authority's certificate for the key, 208 hex digits (optional)
//! DIR/peers       peers the node knew when it last wrote it, "ID ADDR" per line
//! ```
//!
//! (A runtime's store may keep its file there too, such as
//! `pastry-store`'s `store.redb`.)
//!
//! An authority of the certified admission mode keeps its key the same
//! way, in its own directory (`DIR/authority.key`), never beside a node's.
//!
//! The key is made on first start from the operating system's randomness
//! and written before it is used; a directory another user can read is
//! refused, like ssh refuses a readable private key.

use std::format;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use crate::identity::{CERTIFICATE_BYTES, Certificate, Identity, Keypair, SECRET_BYTES};
use crate::peer::Peer;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "node.key";
/// The certificate file's name in the data directory.
pub const CERTIFICATE_FILE: &str = "node.cert";
/// An authority's key file's name in its directory.
pub const AUTHORITY_FILE: &str = "authority.key";
/// The known peers' file's name in the data directory.
pub const PEERS_FILE: &str = "peers";
/// Most peers the peers file keeps (and is read for).
pub const MAX_PEERS: usize = 64;

/// The identity kept in `dir`: its key, made (from `random`, the
/// operating system's randomness) if there is none yet, and its
/// certificate if one was put there.
pub fn load_or_create(
    dir: &Path,
    random: impl FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<Identity> {
    load_or_create_solving(dir, 0, random)
}

/// [`load_or_create`] for the open admission mode with a static puzzle:
/// a new key is drawn until its id solves `puzzle_bits` (about
/// 2^puzzle_bits draws), and a key already there that does not is
/// refused (every peer would refuse it).
pub fn load_or_create_solving(
    dir: &Path,
    puzzle_bits: u8,
    mut random: impl FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<Identity> {
    let wanted = |k: &Keypair| solves(k, puzzle_bits);
    let keypair = load_or_create_key_where(dir, KEY_FILE, wanted, &mut random)?;
    if !wanted(&keypair) {
        let path = dir.join(KEY_FILE);
        return Err(invalid(
            &path,
            format!(
                "its id does not solve a puzzle of {puzzle_bits} bits; move it away to make a key that does"
            ),
        ));
    }
    let mut identity = Identity::new(keypair);
    let cert_path = dir.join(CERTIFICATE_FILE);
    match fs::read_to_string(&cert_path) {
        Ok(text) => {
            let bytes: [u8; CERTIFICATE_BYTES] = hex_array(text.trim(), &cert_path)?;
            let cert = Certificate::from_bytes(&bytes).map_err(|e| invalid(&cert_path, e))?;
            if cert.key != identity.keypair.public() {
                return Err(invalid(&cert_path, "the certificate is for another key"));
            }
            identity = identity.with_certificate(cert);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(identity)
}

/// The key pair kept in `dir/file`, made (from `random`) and written
/// owner-only if there is none; a key file others can read is refused.
pub fn load_or_create_key(
    dir: &Path,
    file: &str,
    mut random: impl FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<Keypair> {
    load_or_create_key_where(dir, file, |_| true, &mut random)
}

/// [`load_or_create_key`], drawing a new key until `wanted` takes it.
fn load_or_create_key_where(
    dir: &Path,
    file: &str,
    wanted: impl Fn(&Keypair) -> bool,
    random: &mut impl FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<Keypair> {
    fs::create_dir_all(dir)?;
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(text) => {
            check_private(&path)?;
            Ok(Keypair::from_secret(hex_array(text.trim(), &path)?))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let secret = draw_secret(wanted, random)?;
            write_private(&path, &hex(&secret))?;
            Ok(Keypair::from_secret(secret))
        }
        Err(e) => Err(e),
    }
}

/// A key pair's secret from `random`, drawn again until `wanted` takes
/// the pair (a puzzle to solve).
pub fn draw_secret(
    wanted: impl Fn(&Keypair) -> bool,
    random: &mut impl FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<[u8; SECRET_BYTES]> {
    let mut secret = [0u8; SECRET_BYTES];
    loop {
        random(&mut secret)?;
        if wanted(&Keypair::from_secret(secret)) {
            return Ok(secret);
        }
    }
}

/// Whether `k`'s id solves a static puzzle of `bits`.
pub fn solves(k: &Keypair, bits: u8) -> bool {
    crate::identity::puzzle_bits(k.id()) >= u32::from(bits)
}

/// Writes the first [`MAX_PEERS`] of `peers` as the peers `dir` knows, so
/// a restart can rejoin through them. Written to a scratch file and
/// renamed: a crash leaves the old list or the new, never half of one.
pub fn store_peers(dir: &Path, peers: &[Peer]) -> io::Result<()> {
    let mut text = String::new();
    for p in peers.iter().take(MAX_PEERS) {
        text += &format!("{} {}\n", p.id, p.addr);
    }
    let scratch = dir.join(format!("{PEERS_FILE}.new"));
    let mut f = fs::File::create(&scratch)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(scratch, dir.join(PEERS_FILE))
}

/// The peers `dir` knew (none if it has no peers file); at most
/// [`MAX_PEERS`], lines that do not read as "ID ADDR" skipped. They are
/// hints for a join: each is verified as any stranger is.
pub fn load_peers(dir: &Path) -> io::Result<Vec<Peer>> {
    let text = match fs::read_to_string(dir.join(PEERS_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let read = |line: &str| {
        let (id, addr) = line.trim().split_once(' ')?;
        Some(Peer::new(id.parse().ok()?, addr.trim().parse().ok()?))
    };
    Ok(text.lines().filter_map(read).take(MAX_PEERS).collect())
}

/// Writes `cert` as the certificate of the identity in `dir`.
pub fn store_certificate(dir: &Path, cert: &Certificate) -> io::Result<()> {
    fs::write(dir.join(CERTIFICATE_FILE), hex(&cert.to_bytes()) + "\n")
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `N` bytes `text` spells in hex.
pub fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks(2)) {
        let s = core::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn hex_array<const N: usize>(text: &str, path: &Path) -> io::Result<[u8; N]> {
    parse_hex(text).ok_or_else(|| invalid(path, format!("not {} hex digits", 2 * N)))
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(unix)]
fn check_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::UnixTime;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pastry-data-dir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_key_is_made_once_kept_private_and_read_back() {
        let dir = temp("key");
        let a = load_or_create(&dir, |b| {
            b.fill(7);
            Ok(())
        })
        .unwrap();
        let b = load_or_create(&dir, |_| panic!("no new key when one exists")).unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.keypair.secret(), [7; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(dir.join(KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_or_create(&dir, |_| Ok(())).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_made_for_a_puzzle_solves_it_and_one_that_does_not_is_refused() {
        let dir = temp("puzzle");
        let mut n = 0u64;
        let counting = |b: &mut [u8]| {
            n += 1;
            b.fill(0);
            b[..8].copy_from_slice(&n.to_be_bytes());
            Ok(())
        };
        let made = load_or_create_solving(&dir, 6, counting).unwrap();
        assert!(crate::identity::puzzle_bits(made.id()) >= 6);
        let again = load_or_create_solving(&dir, 6, |_| panic!("kept")).unwrap();
        assert_eq!(again.id(), made.id());
        // A harder puzzle than the key solves: refused, not replaced.
        let bits = crate::identity::puzzle_bits(made.id()) as u8 + 1;
        let e = load_or_create_solving(&dir, bits, |_| panic!("kept")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_peers_file_reads_back_what_was_written_and_skips_what_is_not_a_peer() {
        let dir = temp("peers");
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_peers(&dir).unwrap(), Vec::new(), "no file: no peers");
        let peers: Vec<Peer> = (0..MAX_PEERS as u16 + 5)
            .map(|i| {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 4000 + i));
                Peer::new(crate::Id::sha1(&i.to_be_bytes()), addr)
            })
            .collect();
        store_peers(&dir, &peers).unwrap();
        assert_eq!(load_peers(&dir).unwrap(), peers[..MAX_PEERS]);
        let mut text = fs::read_to_string(dir.join(PEERS_FILE)).unwrap();
        text.insert_str(0, "not a peer\nffff 127.0.0.1:1\n\n");
        fs::write(dir.join(PEERS_FILE), text).unwrap();
        assert_eq!(load_peers(&dir).unwrap(), peers[..MAX_PEERS]);
        assert!(!dir.join(format!("{PEERS_FILE}.new")).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_beside_the_key_is_loaded_only_if_it_is_for_that_key() {
        let dir = temp("cert");
        let id = load_or_create(&dir, |b| {
            b.fill(3);
            Ok(())
        })
        .unwrap();
        let authority = Keypair::from_secret([9; 32]);
        let cert = Certificate::issue(&authority, id.keypair.public(), UnixTime(100));
        store_certificate(&dir, &cert).unwrap();
        assert_eq!(
            load_or_create(&dir, |_| Ok(())).unwrap().certificate,
            Some(cert)
        );
        let other = Certificate::issue(&authority, authority.public(), UnixTime(100));
        store_certificate(&dir, &other).unwrap();
        let e = load_or_create(&dir, |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        fs::write(dir.join(KEY_FILE), "zz").unwrap();
        assert!(load_or_create(&dir, |_| Ok(())).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
