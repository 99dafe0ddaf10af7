// Type-checked by run.mjs with `tsc --noEmit`: the declarations in client/plezi-client.d.ts describe the
// documented API (docs/client.md). This file is never run.
import PleziClient = require('../../client/plezi-client');

const client = new PleziClient(PleziClient.origin + '/chat', true);
client.reconnect_interval = 100;
client.emit_timeout = 3000;
client.onopen = function (e) {
  this.emit({ event: 'chat', message: 'hi' });
};
client.onclose = (e: CloseEvent) => console.log(e.code);
client.chat = function (event: PleziClient.Event) {
  console.log(event.from, event.message);
};
client.unknown = (message) => console.log(message);
client.ontimeout = function (event, c) {
  console.log(event.event, c.url, this.connected);
};
const sent: boolean = client.emit(
  { event: 'echo' },
  (event, c) => console.log(event._EID_, c.readyState()),
  (event) => console.log('timed out', event),
  500
);
client.ajaj.add.token = 'abc';
client.ajaj.auto = true;
client.ajaj.emit({ event: 'poll' }, (event, c, status: number) => console.log(status));
const eid: string = PleziClient.PROTOCOL.EID_KEY;
const timeout: 5000 = PleziClient.PROTOCOL.EMIT_TIMEOUT_MS;
const reserved: PleziClient.ReservedName = 'on_open';
const isReserved: boolean = PleziClient.isReserved('notify');
const version: string = PleziClient.version;
const delay: number = PleziClient.backoffDelay(3, 200, 10000);
client.sendraw('raw');
client.reconnect();
client.close();
console.log(sent, eid, timeout, reserved, isReserved, version, delay);

// @ts-expect-error emit needs an event object
client.emit('chat');
// @ts-expect-error not a reserved name
const notReserved: PleziClient.ReservedName = 'notify';

// A client typed by an application's generated events module (docs/client.md#typed-events).
interface Emits {
  chat: { message: string };
  ping: PleziClient.Fields;
}
interface Receives {
  chat: { from: string; message: string } & { event: 'chat' };
}
const typed: PleziClient.Typed<Emits, Receives> = new PleziClient('/chat', true);
typed.emit({ event: 'chat', message: 'hi' }, (e) => console.log(e.message.length), null, 1000);
typed.chat = function (e) {
  console.log(e.from.length, e.event === 'chat', this.connected);
};
typed.err = (e) => console.log(e.status + 1, e.result.length);
typed.unknown = (m) => console.log(m);
typed.ajaj.emit({ event: 'ping', anything: 1 }, (e, c, status: number) => console.log(status));
const open: boolean = typed.connected && typed.reconnect();
// @ts-expect-error a renamed field
typed.emit({ event: 'chat', text: 'hi' });
// @ts-expect-error a field of the wrong type
typed.emit({ event: 'chat', message: 42 });
// @ts-expect-error an event the server does not take
typed.emit({ event: 'nope' });
// @ts-expect-error a field the reply does not have
typed.chat = (e) => console.log(e.text);
