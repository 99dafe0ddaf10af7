// run.mjs against a real server (the chat example), plus the scenarios that run.mjs can only play against
// mock-server.mjs: an emit the server never acknowledges (timeout_callback, ontimeout) and the ajaj.auto
// retry while the socket stays open. A real server acknowledges every event before running it, so these
// scenarios stall the server instead: SIGSTOP on its process group for the time of the emit, SIGCONT after.
//
//   node chat.mjs --server-cmd 'target/debug/examples/chat' --page / --client /client.js --ws /chat
//
// Options: exactly those of run.mjs (this script adds its scenarios to the list run.mjs imports from
// scenarios.mjs, then runs run.mjs itself, which reads the same command line). The stalled scenarios need
// only an `echo` event (WebSocket and AJAJ), so they also pass against mock-server.mjs.

import fs from 'node:fs';

import { scenarios } from './scenarios.mjs';

/** Sends `name` (SIGSTOP, SIGCONT) to the server's process group (run.mjs starts it detached). */
function signalServer(server, name) {
  if (!server.child) throw new Error('the server is not running');
  process.kill(-server.child.pid, name);
}

/**
 * Resolves once every thread of every process in the server's process group is stopped (state `T` in
 * /proc): `kill` returns before a busy machine has stopped them all, and a thread that still runs
 * would answer the event the scenario expects to go unanswered.
 */
async function stopped(server) {
  const group = server.child.pid;
  const deadline = Date.now() + 5000;
  for (;;) {
    const states = [];
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
        const [, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(pgrp) !== group) continue;
        for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
          const t = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          states.push(t.slice(t.lastIndexOf(')') + 2)[0]);
        }
      } catch {
        // the process or thread ended while we looked
      }
    }
    if (states.length > 0 && states.every((s) => s === 'T')) return;
    if (Date.now() > deadline) throw new Error(`the server did not stop within 5 s (thread states: ${states.join('')})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs `during` with the server stopped; the server always continues afterwards. */
async function whileStalled(server, during) {
  signalServer(server, 'SIGSTOP');
  try {
    await stopped(server);
    return await during();
  } finally {
    signalServer(server, 'SIGCONT');
  }
}

const stalledScenarios = [
  {
    name: 'timeout against a stalled server: timeout_callback, then ontimeout; late acks call nothing',
    async run({ page, target, server }) {
      await page.evaluate(async (ws) => {
        window.__c = await __t.open(ws);
        window.__acks = 0;
        // Set before the server resumes: its late answers may arrive at once.
        window.__echoed = [];
        window.__bothEchoed = __t.deferred();
        __c.echo = (message) => {
          __echoed.push(message.n);
          if (__echoed.length === 2) __bothEchoed.resolve();
        };
      }, target.ws);
      await whileStalled(server, () =>
        page.evaluate(async () => {
          const { check, deferred, within } = __t;
          const client = __c;
          const fired = deferred();
          const first = { event: 'echo', n: 1 };
          const sent = client.emit(
            first,
            () => __acks++,
            function (ev, c) {
              fired.resolve({ ev, c, self: this });
            },
            300
          );
          check(sent === true, 'emit returns true: the socket is open, the server just does not answer');
          const timeout = await within(fired.promise, 5000, 'timeout_callback');
          check(timeout.ev === first && timeout.c === client && timeout.self === client, 'timeout_callback(event, client)');

          const fallback = deferred();
          client.ontimeout = function (ev, c) {
            fallback.resolve({ ev, c, self: this });
          };
          const second = { event: 'echo', n: 2 };
          client.emit(second, () => __acks++, undefined, 300);
          const seen = await within(fallback.promise, 5000, 'ontimeout');
          check(seen.ev === second && seen.c === client && seen.self === client, 'ontimeout(event, client)');
          check(__acks === 0 && client._pending.size === 0, 'no ack callback, nothing pending');
        })
      );
      // The server resumes and answers both events (_ack_ first, then the echo): the acks are late.
      await page.evaluate(async () => {
        const { check, deferred, within } = __t;
        const client = __c;
        await within(__bothEchoed.promise, 10000, 'the echoes after the server resumed');
        check(JSON.stringify(__echoed) === '[1,2]', 'echoes in order: ' + JSON.stringify(__echoed));
        check(__acks === 0, 'a late _ack_ calls no callback (' + __acks + ' did)');
        const acked = deferred();
        client.emit({ event: 'echo', n: 3 }, () => acked.resolve());
        await within(acked.promise, 5000, 'an ack once the server answers again');
        check(client.readyState() === 1, 'the connection stayed open');
      });
    },
  },

  {
    name: 'ajaj.auto against a stalled server: the unacknowledged event is retried over AJAJ (socket open)',
    async run({ page, target, server }) {
      await page.evaluate(async (ws) => {
        window.__c = await __t.open(ws);
        __c.ajaj.auto = true;
        // Set before the server stalls: its late answers may arrive as soon as it resumes.
        window.__r = { seen: [], calls: 0, timedOut: false, acked: __t.deferred(), two: __t.deferred() };
        __c.echo = (message) => {
          __r.seen.push({ n: message.n, eid: '_EID_' in message });
          if (__r.seen.length === 2) __r.two.resolve();
        };
      }, target.ws);
      const state = () =>
        page.evaluate(() => JSON.stringify({ r: __r, pending: __c._pending.size, readyState: __c.readyState() }));
      const posted = page.waitForRequest((request) => request.method() === 'POST', { timeout: 10000 });
      await whileStalled(server, async () => {
        const sent = await page.evaluate(() =>
          __c.emit(
            { event: 'echo', n: 7 },
            () => {
              __r.calls++;
              __r.acked.resolve();
            },
            () => (__r.timedOut = true),
            300
          )
        );
        if (sent !== true) throw new Error('emit returned ' + sent + ' on an open socket');
        // The retry leaves the browser while the server is still stopped; it is answered once it resumes.
        let request;
        try {
          request = await posted;
        } catch (err) {
          throw new Error('no AJAJ retry while the server was stopped (' + err.message + '); client state: ' + (await state()));
        }
        const body = request.postDataJSON();
        if (!body || body.id !== 'echo' || body.n !== 7 || '_EID_' in body) {
          throw new Error('the AJAJ retry posted ' + JSON.stringify(body));
        }
      });
      await page.evaluate(async () => {
        const { check, within } = __t;
        await within(__r.acked.promise, 10000, 'the callback after the AJAJ retry');
        // Two replies: the AJAJ one (no _EID_) and the WebSocket one the stalled server sends late.
        await within(__r.two.promise, 10000, 'both echoes');
        const seen = JSON.stringify(__r.seen);
        check(__r.seen.every((r) => r.n === 7), 'echo replies: ' + seen);
        check(__r.seen.filter((r) => !r.eid).length === 1, 'one reply came over AJAJ: ' + seen);
        check(__r.calls === 1 && !__r.timedOut, 'callback once (' + __r.calls + '), no timeout callback');
        check(__c.readyState() === 1, 'the socket stayed open');
      });
    },
  },
];

/** Scenarios of the chat example's own events: they need the real server (not mock-server.mjs). */
const chatScenarios = [
  {
    name: 'chat example: POST /login sets an HttpOnly session cookie; the WebSocket is that user; login is no event; logout',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const whoami = async (client) => {
          const got = deferred();
          client.whoami = (e) => got.resolve(e);
          client.emit({ event: 'whoami' });
          return within(got.promise, 5000, 'whoami');
        };
        // A guest first: nobody.
        const guest = await __t.open(ws);
        check((await whoami(guest)).user === null, 'a connection without a session is a guest');
        // Log in the way the page's form does (a form POST; fetch follows the 303 to /).
        const login = await fetch('/login', { method: 'POST', body: new URLSearchParams({ user: 'ada' }) });
        check(login.ok && login.redirected && new URL(login.url).pathname === '/', 'POST /login answered 303 to /: ' + login.status + ' ' + login.url);
        check(!document.cookie.includes('plezi_session'), 'the session cookie is HttpOnly: ' + JSON.stringify(document.cookie));
        const ada = await __t.open(ws);
        const me = await whoami(ada);
        check(me.user === 'ada' && typeof me.id === 'string', 'whoami after login: ' + JSON.stringify(me));
        // The login event no longer exists: err 404 like any unknown event.
        const err = deferred();
        ada.err = (e) => err.resolve(e);
        ada.emit({ event: 'login', user: 'eve' });
        const e = await within(err.promise, 5000, 'the err answer to login');
        check(e.status === 404 && e.request.event === 'login', 'login is unknown: ' + JSON.stringify(e));
        check((await whoami(ada)).user === 'ada', 'still ada');
        // A notice from the guest reaches ada's session connection.
        const notice = deferred();
        ada.notice = (n) => notice.resolve(n);
        guest.emit({ event: 'notify', user: 'ada', message: 'hello ada' });
        check((await within(notice.promise, 5000, 'the notice')).message === 'hello ada', 'notice delivered');
        // Log out: a new connection is a guest again.
        const logout = await fetch('/logout', { method: 'POST' });
        check(logout.ok && logout.redirected, 'POST /logout answered 303: ' + logout.status);
        const after = await __t.open(ws);
        check((await whoami(after)).user === null, 'after logout the cookie is gone');
        for (const c of [guest, ada, after]) c.close();
      }, target.ws);
    },
  },
  {
    name: 'chat example: the page logs in through its form and shows the user',
    async run({ page, target }) {
      await page.goto(target.origin + '/');
      await page.fill('#name', 'grace');
      await Promise.all([page.waitForNavigation(), page.click('#login button')]);
      await page.waitForFunction(() => document.getElementById('me').textContent === 'Logged in as grace', null, { timeout: 10000 });
      const hidden = await page.evaluate(() => document.getElementById('login').hidden);
      if (!hidden) throw new Error('the login form is still shown after logging in');
      await Promise.all([page.waitForNavigation(), page.click('#logout button')]);
      await page.waitForFunction(() => !document.getElementById('login').hidden, null, { timeout: 10000 });
    },
  },
];

const againstTheChatExample =
  !process.argv.includes('--mock') && process.argv.some((a) => a.startsWith('--server-cmd'));
if (againstTheChatExample) scenarios.push(...chatScenarios);
scenarios.push(...stalledScenarios);
await import('./run.mjs');
