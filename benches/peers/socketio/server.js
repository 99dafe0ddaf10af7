// Chat fan-out peer: Socket.IO 4 doing what plezi's examples/chat.rs does with its `chat` event.
//   "chat" {message}  -> every *other* socket gets "chat" {from: <socket id>, message}
//                        (socket.broadcast.emit); then the sender's acknowledgement, if it asked for one
// WebSocket transport only (no long-polling upgrade dance), no per-message compression, like the other
// peers. PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line.
// Driven by `plezi-load socketio` (benches/src/socketio.rs); see benches/run-dispatch.sh.
'use strict';
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const http = createServer((request, response) => {
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('Socket.IO chat peer: connect to /socket.io/?EIO=4&transport=websocket\n');
});
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  socket.on('chat', (msg, ack) => {
    socket.broadcast.emit('chat', { from: socket.id, message: msg && msg.message });
    if (typeof ack === 'function') ack();
  });
});

http.listen(port, host, () => console.log(`socketio listening on ws://${host}:${port}/socket.io/`));
const stop = () => {
  io.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
