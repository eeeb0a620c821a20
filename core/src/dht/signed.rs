//! Signed mutable values, after BitTorrent's BEP 44: the key is the SHA-1
//! of the owner's public key and a salt, and the owner signs the salt, the
//! version and the value. Every replica, cache and reader checks the
//! signature, so only the holder of the secret can write the key, and no
//! version can be rolled back by anyone else (the store's version rule).
//!
//! What a store holds for a signed value (its bytes, with [`Meta::signed`]
//! set) is an envelope: public key, signature, salt length, salt, value.
//! The user's value is its tail.

use sha1::{Digest, Sha1};

use super::Meta;
use crate::id::{ID_BYTES, Id};
use crate::identity::{Keypair, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, Signature};
use crate::node::MAX_PAYLOAD;

/// The longest salt (BEP 44's limit).
pub const MAX_SALT: usize = 64;

/// Bytes an envelope adds to a value, besides its salt.
pub const ENVELOPE_OVERHEAD: usize = PUBLIC_KEY_BYTES + SIGNATURE_BYTES + 1;

/// Domain separation: a signature over a value is never one over
/// anything else the key signs (handshakes, routed messages).
const DOMAIN: &[u8] = b"pastry/signed-value/v1";
/// ... and a deletion (a tombstone, whose value is empty) is never a
/// value, nor a value a deletion.
const DELETE_DOMAIN: &[u8] = b"pastry/signed-delete/v1";

const SIGNED_MAX: usize = DELETE_DOMAIN.len() + 8 + 1 + MAX_SALT + MAX_PAYLOAD;

/// The key under which `owner` keeps the value named `salt`:
/// SHA-1(public key ‖ salt).
pub fn signed_key(owner: &PublicKey, salt: &[u8]) -> Id {
    let digest = Sha1::new()
        .chain_update(owner.to_bytes())
        .chain_update(salt)
        .finalize();
    let mut b = [0u8; ID_BYTES];
    b.copy_from_slice(&digest);
    Id::from_bytes(b)
}

/// The bytes a signature covers, written into `buf`; `None` if too long.
fn signed_bytes<'b>(
    buf: &'b mut [u8; SIGNED_MAX],
    deleted: bool,
    salt: &[u8],
    version: u64,
    value: &[u8],
) -> Option<&'b [u8]> {
    let domain = if deleted { DELETE_DOMAIN } else { DOMAIN };
    let len = domain.len() + 8 + 1 + salt.len() + value.len();
    if salt.len() > MAX_SALT || len > SIGNED_MAX {
        return None;
    }
    let mut at = 0;
    for part in [
        domain,
        &version.to_be_bytes(),
        &[salt.len() as u8],
        salt,
        value,
    ] {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    Some(&buf[..len])
}

/// Writes the envelope of `value` signed by `owner` at `version` into
/// `out`; its length, or `None` if the salt or value is too long. A
/// deletion (`deleted`, an empty value) is signed apart from any value.
pub(super) fn seal(
    owner: &Keypair,
    (salt, deleted): (&[u8], bool),
    version: u64,
    value: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let mut buf = [0u8; SIGNED_MAX];
    let sig = owner.sign(signed_bytes(&mut buf, deleted, salt, version, value)?);
    let len = ENVELOPE_OVERHEAD + salt.len() + value.len();
    let out = out.get_mut(..len)?;
    let (key, rest) = out.split_at_mut(PUBLIC_KEY_BYTES);
    key.copy_from_slice(&owner.public().to_bytes());
    let (s, rest) = rest.split_at_mut(SIGNATURE_BYTES);
    s.copy_from_slice(&sig.0);
    rest[0] = salt.len() as u8;
    rest[1..1 + salt.len()].copy_from_slice(salt);
    rest[1 + salt.len()..].copy_from_slice(value);
    Some(len)
}

/// A signed value that checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// Its owner's key.
    pub owner: PublicKey,
    /// Its salt.
    pub salt: &'a [u8],
    /// The owner's value.
    pub value: &'a [u8],
}

/// Checks the envelope `bytes` stored under `key` at `version`: the key is
/// the hash of the envelope's owner key and salt, and the owner signed the
/// salt, the version and the value. `None` if anything is off.
pub fn open(key: Id, version: u64, bytes: &[u8]) -> Option<Opened<'_>> {
    open_as(key, version, false, bytes)
}

/// [`open`] for a value, or (`deleted`) for its owner's deletion, whose
/// value is empty.
fn open_as(key: Id, version: u64, deleted: bool, bytes: &[u8]) -> Option<Opened<'_>> {
    let (owner, rest) = bytes.split_first_chunk::<PUBLIC_KEY_BYTES>()?;
    let (sig, rest) = rest.split_first_chunk::<SIGNATURE_BYTES>()?;
    let (&salt_len, rest) = rest.split_first()?;
    let salt = rest.get(..usize::from(salt_len))?;
    let value = &rest[salt.len()..];
    let owner = PublicKey::from_bytes_unchecked(*owner);
    if salt.len() > MAX_SALT || signed_key(&owner, salt) != key {
        return None;
    }
    let mut buf = [0u8; SIGNED_MAX];
    if deleted && !value.is_empty() {
        return None;
    }
    let msg = signed_bytes(&mut buf, deleted, salt, version, value)?;
    // `verify` checks the key is a point of the curve; weak keys cannot
    // pass `verify_strict`.
    owner.verify(msg, &Signature(*sig)).ok()?;
    Some(Opened { owner, salt, value })
}

/// Whether a value's authenticity is proven by its key: content-hash and
/// signed values, checked when they were accepted. Such a value replaces
/// an unproven one under its key whatever the versions, and an unproven
/// one never replaces it (`store::admits`).
pub(super) fn proven(meta: Meta) -> bool {
    meta.content || meta.signed
}

/// Checks what a message claims of a value whatever its flags say: a
/// content-hash value must hash to its key, a signed one (or signed
/// deletion) must open, a plain deletion holds nothing.
pub(super) fn checks(key: Id, meta: Meta, value: &[u8]) -> bool {
    if meta.content && (meta.deleted || Id::sha1(value) != key) {
        return false;
    }
    match (meta.signed, meta.deleted) {
        (true, deleted) => open_as(key, meta.version, deleted, value).is_some(),
        (false, true) => value.is_empty(),
        (false, false) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_signs_and_nothing_signed_can_be_changed() {
        let owner = Keypair::from_secret([4; 32]);
        let key = signed_key(&owner.public(), b"profile");
        let mut env = [0u8; 256];
        let n = seal(&owner, (b"profile", false), 7, b"hello", &mut env).unwrap();
        let opened = open(key, 7, &env[..n]).expect("the owner's value opens");
        assert_eq!(
            (opened.salt, opened.value),
            (&b"profile"[..], &b"hello"[..])
        );
        assert_eq!(opened.owner, owner.public());
        // Another version, key, or any flipped byte: refused.
        assert!(open(key, 8, &env[..n]).is_none(), "version is signed");
        assert!(
            open(Id::sha1(b"x"), 7, &env[..n]).is_none(),
            "key binds owner"
        );
        for i in 0..n {
            let mut bad = env;
            bad[i] ^= 1;
            assert!(open(key, 7, &bad[..n]).is_none(), "byte {i}");
        }
        for cut in 0..n {
            assert!(open(key, 7, &env[..cut]).is_none(), "truncated at {cut}");
        }
        // Someone else's key under the same salt names another key.
        let thief = Keypair::from_secret([5; 32]);
        let m = seal(&thief, (b"profile", false), 9, b"mine", &mut env).unwrap();
        assert!(open(key, 9, &env[..m]).is_none());
        assert!(seal(&owner, (&[0; MAX_SALT + 1], false), 1, b"", &mut env).is_none());
    }

    #[test]
    fn a_deletion_is_signed_apart_from_every_value() {
        let owner = Keypair::from_secret([4; 32]);
        let key = signed_key(&owner.public(), b"s");
        let at = |version, deleted| Meta {
            version,
            signed: true,
            deleted,
            ..Meta::default()
        };
        let mut env = [0u8; 256];
        let n = seal(&owner, (b"s", true), 3, b"", &mut env).unwrap();
        assert!(checks(key, at(3, true), &env[..n]), "the owner's deletion");
        assert!(!checks(key, at(3, false), &env[..n]), "not a value");
        assert!(!checks(key, at(4, true), &env[..n]), "version is signed");
        // The owner's empty value at the same version is no deletion.
        let v = seal(&owner, (b"s", false), 3, b"", &mut env).unwrap();
        assert!(!checks(key, at(3, true), &env[..v]));
        // A plain deletion holds nothing; a content-hash key has none.
        let plain = Meta {
            deleted: true,
            ..Meta::default()
        };
        assert!(checks(key, plain, b""));
        assert!(!checks(key, plain, b"x"));
        let content = Meta {
            content: true,
            deleted: true,
            ..Meta::default()
        };
        assert!(!checks(Id::sha1(b""), content, b""));
    }
}
