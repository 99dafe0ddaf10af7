//! Static files from a public folder, answered before the application sees the request.
//!
//! Decisions (see also `resolve::decode_path`):
//! - Only GET and HEAD; anything that does not resolve to a regular file inside the folder returns
//!   `None` so the application can answer (usually 404). Traversal attempts (`..`, `%2e%2e`, `%2f`,
//!   backslashes, NUL) are refused the same way; symlinks are followed but the final path must
//!   still be inside the canonical root.
//! - Folders serve their `index.html`; `/dir` (no slash) redirects to `/dir/` with 301, the
//!   `Location` built with repeated slashes collapsed (`//evil.example` is not a folder of ours
//!   but a protocol-relative URL: it must never leave the host).
//! - Dotfiles (a segment starting with `.`, asked for or reached through a symlink) are not
//!   served unless enabled; the first segment `.well-known` (ACME, RFC 8615) always is.
//! - `file.gz` next to `file` is sent with `Content-Encoding: gzip` when `Accept-Encoding` allows;
//!   both variants then carry `Vary: Accept-Encoding` and have distinct entity tags.
//! - `ETag` is `"<len hex>-<mtime ns hex>"`; `If-None-Match` (weak comparison) takes precedence
//!   over `If-Modified-Since` (IMF-fixdate only); either answers 304.
//! - One `Range: bytes=...` range gives 206, an unsatisfiable one 416; several ranges are ignored
//!   (200 with the whole file). `If-Range` is honoured.
//! - What a path resolved to is cached for a second (`cache`): files up to 64 KiB are answered
//!   from memory ([`crate::http::Body::Shared`]), larger ones stream from the open file
//!   ([`crate::http::Body::File`]) and are never read into memory. A changed, added or deleted
//!   file, or a symlink that starts pointing outside the folder, is seen within that second.

mod cache;
mod mime;
mod negotiate;
mod resolve;

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::http::{Body, FileBody, Request, Response, parse_imf};
use cache::{Cache, Entry, Stamp, Validators, Variant};
use negotiate::RangeAnswer;

/// Serves files below one folder.
#[derive(Debug)]
pub(crate) struct StaticFiles {
    root: PathBuf,
    /// Serve names starting with `.` (always true for a first segment `.well-known`).
    dotfiles: bool,
    cache: Cache,
}

/// What a request path resolves to on disk (before the cache).
#[allow(
    clippy::large_enum_variant,
    reason = "built once per resolution and taken apart at once"
)]
enum Resolved {
    /// `/dir` without its slash: the redirect to `/dir/`.
    Redirect(Response),
    /// A file inside the folder, opened, and its `.gz` sibling if there is one.
    File {
        content_type: &'static str,
        identity: Opened,
        gzip: Option<Opened>,
    },
}

/// A file opened after its path was checked.
struct Opened {
    real: PathBuf,
    file: File,
    meta: Metadata,
}

impl Opened {
    fn open(real: PathBuf) -> Option<Opened> {
        let file = File::open(&real).ok()?;
        let meta = file.metadata().ok()?;
        meta.is_file().then_some(Opened { real, file, meta })
    }
}

/// Where the body of an answer comes from.
enum Content {
    Memory(Arc<[u8]>),
    File(File),
}

impl StaticFiles {
    /// Serves from `root`, which must exist and be a folder; it is canonicalized once here.
    pub(crate) fn new(root: PathBuf) -> io::Result<StaticFiles> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("public folder {} is not a directory", root.display()),
            ));
        }
        Ok(StaticFiles {
            root,
            dotfiles: false,
            cache: Cache::default(),
        })
    }

    /// Whether names starting with `.` are served (default false; `/.well-known/` always is).
    pub(crate) fn with_dotfiles(mut self, yes: bool) -> StaticFiles {
        self.dotfiles = yes;
        self
    }

    /// The canonical folder files are served from.
    #[cfg(test)]
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Answers `req` from the folder, or `None` when no file here matches (the app answers then).
    pub(crate) fn serve(&self, req: &Request) -> Option<Response> {
        if req.method() != "GET" && req.method() != "HEAD" {
            return None;
        }
        let now = Instant::now();
        if let Some(entry) = self.cache.fresh(req.path(), now)
            && let Some(resp) = respond_cached(&entry, req)
        {
            return Some(resp);
        }
        self.serve_uncached(req, now)
    }

    /// Resolves the path on disk, remembers the result and answers from it.
    fn serve_uncached(&self, req: &Request, now: Instant) -> Option<Response> {
        let path = req.path();
        let (content_type, identity, gzip) = match self.resolve(req) {
            Some(Resolved::File {
                content_type,
                identity,
                gzip,
            }) => (content_type, identity, gzip),
            Some(Resolved::Redirect(resp)) => {
                self.cache.remove(path);
                return Some(resp);
            }
            None => {
                self.cache.remove(path);
                return None;
            }
        };
        let previous = self.cache.previous(path);
        let (identity, identity_file) = Variant::new(
            identity.real,
            identity.file,
            &identity.meta,
            false,
            previous.as_ref().map(|p| &p.identity),
        );
        let (gzip, gzip_file) = match gzip {
            Some(gz) => {
                let before = previous.as_ref().and_then(|p| p.gzip.as_ref());
                let (variant, file) = Variant::new(gz.real, gz.file, &gz.meta, true, before);
                (Some(variant), file)
            }
            None => (None, None),
        };
        drop(previous);
        let entry = self
            .cache
            .insert(path, Entry::new(now, content_type, identity, gzip));
        let use_gzip = entry.gzip.is_some() && accepts_gzip(req);
        let (variant, file) = if use_gzip {
            (entry.gzip.as_ref()?, gzip_file)
        } else {
            (&entry.identity, identity_file)
        };
        let content = match (&variant.body, file) {
            (Some(body), _) => Content::Memory(Arc::clone(body)),
            (None, Some(file)) => Content::File(file),
            (None, None) => return None,
        };
        Some(respond(req, &entry, use_gzip, &variant.validators, content))
    }

    /// Maps the request path onto the folder: checks, `realpath`, the `.gz` sibling.
    fn resolve(&self, req: &Request) -> Option<Resolved> {
        let safe = resolve::decode_path(req.path())?;
        if !self.dotfiles && resolve::has_hidden_segment(&safe.segments) {
            return None;
        }
        let mut path = safe.under(&self.root);
        if path.is_dir() {
            path.push("index.html");
            if !safe.trailing_slash {
                let real = resolve::contained_file(&self.root, &path)?;
                if !self.dotfiles && resolve::hidden_below(&self.root, &real) {
                    return None;
                }
                // Built from the path with repeated slashes collapsed: `//host` would be a
                // protocol-relative redirect to another host.
                let dir = resolve::collapse_slashes(req.path());
                let location = match req.query() {
                    Some(q) => format!("{dir}/?{q}"),
                    None => format!("{dir}/"),
                };
                return Some(Resolved::Redirect(
                    Response::text(301, "Moved Permanently\n").header("Location", &location),
                ));
            }
        } else if safe.trailing_slash {
            return None;
        }
        let real = resolve::contained_file(&self.root, &path)?;
        if !self.dotfiles && resolve::hidden_below(&self.root, &real) {
            return None;
        }
        let content_type = mime::content_type(&real.file_name()?.to_string_lossy());
        let mut gz_name = real.as_os_str().to_owned();
        gz_name.push(".gz");
        let gzip = resolve::contained_file(&self.root, Path::new(&gz_name)).and_then(Opened::open);
        let identity = Opened::open(real)?;
        Some(Resolved::File {
            content_type,
            identity,
            gzip,
        })
    }
}

fn accepts_gzip(req: &Request) -> bool {
    negotiate::accepts_gzip(req.header("accept-encoding"))
}

/// Answers from a cached entry: from memory, or from the file opened again by its canonical path
/// when it is still the same inode. `None` when that file was replaced (resolve again).
fn respond_cached(entry: &Entry, req: &Request) -> Option<Response> {
    let use_gzip = entry.gzip.is_some() && accepts_gzip(req);
    let variant = match &entry.gzip {
        Some(gz) if use_gzip => gz,
        _ => &entry.identity,
    };
    if let Some(body) = &variant.body {
        let content = Content::Memory(Arc::clone(body));
        return Some(respond(req, entry, use_gzip, &variant.validators, content));
    }
    let file = File::open(&variant.real).ok()?;
    let meta = file.metadata().ok()?;
    let stamp = Stamp::of(&meta);
    if !stamp.same_file(&variant.stamp) || !meta.is_file() {
        return None;
    }
    let content = Content::File(file);
    if stamp == variant.stamp {
        Some(respond(req, entry, use_gzip, &variant.validators, content))
    } else {
        // Same file, new content: describe what will be sent.
        let validators = Validators::of(&meta, use_gzip);
        Some(respond(req, entry, use_gzip, &validators, content))
    }
}

/// Builds the 200 / 206 / 304 / 416 answer.
fn respond(
    req: &Request,
    entry: &Entry,
    gzip: bool,
    validators: &Validators,
    content: Content,
) -> Response {
    let Validators {
        len,
        mtime_secs,
        etag,
        last_modified,
    } = validators;
    let len = *len;
    let with_validators = |resp: Response| {
        let resp = resp
            .header("ETag", etag)
            .header("Last-Modified", last_modified);
        if entry.gzip.is_some() {
            resp.header("Vary", "Accept-Encoding")
        } else {
            resp
        }
    };

    if not_modified(req, etag, *mtime_secs) {
        return with_validators(Response::new(304));
    }

    let range_header = match req.header("if-range") {
        Some(v) if !negotiate::if_range_holds(v, etag, last_modified) => None,
        _ => req.header("range"),
    };
    let mut resp = match negotiate::range(range_header, len) {
        RangeAnswer::Unsatisfiable => {
            return with_validators(
                Response::text(416, "Range Not Satisfiable\n")
                    .header("Content-Range", &format!("bytes */{len}"))
                    .header("Accept-Ranges", "bytes"),
            );
        }
        RangeAnswer::Full => Response::new(200).body(match content {
            Content::Memory(bytes) => Body::Shared(bytes),
            Content::File(file) => Body::File(FileBody::new(file, 0, len)),
        }),
        RangeAnswer::Partial { start, end } => Response::new(206)
            .header("Content-Range", &format!("bytes {start}-{end}/{len}"))
            .body(match content {
                Content::Memory(bytes) => {
                    let part = usize::try_from(start)
                        .ok()
                        .zip(usize::try_from(end).ok())
                        .and_then(|(s, e)| bytes.get(s..=e));
                    Body::Bytes(part.unwrap_or_default().to_vec())
                }
                Content::File(file) => Body::File(FileBody::new(file, start, end - start + 1)),
            }),
    };
    resp = resp
        .header("Content-Type", entry.content_type)
        .header("Accept-Ranges", "bytes");
    if gzip {
        resp = resp.header("Content-Encoding", "gzip");
    }
    with_validators(resp)
}

/// `If-None-Match` decides when present; otherwise `If-Modified-Since` (second precision).
fn not_modified(req: &Request, etag: &str, mtime_secs: u64) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        return negotiate::none_match(inm, etag);
    }
    let Some(since) = req.header("if-modified-since").and_then(parse_imf) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // A date in the future is invalid (RFC 9110 §13.1.3) and ignored.
    since <= now && mtime_secs <= since
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
