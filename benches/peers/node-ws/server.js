// websocket-shootout peer: Node `ws`. Protocol at /ws:
//   {"type":"echo","payload":P}      -> the same text back to the sender
//   {"type":"broadcast","payload":P} -> {"type":"broadcast","payload":P} to every client (sender included)
//                                       and {"type":"broadcastResult","payload":P,"listenCount":N} to the sender
// PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line.
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const wss = new WebSocketServer({ host, port, path: '/ws', perMessageDeflate: false, clientTracking: true });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      ws.close(1003, 'not JSON');
      return;
    }
    if (msg.type === 'echo') {
      ws.send(data, { binary: isBinary });
    } else if (msg.type === 'broadcast') {
      const out = Buffer.from(JSON.stringify({ type: 'broadcast', payload: msg.payload }));
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(out, { binary: false });
      }
      ws.send(JSON.stringify({ type: 'broadcastResult', payload: msg.payload, listenCount: wss.clients.size }));
    }
  });
  ws.on('error', () => {});
});

wss.on('listening', () => console.log(`node-ws listening on ws://${host}:${port}/ws`));
const stop = () => {
  for (const client of wss.clients) client.terminate();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
