// @ts-check
// The chat page: PleziClient (served at /client.js) connected to the auto-dispatch controller at /chat.
// Events are documented in examples/chat.rs; their types are generated from its handlers into
// chat-events.d.ts (`cargo xtask codegen`), and the tests type-check this page against them (tsc,
// examples/tsconfig.json): no build step. Text is always inserted with textContent (no HTML).
(function () {
  'use strict';
  /** @param {string} id */
  const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  /** @param {string} id */
  const input = (id) => /** @type {HTMLInputElement} */ ($(id));
  /** @type {import('./chat-events').ChatClient} */
  const client = new PleziClient(PleziClient.origin + '/chat', true);
  /** @type {Map<string, string>} connection UUID -> user name */
  const people = new Map();
  /** @type {{id: string | null, user: string | null}} */
  const me = { id: null, user: null };
  /** @type {string | null} connection UUID of the selected person, or null for everyone */
  let dmTarget = null;

  /** @param {string} id */
  function nameOf(id) {
    return people.get(id) || 'guest ' + String(id).slice(17, 21) + '.' + String(id).slice(22, 30);
  }

  /**
   * @param {string} kind
   * @param {string | null} who
   * @param {string} text
   */
  function line(kind, who, text) {
    const li = document.createElement('li');
    li.className = kind;
    if (who) {
      const span = document.createElement('span');
      span.className = 'who';
      span.textContent = who;
      li.appendChild(span);
    }
    li.appendChild(document.createTextNode(text));
    const list = $('messages');
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.appendChild(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /**
   * @param {boolean} on
   * @param {string} text
   */
  function status(on, text) {
    const el = $('status');
    el.className = 'status ' + (on ? 'on' : 'off');
    el.textContent = text;
  }

  /** @param {string | null} id */
  function selectTarget(id) {
    dmTarget = id && id !== dmTarget && id !== me.id ? id : null;
    $('to').hidden = !dmTarget;
    $('to').textContent = dmTarget ? 'to ' + nameOf(dmTarget) : '';
    input('text').placeholder = dmTarget ? 'Private message' : 'Say something to everyone';
    renderPeople();
  }

  // A rolling restart brings hundreds of joined/left at once: the list is drawn at most once a frame.
  let drawPending = false;
  function renderPeople() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      drawPeople();
    });
  }

  function drawPeople() {
    const list = $('people');
    list.textContent = '';
    const sorted = [...people.entries()].sort((a, b) => a[1].localeCompare(b[1]));
    for (const [id, user] of sorted) {
      const li = document.createElement('li');
      li.textContent = id === me.id ? user + ' (you)' : user;
      li.title = id;
      if (id === me.id) li.className = 'me';
      else if (id === dmTarget) li.className = 'selected';
      li.addEventListener('click', () => selectTarget(id));
      list.appendChild(li);
    }
    if (dmTarget && !people.has(dmTarget)) selectTarget(null);
  }

  // ---- connection ----
  client.onopen = function () {
    status(true, 'connected');
    people.clear();
    renderPeople();
    this.emit({ event: 'whoami' }); // who the session cookie says we are (null: a guest)
  };
  client.onclose = function () {
    status(false, this.autoreconnect ? 'reconnecting…' : 'closed');
  };
  // After a reconnect: were the messages sent meanwhile recovered?
  client.onrecovery = function (streams) {
    const missed = Object.keys(streams).some((s) => streams[s] !== true);
    status(true, missed ? 'reconnected: some messages were missed' : 'reconnected: nothing missed');
  };

  // ---- events from the server ----
  client.whoami = (e) => {
    me.id = e.id;
    me.user = e.user || null;
    $('login').hidden = !!me.user;
    $('demo').hidden = !!me.user;
    $('logout').hidden = !me.user;
    $('me').textContent = me.user ? 'Logged in as ' + me.user : '';
    if (me.user) {
      people.set(me.id, me.user);
      renderPeople();
      line('system', null, 'You are logged in as ' + me.user + '.');
    } else {
      line('system', null, 'You are a guest: log in to receive notices.');
    }
  };
  client.joined = (e) => {
    people.set(e.from, e.user);
    renderPeople();
    line('system', null, e.user + ' is here.');
    if (me.user) client.emit({ event: 'here', to: e.from }); // tell the newcomer about us
  };
  client.here = (e) => {
    people.set(e.from, e.user);
    renderPeople();
  };
  client.left = (e) => {
    const user = people.get(e.from);
    people.delete(e.from);
    renderPeople();
    if (user) line('system', null, user + ' left.');
  };
  client.chat = (e) => line('chat', nameOf(e.from) + ':', String(e.message));
  client.dm = (e) => line('dm', nameOf(e.from) + ' (private):', String(e.message));
  client.notice = (e) => line('notice', 'Notice:', String(e.message));
  client.echo = (e) => line('system', null, 'echo: ' + JSON.stringify(e));
  client.err = (e) => {
    const what = e.request && e.request.event ? e.request.event : 'request';
    const why = e.status === 404 && what === 'dm' ? 'that person is no longer reachable' : e.result;
    line('error', 'Error:', what + ' failed (' + e.status + '): ' + why);
  };
  client.unknown = (e) => line('system', null, 'unhandled: ' + (typeof e === 'string' ? e : JSON.stringify(e)));

  // ---- forms ----
  // Log in and log out are plain form posts (POST /login, POST /logout): the server sets or
  // deletes the session cookie and sends the browser back to this page, which connects again.

  $('say').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const message = input('text').value.trim();
    if (!message) return;
    const failed = () => line('error', 'Error:', 'not sent (no connection): ' + message);
    if (dmTarget) {
      client.emit({ event: 'dm', to: dmTarget, message }, null, failed);
      line('dm mine', 'You to ' + nameOf(dmTarget) + ':', message);
    } else {
      client.emit({ event: 'chat', message }, null, failed);
      line('chat mine', (me.user || 'You') + ':', message);
    }
    input('text').value = '';
  });

  $('notify').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = input('notify-user').value.trim();
    const message = input('notify-text').value.trim();
    if (!user || !message) return;
    client.emit({ event: 'notify', user, message });
    line('system', null, 'Notice left for ' + user + '.');
    input('notify-text').value = '';
  });
})();
