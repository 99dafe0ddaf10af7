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
//! - Bodies stream from the open file ([`crate::http::Body::File`]); nothing is read into memory.

mod mime;
mod negotiate;
mod resolve;

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::{FileBody, Request, Response, format_system_time, parse_imf};
use negotiate::RangeAnswer;

/// Serves files below one folder.
#[derive(Debug, Clone)]
pub(crate) struct StaticFiles {
    root: PathBuf,
    /// Serve names starting with `.` (always true for a first segment `.well-known`).
    dotfiles: bool,
}

/// The file chosen to answer a request, before conditionals and ranges.
struct Chosen {
    file: File,
    meta: Metadata,
    /// Content type of the requested name (not of its `.gz` sibling).
    content_type: &'static str,
    gzip: bool,
    has_gzip_variant: bool,
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
                return Some(
                    Response::text(301, "Moved Permanently\n").header("Location", &location),
                );
            }
        } else if safe.trailing_slash {
            return None;
        }
        let real = resolve::contained_file(&self.root, &path)?;
        if !self.dotfiles && resolve::hidden_below(&self.root, &real) {
            return None;
        }
        let chosen = self.choose(&real, req)?;
        Some(respond(chosen, req))
    }

    /// Opens the file or, when accepted and present, its `.gz` sibling.
    fn choose(&self, real: &Path, req: &Request) -> Option<Chosen> {
        let name = real.file_name()?.to_string_lossy();
        let content_type = mime::content_type(&name);
        let mut gz_name = real.as_os_str().to_owned();
        gz_name.push(".gz");
        let gz_path = resolve::contained_file(&self.root, Path::new(&gz_name));
        let has_gzip_variant = gz_path.is_some();
        let use_gzip = negotiate::accepts_gzip(req.header("accept-encoding"));
        if let Some(gz) = gz_path.filter(|_| use_gzip)
            && let Some((file, meta)) = open_file(&gz)
        {
            return Some(Chosen {
                file,
                meta,
                content_type,
                gzip: true,
                has_gzip_variant,
            });
        }
        let (file, meta) = open_file(real)?;
        Some(Chosen {
            file,
            meta,
            content_type,
            gzip: false,
            has_gzip_variant,
        })
    }
}

fn open_file(path: &Path) -> Option<(File, Metadata)> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta))
}

/// Builds the 200 / 206 / 304 / 416 answer for a chosen file.
fn respond(chosen: Chosen, req: &Request) -> Response {
    let len = chosen.meta.len();
    let mtime = chosen.meta.modified().unwrap_or(UNIX_EPOCH);
    let since_epoch = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!(
        "\"{len:x}-{:x}{}\"",
        since_epoch.as_nanos(),
        if chosen.gzip { "-gz" } else { "" }
    );
    let last_modified = format_system_time(mtime);

    let with_validators = |resp: Response| {
        let resp = resp
            .header("ETag", &etag)
            .header("Last-Modified", &last_modified);
        if chosen.has_gzip_variant {
            resp.header("Vary", "Accept-Encoding")
        } else {
            resp
        }
    };

    if not_modified(req, &etag, since_epoch.as_secs()) {
        return with_validators(Response::new(304));
    }

    let range_header = match req.header("if-range") {
        Some(v) if !negotiate::if_range_holds(v, &etag, &last_modified) => None,
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
        RangeAnswer::Full => Response::new(200).body(FileBody::new(chosen.file, 0, len)),
        RangeAnswer::Partial { start, end } => Response::new(206)
            .header("Content-Range", &format!("bytes {start}-{end}/{len}"))
            .body(FileBody::new(chosen.file, start, end - start + 1)),
    };
    resp = resp
        .header("Content-Type", chosen.content_type)
        .header("Accept-Ranges", "bytes");
    if chosen.gzip {
        resp = resp.header("Content-Encoding", "gzip");
    }
    with_validators(resp)
}

/// `If-None-Match` decides when present; otherwise `If-Modified-Since` (second precision).
fn not_modified(req: &Request, etag: &str, mtime_secs: u64) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        return negotiate::none_match(inm, etag);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match req.header("if-modified-since").and_then(parse_imf) {
        // A date in the future is invalid (RFC 9110 §13.1.3) and ignored.
        Some(since) if since <= now => mtime_secs <= since,
        _ => false,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
