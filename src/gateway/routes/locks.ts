// Route family: POSIX record locks and flock (seed §22) and collaboration file locks (seed §23).
//
// POSIX/flock locks are process-lifetime state held in memory by a PosixLockTable (like kernel
// locks, they vanish when the gateway restarts; see locks/posix-lock-table.ts for the semantics).
// They are keyed by (session, path): a lock does not follow a rename, and stays until released even
// if the file is deleted. Taking or testing a lock requires the path to exist in the session tree
// (missing → 5); releasing never does, so close() after unlink still releases. No events are
// recorded for POSIX locks (far too chatty for an audit log).
//
// Collaboration locks are advisory, TTL-bound and persisted in SQLite (locks/file-lock-repo.ts);
// their owner is the calling principal. Lock/Unlock/ForceUnlock are recorded as events.
//
// Aether extensions here: `:setPosixLockBlocking` accepts `timeoutMs`; `:flock` accepts mode
// POSIX_FLOCK_MODE_UNLOCK; `POST /v1/sessions/{sessionId}:releasePosixLocks`.
import type { Router, RequestContext } from '../http/router.js';
import type { GatewayCore, SessionRow } from '../core.js';
import { ApiError, aborted, invalidArgument, notFound } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { normalizePath, parseBool, parseEnum, parseInt64, parseObject, requireString } from '../http/validate.js';
import { LockWaitError, PosixLockTable, type PosixLock, type PosixLockKind, type PosixLockOwner } from '../locks/posix-lock-table.js';
import { FileLockRepo } from '../locks/file-lock-repo.js';
import type {
  FileLock,
  ForceUnlockResponse,
  GetPosixLockResponse,
  ListLocksResponse,
  LockResponse,
  PosixLock as WirePosixLock,
  RenewLockResponse,
} from '../../protocol/types.js';

const KINDS = ['POSIX_LOCK_KIND_SHARED', 'POSIX_LOCK_KIND_EXCLUSIVE'] as const;
const FLOCK_MODES = ['POSIX_FLOCK_MODE_SHARED', 'POSIX_FLOCK_MODE_EXCLUSIVE', 'POSIX_FLOCK_MODE_UNLOCK'] as const;
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** Default and bounds of a collaboration lock's TTL, in seconds. */
export const FILE_LOCK_DEFAULT_TTL = 300;
export const FILE_LOCK_MAX_TTL = 86_400;

/** Parse a proto3-JSON 64-bit integer (decimal string or safe JSON number) into a bigint. */
function parseBig(v: unknown, field: string, dflt: bigint, min: bigint, max: bigint): bigint {
  if (v === undefined || v === null || v === '') return dflt;
  let n: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) n = BigInt(v);
  else throw invalidArgument(`${field} must be an integer (decimal string)`);
  if (n < min || n > max) throw invalidArgument(`${field} must be between ${min} and ${max}`);
  return n;
}

function parseOwner(v: unknown, field = 'owner'): PosixLockOwner {
  if (v === undefined || v === null) throw invalidArgument(`${field} is required`);
  const o = parseObject(v, field);
  if (o.ownerId === undefined || o.ownerId === null || o.ownerId === '') throw invalidArgument(`${field}.ownerId is required`);
  return {
    ownerId: parseBig(o.ownerId, `${field}.ownerId`, 0n, 0n, UINT64_MAX).toString(),
    clientId: parseBig(o.clientId, `${field}.clientId`, 0n, 0n, UINT64_MAX).toString(),
    pid: parseInt64(o.pid, `${field}.pid`, 0, { min: 0, max: 2 ** 31 - 1 }),
  };
}

/** `range` → half-open [start, end); length "0" (or absent) = to end of file. */
function parseRange(v: unknown): { start: bigint; end: bigint | null } {
  const r = parseObject(v, 'range');
  const start = parseBig(r.start, 'range.start', 0n, 0n, INT64_MAX);
  const length = parseBig(r.length, 'range.length', 0n, 0n, INT64_MAX);
  if (length === 0n) return { start, end: null };
  if (start + length - 1n > INT64_MAX) throw invalidArgument('range.start + range.length overflows int64');
  return { start, end: start + length };
}

function kindOf(v: unknown, field = 'kind'): PosixLockKind {
  return parseEnum(v, field, KINDS) === 'POSIX_LOCK_KIND_SHARED' ? 'shared' : 'exclusive';
}

function wireLock(l: PosixLock): WirePosixLock {
  return {
    kind: l.kind === 'shared' ? 'POSIX_LOCK_KIND_SHARED' : 'POSIX_LOCK_KIND_EXCLUSIVE',
    range: { start: String(l.start), length: l.end === null ? '0' : String(l.end - l.start) },
    owner: { ownerId: l.owner.ownerId, pid: l.owner.pid, clientId: l.owner.clientId },
    isFlock: l.isFlock,
  };
}

/** "exclusive fcntl lock on bytes 0..EOF held by owner 1002 (client 8, pid 4310)". */
function describe(l: PosixLock): string {
  const what = l.isFlock ? `${l.kind} flock` : `${l.kind} fcntl lock on bytes ${l.start}..${l.end === null ? 'EOF' : String(l.end - 1n)}`;
  return `${what} held by owner ${l.owner.ownerId} (client ${l.owner.clientId}, pid ${l.owner.pid})`;
}

function waitError(err: unknown, path: string, timeoutMs: number): unknown {
  if (!(err instanceof LockWaitError)) return err;
  switch (err.reason) {
    case 'aborted':
      return new ApiError(RpcCode.CANCELLED, `the wait for a lock on ${path} was cancelled by the client`);
    case 'timeout':
      return new ApiError(RpcCode.DEADLINE_EXCEEDED, `timed out after ${timeoutMs} ms waiting for a lock on ${path}${err.blocker ? `: ${describe(err.blocker)}` : ''}`);
    case 'deadlock':
      return new ApiError(RpcCode.ABORTED, `deadlock: waiting for a lock on ${path} would never end (${err.message})`, [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EDEADLK', domain: 'aetherfs.io', metadata: { path } },
      ]);
    case 'cancelled':
      return aborted(`the wait for a lock on ${path} ended: ${err.message}`);
  }
}

export function registerLockRoutes(router: Router, core: GatewayCore): void {
  const table = new PosixLockTable();
  const fileLocks = new FileLockRepo(core.db, core.clock);

  /** Taking or testing a lock needs the path to exist in the session's current tree. */
  const requireExisting = (s: SessionRow, path: string) => {
    if (!core.trees.lookup(s.root, path)) throw notFound(`${path} does not exist in session ${s.id}`);
  };

  // ---- POSIX (fcntl) and flock ----------------------------------------------------------------

  router.post('/v1/sessions/{sessionId}:getPosixLock', (ctx): GetPosixLockResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const b = ctx.body;
    const path = normalizePath(b.path);
    const kind = kindOf(b.kind);
    const owner = parseOwner(b.owner);
    const range = parseRange(b.range);
    const isFlock = parseBool(b.isFlock, 'isFlock');
    requireExisting(s, path);
    const req: PosixLock = isFlock ? { kind, start: 0n, end: null, owner, isFlock } : { kind, ...range, owner, isFlock };
    const c = table.test(s.id, path, req);
    return c ? { hasConflict: true, conflict: wireLock(c) } : { hasConflict: false };
  });

  /** Parse a set request (shared by the blocking and non-blocking routes). `isFlock: true` takes a flock. */
  const parseSet = (ctx: RequestContext) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const b = ctx.body;
    const path = normalizePath(b.path);
    const kind = kindOf(b.kind);
    const owner = parseOwner(b.owner);
    const range = parseRange(b.range);
    const isFlock = parseBool(b.isFlock, 'isFlock');
    const req: PosixLock = isFlock ? { kind, start: 0n, end: null, owner, isFlock } : { kind, ...range, owner, isFlock };
    return { s, path, req };
  };

  router.post('/v1/sessions/{sessionId}:setPosixLock', (ctx) => {
    const { s, path, req } = parseSet(ctx);
    requireExisting(s, path);
    const c = table.trySet(s.id, path, req);
    if (c) throw aborted(`${path} is locked: ${describe(c)}`);
    return {};
  });

  router.post('/v1/sessions/{sessionId}:setPosixLockBlocking', async (ctx) => {
    const { s, path, req } = parseSet(ctx);
    // Extension: optional bound on the wait (real milliseconds); absent/0 = wait until granted.
    const timeoutMs = parseInt64(ctx.body.timeoutMs, 'timeoutMs', 0, { min: 0, max: 2 ** 31 - 1 });
    requireExisting(s, path);
    try {
      await table.set(s.id, path, req, { signal: ctx.signal, timeoutMs });
    } catch (err) {
      throw waitError(err, path, timeoutMs);
    }
    return {};
  });

  router.post('/v1/sessions/{sessionId}:flock', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const b = ctx.body;
    const path = normalizePath(b.path);
    const mode = parseEnum(b.mode, 'mode', FLOCK_MODES);
    const owner = parseOwner(b.owner);
    const blocking = parseBool(b.blocking, 'blocking');
    const timeoutMs = parseInt64(b.timeoutMs, 'timeoutMs', 0, { min: 0, max: 2 ** 31 - 1 });
    if (mode === 'POSIX_FLOCK_MODE_UNLOCK') {
      table.unflock(s.id, path, owner);
      return {};
    }
    requireExisting(s, path);
    const req: PosixLock = { kind: mode === 'POSIX_FLOCK_MODE_SHARED' ? 'shared' : 'exclusive', start: 0n, end: null, owner, isFlock: true };
    if (!blocking) {
      const c = table.trySet(s.id, path, req);
      if (c) throw aborted(`${path} is locked: ${describe(c)}`);
      return {};
    }
    try {
      await table.set(s.id, path, req, { signal: ctx.signal, timeoutMs });
    } catch (err) {
      throw waitError(err, path, timeoutMs);
    }
    return {};
  });

  router.post('/v1/sessions/{sessionId}:funlock', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const b = ctx.body;
    const path = normalizePath(b.path);
    const owner = parseOwner(b.owner);
    const range = parseRange(b.range);
    const isFlock = parseBool(b.isFlock, 'isFlock');
    // Unlocking what one does not hold is a no-op, as with fcntl(F_UNLCK) and flock(LOCK_UN).
    if (isFlock) table.unflock(s.id, path, owner);
    else table.unlock(s.id, path, owner, range.start, range.end);
    return {};
  });

  // Extension: drop every lock of one client (mount) in this session — called on unmount and crash
  // recovery, when the kernel-side owners are gone. `owner.ownerId` optionally narrows it to one owner.
  router.post('/v1/sessions/{sessionId}:releasePosixLocks', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    if (ctx.body.owner === undefined || ctx.body.owner === null) throw invalidArgument('owner is required');
    const o = parseObject(ctx.body.owner, 'owner');
    if (o.clientId === undefined || o.clientId === null || o.clientId === '') throw invalidArgument('owner.clientId is required');
    const clientId = parseBig(o.clientId, 'owner.clientId', 0n, 0n, UINT64_MAX).toString();
    const ownerId = o.ownerId === undefined || o.ownerId === null || o.ownerId === '' ? undefined : parseBig(o.ownerId, 'owner.ownerId', 0n, 0n, UINT64_MAX).toString();
    return table.releaseClient(s.id, clientId, ownerId);
  });

  // ---- collaboration locks ----------------------------------------------------------------------

  const parseTtl = (v: unknown): number => {
    const n = parseInt64(v, 'timeoutSeconds', 0, { min: 0, max: FILE_LOCK_MAX_TTL });
    return n === 0 ? FILE_LOCK_DEFAULT_TTL : n;
  };

  router.post('/v1/sessions/{sessionId}/files/lock', (ctx): LockResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const path = normalizePath(ctx.body.path);
    const ttl = parseTtl(ctx.body.timeoutSeconds);
    const l = fileLocks.acquire(s.id, path, ctx.principal.principalId, ttl);
    core.events.record(s.id, 'v1.LockService.Lock', { path, lockId: l.lockId, ownerId: l.ownerId });
    core.sessions.touch(s.id);
    return { lockId: l.lockId };
  });

  router.post('/v1/sessions/{sessionId}/files/renew-lock', (ctx): RenewLockResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const path = normalizePath(ctx.body.path);
    const lockId = requireString(ctx.body.lockId, 'lockId');
    const ttl = parseTtl(ctx.body.timeoutSeconds);
    const l = fileLocks.renew(s.id, path, lockId, ttl);
    core.sessions.touch(s.id);
    return { lockId: l.lockId, remainingTtlSeconds: String(l.remainingTtlSeconds) };
  });

  router.post('/v1/sessions/{sessionId}/files/list-locks', (ctx): ListLocksResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const prefix = ctx.body.pathPrefix === undefined || ctx.body.pathPrefix === null || ctx.body.pathPrefix === '' ? '/' : normalizePath(ctx.body.pathPrefix, 'pathPrefix');
    const locks: FileLock[] = fileLocks.list(s.id, prefix).map((l) => ({
      path: l.path,
      lockId: l.lockId,
      ownerId: l.ownerId,
      remainingTtlSeconds: String(l.remainingTtlSeconds),
    }));
    return { locks };
  });

  router.post('/v1/sessions/{sessionId}/files/unlock', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const path = normalizePath(ctx.body.path);
    const lockId = requireString(ctx.body.lockId, 'lockId');
    fileLocks.release(s.id, path, lockId);
    core.events.record(s.id, 'v1.LockService.Unlock', { path, lockId });
    core.sessions.touch(s.id);
    return {};
  });

  router.post('/v1/sessions/{sessionId}/files/force-unlock', (ctx): ForceUnlockResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const path = normalizePath(ctx.body.path);
    const reason = requireString(ctx.body.reason, 'reason', { maxLength: 4096 });
    const l = fileLocks.forceRelease(s.id, path);
    core.events.record(s.id, 'v1.LockService.ForceUnlock', { path, lockId: l.lockId, ownerId: l.ownerId, reason });
    core.sessions.touch(s.id);
    return { lockId: l.lockId, ownerId: l.ownerId };
  });
}
