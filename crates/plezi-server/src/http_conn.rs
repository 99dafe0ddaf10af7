//! The HTTP/1.1 side of a connection: request heads and bodies in, responses out, strictly in
//! order (the service is synchronous, so answering each request as it completes keeps the order of
//! pipelined requests); `Expect: 100-continue`; streamed `File` and `Stream` bodies; the switch to
//! WebSocket on an upgrade.
//!
//! Backpressure: pipelined requests are answered only while the outbound queue is under
//! `max_pending_bytes`; past it the rest of the input waits (and the socket is not read) until the
//! queue drains, so a client that sends many requests and never reads cannot make the server queue
//! more than about one response over the cap.

use std::io::{self, Read};
use std::net::SocketAddr;

use crate::deferred::{LaterFn, next_ticket};
use crate::handler::{Reply, Service, Upgrade};
use crate::health::Health;
use crate::http::{
    Body, BodyDecoder, BodyKind, CONTINUE_100, EncodedHead, FileBody, Framing, HeadParse,
    HttpError, HttpLimits, Request, RequestHead, Response, encode_chunk, encode_last_chunk,
    encode_response_head, is_parsed_body_type, parse_head,
};
use crate::outbound::OutQueue;
use crate::panic_guard::guard;
use crate::security::{Cors, Guards};
use crate::static_files::StaticFiles;
use crate::stats::LoopStats;
use crate::ws::extension::negotiate;
use crate::ws::handshake::{HandshakeError, UpgradeCheck, accept_response, check_upgrade};
use crate::ws_conn::{WsConn, WsLimits};

/// A streamed body is read in pieces of this size, and refilled while less than this is queued.
pub(crate) const STREAM_CHUNK: usize = 64 * 1024;

/// What the HTTP layer needs from its loop.
pub(crate) struct HttpCx<'a> {
    pub(crate) service: &'a dyn Service,
    pub(crate) statics: Option<&'a StaticFiles>,
    pub(crate) limits: &'a HttpLimits,
    pub(crate) ws_limits: &'a WsLimits,
    pub(crate) access_log: bool,
    /// Origin policy and CORS.
    pub(crate) guards: &'a Guards,
    /// The health paths, if answered.
    pub(crate) health: Option<&'a Health>,
    /// The server drains or stops: the readiness path answers 503.
    pub(crate) draining: bool,
    /// Body limit for JSON and urlencoded bodies.
    pub(crate) max_form_body: usize,
    /// The loop's counters (responses by status).
    pub(crate) stats: &'a LoopStats,
    /// The server is stopping: every response closes its connection.
    pub(crate) stopping: bool,
    pub(crate) now: u32,
    pub(crate) peer: SocketAddr,
}

/// A connection in HTTP mode.
pub(crate) struct HttpConn {
    pub(crate) state: HttpState,
    /// Loop-clock time (ms) at which the request head being read started (its first byte, or the
    /// accept for a new connection); `None` between requests.
    pub(crate) head_started: Option<u32>,
    /// Bytes of the incomplete head already searched for its end (so a head trickling in byte by
    /// byte is scanned once, not re-parsed on every read).
    scanned: u32,
}

/// Where an HTTP connection is.
pub(crate) enum HttpState {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Head parsed, body being decoded.
    Body(Box<PendingBody>),
    /// A response body is being streamed; input waits.
    Streaming(Box<Streaming>),
    /// The service answered [`Reply::later`]; input waits for the responder.
    Waiting(Box<Waiting>),
    /// The last response is queued; close once it is flushed.
    Closing,
}

/// A request whose body is still arriving.
pub(crate) struct PendingBody {
    head: RequestHead,
    decoder: BodyDecoder,
    body: Vec<u8>,
    /// Loop-clock ms at which the head was complete (the body's data-rate clock).
    started: u32,
    /// The body is parsed by the application (JSON, urlencoded): its smaller limit applies.
    form: bool,
}

impl PendingBody {
    /// Whether the body arrives slower than `rate` bytes/s on average, once `grace_ms` have
    /// passed since its head (Kestrel's minimum request body data rate). `rate == 0`: never.
    pub(crate) fn too_slow(&self, now: u32, rate: u32, grace_ms: u32) -> bool {
        let elapsed = now.wrapping_sub(self.started);
        if rate == 0 || elapsed < grace_ms || elapsed >= 1 << 31 {
            return false;
        }
        let expected = u64::from(rate) * u64::from(elapsed) / 1000;
        self.decoder.received() < expected
    }
}

/// A request whose answer comes later (see `deferred.rs`): what writing it will need.
pub(crate) struct Waiting {
    /// Matches the responder's answer to this request.
    ticket: u64,
    /// Loop-clock ms at which the wait began (the reply timeout's clock).
    since: u32,
    method: String,
    target: String,
    is_head: bool,
    keep_alive: bool,
    minor: u8,
    /// The request's `Origin`, for the CORS headers of the answer.
    origin: Option<String>,
}

/// A response body sent piece by piece as the socket drains.
pub(crate) struct Streaming {
    source: Source,
    chunked: bool,
    keep_alive: bool,
}

enum Source {
    File(FileBody),
    Reader(Box<dyn Read + Send>),
}

/// What the connection should do after [`HttpConn::on_input`].
pub(crate) enum HttpNext {
    /// Read more.
    NeedMore,
    /// Stop reading until the streamed response is done (the unconsumed input is kept).
    Paused,
    /// Flush what is queued, then close.
    Close,
    /// Switch to WebSocket; the unconsumed input belongs to the WebSocket.
    Upgrade(Box<WsConn>),
    /// The answer comes later: hand the service's closure a responder for this ticket (input
    /// waits meanwhile).
    Later(LaterFn, u64),
}

/// What refilling a streamed body achieved.
pub(crate) enum Refill {
    /// More of the body remains.
    More,
    /// The body is complete; the connection continues with the next request.
    Done,
}

impl HttpConn {
    /// A new connection: the header timeout runs from `now`.
    pub(crate) fn new(now: u32) -> HttpConn {
        HttpConn {
            state: HttpState::Head,
            head_started: Some(now),
            scanned: 0,
        }
    }

    /// True when nothing is in progress (between requests, nothing buffered by this layer).
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, HttpState::Head) && self.head_started.is_none()
    }

    /// Consumes request bytes from `input`, queuing answers on `out`. Returns the bytes consumed
    /// and what to do next.
    pub(crate) fn on_input(
        &mut self,
        cx: &HttpCx<'_>,
        out: &mut OutQueue,
        input: &[u8],
    ) -> (usize, HttpNext) {
        let mut pos = 0;
        loop {
            match &mut self.state {
                HttpState::Closing => return (input.len(), HttpNext::Close),
                HttpState::Streaming(_) | HttpState::Waiting(_) => {
                    return (pos, HttpNext::Paused);
                }
                HttpState::Head => {
                    if pos == input.len() {
                        return (pos, HttpNext::NeedMore);
                    }
                    self.head_started.get_or_insert(cx.now);
                    // Empty lines before a request line are ignored (RFC 9112 §2.2): drop them
                    // here so they are not kept and scanned again on every read (the header
                    // timeout still runs from the first of them).
                    pos += leading_empty_lines(&input[pos..]);
                    if pos == input.len() {
                        self.scanned = 0;
                        return (pos, HttpNext::NeedMore);
                    }
                    let buffered = &input[pos..];
                    if buffered.len() <= cx.limits.max_header_bytes
                        && !may_hold_head_end(buffered, self.scanned as usize)
                    {
                        self.scanned = buffered.len() as u32;
                        return (pos, HttpNext::NeedMore);
                    }
                    self.scanned = 0;
                    let head = match parse_head(buffered, cx.limits) {
                        Ok(HeadParse::Partial) => {
                            self.scanned = buffered.len() as u32;
                            return (pos, HttpNext::NeedMore);
                        }
                        Ok(HeadParse::Complete { head, consumed }) => {
                            pos += consumed;
                            head
                        }
                        Err(e) => return (input.len(), self.fail(cx, out, &e)),
                    };
                    if head.body == BodyKind::None {
                        self.head_started = None;
                        match self.respond(cx, out, head, Vec::new()) {
                            HttpNext::NeedMore if out.pending() < cx.ws_limits.max_pending => {
                                continue;
                            }
                            next => return (pos, next),
                        }
                    }
                    let mut max_body = cx.limits.max_body_bytes;
                    let mut form = false;
                    if head.header_all("content-type").any(is_parsed_body_type)
                        && cx.max_form_body < max_body
                    {
                        max_body = cx.max_form_body;
                        form = true;
                    }
                    if let BodyKind::Length(n) = head.body
                        && n > max_body as u64
                    {
                        let e = if form {
                            HttpError::FormBodyTooLarge
                        } else {
                            HttpError::BodyTooLarge
                        };
                        return (input.len(), self.fail(cx, out, &e));
                    }
                    if head.expect_continue && pos == input.len() {
                        out.push_owned(CONTINUE_100.to_vec());
                    }
                    let decoder = BodyDecoder::new(&head.body, max_body);
                    self.state = HttpState::Body(Box::new(PendingBody {
                        head,
                        decoder,
                        body: Vec::new(),
                        started: cx.now,
                        form,
                    }));
                }
                HttpState::Body(pending) => {
                    match pending.decoder.decode(&input[pos..], &mut pending.body) {
                        Ok(n) => pos += n,
                        Err(HttpError::BodyTooLarge) if pending.form => {
                            return (
                                input.len(),
                                self.fail(cx, out, &HttpError::FormBodyTooLarge),
                            );
                        }
                        Err(e) => return (input.len(), self.fail(cx, out, &e)),
                    }
                    if !pending.decoder.is_done() {
                        return (pos, HttpNext::NeedMore);
                    }
                    let HttpState::Body(pending) =
                        std::mem::replace(&mut self.state, HttpState::Head)
                    else {
                        unreachable!("state was just matched as Body");
                    };
                    let PendingBody { head, body, .. } = *pending;
                    self.head_started = None;
                    match self.respond(cx, out, head, body) {
                        HttpNext::NeedMore if out.pending() < cx.ws_limits.max_pending => continue,
                        next => return (pos, next),
                    }
                }
            }
        }
    }

    /// Answers a protocol error and closes.
    pub(crate) fn fail(&mut self, cx: &HttpCx<'_>, out: &mut OutQueue, e: &HttpError) -> HttpNext {
        log::debug!("plezi: {}: {e}", cx.peer);
        let resp = e.response();
        cx.stats.response(resp.status());
        out.append_with(|v| {
            encode_response_head(&resp, false, false, 1, v);
            if let Some(body) = resp.body_ref().as_bytes() {
                v.extend_from_slice(body);
            }
        });
        if cx.access_log {
            log::info!(target: "plezi::access", "{} - {} ({e})", cx.peer, e.status());
        }
        self.state = HttpState::Closing;
        HttpNext::Close
    }

    /// Runs static files / the service for a complete request and queues the answer.
    fn respond(
        &mut self,
        cx: &HttpCx<'_>,
        out: &mut OutQueue,
        head: RequestHead,
        body: Vec<u8>,
    ) -> HttpNext {
        let is_head = head.method() == "HEAD";
        let minor = head.minor_version;
        let keep_alive = head.keep_alive && !cx.stopping;
        let check = head
            .upgrade_websocket
            .then(|| check_upgrade(head.method(), head.minor_version, head.headers()));
        let mut req = Request::from_head(head, body, cx.peer);
        let guards = cx.guards;
        let reply = match &check {
            Some(UpgradeCheck::Invalid(e)) => Reply::Response(handshake_refusal(*e)),
            Some(UpgradeCheck::Valid { .. }) => {
                match guards
                    .origins
                    .check_upgrade(req.header("origin"), req.header("host"))
                {
                    Err(refusal) => {
                        log::debug!("plezi: {}: {refusal}", cx.peer);
                        Reply::Response(refusal.response())
                    }
                    Ok(()) => {
                        req.set_websocket_upgrade(true);
                        call_service(cx.service, &mut req)
                    }
                }
            }
            None => answer(cx, &mut req),
        };
        let line = RequestLine {
            method: req.method(),
            target: req.target(),
        };
        match (reply, check) {
            (Reply::Later(later), _) => {
                let ticket = next_ticket();
                self.state = HttpState::Waiting(Box::new(Waiting {
                    ticket,
                    since: cx.now,
                    method: line.method.to_owned(),
                    target: line.target.to_owned(),
                    is_head,
                    keep_alive,
                    minor,
                    origin: req.header("origin").map(str::to_owned),
                }));
                HttpNext::Later(later.0, ticket)
            }
            (Reply::Upgrade(_), Some(UpgradeCheck::Valid { .. })) if cx.stopping => {
                let resp = Response::text(503, "the server is shutting down\n");
                self.write_response(cx, out, &line, resp, is_head, false, minor)
            }
            (Reply::Upgrade(upgrade), Some(UpgradeCheck::Valid { accept_key })) => {
                self.upgrade(cx, out, &req, upgrade, &accept_key)
            }
            (Reply::Upgrade(_), _) => {
                log::warn!(
                    "plezi: the service answered {} {} with an upgrade, but it is not a valid WebSocket upgrade request; sent 426",
                    req.method(),
                    req.target()
                );
                let resp = Response::text(426, "this resource needs a WebSocket connection\n")
                    .header("Upgrade", "websocket")
                    .header("Sec-WebSocket-Version", "13");
                self.write_response(cx, out, &line, resp, is_head, keep_alive, minor)
            }
            (Reply::Response(resp), _) => {
                self.write_response(cx, out, &line, resp, is_head, keep_alive, minor)
            }
        }
    }

    fn upgrade(
        &mut self,
        cx: &HttpCx<'_>,
        out: &mut OutQueue,
        req: &Request,
        upgrade: Upgrade,
        accept_key: &str,
    ) -> HttpNext {
        let protocol = upgrade.protocol.as_deref().filter(|chosen| {
            let offered = req.websocket_protocols().any(|p| p == *chosen);
            if !offered {
                log::warn!(
                    "plezi: subprotocol {chosen:?} was not offered by {}; not sent",
                    cx.peer
                );
            }
            offered
        });
        let deflate = cx
            .ws_limits
            .deflate_threshold
            .and_then(|_| negotiate(req.header_all("sec-websocket-extensions")));
        out.append_with(|v| accept_response(accept_key, protocol, deflate, v));
        cx.stats.response(101);
        LoopStats::add(&cx.stats.upgrades, 1);
        if cx.access_log {
            log::info!(target: "plezi::access", "{} \"{} {} HTTP/1.{}\" 101", cx.peer, req.method(), req.target(), req.minor_version());
        }
        HttpNext::Upgrade(Box::new(WsConn::new(upgrade, cx.ws_limits, deflate)))
    }

    /// Sends the answer to the request this connection waits on (its `ticket`), with the CORS
    /// headers an immediate answer would have had; `None` when it no longer waits for that
    /// ticket (timed out, or another request).
    pub(crate) fn complete(
        &mut self,
        cx: &HttpCx<'_>,
        out: &mut OutQueue,
        ticket: u64,
        resp: Response,
    ) -> Option<HttpNext> {
        match &self.state {
            HttpState::Waiting(w) if w.ticket == ticket => {}
            _ => return None,
        }
        let HttpState::Waiting(w) = std::mem::replace(&mut self.state, HttpState::Head) else {
            unreachable!("state was just matched as Waiting");
        };
        let resp = with_cors(cx.guards.cors.as_ref(), w.origin.as_deref(), resp);
        let line = RequestLine {
            method: &w.method,
            target: &w.target,
        };
        let keep_alive = w.keep_alive && !cx.stopping;
        Some(self.write_response(cx, out, &line, resp, w.is_head, keep_alive, w.minor))
    }

    /// Whether the deferred answer this connection waits for is overdue at `now`.
    pub(crate) fn reply_overdue(&self, now: u32, limit: u32) -> bool {
        matches!(&self.state, HttpState::Waiting(w) if now.wrapping_sub(w.since) >= limit)
    }

    /// Answers `504` to the request whose deferred answer is overdue (a late answer is then
    /// discarded).
    pub(crate) fn reply_timed_out(&mut self, cx: &HttpCx<'_>, out: &mut OutQueue) -> HttpNext {
        let HttpState::Waiting(w) = &self.state else {
            return HttpNext::NeedMore;
        };
        log::warn!(
            "plezi: {}: no answer to {} {} within the reply timeout; sent 504",
            cx.peer,
            w.method,
            w.target
        );
        let ticket = w.ticket;
        let resp =
            Response::text(504, "the answer did not come in time\n").header("Connection", "close");
        self.complete(cx, out, ticket, resp)
            .unwrap_or(HttpNext::NeedMore)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_response(
        &mut self,
        cx: &HttpCx<'_>,
        out: &mut OutQueue,
        line: &RequestLine<'_>,
        resp: Response,
        is_head: bool,
        keep_alive: bool,
        minor: u8,
    ) -> HttpNext {
        let mut encoded = EncodedHead {
            framing: Framing::NoBody,
            keep_alive,
        };
        let inline = matches!(resp.body_ref(), Body::Bytes(b) if b.len() <= STREAM_CHUNK / 4);
        let status = resp.status();
        cx.stats.response(status);
        let (_, _, body) = {
            out.append_with(|v| {
                encoded = encode_response_head(&resp, is_head, keep_alive, minor, v);
                if inline
                    && encoded.framing != Framing::NoBody
                    && let Body::Bytes(b) = resp.body_ref()
                {
                    v.extend_from_slice(b);
                }
            });
            resp.into_parts()
        };
        if cx.access_log {
            log::info!(target: "plezi::access", "{} \"{} {} HTTP/1.{}\" {status}", cx.peer, line.method, line.target, minor);
        }
        let mut streaming = None;
        if encoded.framing != Framing::NoBody && !inline {
            match body {
                Body::Empty => {}
                Body::Bytes(b) => out.push_owned(b),
                Body::Shared(b) => out.push_shared(b),
                Body::File(f) => streaming = Some(Source::File(f)),
                Body::Stream(r) => streaming = Some(Source::Reader(r)),
            }
        }
        if let Some(source) = streaming {
            let chunked = encoded.framing == Framing::Chunked;
            self.state = HttpState::Streaming(Box::new(Streaming {
                source,
                chunked,
                keep_alive: encoded.keep_alive,
            }));
            return HttpNext::Paused;
        }
        if encoded.keep_alive {
            HttpNext::NeedMore
        } else {
            self.state = HttpState::Closing;
            HttpNext::Close
        }
    }

    /// Queues more of a streamed body while less than [`STREAM_CHUNK`] is pending. An error means
    /// the response cannot be completed: close the connection.
    pub(crate) fn refill(&mut self, out: &mut OutQueue) -> io::Result<Refill> {
        let HttpState::Streaming(s) = &mut self.state else {
            return Ok(Refill::Done);
        };
        while out.pending() < STREAM_CHUNK {
            let done = match &mut s.source {
                Source::File(f) => {
                    if f.is_empty() {
                        true
                    } else {
                        let mut buf = Vec::with_capacity(STREAM_CHUNK.min(f.len() as usize));
                        f.read_into(&mut buf, STREAM_CHUNK)?;
                        out.push_owned(buf);
                        false
                    }
                }
                Source::Reader(r) => {
                    let mut buf = vec![0u8; STREAM_CHUNK];
                    let n = loop {
                        match r.read(&mut buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            other => break other?,
                        }
                    };
                    if n > 0 {
                        if s.chunked {
                            let mut framed = Vec::with_capacity(n + 16);
                            encode_chunk(&buf[..n], &mut framed);
                            out.push_owned(framed);
                        } else {
                            buf.truncate(n);
                            out.push_owned(buf);
                        }
                    } else if s.chunked {
                        out.append_with(encode_last_chunk);
                    }
                    n == 0
                }
            };
            if done {
                self.state = if s.keep_alive {
                    HttpState::Head
                } else {
                    HttpState::Closing
                };
                return Ok(Refill::Done);
            }
        }
        Ok(Refill::More)
    }

    /// Queues a 408 and closes (the request head did not arrive in time).
    pub(crate) fn time_out(&mut self, cx: &HttpCx<'_>, out: &mut OutQueue) {
        self.fail(cx, out, &HttpError::Timeout);
    }
}

/// The request line, for the access log.
struct RequestLine<'a> {
    method: &'a str,
    target: &'a str,
}

/// How many bytes of empty lines (`\r\n`) start `buf`; a lone trailing `\r` is kept (its `\n`
/// may follow), and a bare `\n` is left for the parser to refuse.
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            _ => return i,
        }
    }
}

/// Whether `buf` may contain the empty line that ends a head (`\n\r\n`, or `\n\n` which the
/// parser rejects), looking only at bytes from `scanned` on (less the 2 that may start it).
fn may_hold_head_end(buf: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(2);
    buf.get(from..).is_some_and(|tail| {
        tail.windows(2).enumerate().any(|(i, w)| {
            w[0] == b'\n' && (w[1] == b'\n' || (w[1] == b'\r' && tail.get(i + 2) == Some(&b'\n')))
        })
    })
}

/// A request that is not an upgrade: a CORS preflight is answered here; a cross-site request with
/// a non-safe method is refused (403); then static files, then the service. Answers to allowed
/// CORS origins get their headers.
fn answer(cx: &HttpCx<'_>, req: &mut Request) -> Reply {
    if let Some(resp) = cx.health.and_then(|h| h.answer(req, cx.draining)) {
        return Reply::Response(resp);
    }
    let cors = cx.guards.cors.as_ref();
    let origin = req.header("origin").map(str::to_owned);
    if let Some(cors) = cors
        && let Some(origin) = origin.as_deref()
        && req.method() == "OPTIONS"
        && let Some(method) = req.header("access-control-request-method")
    {
        let preflight =
            cors.preflight(origin, method, req.header("access-control-request-headers"));
        return Reply::Response(preflight.response());
    }
    if let Err(refusal) = cx.guards.origins.check_request(
        req.method(),
        req.header("sec-fetch-site"),
        origin.as_deref(),
        req.header("host"),
        cors,
    ) {
        log::debug!("plezi: {}: {refusal}", cx.peer);
        return Reply::Response(refusal.response());
    }
    let reply = match cx.statics {
        Some(statics) if matches!(req.method(), "GET" | "HEAD") => match statics.serve(req) {
            Some(resp) => Reply::Response(resp),
            None => call_service(cx.service, req),
        },
        _ => call_service(cx.service, req),
    };
    match reply {
        Reply::Response(resp) => Reply::Response(with_cors(cors, origin.as_deref(), resp)),
        reply => reply,
    }
}

/// `resp` with the CORS headers for a request from `origin` (none without CORS rules).
fn with_cors(cors: Option<&Cors>, origin: Option<&str>, mut resp: Response) -> Response {
    if let Some(cors) = cors {
        for (name, value) in cors.response_headers(origin) {
            resp = resp.header(name, &value);
        }
    }
    resp
}

fn call_service(service: &dyn Service, req: &mut Request) -> Reply {
    guard("the service", || service.call(req)).unwrap_or_else(|| {
        Reply::Response(
            Response::text(500, "Internal Server Error\n").header("Connection", "close"),
        )
    })
}

/// The 400/426 answer to an upgrade request the WebSocket layer refused.
fn handshake_refusal(e: HandshakeError) -> Response {
    let mut resp = Response::text(e.status(), format!("{e}\n"));
    for (name, value) in e.headers() {
        resp = resp.header(name, value);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::may_hold_head_end;

    #[test]
    fn leading_empty_lines_are_counted() {
        use super::leading_empty_lines;
        assert_eq!(leading_empty_lines(b"GET"), 0);
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET"), 4);
        assert_eq!(leading_empty_lines(b"\r\n\r"), 2);
        assert_eq!(leading_empty_lines(b"\nGET"), 0);
        assert_eq!(leading_empty_lines(b"\rGET"), 0);
        assert_eq!(leading_empty_lines(b""), 0);
    }

    #[test]
    fn head_end_search_resumes_where_it_stopped() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 0..head.len() {
            let (scanned, full) = (split, &head[..]);
            assert!(may_hold_head_end(full, scanned), "split at {split}");
        }
        assert!(!may_hold_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0));
        assert!(!may_hold_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r", 0));
        assert!(may_hold_head_end(b"GET / HTTP/1.1\nHost: x\n\n", 0));
    }
}
