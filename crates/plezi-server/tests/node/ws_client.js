// Node `ws` client scenarios against a plezi-server test service.
// Usage: node ws_client.js BASE_URL SCENARIO   (BASE_URL like ws://127.0.0.1:PORT)
// Prints one line per check ("ok NAME ...") and exits non-zero on the first failure.
// Driven by crates/plezi-server/tests/ws_node.rs.
'use strict';

const WebSocket = require('ws');

const TIMEOUT_MS = 10000;

function fail(msg) {
  console.log(`FAIL ${msg}`);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

function open(url, protocols, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    ws.queue = [];
    ws.waiters = [];
    ws.on('message', (data, isBinary) => {
      const msg = { data, isBinary };
      const w = ws.waiters.shift();
      if (w) w(msg);
      else ws.queue.push(msg);
    });
    ws.once('upgrade', (res) => {
      ws.extensionHeader = res.headers['sec-websocket-extensions'];
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function recv(ws) {
  if (ws.queue.length) return Promise.resolve(ws.queue.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for a message')), TIMEOUT_MS);
    ws.waiters.push((m) => {
      clearTimeout(t);
      resolve(m);
    });
  });
}

function closed(ws) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for close')), TIMEOUT_MS);
    ws.once('close', (code, reason) => {
      clearTimeout(t);
      resolve({ code, reason: reason.toString() });
    });
  });
}

async function echo(base) {
  const ws = await open(base + '/ws');
  ws.send('hello from node');
  let m = await recv(ws);
  check(!m.isBinary && m.data.toString() === 'hello from node', `text echo got ${m.data}`);
  console.log('ok text');
  ws.send('unicode ✓ 🚀 héllo');
  m = await recv(ws);
  check(m.data.toString() === 'unicode ✓ 🚀 héllo', `unicode echo got ${m.data}`);
  console.log('ok unicode');
  const bin = Buffer.alloc(1024, 0).map((_, i) => i % 256);
  ws.send(bin);
  m = await recv(ws);
  check(m.isBinary && Buffer.compare(m.data, bin) === 0, 'binary echo differs');
  console.log('ok binary');
  const big = Buffer.alloc(300000, 0).map((_, i) => (i * 7) % 256);
  ws.send(big);
  m = await recv(ws);
  check(m.isBinary && Buffer.compare(m.data, big) === 0, '300 kB binary echo differs');
  console.log('ok big');
  for (let i = 0; i < 500; i++) ws.send(`n${i}`);
  for (let i = 0; i < 500; i++) {
    m = await recv(ws);
    check(m.data.toString() === `n${i}`, `message ${i} got ${m.data}`);
  }
  console.log('ok ordered 500');
  const c = closed(ws);
  ws.close(1000);
  await c;
}

async function fragmented(base) {
  const ws = await open(base + '/ws');
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted ', { fin: false });
  ws.send('text', { fin: true });
  let m = await recv(ws);
  check(!m.isBinary && m.data.toString() === 'fragmented text', `fragmented text echo got ${m.data}`);
  console.log('ok fragmented text');
  ws.send(Buffer.from([1, 2]), { fin: false, binary: true });
  ws.send(Buffer.from([3]), { fin: true, binary: true });
  m = await recv(ws);
  check(m.isBinary && Buffer.compare(m.data, Buffer.from([1, 2, 3])) === 0, 'fragmented binary echo differs');
  console.log('ok fragmented binary');
  const c = closed(ws);
  ws.close(1000);
  await c;
}

async function ping(base) {
  const ws = await open(base + '/ws');
  for (const payload of [Buffer.from('node-ping'), Buffer.alloc(0), Buffer.alloc(125, 0x78)]) {
    const pong = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no pong')), TIMEOUT_MS);
      ws.once('pong', (data) => {
        clearTimeout(t);
        resolve(data);
      });
    });
    ws.ping(payload);
    const data = await pong;
    check(Buffer.compare(data, payload) === 0, `pong payload ${data} != ${payload}`);
  }
  console.log('ok pong');
  ws.send('after ping');
  const m = await recv(ws);
  check(m.data.toString() === 'after ping', 'echo after ping');
  console.log('ok echo after ping');
  const c = closed(ws);
  ws.close(1000);
  await c;
}

async function clientClose(base) {
  for (const code of [1000, 4001]) {
    const ws = await open(base + '/ws');
    const c = closed(ws);
    ws.close(code, 'client done');
    const { code: got } = await c;
    check(got === code, `server echoed close code ${got} for ${code}`);
    console.log(`ok closed ${got}`);
  }
}

async function serverClose(base) {
  const ws = await open(base + '/ws-close?code=4000');
  const { code, reason } = await closed(ws);
  check(code === 4000, `close code ${code}`);
  console.log(`ok server closed ${code} ${reason}`);
}

async function subprotocol(base) {
  let ws = await open(base + '/ws-proto', ['foo', 'chat']);
  check(ws.protocol === 'chat', `subprotocol ${ws.protocol}`);
  console.log('ok subprotocol chat');
  let c = closed(ws);
  ws.close(1000);
  await c;
  ws = await open(base + '/ws-proto');
  check(ws.protocol === '', `subprotocol ${ws.protocol} without offer`);
  console.log('ok no subprotocol');
  c = closed(ws);
  ws.close(1000);
  await c;
}

// permessage-deflate with `perMessageDeflate` on (threshold 0: the client compresses everything):
// negotiated, compressed both ways (the server's reply is checked on the wire by the bytes read),
// compressed fragments, a small window asked for.
async function deflate(base) {
  let ws = await open(base + '/ws', undefined, { perMessageDeflate: { threshold: 0 } });
  check(ws.extensions === 'permessage-deflate', `extensions ${ws.extensions}`);
  check(
    ws.extensionHeader === 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    `extensions header ${ws.extensionHeader}`,
  );
  console.log('ok negotiated');
  const text = '{"event":"chat","message":"compress me, compress me well"}\n'.repeat(400);
  const before = ws._socket.bytesRead;
  ws.send(text);
  let m = await recv(ws);
  check(!m.isBinary && m.data.toString() === text, 'compressed text echo differs');
  const read = ws._socket.bytesRead - before;
  check(read < text.length / 4, `${read} bytes on the wire for ${text.length}`);
  console.log(`ok compressed echo ${read} of ${text.length}`);
  ws.send('hi');
  m = await recv(ws);
  check(m.data.toString() === 'hi', `small echo got ${m.data}`);
  const bin = Buffer.alloc(200000, 0).map((_, i) => (i >> 6) % 256);
  ws.send(bin);
  m = await recv(ws);
  check(m.isBinary && Buffer.compare(m.data, bin) === 0, 'compressed binary echo differs');
  ws.send('frag ', { fin: false, compress: true });
  ws.send('men'.repeat(200), { fin: false, compress: true });
  ws.send(' ted', { fin: true, compress: true });
  m = await recv(ws);
  check(m.data.toString() === 'frag ' + 'men'.repeat(200) + ' ted', 'compressed fragments');
  console.log('ok compressed fragments');
  let c = closed(ws);
  ws.close(1000);
  await c;
  ws = await open(base + '/ws', undefined, { perMessageDeflate: { serverMaxWindowBits: 10 } });
  check(/server_max_window_bits=10/.test(ws.extensionHeader), `extensions ${ws.extensionHeader}`);
  ws.send(text);
  m = await recv(ws);
  check(m.data.toString() === text, 'echo with a 10-bit window');
  console.log('ok window 10');
  c = closed(ws);
  ws.close(1000);
  await c;
}

const SCENARIOS = {
  deflate,
  echo,
  fragmented,
  ping,
  client_close: clientClose,
  server_close: serverClose,
  subprotocol,
};

const [base, scenario] = process.argv.slice(2);
const overall = setTimeout(() => fail('scenario timed out'), 60000);
SCENARIOS[scenario](base)
  .then(() => {
    clearTimeout(overall);
    console.log('done');
    process.exit(0);
  })
  .catch((e) => fail(e && e.stack ? e.stack : String(e)));
