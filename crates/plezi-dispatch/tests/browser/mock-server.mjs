// A tiny stand-in for a plezi auto-dispatch server, so the client can be tested without the Rust server.
// It speaks the protocol of docs/client.md over WebSocket (any path) and AJAJ (POST to any path), with the
// events of the chat example that the browser tests use, plus two test-only events:
//   echo       -> the message back, unchanged (WebSocket and AJAJ)
//   blackhole  -> over WebSocket: dropped, no _ack_ (to provoke a timeout); over AJAJ: echoed
//   say        -> writes `payload` (a string) as is: lets a test send any text to the client
//   whereami   -> {"event":"whereami","url":<the path and query the connection was opened with>}
//   acks       -> {"event":"acks","mids":[<the _mid_ of every _ack_ this connection received>]}
//   _ack_      -> from a connection opened with _ack_=1 and with a string _mid_: recorded, no reply
//   anything else, and reserved names -> {"event":"err","status":404,"result":"not found","request":...}
// Non-JSON, non-object and binary WebSocket messages close the connection with 1003, like plezi.
//
// GET /            a blank test page that loads /client.js
// GET /client.js   the generated bundle (read from disk on every request, so it is always current)
//
// Usage: PORT=8080 node mock-server.mjs   (prints "listening on <port>" once ready; SIGTERM stops it)

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const BUNDLE = fileURLToPath(new URL('../../client/plezi-client.js', import.meta.url));
const PleziClient = createRequire(import.meta.url)(BUNDLE); // the generated constants, as the client sees them
const P = PleziClient.PROTOCOL;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>PleziClient test page</title>
<script src="/client.js"></script></head><body><p>PleziClient mock server</p></body></html>`;

/** The reply to one event (undefined: nothing), shared by WebSocket and AJAJ. */
function handle(message, source) {
  const name = message[P.EVENT_KEY];
  if (typeof name === 'string' && !PleziClient.isReserved(name)) {
    if (name === 'echo') return JSON.stringify(message);
    if (name === 'blackhole' && source === 'ajaj') return JSON.stringify(message);
    if (name === 'say' && source === 'ws') return String(message.payload);
  }
  return JSON.stringify({
    [P.EVENT_KEY]: P.ERROR_EVENT,
    [P.ERROR_STATUS_KEY]: P.NOT_FOUND_STATUS,
    [P.ERROR_RESULT_KEY]: P.NOT_FOUND_RESULT,
    [P.ERROR_REQUEST_KEY]: message,
  });
}

function onWebSocketMessage(socket, data, isBinary) {
  let message;
  try {
    message = isBinary ? undefined : JSON.parse(data.toString('utf8'));
  } catch (_) {
    message = undefined;
  }
  if (!message || typeof message !== 'object' || Array.isArray(message)) {
    return socket.close(P.CLOSE_UNSUPPORTED_DATA, 'auto-dispatch takes JSON objects');
  }
  if (message[P.EVENT_KEY] === 'blackhole') return; // dropped: no _ack_, no reply
  const acked = message[P.MESSAGE_ID_KEY];
  if (message[P.EVENT_KEY] === P.ACK_EVENT && typeof acked === 'string' && socket.acksMail) {
    return socket.acks.push(acked); // like plezi: an acknowledgement is never answered
  }
  if (message[P.EVENT_KEY] === 'acks') {
    return socket.send(JSON.stringify({ [P.EVENT_KEY]: 'acks', mids: socket.acks }));
  }
  if (message[P.EVENT_KEY] === 'whereami') {
    return socket.send(JSON.stringify({ [P.EVENT_KEY]: 'whereami', url: socket.openedAt }));
  }
  if (P.EID_KEY in message) {
    socket.send(JSON.stringify({ [P.EVENT_KEY]: P.ACK_EVENT, [P.EID_KEY]: message[P.EID_KEY] }));
  }
  const reply = handle(message, 'ws');
  if (reply !== undefined) socket.send(reply);
}

function onAjaj(request, response, body) {
  let params;
  try {
    params = JSON.parse(body);
  } catch (_) {
    params = undefined;
  }
  const type = String(request.headers['content-type'] || '');
  if (!type.startsWith(P.AJAJ_CONTENT_TYPE) || !params || typeof params !== 'object') {
    response.writeHead(400, { 'content-type': 'text/plain' });
    return response.end('expected a JSON object body with Content-Type: application/json');
  }
  // Like plezi: the event comes from the `id` parameter.
  const message = Object.assign({}, params, { [P.EVENT_KEY]: params[P.AJAJ_EVENT_PARAM] });
  const reply = handle(message, 'ajaj');
  const status = JSON.parse(reply)[P.EVENT_KEY] === P.ERROR_EVENT ? P.NOT_FOUND_STATUS : 200;
  response.writeHead(status, { 'content-type': P.AJAJ_CONTENT_TYPE });
  response.end(reply);
}

const server = createServer((request, response) => {
  if (request.method === 'POST') {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => onAjaj(request, response, Buffer.concat(chunks).toString('utf8')));
    return;
  }
  if (request.url === '/client.js') {
    response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
    return response.end(readFileSync(BUNDLE));
  }
  if (request.url === '/' || request.url.startsWith('/?')) {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return response.end(PAGE);
  }
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('not found');
});

const sockets = new WebSocketServer({ server });
sockets.on('connection', (socket, request) => {
  socket.openedAt = request.url;
  socket.acksMail = new URL(request.url, 'http://x').searchParams.get(P.ACK_PARAM) === '1';
  socket.acks = [];
  socket.on('message', (data, isBinary) => onWebSocketMessage(socket, data, isBinary));
});

const port = Number(process.env.PORT || 0);
server.listen(port, '127.0.0.1', () => console.log('listening on ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
