//! What [`Peerlets`](crate::Peerlets) tells its user. A runtime hands a
//! hosted application's events over as bytes (`NodeEvent::App`); these
//! are their encoding, and [`PeerletEvent::decode`] reads them back.

use pastry_core::{AppId, Id};

const MAGIC: &[u8; 2] = b"PE";

/// An event of the node's peerlets.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerletEvent {
    /// A peerlet answered a message this node sent.
    Reply {
        /// The peerlet's locator.
        locator: Id,
        /// The key the message was sent to.
        key: Id,
        /// The node that answered.
        from: Id,
        /// The answer.
        payload: Vec<u8>,
    },
    /// No member of the key's replica set runs the peerlet.
    Refused {
        /// The peerlet's locator.
        locator: Id,
        /// The key.
        key: Id,
    },
    /// This node installed a peerlet.
    Installed {
        /// Its locator.
        locator: Id,
        /// Its application id.
        app: AppId,
    },
    /// This node stopped a peerlet for its faults, for good.
    Stopped {
        /// Its locator.
        locator: Id,
        /// Its application id.
        app: AppId,
        /// Its last fault, in words.
        fault: String,
    },
    /// A peerlet's log line.
    Log {
        /// Its application id.
        app: AppId,
        /// The line.
        line: String,
    },
}

impl PeerletEvent {
    /// Its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        let put_id = |v: &mut Vec<u8>, id: &Id| v.extend_from_slice(&id.to_bytes());
        match self {
            PeerletEvent::Reply {
                locator,
                key,
                from,
                payload,
            } => {
                v.push(1);
                put_id(&mut v, locator);
                put_id(&mut v, key);
                put_id(&mut v, from);
                v.extend_from_slice(payload);
            }
            PeerletEvent::Refused { locator, key } => {
                v.push(2);
                put_id(&mut v, locator);
                put_id(&mut v, key);
            }
            PeerletEvent::Installed { locator, app } => {
                v.push(3);
                put_id(&mut v, locator);
                v.extend_from_slice(&app.0.to_be_bytes());
            }
            PeerletEvent::Stopped {
                locator,
                app,
                fault,
            } => {
                v.push(4);
                put_id(&mut v, locator);
                v.extend_from_slice(&app.0.to_be_bytes());
                v.extend_from_slice(fault.as_bytes());
            }
            PeerletEvent::Log { app, line } => {
                v.push(5);
                v.extend_from_slice(&app.0.to_be_bytes());
                v.extend_from_slice(line.as_bytes());
            }
        }
        v
    }

    /// Reads an event back; `None` if `bytes` are not one (another
    /// application's event).
    pub fn decode(bytes: &[u8]) -> Option<PeerletEvent> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (&kind, rest) = rest.split_first()?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Some(match kind {
            1 => {
                let (locator, rest) = id(rest)?;
                let (key, rest) = id(rest)?;
                let (from, rest) = id(rest)?;
                PeerletEvent::Reply {
                    locator,
                    key,
                    from,
                    payload: rest.to_vec(),
                }
            }
            2 => {
                let (locator, rest) = id(rest)?;
                let (key, rest) = id(rest)?;
                if !rest.is_empty() {
                    return None;
                }
                PeerletEvent::Refused { locator, key }
            }
            3 => {
                let (locator, rest) = id(rest)?;
                let (app, rest) = app(rest)?;
                if !rest.is_empty() {
                    return None;
                }
                PeerletEvent::Installed { locator, app }
            }
            4 => {
                let (locator, rest) = id(rest)?;
                let (app, rest) = app(rest)?;
                PeerletEvent::Stopped {
                    locator,
                    app,
                    fault: text(rest),
                }
            }
            5 => {
                let (app, rest) = app(rest)?;
                PeerletEvent::Log {
                    app,
                    line: text(rest),
                }
            }
            _ => return None,
        })
    }
}

fn id(b: &[u8]) -> Option<(Id, &[u8])> {
    let (a, rest) = b.split_first_chunk::<20>()?;
    Some((Id::from_bytes(*a), rest))
}

fn app(b: &[u8]) -> Option<(AppId, &[u8])> {
    let (a, rest) = b.split_first_chunk::<2>()?;
    Some((AppId(u16::from_be_bytes(*a)), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_and_others_are_not_read_as_one() {
        let (l, k) = (Id::sha1(b"l"), Id::sha1(b"k"));
        for e in [
            PeerletEvent::Reply {
                locator: l,
                key: k,
                from: Id::sha1(b"f"),
                payload: b"p".to_vec(),
            },
            PeerletEvent::Refused { locator: l, key: k },
            PeerletEvent::Installed {
                locator: l,
                app: AppId(0xa001),
            },
            PeerletEvent::Stopped {
                locator: l,
                app: AppId(0xa001),
                fault: "out of fuel".into(),
            },
            PeerletEvent::Log {
                app: AppId(0xa002),
                line: "hello".into(),
            },
        ] {
            assert_eq!(PeerletEvent::decode(&e.encode()), Some(e));
        }
        assert_eq!(PeerletEvent::decode(b"another app's event"), None);
        assert_eq!(PeerletEvent::decode(b"PE"), None);
    }
}
