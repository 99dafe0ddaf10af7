//! Sessions: a signed session-id cookie, with the data (a JSON object) kept on the server.
//!
//! The details are on [`Session`].

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use plezi_messaging::{MemorySessionStore, SessionStore};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::cookies::{Cookies, SetCookie};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of randomness in a session id.
const ID_BYTES: usize = 32;
/// Length of an id or a signature in base64url without padding.
const B64_LEN: usize = 43;
/// Domain separation for the signature.
const SIGN_CONTEXT: &[u8] = b"plezi-session-id-v1\0";

/// The secret that signs session ids: at least [`SessionKey::MIN_BYTES`] bytes. Its `Debug`
/// output never shows it.
///
/// ```
/// use plezi_dispatch::SessionKey;
/// let key = SessionKey::new("a secret of at least thirty-two bytes!!")?;
/// let cookie = key.sign("some-session-id");
/// assert!(cookie.starts_with("some-session-id."));
/// # Ok::<(), plezi_dispatch::SessionKeyError>(())
/// ```
#[derive(Clone)]
pub struct SessionKey {
    bytes: Arc<[u8]>,
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey(<{} bytes>)", self.bytes.len())
    }
}

impl SessionKey {
    /// The shortest key accepted: 32 bytes (256 bits, the HMAC-SHA256 output size).
    pub const MIN_BYTES: usize = 32;

    /// A key from secret bytes (e.g. the `PL_SESSION_KEY` variable); shorter than
    /// [`SessionKey::MIN_BYTES`] is an error.
    ///
    /// ```
    /// use plezi_dispatch::SessionKey;
    /// assert!(SessionKey::new([7u8; 32]).is_ok());
    /// assert!(SessionKey::new("too short").is_err()); // the error says how to make a good one
    /// ```
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<SessionKey, SessionKeyError> {
        let bytes = bytes.as_ref();
        if bytes.len() < Self::MIN_BYTES {
            return Err(SessionKeyError::TooShort { len: bytes.len() });
        }
        Ok(SessionKey {
            bytes: bytes.into(),
        })
    }

    /// A random key for this process only: sessions do not survive a restart and are not shared
    /// with other servers.
    ///
    /// ```
    /// use plezi_dispatch::SessionKey;
    /// let key = SessionKey::random(); // fine for development and tests; set PL_SESSION_KEY in production
    /// # drop(key);
    /// ```
    pub fn random() -> SessionKey {
        SessionKey {
            bytes: rand::random::<[u8; 32]>().to_vec().into(),
        }
    }

    fn mac(&self) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.bytes).ok()?;
        mac.update(SIGN_CONTEXT);
        Some(mac)
    }

    /// The cookie value for session `id`: `<id>.<signature>` (HMAC-SHA256 of the id, base64url).
    ///
    /// ```
    /// use plezi_dispatch::SessionKey;
    /// let key = SessionKey::random();
    /// let id = "q5mW5Nn0VvfzR7m3mN0c2r8f5nWm7c3b0aV9n2Q1x4s"; // 43 base64url characters
    /// let value = key.sign(id);
    /// assert_eq!(key.verify(&value), Some(id));
    /// ```
    pub fn sign(&self, id: &str) -> String {
        let Some(mut mac) = self.mac() else {
            return String::new();
        };
        mac.update(id.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{id}.{sig}")
    }

    /// The session id of a cookie value whose signature verifies under this key (a 43-character
    /// base64url id; the signature compared in constant time); `None` for anything else.
    ///
    /// ```
    /// use plezi_dispatch::SessionKey;
    /// let (key, other) = (SessionKey::random(), SessionKey::random());
    /// let value = key.sign("q5mW5Nn0VvfzR7m3mN0c2r8f5nWm7c3b0aV9n2Q1x4s");
    /// assert!(key.verify(&value).is_some());
    /// assert_eq!(other.verify(&value), None); // signed with another key
    /// assert_eq!(key.verify("forged.value"), None);
    /// ```
    pub fn verify<'v>(&self, value: &'v str) -> Option<&'v str> {
        let (id, sig) = value.split_once('.')?;
        if id.len() != B64_LEN || sig.len() != B64_LEN || !id.bytes().all(is_b64url) {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac = self.mac()?;
        mac.update(id.as_bytes());
        mac.verify_slice(&sig).ok()?;
        Some(id)
    }
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A new random session id (256 bits, base64url).
fn new_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; ID_BYTES]>())
}

/// Why a [`SessionKey`] cannot be used.
///
/// ```
/// use plezi_dispatch::{SessionKey, SessionKeyError};
/// assert_eq!(SessionKey::new("short").unwrap_err(), SessionKeyError::TooShort { len: 5 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKeyError {
    /// Fewer than [`SessionKey::MIN_BYTES`] bytes.
    TooShort {
        /// The length given.
        len: usize,
    },
}

impl fmt::Display for SessionKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionKeyError::TooShort { len } => write!(
                f,
                "the session key has {len} bytes; it needs at least {} random bytes (e.g. `openssl rand -base64 48`)",
                SessionKey::MIN_BYTES
            ),
        }
    }
}

impl std::error::Error for SessionKeyError {}

/// How an application keeps sessions: the signing key, the store, and limits. Give it to
/// [`Routes::sessions`](crate::Routes::sessions).
///
/// ```
/// use std::sync::Arc;
/// use plezi_dispatch::{Routes, SessionConfig, SessionKey};
/// use plezi_messaging::{MemorySessionStore, SessionStoreConfig};
///
/// let store = MemorySessionStore::new(SessionStoreConfig::default());
/// let config = SessionConfig {
///     max_bytes: 1024,
///     ..SessionConfig::new(SessionKey::random(), Arc::new(store))
/// };
/// let mut routes = Routes::new();
/// routes.sessions(config);
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Signs session ids. Default: a random key (sessions last as long as the process).
    pub key: SessionKey,
    /// Where the data lives. Default: a [`MemorySessionStore`] with its default limits.
    pub store: Arc<dyn SessionStore>,
    /// Most bytes of one session's data as JSON; a request that makes it bigger is answered
    /// `500` (a programming error: keep ids in the session, not documents). Default: 4 KiB, the
    /// size browsers allow a whole cookie.
    pub max_bytes: usize,
    /// The cookie's name (`__Host-` is prepended when cookies are `Secure`). Default:
    /// `plezi_session`.
    pub cookie_name: String,
}

impl SessionConfig {
    /// Default for [`SessionConfig::max_bytes`].
    pub const DEFAULT_MAX_BYTES: usize = 4096;
    /// Default for [`SessionConfig::cookie_name`].
    pub const DEFAULT_COOKIE_NAME: &'static str = "plezi_session";

    /// This key and store, default limits and cookie name.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use plezi_dispatch::{SessionConfig, SessionKey};
    /// use plezi_messaging::MemorySessionStore;
    ///
    /// let config = SessionConfig::new(SessionKey::random(), Arc::new(MemorySessionStore::default()));
    /// assert_eq!(config.cookie_name, "plezi_session");
    /// ```
    pub fn new(key: SessionKey, store: Arc<dyn SessionStore>) -> SessionConfig {
        SessionConfig {
            key,
            store,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            cookie_name: Self::DEFAULT_COOKIE_NAME.to_owned(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig::new(
            SessionKey::random(),
            Arc::new(MemorySessionStore::default()),
        )
    }
}

/// One request's (or connection's) session: read it with [`Session::get`], change it with
/// [`Session::set`]/[`Session::remove`]; changes are saved when the HTTP reply is sent.
///
/// - The cookie holds only `<id>.<signature>`: a random 256-bit id (base64url) and its
///   HMAC-SHA256 under the application's [`SessionKey`], checked in constant time. A cookie that
///   does not verify, names no stored session or names an expired one means *no session*: the
///   request goes on as anonymous, never with an error page.
/// - The data lives in a [`SessionStore`] (in memory, bounded: [`MemorySessionStore`], or
///   Redis: [`plezi_messaging::RedisSessionStore`]), at most [`SessionConfig::max_bytes`] of JSON.
/// - HTTP actions and AJAJ handlers read and write it ([`Ctx::session`](crate::Ctx::session),
///   [`Ctx::session_mut`](crate::Ctx::session_mut)); `pre_connect` reads it, and so do `on_open` and every later call on that connection (the
///   session the upgrade request carried; a connection cannot write it: there is no reply to
///   carry a cookie).
/// - The cookie is `HttpOnly; SameSite=Lax; Path=/` and, when the application's public origin is
///   https, `Secure` with the `__Host-` name prefix. It has no `Max-Age` (it ends with the
///   browser session); the server forgets idle sessions after the store's idle expiry.
/// - [`Session::renew`] gives the session a new id at the end of the request (call it when a user
///   logs in: session fixation); [`Session::destroy`] forgets the data and deletes the cookie
///   (log out).
///
/// ```
/// use plezi_dispatch::{Controller, Ctx};
/// use plezi_server::Response;
///
/// #[derive(Default)]
/// struct Login;
/// impl Controller for Login {
///     fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
///         let user = cx.params().get_str("user")?.to_owned();
///         let session = cx.session_mut().ok()?;
///         session.renew();
///         session.set("user", user);
///         Some(Response::new(303).header("Location", "/"))
///     }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    id: Option<String>,
    data: Map<String, Value>,
    changed: bool,
    renew: bool,
    destroy: bool,
}

impl Session {
    /// A loaded session (the test harness).
    pub(crate) fn with_data(id: String, data: Map<String, Value>) -> Session {
        Session {
            id: Some(id),
            data,
            ..Session::default()
        }
    }

    /// Whether the request carried a valid session (a verified cookie naming stored data).
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default(); // what a request without a valid cookie sees
    /// assert!(!session.exists());
    /// session.set("user", "ada"); // starts one: the reply sets the cookie
    /// ```
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// The value stored under `key`.
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default();
    /// session.set("cart", serde_json::json!([1, 2]));
    /// assert_eq!(session.get("cart"), Some(&serde_json::json!([1, 2])));
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The string stored under `key`.
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default();
    /// session.set("user", "ada");
    /// assert_eq!(session.get_str("user"), Some("ada"));
    /// assert_eq!(session.get_str("other"), None);
    /// ```
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// Every key and value.
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default();
    /// session.set("user", "ada");
    /// assert_eq!(session.data().len(), 1);
    /// ```
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// Whether no value is stored.
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// assert!(Session::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Stores `value` under `key` (a new session starts if there was none).
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default();
    /// session.set("visits", 3);
    /// assert_eq!(session.get("visits"), Some(&serde_json::json!(3)));
    /// ```
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.data.insert(key.into(), value.into());
        self.changed = true;
        self.destroy = false;
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// use plezi_dispatch::Session;
    /// let mut session = Session::default();
    /// session.set("user", "ada");
    /// assert_eq!(session.remove("user"), Some("ada".into()));
    /// assert!(session.is_empty());
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let old = self.data.remove(key);
        self.changed |= old.is_some();
        old
    }

    /// Gives the session a new id when the reply is sent, keeping its data; the old id stops
    /// working. Call it when the user's privileges change (log in): an id an attacker planted
    /// before the login (session fixation) is then worthless.
    ///
    /// ```
    /// use plezi_dispatch::{Ctx, SendError};
    /// use serde_json::Value;
    ///
    /// fn login(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     // ... check the password ...
    ///     let session = cx.session_mut()?;
    ///     session.renew(); // an id planted before the login stops working
    ///     session.set("user", msg["user"].clone());
    ///     Ok(())
    /// }
    /// ```
    pub fn renew(&mut self) {
        self.renew = true;
        self.changed = true;
    }

    /// Forgets the session: the data is removed from the store and the cookie deleted when the
    /// reply is sent (log out). Later `set` calls start a new session.
    ///
    /// ```
    /// use plezi_dispatch::{Ctx, SendError};
    /// use serde_json::Value;
    ///
    /// fn logout(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.session_mut()?.destroy(); // data removed, cookie deleted with the reply
    ///     Ok(())
    /// }
    /// ```
    pub fn destroy(&mut self) {
        self.data.clear();
        self.destroy = true;
        self.renew = true;
        self.changed = true;
    }
}

/// The application's sessions (in the shared core).
pub(crate) struct Sessions {
    config: SessionConfig,
    /// `Secure` cookies with the `__Host-` prefix.
    secure: bool,
    cookie_name: String,
}

/// What saving a session did to the reply.
pub(crate) enum Saved {
    /// Nothing to add.
    Unchanged,
    /// Add this `Set-Cookie` value.
    Cookie(String),
    /// The reply becomes this error answer.
    Failed(u16, String),
}

impl Sessions {
    pub(crate) fn new(config: SessionConfig, secure: bool) -> Sessions {
        let cookie_name = if secure {
            format!("__Host-{}", config.cookie_name)
        } else {
            config.cookie_name.clone()
        };
        Sessions {
            config,
            secure,
            cookie_name,
        }
    }

    /// The verified session id a request's cookies carry.
    pub(crate) fn verified_id(&self, cookies: &Cookies) -> Option<String> {
        let value = cookies.get(&self.cookie_name)?;
        self.config.key.verify(value).map(str::to_owned)
    }

    /// Loads the session of a verified id (`None`: a new, empty session). A store failure is
    /// logged and reads as no session.
    pub(crate) fn load(&self, id: Option<String>) -> Session {
        let Some(id) = id else {
            return Session::default();
        };
        let data = match self.config.store.load(&id) {
            Ok(Some(bytes)) => serde_json::from_slice::<Map<String, Value>>(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                log::warn!(
                    "plezi: session store unavailable, treating the request as anonymous: {e}"
                );
                None
            }
        };
        match data {
            Some(data) => Session {
                id: Some(id),
                data,
                ..Session::default()
            },
            None => Session::default(),
        }
    }

    fn cookie(&self, value: &str) -> SetCookie {
        SetCookie::new(self.cookie_name.clone(), value).secure(self.secure)
    }

    /// Saves a changed session at the end of a request.
    pub(crate) fn save(&self, session: &mut Session) -> Saved {
        if !session.changed {
            return Saved::Unchanged;
        }
        session.changed = false;
        let store = &self.config.store;
        let old = session.id.take();
        let forget = |id: &Option<String>| {
            if let Some(id) = id
                && let Err(e) = store.remove(id)
            {
                log::warn!("plezi: a session could not be removed from the store: {e}");
            }
        };
        if session.destroy || session.data.is_empty() {
            session.destroy = false;
            session.renew = false;
            forget(&old);
            if old.is_none() {
                return Saved::Unchanged;
            }
            let delete = SetCookie::delete(self.cookie_name.clone()).secure(self.secure);
            return delete
                .to_header_value()
                .map_or(Saved::Unchanged, Saved::Cookie);
        }
        let bytes = Value::Object(session.data.clone()).to_string();
        if bytes.len() > self.config.max_bytes {
            session.id = old;
            log::error!(
                "plezi: session data of {} bytes is over the {}-byte cap (SessionConfig::max_bytes); not saved",
                bytes.len(),
                self.config.max_bytes
            );
            return Saved::Failed(500, "session data too large\n".to_owned());
        }
        let fresh = session.renew || old.is_none();
        let id = match old {
            Some(id) if !session.renew => id,
            old => {
                forget(&old);
                new_id()
            }
        };
        session.renew = false;
        if let Err(e) = store.save(&id, bytes.as_bytes()) {
            log::error!("plezi: the session could not be saved: {e}");
            return Saved::Failed(503, "session store unavailable, try again\n".to_owned());
        }
        session.id = Some(id.clone());
        if !fresh {
            return Saved::Unchanged;
        }
        self.cookie(&self.config.key.sign(&id))
            .to_header_value()
            .map_or(Saved::Unchanged, Saved::Cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plezi_messaging::SessionStoreConfig;
    use std::time::Duration;

    fn key() -> SessionKey {
        SessionKey::new([7u8; 32]).unwrap()
    }

    #[test]
    fn keys_must_be_long_enough() {
        assert_eq!(
            SessionKey::new(b"short").unwrap_err(),
            SessionKeyError::TooShort { len: 5 }
        );
        assert!(SessionKey::new([0u8; 31]).is_err());
        assert!(SessionKey::new([0u8; 32]).is_ok());
        assert!(!format!("{:?}", key()).contains('7'));
    }

    #[test]
    fn sign_verify_and_tamper() {
        let k = key();
        let id = new_id();
        assert_eq!(id.len(), B64_LEN);
        let signed = k.sign(&id);
        assert_eq!(k.verify(&signed), Some(id.as_str()));
        // another key
        assert_eq!(SessionKey::random().verify(&signed), None);
        // every single-character change fails
        for i in 0..signed.len() {
            let mut bytes = signed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != signed {
                assert_eq!(k.verify(&tampered), None, "{tampered}");
            }
        }
        // another id with this id's signature
        let (_, sig) = signed.split_once('.').unwrap();
        assert_eq!(k.verify(&format!("{}.{sig}", new_id())), None);
        for junk in [
            "",
            ".",
            "a.b",
            &id,
            &format!("{signed}x"),
            &format!("{id}..{id}"),
        ] {
            assert_eq!(k.verify(junk), None, "{junk:?}");
        }
    }

    fn sessions(idle: Duration) -> Sessions {
        let store = MemorySessionStore::new(SessionStoreConfig {
            idle_expiry: idle,
            ..SessionStoreConfig::default()
        });
        Sessions::new(SessionConfig::new(key(), Arc::new(store)), false)
    }

    fn cookie_of(saved: Saved) -> String {
        match saved {
            Saved::Cookie(c) => c,
            _ => panic!("no cookie"),
        }
    }

    fn request_cookies(set_cookie: &str) -> Cookies {
        Cookies::parse([set_cookie.split(';').next().unwrap()])
    }

    #[test]
    fn a_session_round_trips_renews_and_is_destroyed() {
        let s = sessions(Duration::from_secs(60));
        let mut session = s.load(None);
        assert!(!session.exists());
        assert!(matches!(s.save(&mut session), Saved::Unchanged));
        session.set("user", "ann");
        let set = cookie_of(s.save(&mut session));
        assert!(set.starts_with("plezi_session="));
        assert!(set.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{set}");
        let jar = request_cookies(&set);
        let id = s.verified_id(&jar);
        assert!(id.is_some());
        let mut again = s.load(id.clone());
        assert!(again.exists());
        assert_eq!(again.get_str("user"), Some("ann"));
        // a change keeps the id: no new cookie
        again.set("n", 1);
        assert!(matches!(s.save(&mut again), Saved::Unchanged));
        assert_eq!(s.load(id.clone()).get("n"), Some(&Value::from(1)));
        // renew: a new cookie, the old id is gone, the data kept
        again.renew();
        let renewed = cookie_of(s.save(&mut again));
        assert_ne!(renewed, set);
        assert!(!s.load(id).exists(), "the old id no longer works");
        let new_id = s.verified_id(&request_cookies(&renewed));
        let mut current = s.load(new_id.clone());
        assert_eq!(current.get_str("user"), Some("ann"));
        // destroy: the cookie is deleted, the data gone
        current.destroy();
        let deleted = cookie_of(s.save(&mut current));
        assert!(
            deleted.starts_with("plezi_session=; Path=/; Max-Age=0"),
            "{deleted}"
        );
        assert!(!s.load(new_id).exists());
    }

    #[test]
    fn expired_and_unknown_sessions_read_as_none() {
        let s = sessions(Duration::ZERO);
        let mut session = s.load(None);
        session.set("user", "ann");
        let set = cookie_of(s.save(&mut session));
        let id = s.verified_id(&request_cookies(&set));
        assert!(id.is_some(), "the signature is still valid");
        assert!(!s.load(id).exists(), "but the data expired");
        assert!(!s.load(Some(new_id())).exists());
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let s = Sessions::new(
            SessionConfig::new(key(), Arc::new(MemorySessionStore::default())),
            true,
        );
        let mut session = s.load(None);
        session.set("a", 1);
        let set = cookie_of(s.save(&mut session));
        assert!(set.starts_with("__Host-plezi_session="), "{set}");
        assert!(set.contains("; Secure"), "{set}");
        assert!(s.verified_id(&request_cookies(&set)).is_some());
    }

    #[test]
    fn oversized_data_is_refused() {
        let s = sessions(Duration::from_secs(60));
        let mut session = s.load(None);
        session.set("big", "x".repeat(5000));
        assert!(matches!(s.save(&mut session), Saved::Failed(500, _)));
    }
}
