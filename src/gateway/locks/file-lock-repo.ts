// FileLockRepo: collaboration file locks (seed §23) in the `file_locks` table. A lock is a named,
// TTL-bound claim on one session path by one principal; it is advisory (filesystem mutations do not
// check it). Expiry is computed from the injected clock: a row whose expires_at has passed is
// treated as absent everywhere and deleted lazily the next time its session's locks are touched.
//
// Invariants: at most one row per (session, path) (the primary key); lock ids are unique and never
// reused; every method runs in one synchronous SQLite transaction, so check-then-write is atomic.
// Allowed callers: routes/locks.ts.
import type { Db } from '../db/database.js';
import type { Clock } from '../../shared/clock.js';
import { newId } from '../../shared/digest.js';
import { aborted, failedPrecondition, notFound } from '../http/api-error.js';
import { isUnder } from '../http/validate.js';

/** A live lock as the routes report it. */
export interface FileLockInfo {
  path: string;
  lockId: string;
  ownerId: string;
  expiresAt: number;
  /** Whole seconds until expiry, rounded up (never 0 for a live lock). */
  remainingTtlSeconds: number;
}

interface Row {
  session_id: string;
  path: string;
  lock_id: string;
  owner_id: string;
  expires_at: number;
}

export class FileLockRepo {
  private readonly purgeStmt;
  private readonly getStmt;
  private readonly insertStmt;
  private readonly extendStmt;
  private readonly deleteStmt;
  private readonly listStmt;

  constructor(private db: Db, private clock: Clock) {
    this.purgeStmt = db.prepare('DELETE FROM file_locks WHERE session_id = ? AND expires_at <= ?');
    this.getStmt = db.prepare('SELECT * FROM file_locks WHERE session_id = ? AND path = ?');
    this.insertStmt = db.prepare('INSERT INTO file_locks (session_id, path, lock_id, owner_id, expires_at) VALUES (?, ?, ?, ?, ?)');
    this.extendStmt = db.prepare('UPDATE file_locks SET expires_at = ? WHERE lock_id = ?');
    this.deleteStmt = db.prepare('DELETE FROM file_locks WHERE lock_id = ?');
    this.listStmt = db.prepare('SELECT * FROM file_locks WHERE session_id = ? ORDER BY path');
  }

  private info(r: Row, now: number): FileLockInfo {
    return { path: r.path, lockId: r.lock_id, ownerId: r.owner_id, expiresAt: r.expires_at, remainingTtlSeconds: Math.ceil((r.expires_at - now) / 1000) };
  }

  /** The live lock on `path`, after dropping the session's expired rows. */
  private live(sessionId: string, path: string, now: number): Row | undefined {
    this.purgeStmt.run(sessionId, now);
    return this.getStmt.get(sessionId, path) as Row | undefined;
  }

  /**
   * Take the lock on `path` for `ownerId` for `ttlSeconds`. If the same owner already holds it, the
   * lock is renewed and keeps its id (`renewed: true`). Another owner's live lock → ABORTED.
   */
  acquire(sessionId: string, path: string, ownerId: string, ttlSeconds: number): FileLockInfo & { renewed: boolean } {
    return this.db.transaction(() => {
      const now = this.clock.now();
      const expires = now + ttlSeconds * 1000;
      const cur = this.live(sessionId, path, now);
      if (cur) {
        if (cur.owner_id !== ownerId) {
          throw aborted(`${path} is already locked by ${cur.owner_id} (lock ${cur.lock_id}, ${Math.ceil((cur.expires_at - now) / 1000)}s left)`);
        }
        this.extendStmt.run(expires, cur.lock_id);
        return { ...this.info({ ...cur, expires_at: expires }, now), renewed: true };
      }
      const lockId = newId('lock', now);
      this.insertStmt.run(sessionId, path, lockId, ownerId, expires);
      return { path, lockId, ownerId, expiresAt: expires, remainingTtlSeconds: ttlSeconds, renewed: false };
    })();
  }

  /** The live lock on `path` if its id is `lockId`: none/expired → NOT_FOUND, another id → FAILED_PRECONDITION. */
  private expect(sessionId: string, path: string, lockId: string, now: number): Row {
    const cur = this.live(sessionId, path, now);
    if (!cur) throw notFound(`no active lock on ${path} (it expired or was released)`);
    if (cur.lock_id !== lockId) throw failedPrecondition(`lock ${lockId} is not the lock held on ${path}`);
    return cur;
  }

  /** Extend a live lock to `ttlSeconds` from now. */
  renew(sessionId: string, path: string, lockId: string, ttlSeconds: number): FileLockInfo {
    return this.db.transaction(() => {
      const now = this.clock.now();
      const cur = this.expect(sessionId, path, lockId, now);
      const expires = now + ttlSeconds * 1000;
      this.extendStmt.run(expires, cur.lock_id);
      return this.info({ ...cur, expires_at: expires }, now);
    })();
  }

  /** Release a live lock by id. */
  release(sessionId: string, path: string, lockId: string): FileLockInfo {
    return this.db.transaction(() => {
      const now = this.clock.now();
      const cur = this.expect(sessionId, path, lockId, now);
      this.deleteStmt.run(cur.lock_id);
      return this.info(cur, now);
    })();
  }

  /** Break whatever live lock is on `path`; NOT_FOUND when there is none. */
  forceRelease(sessionId: string, path: string): FileLockInfo {
    return this.db.transaction(() => {
      const now = this.clock.now();
      const cur = this.live(sessionId, path, now);
      if (!cur) throw notFound(`no active lock on ${path}`);
      this.deleteStmt.run(cur.lock_id);
      return this.info(cur, now);
    })();
  }

  /** Live locks at or under `prefix` (path-boundary aware), sorted by path. */
  list(sessionId: string, prefix: string): FileLockInfo[] {
    return this.db.transaction(() => {
      const now = this.clock.now();
      this.purgeStmt.run(sessionId, now);
      return (this.listStmt.all(sessionId) as Row[]).filter((r) => isUnder(r.path, prefix)).map((r) => this.info(r, now));
    })();
  }
}
