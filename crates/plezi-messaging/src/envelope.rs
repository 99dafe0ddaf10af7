//! The Redis wire format: versioned JSON envelopes that name their origin server.
//!
//! ```json
//! {"v":1,"seq":17,"origin":"0123456789abcdef","kind":"channel","channel":"news",
//!  "from":"0123456789abcdef-0001-0000002a-00000003","event":"headline","data":{"t":"hi"}}
//! ```
//! - `v`: format version, always `1`; anything else is dropped.
//! - `pos`: `{"e":EPOCH,"o":OFFSET}`, only on a message to a stream that keeps a history in Redis: its
//!   place in the stream (the stream is named by the target). Redis's history script writes it
//!   (`docs/protocol.md#recovery`); such an envelope also reaches its origin, whose local receivers
//!   are served from the echo, in stream order.
//! - `seq`: the origin's publish counter (optional). Receivers drop an envelope whose `seq` is not above the
//!   last one seen from that origin: this removes the duplicates a retried pipeline can cause and the second
//!   copy Redis sends when both an exact and a pattern subscription match.
//! - `origin`: the publishing [`ServerId`]; a server drops its own echoes.
//! - `kind`: `multicast`, `broadcast` (+`controller`), `unicast` (+`to`), `channel` (+`channel`),
//!   `identity` (+`identity`), or `drain` (+`identity`: "your live connections of this identity have mail").
//! - `except`, `from`: connection UUIDs, optional.
//! - `mid`: the mailbox message id of a forwarded identity notification, optional.
//! - payload: `event` + `data` (any JSON, default `null`), or `raw` (the bytes, when they are UTF-8), or
//!   `raw64` (standard base64 with padding, when they are not).
//!
//! Unknown fields are ignored, so version 1 can grow optional fields.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::history::Position;
use crate::message::{Message, Payload, Target};
use crate::uuid::{ConnectionUuid, ServerId};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The envelope format version this crate writes and accepts.
pub const ENVELOPE_VERSION: u64 = 1;

/// One decoded envelope.
#[derive(Clone, PartialEq, Debug)]
pub struct Envelope {
    /// The publishing server.
    pub origin: ServerId,
    /// The origin's publish counter, if the envelope carries one.
    pub seq: Option<u64>,
    /// What it carries.
    pub body: EnvelopeBody,
}

/// The content of an [`Envelope`].
#[derive(Clone, PartialEq, Debug)]
pub enum EnvelopeBody {
    /// A message for local connections.
    Message(Message),
    /// A drain signal: the receiver's live connections of `identity` have mail waiting.
    Drain {
        /// The identity whose mailbox to drain.
        identity: String,
    },
}

/// Why bytes from the bus are not a valid envelope.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EnvelopeError {
    /// Longer than the configured limit.
    TooLarge(usize),
    /// Not JSON, or not the envelope's shape.
    Malformed(String),
    /// A `v` this crate does not speak.
    Version(u64),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::TooLarge(n) => {
                write!(f, "envelope of {n} bytes is over max_envelope_bytes")
            }
            EnvelopeError::Malformed(why) => write!(f, "malformed envelope: {why}"),
            EnvelopeError::Version(v) => write!(
                f,
                "envelope version {v} (this server speaks {ENVELOPE_VERSION})"
            ),
        }
    }
}

impl std::error::Error for EnvelopeError {}

#[derive(Serialize)]
struct Out<'a> {
    v: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    origin: ServerId,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<ConnectionUuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    except: Option<ConnectionUuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<ConnectionUuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw64: Option<String>,
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw64: Option<String>,
}

impl<'a> PayloadOut<'a> {
    fn new(payload: &'a Payload) -> PayloadOut<'a> {
        match payload {
            Payload::Event { event, data } => PayloadOut {
                event: Some(event),
                data: Some(data),
                raw: None,
                raw64: None,
            },
            Payload::Raw(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => PayloadOut {
                    event: None,
                    data: None,
                    raw: Some(text),
                    raw64: None,
                },
                Err(_) => PayloadOut {
                    event: None,
                    data: None,
                    raw: None,
                    raw64: Some(BASE64.encode(bytes)),
                },
            },
        }
    }
}

#[derive(Deserialize)]
struct In {
    v: u64,
    #[serde(default)]
    pos: Option<PosIn>,
    #[serde(default)]
    seq: Option<u64>,
    origin: ServerId,
    kind: String,
    #[serde(default)]
    controller: Option<String>,
    #[serde(default)]
    to: Option<ConnectionUuid>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    except: Option<ConnectionUuid>,
    #[serde(default)]
    from: Option<ConnectionUuid>,
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    raw64: Option<String>,
}

/// A history stream position as the history script writes it.
#[derive(Deserialize)]
struct PosIn {
    e: String,
    o: u64,
}

#[derive(Deserialize)]
struct PayloadIn {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    raw64: Option<String>,
}

impl PayloadIn {
    fn into_payload(self) -> Result<Payload, EnvelopeError> {
        match (self.event, self.raw, self.raw64) {
            (Some(event), None, None) => Ok(Payload::Event {
                event,
                data: self.data.unwrap_or(serde_json::Value::Null),
            }),
            (None, Some(raw), None) => Ok(Payload::Raw(Arc::from(raw.into_bytes()))),
            (None, None, Some(b64)) => BASE64
                .decode(&b64)
                .map(|b| Payload::Raw(Arc::from(b)))
                .map_err(|_| EnvelopeError::Malformed("raw64 is not valid base64".into())),
            _ => Err(EnvelopeError::Malformed(
                "needs exactly one of event, raw, raw64".into(),
            )),
        }
    }
}

impl Envelope {
    /// Whether this is a message with a place in a history stream (an echo its origin delivers
    /// too).
    pub(crate) fn has_position(&self) -> bool {
        matches!(&self.body, EnvelopeBody::Message(m) if m.position.is_some())
    }

    /// Wraps a message.
    pub fn message(origin: ServerId, message: Message) -> Envelope {
        Envelope {
            origin,
            seq: None,
            body: EnvelopeBody::Message(message),
        }
    }

    /// Encodes to JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.encode_into(&mut out);
        out
    }

    /// Encodes to JSON, appending to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let body = match &self.body {
            EnvelopeBody::Drain { identity } => BodyRef::Drain(identity),
            EnvelopeBody::Message(m) => BodyRef::Message(m),
        };
        encode_parts(self.origin, self.seq, body, out);
    }

    /// Encodes the envelope of `message` from `origin` (without `seq`) straight from the borrow:
    /// the same bytes as `Envelope::message(origin, message.clone()).encode()`, with no copy of
    /// the message.
    pub fn encode_message(origin: ServerId, message: &Message) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        encode_parts(origin, None, BodyRef::Message(message), &mut out);
        out
    }

    /// Decodes and checks an envelope (at most `max_len` bytes).
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > max_len {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let raw: In =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if raw.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::Version(raw.v));
        }
        let missing =
            |field: &str| EnvelopeError::Malformed(format!("kind {:?} needs {field:?}", raw.kind));
        let target = match raw.kind.as_str() {
            "drain" => {
                let identity = raw.identity.ok_or_else(|| missing("identity"))?;
                return Ok(Envelope {
                    origin: raw.origin,
                    seq: raw.seq,
                    body: EnvelopeBody::Drain { identity },
                });
            }
            "multicast" => Target::Multicast,
            "broadcast" => Target::Broadcast {
                controller: raw.controller.ok_or_else(|| missing("controller"))?,
            },
            "unicast" => Target::Unicast(raw.to.ok_or_else(|| missing("to"))?),
            "channel" => Target::Channel(raw.channel.ok_or_else(|| missing("channel"))?),
            "identity" => Target::Identity(raw.identity.ok_or_else(|| missing("identity"))?),
            other => return Err(EnvelopeError::Malformed(format!("unknown kind {other:?}"))),
        };
        let payload = PayloadIn {
            event: raw.event,
            data: raw.data,
            raw: raw.raw,
            raw64: raw.raw64,
        }
        .into_payload()?;
        let position = match (raw.pos, crate::history::stream_of(&target)) {
            (Some(pos), Some(stream)) => Some(Position {
                stream: stream.into(),
                epoch: pos.e.into(),
                offset: pos.o,
            }),
            _ => None,
        };
        Ok(Envelope {
            origin: raw.origin,
            seq: raw.seq,
            body: EnvelopeBody::Message(Message {
                target,
                payload,
                except: raw.except,
                from: raw.from,
                position,
                mailbox_id: raw.mid.map(Arc::from),
            }),
        })
    }
}

/// What an envelope carries, borrowed for encoding.
enum BodyRef<'a> {
    Message(&'a Message),
    Drain(&'a str),
}

/// Encodes one envelope as JSON, appending to `out`.
fn encode_parts(origin: ServerId, seq: Option<u64>, body: BodyRef<'_>, out: &mut Vec<u8>) {
    let mut o = Out {
        v: ENVELOPE_VERSION,
        seq,
        origin,
        kind: "",
        controller: None,
        to: None,
        channel: None,
        identity: None,
        except: None,
        from: None,
        mid: None,
        event: None,
        data: None,
        raw: None,
        raw64: None,
    };
    match body {
        BodyRef::Drain(identity) => {
            o.kind = "drain";
            o.identity = Some(identity);
        }
        BodyRef::Message(m) => {
            o.except = m.except;
            o.from = m.from;
            o.mid = m.mailbox_id.as_deref();
            let p = PayloadOut::new(&m.payload);
            (o.event, o.data, o.raw, o.raw64) = (p.event, p.data, p.raw, p.raw64);
            match &m.target {
                Target::Multicast => o.kind = "multicast",
                Target::Broadcast { controller } => {
                    o.kind = "broadcast";
                    o.controller = Some(controller);
                }
                Target::Unicast(to) => {
                    o.kind = "unicast";
                    o.to = Some(*to);
                }
                Target::Channel(name) => {
                    o.kind = "channel";
                    o.channel = Some(name);
                }
                Target::Identity(id) => {
                    o.kind = "identity";
                    o.identity = Some(id);
                }
            }
        }
    }
    // Serializing this struct into a Vec cannot fail (no maps with non-string keys, no I/O).
    if let Err(e) = serde_json::to_writer(&mut *out, &o) {
        log::error!("envelope encoding failed: {e}");
    }
}

/// Writes `encoded` (an envelope encoded without `seq`) with `"seq":seq` inserted after the version.
pub(crate) fn with_seq(encoded: &[u8], seq: u64, out: &mut Vec<u8>) {
    const HEAD: &[u8] = b"{\"v\":1,";
    if let Some(rest) = encoded.strip_prefix(HEAD) {
        out.extend_from_slice(HEAD);
        out.extend_from_slice(b"\"seq\":");
        crate::redis::resp::push_decimal(out, seq);
        out.push(b',');
        out.extend_from_slice(rest);
    } else {
        out.extend_from_slice(encoded);
    }
}

/// The stored form of a mailbox message: its id (`mid`) and the payload fields of an envelope.
pub(crate) fn encode_stored(id: &str, payload: &Payload) -> Vec<u8> {
    #[derive(Serialize)]
    struct Stored<'a> {
        mid: &'a str,
        #[serde(flatten)]
        payload: PayloadOut<'a>,
    }
    let stored = Stored {
        mid: id,
        payload: PayloadOut::new(payload),
    };
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// Reads a stored mailbox message: its id (`None` when it was stored without one) and its payload.
pub(crate) fn decode_stored(bytes: &[u8]) -> Option<(Option<String>, Payload)> {
    #[derive(Deserialize)]
    struct Stored {
        #[serde(default)]
        mid: Option<String>,
        #[serde(flatten)]
        payload: PayloadIn,
    }
    let stored = serde_json::from_slice::<Stored>(bytes).ok()?;
    Some((stored.mid, stored.payload.into_payload().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uuid(n: u32) -> ConnectionUuid {
        ConnectionUuid::new(ServerId::from_u64(0xabc), 1, n, 2)
    }

    fn round_trip(env: Envelope) {
        let bytes = env.encode();
        assert_eq!(
            Envelope::decode(&bytes, 1 << 20).unwrap(),
            env,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let origin = ServerId::from_u64(99);
        let payloads = [
            Payload::event("chat", json!({"text": "hi", "n": [1, 2]})),
            Payload::raw("plain text"),
            Payload::raw([0u8, 255, 7]),
        ];
        let targets = [
            Target::Multicast,
            Target::Broadcast {
                controller: "Chat".into(),
            },
            Target::Unicast(uuid(5)),
            Target::Channel("news.*".into()),
            Target::Identity("user-1".into()),
        ];
        for payload in &payloads {
            for target in &targets {
                let m = Message {
                    target: target.clone(),
                    payload: payload.clone(),
                    except: Some(uuid(1)),
                    from: Some(uuid(2)),
                    position: None,
                    mailbox_id: Some(Arc::from("0000000000000063.7")),
                };
                assert_eq!(
                    Envelope::encode_message(origin, &m),
                    Envelope::message(origin, m.clone()).encode(),
                    "encoding from a borrow writes the same bytes"
                );
                round_trip(Envelope {
                    origin,
                    seq: Some(3),
                    body: EnvelopeBody::Message(m.clone()),
                });
                round_trip(Envelope::message(
                    origin,
                    Message::new(target.clone(), payload.clone()),
                ));
            }
        }
        round_trip(Envelope {
            origin,
            seq: None,
            body: EnvelopeBody::Drain {
                identity: "u".into(),
            },
        });
    }

    #[test]
    fn seq_is_spliced_after_the_version() {
        let env = Envelope::message(
            ServerId::from_u64(1),
            Message::new(Target::Multicast, Payload::raw("x")),
        );
        let mut out = Vec::new();
        with_seq(&env.encode(), 42, &mut out);
        let back = Envelope::decode(&out, 1000).unwrap();
        assert_eq!(back.seq, Some(42));
        assert_eq!(back.body, env.body);
    }

    #[test]
    fn rejects_garbage_versions_and_sizes() {
        let good = Envelope::message(
            ServerId::from_u64(1),
            Message::new(Target::Multicast, Payload::raw("x")),
        )
        .encode();
        assert!(matches!(
            Envelope::decode(&good, 5),
            Err(EnvelopeError::TooLarge(_))
        ));
        let v2 = String::from_utf8(good.clone())
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        assert_eq!(
            Envelope::decode(v2.as_bytes(), 1000),
            Err(EnvelopeError::Version(2))
        );
        for bad in [
            &b"garbage"[..],
            b"",
            b"[]",
            b"{\"v\":1}",
            b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"unicast\",\"event\":\"e\"}",
            b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"nope\",\"event\":\"e\"}",
            b"{\"v\":1,\"origin\":\"XYZ\",\"kind\":\"multicast\",\"event\":\"e\"}",
            b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"multicast\"}",
            b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"multicast\",\"event\":\"e\",\"raw\":\"x\"}",
            b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"multicast\",\"raw64\":\"@@\"}",
            b"\xff\xfe",
        ] {
            assert!(matches!(Envelope::decode(bad, 1000), Err(EnvelopeError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_history_position_is_read_with_the_stream_of_the_target() {
        let with_pos = br#"{"v":1,"pos":{"e":"ab12","o":7},"seq":3,"origin":"0000000000000001","kind":"channel","channel":"news","event":"e"}"#;
        let env = Envelope::decode(with_pos, 1000).unwrap();
        assert!(env.has_position());
        let EnvelopeBody::Message(m) = env.body else {
            panic!("a message")
        };
        assert_eq!(
            m.position,
            Some(Position {
                stream: "ch:news".into(),
                epoch: "ab12".into(),
                offset: 7
            })
        );
        // A target that keeps no history (a multicast) has no position, whatever it carries.
        let multicast = br#"{"v":1,"pos":{"e":"ab12","o":7},"origin":"0000000000000001","kind":"multicast","event":"e"}"#;
        assert!(!Envelope::decode(multicast, 1000).unwrap().has_position());
    }

    #[test]
    fn stored_form_round_trips() {
        for p in [
            Payload::event("e", json!(null)),
            Payload::raw("abc"),
            Payload::raw([0xffu8]),
        ] {
            assert_eq!(
                decode_stored(&encode_stored("s.1", &p)),
                Some((Some("s.1".to_owned()), p))
            );
        }
        assert_eq!(decode_stored(b"nope"), None);
        // Stored before messages had ids: read without one.
        assert_eq!(
            decode_stored(br#"{"event":"e","data":1}"#),
            Some((None, Payload::event("e", json!(1))))
        );
    }
}
