// Opens the gateway's SQLite database (WAL, foreign keys, versioned migrations applied in a
// transaction) and owns its durability: group commit.
//
// Durability model: SQLite runs with synchronous=NORMAL, so a COMMIT appends to the WAL without an
// fsync (cheap, and readers never wait on writers in WAL mode). A request becomes durable when
// its handler's transactions are in the WAL *and* `Durability.barrier()` has fsynced the WAL file
// after them; the gateway acknowledges a mutating request only after that barrier (server.ts).
// Barriers coalesce: requests that commit while an fsync is in flight share the next one, so N
// concurrent writers cost ~1 fsync per round instead of N (group commit). WAL frames are replayed
// in order, so a durable frame implies every earlier frame is durable too; SQLite itself fsyncs the
// WAL before any checkpoint copies it into the database, so checkpoints never lose a frame.
// Invariant: nothing is acknowledged before a barrier that started after its last COMMIT.
// Callers: server.ts (openGatewayData, the response path), tests.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import { MIGRATIONS } from './schema.js';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  const db = new Database(file);
  // A new database returns freed pages to the filesystem incrementally (GC runs
  // incremental_vacuum, store/gc.ts). auto_vacuum can only be chosen before the first table;
  // older databases are converted by `aether gateway gc --vacuum` (one full VACUUM).
  if (schemaVersion(db) === 0 && (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get() as { n: number }).n === 0) {
    db.pragma('auto_vacuum = INCREMENTAL');
  }
  db.pragma('journal_mode = WAL');
  // Durability comes from Durability.barrier() (an fsync of the WAL per group of requests).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // 64 MiB page cache (default 2 MiB): tree rows are keyed by random hashes, so a small cache
  // re-read ~40 pages per commit from the file (issue 9 profile).
  db.pragma('cache_size = -65536');
  migrate(db);
  return db;
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(db: Db): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema v${current} is newer than this gateway understands (v${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** Seam: makes everything committed so far durable. */
export interface Durability {
  /** Resolves once every transaction committed before the call is on stable storage. */
  barrier(): Promise<void>;
  /** fsyncs performed so far (observability, tests). */
  readonly syncs: number;
  close(): void;
}

/** Group commit over the WAL file of an open database (see the module comment). */
export class WalDurability implements Durability {
  syncs = 0;
  private fd: number | undefined;
  private ino = -1;
  /** The fsync in flight, if any. */
  private running: Promise<void> | undefined;
  /** The round queued behind it: every caller that arrived while `running` was in flight. */
  private next: Promise<void> | undefined;
  private closed = false;

  /** total_changes() covered by the last completed fsync (-1: none yet). */
  private synced = -1;

  /**
   * `changes` reads the connection's total_changes(), so a request that wrote nothing (a POST
   * that only reads, like :getCasExtents) skips the fsync entirely.
   */
  constructor(
    private readonly walFile: string,
    private readonly beforeSync: () => Promise<void> = async () => undefined,
    private readonly changes: () => number = () => -2,
    /** Synchronous: commit rows still held in memory (deferred content rows) before deciding. */
    private readonly flushRows: () => void = () => undefined,
    /** The fsync seam (tests inject a slow or failing one): make the WAL file's data durable. */
    private readonly syncFile: (fd: number) => Promise<void> = fdatasync,
  ) {}

  barrier(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flushRows();
    if (!this.running && this.changes() === this.synced) return Promise.resolve();
    if (!this.running) {
      this.running = this.round();
      return this.running;
    }
    if (!this.next) {
      const after = this.running.catch(() => undefined);
      this.next = after.then(() => {
        this.next = undefined;
        this.running = this.round();
        return this.running;
      });
    }
    return this.next;
  }

  private async round(): Promise<void> {
    const covered = this.changes();
    try {
      // Content files referenced by committed rows go first (see blob-store.ts).
      await this.beforeSync();
      const fd = this.walFd();
      if (fd !== undefined) await this.syncFile(fd);
      this.syncs++;
      this.synced = covered;
    } finally {
      this.running = undefined;
    }
  }

  /** The WAL's fd, reopened if the file was replaced (SQLite recreates it after a close). */
  private walFd(): number | undefined {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.walFile);
    } catch {
      return undefined; // no WAL yet: nothing uncheckpointed to sync
    }
    if (this.fd === undefined || st.ino !== this.ino) {
      if (this.fd !== undefined) fs.closeSync(this.fd);
      this.fd = fs.openSync(this.walFile, 'r');
      this.ino = st.ino;
    }
    return this.fd;
  }

  close(): void {
    this.closed = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** fdatasync: the WAL's data and size, which is what replay needs (SQLite uses it too). */
export function fdatasync(fd: number): Promise<void> {
  return new Promise<void>((res, rej) => fs.fdatasync(fd, (e) => (e ? rej(e) : res())));
}

/** For in-memory databases and tests that do not need durability. */
export const noDurability: Durability = { barrier: async () => undefined, syncs: 0, close: () => undefined };

