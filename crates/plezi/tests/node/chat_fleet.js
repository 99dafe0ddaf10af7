// A fleet of chat clients for rolling-restart tests: `USERS` logged-in users (u0, u1, ...) each hold
// one WebSocket to the chat example at `BASE` (through a load balancer), and reconnect whenever it
// closes, with exponential backoff and "equal jitter" as PleziClient does. `NOTIFIERS` guest
// connections send `notify` to the users in turn; a notification counts as promised once a later
// `echo` on the same connection came back without an `err` before it (the server handles one
// connection's messages in order).
//
// Commands on stdin, one per line: `NOTIFY <per second>` starts the notifiers, `STOP` stops them,
// `REPORT` prints one JSON line: what every user received, what was promised, every close and
// reconnect (ms since start), and how many users are connected.
'use strict';
const WebSocket = require('ws');
const http = require('http');
const readline = require('readline');

const BASE = process.env.BASE;
const USERS = Number(process.env.USERS || 100);
const NOTIFIERS = Number(process.env.NOTIFIERS || 10);
const START = Date.now();
const now = () => Date.now() - START;

const received = {}; // user -> [message, ...]
const closes = []; // [ms, code]
const reconnects = []; // ms of every open after the first
const promised = [];
const refused = [];
let sent = 0;
let connected = 0;

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

/** Keeps one connection open for `user` (null: a guest); `onOpen(ws)` runs at every open. */
function keepOpen(user, cookie, onMessage, onOpen) {
  let attempt = 0;
  let opened = false;
  const wsUrl = BASE.replace(/^http/, 'ws') + '/chat';
  const connect = () => {
    const ws = new WebSocket(wsUrl, { headers: cookie ? { Cookie: cookie } : {} });
    let isOpen = false;
    ws.on('open', () => {
      isOpen = true;
      attempt = 0;
      if (user) {
        connected += 1;
        if (opened) reconnects.push(now());
      }
      opened = true;
      if (onOpen) onOpen(ws);
    });
    ws.on('message', (data) => onMessage(JSON.parse(data.toString())));
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
  return loginRetrying(user).then((cookie) => {
    keepOpen(user, cookie, (msg) => {
      if (msg.event === 'notice') received[user].push(msg.message);
    });
  });
}

// Notifiers: each sends to the users in turn.
let rate = 0;
let running = false;
const notifiers = [];
function startNotifier(k) {
  const state = { ws: null, pending: [], echo: 0 };
  keepOpen(
    null,
    null,
    (msg) => {
      if (msg.event === 'err' && msg.request && msg.request.notify) {
        refused.push(msg.request.notify);
      } else if (msg.event === 'echo') {
        // Everything sent before this echo on this connection was handled.
        while (state.pending.length && state.pending[0].upto <= msg.upto) {
          promised.push(state.pending.shift().message);
        }
      }
    },
    (ws) => {
      state.ws = ws;
      state.pending = []; // unanswered ones on a closed connection are neither promised nor lost
    },
  );
  notifiers.push(state);
}

function tick() {
  if (!running) return;
  const open = notifiers.filter((n) => n.ws && n.ws.readyState === WebSocket.OPEN);
  if (open.length) {
    const n = open[sent % open.length];
    const user = `u${sent % USERS}`;
    const message = `${user}:${sent}`;
    n.echo += 1;
    n.ws.send(JSON.stringify({ event: 'notify', user, message }));
    n.ws.send(JSON.stringify({ event: 'echo', upto: n.echo }));
    n.pending.push({ upto: n.echo, message });
    sent += 1;
  }
  setTimeout(tick, 1000 / rate);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'NOTIFY') {
    rate = Number(arg);
    running = true;
    tick();
  } else if (cmd === 'STOP') {
    running = false;
  } else if (cmd === 'REPORT') {
    console.log(JSON.stringify({ received, promised, refused, sent, closes, reconnects, connected }));
  }
});

(async () => {
  for (let i = 0; i < USERS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, USERS - i) }, (_, j) => startUser(i + j)));
  }
  for (let k = 0; k < NOTIFIERS; k += 1) startNotifier(k);
  const wait = () => (connected >= USERS ? console.log('READY') : setTimeout(wait, 20));
  wait();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
