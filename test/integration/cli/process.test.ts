// The CLI as a real process (node bin/aether.js … from dist/): `gateway serve --json`,
// `gateway token create`, exit codes and Ctrl-C through run(), and the embedded gateway
// auto-start under a temp AETHER_HOME (one gateway even when CLIs race; always stopped).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { stopEmbeddedGateway } from '../../../src/cli/embedded-gateway.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const BIN = path.join(ROOT, 'bin', 'aether.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Build dist/ only when it is missing or older than src/ (global setup usually did it already). */
function ensureBuilt(): void {
  const marker = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= newest(path.join(ROOT, 'src'))) return;
  execFileSyncTsc();
}
function execFileSyncTsc(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AETHER_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

async function aether(args: string[], env: Record<string, string>, stdin?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: cleanEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** First stdout line of a spawned process. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('no output within 20 s')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        resolve(buf.slice(0, i));
      }
    });
    child.once('exit', (c) => reject(new Error(`exited ${c} before printing`)));
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (c) => resolve(c));
  });
}

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ensureBuilt();
  tmp = await makeTempDir('aether-cli-proc-');
}, 180_000);
afterAll(async () => {
  await tmp?.cleanup();
});

describe('aether gateway serve / token create (real process)', () => {
  let serve: ChildProcess | undefined;
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      serve.kill('SIGKILL');
      await exitOf(serve);
    }
  });

  it('token create, then serve --json prints one JSON line; the tenant token works; SIGTERM exits 0', async () => {
    const data = path.join(tmp.dir, 'gw-data');
    const tok = await aether(['gateway', 'token', 'create', '--data', data, '--tenant', 'acme', '--json'], { AETHER_HOME: tmp.dir });
    expect(tok.code).toBe(0);
    const { token: acmeToken } = JSON.parse(tok.stdout);
    expect(acmeToken).toBeTruthy();

    serve = spawn(process.execPath, [BIN, 'gateway', 'serve', '--data', data, '--port', '0', '--json'], { env: cleanEnv({ AETHER_HOME: tmp.dir, AETHER_LOG: 'info' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    serve.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await firstLine(serve);
    const { url, token } = JSON.parse(line);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(token).toBeTruthy();

    const res = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${acmeToken}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);

    // The CLI as a client of that process.
    const list = await aether(['session', 'list', '--json'], { AETHER_HOME: tmp.dir, AETHER_URL: url, AETHER_TOKEN: acmeToken });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).sessions).toHaveLength(1);

    serve.kill('SIGTERM');
    expect(await exitOf(serve)).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('gateway listening');
    expect(stderr).not.toContain(token);
  });
});

describe('exit codes and interrupts (real process)', () => {
  it('usage → 2, unreachable → 6', async () => {
    expect((await aether(['bogus'], { AETHER_HOME: tmp.dir })).code).toBe(2);
    const down = await aether(['session', 'show', 'sess_x'], { AETHER_HOME: tmp.dir, AETHER_URL: 'http://127.0.0.1:1', AETHER_TOKEN: 't' });
    expect(down.code).toBe(6);
    expect(down.stderr).toMatch(/^aether: /);
  });

  it('bus tail stops cleanly on SIGINT (exit 0)', async () => {
    const data = path.join(tmp.dir, 'tail-data');
    const gwProc = spawn(process.execPath, [BIN, 'gateway', 'serve', '--data', data, '--port', '0', '--json'], { env: cleanEnv({ AETHER_HOME: tmp.dir, AETHER_LOG: 'warn' }), stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const { url, token } = JSON.parse(await firstLine(gwProc));
      const env = { AETHER_HOME: tmp.dir, AETHER_URL: url, AETHER_TOKEN: token };
      const sess = JSON.parse((await aether(['session', 'create', '--json'], env)).stdout).id as string;
      const tail = spawn(process.execPath, [BIN, 'bus', 'tail', '--json', '--replay', '5', '--session', sess], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((resolve) => tail.stderr!.on('data', (d: Buffer) => d.toString().includes('Ctrl-C') && resolve()));
      expect((await aether(['bus', 'publish', 'ping', '{"n":1}', '--session', sess], env)).code).toBe(0);
      const line = await firstLine(tail);
      expect(JSON.parse(line)).toMatchObject({ topic: 'ping', text: '{"n":1}' });
      tail.kill('SIGINT');
      expect(await exitOf(tail)).toBe(0);
    } finally {
      gwProc.kill('SIGTERM');
      await exitOf(gwProc);
    }
  });
});

describe('embedded gateway (real processes, AETHER_HOME in a temp dir)', () => {
  let home: string;
  beforeAll(async () => {
    home = path.join(tmp.dir, 'home');
    await fsp.mkdir(home);
  });
  afterAll(async () => {
    // Always stop what the tests started, even after a failure.
    await stopEmbeddedGateway(home).catch(() => undefined);
    await aether(['gateway', 'stop'], { AETHER_HOME: home }).catch(() => undefined);
  });

  const gatewayPids = async (): Promise<number[]> => {
    const dataDir = path.join(home, 'gateway', 'data');
    const pids: number[] = [];
    for (const d of await fsp.readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = (await fsp.readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0');
        if (cmd.includes('serve') && cmd.includes(dataDir)) pids.push(Number(d));
      } catch {
        // Process gone.
      }
    }
    return pids;
  };

  it('starts on first use, records state (0600, no token), reports status, and stops', async () => {
    const env = { AETHER_HOME: home };
    const before = await aether(['gateway', 'status', '--json'], env);
    expect(JSON.parse(before.stdout)).toMatchObject({ mode: 'embedded', running: false });

    const created = await aether(['session', 'create', '--json'], env);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).id).toMatch(/^sess_/);
    expect(created.stderr).toContain('started the embedded gateway');

    const statePath = path.join(home, 'gateway', 'state.json');
    const st = JSON.parse(await fsp.readFile(statePath, 'utf8'));
    expect(Object.keys(st).sort()).toEqual(['dataDir', 'pid', 'port', 'startedAt', 'url', 'version']);
    expect((await fsp.stat(statePath)).mode & 0o777).toBe(0o600);
    const adminToken = (await fsp.readFile(path.join(home, 'gateway', 'data', 'admin-token'), 'utf8')).trim();
    expect(await fsp.readFile(statePath, 'utf8')).not.toContain(adminToken);
    expect((await fsp.stat(path.join(home, 'gateway', 'data', 'admin-token'))).mode & 0o777).toBe(0o600);

    // Second use attaches to the same gateway.
    const again = await aether(['session', 'list', '--json'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('started the embedded gateway');
    expect(JSON.parse(again.stdout).sessions).toHaveLength(1);

    const status = await aether(['gateway', 'status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'embedded', running: true, pid: st.pid, url: st.url, sessions: 1 });
    expect(status.stdout).not.toContain(adminToken);
    expect(await fsp.readFile(path.join(home, 'logs', 'gateway.log'), 'utf8')).toContain('gateway listening');

    const stop = await aether(['gateway', 'stop', '--json'], env);
    expect(JSON.parse(stop.stdout)).toEqual({ stopped: true, pid: st.pid });
    expect(await gatewayPids()).toEqual([]);
    await expect(fsp.stat(statePath)).rejects.toThrow();
  });

  it('CLIs racing to start it end up sharing one gateway', async () => {
    const env = { AETHER_HOME: home };
    const runs = await Promise.all([0, 1, 2, 3].map(() => aether(['session', 'create', '--json'], env)));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs.filter((r) => r.stderr.includes('started the embedded gateway'))).toHaveLength(1);
    const pids = await gatewayPids();
    expect(pids).toHaveLength(1);
    const list = await aether(['session', 'list', '--json'], env);
    expect(JSON.parse(list.stdout).sessions.length).toBeGreaterThanOrEqual(4);
    const stop = await aether(['gateway', 'stop'], env);
    expect(stop.code).toBe(0);
    expect(await gatewayPids()).toEqual([]);
  });

  it('a stale state.json (dead pid) is replaced by a fresh gateway', async () => {
    const env = { AETHER_HOME: home };
    await fsp.mkdir(path.join(home, 'gateway'), { recursive: true });
    await fsp.writeFile(path.join(home, 'gateway', 'state.json'), JSON.stringify({ pid: 999999, url: 'http://127.0.0.1:1', port: 1, version: '0', dataDir: '', startedAt: '' }));
    const r = await aether(['session', 'create', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse(await fsp.readFile(path.join(home, 'gateway', 'state.json'), 'utf8'));
    expect(st.pid).not.toBe(999999);
    expect((await aether(['gateway', 'stop'], env)).code).toBe(0);
  });
});
