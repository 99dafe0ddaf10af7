// websocket-shootout peer: uWebSockets.js (npm @btc-vision/uwebsockets.js). Protocol at /ws:
//   {"type":"echo","payload":P}      -> the same text back to the sender
//   {"type":"broadcast","payload":P} -> {"type":"broadcast","payload":P} to every client (sender included),
//                                       through publish/subscribe (uWS's fast path),
//                                       and {"type":"broadcastResult","payload":P,"listenCount":N} to the sender
// PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line.
// COMPRESSION=shared turns on permessage-deflate with uWS's shared compressor (every published message
// compressed once for all subscribers; no sliding window kept per connection); default: off.
// Start it with ./run.sh (the binaries need the newer glibc that setup.sh fetches).
'use strict';
const uWS = require('@btc-vision/uwebsockets.js');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const TOPIC = 'all';
const decoder = new TextDecoder();
const shared = process.env.COMPRESSION === 'shared';

const app = uWS.App();
app.ws('/ws', {
  compression: shared ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
  maxPayloadLength: 1024 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 120,
  open: (ws) => {
    ws.subscribe(TOPIC);
  },
  message: (ws, message, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(decoder.decode(message));
    } catch (_) {
      ws.end(1003, 'not JSON');
      return;
    }
    if (msg.type === 'echo') {
      ws.send(message, isBinary, shared);
    } else if (msg.type === 'broadcast') {
      app.publish(TOPIC, JSON.stringify({ type: 'broadcast', payload: msg.payload }), false, shared);
      ws.send(
        JSON.stringify({ type: 'broadcastResult', payload: msg.payload, listenCount: app.numSubscribers(TOPIC) }),
        false,
      );
    }
  },
});

let listenSocket = null;
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = token;
  console.log(`uws listening on ws://${host}:${port}/ws`);
});
const stop = () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
