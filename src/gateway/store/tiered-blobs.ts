// A BlobStore that keeps small blobs inline in SQLite (table blob_data) and delegates large ones to
// a file store (DiskBlobStore, or a fault-injecting one in tests). A small blob's row is written
// in an ordinary SQLite transaction, so it becomes durable with the WAL fsync of the request that
// references it (db/database.ts): a 1,000-file batch of small files costs no per-file fsync.
//
// Invariants: a hash is stored in exactly one tier, decided by size alone (≤ INLINE_MAX inline),
// so lookups try the tier its size implies first and fall back to the other (databases written
// before v2 hold every blob as a file).
//
// Inline rows are deferred (issue 9): put() keeps the bytes in `pending` and flushRows() inserts
// them, inside the transaction ContentStore.flushPending() opens — so a 1,000-file batch is one
// SQLite commit, not 1,000. Reads see pending bytes. Callers: server.ts builds it; ContentStore
// uses it and calls flushRows().
import { Readable } from 'node:stream';
import type { Db } from '../db/database.js';
import type { BlobStore, PutResult } from './blob-store.js';
import { sha256 } from '../../shared/digest.js';

/** Largest blob kept inline in SQLite. */
export const INLINE_MAX = 64 * 1024;

export class TieredBlobStore implements BlobStore {
  private readonly getData;
  private readonly sizeData;
  private readonly putData;
  private readonly delData;
  /** Inline blobs put but not yet inserted (see flushRows). */
  private pending = new Map<string, Buffer>();

  constructor(private readonly db: Db, readonly files: BlobStore) {
    this.getData = db.prepare('SELECT data FROM blob_data WHERE hash = ?').pluck();
    this.sizeData = db.prepare('SELECT length(data) FROM blob_data WHERE hash = ?').pluck();
    this.putData = db.prepare('INSERT OR IGNORE INTO blob_data (hash, data) VALUES (?, ?)');
    this.delData = db.prepare('DELETE FROM blob_data WHERE hash = ?');
  }

  async put(data: Buffer, knownHash?: string): Promise<PutResult> {
    if (data.length > INLINE_MAX) return this.files.put(data, knownHash);
    const hash = knownHash ?? sha256(data);
    const created = !this.pending.has(hash);
    if (created) this.pending.set(hash, data);
    return { hash, size: data.length, created };
  }

  /** Inline rows waiting for flushRows(). */
  pendingRows(): number {
    return this.pending.size;
  }

  /**
   * Insert every pending inline blob. Call inside a transaction (ContentStore.flushPending); the
   * returned function puts them back in memory if that transaction rolls back.
   */
  flushRows(): () => void {
    if (this.pending.size === 0) return () => undefined;
    const rows = this.pending;
    this.pending = new Map();
    for (const [hash, data] of rows) this.putData.run(hash, data);
    return () => {
      for (const [h, d] of rows) if (!this.pending.has(h)) this.pending.set(h, d);
    };
  }

  private inline(hash: string): Buffer | undefined {
    return this.pending.get(hash) ?? (this.getData.get(hash) as Buffer | undefined);
  }

  async has(hash: string): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: string): Promise<number | undefined> {
    const n = this.pending.get(hash)?.length ?? (this.sizeData.get(hash) as number | undefined);
    if (n !== undefined) return n;
    return this.files.size(hash);
  }

  async read(hash: string, offset = 0, length?: number): Promise<Buffer> {
    const b = this.inline(hash);
    if (!b) return this.files.read(hash, offset, length);
    const len = length ?? b.length - offset;
    if (offset + len > b.length) throw new Error(`blob ${hash} is shorter than expected`);
    return b.subarray(offset, offset + len);
  }

  stream(hash: string, start: number, endInclusive: number): Readable {
    const b = this.inline(hash);
    if (!b) return this.files.stream(hash, start, endInclusive);
    return Readable.from([b.subarray(start, endInclusive + 1)]);
  }

  flush(): Promise<void> {
    return this.files.flush();
  }

  unflushed(): number {
    return this.files.unflushed?.() ?? 1;
  }

  async remove(hash: string): Promise<void> {
    if (this.pending.delete(hash)) return;
    if (this.delData.run(hash).changes > 0) return;
    await this.files.remove?.(hash);
  }
}
