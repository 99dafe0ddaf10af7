// Page-side helpers for the scenarios in scenarios.mjs (injected into the page by run.mjs).
// Everything waits on events with a deadline; nothing sleeps.
window.__t = {
  /** A promise plus its resolve function. */
  deferred() {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    return { promise, resolve };
  },

  /** Rejects with "timed out waiting for <what>" after `ms`. */
  within(promise, ms, what) {
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms waiting for ' + what)), ms);
    });
    return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
  },

  /** A client connected to `url`, after its onopen ran. */
  async open(url, autoreconnect) {
    const client = new PleziClient(url, autoreconnect);
    const opened = __t.deferred();
    client.onopen = () => opened.resolve();
    await __t.within(opened.promise, 10000, 'onopen of ' + url);
    return client;
  },

  /** Closes `client` and waits for its onclose. */
  async shut(client) {
    const closed = __t.deferred();
    client.onclose = () => closed.resolve();
    client.close();
    await __t.within(closed.promise, 10000, 'onclose');
  },

  /** Throws unless `condition`. */
  check(condition, message) {
    if (!condition) throw new Error(message);
  },
};
