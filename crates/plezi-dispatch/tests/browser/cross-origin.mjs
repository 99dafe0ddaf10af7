// Cross-origin attacks in headless Chromium against the chat example (docs/security.md#origins and
// #cross-site): a page on a second origin (http://localhost:P2, served by a small static server of this
// script) tries, with the visitor's session cookie in the browser, a WebSocket to /chat, a form POST to
// /login and to /chat (AJAJ notify), a `fetch` with `text/plain`, and an <img> GET of
// /chat/notify?...; every one must fail, which is checked on the server side: a logged-in victim
// connection (Node `ws`, with its own session) never gets the forged notices, and the visitor stays who
// they are. Then the same actions from a page on the app's own origin (http://127.0.0.1:P1) work.
//
//   node cross-origin.mjs --server-cmd 'target/debug/examples/chat'
//
// Options: --server-cmd CMD (started with PORT set, must listen on 127.0.0.1:$PORT), --chromium PATH
// (default /usr/bin/chromium), --startup-ms N (default 60000).
// Exit status: 0 all passed, 1 a scenario failed, 2 the environment is incomplete.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CHROMIUM_ARGS, ServerProcess, SetupError, exitWith, freePort, loadChromium } from './runner.mjs';

const WAIT_MS = 15000;

function options() {
  const { values } = parseArgs({
    options: {
      'server-cmd': { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      'startup-ms': { type: 'string', default: '60000' },
    },
  });
  if (!values['server-cmd']) throw new SetupError('--server-cmd is required (the chat example)');
  return { serverCmd: values['server-cmd'], chromium: values.chromium, startupMs: Number(values['startup-ms']) };
}

/** The attacker's site: one empty page, on localhost (another origin and site than 127.0.0.1). */
function startAttackerSite() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('<!doctype html><title>attacker</title><body></body>');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A plain HTTP request from Node (no Origin: a non-browser client): status, headers. */
function http(port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function login(port, user) {
  const r = await http(port, 'POST', '/login', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'user=' + user);
  if (r.status !== 303) throw new Error('POST /login as ' + user + ' answered ' + r.status + ', expected 303');
  const set = [].concat(r.headers['set-cookie'] || [])[0];
  if (!set) throw new Error('POST /login as ' + user + ': no Set-Cookie');
  return set.split(';')[0];
}

/** A Node WebSocket on /chat with a session cookie; collects every JSON message. */
async function victimSocket(port, cookie) {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket('ws://127.0.0.1:' + port + '/chat', { headers: { Cookie: cookie } });
  const messages = [];
  const waiters = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    ws,
    messages,
    send(obj) { ws.send(JSON.stringify(obj)); },
    async next(pred, what) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const i = messages.findIndex(pred);
        if (i >= 0) return messages.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error('no ' + what + ' within ' + WAIT_MS + ' ms; got ' + JSON.stringify(messages));
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

/** Runs the five attacks in `page` (whatever its origin) against the app; what the page saw. */
function attack(page, app, tag) {
  return page.evaluate(async ({ app, tag }) => {
    const seen = {};
    const within = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(() => r('timeout'), ms))]);
    // 1. A WebSocket as the visitor; if it opens, it sends a notify.
    seen.websocket = await within(new Promise((resolve) => {
      const ws = new WebSocket(app.replace('http://', 'ws://') + '/chat');
      ws.onopen = () => {
        ws.send(JSON.stringify({ event: 'notify', user: 'victim', message: tag + ' websocket' }));
        ws.send(JSON.stringify({ event: 'whoami' }));
      };
      ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.event === 'whoami') { resolve('open as ' + m.user); ws.close(); } };
      ws.onerror = () => resolve('error');
      ws.onclose = (e) => resolve('closed ' + e.code);
    }), 10000);
    // 2. and 3. Form posts into a hidden frame: a login (login CSRF) and an AJAJ notify.
    const formPost = (action, fields) => within(new Promise((resolve) => {
      const frame = document.createElement('iframe');
      frame.name = 'f' + Math.random().toString(36).slice(2);
      frame.style.display = 'none';
      document.body.appendChild(frame);
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = app + action;
      form.target = frame.name;
      for (const [k, v] of Object.entries(fields)) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = k;
        input.value = v;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      frame.onload = () => resolve('loaded');
      form.submit();
    }), 10000);
    seen.formLogin = await formPost('/login', { user: 'mallory' });
    seen.formNotify = await formPost('/chat', { id: 'notify', user: 'victim', message: tag + ' form' });
    // 4. A "simple" fetch: text/plain needs no preflight; no-cors gives an opaque answer.
    // (The app's own page may send JSON; a page elsewhere could only with a CORS preflight.)
    const sameOrigin = location.origin === app;
    seen.fetchTextPlain = await within(fetch(app + '/chat', {
      method: 'POST',
      mode: sameOrigin ? 'same-origin' : 'no-cors',
      credentials: 'include',
      headers: { 'Content-Type': sameOrigin ? 'application/json' : 'text/plain' },
      body: JSON.stringify({ id: 'notify', user: 'victim', message: tag + ' fetch' }),
    }).then((r) => 'answered ' + r.type + ' ' + r.status, (e) => 'failed ' + e), 10000);
    // 5. An <img> GET with the event in the path.
    seen.img = await within(new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve('load');
      img.onerror = () => resolve('error');
      img.src = app + '/chat/notify?user=victim&message=' + encodeURIComponent(tag + ' img');
    }), 10000);
    return seen;
  }, { app, tag });
}

async function main() {
  const opts = options();
  const chromium = await loadChromium(opts.chromium);
  const port = await freePort();
  const app = 'http://127.0.0.1:' + port;
  const server = new ServerProcess(opts.serverCmd, port, opts.startupMs);
  await server.start();
  const attacker = await startAttackerSite();
  const attackerOrigin = 'http://localhost:' + attacker.address().port;
  const profile = mkdtempSync(join(tmpdir(), 'plezi-chromium-'));
  let context;
  let victim;
  let failed = 0;
  const results = [];
  const check = (ok, name, detail) => {
    results.push({ ok, name });
    if (!ok) failed++;
    console.log((ok ? 'ok ' : 'not ok ') + results.length + ' - ' + name + (ok ? '' : '\n  # ' + detail));
  };
  try {
    console.log('# cross-origin attacks in ' + opts.chromium + ': app ' + app + ', attacker page ' + attackerOrigin);
    victim = await victimSocket(port, await login(port, 'victim'));
    victim.send({ event: 'whoami' });
    const me = await victim.next((m) => m.event === 'whoami', 'whoami answer');
    if (me.user !== 'victim') throw new Error('the victim socket is not registered as victim: ' + JSON.stringify(me));

    context = await chromium.launchPersistentContext(profile, { executablePath: opts.chromium, headless: true, args: CHROMIUM_ARGS });
    const page = context.pages()[0] || (await context.newPage());
    // The visitor logs in on the app's page: the browser now holds a session cookie for the app.
    await page.goto(app + '/');
    const visitorLogin = await page.evaluate(async (app) => {
      const r = await fetch(app + '/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'user=visitor',
        redirect: 'manual',
      });
      return r.type + ' ' + r.status;
    }, app);
    check(visitorLogin === 'opaqueredirect 0', 'the visitor logs in from the app page (303)', 'got ' + visitorLogin);

    // From the attacker's origin: everything fails.
    await page.goto(attackerOrigin + '/attack.html');
    const cross = await attack(page, app, 'cross-origin');
    console.log('# from ' + attackerOrigin + ': ' + JSON.stringify(cross));
    check(!String(cross.websocket).startsWith('open'), 'cross-origin WebSocket is refused', 'it opened: ' + cross.websocket);
    // The forged notices never arrive: the victim's next notice is a legitimate one sent after them.
    const sender = await victimSocket(port, await login(port, 'sender'));
    sender.send({ event: 'notify', user: 'victim', message: 'legit after the attacks' });
    const first = await victim.next((m) => m.event === 'notice', 'notice');
    check(first.message === 'legit after the attacks', 'no forged notice reached the victim (WebSocket, form, text/plain fetch, img)',
      'the victim got ' + JSON.stringify(first));

    // The visitor is still the visitor (the cross-site login did not switch the session).
    await page.goto(app + '/');
    const same = await attack(page, app, 'same-origin');
    console.log('# from ' + app + ': ' + JSON.stringify(same));
    check(same.websocket === 'open as visitor', 'same-origin WebSocket opens with the visitor session (cross-site login had no effect)',
      'got ' + same.websocket);
    const notices = [];
    for (let i = 0; i < 3; i++) notices.push((await victim.next((m) => m.event === 'notice', 'same-origin notice ' + (i + 1))).message);
    notices.sort();
    check(JSON.stringify(notices) === JSON.stringify(['same-origin fetch', 'same-origin form', 'same-origin websocket']),
      'same-origin WebSocket, form and fetch notify the victim', 'got ' + JSON.stringify(notices));
    sender.send({ event: 'notify', user: 'victim', message: 'last' });
    const last = await victim.next((m) => m.event === 'notice', 'last notice');
    check(last.message === 'last', 'a same-origin <img> GET runs no AJAJ handler either', 'got ' + JSON.stringify(last));
    sender.ws.close();
  } finally {
    if (victim) victim.ws.close();
    if (context) await context.close().catch(() => {});
    attacker.close();
    await server.stop();
    rmSync(profile, { recursive: true, force: true });
  }
  console.log('# ' + (results.length - failed) + ' passed, ' + failed + ' failed');
  if (failed) console.log('# recent server output:\n' + server.recentOutput());
  return failed ? 1 : 0;
}

exitWith(main);
