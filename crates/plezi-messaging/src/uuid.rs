//! Connection UUIDs: which server, which connection.
//!
//! A [`ConnectionUuid`] names one connection anywhere on the bus. Its text form is fixed-length
//! lowercase hex, `SSSSSSSSSSSSSSSS-LLLL-IIIIIIII-GGGGGGGG` (39 characters):
//!
//! | part | width | meaning |
//! |---|---|---|
//! | `S` | 16 hex (64 bits) | the [`ServerId`]: random, fresh for every process start |
//! | `L` | 4 hex (16 bits) | the event-loop index inside that server |
//! | `I` | 8 hex (32 bits) | the connection slot inside that loop |
//! | `G` | 8 hex (32 bits) | the slot's generation, bumped each time the slot is reused |
//!
//! The server part routes a unicast to the owning server's channel only; the generation makes a stale
//! id (a connection that closed) unable to reach a newer connection that reuses the slot.
//! Parsing is strict: exactly 39 bytes, dashes at their places, lowercase hex digits only.

use std::fmt;
use std::str::FromStr;

/// Length in bytes of a [`ConnectionUuid`] in text form.
pub const UUID_TEXT_LEN: usize = 39;
/// Length in bytes of a [`ServerId`] in text form.
pub const SERVER_ID_TEXT_LEN: usize = 16;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The id of one server process on the bus: 64 random bits, fresh per process start (per [`crate::Bus`]).
///
/// ```
/// use plezi_messaging::ServerId;
/// let id = ServerId::random();
/// let text = id.to_string();
/// assert_eq!(text.len(), 16);
/// assert_eq!(text.parse::<ServerId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ServerId(u64);

impl ServerId {
    /// A fresh random server id (from the thread-local CSPRNG).
    pub fn random() -> ServerId {
        ServerId(rand::random::<u64>())
    }

    /// A server id with a chosen value (tests, benchmarks, tools).
    pub const fn from_u64(value: u64) -> ServerId {
        ServerId(value)
    }

    /// The 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    fn write_hex(self, out: &mut [u8]) {
        write_hex(self.0, &mut out[..16]);
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SERVER_ID_TEXT_LEN];
        self.write_hex(&mut buf);
        // The buffer holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for ServerId {
    type Err = ParseUuidError;

    fn from_str(s: &str) -> Result<ServerId, ParseUuidError> {
        let b = s.as_bytes();
        if b.len() != SERVER_ID_TEXT_LEN {
            return Err(ParseUuidError::Length(b.len()));
        }
        Ok(ServerId(parse_hex(b, 0)?))
    }
}

/// The bus-wide name of one connection: server, loop index, slot and generation.
///
/// ```
/// use plezi_messaging::{ConnectionUuid, ServerId};
/// let server = ServerId::from_u64(0x0123_4567_89ab_cdef);
/// let uuid = ConnectionUuid::new(server, 1, 42, 3);
/// assert_eq!(uuid.to_string(), "0123456789abcdef-0001-0000002a-00000003");
/// assert_eq!("0123456789abcdef-0001-0000002a-00000003".parse::<ConnectionUuid>().unwrap(), uuid);
/// assert!("0123456789ABCDEF-0001-0000002a-00000003".parse::<ConnectionUuid>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnectionUuid {
    server: ServerId,
    loop_index: u16,
    slot: u32,
    generation: u32,
}

impl ConnectionUuid {
    /// Names connection (`loop_index`, `slot`, `generation`) of `server`.
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(uuid.to_string(), "000000000000feed-0001-0000002a-00000003");
    /// ```
    pub const fn new(
        server: ServerId,
        loop_index: u16,
        slot: u32,
        generation: u32,
    ) -> ConnectionUuid {
        ConnectionUuid {
            server,
            loop_index,
            slot,
            generation,
        }
    }

    /// The server that owns the connection.
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(uuid.server(), ServerId::from_u64(0xfeed));
    /// ```
    pub const fn server(self) -> ServerId {
        self.server
    }

    /// The event-loop index inside the owning server.
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(uuid.loop_index(), 1);
    /// ```
    pub const fn loop_index(self) -> u16 {
        self.loop_index
    }

    /// The connection slot inside its loop.
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(uuid.slot(), 42);
    /// ```
    pub const fn slot(self) -> u32 {
        self.slot
    }

    /// The slot's generation (a stale id never matches a newer connection in the same slot).
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(uuid.generation(), 3);
    /// ```
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// The text form as a fixed-size byte array (no allocation).
    ///
    /// ```
    /// use plezi_messaging::{ConnectionUuid, ServerId};
    /// let uuid = ConnectionUuid::new(ServerId::from_u64(0xfeed), 1, 42, 3);
    /// assert_eq!(&uuid.to_text()[..16], b"000000000000feed");
    /// ```
    pub fn to_text(self) -> [u8; UUID_TEXT_LEN] {
        let mut out = [0u8; UUID_TEXT_LEN];
        self.server.write_hex(&mut out[0..16]);
        out[16] = b'-';
        write_hex(u64::from(self.loop_index), &mut out[17..21]);
        out[21] = b'-';
        write_hex(u64::from(self.slot), &mut out[22..30]);
        out[30] = b'-';
        write_hex(u64::from(self.generation), &mut out[31..39]);
        out
    }
}

impl fmt::Display for ConnectionUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_text();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for ConnectionUuid {
    type Err = ParseUuidError;

    fn from_str(s: &str) -> Result<ConnectionUuid, ParseUuidError> {
        let b = s.as_bytes();
        if b.len() != UUID_TEXT_LEN {
            return Err(ParseUuidError::Length(b.len()));
        }
        for at in [16, 21, 30] {
            if b[at] != b'-' {
                return Err(ParseUuidError::Separator(at));
            }
        }
        let server = ServerId(parse_hex(&b[0..16], 0)?);
        let loop_index = parse_hex(&b[17..21], 17)? as u16;
        let slot = parse_hex(&b[22..30], 22)? as u32;
        let generation = parse_hex(&b[31..39], 31)? as u32;
        Ok(ConnectionUuid {
            server,
            loop_index,
            slot,
            generation,
        })
    }
}

impl serde::Serialize for ConnectionUuid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_text();
        serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> serde::Deserialize<'de> for ConnectionUuid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for ServerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ServerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a text is not a valid [`ConnectionUuid`] or [`ServerId`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParseUuidError {
    /// Wrong length (connection UUIDs are 39 bytes, server ids 16).
    Length(usize),
    /// A `-` was expected at this byte offset.
    Separator(usize),
    /// A byte that is not a lowercase hex digit at this offset.
    Digit(usize),
}

impl fmt::Display for ParseUuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseUuidError::Length(n) => write!(
                f,
                "a connection UUID is {UUID_TEXT_LEN} bytes (a server id {SERVER_ID_TEXT_LEN}), got {n}: \
                 pass the id exactly as the bus formatted it"
            ),
            ParseUuidError::Separator(at) => {
                write!(f, "expected '-' at byte {at} of the connection UUID")
            }
            ParseUuidError::Digit(at) => {
                write!(
                    f,
                    "expected a lowercase hex digit (0-9, a-f) at byte {at} of the id"
                )
            }
        }
    }
}

impl std::error::Error for ParseUuidError {}

fn write_hex(mut value: u64, out: &mut [u8]) {
    for byte in out.iter_mut().rev() {
        *byte = HEX[(value & 0xf) as usize];
        value >>= 4;
    }
}

fn parse_hex(digits: &[u8], offset: usize) -> Result<u64, ParseUuidError> {
    let mut value = 0u64;
    for (i, &d) in digits.iter().enumerate() {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return Err(ParseUuidError::Digit(offset + i)),
        };
        value = (value << 4) | u64::from(nibble);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_uuid() -> ConnectionUuid {
        ConnectionUuid::new(
            ServerId::from_u64(rand::random()),
            rand::random(),
            rand::random(),
            rand::random(),
        )
    }

    #[test]
    fn round_trips_random_ids() {
        for _ in 0..20_000 {
            let uuid = random_uuid();
            let text = uuid.to_string();
            assert_eq!(text.len(), UUID_TEXT_LEN);
            assert_eq!(text.parse::<ConnectionUuid>(), Ok(uuid), "{text}");
            assert_eq!(
                uuid.server().to_string().parse::<ServerId>(),
                Ok(uuid.server())
            );
        }
    }

    #[test]
    fn round_trips_extremes() {
        for (s, l, i, g) in [
            (0, 0, 0, 0),
            (u64::MAX, u16::MAX, u32::MAX, u32::MAX),
            (1, 1, 1, 1),
        ] {
            let uuid = ConnectionUuid::new(ServerId::from_u64(s), l, i, g);
            assert_eq!(uuid.to_string().parse::<ConnectionUuid>(), Ok(uuid));
        }
    }

    #[test]
    fn rejects_every_single_byte_corruption() {
        for _ in 0..200 {
            let text = random_uuid().to_string().into_bytes();
            for at in 0..text.len() {
                for bad in [b'G', b'A', b'F', b' ', b'+', b'x', 0u8, 0xff] {
                    let mut t = text.clone();
                    t[at] = bad;
                    let s = String::from_utf8_lossy(&t).into_owned();
                    assert!(s.parse::<ConnectionUuid>().is_err(), "accepted {s:?}");
                }
            }
        }
    }

    #[test]
    fn rejects_every_other_length() {
        let text = random_uuid().to_string();
        for len in 0..80 {
            if len == UUID_TEXT_LEN {
                continue;
            }
            let s: String = text.chars().cycle().take(len).collect();
            assert_eq!(
                s.parse::<ConnectionUuid>(),
                Err(ParseUuidError::Length(len))
            );
        }
        assert!("0123456789abcdef0".parse::<ServerId>().is_err());
        assert!("+123456789abcdef".parse::<ServerId>().is_err());
    }

    #[test]
    fn rejects_misplaced_separators_and_signs() {
        assert_eq!(
            "0123456789abcdef00001-0000002a-00000003".parse::<ConnectionUuid>(),
            Err(ParseUuidError::Separator(16))
        );
        // Values u64::from_str_radix would accept but we do not.
        assert!(
            "0123456789abcdef-+001-0000002a-00000003"
                .parse::<ConnectionUuid>()
                .is_err()
        );
        assert!(
            "0123456789abcdef-0001-0000002a-0000000٣"
                .parse::<ConnectionUuid>()
                .is_err()
        );
    }

    #[test]
    fn serde_uses_the_text_form() {
        let uuid = random_uuid();
        let json = serde_json::to_string(&uuid).unwrap();
        assert_eq!(json, format!("\"{uuid}\""));
        assert_eq!(serde_json::from_str::<ConnectionUuid>(&json).unwrap(), uuid);
        assert!(serde_json::from_str::<ConnectionUuid>("\"nope\"").is_err());
    }
}
