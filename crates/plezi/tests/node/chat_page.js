// One headless Chromium page on the chat example's own page (`/`, PleziClient from `/client.js`),
// logged in through its login form, for rolling-restart tests: what a person would see. The page's
// messages are read from its DOM (chat lines from others, notice lines), and every text its status
// shows (e.g. "reconnected: nothing missed") is recorded by a MutationObserver.
//
// Chromium is driven by playwright-core, installed for the browser tests next door
// (crates/plezi-dispatch/tests/browser: `npm ci` there, or `cargo xtask setup`), with the same
// launch arguments.
'use strict';
const path = require('path');
const { pathToFileURL } = require('url');

const BROWSER_DIR = path.join(__dirname, '../../../plezi-dispatch/tests/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Logs `user` in on the chat page at `base` and waits until its PleziClient is connected. */
async function open(base, user) {
  const runner = await import(pathToFileURL(path.join(BROWSER_DIR, 'runner.mjs')).href);
  const chromium = await runner.loadChromium(CHROMIUM);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: runner.CHROMIUM_ARGS });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(base + '/');
    await page.fill('#name', user);
    // The form posts to /login, which answers 303 back to `/` with the session cookie.
    await Promise.all([page.waitForNavigation(), page.click('#login button')]);
    await page.waitForFunction(
      (u) => document.getElementById('me').textContent === 'Logged in as ' + u &&
        document.getElementById('status').classList.contains('on'),
      user,
      { timeout: 30000 },
    );
    await page.evaluate(() => {
      const status = document.getElementById('status');
      window.__statuses = [status.textContent];
      new MutationObserver(() => window.__statuses.push(status.textContent)).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    return {
      /** What the page shows: chat lines from others, notices, status texts, whether connected. */
      async seen() {
        const shown = await page.evaluate(() => {
          const texts = (selector) =>
            [...document.querySelectorAll('#messages ' + selector)].map((li) => li.lastChild.textContent);
          return {
            chat: texts('li.chat:not(.mine)'),
            notices: texts('li.notice'),
            statuses: window.__statuses,
            connected: document.getElementById('status').classList.contains('on'),
          };
        });
        return { ...shown, errors };
      },
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

module.exports = { open };
