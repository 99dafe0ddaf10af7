// Chat fan-out peer: Socket.IO 4 doing what plezi's examples/chat.rs does with its `chat` event.
//   "chat" {message}  -> every *other* socket gets "chat" {from: <socket id>, message}
//                        (socket.broadcast.emit); then the sender's acknowledgement, if it asked for one
// WebSocket transport only (no long-polling upgrade dance), no per-message compression, like the other
// peers. PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line.
// Several processes share the room through Redis when SIO_ADAPTER names an adapter of
// @socket.io/redis-adapter (REDIS_URL, default redis://127.0.0.1:6379):
//   SIO_ADAPTER=redis    createAdapter: classic pub/sub (PUBLISH / PSUBSCRIBE)
//   SIO_ADAPTER=sharded  createShardedAdapter: Redis 7 sharded pub/sub (SPUBLISH / SSUBSCRIBE)
//   unset                the in-memory adapter: one process
// SIO_RECOVERY=1 turns on connection-state recovery (the forced-disconnect scenario of
// `plezi-load forced --proto socketio`, benches/run-forced.sh; SIO_RECOVERY_MS, default 120000, is
// maxDisconnectionDuration). Each socket then joins the room named by its `user` query parameter and:
//   "say" {n}           -> every *other* socket gets "say" {n} (socket.broadcast.emit)
//   "notify" {user, k}  -> the sockets in room `user` get "notice" {k} (io.to(user).emit)
// Driven by `plezi-load socketio` (benches/src/socketio.rs); see benches/run-dispatch.sh and
// benches/run-crossnode.sh.
'use strict';
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const http = createServer((request, response) => {
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('Socket.IO chat peer: connect to /socket.io/?EIO=4&transport=websocket\n');
});
const recovery = process.env.SIO_RECOVERY === '1';
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  ...(recovery && {
    connectionStateRecovery: {
      maxDisconnectionDuration: Number(process.env.SIO_RECOVERY_MS || 120000),
      skipMiddlewares: true,
    },
  }),
});

// The acknowledgement says "the fan-out is queued", as plezi's echo and the shootout's broadcastResult
// do. The in-memory and classic Redis adapters broadcast synchronously inside `emit`; the sharded one
// (a ClusterAdapter) first awaits its SPUBLISH and only then writes to the local sockets, so `emit`
// returns before anything is queued and an ack sent right away would let the sender run ahead of the
// fan-out. So the ack waits for what the adapter's `broadcast` returned (a promise, or nothing).
let lastBroadcast;
function trackBroadcasts() {
  const adapter = io.of('/').adapter;
  const broadcast = adapter.broadcast.bind(adapter);
  adapter.broadcast = (packet, opts) => (lastBroadcast = broadcast(packet, opts));
}

io.on('connection', (socket) => {
  if (recovery) {
    const user = socket.handshake.query.user;
    if (typeof user === 'string' && user) socket.join(user);
    socket.on('say', (msg) => socket.broadcast.emit('say', { n: msg && msg.n }));
    socket.on('notify', (msg) => {
      if (msg && typeof msg.user === 'string') io.to(msg.user).emit('notice', { k: msg.k });
    });
  }
  socket.on('chat', (msg, ack) => {
    lastBroadcast = undefined;
    socket.broadcast.emit('chat', { from: socket.id, message: msg && msg.message });
    if (typeof ack !== 'function') return;
    if (lastBroadcast && typeof lastBroadcast.then === 'function') {
      lastBroadcast.then(() => ack(), () => ack());
    } else {
      ack();
    }
  });
});

async function useRedis(kind) {
  const { createClient } = require('redis');
  const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on('error', (e) => console.error(`redis: ${e.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(kind === 'sharded' ? createShardedAdapter(pub, sub) : createAdapter(pub, sub));
}

async function main() {
  const kind = process.env.SIO_ADAPTER || '';
  if (kind === 'redis' || kind === 'sharded') {
    await useRedis(kind);
  } else if (kind !== '') {
    throw new Error(`SIO_ADAPTER=${kind}: use redis, sharded, or leave it unset`);
  }
  trackBroadcasts();
  http.listen(port, host, () =>
    console.log(`socketio (${kind || 'in-memory'} adapter${recovery ? ', recovery' : ''}) listening on ws://${host}:${port}/socket.io/`));
}
main().catch((e) => {
  console.error(`socketio: ${e.message}`);
  process.exit(1);
});
const stop = () => {
  io.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
