// PosixLockTable: the gateway's in-memory model of fcntl(2) record locks and flock(2) whole-file
// locks, with blocking waiters. Pure logic (no HTTP, no SQLite): routes/locks.ts maps its results
// and LockWaitError reasons to the public API.
//
// Semantics (Linux-like):
// - Locks live in a scope (one session) and are keyed by path inside it. Like kernel locks they are
//   process-lifetime state: a gateway restart drops them all (clients re-take them; the mount calls
//   the release extension on unmount and crash recovery).
// - A lock's identity is (ownerId, clientId); `pid` is informational (reported in conflicts).
// - fcntl and flock are separate namespaces: they never conflict with each other.
// - fcntl: a lock of one owner never conflicts with that owner's own locks. Setting a lock over a
//   range replaces the owner's locks there (splitting them at the edges, converting their kind),
//   then coalesces overlapping/adjacent same-kind ranges, as POSIX specifies. Unlock removes the
//   range from the owner's locks, splitting as needed. Shared+shared coexist; exclusive conflicts
//   with any overlapping lock of another owner. `end === null` means "to end of file and beyond".
// - flock: one whole-file lock per owner; a new mode converts it. A non-blocking conversion that
//   conflicts leaves the old lock in place; a blocking conversion first drops the old lock and then
//   waits (as Linux does, so two shared holders upgrading at once cannot deadlock).
// - Waiters are served in FIFO order, each as soon as it no longer conflicts (no anti-starvation
//   for exclusive waiters). A blocking fcntl request that would close a wait-for cycle between
//   owners of the same scope fails at once with reason 'deadlock' (Linux EDEADLK); flock waits are
//   not checked, as on Linux.
//
// Allowed callers: routes/locks.ts and unit tests.

export type PosixLockKind = 'shared' | 'exclusive';

/** Who holds a lock: identity is (ownerId, clientId); pid is reported but never compared. */
export interface PosixLockOwner {
  /** uint64 decimal string (e.g. the FUSE lock_owner). */
  ownerId: string;
  /** uint64 decimal string identifying the client (mount) that holds the lock. */
  clientId: string;
  pid: number;
}

/** One held lock (or a request for one). Offsets are bigint: ranges are int64 on the wire. */
export interface PosixLock {
  kind: PosixLockKind;
  /** First byte (inclusive). Always 0 for flock. */
  start: bigint;
  /** First byte past the range, or null for "to EOF and beyond". Always null for flock. */
  end: bigint | null;
  owner: PosixLockOwner;
  isFlock: boolean;
}

/** Why a blocking wait ended without the lock. */
export type LockWaitFailure = 'aborted' | 'timeout' | 'deadlock' | 'cancelled';

export class LockWaitError extends Error {
  constructor(
    readonly reason: LockWaitFailure,
    message: string,
    /** For 'timeout' and 'deadlock': a lock that was in the way. */
    readonly blocker?: PosixLock,
  ) {
    super(message);
    this.name = 'LockWaitError';
  }
}

export interface WaitOptions {
  /** Abandon the wait (and take nothing) when this aborts. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds (real time); 0/undefined = wait forever. */
  timeoutMs?: number;
}

interface Waiter {
  req: PosixLock;
  resolve(): void;
  fail(err: LockWaitError): void;
}

interface FileLocks {
  posix: PosixLock[];
  flock: PosixLock[];
  waiters: Waiter[];
}

/** True when both locks belong to the same (ownerId, clientId). */
export function sameOwner(a: PosixLockOwner, b: PosixLockOwner): boolean {
  return a.ownerId === b.ownerId && a.clientId === b.clientId;
}

/** Half-open ranges [start, end) with null = infinity. */
export function rangesOverlap(a: { start: bigint; end: bigint | null }, b: { start: bigint; end: bigint | null }): boolean {
  return (b.end === null || a.start < b.end) && (a.end === null || b.start < a.end);
}

function conflicts(held: PosixLock, req: PosixLock): boolean {
  if (sameOwner(held.owner, req.owner)) return false;
  if (held.kind === 'shared' && req.kind === 'shared') return false;
  return held.isFlock || rangesOverlap(held, req);
}

const byStart = (a: PosixLock, b: PosixLock) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);

/** Remove [start, end) from `locks` (all of one owner), splitting locks that straddle its edges. */
function carve(locks: PosixLock[], start: bigint, end: bigint | null): PosixLock[] {
  const out: PosixLock[] = [];
  for (const l of locks) {
    if (!rangesOverlap(l, { start, end })) {
      out.push(l);
      continue;
    }
    if (l.start < start) out.push({ ...l, end: start });
    if (end !== null && (l.end === null || l.end > end)) out.push({ ...l, start: end });
  }
  return out;
}

/** Coalesce overlapping or adjacent same-kind locks of one owner (POSIX merges them). */
function coalesce(locks: PosixLock[]): PosixLock[] {
  const sorted = [...locks].sort(byStart);
  const out: PosixLock[] = [];
  for (const l of sorted) {
    const prev = out.length ? out[out.length - 1]! : undefined;
    // Same-owner locks never overlap after carve(), so only adjacency needs merging; keep the
    // overlap test anyway so the function is safe on any input of one owner and kind.
    if (prev && prev.kind === l.kind && prev.end === null) continue; // already covered to EOF
    if (prev && prev.kind === l.kind && l.start <= prev.end!) {
      const end = l.end === null ? null : l.end > prev.end! ? l.end : prev.end;
      out[out.length - 1] = { ...prev, end, owner: l.owner };
    } else out.push({ ...l });
  }
  return out;
}

export class PosixLockTable {
  private scopes = new Map<string, Map<string, FileLocks>>();

  /** The first lock (lowest start, then oldest) of another owner that conflicts with `req`, if any. */
  test(scope: string, path: string, req: PosixLock): PosixLock | undefined {
    return this.conflictsOf(this.file(scope, path, false), req)[0];
  }

  /** Take `req` if nothing conflicts; returns the first conflicting lock otherwise (nothing changes). */
  trySet(scope: string, path: string, req: PosixLock): PosixLock | undefined {
    const f = this.file(scope, path, true)!;
    const c = this.conflictsOf(f, req)[0];
    if (c) {
      this.gc(scope, path);
      return c;
    }
    this.grant(f, req);
    this.wake(scope, path);
    return undefined;
  }

  /**
   * Take `req`, waiting as long as it conflicts. Rejects with LockWaitError when the signal aborts
   * ('aborted'), the timeout passes ('timeout'), the wait would deadlock ('deadlock', fcntl only) or
   * the owner's client is released meanwhile ('cancelled'); in every such case nothing is granted.
   */
  set(scope: string, path: string, req: PosixLock, opts: WaitOptions = {}): Promise<void> {
    if (opts.signal?.aborted) return Promise.reject(new LockWaitError('aborted', 'the request was cancelled'));
    const f = this.file(scope, path, true)!;
    if (req.isFlock) {
      // Linux drops the old flock before waiting for the new mode (see header).
      const before = f.flock.length;
      f.flock = f.flock.filter((l) => !sameOwner(l.owner, req.owner));
      if (f.flock.length !== before) this.wake(scope, path);
    }
    const blockers = this.conflictsOf(f, req);
    if (!blockers.length) {
      this.grant(f, req);
      this.wake(scope, path);
      return Promise.resolve();
    }
    if (!req.isFlock && this.wouldDeadlock(scope, req.owner, blockers)) {
      this.gc(scope, path);
      return Promise.reject(
        new LockWaitError('deadlock', `waiting would deadlock: owner ${blockers[0]!.owner.ownerId} is itself waiting for a lock held by owner ${req.owner.ownerId}`, blockers[0]),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const remove = () => {
        const cur = this.scopes.get(scope)?.get(path);
        if (cur) cur.waiters = cur.waiters.filter((w) => w !== waiter);
        this.gc(scope, path);
      };
      const waiter: Waiter = {
        req,
        resolve: () => {
          cleanup();
          resolve();
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const onAbort = () => {
        remove();
        waiter.fail(new LockWaitError('aborted', 'the request was cancelled'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs && opts.timeoutMs > 0) {
        timer = setTimeout(() => {
          const blocker = this.test(scope, path, req);
          remove();
          waiter.fail(new LockWaitError('timeout', `timed out after ${opts.timeoutMs} ms`, blocker));
        }, opts.timeoutMs);
      }
      f.waiters.push(waiter);
    });
  }

  /** fcntl unlock: remove [start, end) from the owner's locks on `path`. Returns whether anything changed. */
  unlock(scope: string, path: string, owner: PosixLockOwner, start: bigint, end: bigint | null): boolean {
    const f = this.file(scope, path, false);
    if (!f) return false;
    const mine = f.posix.filter((l) => sameOwner(l.owner, owner));
    if (!mine.some((l) => rangesOverlap(l, { start, end }))) return false;
    f.posix = [...f.posix.filter((l) => !sameOwner(l.owner, owner)), ...carve(mine, start, end)].sort(byStart);
    this.wake(scope, path);
    return true;
  }

  /** flock(LOCK_UN): drop the owner's flock on `path`. Returns whether it held one. */
  unflock(scope: string, path: string, owner: PosixLockOwner): boolean {
    const f = this.file(scope, path, false);
    if (!f) return false;
    const before = f.flock.length;
    f.flock = f.flock.filter((l) => !sameOwner(l.owner, owner));
    if (f.flock.length === before) return false;
    this.wake(scope, path);
    return true;
  }

  /**
   * Drop every lock (fcntl and flock, all paths) held in `scope` by `clientId` — optionally only
   * those of one ownerId — and fail that client's pending waits with 'cancelled'.
   */
  releaseClient(scope: string, clientId: string, ownerId?: string): { releasedLocks: number; cancelledWaits: number } {
    const files = this.scopes.get(scope);
    if (!files) return { releasedLocks: 0, cancelledWaits: 0 };
    const mine = (o: PosixLockOwner) => o.clientId === clientId && (ownerId === undefined || o.ownerId === ownerId);
    let releasedLocks = 0;
    let cancelledWaits = 0;
    const cancelled: Waiter[] = [];
    for (const f of files.values()) {
      const p = f.posix.length + f.flock.length;
      f.posix = f.posix.filter((l) => !mine(l.owner));
      f.flock = f.flock.filter((l) => !mine(l.owner));
      releasedLocks += p - f.posix.length - f.flock.length;
      for (const w of f.waiters) if (mine(w.req.owner)) cancelled.push(w);
      f.waiters = f.waiters.filter((w) => !mine(w.req.owner));
    }
    cancelledWaits = cancelled.length;
    for (const w of cancelled) w.fail(new LockWaitError('cancelled', `locks of client ${clientId} were released while waiting`));
    for (const path of [...files.keys()]) this.wake(scope, path);
    return { releasedLocks, cancelledWaits };
  }

  /** Snapshot of the locks held on `path` (fcntl sorted by start, then flock). For tests and debugging. */
  locks(scope: string, path: string): PosixLock[] {
    const f = this.scopes.get(scope)?.get(path);
    return f ? [...f.posix, ...f.flock].map((l) => ({ ...l, owner: { ...l.owner } })) : [];
  }

  /** Number of pending waits on `path`. */
  waiting(scope: string, path: string): number {
    return this.scopes.get(scope)?.get(path)?.waiters.length ?? 0;
  }

  /** Number of paths with locks or waiters in `scope` (memory is reclaimed when a path empties). */
  pathCount(scope: string): number {
    return this.scopes.get(scope)?.size ?? 0;
  }

  // ---- internals ---------------------------------------------------------------------------------

  private file(scope: string, path: string, create: boolean): FileLocks | undefined {
    let files = this.scopes.get(scope);
    if (!files) {
      if (!create) return undefined;
      files = new Map();
      this.scopes.set(scope, files);
    }
    let f = files.get(path);
    if (!f && create) {
      f = { posix: [], flock: [], waiters: [] };
      files.set(path, f);
    }
    return f;
  }

  /** Drop empty bookkeeping so long-running gateways do not accumulate one entry per path ever locked. */
  private gc(scope: string, path: string): void {
    const files = this.scopes.get(scope);
    const f = files?.get(path);
    if (files && f && !f.posix.length && !f.flock.length && !f.waiters.length) files.delete(path);
    if (files && !files.size) this.scopes.delete(scope);
  }

  private conflictsOf(f: FileLocks | undefined, req: PosixLock): PosixLock[] {
    if (!f) return [];
    return (req.isFlock ? f.flock : f.posix).filter((held) => conflicts(held, req));
  }

  private grant(f: FileLocks, req: PosixLock): void {
    if (req.isFlock) {
      f.flock = [...f.flock.filter((l) => !sameOwner(l.owner, req.owner)), { ...req, start: 0n, end: null }];
      return;
    }
    const mine = f.posix.filter((l) => sameOwner(l.owner, req.owner));
    const others = f.posix.filter((l) => !sameOwner(l.owner, req.owner));
    const next = carve(mine, req.start, req.end);
    next.push({ ...req });
    const merged = [
      ...coalesce(next.filter((l) => l.kind === 'shared')),
      ...coalesce(next.filter((l) => l.kind === 'exclusive')),
    ];
    f.posix = [...others, ...merged].sort(byStart);
  }

  /** Grant every waiter that no longer conflicts, oldest first, until nothing more can be granted. */
  private wake(scope: string, path: string): void {
    const f = this.scopes.get(scope)?.get(path);
    if (!f) return;
    let progress = true;
    while (progress) {
      progress = false;
      for (const w of [...f.waiters]) {
        if (this.conflictsOf(f, w.req).length) continue;
        f.waiters = f.waiters.filter((x) => x !== w);
        this.grant(f, w.req);
        w.resolve();
        progress = true;
      }
    }
    this.gc(scope, path);
  }

  /** Would `owner` waiting on `blockers` close a cycle of fcntl waits in `scope`? */
  private wouldDeadlock(scope: string, owner: PosixLockOwner, blockers: PosixLock[]): boolean {
    const files = this.scopes.get(scope);
    if (!files) return false;
    const key = (o: PosixLockOwner) => `${o.ownerId}/${o.clientId}`;
    const target = key(owner);
    const seen = new Set<string>();
    const stack = blockers.map((b) => b.owner);
    while (stack.length) {
      const o = stack.pop()!;
      const k = key(o);
      if (k === target) return true;
      if (seen.has(k)) continue;
      seen.add(k);
      // Whom is `o` waiting for right now?
      for (const f of files.values()) {
        for (const w of f.waiters) {
          if (w.req.isFlock || !sameOwner(w.req.owner, o)) continue;
          for (const c of this.conflictsOf(f, w.req)) stack.push(c.owner);
        }
      }
    }
    return false;
  }
}
