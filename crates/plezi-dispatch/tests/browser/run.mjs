// Runs the PleziClient scenarios (scenarios.mjs) in headless Chromium against a server this runner starts,
// stops and restarts itself (the reconnect scenario needs a restart).
//
//   node run.mjs                      # against mock-server.mjs (all scenarios, including mock-only ones)
//   node run.mjs --server-cmd 'target/debug/examples/chat' --page / --client /client.js --ws /chat
//
// Options:
//   --server-cmd CMD   shell command that starts the server; it must listen on 127.0.0.1:$PORT
//                      (default: node mock-server.mjs, which also enables --mock)
//   --port N           port passed as PORT (default: a free port)
//   --page PATH        a page of the server to run in (default /); the client is injected if the page lacks it
//   --client PATH      where the server serves the client bundle (default /client.js)
//   --ws PATH          the auto-dispatch controller's path (default /chat)
//   --mock             also run the scenarios that need mock-server.mjs's test-only events
//   --only TEXT        run only scenarios whose name contains TEXT
//   --chromium PATH    browser executable (default /usr/bin/chromium)
//   --startup-ms N     how long the server may take to accept connections (default 60000)
//
// Before the browser starts, the TypeScript declarations are type-checked (tsc on types-usage.ts).
//
// Exit status: 0 all passed, 1 a scenario failed, 2 the environment is incomplete (no playwright-core,
// no Chromium, the server did not start).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CHROMIUM_ARGS, HERE, ServerProcess, SetupError, exitWith, freePort, loadChromium } from './runner.mjs';
import { scenarios } from './scenarios.mjs';

const SCENARIO_TIMEOUT_MS = 90000;

function options() {
  const { values } = parseArgs({
    options: {
      'server-cmd': { type: 'string' },
      port: { type: 'string' },
      page: { type: 'string', default: '/' },
      client: { type: 'string', default: '/client.js' },
      ws: { type: 'string', default: '/chat' },
      mock: { type: 'boolean' },
      only: { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      'startup-ms': { type: 'string', default: '60000' },
    },
  });
  const serverCmd = values['server-cmd'] || 'node ' + JSON.stringify(join(HERE, 'mock-server.mjs'));
  return {
    serverCmd,
    mock: values.mock ?? !values['server-cmd'],
    port: values.port ? Number(values.port) : undefined,
    page: values.page,
    client: values.client,
    ws: values.ws,
    only: values.only,
    chromium: values.chromium,
    startupMs: Number(values['startup-ms']),
  };
}

async function preparePage(context, target) {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const open = async () => {
    errors.length = 0;
    await page.goto(target.origin + target.page);
    if (!(await page.evaluate(() => typeof PleziClient === 'function'))) {
      await page.addScriptTag({ url: target.client });
    }
    await page.addScriptTag({ path: join(HERE, 'harness.js') });
  };
  return { page, errors, open };
}

/** tsc --noEmit on types-usage.ts, which uses the declarations the way docs/client.md does. */
function typeCheckDeclarations() {
  const tsc = join(HERE, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) throw new SetupError('typescript is not installed: run `npm install` in ' + HERE);
  const result = spawnSync(process.execPath, [tsc, '-p', join(HERE, 'tsconfig.json')], { encoding: 'utf8' });
  if (result.status === 0) return null;
  return (result.stdout + result.stderr + (result.error ? String(result.error) : '')).trim();
}

function withTimeout(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what + ' did not finish within ' + ms + ' ms')), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main() {
  const opts = options();
  const chromium = await loadChromium(opts.chromium);
  const port = opts.port || (await freePort());
  const origin = 'http://127.0.0.1:' + port;
  const target = {
    origin,
    page: opts.page,
    client: origin + opts.client,
    wsPath: opts.ws,
    ws: 'ws://127.0.0.1:' + port + opts.ws,
    http: origin + opts.ws,
  };
  const server = new ServerProcess(opts.serverCmd, port, opts.startupMs);
  // Interrupted (e.g. by the cargo test's deadline): do not leave the server running.
  for (const name of ['SIGTERM', 'SIGINT']) {
    process.once(name, () => server.stop().finally(() => process.exit(1)));
  }
  const profile = mkdtempSync(join(tmpdir(), 'plezi-chromium-'));
  let context;
  let failed = 0;
  try {
    await server.start();
    context = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const { page, errors, open } = await preparePage(context, target);
    const selected = scenarios.filter((s) => (opts.mock || !s.mock) && (!opts.only || s.name.includes(opts.only)));
    console.log('# PleziClient in ' + opts.chromium + ' against `' + opts.serverCmd + '` on port ' + port);
    const typeErrors = typeCheckDeclarations();
    if (typeErrors) {
      failed++;
      console.log('# not ok - client/plezi-client.d.ts does not type-check types-usage.ts:');
      console.log(typeErrors.replace(/^/gm, '  # '));
    } else {
      console.log('# ok - client/plezi-client.d.ts type-checks types-usage.ts');
    }
    console.log('1..' + selected.length);
    for (const [index, scenario] of selected.entries()) {
      const started = Date.now();
      try {
        if (!server.child) await server.start();
        await open();
        await withTimeout(scenario.run({ page, target, server }), SCENARIO_TIMEOUT_MS, 'the scenario');
        if (errors.length) throw new Error('uncaught errors in the page: ' + errors.join('; '));
        console.log('ok ' + (index + 1) + ' - ' + scenario.name + ' (' + (Date.now() - started) + ' ms)');
      } catch (err) {
        failed++;
        console.log('not ok ' + (index + 1) + ' - ' + scenario.name);
        console.log(String(err && err.stack ? err.stack : err).replace(/^/gm, '  # '));
      }
    }
    console.log('# ' + (selected.length - failed) + ' passed, ' + failed + ' failed');
    if (failed) console.log('# recent server output:\n' + server.recentOutput().replace(/^/gm, '  # '));
  } finally {
    if (context) await context.close().catch(() => {});
    await server.stop();
    rmSync(profile, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

exitWith(main);
