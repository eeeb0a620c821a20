//! Checked cursors over datagram bytes: every read is checked against the
//! bytes present, and writes go to a buffer whose length was checked first.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::DecodeError;
use crate::id::{ID_BYTES, Id};
use crate::peer::Peer;

const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Encoded length of an address: family byte, IP, port.
pub(crate) fn addr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

/// Encoded length of a peer: id then address.
pub(crate) fn peer_len(peer: &Peer) -> usize {
    ID_BYTES + addr_len(&peer.addr)
}

/// The largest encoded peer (IPv6).
pub(crate) const MAX_PEER_LEN: usize = ID_BYTES + 1 + 16 + 2;

/// Reads big-endian values from a borrowed datagram, never past its end.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes, borrowed.
    pub(crate) fn take_array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn id(&mut self) -> Result<Id, DecodeError> {
        Ok(Id::from_bytes(self.array()?))
    }

    pub(crate) fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8()? {
            FAMILY_V4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            FAMILY_V6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            other => return Err(DecodeError::BadAddressFamily(other)),
        };
        Ok(SocketAddr::new(ip, self.u16()?))
    }

    pub(crate) fn peer(&mut self) -> Result<Peer, DecodeError> {
        Ok(Peer::new(self.id()?, self.addr()?))
    }

    /// Everything not yet read, without consuming it.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Writes big-endian values into a caller's buffer.
///
/// The encoder checks the buffer against the message's exact length before
/// writing, so running out of room is an internal bug; even then the writer
/// stops and records it rather than panicking.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Writer<'b> {
        Writer {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + b.len()) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.pos += b.len();
            }
            None => self.overflow = true,
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn id(&mut self, id: Id) {
        self.bytes(&id.to_bytes());
    }

    pub(crate) fn addr(&mut self, addr: &SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                self.u8(FAMILY_V4);
                self.bytes(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                // Flow info and scope id are local to a host: not sent.
                self.u8(FAMILY_V6);
                self.bytes(&a.ip().octets());
            }
        }
        self.u16(addr.port());
    }

    pub(crate) fn peer(&mut self, peer: &Peer) {
        self.id(peer.id);
        self.addr(&peer.addr);
    }

    /// Bytes written, or `None` if the buffer ran out.
    pub(crate) fn finish(self) -> Option<usize> {
        (!self.overflow).then_some(self.pos)
    }
}
