// OverlayStore: the durable half of the local-first mount (overlay mode). It owns two tables in a
// small SQLite database in the mount's state dir (never on the mount itself):
//   files — one row per dirty file: which staging file holds its bytes, the remote base it edits
//           (hash, surviving prefix), size, mode and the locally written ranges;
//   ops   — the ordered change queue the shipper replays onto the gateway (seq = order).
// File bytes never go through the database: they are pwrite()n into per-file staging files, so an
// acknowledged write(2) is in the page cache and survives the daemon's death; a row committed
// before the syscall returns (WAL, synchronous=NORMAL) survives it too. Power-loss durability is
// only asked for by fsync (the barrier ships to the gateway).
// Invariants: seq increases in enqueue order and is never reused; an op is deleted only after the
// gateway applied it (or it was coalesced away before it was sent). Errors (disk full) are thrown
// as FsError ENOSPC/EIO to the syscall that caused them; the store stays usable.
// Callers: src/fs/session-fs.ts (enqueue, coalesce), src/fs/shipper (take, ack), tests.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Range } from '../range-set.js';
import { FsError, Errno } from '../fs-error.js';

export type OpKind = 'put' | 'mkdir' | 'rmdir' | 'unlink' | 'rename' | 'symlink' | 'link' | 'setxattr' | 'removexattr';

export interface QueuedOp {
  seq: number;
  kind: OpKind;
  /** Target path (put/mkdir/rmdir/unlink/symlink/xattr), source for rename/link. */
  path: string;
  /** Destination (rename/link) or symlink target. */
  path2?: string;
  /** put: the file record (staging id) whose bytes to ship. */
  fileId?: string;
  /** mkdir: mode; rename: flags. */
  mode?: number;
  /** xattr name. */
  name?: string;
  /** setxattr value. */
  value?: Buffer;
  enqueuedAt: number;
  attempts: number;
}

export interface FileRecord {
  /** Staging id: names the staging file. */
  id: string;
  /** Path at the time of the last change (diagnostics; ops carry the path they ship to). */
  path: string;
  /** Content hash of the remote version the edit is based on ("" = new file). */
  baseHash: string;
  /** Remote base bytes at or beyond this offset are gone (truncated). */
  baseLimit: number;
  size: number;
  mode: number;
  /** Locally written ranges; null = the staging file is the whole content (no remote base). */
  ranges: Range[] | null;
  isNew: boolean;
}

export interface OverlayStore {
  readonly dir: string;
  /**
   * Random id of this overlay, fixed at its creation: with an op's seq it names the op's
   * `x-aether-request-id`, so a retry after an unknown outcome (also by crash recovery of this
   * overlay) is recognized by the gateway instead of applied twice.
   */
  readonly nonce: string;
  stagingPath(id: string): string;
  appendOp(op: Omit<QueuedOp, 'seq' | 'attempts'>): number;
  /** Remove ops (shipped or coalesced away). */
  removeOps(seqs: number[]): void;
  /** Move an op to the end of the queue with a new path (coalescing a rename of an unshipped file). */
  requeueOp(seq: number, newPath: string): number;
  noteAttempt(seq: number): void;
  pendingOps(limit?: number): QueuedOp[];
  opCount(): number;
  putFile(rec: FileRecord): void;
  getFile(id: string): FileRecord | undefined;
  removeFile(id: string): void;
  /** Run several changes atomically. */
  tx<T>(fn: () => T): T;
  close(): void;
}

function storeError(e: unknown): FsError {
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return new FsError(Errno.ENOSPC, 'the mount state disk is full', { cause: e });
  return new FsError(Errno.EIO, `overlay store: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

interface OpRow {
  seq: number;
  kind: OpKind;
  path: string;
  path2: string | null;
  file_id: string | null;
  mode: number | null;
  name: string | null;
  value: Buffer | null;
  enqueued_at: number;
  attempts: number;
}

export class SqliteOverlayStore implements OverlayStore {
  private readonly db: Database.Database;
  private readonly st: Record<string, Database.Statement>;
  readonly nonce: string;
  /** Rows in `ops`, kept in step with every change (undefined: count on the next ask). */
  private count: number | undefined;

  private constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'staging'), { recursive: true, mode: 0o700 });
    this.db = new Database(path.join(dir, 'overlay.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, path TEXT NOT NULL, path2 TEXT,
        file_id TEXT, mode INTEGER, name TEXT, value BLOB, enqueued_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, path TEXT NOT NULL, base_hash TEXT NOT NULL, base_limit INTEGER NOT NULL,
        size INTEGER NOT NULL, mode INTEGER NOT NULL, ranges TEXT, is_new INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    `);
    this.db.prepare('INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)').run('nonce', randomBytes(8).toString('hex'));
    this.nonce = (this.db.prepare('SELECT v FROM meta WHERE k = ?').get('nonce') as { v: string }).v;
    this.st = {
      append: this.db.prepare('INSERT INTO ops (kind, path, path2, file_id, mode, name, value, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      remove: this.db.prepare('DELETE FROM ops WHERE seq = ?'),
      attempt: this.db.prepare('UPDATE ops SET attempts = attempts + 1 WHERE seq = ?'),
      pending: this.db.prepare('SELECT * FROM ops ORDER BY seq LIMIT ?'),
      count: this.db.prepare('SELECT COUNT(*) AS n FROM ops'),
      byId: this.db.prepare('SELECT * FROM ops WHERE seq = ?'),
      putFile: this.db.prepare('INSERT OR REPLACE INTO files (id, path, base_hash, base_limit, size, mode, ranges, is_new) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      getFile: this.db.prepare('SELECT * FROM files WHERE id = ?'),
      removeFile: this.db.prepare('DELETE FROM files WHERE id = ?'),
    };
  }

  static open(dir: string): SqliteOverlayStore {
    try {
      return new SqliteOverlayStore(dir);
    } catch (e) {
      throw storeError(e);
    }
  }

  stagingPath(id: string): string {
    return path.join(this.dir, 'staging', id);
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof FsError) throw e;
      throw storeError(e);
    }
  }

  appendOp(op: Omit<QueuedOp, 'seq' | 'attempts'>): number {
    const seq = this.run(() => Number(this.st.append!.run(op.kind, op.path, op.path2 ?? null, op.fileId ?? null, op.mode ?? null, op.name ?? null, op.value ?? null, op.enqueuedAt).lastInsertRowid));
    if (this.count !== undefined) this.count++;
    return seq;
  }

  removeOps(seqs: number[]): void {
    if (!seqs.length) return;
    let gone = 0;
    this.run(() => this.db.transaction(() => { for (const s of seqs) gone += this.st.remove!.run(s).changes; })());
    if (this.count !== undefined) this.count -= gone;
  }

  requeueOp(seq: number, newPath: string): number {
    return this.run(() => this.db.transaction(() => {
      const row = this.st.byId!.get(seq) as OpRow | undefined;
      if (!row) throw new Error(`op ${seq} is gone`);
      this.st.remove!.run(seq);
      return Number(this.st.append!.run(row.kind, newPath, row.path2, row.file_id, row.mode, row.name, row.value, row.enqueued_at).lastInsertRowid);
    })());
  }

  noteAttempt(seq: number): void {
    this.run(() => this.st.attempt!.run(seq));
  }

  pendingOps(limit = 1_000_000): QueuedOp[] {
    return this.run(() => (this.st.pending!.all(limit) as OpRow[]).map((r) => ({
      seq: r.seq,
      kind: r.kind,
      path: r.path,
      path2: r.path2 ?? undefined,
      fileId: r.file_id ?? undefined,
      mode: r.mode ?? undefined,
      name: r.name ?? undefined,
      value: r.value ?? undefined,
      enqueuedAt: r.enqueued_at,
      attempts: r.attempts,
    })));
  }

  opCount(): number {
    // COUNT(*) walks the whole table; writers ask before every change (backpressure).
    this.count ??= this.run(() => (this.st.count!.get() as { n: number }).n);
    return this.count;
  }

  putFile(rec: FileRecord): void {
    this.run(() => this.st.putFile!.run(rec.id, rec.path, rec.baseHash, rec.baseLimit, rec.size, rec.mode, rec.ranges ? JSON.stringify(rec.ranges) : null, rec.isNew ? 1 : 0));
  }

  getFile(id: string): FileRecord | undefined {
    const r = this.run(() => this.st.getFile!.get(id)) as { id: string; path: string; base_hash: string; base_limit: number; size: number; mode: number; ranges: string | null; is_new: number } | undefined;
    if (!r) return undefined;
    return { id: r.id, path: r.path, baseHash: r.base_hash, baseLimit: r.base_limit, size: r.size, mode: r.mode, ranges: r.ranges ? (JSON.parse(r.ranges) as Range[]) : null, isNew: !!r.is_new };
  }

  removeFile(id: string): void {
    this.run(() => this.st.removeFile!.run(id));
  }

  tx<T>(fn: () => T): T {
    try {
      return this.run(() => this.db.transaction(fn)());
    } catch (e) {
      this.count = undefined; // rolled back: count again
      throw e;
    }
  }

  close(): void {
    try {
      this.db.close();
    } catch {
      /* already closed */
    }
  }
}

/**
 * Fault-injecting store: delegates to a real one and fails chosen calls with ENOSPC (a full state
 * disk) while `full` is set. Used by tests of "disk full never kills the daemon".
 */
export class FaultyOverlayStore implements OverlayStore {
  full = false;
  constructor(private readonly inner: OverlayStore) {}
  get dir(): string {
    return this.inner.dir;
  }
  get nonce(): string {
    return this.inner.nonce;
  }
  private check(): void {
    if (this.full) throw new FsError(Errno.ENOSPC, 'the mount state disk is full (injected)');
  }
  stagingPath(id: string): string {
    return this.inner.stagingPath(id);
  }
  appendOp(op: Omit<QueuedOp, 'seq' | 'attempts'>): number {
    this.check();
    return this.inner.appendOp(op);
  }
  removeOps(seqs: number[]): void {
    this.inner.removeOps(seqs);
  }
  requeueOp(seq: number, newPath: string): number {
    this.check();
    return this.inner.requeueOp(seq, newPath);
  }
  noteAttempt(seq: number): void {
    this.inner.noteAttempt(seq);
  }
  pendingOps(limit?: number): QueuedOp[] {
    return this.inner.pendingOps(limit);
  }
  opCount(): number {
    return this.inner.opCount();
  }
  putFile(rec: FileRecord): void {
    this.check();
    this.inner.putFile(rec);
  }
  getFile(id: string): FileRecord | undefined {
    return this.inner.getFile(id);
  }
  removeFile(id: string): void {
    this.inner.removeFile(id);
  }
  tx<T>(fn: () => T): T {
    return this.inner.tx(fn);
  }
  close(): void {
    this.inner.close();
  }
}
