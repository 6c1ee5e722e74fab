// The mount daemon: composes the gateway client, the local CAS cache, the filesystem core, the
// FUSE binding, the remote-change watcher and the control socket, and tears them down in order
// (stop watching → upload everything pending → unmount → close). Runs in the foreground process
// of `aether mount --foreground`; `aether mount` without it spawns that in the background.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { HttpGatewayClient } from '../../client/http-gateway-client.js';
import { DiskCas } from '../../cas/disk-cas.js';
import { SessionFilesystem } from '../../fs/session-fs.js';
import { RemoteWatcher } from '../../fs/remote-watcher.js';
import type { MountHandle } from '../../fuse/fuse-native-mount.js';
import { selectBinding } from '../../fuse/select-binding.js';
import { LockBridge, lockClientIdFor, lockHooksFor } from '../../fs/lock-bridge.js';
import { startControlServer, type ControlServer } from '../../control/control-server.js';
import type { Logger } from '../../shared/log.js';
import { AetherError } from '../../shared/errors.js';
import { mountKeyFor, removeMountRecord, writeMountRecord, type MountRecord } from './mount-registry.js';

const execFileP = promisify(execFile);

export interface MountDaemonOptions {
  home: string;
  gatewayUrl: string;
  token: string;
  sessionId: string;
  mountpoint: string;
  cacheDir: string;
  cacheBytes: number;
  readOnly?: boolean;
  /** Serve every user (FUSE allow_other; default: when running as root). See cli/allow-other.ts. */
  allowOther?: boolean;
  logger: Logger;
  logFile?: string;
  /** FUSE binding: 'fuse3', 'fuse-native' or automatic (default: AETHER_FUSE_BINDING, else automatic). */
  binding?: string;
}

export interface RunningMount {
  record: MountRecord;
  fs: SessionFilesystem;
  handle: MountHandle;
  /** Resolves when the daemon has stopped (unmounted). */
  done: Promise<void>;
  stop(opts?: { force?: boolean }): Promise<void>;
}

/** Is `dir` a dead FUSE mount ("Transport endpoint is not connected")? */
async function isStaleMount(dir: string): Promise<boolean> {
  try {
    await fsp.stat(dir);
    return false;
  } catch (e) {
    return ['ENOTCONN', 'ECONNABORTED'].includes((e as NodeJS.ErrnoException).code ?? '');
  }
}

/** Detach whatever is mounted at `dir` (lazy), ignoring "not mounted". */
export async function forceDetach(dir: string): Promise<void> {
  for (const cmd of [['fusermount3', ['-uz', dir]], ['fusermount', ['-uz', dir]], ['umount', ['-l', dir]]] as const) {
    try {
      await execFileP(cmd[0], [...cmd[1]]);
      return;
    } catch {
      /* try the next tool */
    }
  }
}

async function isMountpoint(dir: string): Promise<boolean> {
  try {
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    const abs = path.resolve(dir);
    return mounts.split('\n').some((l) => l.split(' ')[4] === abs);
  } catch {
    return false;
  }
}

export async function runMountDaemon(o: MountDaemonOptions): Promise<RunningMount> {
  const log = o.logger;
  const mountpoint = path.resolve(o.mountpoint);
  if (await isStaleMount(mountpoint)) {
    log.warn('cleaning up a stale mount left by a dead daemon', { mountpoint });
    await forceDetach(mountpoint);
  } else if (await isMountpoint(mountpoint)) {
    throw new AetherError('AETHER_MOUNT_BUSY', `${mountpoint} is already a mount point`, { kind: 'conflict', hint: `unmount it first: aether unmount ${mountpoint}` });
  }
  await fsp.mkdir(mountpoint, { recursive: true });
  const entries = await fsp.readdir(mountpoint);
  if (entries.length > 0) {
    throw new AetherError('AETHER_MOUNT_NOT_EMPTY', `${mountpoint} is not empty`, { kind: 'usage', hint: 'mount into an empty directory' });
  }
  const mountKey = mountKeyFor(mountpoint);
  const clientId = `mnt-${mountKey}-${randomBytes(4).toString('hex')}`;
  const client = new HttpGatewayClient({ baseUrl: o.gatewayUrl, token: o.token, logger: log, clientId });
  const cas = await DiskCas.open({ dir: o.cacheDir, maxBytes: o.cacheBytes });
  const sessionStateDir = path.join(o.home, 'state', 'sessions', o.sessionId);
  const fs = new SessionFilesystem({
    client,
    cas,
    sessionId: o.sessionId,
    sessionStateDir,
    mountKey: `${mountKey}-${process.pid}`,
    readOnly: o.readOnly,
    logger: log,
  });
  const { recovered } = await fs.init();
  if (recovered) log.info('uploaded pending writes left by a previous mount', { files: recovered });
  // Binding: our libfuse3 addon when built (AETHER_FUSE_BINDING=fuse3|fuse-native forces one).
  const binding = selectBinding(o.binding ?? process.env.AETHER_FUSE_BINDING, log);
  // Kernel locks go to the gateway under a numeric client id that is stable for this host,
  // mountpoint and session, so this start can drop what a crashed daemon of the same mount held.
  const locks = new LockBridge({ client, sessionId: o.sessionId, clientId: lockClientIdFor(`${hostname()}\0${mountpoint}\0${o.sessionId}`), hooks: lockHooksFor(fs), logger: log });
  await locks.releaseAll().then(
    (r) => r.releasedLocks + r.cancelledWaits > 0 && log.info('released locks left by a previous mount', r),
    (e) => log.warn('could not release locks left by a previous mount', { error: String(e) }),
  );
  const handle = await binding.mount(fs, { mountpoint, fsname: `aether:${o.sessionId}`, readOnly: o.readOnly, allowOther: o.allowOther ?? process.getuid?.() === 0, logger: log, locks: binding.name === 'fuse3' ? locks : undefined });
  // Remote changes: forget what the core cached, then drop exactly those kernel caches (fuse3).
  // "Everything may have changed" (a checkpoint restore) invalidates every path the core knows.
  const sink = {
    invalidate: (paths: string[]) => {
      const touched = fs.invalidate(paths);
      return paths.length === 0 ? fs.knownPaths() : touched;
    },
  };
  // The core learns when the kernel dropped those caches: until then an edit through a new open is
  // an edit of the version the kernel may still show (src/fs/session-fs.ts, FsNode.kernelHash).
  if (handle.invalidate) fs.setKernelInvalidator((paths) => handle.invalidate!(paths));
  const onInvalidated = handle.invalidate
    ? (paths: string[]) => {
        const gen = fs.currentInvalGen();
        void handle.invalidate!(paths)
          .catch((e) => log.warn('kernel cache invalidation failed', { error: String(e) }))
          .finally(() => fs.kernelInvalidated(paths, gen));
      }
    : undefined;
  const watcher = new RemoteWatcher({ client, sessionId: o.sessionId, clientId, sink, onInvalidated, logger: log });
  watcher.start();

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const socketPath = path.join(o.home, 'state', 'mounts', `${mountKey}.sock`);
  await fsp.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const status = () => ({
    sessionId: o.sessionId,
    mountpoint,
    binding: handle.binding,
    kernelLocks: !!handle.kernelLocks,
    locks: handle.kernelLocks ? locks.stats : undefined,
    readOnly: !!o.readOnly,
    pid: process.pid,
    pendingUploads: fs.stats.pendingUploads,
    uploadsInFlight: fs.stats.uploadsInFlight,
    conflicts: fs.stats.conflicts,
    cache: { ...cas.stats(), hits: fs.stats.cacheHits, misses: fs.stats.cacheMisses },
    bytesFetched: fs.stats.bytesFetched,
    bytesUploaded: fs.stats.bytesUploaded,
    blobsFetched: fs.stats.blobsFetched,
    listings: fs.stats.listings,
    uploads: fs.stats.uploads,
    batches: fs.stats.batches,
    remoteInvalidations: fs.stats.remoteInvalidations,
    watcherError: watcher.lastError ?? null,
    ops: handle.counters.ops,
    opErrors: handle.counters.errors,
  });
  let control: ControlServer | undefined;
  const record: MountRecord = {
    mountKey,
    sessionId: o.sessionId,
    mountpoint,
    pid: process.pid,
    socketPath,
    gatewayUrl: o.gatewayUrl,
    binding: handle.binding,
    readOnly: !!o.readOnly,
    startedAt: new Date().toISOString(),
    logFile: o.logFile,
  };

  const stop = (opts: { force?: boolean } = {}): Promise<void> => {
    stopping ??= (async () => {
      await watcher.stop();
      try {
        await fs.syncAll();
      } catch (e) {
        if (!opts.force) {
          stopping = undefined;
          watcher.start();
          throw e;
        }
        log.error('unmounting with writes not uploaded; they stay journaled for the next mount', { error: String(e) });
      }
      try {
        await handle.unmount();
      } catch (e) {
        log.warn('clean unmount failed; detaching lazily', { error: String(e) });
        await forceDetach(mountpoint);
      }
      // The kernel-side owners are gone with the mount: drop their gateway locks and waits.
      if (handle.kernelLocks) await locks.releaseAll().catch((e) => log.warn('could not release locks on unmount', { error: String(e) }));
      await fs.close();
      await control?.close();
      await removeMountRecord(o.home, mountKey);
      await cas.close().catch(() => undefined);
      await client.close().catch(() => undefined);
      resolveDone();
    })();
    return stopping;
  };

  control = await startControlServer(socketPath, {
    status: () => status(),
    sync: async () => {
      await fs.syncAll();
      return { pendingUploads: fs.pendingCount };
    },
    unmount: async (p) => {
      // Answer first, then stop: the caller waits for the registry entry to disappear.
      await fs.syncAll().catch((e) => {
        if (!p.force) throw e;
      });
      setImmediate(() => void stop({ force: !!p.force }).catch((e) => log.error('unmount failed', { error: String(e) })));
      return { ok: true };
    },
  });
  await writeMountRecord(o.home, record);
  return { record, fs, handle, done, stop };
}
