// The PleziClient scenarios run by run.mjs in headless Chromium.
//
// Each scenario runs in Node with { page, target, server } and drives the page with page.evaluate (the
// functions passed to page.evaluate run in the browser: they see only their argument, `PleziClient` and
// the helpers of harness.js as `__t`). The page is reloaded before every scenario.
//
// They rely only on what the chat example provides (docs/client.md): an auto-dispatch controller
// at target.ws with an `echo` event over WebSocket and AJAJ, and `err` 404 answers to unknown events.
// Scenarios marked `mock: true` also need the test-only events of mock-server.mjs (`blackhole`, `say`,
// `whereami`).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const BUNDLE = new URL('../../client/plezi-client.js', import.meta.url);

export const scenarios = [
  {
    name: 'the served client is the generated bundle',
    async run({ page, target }) {
      const served = await page.evaluate(async (url) => (await fetch(url)).text(), target.client);
      assert.equal(served, readFileSync(BUNDLE, 'utf8'), 'GET ' + target.client + ' differs from client/plezi-client.js');
      const version = await page.evaluate(() => PleziClient.version);
      assert.match(served, new RegExp('^/\\*! PleziClient ' + version.replace(/\./g, '\\.') + ' '));
    },
  },

  {
    name: 'origin, default URL and URL forms',
    async run({ page, target }) {
      await page.evaluate((wsPath) => {
        const { check } = __t;
        check(PleziClient.origin === 'ws://' + location.host, 'PleziClient.origin is ' + PleziClient.origin);
        const clients = [new PleziClient(), new PleziClient(wsPath), new PleziClient(location.origin + wsPath)];
        const [byDefault, byPath, byHttpUrl] = clients.map((client) => {
          client.close();
          return client;
        });
        check(byDefault.url === PleziClient.origin + location.pathname, 'default url: ' + byDefault.url);
        check(byDefault.ajaj.url === location.origin + location.pathname, 'default AJAJ url: ' + byDefault.ajaj.url);
        check(byPath.url === PleziClient.origin + wsPath, 'url from a path: ' + byPath.url);
        check(byHttpUrl.url === PleziClient.origin + wsPath, 'url from http://: ' + byHttpUrl.url);
        check(byDefault.autoreconnect === false && byDefault.reconnect_interval === 200, 'defaults');
      }, target.wsPath);
    },
  },

  {
    name: 'open: onopen, connected, readyState',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = new PleziClient(ws);
        const opened = deferred();
        client.onopen = function (e) {
          opened.resolve({ self: this, type: e.type });
        };
        const seen = await within(opened.promise, 10000, 'onopen');
        check(seen.self === client && seen.type === 'open', 'onopen(e) runs with this = client');
        check(client.connected === true && client.readyState() === 1, 'connected and readyState() 1');
      }, target.ws);
    },
  },

  {
    name: 'emit with ack: callback(event, client), _EID_, timer cancelled, default 5000 ms',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        let replies = deferred();
        client.echo = function (message) {
          replies.resolve({ message, self: this });
        };
        // With callbacks: _EID_ attached, _ack_ calls callback(event, client).
        const acked = deferred();
        let timedOut = false;
        const event = { event: 'echo', text: 'hello' };
        const sent = client.emit(
          event,
          function (ev, c) {
            acked.resolve({ ev, c, self: this });
          },
          () => (timedOut = true)
        );
        check(sent === true, 'emit returns true on an open socket');
        const ack = await within(acked.promise, 5000, 'the _ack_ callback');
        check(ack.ev === event && ack.c === client && ack.self === client, 'callback(event, client), this = client');
        check(typeof event._EID_ === 'number', '_EID_ attached to the event: ' + event._EID_);
        const echo = await within(replies.promise, 5000, 'the echo reply');
        check(echo.self === client && echo.message.text === 'hello', 'client.echo got the reply');
        check(echo.message._EID_ === event._EID_, 'the echoed message carries the same _EID_');
        check(client._pending.size === 0 && !timedOut, 'the ack cancelled the timer');

        // No callback, no emit_timeout: no _EID_.
        replies = deferred();
        client.emit({ event: 'echo', n: 2 });
        const plain = await within(replies.promise, 5000, 'echo without callbacks');
        check(plain.message.n === 2 && !('_EID_' in plain.message), 'no _EID_ without a timeout');

        // The timeouts actually armed: 5000 ms when only a callback is given, else emit_timeout, else the argument.
        const delays = [];
        const realSetTimeout = window.setTimeout;
        window.setTimeout = (fn, ms, ...rest) => {
          delays.push(ms);
          return realSetTimeout(fn, ms, ...rest);
        };
        try {
          client.emit({ event: 'echo' }, () => {});
          client.emit_timeout = 3000;
          client.emit({ event: 'echo' });
          client.emit({ event: 'echo' }, () => {}, () => {}, 1234);
        } finally {
          window.setTimeout = realSetTimeout;
        }
        check(JSON.stringify(delays) === '[5000,3000,1234]', 'armed timeouts: ' + JSON.stringify(delays));
      }, target.ws);
    },
  },

  {
    name: 'timeout: the server drops the event (timeout_callback, then ontimeout)',
    mock: true,
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        let acked = false;
        const fired = deferred();
        const event = { event: 'blackhole' };
        client.emit(
          event,
          () => (acked = true),
          function (ev, c) {
            fired.resolve({ ev, c, self: this });
          },
          300
        );
        const timeout = await within(fired.promise, 5000, 'timeout_callback');
        check(timeout.ev === event && timeout.c === client && timeout.self === client, 'timeout_callback(event, client)');
        check(!acked && client._pending.size === 0, 'no ack callback, nothing pending');

        const fallback = deferred();
        client.ontimeout = function (ev, c) {
          fallback.resolve({ ev, c, self: this });
        };
        const second = { event: 'blackhole', n: 2 };
        client.emit(second, undefined, undefined, 300);
        const seen = await within(fallback.promise, 5000, 'ontimeout');
        check(seen.ev === second && seen.c === client && seen.self === client, 'ontimeout(event, client)');
      }, target.ws);
    },
  },

  {
    name: 'timeout: the socket is closed (emit returns false, timeout_callback runs)',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        await __t.shut(client);
        let acked = false;
        const fired = deferred();
        const sent = client.emit({ event: 'echo' }, () => (acked = true), (ev) => fired.resolve(ev), 200);
        check(sent === false, 'emit returns false on a closed socket');
        const ev = await within(fired.promise, 5000, 'timeout_callback');
        check(ev.event === 'echo' && !acked, 'timeout_callback got the event, no ack');
      }, target.ws);
    },
  },

  {
    name: 'unknown: err 404 answers go to unknown unless a handler exists; reserved names',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        let unknown = deferred();
        client.unknown = function (message) {
          unknown.resolve({ message, self: this });
        };
        client.emit({ event: 'no_such_event', x: 1 });
        const seen = await within(unknown.promise, 5000, 'unknown');
        const m = seen.message;
        check(seen.self === client, 'unknown runs with this = client');
        check(m.event === 'err' && m.status === 404 && m.request && m.request.event === 'no_such_event',
          'err 404 for an unknown event: ' + JSON.stringify(m));

        // A reply whose event has a handler goes to it; `close` is reserved on the server and answered with err.
        const handled = deferred();
        client.err = (message) => handled.resolve(message);
        client.emit({ event: 'close' });
        const err = await within(handled.promise, 5000, 'client.err');
        check(err.status === 404 && err.request.event === 'close', 'reserved name answered with err 404');
        check(client.readyState() === 1, 'the server keeps the connection open');

        // An event the client has no handler for goes to unknown.
        unknown = deferred();
        client.emit({ event: 'echo', text: 'no handler' });
        const echo = await within(unknown.promise, 5000, 'unknown for echo');
        check(echo.message.event === 'echo' && echo.message.text === 'no handler', 'echo went to unknown');
        check(PleziClient.isReserved('close') && PleziClient.isReserved('_x') && !PleziClient.isReserved('notify'),
          'PleziClient.isReserved');
      }, target.ws);
    },
  },

  {
    name: 'unknown: non-JSON, event-less and API-named messages never reach client methods',
    mock: true,
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        const got = [];
        let next = deferred();
        client.unknown = (message) => {
          got.push(message);
          next.resolve();
        };
        const payloads = ['not json', '{"no":"event"}', '{"event":"close"}', '{"event":"toString"}', '[1,2]',
          '{"event":"_private"}', '{"event":"emit"}'];
        for (const payload of payloads) {
          next = deferred();
          client.emit({ event: 'say', payload });
          await within(next.promise, 5000, 'unknown for ' + payload);
        }
        check(got[0] === 'not json', 'non-JSON text arrives as the raw string');
        check(got[1].no === 'event', 'an event-less object arrives parsed');
        check(got[2].event === 'close' && client.readyState() === 1, '{"event":"close"} did not call client.close');
        check(got[3].event === 'toString' && got[5].event === '_private' && got[6].event === 'emit', 'API names');
        check(Array.isArray(got[4]), 'a JSON array arrives parsed');
      }, target.ws);
    },
  },

  {
    name: 'reconnect with exponential backoff after the server restarts',
    async run({ page, target, server }) {
      await page.evaluate(async (ws) => {
        const client = await __t.open(ws, true);
        client.reconnect_interval = 100;
        window.__r = { client, closes: [], opens: 0 };
        client.onclose = () => __r.closes.push(performance.now());
        client.onopen = () => __r.opens++;
      }, target.ws);
      await server.stop();
      // The drop plus four failed attempts: waits of [50,100], [100,200], [200,400] and [400,800] ms.
      await page.waitForFunction(() => __r.closes.length >= 5, null, { timeout: 30000 });
      await server.start();
      await page.waitForFunction(() => __r.opens >= 1, null, { timeout: 30000 });
      await page.evaluate(async () => {
        const { check, deferred, within } = __t;
        const { client, closes } = __r;
        check(client.connected && client.readyState() === 1, 'connected again');
        const gaps = closes.slice(1, 5).map((t, i) => t - closes[i]);
        gaps.forEach((gap, i) => {
          // Lower bounds only: a wait is never shorter than half its ceiling (100 ms * 2^i).
          check(gap >= 50 * Math.pow(2, i) - 2, 'wait ' + i + ' was ' + gap.toFixed(0) + ' ms: ' + gaps.join(', '));
        });
        check(client._attempt === 0, 'the backoff resets after a successful open');
        const acked = deferred();
        client.emit({ event: 'echo' }, () => acked.resolve());
        await within(acked.promise, 5000, 'an ack over the new connection');
      });
    },
  },

  {
    name: 'recovery: positions tracked, sent on reconnect, dropped when the server reports a gap',
    mock: true,
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws, true);
        client.reconnect_interval = 50;
        const got = [];
        client.news = (m) => got.push(m.n);
        const url = async () => {
          const answer = deferred();
          client.whereami = (m) => answer.resolve(m.url);
          client.emit({ event: 'whereami' });
          return within(answer.promise, 5000, 'whereami');
        };
        const reopen = async () => {
          const opened = deferred();
          client.onopen = () => opened.resolve();
          client.ws.close(); // the connection drops; auto-reconnect opens another
          await within(opened.promise, 10000, 'reconnected');
        };
        const deliver = (message) => client.emit({ event: 'say', payload: JSON.stringify(message) });
        check(!(await url()).includes('_recover_'), 'nothing to recover at first');
        deliver({ event: 'news', n: 1, _pos_: { s: 'ch:x', e: 'E1', o: 6 } });
        deliver({ event: 'news', n: 2, _pos_: { s: 'ch:x', e: 'E1', o: 7 } });
        deliver({ event: 'news', n: 3 });
        const echoed = deferred();
        client.echo = () => echoed.resolve();
        client.emit({ event: 'echo' });
        await within(echoed.promise, 5000, 'the deliveries');
        check(got.join() === '1,2,3', 'delivered: ' + got.join());
        await reopen();
        const sent = new URL(await url(), 'http://x').searchParams.get('_recover_');
        check(sent === JSON.stringify([{ s: 'ch:x', e: 'E1', o: 7 }]), 'the last position is sent: ' + sent);
        const reported = deferred();
        client.onrecovery = (streams) => reported.resolve(streams);
        deliver({ event: '_recovered_', streams: { 'ch:x': false } });
        const streams = await within(reported.promise, 5000, 'onrecovery');
        check(streams['ch:x'] === false, 'onrecovery gets the report');
        check(got.join() === '1,2,3', 'the report is not an event for handlers');
        await reopen();
        check(!(await url()).includes('_recover_'), 'a stream that was not recovered starts afresh');
      }, target.ws);
    },
  },

  {
    name: 'mailbox: _ack_=1 on every URL, each _mail_ acknowledged, a redelivered _mid_ dropped',
    mock: true,
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const P = PleziClient.PROTOCOL;
        const client = await __t.open(ws, true);
        client.reconnect_interval = 50;
        const got = [];
        client.note = (m) => got.push(m.n);
        const ask = async (event, field) => {
          const answer = deferred();
          client[event] = (m) => answer.resolve(m[field]);
          client.emit({ event });
          return within(answer.promise, 5000, event);
        };
        // The messages go out, then an echo round trip: every one was handled (and acknowledged) after it.
        const deliver = async (...messages) => {
          for (const m of messages) client.emit({ event: 'say', payload: JSON.stringify(m) });
          await ask('echo', 'event');
        };
        const note = (n) => ({ event: 'note', n, _mid_: 's.' + n });
        const mail = (n) => ({ event: '_mail_', _mid_: 's.' + n });
        const reopen = async () => {
          const opened = deferred();
          client.onopen = () => opened.resolve();
          client.ws.close();
          await within(opened.promise, 10000, 'reconnected');
        };
        check(new URL(await ask('whereami', 'url'), 'http://x').searchParams.get(P.ACK_PARAM) === '1', 'asks for acks');
        await deliver(note(1), note(2), mail(2));
        check((await ask('acks', 'mids')).join() === 's.2', 'the batch is acknowledged by its last id');
        check(got.join() === '1,2', 'delivered: ' + got.join());
        // The ack was lost with the connection: the server writes the batch again, with more.
        await reopen();
        check(new URL(await ask('whereami', 'url'), 'http://x').searchParams.get(P.ACK_PARAM) === '1', 'again');
        await deliver(note(1), note(2), note(3), mail(3));
        check((await ask('acks', 'mids')).join() === 's.3', 'acknowledged on the new connection');
        check(got.join() === '1,2,3', 'each message once: ' + got.join());
        // A message without _mid_ is never deduplicated; the memory of ids is bounded.
        const many = [{ event: 'note', n: 0 }, { event: 'note', n: 0 }];
        for (let i = 4; i < 4 + P.MAIL_IDS_REMEMBERED; i++) many.push(note(i));
        many.push(note(1), note(4 + P.MAIL_IDS_REMEMBERED - 1));
        await deliver(...many);
        const tail = got.slice(3);
        check(tail.length === 2 + P.MAIL_IDS_REMEMBERED + 1, 'got ' + tail.length);
        check(tail[tail.length - 1] === 1, 'the oldest id was forgotten: ' + tail.slice(-3).join());
      }, target.ws);
    },
  },

  {
    name: 'close() stops auto-reconnect; reconnect() reopens once',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws, true);
        await __t.shut(client);
        check(client.autoreconnect === false && client._reconnect_timer === null, 'no reconnect scheduled');
        check(client.readyState() === 3 && client.connected === false, 'closed');
        const reopened = deferred();
        client.onopen = () => reopened.resolve();
        check(client.reconnect() === true, 'reconnect() starts a connection');
        check(client.reconnect() === false, 'reconnect() does not open a second one while connecting');
        await within(reopened.promise, 10000, 'onopen after reconnect()');
        check(client.connected, 'connected after reconnect()');
      }, target.ws);
    },
  },

  {
    name: 'ajaj.emit: POST application/json with id and ajaj.add; reply dispatched; failure callback',
    async run({ page, target }) {
      const posted = page.waitForRequest((request) => request.method() === 'POST', { timeout: 10000 });
      const seen = await page.evaluate(async (ws) => {
        const { deferred, within } = __t;
        const client = await __t.open(ws);
        client.ajaj.add.token = 'abc';
        const echoed = deferred();
        client.echo = function (message) {
          echoed.resolve({ message, self: this === client });
        };
        client.ajaj.emit({ event: 'echo', text: 'over http' }, (ev, c, status) => echoed.resolve({ failed: status }));
        const echo = await within(echoed.promise, 5000, 'the AJAJ reply');
        const failed = deferred();
        const unknownEvent = { event: 'no_such_event' };
        client.ajaj.emit(unknownEvent, function (ev, c, status) {
          failed.resolve({ same: ev === unknownEvent && c === client && this === client, status });
        });
        return { echo, failure: await within(failed.promise, 5000, 'the AJAJ failure callback') };
      }, target.ws);
      const request = await posted;
      assert.equal(request.url(), target.http, 'AJAJ goes to the WebSocket URL as http');
      assert.match(request.headers()['content-type'], /^application\/json/);
      assert.deepEqual(request.postDataJSON(), { token: 'abc', event: 'echo', text: 'over http', id: 'echo' });
      assert.equal(seen.echo.failed, undefined, 'the echo request failed with status ' + seen.echo.failed);
      assert.equal(seen.echo.self, true, 'handler runs with this = client');
      assert.equal(seen.echo.message.event, 'echo');
      assert.equal(seen.echo.message.text, 'over http');
      assert.equal(seen.echo.message.token, 'abc');
      assert.deepEqual(seen.failure, { same: true, status: 404 });
    },
  },

  {
    name: 'ajaj.auto: a timed-out emit is retried over AJAJ (socket closed)',
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        await __t.shut(client);
        client.ajaj.auto = true;
        const acked = deferred();
        const echoed = deferred();
        let timedOut = false;
        client.echo = (message) => echoed.resolve(message);
        const event = { event: 'echo', text: 'fallback' };
        client.emit(event, (ev, c) => acked.resolve(ev === event && c === client), () => (timedOut = true), 200);
        check(await within(acked.promise, 5000, 'callback after the AJAJ retry'), 'callback(event, client)');
        const echo = await within(echoed.promise, 5000, 'the echo over AJAJ');
        check(echo.text === 'fallback' && !('_EID_' in echo) && !timedOut, 'retried without _EID_: ' + JSON.stringify(echo));

        const failed = deferred();
        client.emit({ event: 'no_such_event' }, () => {}, (ev) => failed.resolve(ev), 200);
        const ev = await within(failed.promise, 5000, 'timeout_callback after a failed AJAJ retry');
        check(ev.event === 'no_such_event', 'timeout_callback(event) after the AJAJ 404');
      }, target.ws);
    },
  },

  {
    name: 'ajaj.auto: a dropped event is retried over AJAJ (socket open)',
    mock: true,
    async run({ page, target }) {
      await page.evaluate(async (ws) => {
        const { check, deferred, within } = __t;
        const client = await __t.open(ws);
        client.ajaj.auto = true;
        const acked = deferred();
        const handled = deferred();
        let timedOut = false;
        client.blackhole = (message) => handled.resolve(message);
        client.emit({ event: 'blackhole', n: 7 }, () => acked.resolve(), () => (timedOut = true), 300);
        await within(acked.promise, 5000, 'callback after the AJAJ retry');
        const reply = await within(handled.promise, 5000, 'the reply over AJAJ');
        check(reply.n === 7 && !timedOut && client.readyState() === 1, 'AJAJ reply dispatched, no timeout');
      }, target.ws);
    },
  },
];
