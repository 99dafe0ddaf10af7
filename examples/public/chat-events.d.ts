// Generated from the controllers' event tables by plezi (`TypeScript`, docs/client.md); do not edit.

declare namespace PleziClient {
  type Fields = import("plezi-client").Fields;
  type Event = import("plezi-client").Event;
  type Typed<E, R, A> = import("plezi-client").Typed<E, R, A>;
}

/**
 * `left`: a logged-in connection closed.
 */
export type Gone = { from: string, };

/**
 * `here`: tell connection `to` who we are.
 */
export type HereTo = { to: string, };

/**
 * A `chat` or `dm` line as its receivers get it.
 */
export type Line = { 
/**
 * The sender's connection UUID.
 */
from: string, message: string, };

/**
 * `notice`: a notice left for this user.
 */
export type Notice = { message: string, };

/**
 * `notify`: a notice for a user, now or when they next connect logged in.
 */
export type NoticeFor = { user: string, message: string, };

/**
 * `joined` and `here`: a logged-in connection and its user.
 */
export type Presence = { user: string, from: string, };

/**
 * `chat`: a line for everyone.
 */
export type Say = { message: string, };

/**
 * `dm`: a line for one connection (a `to` that is no connection UUID gets `err` 400).
 */
export type Whisper = { to: string, message: string, };

/**
 * `whoami`'s reply.
 */
export type WhoAmI = { 
/**
 * This connection's UUID.
 */
id: string, 
/**
 * The session's user; null for a guest.
 */
user: string | null, };

/** The events a WebSocket client may emit to `Chat`: event name → payload (the fields beside `event`). */
export interface ChatEmits {
  "chat": Say;
  "dm": Whisper;
  "echo": PleziClient.Fields;
  "here": HereTo;
  "notify": NoticeFor;
  "whoami": PleziClient.Fields;
}

/** The events an AJAJ request (`client.ajaj.emit`) may call on `Chat`. */
export interface ChatAjaj {
  "echo": PleziClient.Fields;
  "notify": NoticeFor;
}

/** What `Chat` sends a client, by event name: the handler's reply or the delivery it shows (`client.<event>` receives it). */
export interface ChatReceives {
  "chat": Line & { event: "chat" };
  "dm": Line & { event: "dm" };
  "echo": PleziClient.Event;
  "here": Presence & { event: "here" };
  "joined": Presence & { event: "joined" };
  "left": Gone & { event: "left" };
  "notice": Notice & { event: "notice" };
  "whoami": WhoAmI & { event: "whoami" };
}

/** A `PleziClient` connected to `Chat`, typed: `emit`, `ajaj.emit` and the event handlers. */
export type ChatClient = PleziClient.Typed<ChatEmits, ChatReceives, ChatAjaj>;
