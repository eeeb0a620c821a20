//! Client mode on tokio: a process that does not join the overlay asks a
//! member to act for it ([`pastry_core::client`]). One task owns a UDP
//! socket and the core's [`Client`](pastry_core::client::Client); the
//! application holds a cheap [`Client`] handle.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use pastry_core::client::{
    self as core_client, ClientConfig, ClientEvent, Refusal, Reply, Request, ttl_secs,
};
use pastry_core::{AppId, Id, Instant, Peer};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as Clock;

use pastry_core::stack::runtime::Error;
use pastry_core::stack::waiters::Value;

/// A publication relayed to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// The group.
    pub group: Id,
    /// The publication's id.
    pub id: u64,
    /// Its bytes.
    pub data: Bytes,
}

/// The publications relayed to a client, in order: [`Publications::recv`]
/// or a [`Stream`](futures_core::Stream). If the reader falls behind by
/// more than 64, the newest are dropped. It ends when the client's task
/// does (every [`Client`] clone dropped).
#[derive(Debug)]
pub struct Publications {
    rx: mpsc::Receiver<Publication>,
}

impl Publications {
    /// The next publication; `None` once the client has stopped.
    pub async fn recv(&mut self) -> Option<Publication> {
        self.rx.recv().await
    }

    /// The next publication if one is waiting.
    pub fn try_recv(&mut self) -> Option<Publication> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Publications {
    type Item = Publication;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Publication>> {
        self.rx.poll_recv(cx)
    }
}

/// An owned request, as it travels to the task.
enum Ask {
    Put(Id, u64, Bytes, Option<Duration>),
    PutContent(Bytes, Option<Duration>),
    Delete(Id, u64),
    Get(Id, bool),
    Route(Id, AppId, Bytes),
    Publish(Id, Bytes),
    Anycast(Id, Bytes),
    Subscribe(Id),
    Unsubscribe(Id),
}

/// A member's answer, owned.
#[derive(Debug)]
enum Answer {
    Stored(Id, u8),
    Found(Value),
    NotFound,
    Sent(u64),
    Accepted(Peer),
    Done,
}

type AnswerTx = oneshot::Sender<Result<Answer, Error>>;

/// Talks to the overlay through one member, without joining it. Cheap to
/// clone; the task stops when every clone is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    asks: mpsc::Sender<(Ask, AnswerTx)>,
    member: SocketAddr,
}

impl Client {
    /// A client of the member at `member`, on a fresh local socket, with
    /// the default retries (a request is tried for about 40 s). Relayed
    /// publications arrive on the receiver returned.
    pub async fn connect(member: SocketAddr) -> Result<(Client, Publications), Error> {
        Client::with_config(member, ClientConfig::default()).await
    }

    /// Like [`Client::connect`], with the retry settings given.
    pub async fn with_config(
        member: SocketAddr,
        config: ClientConfig,
    ) -> Result<(Client, Publications), Error> {
        let any: SocketAddr = match member {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(any).await?;
        let seed = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(socket.local_addr()?)
        };
        let (tx, rx) = mpsc::channel(64);
        let (ptx, prx) = mpsc::channel(1024);
        let task = Task {
            socket,
            core: core_client::Client::new(member, config, seed),
            asks: rx,
            publications: ptx,
            waiting: HashMap::new(),
            origin: Clock::now(),
            buf: vec![0; core_client::MAX_REPLY],
        };
        tokio::spawn(task.run());
        Ok((Client { asks: tx, member }, Publications { rx: prx }))
    }

    /// The member this client asks.
    pub fn member(&self) -> SocketAddr {
        self.member
    }

    async fn ask(&self, ask: Ask) -> Result<Answer, Error> {
        let (tx, rx) = oneshot::channel();
        self.asks
            .send((ask, tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Stores `value` under `key` at `version`; the replicas that stored it.
    pub async fn put(&self, key: Id, version: u64, value: impl Into<Bytes>) -> Result<u8, Error> {
        self.stored(Ask::Put(key, version, value.into(), None))
            .await
            .map(|(_, n)| n)
    }

    /// [`Client::put`] of a value the replicas drop after `ttl` (whole
    /// seconds, rounded up; see [`Handle::put_expiring`](crate::Handle::put_expiring)).
    pub async fn put_expiring(
        &self,
        key: Id,
        version: u64,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<u8, Error> {
        self.stored(Ask::Put(key, version, value.into(), Some(ttl)))
            .await
            .map(|(_, n)| n)
    }

    /// Stores `value` under its SHA-1; the key and the replicas.
    pub async fn put_content(&self, value: impl Into<Bytes>) -> Result<(Id, u8), Error> {
        self.stored(Ask::PutContent(value.into(), None)).await
    }

    /// [`Client::put_content`] of a value the replicas drop after `ttl`.
    pub async fn put_content_expiring(
        &self,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(Id, u8), Error> {
        self.stored(Ask::PutContent(value.into(), Some(ttl))).await
    }

    /// Deletes `key` at `version` (see [`Handle::delete`](crate::Handle::delete));
    /// the replicas that stored the deletion.
    pub async fn delete(&self, key: Id, version: u64) -> Result<u8, Error> {
        self.stored(Ask::Delete(key, version)).await.map(|(_, n)| n)
    }

    async fn stored(&self, ask: Ask) -> Result<(Id, u8), Error> {
        match self.ask(ask).await? {
            Answer::Stored(key, n) => Ok((key, n)),
            other => Err(unexpected(other)),
        }
    }

    /// Reads `key`.
    pub async fn get(&self, key: Id) -> Result<Option<Value>, Error> {
        self.read(key, false).await
    }

    /// Reads a content-hash key, and checks the value's hash here too (the
    /// member is trusted for nothing it can forge).
    pub async fn get_content(&self, key: Id) -> Result<Option<Value>, Error> {
        let v = self.read(key, true).await?;
        match v {
            Some(v) if Id::sha1(&v.bytes) != key => Err(Error::Forged(key)),
            v => Ok(v),
        }
    }

    async fn read(&self, key: Id, content: bool) -> Result<Option<Value>, Error> {
        match self.ask(Ask::Get(key, content)).await? {
            Answer::Found(v) => Ok(Some(v)),
            Answer::NotFound => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Routes `payload` for `app` to `key`'s root; the message's id.
    pub async fn route(
        &self,
        key: Id,
        app: AppId,
        payload: impl Into<Bytes>,
    ) -> Result<u64, Error> {
        match self.ask(Ask::Route(key, app, payload.into())).await? {
            Answer::Sent(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Publishes to `group`; the publication's id.
    pub async fn publish(&self, group: Id, data: impl Into<Bytes>) -> Result<u64, Error> {
        match self.ask(Ask::Publish(group, data.into())).await? {
            Answer::Sent(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Offers `data` to one member of `group`; the member that took it.
    pub async fn anycast(&self, group: Id, data: impl Into<Bytes>) -> Result<Peer, Error> {
        match self.ask(Ask::Anycast(group, data.into())).await? {
            Answer::Accepted(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    /// Follows `group`: its publications arrive on the receiver from
    /// [`Client::connect`] until [`Client::unsubscribe`]. Answers once the
    /// member is on the group's tree: a publication sent after that
    /// arrives.
    pub async fn subscribe(&self, group: Id) -> Result<(), Error> {
        self.ask(Ask::Subscribe(group)).await.map(drop)
    }

    /// Stops following `group`.
    pub async fn unsubscribe(&self, group: Id) -> Result<(), Error> {
        self.ask(Ask::Unsubscribe(group)).await.map(drop)
    }
}

fn unexpected(a: Answer) -> Error {
    // A member answering a put with "found" is broken or hostile.
    Error::Refused {
        reason: Refusal::Malformed,
        detail: match a {
            Answer::Sent(id) => id,
            _ => 0,
        },
    }
}

struct Task {
    socket: UdpSocket,
    core: core_client::Client,
    asks: mpsc::Receiver<(Ask, AnswerTx)>,
    publications: mpsc::Sender<Publication>,
    waiting: HashMap<u64, AnswerTx>,
    origin: Clock,
    buf: Vec<u8>,
}

impl Task {
    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    async fn run(mut self) {
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .map(|t| self.origin + Duration::from_micros(t.as_micros()));
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let mut ask = None;
            let mut readable = false;
            tokio::select! {
                biased;
                a = self.asks.recv() => match a {
                    Some(a) => ask = Some(a),
                    None => return,
                },
                r = self.socket.readable() => readable = r.is_ok(),
                () = sleep => {}
            }
            let now = self.now();
            if let Some((a, reply)) = ask {
                self.submit(now, a, reply);
            }
            if readable {
                for _ in 0..64 {
                    match self.socket.try_recv_from(&mut self.buf) {
                        Ok((len, from)) => {
                            self.core.handle_datagram(now, from, &self.buf[..len]);
                            self.events();
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {}
                    }
                }
            }
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            self.events();
            // A client sends little: waiting for the socket here is short
            // (a fresh socket is not yet known to be writable, so a
            // non-blocking send could fail the first request for nothing).
            while let Ok(Some(tx)) = self.core.poll_transmit(&mut self.buf) {
                // A failed send is a lost request: the retry timer resends.
                let _ = self
                    .socket
                    .send_to(&self.buf[..tx.len], tx.destination)
                    .await;
            }
        }
    }

    fn submit(&mut self, now: Instant, ask: Ask, reply: AnswerTx) {
        let r = match &ask {
            Ask::Put(key, version, value, ttl) => Request::Put {
                key: *key,
                version: *version,
                ttl_secs: ttl.map_or(0, ttl_secs),
                value,
            },
            Ask::PutContent(value, ttl) => Request::PutContent {
                ttl_secs: ttl.map_or(0, ttl_secs),
                value,
            },
            Ask::Delete(key, version) => Request::Delete {
                key: *key,
                version: *version,
            },
            Ask::Get(key, content) => Request::Get {
                key: *key,
                content: *content,
            },
            Ask::Route(key, app, payload) => Request::Route {
                key: *key,
                app: *app,
                payload,
            },
            Ask::Publish(group, data) => Request::Publish {
                group: *group,
                data,
            },
            Ask::Anycast(group, data) => Request::Anycast {
                group: *group,
                data,
            },
            Ask::Subscribe(group) => {
                let r = self.core.subscribe(now, *group);
                return self.sent(r, reply);
            }
            Ask::Unsubscribe(group) => {
                let r = self.core.unsubscribe(now, *group);
                return self.sent(r, reply);
            }
        };
        let r = self.core.request(now, r);
        self.sent(r, reply);
    }

    fn sent(&mut self, r: Result<u64, core_client::ClientError>, reply: AnswerTx) {
        match r {
            Ok(req) => {
                self.waiting.insert(req, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    fn events(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            let (req, answer) = match ev {
                ClientEvent::Multicast { group, id, data } => {
                    let p = Publication {
                        group,
                        id,
                        data: Bytes::copy_from_slice(data),
                    };
                    // A reader that fell behind loses the newest.
                    let _ = self.publications.try_send(p);
                    continue;
                }
                ClientEvent::TimedOut { req } => (req, Err(Error::TimedOut)),
                ClientEvent::Answer { req, reply } => (req, answer_of(reply)),
                // Nothing a caller waits for.
                _ => continue,
            };
            if let Some(tx) = self.waiting.remove(&req) {
                let _ = tx.send(answer);
            }
        }
    }
}

fn answer_of(reply: Reply<'_>) -> Result<Answer, Error> {
    Ok(match reply {
        Reply::Stored { key, replicas } => Answer::Stored(key, replicas),
        Reply::Found {
            version,
            cached,
            value,
        } => Answer::Found(Value {
            version,
            cached,
            bytes: value.to_vec(),
        }),
        Reply::NotFound => Answer::NotFound,
        Reply::Sent { id } => Answer::Sent(id),
        Reply::Accepted { by } => Answer::Accepted(by),
        Reply::Subscribed { .. } | Reply::Unsubscribed => Answer::Done,
        Reply::Refused { reason, detail } => return Err(Error::from_refusal(reason, detail)),
        // Relayed publications are not answers.
        Reply::Multicast { .. } => Answer::Done,
    })
}
