// One headless Chromium page on the chat example's own page (`/`, PleziClient from `/client.js`),
// logged in through its login form, for rolling-restart tests: what a person would see. Observers in
// the page report each line it shows (chat lines from others, notice lines) and every text its status
// shows (e.g. "reconnected: nothing missed") as they appear.
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
    // The page pushes what it shows as it shows it, so a report never waits for a busy page.
    const seen = { chat: [], notices: [], statuses: [], connected: false };
    await page.exposeFunction('__shown', (kind, text, on) => {
      if (kind === 'chat') seen.chat.push(text);
      else if (kind === 'notice') seen.notices.push(text);
      else {
        seen.statuses.push(text);
        seen.connected = on;
      }
    });
    await page.evaluate(() => {
      const status = document.getElementById('status');
      const showStatus = () => window.__shown('status', status.textContent, status.classList.contains('on'));
      const showLine = (li) => {
        if (li.classList.contains('chat') && !li.classList.contains('mine')) window.__shown('chat', li.lastChild.textContent);
        else if (li.classList.contains('notice')) window.__shown('notice', li.lastChild.textContent);
      };
      const messages = document.getElementById('messages');
      showStatus();
      messages.querySelectorAll('li').forEach(showLine);
      new MutationObserver(showStatus).observe(status, { childList: true, characterData: true, subtree: true, attributes: true });
      new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach(showLine))).observe(messages, {
        childList: true,
      });
    });
    return {
      /** What the page showed: chat lines from others, notices, status texts, whether connected. */
      seen: () => ({ ...seen, errors }),
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

module.exports = { open };
