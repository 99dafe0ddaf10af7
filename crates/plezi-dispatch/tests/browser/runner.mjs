// What the browser test runners (run.mjs, cross-origin.mjs) share: the setup error that exits 2,
// free ports, the server under test as a process group started with PORT set, Chromium through
// playwright-core, and the exit status of a runner's main().

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The environment is incomplete (no playwright-core, no Chromium, the server did not start): exit 2. */
export class SetupError extends Error {}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The server under test: a shell command in its own process group, started with PORT set. */
export class ServerProcess {
  constructor(command, port, startupMs) {
    this.command = command;
    this.port = port;
    this.startupMs = startupMs;
    this.child = null;
    this.output = [];
  }

  async start() {
    const child = spawn('sh', ['-c', this.command], {
      cwd: HERE,
      env: { ...process.env, PORT: String(this.port), HOST: '127.0.0.1' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal || code)));
    const keep = (chunk) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const deadline = Date.now() + this.startupMs;
    let exitedWith;
    child.exited.then((status) => (exitedWith = status));
    while (!(await accepts(this.port))) {
      if (exitedWith !== undefined) throw new SetupError('the server exited (' + exitedWith + ') before accepting connections');
      if (Date.now() > deadline) throw new SetupError('the server did not accept connections within ' + this.startupMs + ' ms');
      await new Promise((resolve) => setTimeout(resolve, 50)); // polling with a deadline
    }
  }

  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const signal = (name) => {
      try {
        process.kill(-child.pid, name);
      } catch (_) {
        // already gone
      }
    };
    signal('SIGTERM');
    const killed = setTimeout(() => signal('SIGKILL'), 5000);
    await child.exited;
    clearTimeout(killed);
    this.child = null;
  }

  recentOutput() {
    return this.output.join('').split('\n').slice(-30).join('\n');
  }
}

/** playwright-core's Chromium, driving the browser at `path`. */
export async function loadChromium(path) {
  if (!existsSync(path)) {
    throw new SetupError(path + ' not found: install Chromium (apt-get install -y chromium) or pass --chromium');
  }
  try {
    return (await import('playwright-core')).chromium;
  } catch (err) {
    throw new SetupError('playwright-core is not installed: run `npm install` in ' + HERE + ' (' + err.message + ')');
  }
}

/** Runs a runner's main() and exits: its status, 2 for a setup error, 1 for anything else thrown. */
export function exitWith(main) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof SetupError ? 'setup error: ' + err.message : err);
      process.exit(err instanceof SetupError ? 2 : 1);
    }
  );
}
