//! The response a service returns: status, headers and a body that may stream from disk or a reader.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// A byte range of an open file, sent without reading the file into memory.
pub struct FileBody {
    file: File,
    offset: u64,
    remaining: u64,
}

impl FileBody {
    /// `len` bytes of `file` starting at `offset`.
    ///
    /// ```
    /// use plezi_server::{FileBody, Response};
    /// // Bytes 10..20 of a file, streamed from disk:
    /// let part = FileBody::new(std::fs::File::open("Cargo.toml")?, 10, 10);
    /// assert_eq!(part.len(), 10);
    /// let response = Response::new(206).body(part);
    /// # drop(response);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            remaining: len,
        }
    }

    /// The whole file at `path`.
    ///
    /// ```
    /// use plezi_server::{FileBody, Response};
    /// let response = Response::new(200).body(FileBody::open("Cargo.toml")?);
    /// # drop(response);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<FileBody> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileBody::new(file, 0, len))
    }

    /// Bytes still to send.
    ///
    /// ```
    /// let body = plezi_server::FileBody::open("Cargo.toml")?;
    /// assert_eq!(body.len(), std::fs::metadata("Cargo.toml")?.len());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether everything has been sent.
    ///
    /// ```
    /// let body = plezi_server::FileBody::new(std::fs::File::open("Cargo.toml")?, 0, 0);
    /// assert!(body.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The open file (for `sendfile`-style writers, together with [`FileBody::offset`]).
    ///
    /// ```
    /// let body = plezi_server::FileBody::open("Cargo.toml")?;
    /// assert!(body.file().metadata()?.is_file());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file(&self) -> &File {
        &self.file
    }

    /// File offset of the next byte to send.
    ///
    /// ```
    /// let body = plezi_server::FileBody::new(std::fs::File::open("Cargo.toml")?, 5, 1);
    /// assert_eq!(body.offset(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Marks `n` bytes as sent (after a `sendfile` that wrote them directly).
    ///
    /// ```
    /// let mut body = plezi_server::FileBody::new(std::fs::File::open("Cargo.toml")?, 0, 10);
    /// body.advance(4); // 4 bytes went out with sendfile
    /// assert_eq!((body.offset(), body.len()), (4, 6));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn advance(&mut self, n: u64) {
        let n = n.min(self.remaining);
        self.offset += n;
        self.remaining -= n;
    }

    /// Appends up to `max` of the next bytes to `out` (positioned read, no seek) and advances.
    /// Returns `Ok(0)` only when nothing remains; a file that shrank underneath is `UnexpectedEof`.
    ///
    /// ```
    /// let mut body = plezi_server::FileBody::new(std::fs::File::open("Cargo.toml")?, 0, 9);
    /// let mut out = Vec::new();
    /// assert_eq!(body.read_into(&mut out, 64)?, 9);
    /// assert_eq!(out, b"[package]");
    /// assert_eq!(body.read_into(&mut out, 64)?, 0); // all sent
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let want = self.remaining.min(max as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let start = out.len();
        out.resize(start + want, 0);
        match self.file.read_at(&mut out[start..], self.offset) {
            Ok(0) => {
                out.truncate(start);
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being sent",
                ))
            }
            Ok(n) => {
                out.truncate(start + n);
                self.advance(n as u64);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

impl fmt::Debug for FileBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody")
            .field("offset", &self.offset)
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// A response body.
///
/// ```
/// use plezi_server::{Body, FileBody, Response};
///
/// let small = Response::new(200).body("in memory"); // &str, String, Vec<u8>...
/// let file = Response::new(200).body(Body::File(FileBody::open("Cargo.toml")?)); // streamed from disk
/// let stream = Response::new(200).body(Body::stream(std::io::repeat(b'x').take(10)));
/// # use std::io::Read;
/// # drop((small, file, stream));
/// # Ok::<(), std::io::Error>(())
/// ```
pub enum Body {
    /// No body (`Content-Length: 0` where a body is allowed).
    Empty,
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Shared bytes (cached pages, pre-rendered assets).
    Shared(Arc<[u8]>),
    /// A file region streamed from disk with a `Content-Length`.
    File(FileBody),
    /// Bytes of unknown length, sent with `Transfer-Encoding: chunked` (or until close to HTTP/1.0).
    Stream(Box<dyn Read + Send>),
}

impl Body {
    /// A body read from `reader` until it ends, sent chunked.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// use std::io::Read;
    /// // Sent chunked as it is read (a generated report, a proxied download...).
    /// let body = Body::stream(std::io::repeat(b'.').take(1 << 20));
    /// assert_eq!(body.len(), None);
    /// let response = Response::new(200).body(body);
    /// # drop(response);
    /// ```
    pub fn stream(reader: impl Read + Send + 'static) -> Body {
        Body::Stream(Box::new(reader))
    }

    /// The length when known in advance (`None` for [`Body::Stream`]).
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// assert_eq!(Body::from("abc").len(), Some(3));
    /// # let _ = Response::new(200);
    /// ```
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Shared(b) => Some(b.len() as u64),
            Body::File(f) => Some(f.len()),
            Body::Stream(_) => None,
        }
    }

    /// Whether the body is known to be empty.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// assert!(Body::Empty.is_empty() && !Body::from("x").is_empty());
    /// # let _ = Response::new(200);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body (`Bytes`, `Shared`, `Empty`); `None` for files and streams.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// assert_eq!(Body::from("x").as_bytes(), Some(&b"x"[..]));
    /// # let _ = Response::new(200);
    /// ```
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Bytes(b) => Some(b),
            Body::Shared(b) => Some(b),
            Body::File(_) | Body::Stream(_) => None,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Shared(b) => write!(f, "Shared({} bytes)", b.len()),
            Body::File(file) => write!(f, "{file:?}"),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(v)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::Bytes(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(b: &[u8]) -> Body {
        Body::Bytes(b.to_vec())
    }
}

impl From<Arc<[u8]>> for Body {
    fn from(b: Arc<[u8]>) -> Body {
        Body::Shared(b)
    }
}

impl From<FileBody> for Body {
    fn from(f: FileBody) -> Body {
        Body::File(f)
    }
}

/// An HTTP response, built in builder style.
///
/// `Content-Length`, `Transfer-Encoding` and `Date` are written by the encoder from the body; a
/// `Connection` header only matters through its `close` token (which ends keep-alive).
///
/// ```
/// use plezi_server::Response;
///
/// let page = Response::html(200, "<h1>hi</h1>").header("Cache-Control", "no-store");
/// assert_eq!(page.status(), 200);
/// assert_eq!(page.header_value("content-type"), Some("text/html; charset=utf-8"));
/// ```
#[derive(Debug)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

/// Why a response header was refused: sending it would split or corrupt the response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty or not an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``).
    InvalidName(String),
    /// The value of this header has a control character (CR, LF, NUL or another byte below
    /// 0x20 except tab, or DEL).
    InvalidValue(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::InvalidName(n) => write!(
                f,
                "response header name {n:?} is not a token; use letters, digits and -"
            ),
            HeaderError::InvalidValue(n) => write!(
                f,
                "the value of response header {n:?} has a control character (CR, LF, NUL...); remove or encode it"
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Whether `b` may appear in a header value we send: visible ASCII, space, tab and obs-text;
/// never CR, LF, NUL, another control character or DEL.
fn allowed_in_value(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Checks a header before it is stored.
fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    if !crate::security::is_token(name) {
        return Err(HeaderError::InvalidName(
            name.escape_debug().take(64).collect(),
        ));
    }
    if !value.bytes().all(allowed_in_value) {
        return Err(HeaderError::InvalidValue(name.to_owned()));
    }
    Ok(())
}

impl Response {
    /// A response with this status and an empty body. Statuses outside 100..=999 become 500.
    ///
    /// ```
    /// let redirect = plezi_server::Response::new(303).header("Location", "/done");
    /// assert_eq!(redirect.status(), 303);
    /// ```
    pub fn new(status: u16) -> Response {
        let status = if (100..=999).contains(&status) {
            status
        } else {
            500
        };
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    ///
    /// ```
    /// let r = plezi_server::Response::text(404, "no such item\n");
    /// assert_eq!(r.header_value("Content-Type"), Some("text/plain; charset=utf-8"));
    /// ```
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into())
    }

    /// A `text/html; charset=utf-8` response.
    ///
    /// ```
    /// let r = plezi_server::Response::html(200, "<p>hello</p>");
    /// assert_eq!(r.body_ref().as_bytes(), Some(&b"<p>hello</p>"[..]));
    /// ```
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body.into())
    }

    /// An `application/json` response.
    ///
    /// ```
    /// let r = plezi_server::Response::json(201, r#"{"id":7}"#);
    /// assert_eq!(r.header_value("content-type"), Some("application/json"));
    /// ```
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body.into())
    }

    /// Appends a header (repeat the call for repeated fields such as `Set-Cookie`). A name that is
    /// not a token, or a value with a control character (CR, LF, NUL, others except tab), is
    /// dropped with a warning: it could split the response. Use [`Response::try_header`] to get
    /// the error instead.
    ///
    /// ```
    /// use plezi_server::Response;
    /// let r = Response::new(200).header("Set-Cookie", "a=1").header("Set-Cookie", "b=2");
    /// assert_eq!(r.headers().len(), 2);
    /// let r = Response::new(200).header("X-Bad", "split\r\nInjected: 1"); // dropped, with a warning
    /// assert_eq!(r.header_value("x-bad"), None);
    /// ```
    pub fn header(self, name: &str, value: &str) -> Response {
        if let Err(e) = check_header(name, value) {
            log::warn!("plezi: dropped a response header: {e}");
            return self;
        }
        self.push_checked(name, value)
    }

    /// Appends a header, or says why it cannot be sent ([`HeaderError`]): a name that is not a
    /// token, or a value with a control character.
    ///
    /// ```
    /// use plezi_server::Response;
    /// assert!(Response::new(200).try_header("X-Id", "42").is_ok());
    /// assert!(Response::new(200).try_header("Bad Name", "1").is_err());
    /// ```
    pub fn try_header(self, name: &str, value: &str) -> Result<Response, HeaderError> {
        check_header(name, value)?;
        Ok(self.push_checked(name, value))
    }

    fn push_checked(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the body.
    ///
    /// ```
    /// let r = plezi_server::Response::new(200).body(vec![1u8, 2, 3]);
    /// assert_eq!(r.body_ref().len(), Some(3));
    /// ```
    pub fn body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// assert_eq!(Response::new(204).status(), 204);
    /// assert_eq!(Response::new(7).status(), 500); // out of range
    /// # let _ = Body::Empty;
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers set so far, in order.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// let r = Response::new(200).header("X-A", "1");
    /// assert_eq!(r.headers()[0], ("X-A".to_owned(), "1".to_owned()));
    /// # let _ = Body::Empty;
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of a header, compared case-insensitively.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// let r = Response::json(200, "{}");
    /// assert_eq!(r.header_value("CONTENT-TYPE"), Some("application/json"));
    /// # let _ = Body::Empty;
    /// ```
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// let r = Response::text(200, "hi");
    /// assert_eq!(r.body_ref().as_bytes(), Some(&b"hi"[..]));
    /// # let _ = Body::Empty;
    /// ```
    pub fn body_ref(&self) -> &Body {
        &self.body
    }

    /// Takes the body out (leaving [`Body::Empty`]), e.g. after the head was encoded.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// let mut r = Response::text(200, "hi");
    /// let body = r.take_body();
    /// assert_eq!(body.len(), Some(2));
    /// assert!(matches!(r.body_ref(), Body::Empty));
    /// ```
    pub fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.body, Body::Empty)
    }

    /// Splits into status, headers and body.
    ///
    /// ```
    /// use plezi_server::{Body, Response};
    /// let (status, headers, body) = Response::text(200, "hi").into_parts();
    /// assert_eq!((status, headers.len(), body.len()), (200, 1, Some(2)));
    /// ```
    pub fn into_parts(self) -> (u16, Vec<(String, String)>, Body) {
        (self.status, self.headers, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_content_type_and_body() {
        let r = Response::text(200, "hi");
        assert_eq!(
            r.header_value("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(r.body_ref().as_bytes(), Some(&b"hi"[..]));
        let r = Response::json(201, b"{}".to_vec());
        assert_eq!(r.status(), 201);
        assert_eq!(r.header_value("Content-Type"), Some("application/json"));
        let r = Response::html(200, "<p>");
        assert_eq!(
            r.header_value("content-type"),
            Some("text/html; charset=utf-8")
        );
    }

    #[test]
    fn header_injection_is_dropped() {
        let r = Response::new(200)
            .header("X-A", "ok")
            .header("X-B", "a\r\nSet-Cookie: evil=1")
            .header("X-C\r\nX", "v")
            .header("", "v")
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2");
        let names: Vec<&str> = r.headers().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["X-A", "Set-Cookie", "Set-Cookie"]);
    }

    #[test]
    fn control_characters_and_bad_names_are_refused() {
        for value in ["a\rb", "a\nb", "a\0b", "a\x1bb", "a\x7fb", "a\x0bb"] {
            assert_eq!(
                Response::new(200).try_header("X-A", value).unwrap_err(),
                HeaderError::InvalidValue("X-A".into()),
                "{value:?}"
            );
            assert!(Response::new(200).header("X-A", value).headers().is_empty());
        }
        for name in ["", "X A", "X:A", "X\tA", "\u{e9}", "X(A)", "X/A"] {
            assert!(
                matches!(
                    Response::new(200).try_header(name, "v"),
                    Err(HeaderError::InvalidName(_))
                ),
                "{name:?}"
            );
        }
        let ok = Response::new(200)
            .try_header("X-Tab", "a\tb \u{e9}")
            .unwrap()
            .try_header("x~y!#", "")
            .unwrap();
        assert_eq!(ok.headers().len(), 2);
        assert!(
            HeaderError::InvalidValue("X".into())
                .to_string()
                .contains("control")
        );
    }

    #[test]
    fn invalid_status_becomes_500() {
        assert_eq!(Response::new(42).status(), 500);
        assert_eq!(Response::new(1000).status(), 500);
        assert_eq!(Response::new(599).status(), 599);
    }

    #[test]
    fn file_body_reads_its_range() {
        let path = std::env::temp_dir().join(format!("plezi-filebody-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let mut f = FileBody::new(File::open(&path).unwrap(), 2, 5);
        let mut out = Vec::new();
        assert_eq!(f.read_into(&mut out, 3).unwrap(), 3);
        assert_eq!(f.read_into(&mut out, 100).unwrap(), 2);
        assert_eq!(f.read_into(&mut out, 100).unwrap(), 0);
        assert_eq!(out, b"23456");
        assert!(f.is_empty());

        // The file shrinks underneath: an error, not a silent short body.
        let mut f = FileBody::open(&path).unwrap();
        std::fs::write(&path, b"01").unwrap();
        let mut out = Vec::new();
        assert_eq!(f.read_into(&mut out, 100).unwrap(), 2);
        let err = f.read_into(&mut out, 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out, b"01");
        std::fs::remove_file(&path).unwrap();
    }
}
