// The libfuse3 binding: serves a SessionFilesystem through our own N-API addon
// (native/src/aether_fuse3.c, high-level path-based libfuse3 API). Every kernel request arrives
// here as one event, is mapped to one core call through bridge() (counted, failures logged once)
// and answered with reply(). Compared with fuse-native (FUSE 2) this binding adds:
//   - kernel locks: fcntl and flock requests go to the gateway through a LockBridge, so other
//     mounts and HTTP clients see them; released on close and on unmount;
//   - exact cache invalidation: long attribute/entry lifetimes and page-cache reuse across opens
//     (kernel_cache), dropped exactly when the remote watcher reports a change (invalidate());
//   - 1 MiB writes, multithreaded dispatch into this one event loop, interruptible requests;
//   - fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE: src/fs/fallocate.ts);
//   - ownership for the mount's lifetime: new names belong to the creating process, chown works
//     (src/fs/ownership.ts; every outgoing attribute carries the table's uid/gid).
//
// Kernel-cache invariants kept here (the core knows nothing of the kernel):
//   - the other names of a hard-linked file (nlink > 1) are invalidated after link, write,
//     truncate, chmod and unlink through one name, so every name shows the same size and bytes;
//   - when an upload ends in a conflict copy, the file's cache is invalidated (its content became
//     the remote version);
//   - names removed remotely: fuse_invalidate_path() drops attributes and pages but not the
//     kernel's dentry, which stays valid for its 60 s entry lifetime. So the first getattr of a
//     remotely changed path that no longer exists answers ESTALE (once) instead of ENOENT: the
//     syscall (stat, access, open's permission check, ...) is retried by the VFS with LOOKUP_REVAL,
//     which revalidates the dentry (a LOOKUP, now ENOENT) and drops it, so `stat` says ENOENT and
//     open(O_CREAT)/mkdir create the name again at once. open() of a vanished name answers ESTALE
//     for the same reason.
// Callers: src/fuse/select-binding.ts, the mount daemon, tests.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SessionFilesystem, Attr } from '../fs/session-fs.js';
import type { LockBridge, LockType } from '../fs/lock-bridge.js';
import { FsError, Errno } from '../fs/fs-error.js';
import type { Logger } from '../shared/log.js';
import { AetherError } from '../shared/errors.js';
import { bridge, type OpCounters } from './path-ops.js';
import { OwnerTable } from '../fs/ownership.js';
import type { FuseMountOptions, MountHandle } from './fuse-native-mount.js';

const require = createRequire(import.meta.url);

/** Where `npm run build:native` puts the addon (relative to both src/fuse and dist/fuse). */
export const FUSE3_ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/aether_fuse3.node', import.meta.url));

type Handler = (kind: number, id: number, ...rest: unknown[]) => void;

export interface Fuse3Native {
  ops: Record<string, number>;
  events: { request: number; interrupt: number; mounted: number; invalidated: number; stopped: number };
  libfuseVersion: string;
  fuseUseVersion: number;
  mount(mountpoint: string, args: string[], config: Record<string, number>, handler: Handler): unknown;
  reply(handle: unknown, id: number, result: number, payload?: unknown): void;
  invalidate(handle: unknown, token: number, paths: string[]): boolean;
  unmount(handle: unknown): void;
  release(handle: unknown): void;
}

let loaded: Fuse3Native | Error | undefined;

/** Load the addon once; throws (with the loader's reason) when it is not built or cannot load. */
export function loadFuse3Native(): Fuse3Native {
  if (loaded === undefined) {
    try {
      loaded = require(FUSE3_ADDON_PATH) as Fuse3Native;
    } catch (e) {
      loaded = e instanceof Error ? e : new Error(String(e));
    }
  }
  if (loaded instanceof Error) throw loaded;
  return loaded;
}

export interface Fuse3MountOptions extends FuseMountOptions {
  /** Forward kernel fcntl/flock locks to the gateway. Without it the kernel keeps locks local. */
  locks?: LockBridge;
  /** Attribute and entry cache lifetimes, seconds (default 60: we invalidate exactly). */
  attrTimeout?: number;
  entryTimeout?: number;
  /** Keep file pages cached across opens (default true). */
  kernelCache?: boolean;
  /** Largest write request, bytes (default 1 MiB). */
  maxWrite?: number;
  /** FUSE worker threads (default 64; each blocking lock wait holds one). */
  maxThreads?: number;
  /** How long unmount waits for open files to close after the lazy detach (default 10 s). */
  unmountTimeoutMs?: number;
}

const STAT_FIELDS = 11;
const RENAME_EXCHANGE = 2;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const LK_TYPES: LockType[] = ['read', 'write', 'unlock'];
const LK_CMDS = ['getlk', 'setlk', 'setlkw'] as const;

function putStat(out: Float64Array, i: number, a: Attr): void {
  const o = i * STAT_FIELDS;
  out[o] = a.ino;
  out[o + 1] = a.mode;
  out[o + 2] = a.nlink;
  out[o + 3] = a.uid;
  out[o + 4] = a.gid;
  out[o + 5] = a.size;
  out[o + 6] = a.blocks;
  out[o + 7] = a.blksize;
  out[o + 8] = a.atime;
  out[o + 9] = a.mtime;
  out[o + 10] = a.ctime;
}

function statArray(a: Attr): Float64Array {
  const out = new Float64Array(STAT_FIELDS);
  putStat(out, 0, a);
  return out;
}

const parentOf = (p: string) => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const need = (p: string | null): string => {
  if (p === null) throw new FsError(Errno.ENOENT, 'the file has no name any more');
  return p;
};

export async function mountWithFuse3(fs: SessionFilesystem, opts: Fuse3MountOptions): Promise<MountHandle> {
  const native = loadFuse3Native();
  const log: Logger = opts.logger;
  const counters: OpCounters = { ops: {}, errors: {} };
  const locks = opts.locks;
  const O = native.ops;
  const EV = native.events;
  let handle: unknown;
  let stopped = false;
  const owners = new OwnerTable();
  const owned = (a: Attr): Attr => {
    const o = owners.get(a.ino, a);
    return o.uid === a.uid && o.gid === a.gid ? a : { ...a, uid: o.uid, gid: o.gid };
  };
  /** A name `p` was just created by (uid, gid) as `attr`: record its owner (BSD group rule). */
  const ownNew = async (p: string, attr: Attr, uid: number, gid: number, mode?: number) => {
    const parent = await fs.getattr(parentOf(p));
    const o = owners.forNew({ uid, gid }, parent);
    owners.set(attr.ino, o.uid, o.gid, attr);
    const m = mode === undefined ? undefined : OwnerTable.inheritedDirMode(mode, parent.mode);
    if (m !== undefined) await fs.chmod(p, m);
  };

  const count = (name: string, n = 1) => {
    counters.ops[name] = (counters.ops[name] ?? 0) + n;
  };
  const reply = (id: number, result: number, payload?: unknown) => {
    try {
      native.reply(handle, id, result, payload);
    } catch (e) {
      log.error('fuse3 reply failed', { id, error: String(e) });
    }
  };
  /** Run one op through bridge() and answer: `ok` turns the value into [result, payload?]. */
  const run = <T>(id: number, name: string, fields: Record<string, unknown>, fn: () => Promise<T>, ok: (v: T) => [number, unknown?] = () => [0]) => {
    void bridge(name, log, counters, fields, fn).then(
      (r) => {
        if (!r.ok) return reply(id, r.errno);
        let out: [number, unknown?];
        try {
          out = ok(r.value);
        } catch (e) {
          log.error(`${name}: bad result`, { error: String(e) });
          return reply(id, -Errno.EIO);
        }
        reply(id, out[0], out[1]);
      },
      (e) => {
        log.error(`${name} failed unexpectedly`, { error: String(e) });
        reply(id, -Errno.EIO);
      },
    );
  };

  // ---- kernel cache invalidation -----------------------------------------------------------------
  let nextToken = 1;
  const invalWaiters = new Map<number, (n: number) => void>();
  const invalidate = (paths: string[]): Promise<number> => {
    const uniq = [...new Set(paths.filter((p) => typeof p === 'string' && p.startsWith('/')))];
    if (!uniq.length || stopped || handle === undefined) return Promise.resolve(0);
    const token = nextToken++;
    count('invalidate', uniq.length);
    return new Promise<number>((resolve) => {
      invalWaiters.set(token, (n) => {
        count('invalidated', n); // paths the kernel had cached
        count('invalidations'); // batches done
        resolve(n);
      });
      if (!native.invalidate(handle, token, uniq)) {
        invalWaiters.delete(token);
        resolve(0);
      }
    });
  };

  /**
   * Invalidate from inside a request handler. The kernel may hold locks (the inode's i_rwsem or
   * pages during a write, the parent directory during unlink/rename) that the invalidation itself
   * needs, and it releases them only after we reply: waiting for the invalidation there would
   * deadlock. So wait briefly (usually enough for it to finish, so other names see the change
   * when the call returns) and never longer.
   */
  const invalidateSoon = async (paths: string[]): Promise<void> => {
    await Promise.race([invalidate(paths), new Promise<void>((r) => setTimeout(r, 100).unref?.())]);
  };

  // Hard links: every name seen for an inode with nlink > 1 (so a change through one name can
  // invalidate the others, which the kernel caches as separate inodes).
  const namesOf = new Map<number, Set<string>>();
  const inoOfName = new Map<string, number>();
  const noteAttr = (p: string | null, a: Attr) => {
    if (p === null || a.nlink <= 1 || (a.mode & 0o170000) !== 0o100000) return;
    let s = namesOf.get(a.ino);
    if (!s) namesOf.set(a.ino, (s = new Set()));
    s.add(p);
    inoOfName.set(p, a.ino);
  };
  const forgetName = (p: string) => {
    const ino = inoOfName.get(p);
    if (ino === undefined) return undefined;
    inoOfName.delete(p);
    namesOf.get(ino)?.delete(p);
    if (!namesOf.get(ino)?.size) namesOf.delete(ino);
    return ino;
  };
  const otherNames = (ino: number | undefined, except: string | null) => (ino === undefined ? [] : [...(namesOf.get(ino) ?? [])].filter((p) => p !== except));
  const inoOfHandle = async (fh: number | undefined, p: string | null) => {
    if (fh !== undefined) {
      const a = await fs.fgetattr(fh).catch(() => undefined);
      if (a) return a.ino;
    }
    return p === null ? undefined : fs.inoOf(p);
  };

  // Conflict copies: the file's bytes became the remote version under the kernel's cache.
  let conflictsSeen = fs.stats.conflicts.length;
  /** After a flush/fsync/close: drop caches made stale by a conflict or by writes through a hard link. */
  const afterSync = async (ino: number | undefined, p: string | null) => {
    const paths: string[] = [];
    const cs = fs.stats.conflicts;
    if (cs.length < conflictsSeen) conflictsSeen = 0;
    for (const c of cs.slice(conflictsSeen)) paths.push(c.path, parentOf(c.path));
    conflictsSeen = cs.length;
    // Uploading may have changed what the other names of a hard link show (size, mtime).
    if (ino !== undefined && namesOf.has(ino)) paths.push(...otherNames(ino, p));
    if (paths.length) await invalidateSoon(paths);
  };

  // Paths reported changed by another client, not yet looked at again (see the header).
  const entryTtlMs = (opts.entryTimeout ?? 60) * 1000;
  const suspects = new Map<string, number>();
  const markSuspects = (paths: string[]) => {
    // A restore invalidates every known path: past 100k names, stale names just age out (60 s).
    if (paths.length > 100_000) return;
    const now = Date.now();
    if (suspects.size > 10_000) for (const [p, exp] of suspects) if (exp < now) suspects.delete(p);
    for (const p of paths) suspects.set(p, now + entryTtlMs);
  };
  const takeSuspect = (p: string): boolean => {
    const exp = suspects.get(p);
    if (exp === undefined) return false;
    suspects.delete(p);
    return exp >= Date.now();
  };

  // ---- lock requests -------------------------------------------------------------------------------
  const waits = new Map<number, AbortController>();
  const withAbort = async <T>(id: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const ac = new AbortController();
    waits.set(id, ac);
    try {
      return await fn(ac.signal);
    } finally {
      waits.delete(id);
    }
  };

  const onRequest = (id: number, op: number, path: string | null, path2: string | null, fh: number, a: number, b: number, c: number, owner: string | null, data: Buffer | null, x?: bigint, y?: bigint, uid = 0, gid = 0) => {
    // fh 0 is a directory or an op without an open file: the core's handles start at 1.
    const h = fh > 0 ? fh : undefined;
    switch (op) {
      case O.getattr:
        return run(
          id,
          'getattr',
          { path, fh: h },
          async () => {
            let attr: Attr;
            try {
              attr = h !== undefined ? await fs.fgetattr(h).catch((e) => (path !== null ? fs.getattr(path) : Promise.reject(e))) : await fs.getattr(need(path));
            } catch (e) {
              if (h === undefined && path !== null && e instanceof FsError && e.errno === Errno.ENOENT && takeSuspect(path)) {
                throw new FsError(Errno.ESTALE, `${path}: removed by another client, revalidating`, { cause: e });
              }
              throw e;
            }
            if (path !== null) suspects.delete(path);
            noteAttr(path, attr);
            return attr;
          },
          (v) => [0, statArray(owned(v))],
        );
      case O.readdir:
        return run(
          id,
          'readdir',
          { path },
          () => fs.readdir(need(path)),
          (entries) => {
            const st = new Float64Array(entries.length * STAT_FIELDS);
            entries.forEach((e, i) => {
              putStat(st, i, owned(e.attr));
              noteAttr(path === '/' ? `/${e.name}` : `${path}/${e.name}`, e.attr);
            });
            return [0, [entries.map((e) => e.name), st]];
          },
        );
      case O.readlink:
        return run(id, 'readlink', { path }, () => fs.readlink(need(path)), (t) => [0, t]);
      case O.access:
        return run(id, 'access', { path, mode: a }, () => fs.access(need(path)));
      case O.statfs:
        return run(
          id,
          'statfs',
          { path },
          async () => fs.statfs(),
          (s) => [0, Float64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax)],
        );
      case O.open:
        return run(
          id,
          'open',
          { path, flags: a },
          async () => {
            try {
              const fhOut = await fs.open(need(path), a);
              // open(O_TRUNC) changed the size every other name of a hard link shows.
              if (a & 0o1000 && namesOf.size) {
                const others = otherNames(inoOfName.get(path!), path);
                if (others.length) await invalidateSoon(others);
              }
              return fhOut;
            } catch (e) {
              // A name the kernel still caches but the core no longer has: make the kernel revalidate.
              if (e instanceof FsError && e.errno === Errno.ENOENT) throw new FsError(Errno.ESTALE, `${path}: stale name, revalidating`, { cause: e });
              throw e;
            }
          },
          (fhOut) => [fhOut],
        );
      case O.create:
        return run(
          id,
          'create',
          { path, mode: a, flags: b },
          async () => {
            const r = await fs.create(need(path), a, b);
            await ownNew(path!, r.attr, uid, gid).catch((e) => log.debug('create: owner not recorded', { path, error: String(e) }));
            return r;
          },
          (r) => [r.fh],
        );
      case O.read:
        return run(id, 'read', { path, fh: h, len: a, pos: b }, () => fs.read(h ?? 0, b, a), (buf) => [buf.length, buf]);
      case O.write:
        return run(
          id,
          'write',
          { path, fh: h, len: a, pos: b },
          async () => {
            const n = await fs.write(h ?? 0, data ?? Buffer.alloc(0), b);
            if (namesOf.size) {
              // The other names of a hard-linked file are other kernel inodes with their own
              // pages: drop them before write(2) returns, as a local disk would show the bytes.
              const ino = await inoOfHandle(h, path);
              const others = otherNames(ino, path);
              if (others.length) await invalidateSoon(others);
            }
            return n;
          },
          (n) => [n],
        );
      case O.flush:
        return run(id, 'flush', { path, fh: h }, async () => {
          await fs.flush(h ?? 0);
          await afterSync(await inoOfHandle(h, path), path);
        });
      case O.fsync:
        return run(id, 'fsync', { path, fh: h }, async () => {
          await fs.fsync(h ?? 0);
          await afterSync(await inoOfHandle(h, path), path);
        });
      case O.release:
        return run(id, 'release', { path, fh: h }, async () => {
          const ino = await inoOfHandle(h, path);
          try {
            if (h !== undefined) await fs.release(h);
          } finally {
            // flock locks belong to the open file description: its last release drops them.
            if (b && owner !== null && locks) await locks.releaseFlock(owner, path ?? '', ino);
            await afterSync(ino, path);
          }
        });
      case O.truncate:
        return run(id, 'truncate', { path, fh: h, size: a }, async () => {
          if (h !== undefined) await fs.ftruncate(h, a);
          else await fs.truncate(need(path), a);
          const others = otherNames(await inoOfHandle(h, path), path);
          if (others.length) await invalidateSoon(others);
        });
      case O.chmod:
        return run(id, 'chmod', { path, mode: a }, async () => {
          await fs.chmod(need(path), a);
          const ino = inoOfName.get(path!);
          if (ino !== undefined) await invalidateSoon(otherNames(ino, path));
        });
      case O.utimens:
        return run(id, 'utimens', { path }, async () => {
          const p = need(path);
          let at = a;
          let mt = b;
          if (Number.isNaN(at) || Number.isNaN(mt)) {
            const cur = await fs.getattr(p);
            if (Number.isNaN(at)) at = cur.atime;
            if (Number.isNaN(mt)) mt = cur.mtime;
          }
          await fs.utimens(p, at, mt);
        });
      case O.fallocate:
        return run(id, 'fallocate', { path, fh: h, mode: a, offset: String(x), length: String(y) }, async () => {
          if (h === undefined) throw new FsError(Errno.EBADF, 'fallocate needs an open file');
          await fs.fallocate(h, a, Number(x ?? 0n), Number(y ?? 0n));
          // The kernel drops this name's pages of a punched/zeroed range itself; a hard link's
          // other names are other kernel inodes.
          if (namesOf.size) {
            const others = otherNames(await inoOfHandle(h, path), path);
            if (others.length) await invalidateSoon(others);
          }
        });
      case O.mkdir:
        return run(id, 'mkdir', { path, mode: a }, async () => {
          const attr = await fs.mkdir(need(path), a);
          await ownNew(path!, attr, uid, gid, attr.mode);
        });
      case O.chown:
        return run(id, 'chown', { path, uid: a, gid: b }, async () => {
          const cur = await fs.getattr(need(path));
          owners.set(cur.ino, a, b, cur);
          // POSIX: chown updates the ctime (only); the core keeps times in memory.
          await fs.utimens(path!, cur.atime, cur.mtime);
          const ino = cur.ino;
          const others = otherNames(ino, path); // a hard link's other names are other kernel inodes
          if (others.length) await invalidateSoon(others);
        });
      case O.rmdir:
        return run(id, 'rmdir', { path }, () => fs.rmdir(need(path)));
      case O.unlink:
        return run(id, 'unlink', { path }, async () => {
          await fs.unlink(need(path));
          const ino = forgetName(path!);
          // The other names' link count changed.
          if (ino !== undefined) await invalidateSoon(otherNames(ino, path));
        });
      case O.symlink:
        return run(id, 'symlink', { target: path2, path }, async () => {
          const attr = await fs.symlink(need(path2), need(path));
          await ownNew(path!, attr, uid, gid);
        });
      case O.rename:
        return run(id, 'rename', { src: path, dest: path2, flags: a }, async () => {
          if (a & RENAME_EXCHANGE) throw new FsError(Errno.EINVAL, 'RENAME_EXCHANGE is not supported');
          await fs.rename(need(path), need(path2), a);
          // A replaced destination that was a hard link: its other names' link count dropped.
          const replaced = forgetName(path2!);
          if (replaced !== undefined) {
            const others = otherNames(replaced, path2);
            if (others.length) await invalidateSoon(others);
          }
          const ino = forgetName(path!);
          if (ino !== undefined) {
            let s = namesOf.get(ino);
            if (!s) namesOf.set(ino, (s = new Set()));
            s.add(path2!);
            inoOfName.set(path2!, ino);
          }
        });
      case O.link:
        return run(id, 'link', { src: path, dest: path2 }, async () => {
          const attr = await fs.link(need(path), need(path2));
          noteAttr(path, attr);
          noteAttr(path2, attr);
          // Every other name's cached link count changed (`link f g; link g h`: f too, not only g).
          await invalidateSoon([path!, ...otherNames(attr.ino, path2)]);
          return attr;
        });
      case O.setxattr:
        return run(id, 'setxattr', { path, name: path2 }, async () => {
          const p = need(path);
          const name = need(path2);
          if (a & (XATTR_CREATE | XATTR_REPLACE)) {
            const exists = await fs.getxattr(p, name).then(
              () => true,
              (e) => {
                if (e instanceof FsError && e.errno === Errno.ENODATA) return false;
                throw e;
              },
            );
            if (a & XATTR_CREATE && exists) throw new FsError(Errno.EEXIST);
            if (a & XATTR_REPLACE && !exists) throw new FsError(Errno.ENODATA);
          }
          await fs.setxattr(p, name, data ?? Buffer.alloc(0));
        });
      case O.getxattr:
        return run(id, 'getxattr', { path, name: path2 }, () => fs.getxattr(need(path), need(path2)), (v) => [0, v]);
      case O.listxattr:
        return run(
          id,
          'listxattr',
          { path },
          () => fs.listxattr(need(path)),
          (names) => [0, Buffer.from(names.map((n) => `${n}\0`).join(''))],
        );
      case O.removexattr:
        return run(id, 'removexattr', { path, name: path2 }, () => fs.removexattr(need(path), need(path2)));
      case O.lock: {
        const cmd = LK_CMDS[a] ?? 'setlk';
        const type = LK_TYPES[b] ?? 'unlock';
        return run(
          id,
          'lock',
          { path, cmd, type, owner },
          () =>
            withAbort(id, async (signal) => {
              if (!locks) throw new FsError(Errno.ENOSYS);
              const p = need(path);
              return locks.fcntl({ path: p, ino: await inoOfHandle(h, p), fh: h, cmd, type, start: x ?? 0n, len: y ?? 0n, pid: c, owner: owner ?? '0', signal });
            }),
          (r) => (r && r.type !== 'unlock' ? [0, [LK_TYPES.indexOf(r.type), r.start, r.len, r.pid]] : [0, [2]]),
        );
      }
      case O.flock: {
        const type = LK_TYPES[a] ?? 'unlock';
        return run(id, 'flock', { path, type, nonBlocking: !!b, owner }, () =>
          withAbort(id, async (signal) => {
            if (!locks) throw new FsError(Errno.ENOSYS);
            const p = need(path);
            await locks.flock({ path: p, ino: await inoOfHandle(h, p), fh: h, type, nonBlocking: !!b, pid: c, owner: owner ?? '0', signal });
          }),
        );
      }
      default:
        count('unknown');
        return reply(id, -Errno.ENOSYS);
    }
  };

  let onMounted!: (errno: number) => void;
  const mounted = new Promise<number>((r) => (onMounted = r));
  let onStopped!: (status: number) => void;
  const stoppedP = new Promise<number>((r) => (onStopped = r));

  const handler: Handler = (kind, id, ...rest) => {
    if (kind === EV.request) {
      const [op, path, path2, fh, a, b, c, owner, data, x, y, uid, gid] = rest as [number, string | null, string | null, number, number, number, number, string | null, Buffer | null, bigint | undefined, bigint | undefined, number, number];
      try {
        onRequest(id, op, path, path2, fh, a, b, c, owner, data, x, y, uid, gid);
      } catch (e) {
        log.error('fuse3 request handler threw', { op, path, error: String(e) });
        reply(id, -Errno.EIO);
      }
    } else if (kind === EV.interrupt) {
      count('interrupted');
      waits.get(id)?.abort();
    } else if (kind === EV.invalidated) {
      const done = invalWaiters.get(id);
      invalWaiters.delete(id);
      done?.(rest[0] as number);
    } else if (kind === EV.mounted) {
      onMounted(rest[0] as number);
    } else if (kind === EV.stopped) {
      onStopped(rest[0] as number);
    }
  };

  const mountOpts = ['subtype=aether', `fsname=${opts.fsname.replace(/[,\s]/g, '_')}`, 'default_permissions'];
  if (opts.readOnly) mountOpts.push('ro');
  if (opts.allowOther) mountOpts.push('allow_other');
  const args = ['-o', mountOpts.join(',')];
  if (opts.debug) args.push('-d');
  handle = native.mount(
    opts.mountpoint,
    args,
    {
      attrTimeout: opts.attrTimeout ?? 60,
      entryTimeout: opts.entryTimeout ?? 60,
      kernelCache: opts.kernelCache === false ? 0 : 1,
      kernelLocks: locks ? 1 : 0,
      maxWrite: opts.maxWrite ?? 1 << 20,
      maxThreads: opts.maxThreads ?? 64,
      unmountTimeoutMs: opts.unmountTimeoutMs ?? 10_000,
    },
    handler,
  );
  const err = await mounted;
  if (err !== 0) {
    native.unmount(handle);
    await stoppedP;
    native.release(handle);
    throw new AetherError('AETHER_MOUNT_FAILED', `fuse_mount(${opts.mountpoint}) failed: errno ${-err}`, { kind: 'internal' });
  }
  log.debug('mounted with libfuse3', { mountpoint: opts.mountpoint, libfuse: native.libfuseVersion, kernelLocks: !!locks });

  let unmounting: Promise<void> | undefined;
  return {
    mountpoint: opts.mountpoint,
    binding: 'aether-fuse3',
    counters,
    kernelLocks: !!locks,
    invalidate(paths: string[]) {
      markSuspects(paths);
      return invalidate(paths);
    },
    unmount() {
      unmounting ??= (async () => {
        native.unmount(handle);
        const status = await stoppedP;
        stopped = true;
        for (const w of waits.values()) w.abort();
        for (const [token, done] of invalWaiters) {
          invalWaiters.delete(token);
          done(0);
        }
        native.release(handle);
        if (status !== 0) log.warn('the mount was detached but files in it are still open; they will fail once this process exits', { mountpoint: opts.mountpoint });
      })();
      return unmounting;
    },
  };
}
