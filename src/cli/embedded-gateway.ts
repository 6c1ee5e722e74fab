// The embedded local gateway: when no gateway URL is configured, the CLI talks to a gateway it
// runs itself in the background, with its data under `<home>/gateway/data`.
//
// Layout under `<home>`:
//   gateway/state.json   {pid, url, port, version, dataDir, startedAt}   mode 0600, no token
//   gateway/start.lock   {pid, createdAt} while one CLI is starting the gateway
//   gateway/data/        the gateway's data dir (SQLite, blobs, admin-token mode 0600)
//   logs/gateway.log     the gateway's stderr (append)
//
// Invariants:
//   - At most one embedded gateway per home: starts are serialized by start.lock (O_EXCL), and a
//     CLI that loses the race waits for the winner's state.json instead of starting its own.
//     A lock whose owner died, or older than LOCK_STALE_MS, is broken.
//   - state.json is only trusted after GET /v1/healthz answers at its URL.
//   - The token never goes into state.json or logs; it is read from `data/admin-token`.
//   - The child is detached (own session, survives the CLI) and unref'd; its stdout pipe is read
//     only until the first JSON line, then closed.
// Callers: cli/context.ts (gateway selection), cli/commands/gateway.ts (status, stop), doctor.
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AetherError } from '../shared/errors.js';
import { nullLogger, type Logger } from '../shared/log.js';
import { aetherPaths } from '../config/paths.js';

/** Contents of `<home>/gateway/state.json`. */
export interface EmbeddedGatewayState {
  pid: number;
  url: string;
  port: number;
  version: string;
  dataDir: string;
  startedAt: string;
}

/** A reachable embedded gateway. */
export interface EmbeddedGateway {
  url: string;
  token: string;
  pid: number;
  port: number;
  version: string;
  dataDir: string;
  /** True when this call started it. */
  started: boolean;
}

export interface EnsureEmbeddedOptions {
  /** Environment for the child (AETHER_LOG is honoured; gateway selection variables are dropped). */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
}

const LOCK_STALE_MS = 60_000;
const PROBE_TIMEOUT_MS = 1_500;

/** Path of `bin/aether.js` (same relative location from src/cli and dist/cli). */
export function aetherBinPath(): string {
  return fileURLToPath(new URL('../../bin/aether.js', import.meta.url));
}

function files(home: string) {
  const p = aetherPaths(home);
  return {
    dir: p.gatewayDir,
    dataDir: p.gatewayDataDir,
    state: path.join(p.gatewayDir, 'state.json'),
    lock: path.join(p.gatewayDir, 'start.lock'),
    token: path.join(p.gatewayDataDir, 'admin-token'),
    logsDir: p.logsDir,
    log: path.join(p.logsDir, 'gateway.log'),
  };
}

/** Path of the embedded gateway's log file. */
export function embeddedGatewayLogFile(home: string): string {
  return files(home).log;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** True if a process with this pid exists (and we may signal it, or it is someone else's). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `GET /v1/healthz` with a short timeout: the version when a gateway answers, else undefined. */
export async function probeGateway(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ version: string } | undefined> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/v1/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const body = (await res.json()) as { status?: string; version?: string };
    return body && body.status === 'SERVING' ? { version: String(body.version ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

/** The recorded state, whether or not the gateway is alive. */
export async function readEmbeddedState(home: string): Promise<EmbeddedGatewayState | undefined> {
  try {
    const raw = JSON.parse(await fsp.readFile(files(home).state, 'utf8')) as Partial<EmbeddedGatewayState>;
    if (typeof raw.pid !== 'number' || typeof raw.url !== 'string') return undefined;
    return {
      pid: raw.pid,
      url: raw.url,
      port: Number(raw.port ?? new URL(raw.url).port),
      version: String(raw.version ?? ''),
      dataDir: String(raw.dataDir ?? files(home).dataDir),
      startedAt: String(raw.startedAt ?? ''),
    };
  } catch {
    return undefined;
  }
}

async function writePrivate(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, content, { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

/** The state of a live embedded gateway (state.json present and healthz answering), else undefined. */
export async function liveEmbeddedState(home: string): Promise<EmbeddedGatewayState | undefined> {
  const st = await readEmbeddedState(home);
  if (!st) return undefined;
  const probe = await probeGateway(st.url);
  return probe ? { ...st, version: probe.version || st.version } : undefined;
}

async function readToken(home: string): Promise<string> {
  try {
    return (await fsp.readFile(files(home).token, 'utf8')).trim();
  } catch (err) {
    throw new AetherError('AETHER_EMBEDDED_TOKEN_MISSING', `cannot read the embedded gateway token (${files(home).token})`, {
      kind: 'auth',
      cause: err,
      hint: 'stop and restart it: `aether gateway stop` (it restarts on next use)',
    });
  }
}

interface HeldLock {
  release(): Promise<void>;
}

async function tryLock(lockFile: string): Promise<HeldLock | undefined> {
  try {
    const fh = await fsp.open(lockFile, 'wx', 0o600);
    await fh.writeFile(JSON.stringify({ pid: process.pid, createdAt: new Date().toISOString() }));
    await fh.close();
    return { release: () => fsp.rm(lockFile, { force: true }) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // Someone holds it: break it if its owner is gone or it is too old.
  try {
    const [raw, st] = await Promise.all([fsp.readFile(lockFile, 'utf8'), fsp.stat(lockFile)]);
    let owner = 0;
    try {
      owner = Number((JSON.parse(raw) as { pid?: number }).pid ?? 0);
    } catch {
      // Half-written lock: judge by age only.
    }
    const stale = Date.now() - st.mtimeMs > LOCK_STALE_MS || (owner > 0 && !isPidAlive(owner));
    if (stale) await fsp.rm(lockFile, { force: true });
  } catch {
    // Vanished meanwhile: the next attempt will tell.
  }
  return undefined;
}

/** Read the child's stdout up to the first newline. Rejects if it exits or times out first. */
function firstLine(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      fn();
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) done(() => resolve(buf.slice(0, i)));
    };
    const onExit = (code: number | null, sig: string | null) => done(() => reject(new Error(`the gateway exited before it was ready (${sig ?? `exit code ${code}`})`)));
    const onError = (err: Error) => done(() => reject(err));
    const timer = setTimeout(() => done(() => reject(new Error(`the gateway did not become ready within ${timeoutMs} ms`))), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function logTail(file: string, lines = 5): Promise<string> {
  try {
    const text = await fsp.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function spawnGateway(home: string, opts: EnsureEmbeddedOptions, timeoutMs: number, port = 0): Promise<EmbeddedGateway> {
  const f = files(home);
  const logger = opts.logger ?? nullLogger;
  await fsp.mkdir(f.dir, { recursive: true, mode: 0o700 });
  await fsp.mkdir(f.logsDir, { recursive: true, mode: 0o700 });
  const env: Record<string, string | undefined> = { ...(opts.env ?? {}), AETHER_HOME: home };
  delete env.AETHER_URL;
  delete env.AETHER_TOKEN;
  delete env.AETHER_PROFILE;
  env.AETHER_LOG = env.AETHER_LOG || 'info';
  const log = await fsp.open(f.log, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, [aetherBinPath(), 'gateway', 'serve', '--data', f.dataDir, '--port', String(port), '--json'], {
      detached: true,
      stdio: ['ignore', 'pipe', log.fd],
      env: env as NodeJS.ProcessEnv,
      cwd: home,
    });
  } finally {
    await log.close();
  }
  logger.debug('starting embedded gateway', { pid: child.pid, dataDir: f.dataDir });
  let line: string;
  try {
    line = await firstLine(child, timeoutMs);
  } catch (err) {
    if (child.pid && isPidAlive(child.pid)) child.kill('SIGKILL');
    const tail = await logTail(f.log);
    throw new AetherError('AETHER_EMBEDDED_GATEWAY_FAILED', `could not start the embedded gateway: ${(err as Error).message}`, {
      kind: 'network',
      cause: err,
      hint: `see ${f.log}${tail ? ` (last lines: ${tail.split('\n').pop()})` : ''}`,
    });
  }
  child.stdout?.destroy();
  child.unref();
  let url: string;
  try {
    url = String((JSON.parse(line) as { url?: unknown }).url);
    new URL(url);
  } catch (err) {
    throw new AetherError('AETHER_EMBEDDED_GATEWAY_FAILED', 'the embedded gateway printed an unexpected first line', { kind: 'internal', cause: err });
  }
  const probe = await probeGateway(url);
  const state: EmbeddedGatewayState = {
    pid: child.pid!,
    url,
    port: Number(new URL(url).port),
    version: probe?.version ?? '',
    dataDir: f.dataDir,
    startedAt: new Date().toISOString(),
  };
  await writePrivate(f.state, JSON.stringify(state, null, 2) + '\n');
  logger.info('embedded gateway started', { pid: state.pid, url });
  return { ...state, token: await readToken(home), started: true };
}

/**
 * The embedded gateway of `home`: the running one if state.json points at a live gateway, else
 * a newly started one. Safe to call concurrently from several processes.
 */
export async function ensureEmbeddedGateway(home: string, opts: EnsureEmbeddedOptions = {}): Promise<EmbeddedGateway> {
  const f = files(home);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  await fsp.mkdir(f.dir, { recursive: true, mode: 0o700 });
  for (;;) {
    const live = await liveEmbeddedState(home);
    if (live) return { ...live, token: await readToken(home), started: false };
    const lock = await tryLock(f.lock);
    if (lock) {
      try {
        // Another CLI may have finished starting it between our probe and taking the lock.
        const again = await liveEmbeddedState(home);
        if (again) return { ...again, token: await readToken(home), started: false };
        // Come back on the port it had: running mounts keep talking to the same URL.
        const previousPort = (await readEmbeddedState(home))?.port;
        if (previousPort) {
          try {
            return await spawnGateway(home, opts, Math.max(1_000, Math.min(10_000, deadline - Date.now())), previousPort);
          } catch {
            /* the port is taken now: any free one will do */
          }
        }
        return await spawnGateway(home, opts, Math.max(1_000, deadline - Date.now()));
      } finally {
        await lock.release();
      }
    }
    if (Date.now() > deadline) {
      throw new AetherError('AETHER_EMBEDDED_GATEWAY_TIMEOUT', 'timed out waiting for another aether process to start the embedded gateway', {
        kind: 'network',
        hint: `remove ${f.lock} if no aether process is running, then retry`,
      });
    }
    await sleep(100);
  }
}

async function looksLikeOurGateway(st: EmbeddedGatewayState): Promise<boolean> {
  try {
    const cmd = (await fsp.readFile(`/proc/${st.pid}/cmdline`, 'utf8')).split('\0');
    return cmd.includes('gateway') && cmd.includes('serve');
  } catch {
    // No /proc (macOS): trust a live gateway at the recorded URL.
    return (await probeGateway(st.url)) !== undefined;
  }
}

export interface StopResult {
  /** A gateway process was signalled and has exited. */
  stopped: boolean;
  pid?: number;
  /** Why nothing was stopped. */
  reason?: 'not-running' | 'stale-state';
}

/** Stop the embedded gateway (SIGTERM, then SIGKILL after `timeoutMs`) and remove its state. */
export async function stopEmbeddedGateway(home: string, opts: { timeoutMs?: number } = {}): Promise<StopResult> {
  const f = files(home);
  const st = await readEmbeddedState(home);
  if (!st) return { stopped: false, reason: 'not-running' };
  if (!isPidAlive(st.pid) || !(await looksLikeOurGateway(st))) {
    await fsp.rm(f.state, { force: true });
    return { stopped: false, pid: st.pid, reason: 'stale-state' };
  }
  process.kill(st.pid, 'SIGTERM');
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (isPidAlive(st.pid) && Date.now() < deadline) await sleep(50);
  if (isPidAlive(st.pid)) {
    process.kill(st.pid, 'SIGKILL');
    while (isPidAlive(st.pid)) await sleep(20);
  }
  await fsp.rm(f.state, { force: true });
  return { stopped: true, pid: st.pid };
}
