// A fleet of chat clients for rolling-restart tests: `USERS` logged-in users (u0, u1, ...) each hold
// one WebSocket to the chat example at `BASE` (through a load balancer), and reconnect whenever it
// closes, with exponential backoff and "equal jitter" as PleziClient does. Like PleziClient, each user
// remembers the last `_pos_` it saw in each stream and reconnects with `_recover_`, then expects the
// `_recovered_` report (`docs/protocol.md#recovery`); and it asks for acknowledged mailboxes
// (`_ack_=1`), answers each `_mail_` with `_ack_` and drops a notification whose `_mid_` it already
// handled (`docs/protocol.md#acknowledged-mailboxes`).
//
// Two kinds of guest senders: `NOTIFIERS` connections send `notify` to the users in turn, `CHATTERS`
// connections send `chat` messages to the room ("c<k>:<n>", unique). A message counts as promised once
// a later `echo` on the same connection came back without an `err` before it (the server handles one
// connection's messages in order, so by then it accepted the message). Unanswered ones on a closed
// connection are neither promised nor lost.
//
// With `PAGE_USER` set, one headless Chromium page (chat_page.js) logs in under that name on the chat
// example's own page and is notified in turn with the users; its messages are read from the page.
//
// Commands on stdin, one per line: `NOTIFY <per second>` and `CHAT <per second>` start the senders,
// `STOP` stops them, `QUIT` closes the browser and exits, `REPORT` prints one JSON line: what every
// user received, what was promised, the chat accounting (lost and duplicated per receiver), the
// recovery reports, every close and reconnect (ms since start), how many users are connected, and the
// page's own account.
'use strict';
const WebSocket = require('ws');
const http = require('http');
const readline = require('readline');
const chatPage = require('./chat_page');

const BASE = process.env.BASE;
const USERS = Number(process.env.USERS || 100);
const NOTIFIERS = Number(process.env.NOTIFIERS || 10);
const CHATTERS = Number(process.env.CHATTERS || 4);
const PAGE_USER = process.env.PAGE_USER || '';
const START = Date.now();
const now = () => Date.now() - START;

const received = {}; // user -> [notification, ...]
const chats = {}; // user -> Map(chat message -> times received)
const closes = []; // [ms, code]
const reconnects = []; // ms of every open after the first
const promised = [];
const chatPromised = [];
const refused = [];
const recovery = { asked: 0, reported: 0, recovered: 0, failed: [], unordered: [] };
const redelivered = { count: 0, samples: [] }; // dropped because their `_mid_` was handled already
let connected = 0;
let page = null;

function backoff(attempt) {
  const ceiling = Math.min(3000, 200 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function login(user) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ user });
    const req = http.request(
      `${BASE}/login`,
      { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } },
      (res) => {
        res.resume();
        const cookie = (res.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ');
        if (res.statusCode === 303 && cookie) resolve(cookie);
        else reject(new Error(`login ${user}: ${res.statusCode}`));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A user's stream positions, as PleziClient keeps them: the last `_pos_` seen per stream, sent back in
 * `_recover_` when connecting again; a stream reported not recovered starts afresh.
 */
class Positions {
  constructor(user) {
    this.user = user;
    this.last = {}; // stream -> {e, o}
  }

  /** The query to connect with ('' before any position was seen). */
  query() {
    const seen = Object.keys(this.last).map((s) => ({ s, ...this.last[s] }));
    return seen.length ? `?_recover_=${encodeURIComponent(JSON.stringify(seen))}` : '';
  }

  /** Remembers where `msg` sits; an offset not after the last one in the same epoch is out of order. */
  track(msg) {
    const at = msg._pos_;
    if (!at || typeof at.s !== 'string' || typeof at.e !== 'string' || typeof at.o !== 'number') return;
    const before = this.last[at.s];
    if (before && before.e === at.e && at.o <= before.o && recovery.unordered.length < 20) {
      recovery.unordered.push([this.user, at.s, before.o, at.o]);
    }
    this.last[at.s] = { e: at.e, o: at.o };
  }

  /** The server's `_recovered_` report. */
  recovered(msg) {
    recovery.reported += 1;
    const streams = msg.streams || {};
    for (const s of Object.keys(streams)) {
      if (streams[s] === true) {
        recovery.recovered += 1;
      } else {
        recovery.failed.push([this.user, s, streams[s], now()]);
        delete this.last[s];
      }
    }
  }
}

/** The mailbox ids a user handled last (PleziClient remembers 1,024), to drop a redelivery. */
class RecentIds {
  constructor(limit) {
    this.limit = limit;
    this.ids = new Set();
  }

  /** Whether `id` is new (then it is remembered, the oldest forgotten beyond the limit). */
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value);
    return true;
  }
}

/** Keeps one connection open for `user` (null: a guest); `onOpen(ws)` runs at every open. */
function keepOpen(user, cookie, onMessage, onOpen) {
  let attempt = 0;
  let opened = false;
  const positions = user ? new Positions(user) : null;
  const mail = user ? new RecentIds(1024) : null;
  const wsUrl = BASE.replace(/^http/, 'ws') + '/chat';
  const connect = () => {
    const query = positions ? positions.query() : '';
    const ack = user ? (query ? '&' : '?') + '_ack_=1' : '';
    const ws = new WebSocket(wsUrl + query + ack, { headers: cookie ? { Cookie: cookie } : {} });
    let isOpen = false;
    ws.on('open', () => {
      isOpen = true;
      attempt = 0;
      if (query) recovery.asked += 1; // a `_recovered_` report is due
      if (user) {
        connected += 1;
        if (opened) reconnects.push(now());
      }
      opened = true;
      if (onOpen) onOpen(ws);
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (user) {
        if (msg.event === '_recovered_') return positions.recovered(msg);
        if (msg.event === '_mail_') return ws.send(JSON.stringify({ event: '_ack_', _mid_: msg._mid_ }));
        if (typeof msg._mid_ === 'string' && !mail.add(msg._mid_)) {
          redelivered.count += 1;
          if (redelivered.samples.length < 20) redelivered.samples.push([user, msg._mid_, msg.message]);
          return;
        }
        positions.track(msg);
      }
      onMessage(msg);
    });
    ws.on('close', (code) => {
      if (isOpen && user) {
        connected -= 1;
        closes.push([now(), code]);
      }
      setTimeout(connect, backoff(attempt++));
    });
    ws.on('error', () => {});
  };
  connect();
}

/** Logs in, trying again (a load balancer may still be finding its servers). */
async function loginRetrying(user) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await login(user);
    } catch (e) {
      if (attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function startUser(i) {
  const user = `u${i}`;
  received[user] = [];
  chats[user] = new Map();
  return loginRetrying(user).then((cookie) => {
    keepOpen(user, cookie, (msg) => {
      if (msg.event === 'notice') received[user].push(msg.message);
      else if (msg.event === 'chat') chats[user].set(msg.message, (chats[user].get(msg.message) || 0) + 1);
    });
  });
}

/**
 * A guest connection sending messages; each counts as promised (pushed to `into`) once a later echo
 * came back on the same connection, unless an `err` answered it first.
 */
function startSender(into) {
  const state = { ws: null, pending: [], echo: 0, since: 0, base: 0, sent: 0 };
  keepOpen(
    null,
    null,
    (msg) => {
      if (msg.event === 'err') {
        // Answers come in order: an `err` before the echo answers the oldest unanswered message. (The
        // store's own refusal of a notification may come after the echo: still listed here.)
        refused.push([msg.status, msg.result, msg.request]);
        if (state.pending.length) state.pending[0].refused = true;
      } else if (msg.event === 'echo') {
        // Everything sent before this echo on this connection was handled.
        while (state.pending.length && state.pending[0].upto <= msg.upto) {
          const sent = state.pending.shift();
          if (!sent.refused) into.push(sent.message);
        }
      }
    },
    (ws) => {
      state.ws = ws;
      state.pending = []; // unanswered ones on a closed connection are neither promised nor lost
    },
  );
  return state;
}

/**
 * Sends `build(n, sender)` (an event with a unique `message`, `n` counting every message of the pump)
 * at `rate` per second in all, each sender its share while it is connected (the server limits
 * notifications per connection: `BusConfig::notify_rate`, 20 per second). A busy event loop fires
 * timers late: each tick sends what is due by then, so the rate holds.
 */
class Pump {
  constructor(senders, build) {
    this.senders = senders;
    this.build = build;
    this.sent = 0;
    this.rate = 0;
    this.running = false;
  }

  start(rate) {
    this.rate = rate;
    if (!this.running) {
      this.running = true;
      this.tick();
    }
  }

  tick() {
    if (!this.running) return;
    const share = this.rate / this.senders.length;
    for (const [k, s] of this.senders.entries()) {
      if (!(s.ws && s.ws.readyState === WebSocket.OPEN)) {
        s.since = 0; // nothing is due while it is not connected
        continue;
      }
      if (!s.since) {
        s.since = Date.now();
        s.base = s.sent;
      }
      const due = s.base + Math.floor(((Date.now() - s.since) * share) / 1000);
      while (s.sent < due) {
        const event = this.build(this.sent, k);
        s.echo += 1;
        s.ws.send(JSON.stringify(event));
        s.ws.send(JSON.stringify({ event: 'echo', upto: s.echo }));
        s.pending.push({ upto: s.echo, message: event.message });
        s.sent += 1;
        this.sent += 1;
      }
    }
    setTimeout(() => this.tick(), 5);
  }
}

const targets = PAGE_USER ? USERS + 1 : USERS;
const notices = new Pump([], (n) => {
  const user = n % targets === USERS ? PAGE_USER : `u${n % targets}`;
  return { event: 'notify', user, message: `${user}:${n}` };
});
const chatter = new Pump([], (n, k) => ({ event: 'chat', message: `c${k}:${n}` }));

/** Every receiver's chat messages against the promised ones: how many lost and duplicated. */
function chatAccount(receivers) {
  const account = { promised: chatPromised.length, sent: chatter.sent, lost: 0, duplicated: 0, unpromised: 0, samples: [] };
  const promisedSet = new Set(chatPromised);
  for (const [who, seen] of receivers) {
    for (const m of chatPromised) {
      if (!seen.has(m)) {
        account.lost += 1;
        if (account.samples.length < 10) account.samples.push(`${who} lost ${m}`);
      }
    }
    for (const [m, times] of seen) {
      if (times > 1) {
        account.duplicated += times - 1;
        if (account.samples.length < 10) account.samples.push(`${who} got ${m} ${times} times`);
      }
      if (!promisedSet.has(m)) account.unpromised += 1;
    }
  }
  return account;
}

async function report() {
  const out = { received, promised, refused, sent: notices.sent, closes, reconnects, connected, recovery, redelivered };
  out.chat = chatAccount(Object.entries(chats));
  if (page) {
    const seen = page.seen();
    const count = (list) => list.reduce((m, x) => m.set(x, (m.get(x) || 0) + 1), new Map());
    out.page = {
      user: PAGE_USER,
      notices: seen.notices,
      chat: chatAccount([[PAGE_USER, count(seen.chat)]]),
      statuses: seen.statuses,
      connected: seen.connected,
      errors: seen.errors,
    };
  }
  return out;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'NOTIFY') {
    notices.start(Number(arg));
  } else if (cmd === 'CHAT') {
    chatter.start(Number(arg));
  } else if (cmd === 'STOP') {
    notices.running = false;
    chatter.running = false;
  } else if (cmd === 'QUIT') {
    quit();
  } else if (cmd === 'REPORT') {
    report().then(
      (r) => console.log(JSON.stringify(r)),
      (e) => console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) })),
    );
  }
});

(async () => {
  for (let i = 0; i < USERS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, USERS - i) }, (_, j) => startUser(i + j)));
  }
  if (PAGE_USER) page = await chatPage.open(BASE, PAGE_USER);
  for (let k = 0; k < NOTIFIERS; k += 1) notices.senders.push(startSender(promised));
  for (let k = 0; k < CHATTERS; k += 1) chatter.senders.push(startSender(chatPromised));
  const ready = () =>
    connected >= USERS && notices.senders.concat(chatter.senders).every((s) => s.ws && s.ws.readyState === WebSocket.OPEN);
  const wait = () => (ready() ? console.log('READY') : setTimeout(wait, 20));
  wait();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

// `QUIT` or SIGTERM: close the browser, then exit.
function quit() {
  (page ? page.close() : Promise.resolve()).finally(() => process.exit(0));
}
process.on('SIGTERM', quit);
