// LockBridge: turns the kernel's lock requests on a mount into the gateway's POSIX lock routes, so
// a lock taken in one mount is seen and respected by every other mount and HTTP client of the
// session.
//
// - fcntl (F_GETLK/F_SETLK/F_SETLKW, F_UNLCK) → `:getPosixLock` / `:setPosixLock` /
//   `:setPosixLockBlocking` / `:funlock`; flock (LOCK_SH/LOCK_EX[/LOCK_NB], LOCK_UN) → `:flock` /
//   `:funlock` with isFlock. Owner = (ownerId: the kernel's lock_owner, clientId: this mount's
//   numeric client id); pid is informational. The kernel has already resolved SEEK_CUR/SEEK_END:
//   ranges arrive as (start, len) with len 0 = to end of file and beyond.
// - Errors: a conflict (code 10 ABORTED) → EAGAIN; the gateway's EDEADLK detail → EDEADLK; an
//   aborted blocking wait (Ctrl-C on the waiting process) → EINTR; the rest through
//   fromGatewayError.
// - Close semantics: closing any descriptor drops the process's fcntl locks on that file (the
//   binding sends an unlock of the whole range for the closing owner); flock locks go with the open
//   file description (dropped on its last release). The bridge remembers which (owner, file) pairs
//   it ever locked, so the unlock-on-close of files nobody locked costs no request.
// - Locks are keyed by path on the gateway: the path used when a lock was taken is remembered per
//   (owner, inode) and used to release it, so a rename while locked does not strand the lock.
// - Unmount and crash recovery: releaseAll() drops every lock and wait of this client id.
//
// Invariants: never waits without an AbortSignal path (blocking calls are long-lived HTTP
// requests); FUSE-free (the binding hands in plain values). Callers: src/fuse/fuse3-mount.ts, the
// mount daemon (releaseAll), unit tests.
import { createHash } from 'node:crypto';
import type { GatewayClient } from '../client/gateway-client.js';
import { isGatewayError } from '../client/gateway-error.js';
import { RpcCode } from '../protocol/rpc-status.js';
import type { Logger } from '../shared/log.js';
import { nullLogger } from '../shared/log.js';
import { Errno, FsError, fromGatewayError } from './fs-error.js';

export type LockType = 'read' | 'write' | 'unlock';

export interface FcntlRequest {
  path: string;
  /** Inode of the file (identifies it across renames); defaults to the path. */
  ino?: number;
  /** Open file handle the request came through (for the hooks). */
  fh?: number;
  cmd: 'getlk' | 'setlk' | 'setlkw';
  type: LockType;
  start: bigint;
  /** 0 = to end of file (and beyond). */
  len: bigint;
  pid: number;
  /** Kernel lock owner, decimal. */
  owner: string;
  signal?: AbortSignal;
}

export interface FlockRequest {
  path: string;
  ino?: number;
  fh?: number;
  type: LockType;
  nonBlocking: boolean;
  pid: number;
  owner: string;
  signal?: AbortSignal;
}

/** F_GETLK answer: 'unlock' = the lock could be placed. */
export type GetlkResult = { type: 'unlock' } | { type: 'read' | 'write'; start: bigint; len: bigint; pid: number };

export interface LockBridgeHooks {
  /**
   * Before a lock is placed or tested (F_GETLK): make sure the file exists on the gateway (a file
   * created in this mount is uploaded on close; the gateway only knows locks of existing paths).
   */
  beforeLock?(path: string, fh: number | undefined): Promise<void>;
  /** Before an explicit unlock: upload pending writes so the next holder reads them. */
  beforeUnlock?(path: string, fh: number | undefined): Promise<void>;
}

/**
 * Hooks wired to the filesystem core: upload a file before locking it (a file created in this
 * mount only reaches the gateway on close, and the gateway locks existing paths only) and before
 * an explicit unlock (the next holder, maybe on another machine, must read what was written under
 * the lock). Both are no-ops for files without pending writes.
 */
export function lockHooksFor(fs: { flush(fh: number): Promise<void>; lockBarrier?(fh: number | undefined): Promise<void> }): LockBridgeHooks {
  const flush = async (_path: string, fh: number | undefined) => {
    if (fs.lockBarrier) await fs.lockBarrier(fh);
    else if (fh !== undefined && fh > 0) await fs.flush(fh);
  };
  return { beforeLock: flush, beforeUnlock: flush };
}

export interface LockBridgeOptions {
  client: GatewayClient;
  sessionId: string;
  /** This mount's numeric client id (uint64, decimal): see lockClientIdFor(). */
  clientId: string;
  hooks?: LockBridgeHooks;
  logger?: Logger;
}

export interface LockBridgeStats {
  requests: number;
  granted: number;
  conflicts: number;
  interrupted: number;
  skippedUnlocks: number;
}

/**
 * A stable numeric client id for a mount: the same (host, mountpoint, session) gets the same id
 * across daemon restarts, so the next daemon can release what a crashed one held.
 */
export function lockClientIdFor(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  // 63 bits: a positive int64 as well as a uint64, whatever the other side parses it as.
  return (h.readBigUInt64BE(0) & ((1n << 63n) - 1n)).toString();
}

interface Held {
  path: string;
  posix: boolean;
  flock: boolean;
}

const KIND = { read: 'POSIX_LOCK_KIND_SHARED', write: 'POSIX_LOCK_KIND_EXCLUSIVE' } as const;
const FLOCK_MODE = { read: 'POSIX_FLOCK_MODE_SHARED', write: 'POSIX_FLOCK_MODE_EXCLUSIVE' } as const;

function hasDetail(e: unknown, reason: string): boolean {
  if (!isGatewayError(e)) return false;
  return e.details.some((d) => !!d && typeof d === 'object' && (d as { reason?: unknown }).reason === reason);
}

export class LockBridge {
  readonly clientId: string;
  readonly stats: LockBridgeStats = { requests: 0, granted: 0, conflicts: 0, interrupted: 0, skippedUnlocks: 0 };
  private readonly client: GatewayClient;
  private readonly sessionId: string;
  private readonly hooks: LockBridgeHooks;
  private readonly log: Logger;
  /** owner → file key → what that owner may hold there. */
  private readonly held = new Map<string, Map<string, Held>>();

  constructor(opts: LockBridgeOptions) {
    this.client = opts.client;
    this.sessionId = opts.sessionId;
    this.clientId = opts.clientId;
    this.hooks = opts.hooks ?? {};
    this.log = opts.logger ?? nullLogger;
  }

  private key(path: string, ino: number | undefined): string {
    return ino !== undefined ? `#${ino}` : path;
  }

  private entry(owner: string, path: string, ino: number | undefined, create: boolean): Held | undefined {
    let files = this.held.get(owner);
    if (!files) {
      if (!create) return undefined;
      files = new Map();
      this.held.set(owner, files);
    }
    const k = this.key(path, ino);
    let h = files.get(k);
    if (!h && create) {
      h = { path, posix: false, flock: false };
      files.set(k, h);
    }
    return h;
  }

  private forget(owner: string, path: string, ino: number | undefined, what: 'posix' | 'flock'): void {
    const files = this.held.get(owner);
    const k = this.key(path, ino);
    const h = files?.get(k);
    if (!files || !h) return;
    h[what] = false;
    if (!h.posix && !h.flock) files.delete(k);
    if (!files.size) this.held.delete(owner);
  }

  /** Does `owner` (possibly) hold a lock of this kind on the file? */
  holds(owner: string, path: string, ino: number | undefined, what: 'posix' | 'flock'): boolean {
    return !!this.entry(owner, path, ino, false)?.[what];
  }

  private owner(owner: string, pid: number) {
    return { ownerId: owner, pid: Math.max(0, Math.trunc(pid) || 0), clientId: this.clientId };
  }

  /** Map a failed lock call to the errno the process sees. */
  private toFsError(e: unknown, signal: AbortSignal | undefined): FsError {
    if (signal?.aborted) return new FsError(Errno.EINTR, 'interrupted while waiting for a lock', { cause: e });
    if (isGatewayError(e)) {
      if (e.rpcCode === RpcCode.CANCELLED) return new FsError(Errno.EINTR, e.message, { cause: e });
      if (hasDetail(e, 'EDEADLK')) return new FsError(Errno.EDEADLK, e.message, { cause: e });
      if (e.rpcCode === RpcCode.ABORTED) return new FsError(Errno.EAGAIN, e.message, { cause: e });
    }
    return fromGatewayError(e);
  }

  /** fcntl(2) record locks. F_GETLK returns the first conflicting lock (or 'unlock'). */
  async fcntl(req: FcntlRequest): Promise<GetlkResult | undefined> {
    const range = { start: req.start.toString(), length: (req.len < 0n ? 0n : req.len).toString() };
    const owner = this.owner(req.owner, req.pid);
    if (req.cmd === 'getlk') {
      if (req.type === 'unlock') return { type: 'unlock' };
      // A file created in this mount and not yet closed is not on the gateway yet: without this
      // upload F_GETLK answers ENOENT (SQLite's WAL probes `<db>-shm` right after O_CREAT).
      await this.hooks.beforeLock?.(req.path, req.fh);
      const h = this.entry(req.owner, req.path, req.ino, false);
      this.stats.requests++;
      try {
        const res = await this.client.getPosixLock(this.sessionId, { path: h?.path ?? req.path, kind: KIND[req.type], range, owner });
        if (!res.hasConflict || !res.conflict) return { type: 'unlock' };
        const c = res.conflict;
        return {
          type: c.kind === 'POSIX_LOCK_KIND_SHARED' ? 'read' : 'write',
          start: BigInt(c.range?.start ?? '0'),
          len: BigInt(c.range?.length ?? '0'),
          pid: c.owner?.pid ?? 0,
        };
      } catch (e) {
        throw this.toFsError(e, req.signal);
      }
    }
    if (req.type === 'unlock') {
      const h = this.entry(req.owner, req.path, req.ino, false);
      if (!h?.posix) {
        this.stats.skippedUnlocks++;
        return undefined;
      }
      await this.hooks.beforeUnlock?.(h.path, req.fh);
      this.stats.requests++;
      try {
        await this.client.funlock(this.sessionId, { path: h.path, owner, range, isFlock: false });
      } catch (e) {
        throw this.toFsError(e, req.signal);
      }
      if (req.start === 0n && req.len === 0n) this.forget(req.owner, req.path, req.ino, 'posix');
      return undefined;
    }
    await this.hooks.beforeLock?.(req.path, req.fh);
    const before = this.entry(req.owner, req.path, req.ino, false);
    const hadLock = !!before?.posix;
    const lockPath = before?.path ?? req.path;
    // Mark first: a request that the gateway grants must be released on close even if we never
    // see its answer (a crash of the caller, a lost response).
    this.entry(req.owner, req.path, req.ino, true)!.posix = true;
    this.stats.requests++;
    const body = { path: lockPath, kind: KIND[req.type], range, owner };
    try {
      if (req.cmd === 'setlkw') await this.client.setPosixLockBlocking(this.sessionId, body, { signal: req.signal });
      else await this.client.setPosixLock(this.sessionId, body, { signal: req.signal });
      this.stats.granted++;
      return undefined;
    } catch (e) {
      const err = this.toFsError(e, req.signal);
      if (err.errno === Errno.EAGAIN) this.stats.conflicts++;
      if (err.errno === Errno.EINTR) {
        this.stats.interrupted++;
        // The grant may have raced with the abort: an owner that held nothing here must not be
        // left holding the range it gave up waiting for.
        if (!hadLock) await this.client.funlock(this.sessionId, { path: lockPath, owner, range, isFlock: false }).catch(() => undefined);
      }
      if (!hadLock) this.forget(req.owner, req.path, req.ino, 'posix');
      throw err;
    }
  }

  /** flock(2) whole-file locks. */
  async flock(req: FlockRequest): Promise<void> {
    const owner = this.owner(req.owner, req.pid);
    if (req.type === 'unlock') {
      const h = this.entry(req.owner, req.path, req.ino, false);
      if (!h?.flock) {
        this.stats.skippedUnlocks++;
        return;
      }
      await this.hooks.beforeUnlock?.(h.path, req.fh);
      await this.unflock(req.owner, h.path, req.ino ?? undefined, owner);
      return;
    }
    await this.hooks.beforeLock?.(req.path, req.fh);
    const before = this.entry(req.owner, req.path, req.ino, false);
    const hadLock = !!before?.flock;
    const lockPath = before?.path ?? req.path;
    this.entry(req.owner, req.path, req.ino, true)!.flock = true;
    this.stats.requests++;
    try {
      await this.client.flock(
        this.sessionId,
        { path: lockPath, mode: FLOCK_MODE[req.type], owner, blocking: !req.nonBlocking },
        { signal: req.signal },
      );
      this.stats.granted++;
    } catch (e) {
      const err = this.toFsError(e, req.signal);
      if (err.errno === Errno.EAGAIN) this.stats.conflicts++;
      if (err.errno === Errno.EINTR) this.stats.interrupted++;
      if (req.nonBlocking) {
        // A refused non-blocking request (or conversion) leaves any old lock in place.
        if (!hadLock) this.forget(req.owner, req.path, req.ino, 'flock');
      } else {
        // A blocking request drops the old lock before it waits (as Linux does); after a failed or
        // interrupted wait the owner holds nothing — also if the grant raced with the abort.
        await this.client.funlock(this.sessionId, { path: lockPath, owner, isFlock: true }).catch(() => undefined);
        this.forget(req.owner, req.path, req.ino, 'flock');
      }
      throw err;
    }
  }

  private async unflock(ownerKey: string, path: string, ino: number | undefined, owner: { ownerId: string; pid: number; clientId: string }): Promise<void> {
    this.stats.requests++;
    try {
      await this.client.funlock(this.sessionId, { path, owner, isFlock: true });
    } catch (e) {
      throw this.toFsError(e, undefined);
    }
    this.forget(ownerKey, path, ino, 'flock');
  }

  /** The last release of an open file description: drop its flock, if it ever took one. */
  async releaseFlock(owner: string, path: string, ino?: number): Promise<void> {
    const h = this.entry(owner, path, ino, false);
    if (!h?.flock) return;
    await this.unflock(owner, h.path, ino, this.owner(owner, 0)).catch((e) => this.log.warn('could not release a flock on close', { path: h.path, error: String(e) }));
  }

  /** Unmount / crash recovery: drop every lock and pending wait of this client on the gateway. */
  async releaseAll(): Promise<{ releasedLocks: number; cancelledWaits: number }> {
    this.held.clear();
    const r = await this.client.releasePosixLocks(this.sessionId, { owner: { clientId: this.clientId } });
    return { releasedLocks: r.releasedLocks ?? 0, cancelledWaits: r.cancelledWaits ?? 0 };
  }
}
