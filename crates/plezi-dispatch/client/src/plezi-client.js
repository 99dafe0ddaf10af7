// PleziClient: the browser client of plezi's JSON auto-dispatch protocol (docs/client.md).
//
// A plain ES2017 script, no build step: load it with <script src="/client.js"></script> and use
// `window.PleziClient`. Under CommonJS (`require`) the class is also `module.exports`.
//
//   const client = new PleziClient(PleziClient.origin + '/chat', true); // true: reconnect automatically
//   client.onopen = () => client.emit({event: 'chat', message: 'hi'});
//   client.chat = function (event) { console.log(event.from, event.message); };
//   client.unknown = function (message) { console.log('no handler for', message); };
//
// Hand-written source: crates/plezi-dispatch/client/src/plezi-client.js. The served bundle
// (crates/plezi-dispatch/client/plezi-client.js) is that file with the protocol constants injected at
// the marker below by `cargo xtask codegen`.

(function (root, factory) {
  'use strict';
  const PleziClient = factory(root);
  if (typeof module === 'object' && module && module.exports) module.exports = PleziClient;
  if (root) root.PleziClient = PleziClient;
})(typeof self !== 'undefined' ? self : typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
  'use strict';

  // @codegen protocol-constants

  const EVENT = PROTOCOL.EVENT_KEY;
  const EID = PROTOCOL.EID_KEY;
  const WS_OPEN = 1;
  const WS_CLOSED = 3;

  /** Whether `name` is reserved: the server never runs a handler for it and answers `err` 404. */
  function isReserved(name) {
    return String(name).startsWith(PROTOCOL.RESERVED_PREFIX) || RESERVED_NAMES.includes(name);
  }

  /**
   * The wait before reconnect attempt number `attempt` (0 for the first): exponential backoff with
   * "equal jitter". The ceiling is `interval * 2^attempt`, capped at `max`; the wait is uniformly random
   * in [ceiling / 2, ceiling], so a restarted server is not hit by every client at the same instant, and
   * each wait is at least as long as the previous one until the cap is reached.
   */
  function backoffDelay(attempt, interval, max, random) {
    const ceiling = Math.min(max, interval * Math.pow(2, attempt));
    return ceiling / 2 + (random || Math.random)() * (ceiling / 2);
  }

  /** "ws://host:port" (or "wss://") for the page this script runs in; undefined outside a web page. */
  function pageOrigin() {
    const location = root && root.location;
    if (!location || !/^https?:$/.test(location.protocol)) return undefined;
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  }

  /**
   * The WebSocket URL for `url`: the page's own origin and path when omitted, the page's origin plus
   * `url` when it is a path ("/chat"), and http(s):// turned into ws(s):// otherwise.
   */
  function webSocketUrl(url) {
    if (url === undefined || url === null || url === '') {
      if (!PleziClient.origin) throw new TypeError('PleziClient needs a URL when not running in a web page');
      return PleziClient.origin + root.location.pathname;
    }
    url = String(url);
    if (url.startsWith('/')) return PleziClient.origin + url;
    return url.replace(/^http(s?):\/\//i, 'ws$1://');
  }

  /** The http(s) URL that AJAJ requests go to: the WebSocket URL with ws(s):// turned back into http(s)://. */
  function httpUrl(url) {
    return url.replace(/^ws(s?):\/\//i, 'http$1://');
  }

  /** Calls `fn` with `this` = the client when it is a function; returns whether it was called. */
  function call(client, fn, ...args) {
    if (typeof fn !== 'function') return false;
    fn.apply(client, args);
    return true;
  }

  class PleziClient {
    /**
     * Opens a WebSocket connection at once.
     * @param {string} [url] ws(s)://, http(s):// or a path on this page's server; default: this page's URL.
     * @param {boolean} [autoreconnect] reconnect (with backoff) whenever the connection is lost.
     */
    constructor(url, autoreconnect) {
      /** The WebSocket URL. */
      this.url = webSocketUrl(url);
      /** Reconnect automatically after the connection is lost (until close() is called). */
      this.autoreconnect = Boolean(autoreconnect);
      /** First reconnect wait in ms; doubles after each failed attempt (see backoffDelay). */
      this.reconnect_interval = PROTOCOL.RECONNECT_INTERVAL_MS;
      /** Cap of the reconnect wait in ms. */
      this.reconnect_max_interval = PROTOCOL.RECONNECT_MAX_INTERVAL_MS;
      /** Default acknowledgement timeout of emit() in ms; false: only when emit() gets a callback. */
      this.emit_timeout = false;
      /** True while the WebSocket is open. */
      this.connected = false;
      /** Log every received message to the console. */
      this.log_events = false;
      /** The current WebSocket (null before the first connection). */
      this.ws = null;
      /**
       * Callbacks (all optional): onopen(e), onclose(e), onerror(e), ontimeout(event, client), unknown(msg),
       * onrecovery(streams) after a reconnect: {stream: true (missed messages delivered) | false (the
       * history no longer covers the gap: reload the state)}.
       */
      this.onopen = null;
      this.onrecovery = null;
      this.onclose = null;
      this.onerror = null;
      this.ontimeout = null;
      this.unknown = null;
      /** AJAJ: the same events over HTTP POST (see Ajaj). */
      this.ajaj = new Ajaj(this);
      // Private state. Names starting with "_" are never treated as event handlers.
      this._pending = new Map(); // _EID_ -> {event, callback, timeout_callback, timer}
      this._next_eid = 1;
      /** The last position seen in each stream that keeps a history: stream -> {e, o}. */
      this._positions = {};
      /** The last PROTOCOL.MAIL_IDS_REMEMBERED mailbox message ids delivered (a redelivery is dropped). */
      this._mail_ids = new RecentIds(PROTOCOL.MAIL_IDS_REMEMBERED);
      this._attempt = 0; // failed reconnect attempts since the last open
      this._reconnect_timer = null;
      this._connect();
    }

    /**
     * Sends `event` (an object with an `event` name) as JSON. With a timeout (the `timeout` argument, else
     * `emit_timeout`, else PROTOCOL.EMIT_TIMEOUT_MS when a callback is given) an `_EID_` is attached: the
     * server's `_ack_` calls `callback(event, client)`; no `_ack_` in time calls `timeout_callback(event,
     * client)` or `ontimeout` (after retrying over AJAJ when `ajaj.auto` is set).
     * @returns {boolean} whether the message was handed to an open WebSocket.
     */
    emit(event, callback, timeout_callback, timeout) {
      if (!event || typeof event !== 'object' || typeof event[EVENT] !== 'string') {
        throw new TypeError('emit expects an object with an "event" name, e.g. {event: "chat"}');
      }
      if (isReserved(event[EVENT])) {
        console.warn('PleziClient: "' + event[EVENT] + '" is a reserved event name; the server will answer err 404');
      }
      const wait = ackTimeout(timeout, this.emit_timeout, callback || timeout_callback);
      if (wait) {
        const eid = this._next_eid++;
        event[EID] = eid;
        const timer = setTimeout(() => this._timedOut(eid), wait);
        this._pending.set(eid, { event, callback, timeout_callback, timer });
      }
      return this.sendraw(JSON.stringify(event));
    }

    /** Sends `data` as is (a string or binary). @returns {boolean} false when the WebSocket is not open. */
    sendraw(data) {
      if (!this.ws || this.ws.readyState !== WS_OPEN) return false;
      this.ws.send(data);
      return true;
    }

    /**
     * Opens a new connection unless one is open or opening. (The original client always opened another
     * one, which could leave several connections open.) @returns {boolean} whether a connection was started.
     */
    reconnect() {
      this._cancelReconnect();
      if (this.ws && this.ws.readyState < 2 /* CONNECTING or OPEN */) return false;
      this._connect();
      return true;
    }

    /** Closes the connection and stops automatic reconnection. */
    close(code, reason) {
      this.autoreconnect = false;
      this._cancelReconnect();
      if (this.ws) this.ws.close(code, reason);
    }

    /** The WebSocket's readyState (0 connecting, 1 open, 2 closing, 3 closed). */
    readyState() {
      return this.ws ? this.ws.readyState : WS_CLOSED;
    }

    // ---- private ----

    _connect() {
      const ws = new WebSocket(this._connectUrl());
      this.ws = ws;
      this.connected = false;
      // Events of a replaced socket still deliver messages, but no longer change the client's state.
      ws.onopen = (e) => {
        if (ws !== this.ws) return;
        this._attempt = 0;
        this.connected = true;
        call(this, this.onopen, e);
      };
      ws.onclose = (e) => {
        if (ws !== this.ws) return;
        this.connected = false;
        if (this.autoreconnect) this._scheduleReconnect();
        call(this, this.onclose, e);
      };
      ws.onerror = (e) => {
        if (ws === this.ws) call(this, this.onerror, e);
      };
      ws.onmessage = (e) => this._receive(e.data);
    }

    _scheduleReconnect() {
      this._cancelReconnect();
      const delay = backoffDelay(this._attempt++, this.reconnect_interval, this.reconnect_max_interval);
      this._reconnect_timer = setTimeout(() => {
        this._reconnect_timer = null;
        if (this.autoreconnect) this._connect();
      }, delay);
    }

    _cancelReconnect() {
      if (this._reconnect_timer !== null) clearTimeout(this._reconnect_timer);
      this._reconnect_timer = null;
    }

    /** A message from the WebSocket (or an AJAJ reply body): JSON is dispatched, anything else is unknown. */
    _receive(data) {
      if (typeof data !== 'string') return this._unknown(data);
      let message;
      try {
        message = JSON.parse(data);
      } catch (_) {
        return this._unknown(data);
      }
      this._dispatch(message);
    }

    /**
     * The URL to connect to: the client's, asking for acknowledged mailboxes (`_ack_=1`), plus the last
     * position seen in each stream.
     */
    _connectUrl() {
      const sep = this.url.includes('?') ? '&' : '?';
      let url = this.url + sep + PROTOCOL.ACK_PARAM + '=1';
      const seen = Object.keys(this._positions).map((s) => Object.assign({ s }, this._positions[s]));
      if (seen.length) url += '&' + PROTOCOL.RECOVER_PARAM + '=' + encodeURIComponent(JSON.stringify(seen));
      return url;
    }

    /** The server wrote a mailbox batch ending with message `mid`: every message of it was handled. */
    _mailWritten(mid) {
      if (typeof mid !== 'string') return;
      const ack = {};
      ack[EVENT] = PROTOCOL.ACK_EVENT;
      ack[PROTOCOL.MESSAGE_ID_KEY] = mid;
      this.sendraw(JSON.stringify(ack));
    }

    /** Remembers where a delivered message sits in its stream (for recovery after a reconnect). */
    _track(message) {
      const at = message[PROTOCOL.POSITION_KEY];
      if (at && typeof at.s === 'string' && typeof at.e === 'string' && typeof at.o === 'number') {
        this._positions[at.s] = { e: at.e, o: at.o };
      }
    }

    /** The server's recovery report: streams it could not recover start afresh. */
    _recovered(message) {
      const streams = (message && message.streams) || {};
      for (const s of Object.keys(streams)) {
        if (streams[s] !== true) delete this._positions[s];
      }
      call(this, this.onrecovery, streams);
    }

    _dispatch(message) {
      if (this.log_events) console.log('PleziClient received', message);
      const name = message && typeof message === 'object' ? message[EVENT] : undefined;
      if (typeof name !== 'string') return this._unknown(message);
      if (name === PROTOCOL.ACK_EVENT) return this._acked(message[EID]);
      if (name === PROTOCOL.RECOVERED_EVENT) return this._recovered(message);
      if (name === PROTOCOL.MAIL_EVENT) return this._mailWritten(message[PROTOCOL.MESSAGE_ID_KEY]);
      const mid = message[PROTOCOL.MESSAGE_ID_KEY];
      if (typeof mid === 'string' && !this._mail_ids.add(mid)) return; // redelivered: handled already
      this._track(message);
      const handler = handlerFor(this, name);
      if (handler) handler.call(this, message);
      else this._unknown(message);
    }

    _unknown(message) {
      if (!call(this, this.unknown, message) && this.log_events) {
        console.warn('PleziClient: no handler for', message);
      }
    }

    _acked(eid) {
      const pending = this._pending.get(eid);
      if (!pending) return; // late or foreign acknowledgement
      this._pending.delete(eid);
      clearTimeout(pending.timer);
      call(this, pending.callback, pending.event, this);
    }

    _timedOut(eid) {
      const pending = this._pending.get(eid);
      if (!pending) return;
      this._pending.delete(eid);
      const fail = () => {
        const fn = typeof pending.timeout_callback === 'function' ? pending.timeout_callback : this.ontimeout;
        if (!call(this, fn, pending.event, this)) {
          console.warn('PleziClient: no _ack_ in time; the server may not have received', pending.event);
        }
      };
      if (!this.ajaj.auto) return fail();
      const retry = Object.assign({}, pending.event);
      delete retry[EID];
      this.ajaj._post(retry, () => call(this, pending.callback, pending.event, this), fail);
    }
  }

  /** The last `max` ids seen, oldest forgotten first. */
  class RecentIds {
    constructor(max) {
      this.max = max;
      this.set = new Set();
    }

    /** Remembers `id`. @returns {boolean} false when it was remembered already. */
    add(id) {
      if (this.set.has(id)) return false;
      this.set.add(id);
      // A Set iterates in insertion order: the first one is the oldest.
      if (this.set.size > this.max) this.set.delete(this.set.values().next().value);
      return true;
    }
  }

  /** The acknowledgement timeout of one emit (0: none). */
  function ackTimeout(timeout, emit_timeout, hasCallback) {
    if (timeout > 0) return timeout;
    if (emit_timeout > 0) return emit_timeout;
    return hasCallback ? PROTOCOL.EMIT_TIMEOUT_MS : 0;
  }

  /** Names of the client's own API; a server event with one of these names goes to `unknown`. */
  const CLIENT_API = new Set(
    Object.getOwnPropertyNames(PleziClient.prototype).concat([
      'url', 'autoreconnect', 'reconnect_interval', 'reconnect_max_interval', 'emit_timeout', 'connected',
      'log_events', 'ws', 'onopen', 'onclose', 'onerror', 'ontimeout', 'onrecovery', 'unknown', 'ajaj',
    ])
  );

  /**
   * The function handling event `name`: a function property of the client (own, or a method of a
   * subclass) that is not part of the client's API, not inherited from Object and not private ("_").
   * (The original client called any property, so an event named "close" closed the connection.)
   */
  function handlerFor(client, name) {
    if (name.startsWith('_') || CLIENT_API.has(name) || name in Object.prototype) return null;
    const fn = client[name];
    return typeof fn === 'function' ? fn : null;
  }

  /**
   * AJAJ: events POSTed as JSON to the client's URL turned back into http(s). A 200 reply is dispatched
   * as if it had arrived over the WebSocket.
   */
  class Ajaj {
    constructor(client) {
      /** The client whose handlers receive the replies. */
      this.client = client;
      /** Where events are POSTed (the client's URL with ws(s):// turned into http(s)://). */
      this.url = httpUrl(client.url);
      /** Fields merged into every AJAJ event (e.g. a token); the event's own fields win. */
      this.add = {};
      /** When true, an emit() that gets no _ack_ in time is retried over AJAJ before it counts as timed out. */
      this.auto = false;
    }

    /**
     * POSTs `event`. `callback(event, client, status)` runs only when the request fails (network error or
     * a status other than 200; status is 0 for a network error).
     */
    emit(event, callback) {
      if (!event || typeof event !== 'object' || typeof event[EVENT] !== 'string') {
        throw new TypeError('ajaj.emit expects an object with an "event" name, e.g. {event: "chat"}');
      }
      const client = this.client;
      this._post(event, null, (status) => {
        if (!call(client, callback, event, client, status)) {
          console.warn('PleziClient: AJAJ request failed with status ' + status, event);
        }
      });
    }

    /** POSTs `event` (merged with `add`, `id` = the event name); onSuccess() then dispatch, or onFailure(status). */
    _post(event, onSuccess, onFailure) {
      const body = Object.assign({}, this.add, event);
      body[PROTOCOL.AJAJ_EVENT_PARAM] = event[EVENT];
      const request = {
        method: 'POST',
        headers: { 'Content-Type': PROTOCOL.AJAJ_CONTENT_TYPE, Accept: PROTOCOL.AJAJ_CONTENT_TYPE },
        body: JSON.stringify(body),
        credentials: 'same-origin',
      };
      const received = (response) => response.text().then((text) => ({ status: response.status, text }));
      fetch(this.url, request)
        .then(received)
        .then(
          (reply) => {
            if (reply.status !== 200) return onFailure(reply.status);
            if (onSuccess) onSuccess();
            if (reply.text) this.client._receive(reply.text);
          },
          () => onFailure(0)
        );
    }
  }

  /** "ws://host:port" of the page this script runs in (wss:// on https pages); undefined outside a page. */
  PleziClient.origin = pageOrigin();
  /** The client's version (the version of the server that serves it). */
  PleziClient.version = VERSION;
  /** Protocol constants (also generated for Rust). */
  PleziClient.PROTOCOL = PROTOCOL;
  /** Reserved event names (besides every name starting with PROTOCOL.RESERVED_PREFIX). */
  PleziClient.RESERVED_NAMES = RESERVED_NAMES;
  PleziClient.isReserved = isReserved;
  PleziClient.backoffDelay = backoffDelay;
  return PleziClient;
});
