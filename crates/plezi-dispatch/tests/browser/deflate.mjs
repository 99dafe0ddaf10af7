// WebSocket compression (permessage-deflate) from headless Chromium, which offers it on every
// WebSocket and compresses every message it sends once it is accepted. Starts a server that echoes
// on `--ws` (the echo example), opens its page, and checks from the page that the extension was
// negotiated and that compressed messages go both ways (large text and binary, small text, many in a
// row).
//
//   node deflate.mjs --server-cmd 'target/debug/examples/echo' --page / --ws /ws
//
// Prints `ok ...` lines and exits 0, or prints the failure and exits 1 (2: setup error).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CHROMIUM_ARGS, ServerProcess, exitWith, freePort, loadChromium } from './runner.mjs';

const { values: opts } = parseArgs({
  options: {
    'server-cmd': { type: 'string' },
    page: { type: 'string', default: '/' },
    ws: { type: 'string', default: '/ws' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});

/** Runs in the page: opens the socket and plays the exchange; returns what it saw. */
async function exchange(wsUrl) {
  const ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  const waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : queue.push(e.data));
  const next = () =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
          waiters.push((d) => {
            clearTimeout(t);
            resolve(d);
          });
        });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('the WebSocket did not open'));
  });
  const seen = { extensions: ws.extensions, failures: [] };
  const text = '{"event":"chat","message":"the browser compresses this, the server too"}\n'.repeat(500);
  ws.send(text);
  if ((await next()) !== text) seen.failures.push('large text');
  ws.send('small');
  if ((await next()) !== 'small') seen.failures.push('small text');
  const bin = new Uint8Array(100000).map((_, i) => (i >> 5) & 0xff);
  ws.send(bin);
  const got = new Uint8Array(await next());
  if (got.length !== bin.length || got.some((b, i) => b !== bin[i])) seen.failures.push('binary');
  for (let i = 0; i < 50; i++) ws.send(`message ${i} `.repeat(40));
  for (let i = 0; i < 50; i++) if ((await next()) !== `message ${i} `.repeat(40)) seen.failures.push(`message ${i}`);
  ws.close(1000);
  return seen;
}

exitWith(async () => {
  const chromium = await loadChromium(opts.chromium);
  const port = await freePort();
  const server = new ServerProcess(opts['server-cmd'], port, 60000);
  const profile = mkdtempSync(join(tmpdir(), 'plezi-chromium-'));
  let context;
  try {
    await server.start();
    context = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(`http://127.0.0.1:${port}${opts.page}`);
    const seen = await page.evaluate(exchange, `ws://127.0.0.1:${port}${opts.ws}`);
    const expected = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
    if (seen.extensions !== expected) {
      console.log(`not ok - extensions ${JSON.stringify(seen.extensions)}, expected ${JSON.stringify(expected)}`);
      return 1;
    }
    console.log('ok - permessage-deflate negotiated: ' + seen.extensions);
    if (seen.failures.length) {
      console.log('not ok - echoes differ: ' + seen.failures.join(', '));
      return 1;
    }
    console.log('ok - compressed echoes: large text, small text, binary, 50 in a row');
    return 0;
  } finally {
    await context?.close();
    await server.stop();
    rmSync(profile, { recursive: true, force: true });
  }
});
