//! Client mode without async and without a loop thread: a blocking client
//! that asks one member to act for it ([`pastry_core::client`]). Each call
//! sends its request and waits on the socket, retrying on the core's
//! timers, until the answer; publications of followed groups that arrive
//! meanwhile are kept for [`Client::next_publication`].

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant as Clock};

use pastry_core::client::{
    self as core_client, ClientConfig, ClientEvent, Reply, Request, ttl_secs,
};
use pastry_core::{AppId, Id, Instant, Peer};

use pastry_core::stack::waiters::Value;

use pastry_core::stack::runtime::Error;

/// Publications kept while the application is not reading them.
const KEPT: usize = 1024;

/// A publication relayed to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// The group.
    pub group: Id,
    /// The publication's id.
    pub id: u64,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A blocking client of one member (see the module docs).
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    core: core_client::Client,
    origin: Clock,
    buf: Vec<u8>,
    publications: VecDeque<Publication>,
}

/// An answer, or why there is none.
type Answer = Result<Owned, Error>;

#[derive(Debug)]
enum Owned {
    Stored(Id, u8),
    Found(Option<Value>),
    Sent(u64),
    Accepted(Peer),
    Done,
}

impl Client {
    /// A client of the member at `member`, with the default retries.
    pub fn connect(member: SocketAddr) -> Result<Client, Error> {
        Client::with_config(member, ClientConfig::default())
    }

    /// Like [`Client::connect`], with the retry settings given.
    pub fn with_config(member: SocketAddr, config: ClientConfig) -> Result<Client, Error> {
        let any: SocketAddr = match member {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any)?;
        let seed = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(socket.local_addr()?)
        };
        Ok(Client {
            socket,
            core: core_client::Client::new(member, config, seed),
            origin: Clock::now(),
            buf: vec![0; core_client::MAX_REPLY],
            publications: VecDeque::new(),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    /// Sends what the core has to send.
    fn flush(&mut self) -> Result<(), Error> {
        while let Some(tx) = self
            .core
            .poll_transmit(&mut self.buf)
            .map_err(io::Error::from)?
        {
            // A failed send is a lost request: the retry timer resends.
            let _ = self.socket.send_to(&self.buf[..tx.len], tx.destination);
        }
        Ok(())
    }

    /// Takes the core's events: keeps publications, returns the answer to
    /// `req` if it came.
    fn events(&mut self, req: u64) -> Option<Answer> {
        let mut answer = None;
        while let Some(ev) = self.core.poll_event() {
            match ev {
                ClientEvent::Multicast { group, id, data } => {
                    if self.publications.len() == KEPT {
                        self.publications.pop_front();
                    }
                    self.publications.push_back(Publication {
                        group,
                        id,
                        data: data.to_vec(),
                    });
                }
                ClientEvent::TimedOut { req: r } if r == req => answer = Some(Err(Error::TimedOut)),
                ClientEvent::Answer { req: r, reply } if r == req => answer = Some(owned(reply)),
                _ => {}
            }
        }
        answer
    }

    /// Waits on the socket until the core's next deadline (or `until`);
    /// feeds whatever arrived.
    fn wait(&mut self, until: Option<Clock>) -> Result<(), Error> {
        let now = Clock::now();
        let deadline = self
            .core
            .poll_timeout()
            .map(|t| self.origin + Duration::from_micros(t.as_micros()));
        let wake = match (deadline, until) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => now + Duration::from_secs(1),
        };
        let limit = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(limit))?;
        match self.socket.recv_from(&mut self.buf) {
            Ok((len, from)) => {
                let now = self.now();
                let bytes = self.buf[..len].to_vec();
                self.core.handle_datagram(now, from, &bytes);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.now();
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
        }
        self.flush()
    }

    fn ask(&mut self, r: Result<u64, core_client::ClientError>) -> Answer {
        let req = r?;
        self.flush()?;
        loop {
            if let Some(a) = self.events(req) {
                return a;
            }
            self.wait(None)?;
        }
    }

    fn request(&mut self, r: Request<'_>) -> Answer {
        let now = self.now();
        let sent = self.core.request(now, r);
        self.ask(sent)
    }

    /// Stores `value` under `key` at `version`; the replicas that stored it.
    pub fn put(&mut self, key: Id, version: u64, value: &[u8]) -> Result<u8, Error> {
        self.put_for(key, version, value, 0)
    }

    /// [`Client::put`] of a value the replicas drop after `ttl` (whole
    /// seconds, rounded up).
    pub fn put_expiring(
        &mut self,
        key: Id,
        version: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<u8, Error> {
        self.put_for(key, version, value, ttl_secs(ttl))
    }

    fn put_for(&mut self, key: Id, version: u64, value: &[u8], ttl_secs: u32) -> Result<u8, Error> {
        self.stored(Request::Put {
            key,
            version,
            ttl_secs,
            value,
        })
        .map(|(_, n)| n)
    }

    /// Deletes `key` at `version` (a tombstone); the replicas that stored it.
    pub fn delete(&mut self, key: Id, version: u64) -> Result<u8, Error> {
        self.stored(Request::Delete { key, version })
            .map(|(_, n)| n)
    }

    /// Stores `value` under its SHA-1; the key and the replicas.
    pub fn put_content(&mut self, value: &[u8]) -> Result<(Id, u8), Error> {
        self.stored(Request::PutContent { ttl_secs: 0, value })
    }

    /// [`Client::put_content`] of a value the replicas drop after `ttl`.
    pub fn put_content_expiring(&mut self, value: &[u8], ttl: Duration) -> Result<(Id, u8), Error> {
        let ttl_secs = ttl_secs(ttl);
        self.stored(Request::PutContent { ttl_secs, value })
    }

    fn stored(&mut self, r: Request<'_>) -> Result<(Id, u8), Error> {
        match self.request(r)? {
            Owned::Stored(key, n) => Ok((key, n)),
            _ => Err(Error::TimedOut),
        }
    }

    /// Reads `key`.
    pub fn get(&mut self, key: Id) -> Result<Option<Value>, Error> {
        match self.request(Request::Get {
            key,
            content: false,
        })? {
            Owned::Found(v) => Ok(v),
            _ => Err(Error::TimedOut),
        }
    }

    /// Routes `payload` for `app` to `key`'s root; the message's id.
    pub fn route(&mut self, key: Id, app: AppId, payload: &[u8]) -> Result<u64, Error> {
        match self.request(Request::Route { key, app, payload })? {
            Owned::Sent(id) => Ok(id),
            _ => Err(Error::TimedOut),
        }
    }

    /// Publishes to `group`; the publication's id.
    pub fn publish(&mut self, group: Id, data: &[u8]) -> Result<u64, Error> {
        match self.request(Request::Publish { group, data })? {
            Owned::Sent(id) => Ok(id),
            _ => Err(Error::TimedOut),
        }
    }

    /// Offers `data` to one member of `group`; who took it.
    pub fn anycast(&mut self, group: Id, data: &[u8]) -> Result<Peer, Error> {
        match self.request(Request::Anycast { group, data })? {
            Owned::Accepted(p) => Ok(p),
            _ => Err(Error::TimedOut),
        }
    }

    /// Follows `group`; its publications come from
    /// [`Client::next_publication`] (the lease is renewed while this client
    /// is used). Answers once the member is on the group's tree: a
    /// publication sent after that arrives.
    pub fn subscribe(&mut self, group: Id) -> Result<(), Error> {
        let now = self.now();
        let sent = self.core.subscribe(now, group);
        self.ask(sent).map(drop)
    }

    /// Stops following `group`.
    pub fn unsubscribe(&mut self, group: Id) -> Result<(), Error> {
        let now = self.now();
        let sent = self.core.unsubscribe(now, group);
        self.ask(sent).map(drop)
    }

    /// The next publication of a followed group, waiting at most `limit`.
    pub fn next_publication(&mut self, limit: Duration) -> Result<Option<Publication>, Error> {
        let until = Clock::now() + limit;
        loop {
            let _ = self.events(0);
            if let Some(p) = self.publications.pop_front() {
                return Ok(Some(p));
            }
            if Clock::now() >= until {
                return Ok(None);
            }
            self.wait(Some(until))?;
        }
    }
}

fn owned(reply: Reply<'_>) -> Answer {
    Ok(match reply {
        Reply::Stored { key, replicas } => Owned::Stored(key, replicas),
        Reply::Found {
            version,
            cached,
            value,
        } => Owned::Found(Some(Value {
            version,
            cached,
            bytes: value.to_vec(),
        })),
        Reply::NotFound => Owned::Found(None),
        Reply::Sent { id } => Owned::Sent(id),
        Reply::Accepted { by } => Owned::Accepted(by),
        Reply::Subscribed { .. } | Reply::Unsubscribed | Reply::Multicast { .. } => Owned::Done,
        Reply::Refused { reason, detail } => {
            return Err(Error::from_refusal(reason, detail));
        }
    })
}
