// `aether mount | unmount | mounts | status | sync`: the local-directory side of Aether.
// `mount` starts a mount daemon (src/cli/daemon/) in the background and returns once the mount
// answers, or runs it in this process with --foreground. The other commands find a live mount in
// the registry (<home>/state/mounts) and talk to its daemon over the control socket.
// Heavy modules (the daemon with fuse-native, react/ink) load lazily: every `aether` invocation
// imports this file, and most never mount anything.
// Callers: cli/commands/index.ts.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { defineCommand, type Opts } from '../command.js';
import type { CommandContext } from '../context.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { parseSize, formatBytes } from '../../cas/size.js';
import { controlCall } from '../../control/control-client.js';
import { listMounts, findMountForPath, mountKeyFor, pidAlive, removeMountRecord, type MountRecord } from '../daemon/mount-registry.js';
import { createLogger } from '../../shared/log.js';
import type { MountStatus } from '../ui/mount-status.js';
import { aetherPaths } from '../../config/paths.js';
import { readFuseConf, resolveAllowOther } from '../allow-other.js';

/** The compiled daemon entry (works from dist/ and from in-process tests under src/). */
function daemonEntry(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '..', 'daemon', 'daemon-entry.js'), path.resolve(here, '..', '..', '..', 'dist', 'cli', 'daemon', 'daemon-entry.js')];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new AetherError('AETHER_NOT_BUILT', 'the mount daemon is not built', { hint: 'run `npm run build` first' });
  return found;
}

interface MountArgs {
  session: string;
  dir: string;
  foreground: boolean;
  readOnly: boolean;
  allowOther?: boolean;
  cacheDir?: string;
  cacheSize?: string;
  mode?: 'overlay' | 'write-through';
}

async function startBackground(ctx: CommandContext, spec: Record<string, unknown>, token: string, logFile: string): Promise<any> {
  await fsp.mkdir(path.dirname(logFile), { recursive: true, mode: 0o700 });
  const log = fs.openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [daemonEntry(), JSON.stringify(spec)], {
    detached: true,
    stdio: ['ignore', 'pipe', log],
    env: { ...ctx.io.env, AETHER_DAEMON_TOKEN: token } as NodeJS.ProcessEnv,
  });
  fs.closeSync(log);
  const info = await new Promise<any>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new AetherError('AETHER_MOUNT_TIMEOUT', 'the mount did not become ready within 60 s', { hint: `see ${logFile}` })), 60_000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new AetherError('AETHER_MOUNT_FAILED', `the mount daemon said: ${line}`, { hint: `see ${logFile}` }));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new AetherError('AETHER_MOUNT_FAILED', `the mount daemon exited (code ${code}) before it was ready`, { hint: `see ${logFile}` }));
    });
  });
  child.stdout!.destroy();
  child.unref();
  if (!info.ready) {
    const kind = info.error?.code === 'AETHER_MOUNT_BUSY' ? 'conflict' : info.error?.code === 'AETHER_MOUNT_NOT_EMPTY' ? 'usage' : info.error?.code === 'AETHER_FS_ENOENT' ? 'not_found' : 'internal';
    throw new AetherError(info.error?.code ?? 'AETHER_MOUNT_FAILED', info.error?.message ?? 'mount failed', { kind, hint: info.error?.hint ?? `see ${logFile}` });
  }
  return info;
}

export const mount = defineCommand<MountArgs>({
  name: 'mount <session> [dir]',
  summary: 'mount a session as a local directory',
  description:
    'Mount SESSION at DIR (default ./<session>). Returns once the mount answers; the daemon keeps running in the background (logs under $AETHER_HOME/logs). Writes reach the gateway on close/fsync; `aether unmount` flushes everything first.',
  examples: ['aether mount sess_01HX… ./work', 'aether mount sess_01HX… ./ro --read-only', 'aether mount sess_01HX… ./work --foreground', 'aether mount sess_01HX… --cache-size 20G --json'],
  json: true,
  configure: (cmd) => {
    cmd.option('--foreground', 'serve the mount in this process until Ctrl-C');
    cmd.option('--read-only', 'mount read-only');
    cmd.option('--allow-other', 'let every user on this machine use the mount (default when mounting as root; else needs user_allow_other in /etc/fuse.conf)');
    cmd.option('--no-allow-other', 'only the mounting user may use the mount');
    cmd.option('--cache-dir <dir>', 'local CAS cache directory (default $AETHER_HOME/cache/cas)');
    cmd.option('--cache-size <size>', 'cache budget, e.g. 10G (default 10G)');
    cmd.option('--overlay', 'local-first: every change lands in a durable local overlay and ships to the gateway in the background (fsync and `aether sync` wait for it)');
    cmd.option('--write-through', 'every close, unlink, rename and mkdir waits for the gateway');
  },
  parse: (operands: string[], opts: Opts) => {
    const session = operands[0]!;
    if (opts.cacheSize) parseSize(String(opts.cacheSize));
    if (opts.overlay && opts.writeThrough) throw new AetherError('AETHER_USAGE', '--overlay and --write-through exclude each other', { kind: 'usage' });
    return {
      session,
      dir: operands[1] ?? session,
      foreground: !!opts.foreground,
      readOnly: !!opts.readOnly,
      allowOther: opts.allowOther as boolean | undefined,
      cacheDir: opts.cacheDir as string | undefined,
      cacheSize: opts.cacheSize as string | undefined,
      mode: opts.overlay ? 'overlay' : opts.writeThrough ? 'write-through' : undefined,
    };
  },
  handler: async (a, ctx) => {
    const { config } = ctx.config();
    const target = await ctx.gateway();
    const client = await ctx.client();
    await client.getSession(a.session); // a clear "not found" before anything is spawned
    const mountpoint = path.resolve(ctx.io.cwd, a.dir);
    const home = config.home;
    const cacheDir = path.resolve(ctx.io.cwd, a.cacheDir ?? config.cacheDir);
    const cacheBytes = parseSize(a.cacheSize ?? config.cacheSize);
    const logFile = path.join(aetherPaths(home).logsDir, `mount-${mountKeyFor(mountpoint)}.log`);
    const allowOther = resolveAllowOther(a.allowOther, process.getuid?.() ?? 0, a.allowOther ? await readFuseConf() : undefined);
    const spec = { home, gatewayUrl: target.url, sessionId: a.session, mountpoint, cacheDir, cacheBytes, readOnly: a.readOnly, allowOther, logFile, ...(a.mode ? { mode: a.mode } : {}) };
    if (a.foreground) {
      const { runMountDaemon } = await import('../daemon/mount-daemon.js');
      const logger = createLogger((l) => ctx.io.stderr.write(l), config.logLevel === 'warn' ? 'info' : config.logLevel);
      const m = await runMountDaemon({ ...spec, token: target.token, logger });
      ctx.out.result({ mountpoint, sessionId: a.session, pid: process.pid, binding: m.handle.binding }, () =>
        ctx.out.note(`mounted ${a.session} at ${mountpoint} (${m.handle.binding}); press Ctrl-C to unmount`),
      );
      const signal = ctx.interruptSignal();
      await Promise.race([m.done, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
      await m.stop({ force: true });
      ctx.out.note(`unmounted ${mountpoint}`);
      return;
    }
    const info = await startBackground(ctx, spec, target.token, logFile);
    ctx.out.result({ mountpoint, sessionId: a.session, pid: info.pid, binding: info.binding, logFile }, () =>
      ctx.out.line(`mounted ${a.session} at ${mountpoint}`),
    );
  },
});

async function findMount(ctx: CommandContext, what: string | undefined): Promise<MountRecord> {
  const home = ctx.config().config.home;
  const mounts = await listMounts(home);
  if (what) {
    const abs = path.resolve(ctx.io.cwd, what);
    const byDir = mounts.find((m) => m.mountpoint === abs) ?? (await findMountForPath(home, abs));
    const bySession = mounts.filter((m) => m.sessionId === what);
    if (byDir) return byDir;
    if (bySession.length === 1) return bySession[0]!;
    if (bySession.length > 1) throw new UserError('AETHER_MOUNT_AMBIGUOUS', `session ${what} is mounted ${bySession.length} times`, { hint: 'name the directory instead' });
    throw new AetherError('AETHER_MOUNT_NOT_FOUND', `no Aether mount at ${what}`, { kind: 'not_found', hint: 'see `aether mounts`' });
  }
  const here = await findMountForPath(home, ctx.io.cwd);
  if (here) return here;
  if (mounts.length === 1) return mounts[0]!;
  throw new AetherError('AETHER_MOUNT_NOT_FOUND', mounts.length ? 'several mounts are running; name one' : 'no Aether mount is running', {
    kind: mounts.length ? 'usage' : 'not_found',
    hint: mounts.length ? 'see `aether mounts`' : 'start one with `aether mount SESSION DIR`',
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  while (pidAlive(pid)) {
    if (Date.now() - start > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

async function forceDetach(dir: string): Promise<void> {
  const m = await import('../daemon/mount-daemon.js');
  await m.forceDetach(dir);
}

async function isStale(dir: string): Promise<boolean> {
  try {
    await fsp.stat(dir);
    return false;
  } catch (e) {
    return ['ENOTCONN', 'ECONNABORTED'].includes((e as NodeJS.ErrnoException).code ?? '');
  }
}

export const unmount = defineCommand<{ target?: string; force: boolean }>({
  name: 'unmount [target]',
  aliases: ['umount'],
  summary: 'flush pending writes and unmount (by directory or session)',
  description:
    'Upload every pending write, then unmount. With --force, unmount even if some writes cannot be uploaded now (they stay journaled and are uploaded by the next mount of the session) and detach a busy mount lazily. A dead mount ("transport endpoint is not connected") is cleaned up.',
  examples: ['aether unmount ./work', 'aether unmount sess_01HX…', 'aether unmount ./work --force'],
  json: true,
  configure: (cmd) => cmd.option('--force', 'unmount even with writes that cannot be uploaded now; detach a busy mount'),
  parse: (operands, opts) => ({ target: operands[0], force: !!opts.force }),
  handler: async (a, ctx) => {
    const home = ctx.config().config.home;
    let rec: MountRecord | undefined;
    try {
      rec = await findMount(ctx, a.target);
    } catch (e) {
      // No live daemon: maybe a dead mount is left behind.
      const dir = a.target ? path.resolve(ctx.io.cwd, a.target) : undefined;
      if (dir && (await isStale(dir))) {
        await forceDetach(dir);
        ctx.out.result({ mountpoint: dir, cleaned: true }, () => ctx.out.line(`cleaned up the dead mount at ${dir}`));
        return;
      }
      throw e;
    }
    try {
      await controlCall(rec.socketPath, 'unmount', { force: a.force });
    } catch (e) {
      if ((e as AetherError).code !== 'AETHER_MOUNT_UNREACHABLE') {
        throw new AetherError((e as AetherError).code ?? 'AETHER_UNMOUNT_FAILED', `could not unmount ${rec.mountpoint}: ${(e as Error).message}`, {
          kind: 'conflict',
          hint: 'pending writes could not be uploaded; fix the gateway connection and retry, or use --force (they stay journaled)',
        });
      }
      if (!a.force) throw e;
    }
    const exited = await waitForExit(rec.pid, 120_000);
    if (!exited && a.force) {
      process.kill(rec.pid, 'SIGKILL');
      await forceDetach(rec.mountpoint);
      await removeMountRecord(home, rec.mountKey);
    } else if (!exited) {
      throw new AetherError('AETHER_UNMOUNT_TIMEOUT', `the mount at ${rec.mountpoint} did not stop within 120 s`, { kind: 'network', hint: 'retry with --force' });
    }
    if (await isStale(rec.mountpoint)) await forceDetach(rec.mountpoint);
    ctx.out.result({ mountpoint: rec.mountpoint, sessionId: rec.sessionId }, () => ctx.out.line(`unmounted ${rec!.mountpoint}`));
  },
});

export const mounts = defineCommand<Record<string, never>>({
  name: 'mounts',
  summary: 'list the mounts running on this machine',
  examples: ['aether mounts', 'aether mounts --json'],
  json: true,
  parse: () => ({}),
  handler: async (_a, ctx) => {
    const list = await listMounts(ctx.config().config.home);
    ctx.out.result(
      list.map((m) => ({ mountpoint: m.mountpoint, sessionId: m.sessionId, pid: m.pid, binding: m.binding, readOnly: m.readOnly, gatewayUrl: m.gatewayUrl, startedAt: m.startedAt })),
      () => {
        if (!list.length) return ctx.out.line('no mounts');
        const rows = list.map((m) => [m.mountpoint, m.sessionId, String(m.pid), m.binding + (m.readOnly ? ' (ro)' : ''), m.startedAt]);
        const head = ['MOUNTPOINT', 'SESSION', 'PID', 'BINDING', 'STARTED'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const r of [head, ...rows]) ctx.out.line(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
      },
    );
  },
});

function humanStatus(ctx: CommandContext, s: MountStatus): void {
  const hits = s.cache.hits;
  const total = hits + s.cache.misses;
  ctx.out.keyValues([
    ['session', s.sessionId],
    ['mountpoint', s.mountpoint],
    ['binding', s.binding + (s.readOnly ? ' (read-only)' : '')],
    ['mode', s.mode ?? 'write-through'],
    ['pending uploads', String(s.pendingUploads)],
    ['uploads in flight', String(s.uploadsInFlight)],
    ...(s.shipping
      ? ([
          ['queued ops', String(s.shipping.queuedOps)],
          ['queued bytes', formatBytes(s.shipping.queuedBytes)],
          ['oldest unshipped', s.shipping.queuedOps ? `${(s.shipping.oldestUnshippedMs / 1000).toFixed(1)} s` : '-'],
          ['shipped ops', `${s.shipping.shippedOps} in ${s.shipping.requests} requests`],
          ['retries', String(s.shipping.retries)],
          ['last error', s.shipping.lastError ?? '-'],
        ] as Array<[string, string]>)
      : []),
    ['conflicts', String(s.conflicts.length)],
    ['cache', `${hits} hits / ${s.cache.misses} misses${total ? ` (${Math.round((100 * hits) / total)}% hit rate)` : ''}, ${formatBytes(s.cache.bytes)} of ${formatBytes(s.cache.maxBytes)}`],
    ['fetched', formatBytes(s.bytesFetched)],
    ['uploaded', formatBytes(s.bytesUploaded)],
    ['remote changes', String(s.remoteInvalidations)],
  ]);
  for (const c of s.conflicts) ctx.out.line(`  conflict: ${c.path} → local version kept as ${c.conflictPath}`);
  for (const f of s.shipping?.failedOps ?? []) ctx.out.line(`  not applied: ${f.kind} ${f.path}: ${f.error}`);
  if (s.stateDiskFull) ctx.out.warn('the disk holding the mount state is full: writes get ENOSPC until space is freed');
  if (s.watcherError) ctx.out.warn(`following remote changes: ${s.watcherError}`);
}

export const status = defineCommand<{ dir?: string; watch: boolean }>({
  name: 'status [dir]',
  summary: 'show a mount: pending uploads, conflicts, cache hits, bytes moved',
  examples: ['aether status', 'aether status ./work --json', 'aether status --watch'],
  json: true,
  configure: (cmd) => cmd.option('--watch', 'keep refreshing (live view on a terminal) until Ctrl-C'),
  parse: (operands, opts) => ({ dir: operands[0], watch: !!opts.watch }),
  handler: async (a, ctx) => {
    const rec = await findMount(ctx, a.dir);
    const get = () => controlCall<MountStatus>(rec.socketPath, 'status', {}, 10_000);
    if (!a.watch) {
      const s = await get();
      ctx.out.result(s, () => humanStatus(ctx, s));
      return;
    }
    const signal = ctx.interruptSignal();
    const { createElement } = await import('react');
    const { startLiveView } = await import('../ui/live.js');
    const { MountStatusView } = await import('../ui/mount-status.js');
    const live = ctx.io.isTTY && !ctx.out.json ? startLiveView(ctx.io, createElement(MountStatusView, { status: await get(), tick: 0 })) : undefined;
    let tick = 0;
    try {
      while (!signal.aborted) {
        const s = await get();
        if (live) live.update(createElement(MountStatusView, { status: s, tick: tick++ }));
        else ctx.out.jsonLine({ time: new Date().toISOString(), ...s });
        await new Promise<void>((r) => {
          const t = setTimeout(r, 1000);
          signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
        });
      }
    } finally {
      live?.done();
    }
  },
});

export const sync = defineCommand<{ dir?: string }>({
  name: 'sync [dir]',
  summary: 'wait until every write made so far in a mount is on the gateway',
  examples: ['aether sync', 'aether sync ./work'],
  json: true,
  parse: (operands) => ({ dir: operands[0] }),
  handler: async (a, ctx) => {
    const rec = await findMount(ctx, a.dir);
    const before = await controlCall<MountStatus>(rec.socketPath, 'status', {}, 10_000);
    const r = await controlCall<{ pendingUploads: number }>(rec.socketPath, 'sync');
    ctx.out.result({ mountpoint: rec.mountpoint, sessionId: rec.sessionId, uploaded: before.pendingUploads, pendingUploads: r.pendingUploads }, () =>
      ctx.out.line(r.pendingUploads === 0 ? `all writes in ${rec.mountpoint} are on the gateway` : `${r.pendingUploads} files still pending`),
    );
    return r.pendingUploads === 0 ? 0 : 4;
  },
});
