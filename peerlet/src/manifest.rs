//! A peerlet's manifest: what its provider signs so that any node can
//! check, before it runs a byte of it, who offers the code, for which
//! application, and within which limits.
//!
//! The module is stored in the DHT in chunks, each under its content
//! hash (a value proves itself); the manifest lists the chunks' hashes
//! and the hash of the whole module, names the application id, whether
//! it is per-hop or end-node, the limits it asks for and a version, and
//! carries the provider's public key and signature. The manifest is
//! stored under its own content hash, its *locator*: a message names its
//! peerlet by it, and a node that fetched it has what the provider signed
//! or nothing.
//!
//! ```text
//! magic "PLM1" (4) | app id (2) | per-hop (1) | version (8)
//! code length (4) | code hash (20) | chunks n (1) | chunk hashes (20 n)
//! fuel (8) | memory (4) | store (4) | send burst (4) | send refill ms (4)
//! provider key (32) | signature (64) over the domain and all before it
//! ```

use core::time::Duration;

use pastry_core::identity::{Keypair, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, Signature};
use pastry_core::{AppId, Id};

use crate::budget::Budget;

const MAGIC: &[u8; 4] = b"PLM1";
/// Signatures over manifests are never signatures over anything else.
const DOMAIN: &[u8] = b"pastry/peerlet-manifest/v1";

/// Most chunks a module is split into.
pub const MAX_CHUNKS: usize = 32;
/// Bytes of a manifest with no chunks.
pub const BASE_LEN: usize = 4 + 2 + 1 + 8 + 4 + 20 + 1 + 24 + PUBLIC_KEY_BYTES + SIGNATURE_BYTES;

/// The application ids peerlets may take: a range of their own, so a
/// node tells a peerlet's message from a built-in or user application's.
pub const APP_IDS: core::ops::RangeInclusive<u16> = 0xa000..=0xafff;

/// Why bytes are not a manifest a node can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not this format, truncated, or with bytes after the signature.
    Malformed,
    /// The application id is outside [`APP_IDS`].
    AppId,
    /// More chunks than [`MAX_CHUNKS`], or none.
    Chunks,
    /// The signature is not the provider's over these bytes.
    BadSignature,
    /// The code does not match the manifest (length or hash).
    CodeMismatch,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ManifestError::Malformed => "not a peerlet manifest",
            ManifestError::AppId => "application id outside the peerlets' range",
            ManifestError::Chunks => "no chunks, or too many",
            ManifestError::BadSignature => "not signed by its provider",
            ManifestError::CodeMismatch => "the code does not match the manifest",
        })
    }
}

impl std::error::Error for ManifestError {}

/// A manifest whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The application id its messages carry.
    pub app: AppId,
    /// Per-hop (`pastry_forward` on every node of a path) rather than
    /// end-node (`pastry_deliver` at the root).
    pub per_hop: bool,
    /// The provider's version of it; a node runs the highest it met.
    pub version: u64,
    /// Bytes of the module.
    pub code_len: u32,
    /// SHA-1 of the module.
    pub code_hash: Id,
    /// SHA-1 of each chunk, in order: their content keys in the DHT.
    pub chunks: Vec<Id>,
    /// The limits it asks for (a node grants at most its own).
    pub budget: Budget,
    /// Who signed it.
    pub provider: PublicKey,
}

impl Manifest {
    /// Describes `code` split into chunks of `chunk_len` bytes.
    pub fn describe(
        (app, per_hop): (AppId, bool),
        version: u64,
        code: &[u8],
        chunk_len: usize,
        (budget, provider): (Budget, PublicKey),
    ) -> Result<Manifest, ManifestError> {
        if !APP_IDS.contains(&app.0) {
            return Err(ManifestError::AppId);
        }
        if chunk_len == 0 || code.is_empty() || code.len().div_ceil(chunk_len) > MAX_CHUNKS {
            return Err(ManifestError::Chunks);
        }
        Ok(Manifest {
            app,
            per_hop,
            version,
            code_len: u32::try_from(code.len()).map_err(|_| ManifestError::Chunks)?,
            code_hash: Id::sha1(code),
            chunks: code.chunks(chunk_len).map(Id::sha1).collect(),
            budget,
            provider,
        })
    }

    /// The bytes the signature covers.
    fn body(&self) -> Vec<u8> {
        let b = &self.budget;
        let mut v = Vec::with_capacity(BASE_LEN + 20 * self.chunks.len());
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&self.app.0.to_be_bytes());
        v.push(u8::from(self.per_hop));
        v.extend_from_slice(&self.version.to_be_bytes());
        v.extend_from_slice(&self.code_len.to_be_bytes());
        v.extend_from_slice(&self.code_hash.to_bytes());
        v.push(self.chunks.len() as u8);
        for c in &self.chunks {
            v.extend_from_slice(&c.to_bytes());
        }
        v.extend_from_slice(&b.fuel_per_call.to_be_bytes());
        v.extend_from_slice(&b.memory_bytes.to_be_bytes());
        v.extend_from_slice(&b.store_bytes.to_be_bytes());
        v.extend_from_slice(&b.send_burst.to_be_bytes());
        let refill = u32::try_from(b.send_refill.as_millis()).unwrap_or(u32::MAX);
        v.extend_from_slice(&refill.to_be_bytes());
        v.extend_from_slice(&self.provider.to_bytes());
        v
    }

    /// The signed manifest, as stored in the DHT. `keys` must be the
    /// provider's (else no node will accept it).
    pub fn sign(&self, keys: &Keypair) -> Vec<u8> {
        let mut v = self.body();
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&v);
        v.extend_from_slice(&keys.sign(&msg).0);
        v
    }

    /// Parses and checks signed manifest bytes.
    pub fn open(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(ManifestError::Malformed);
        }
        let app = AppId(u16::from_be_bytes(r.array()?));
        let per_hop = match r.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return Err(ManifestError::Malformed),
        };
        let version = u64::from_be_bytes(r.array()?);
        let code_len = u32::from_be_bytes(r.array()?);
        let code_hash = Id::from_bytes(r.array()?);
        let n = usize::from(r.take(1)?[0]);
        if n == 0 || n > MAX_CHUNKS {
            return Err(ManifestError::Chunks);
        }
        let chunks = (0..n)
            .map(|_| r.array().map(Id::from_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let budget = Budget {
            fuel_per_call: u64::from_be_bytes(r.array()?),
            memory_bytes: u32::from_be_bytes(r.array()?),
            store_bytes: u32::from_be_bytes(r.array()?),
            send_burst: u32::from_be_bytes(r.array()?),
            send_refill: Duration::from_millis(u32::from_be_bytes(r.array()?).into()),
        };
        let provider = PublicKey::from_bytes(r.array()?).map_err(|_| ManifestError::Malformed)?;
        let signed_len = bytes.len() - r.0.len();
        let sig = Signature(r.array()?);
        if !r.0.is_empty() {
            return Err(ManifestError::Malformed);
        }
        if !APP_IDS.contains(&app.0) {
            return Err(ManifestError::AppId);
        }
        let mut msg = DOMAIN.to_vec();
        msg.extend_from_slice(&bytes[..signed_len]);
        provider
            .verify(&msg, &sig)
            .map_err(|_| ManifestError::BadSignature)?;
        Ok(Manifest {
            app,
            per_hop,
            version,
            code_len,
            code_hash,
            chunks,
            budget,
            provider,
        })
    }

    /// Checks assembled `code` against the manifest.
    pub fn check_code(&self, code: &[u8]) -> Result<(), ManifestError> {
        if code.len() != self.code_len as usize || Id::sha1(code) != self.code_hash {
            return Err(ManifestError::CodeMismatch);
        }
        Ok(())
    }
}

/// What a provider stores in the DHT to deploy a peerlet: every chunk of
/// the module and the signed manifest, each as a content-hash value
/// (`put_content`), so any node can fetch and check them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The manifest's content key: what messages name the peerlet by.
    pub locator: Id,
    /// The signed manifest.
    pub manifest: Vec<u8>,
    /// The module's chunks, in order.
    pub chunks: Vec<Vec<u8>>,
}

impl Package {
    /// Signs a manifest for `code` with `keys` and splits the code into
    /// chunks of `chunk_len` bytes (at most a DHT value: `Dht::max_value_len`).
    pub fn new(
        keys: &Keypair,
        (app, per_hop): (AppId, bool),
        (version, budget): (u64, Budget),
        code: &[u8],
        chunk_len: usize,
    ) -> Result<Package, ManifestError> {
        let m = Manifest::describe(
            (app, per_hop),
            version,
            code,
            chunk_len,
            (budget, keys.public()),
        )?;
        let manifest = m.sign(keys);
        Ok(Package {
            locator: locator(&manifest),
            manifest,
            chunks: code.chunks(chunk_len).map(<[u8]>::to_vec).collect(),
        })
    }
}

/// The locator of signed manifest bytes: their content key.
pub fn locator(signed: &[u8]) -> Id {
    Id::sha1(signed)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ManifestError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(ManifestError::Malformed)?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ManifestError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(keys: &Keypair) -> (Vec<u8>, Manifest) {
        let code: Vec<u8> = (0..2_500u32).map(|i| (i * 7) as u8).collect();
        let m = Manifest::describe(
            (AppId(0xa001), true),
            3,
            &code,
            900,
            (Budget::DEFAULT, keys.public()),
        )
        .unwrap();
        assert_eq!(m.chunks.len(), 3);
        assert_eq!(m.check_code(&code), Ok(()));
        let mut other = code.clone();
        other[100] ^= 1;
        assert_eq!(m.check_code(&other), Err(ManifestError::CodeMismatch));
        assert_eq!(m.check_code(&code[1..]), Err(ManifestError::CodeMismatch));
        (m.sign(keys), m)
    }

    #[test]
    fn a_signed_manifest_opens_and_no_changed_byte_does() {
        let keys = Keypair::from_secret([9; 32]);
        let (signed, m) = sample(&keys);
        assert_eq!(signed.len(), BASE_LEN + 3 * 20);
        assert_eq!(Manifest::open(&signed), Ok(m));
        for i in 0..signed.len() {
            let mut bad = signed.clone();
            bad[i] ^= 0x10;
            assert!(Manifest::open(&bad).is_err(), "byte {i} flipped");
        }
        for cut in 0..signed.len() {
            assert!(Manifest::open(&signed[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = signed.clone();
        longer.push(0);
        assert_eq!(Manifest::open(&longer), Err(ManifestError::Malformed));
    }

    #[test]
    fn only_the_named_provider_signs_and_only_peerlet_ids_are_named() {
        let keys = Keypair::from_secret([9; 32]);
        let thief = Keypair::from_secret([10; 32]);
        let (_, m) = sample(&keys);
        // Signed by another key than the one it names: refused.
        assert_eq!(
            Manifest::open(&m.sign(&thief)),
            Err(ManifestError::BadSignature)
        );
        let code = [1u8; 10];
        let named = |app| {
            Manifest::describe(
                (AppId(app), false),
                1,
                &code,
                4,
                (Budget::DEFAULT, keys.public()),
            )
        };
        assert_eq!(named(0x5041).err(), Some(ManifestError::AppId));
        assert!(named(0xa000).is_ok());
        let too_many = Manifest::describe(
            (AppId(0xa000), false),
            1,
            &[0; 100],
            3,
            (Budget::DEFAULT, keys.public()),
        );
        assert_eq!(too_many.err(), Some(ManifestError::Chunks));
    }
}
