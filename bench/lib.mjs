// Benchmark plumbing: a gateway process and mount daemons (the compiled dist/, like the real-mount
// test harness), shell commands timed from a child process, page-cache dropping, /proc memory
// readings, machine facts. The bench process itself never serves a FUSE mount, but it still runs
// every command asynchronously so a hung mount hits a timeout instead of freezing the runner.
// Callers: bench/run.mjs and bench/scenarios/*.mjs.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import * as net from 'node:net';
import { randomFillSync } from 'node:crypto';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const DIST = path.join(ROOT, 'dist');
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

// -------------------------------------------------------------------------------------------------
// Build
// -------------------------------------------------------------------------------------------------

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Compile dist/ when it is missing or older than src/ (same rule as the test suite). */
export function ensureBuilt(log) {
  const marker = path.join(DIST, 'cli', 'daemon', 'daemon-entry.js');
  if (fs.existsSync(marker) && newest(path.join(ROOT, 'src')) <= fs.statSync(marker).mtimeMs) return;
  log('building dist/ (tsc)…');
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
}

// -------------------------------------------------------------------------------------------------
// Shell commands
// -------------------------------------------------------------------------------------------------

/**
 * Run `cmd` with /bin/sh; resolve with its wall time in ms. Rejects on a non-zero exit or after
 * `timeoutMs` (the child is killed).
 */
export function sh(cmd, { cwd = ROOT, timeoutMs = 30 * 60_000, env } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/bin/sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve({ ms, out, err });
      else reject(new Error(`\`${cmd}\` failed (${signal ?? `exit ${code}`}) after ${ms.toFixed(0)} ms\n${err.slice(-2000)}`));
    });
  });
}

/** Time an async function, ms. */
export async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

const isRoot = process.getuid?.() === 0;

/** Flush dirty pages and drop the kernel page cache (root only; returns whether it happened). */
export async function dropCaches() {
  if (!isRoot) return false;
  await sh('sync && echo 3 > /proc/sys/vm/drop_caches');
  return true;
}

// -------------------------------------------------------------------------------------------------
// /proc
// -------------------------------------------------------------------------------------------------

/** A field of /proc/<pid>/status in bytes (VmHWM, VmRSS, …), or undefined. */
export function procStatusBytes(pid, field) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Reset a process's peak RSS (VmHWM) to its current RSS (Linux clear_refs 5). */
export function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// -------------------------------------------------------------------------------------------------
// Machine facts for the report
// -------------------------------------------------------------------------------------------------

function tryCmd(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(dir) {
  const df = tryCmd('df', ['-hT', dir]).split('\n')[1]?.split(/\s+/) ?? [];
  const dev = df[0] ?? '?';
  const blk = dev.startsWith('/dev/') ? tryCmd('lsblk', ['-dno', 'ROTA,SIZE,MODEL', dev]) : '';
  return {
    date: new Date().toISOString(),
    cpu: `${os.cpus().length} × ${os.cpus()[0]?.model?.trim() ?? '?'}`,
    ram: `${(os.totalmem() / GiB).toFixed(1)} GiB`,
    disk: `${dev} ${df[1] ?? ''} ${df[2] ?? ''}${blk ? ` (rotational=${blk.split(/\s+/)[0]}, ${blk.split(/\s+/).slice(1).join(' ')})` : ''}`.trim(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    git: tryCmd('git', ['--version']).replace('git version ', ''),
    fuse: `fuse-native ${JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'fuse-native', 'package.json'), 'utf8')).version} (libfuse 2 high-level API)`,
    // AETHER_BENCH_REV labels a build measured outside a git checkout (e.g. an exported tree).
    aether: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version + ' @ ' + (process.env.AETHER_BENCH_REV || tryCmd('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) || '?'),
    pageCacheDropped: isRoot,
    loadAtStart: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// -------------------------------------------------------------------------------------------------
// Gateway and mount processes
// -------------------------------------------------------------------------------------------------

function firstLine(child, what, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms`)), timeoutMs);
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${what} printed: ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready`));
    });
  });
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the child has exited. */
export function stopChild(child, timeoutMs = 120_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * The mount daemon's control protocol (src/control: one JSON object per line on a unix socket),
 * spoken directly so a timed `sync` does not include a CLI process start. Bounded by timeoutMs.
 */
export function controlCall(socketPath, method, params = {}, timeoutMs = 10 * 60_000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`control ${method} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (fn, v) => {
      clearTimeout(timer);
      sock.destroy();
      fn(v);
    };
    sock.on('connect', () => sock.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    sock.on('error', (e) => finish(reject, e));
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const res = JSON.parse(buf.slice(0, nl));
      if (res.error) finish(reject, new Error(`control ${method}: ${res.error.code}: ${res.error.message}`));
      else finish(resolve, res.result);
    });
  });
}

export function detach(mountpoint) {
  for (const [cmd, args] of [
    ['fusermount3', ['-uz', mountpoint]],
    ['fusermount', ['-uz', mountpoint]],
    ['umount', ['-l', mountpoint]],
  ]) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return;
    } catch {
      /* next */
    }
  }
}

/**
 * One benchmark environment: a temp root on the same filesystem as native runs, a gateway process,
 * helpers for sessions, mounts (always unmounted by teardown) and gateway metrics.
 */
export async function createBenchEnv({ keep = false } = {}) {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'aether-bench-'));
  const home = path.join(root, 'home');
  const gwData = path.join(root, 'gwdata');
  await fsp.mkdir(home, { recursive: true });
  await fsp.mkdir(gwData, { recursive: true });
  const script = `
    const m = await import(${JSON.stringify(path.join(DIST, 'gateway', 'server.js'))});
    const l = await import(${JSON.stringify(path.join(DIST, 'shared', 'log.js'))});
    const logger = l.createLogger((line) => process.stderr.write(line), 'warn');
    const g = await m.startGateway({ dataDir: ${JSON.stringify(gwData)}, port: 0, logger });
    console.log(JSON.stringify({ url: g.url, token: g.token }));
    const stop = async () => { await g.close(); process.exit(0); };
    process.on('SIGTERM', stop); process.on('SIGINT', stop);
  `;
  const gwLog = fs.openSync(path.join(root, 'gateway.log'), 'a');
  const gwChild = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', gwLog] });
  const gw = await firstLine(gwChild, 'gateway');
  const mounts = new Set();
  const deferred = []; // other things to stop at teardown (peer targets), newest first

  const call = async (method, p, body) => {
    const res = await fetch(gw.url + p, {
      method,
      headers: { authorization: `Bearer ${gw.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };

  const env = {
    root,
    home,
    gatewayPid: gwChild.pid,
    /** The gateway's URL and token (for routes call() cannot speak, e.g. raw blob bytes). */
    url: gw.url,
    token: gw.token,
    /** FUSE bindings the mount daemons reported (AETHER_FUSE_BINDING picks one). */
    bindings: new Set(),
    call,
    async createSession(tags = {}) {
      return (await call('POST', '/v1/sessions', { initialTags: tags })).id;
    },
    /** Gateway CAS counters (numbers). */
    async metrics() {
      const m = await call('GET', '/v1/metrics/cas');
      return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));
    },
    /** Start a mount daemon; resolves once the mount answers. */
    async mount(sessionId, name, { cacheDir = path.join(home, 'cache', 'cas'), cacheBytes = 16 * GiB } = {}) {
      const mountpoint = path.join(root, name);
      await fsp.mkdir(mountpoint, { recursive: true });
      const logFile = path.join(root, `mount-${name}-${Date.now()}.log`);
      const log = fs.openSync(logFile, 'a');
      const opts = { home, gatewayUrl: gw.url, sessionId, mountpoint, cacheDir, cacheBytes, readOnly: false, logFile };
      const child = spawn(process.execPath, [path.join(DIST, 'cli', 'daemon', 'daemon-entry.js'), JSON.stringify(opts)], {
        stdio: ['ignore', 'pipe', log],
        env: { ...process.env, AETHER_DAEMON_TOKEN: gw.token, AETHER_LOG: process.env.AETHER_LOG ?? 'warn' },
      });
      const info = await firstLine(child, 'mount daemon').catch((e) => {
        child.kill('SIGKILL');
        throw new Error(`${e.message}\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
      });
      if (!info.ready) throw new Error(`mount failed: ${JSON.stringify(info.error)}`);
      env.bindings.add(info.binding ?? '?');
      const m = {
        mountpoint,
        pid: child.pid,
        binding: info.binding,
        logFile,
        socketPath: info.socketPath,
        /** One request on the mount's control socket (`sync`, `status`, …); resolves its result. */
        control: (method, params = {}, timeoutMs = 10 * 60_000) => controlCall(info.socketPath, method, params, timeoutMs),
        /** SIGTERM: upload everything pending, unmount, exit. */
        async stop() {
          await stopChild(child);
          detach(mountpoint);
          mounts.delete(m);
        },
      };
      mounts.add(m);
      return m;
    },
    /**
     * The FUSE floor: bench/passthrough.mjs serving `backing` at <root>/<name> (same binding and
     * mount options as Aether). Resolves once mounted.
     */
    async passthrough(backing, name) {
      const mountpoint = path.join(root, name);
      await fsp.mkdir(mountpoint, { recursive: true });
      await fsp.mkdir(backing, { recursive: true });
      const log = fs.openSync(path.join(root, `passthrough-${name}.log`), 'a');
      const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'passthrough.mjs'), backing, mountpoint], { stdio: ['ignore', 'pipe', log] });
      const info = await firstLine(child, 'passthrough');
      if (!info.ready) throw new Error(`passthrough failed: ${info.error}`);
      const m = {
        mountpoint,
        pid: child.pid,
        async stop() {
          await stopChild(child, 30_000);
          detach(mountpoint);
          mounts.delete(m);
        },
      };
      mounts.add(m);
      return m;
    },
    /** Run `fn` at teardown (before the mounts and the gateway stop); idempotent fns only. */
    defer(fn) {
      deferred.unshift(fn);
    },
    async teardown() {
      for (const fn of deferred.splice(0)) await fn().catch(() => undefined);
      for (const m of [...mounts]) await m.stop().catch(() => detach(m.mountpoint));
      await stopChild(gwChild);
      if (!keep) await fsp.rm(root, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  return env;
}

// -------------------------------------------------------------------------------------------------
// Fixtures
// -------------------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) for fixture shapes. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A source-like tree of `n` files: nested directories (20 packages × 10 modules), sizes
 * log-uniform between 200 B and 64 KiB (mean ≈ 12 KiB), text-like content. Returns total bytes.
 */
export async function makeTree(dir, n, seed = 42) {
  const rnd = prng(seed);
  let total = 0;
  const words = ['const', 'let', 'function', 'return', 'import', 'export', 'if', 'else', 'for', 'await', 'async', 'class', 'new', 'this', 'value', 'index', 'result', 'error'];
  for (let i = 0; i < n; i++) {
    const d = path.join(dir, `pkg${i % 20}`, `mod${Math.floor(i / 20) % 10}`);
    await fsp.mkdir(d, { recursive: true });
    const size = Math.floor(200 * Math.pow(64 * 1024 / 200, rnd()));
    const parts = [`// file ${i}\n`];
    let len = parts[0].length;
    while (len < size) {
      const line = `${words[Math.floor(rnd() * words.length)]} v${Math.floor(rnd() * 1e6)} = ${Math.floor(rnd() * 1e9)};\n`;
      parts.push(line);
      len += line.length;
    }
    const body = parts.join('').slice(0, size);
    await fsp.writeFile(path.join(d, `file${i}.ts`), body);
    total += Buffer.byteLength(body);
  }
  return total;
}

/** A file of `bytes` random bytes, written in 8 MiB blocks. */
export async function makeRandomFile(file, bytes) {
  const fh = await fsp.open(file, 'w');
  const block = Buffer.allocUnsafe(8 * MiB);
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(block.length, bytes - done);
      randomFillSync(block, 0, n);
      await fh.write(block, 0, n);
      done += n;
    }
  } finally {
    await fh.close();
  }
}

export const fmtMs = (ms) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
export const fmtBytes = (b) => (b === undefined ? '?' : b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
export const mbps = (bytes, ms) => bytes / MiB / (ms / 1000);
