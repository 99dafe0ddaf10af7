// Declarations for the PleziClient bundle: a global `PleziClient` in scripts, `module.exports` under
// CommonJS (`import PleziClient = require("./plezi-client")`). See docs/client.md.

export = PleziClient;
export as namespace PleziClient;

/** A connection to a plezi auto-dispatch controller, plus AJAJ (the same events over HTTP). */
declare class PleziClient {
  /**
   * Opens a WebSocket connection at once.
   * @param url ws(s)://, http(s):// or a path on this page's server ("/chat"); default: this page's URL.
   * @param autoreconnect reconnect (with exponential backoff and jitter) whenever the connection is lost.
   */
  constructor(url?: string, autoreconnect?: boolean);

  /** "ws://host:port" of the current page ("wss://" on https pages); undefined outside a web page. */
  static readonly origin: string | undefined;
  /** The client's version: the version of the plezi server that serves it. */
  static readonly version: string;
  /** Protocol constants, generated from the same source as the server's. */
  static readonly PROTOCOL: PleziClient.Protocol;
  /** Reserved event names (besides every name starting with `PROTOCOL.RESERVED_PREFIX`). */
  static readonly RESERVED_NAMES: ReadonlyArray<PleziClient.ReservedName>;
  /** Whether the server would refuse `name` as an event name (it answers `err` 404 instead). */
  static isReserved(name: string): boolean;
  /**
   * The wait in ms before reconnect attempt `attempt` (0 for the first): uniformly random in
   * [c / 2, c] where c = min(max, interval * 2^attempt).
   */
  static backoffDelay(attempt: number, interval: number, max: number, random?: () => number): number;

  /** The WebSocket URL. */
  url: string;
  /** The current WebSocket (replaced on every reconnection). */
  ws: WebSocket | null;
  /** True while the WebSocket is open. */
  connected: boolean;
  /** Reconnect automatically when the connection is lost (close() turns it off). */
  autoreconnect: boolean;
  /** First reconnect wait in ms (default 200); doubles after every failed attempt. */
  reconnect_interval: number;
  /** Cap of the reconnect wait in ms (default 10000). */
  reconnect_max_interval: number;
  /** Default acknowledgement timeout of emit() in ms; false (default): 5000 ms, and only when a callback is given. */
  emit_timeout: number | false;
  /** Log every received message to the console. */
  log_events: boolean;
  /** AJAJ: the same events over HTTP POST. */
  readonly ajaj: PleziClient.Ajaj;

  onopen: ((this: PleziClient, event: Event) => void) | null;
  onclose: ((this: PleziClient, event: CloseEvent) => void) | null;
  onerror: ((this: PleziClient, event: Event) => void) | null;
  /** Called when an emitted event gets no `_ack_` in time and emit() got no timeout_callback. */
  ontimeout: PleziClient.EmitCallback | null;
  /**
   * After a reconnect, for the streams that keep a history: `true` when the messages missed while
   * away were delivered (before any new one), `false` when the history no longer covers the gap
   * (reload the state).
   */
  onrecovery: ((this: PleziClient, streams: { [stream: string]: boolean }) => void) | null;
  /**
   * Receives messages no handler takes: JSON without an `event` name, events with no handler on the
   * client, and non-JSON data (as the raw string, Blob or ArrayBuffer).
   */
  unknown: ((this: PleziClient, message: unknown) => void) | null;

  /**
   * Sends `event` as JSON. With a timeout (argument, else `emit_timeout`, else 5000 ms when a callback is
   * given) an `_EID_` is attached; the `_ack_` calls `callback`, no `_ack_` in time calls `timeout_callback`
   * (or `ontimeout`), after an AJAJ retry when `ajaj.auto` is set.
   * @returns whether the message was handed to an open WebSocket.
   */
  emit(
    event: PleziClient.Event,
    callback?: PleziClient.EmitCallback,
    timeout_callback?: PleziClient.EmitCallback,
    timeout?: number
  ): boolean;
  /** Sends data as is; false when the WebSocket is not open. */
  sendraw(data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean;
  /** Opens a new connection unless one is open or opening; returns whether one was started. */
  reconnect(): boolean;
  /** Closes the connection and stops automatic reconnection. */
  close(code?: number, reason?: string): void;
  /** The WebSocket's readyState: 0 connecting, 1 open, 2 closing, 3 closed. */
  readyState(): number;

  /** Event handlers: `client.chat = function (event) { ... }` handles `{"event": "chat", ...}`. */
  [event: string]: any;
}

declare namespace PleziClient {
  /** A message of the auto-dispatch protocol: a JSON object whose `event` names the handler. */
  interface Event {
    event: string;
    [field: string]: any;
  }

  /** Callback of emit() and ontimeout: the emitted event and the client (also `this`). */
  type EmitCallback = (this: PleziClient, event: Event, client: PleziClient) => void;

  /** AJAJ: events POSTed as JSON; a 200 reply is dispatched like a WebSocket message. */
  interface Ajaj {
    /** The client whose handlers receive the replies. */
    readonly client: PleziClient;
    /** Where events are POSTed: the client's URL with ws(s):// turned into http(s)://. */
    url: string;
    /** Fields merged into every AJAJ event (the event's own fields win). */
    add: { [field: string]: any };
    /** Retry emits that got no `_ack_` in time over AJAJ before calling the timeout callback. */
    auto: boolean;
    /**
     * POSTs `event` with `id` = its event name. `callback` runs only when the request fails: a network
     * error (status 0) or a status other than 200.
     */
    emit(
      event: Event,
      callback?: (this: PleziClient, event: Event, client: PleziClient, status: number) => void
    ): void;
  }

  /** An event's fields beside `event`, for a handler that takes no typed payload. */
  type Fields = { [field: string]: any };

  /** The protocol's `err` answer (docs/protocol.md#err-echo; a 400 names the field: #typed-payloads). */
  interface ErrorEvent {
    event: 'err';
    /** An HTTP-like status: 400 a payload of the wrong shape, 404 an unknown event... */
    status: number;
    /** What went wrong; for a 400, the field path (`bad payload at \`message\`: ...`). */
    result: string;
    /** The message that caused it. */
    request: any;
  }

  /** The named members of `T`, without its index signature. */
  type Known<T> = { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

  /** An emitted event: `event` names it, the rest is its payload. */
  type Emitted<Emits, K extends keyof Emits> = { event: K } & Emits[K];

  /** Callback of a typed emit(): the emitted event and the client (also `this`). */
  type TypedCallback<E> = (this: PleziClient, event: E, client: PleziClient) => void;

  /**
   * A PleziClient typed by an application's generated module (docs/client.md#typed-events):
   * `emit` takes the events of `Emits` with their payloads, `ajaj.emit` those of `Ajaj`, and
   * `client.<event> = (e) => ...` receives the type `Receives` gives that event. A typed client
   * is a plain PleziClient: `const client: ChatClient = new PleziClient(url, true)`.
   */
  type Typed<Emits, Receives, Ajaj = Emits> = Omit<Known<PleziClient>, 'emit' | 'ajaj'> & {
    emit<K extends keyof Emits & string>(
      event: Emitted<Emits, K>,
      callback?: TypedCallback<Emitted<Emits, K>> | null,
      timeout_callback?: TypedCallback<Emitted<Emits, K>> | null,
      timeout?: number
    ): boolean;
    readonly ajaj: TypedAjaj<Ajaj>;
    /** The server's `err` answers (else they go to `unknown`). */
    err?: ((this: PleziClient, event: ErrorEvent) => void) | null;
  } & { [K in keyof Receives]?: ((this: PleziClient, event: Receives[K]) => void) | null };

  /** `client.ajaj` of a typed client: `emit` takes the events of `Emits`. */
  type TypedAjaj<Emits> = Omit<Ajaj, 'emit'> & {
    emit<K extends keyof Emits & string>(
      event: Emitted<Emits, K>,
      callback?: ((this: PleziClient, event: Emitted<Emits, K>, client: PleziClient, status: number) => void) | null
    ): void;
  };

  // @codegen protocol-constants
}
