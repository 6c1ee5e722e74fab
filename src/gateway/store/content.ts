// File content as extents: storing new bytes (chunked into CAS blobs), reading ranges back, and
// recording which tenant references which blob (the blob route serves only those).
import { RecentlyTouched } from './recency.js';
import type { Db } from '../db/database.js';
import type { BlobStore } from './blob-store.js';
import { chunk } from './chunker.js';
import type { Extent } from './tree-store.js';
import { createHash, type Hash } from 'node:crypto';
import type { Counters } from '../counters.js';
import { sha256 } from '../../shared/digest.js';

/** Shared zeros for holes (read-only by convention). */
const ZEROS = Buffer.alloc(4 << 20);
/** Hole bytes hashed between event-loop turns. */
const HOLE_YIELD_BYTES = 32 << 20;

export class ContentStore {
  private readonly insertBlob;
  private readonly insertRef;
  private readonly hasRef;
  /** Hash states after hashing an extent list, by a digest of that list (LRU, small). */
  private readonly hashStates = new Map<string, Hash>();

  constructor(private db: Db, readonly blobs: BlobStore, private counters: Counters, private now: () => number) {
    this.insertBlob = db.prepare('INSERT OR IGNORE INTO blobs (hash, size, created_at) VALUES (?, ?, ?)');
    this.insertRef = db.prepare('INSERT OR IGNORE INTO tenant_blobs (tenant_id, hash) VALUES (?, ?)');
    this.hasRef = db.prepare('SELECT 1 FROM tenant_blobs WHERE tenant_id = ? AND hash = ?');
  }

  /** GC recency (store/recency.ts). */
  private recent = new RecentlyTouched();

  private stamp(hash: string): void {
    this.recent.stamp(hash);
  }

  /** Blobs touched at or after `since`. */
  recentlyPut(since: number): Set<string> {
    return this.recent.since(since);
  }

  /**
   * GC: remove a blob's bytes unless it was touched since `since`. The check and the start of the
   * removal happen in one synchronous step, and a put stamps its hash before it looks for existing
   * bytes, so a put racing with GC either keeps the blob or writes it again.
   */
  async removeBlob(hash: string, since: number): Promise<boolean> {
    if (this.recent.touchedSince(hash, since)) return false;
    await this.blobs.remove?.(hash);
    return true;
  }

  /** Store one blob (exactly these bytes, no chunking) for `tenantId`. */
  async putBlob(tenantId: string, data: Buffer): Promise<string> {
    const hash = sha256(data);
    this.stamp(hash);
    const r = await this.blobs.put(data, hash);
    const run = this.db.transaction(() => {
      if (this.insertBlob.run(r.hash, r.size, this.now()).changes > 0) {
        this.counters.blobsStored++;
        this.counters.bytesStored += r.size;
      }
      this.insertRef.run(tenantId, r.hash);
    });
    run();
    return r.hash;
  }

  /** Chunk `data` and store every chunk; returns extents covering it in order. */
  async putContent(tenantId: string, data: Buffer): Promise<Extent[]> {
    const out: Extent[] = [];
    for (const part of chunk(data)) {
      out.push({ h: await this.putBlob(tenantId, part), o: 0, n: part.length });
    }
    return out;
  }

  /** Record that `tenantId` references `hash` (content it imported or borrowed legitimately). */
  addRef(tenantId: string, hash: string): void {
    this.stamp(hash);
    this.insertRef.run(tenantId, hash);
  }

  tenantHas(tenantId: string, hash: string): boolean {
    const has = this.hasRef.get(tenantId, hash) !== undefined;
    if (has) this.stamp(hash); // about to be borrowed, perhaps: keep it through the grace period
    return has;
  }

  /** Read `[offset, offset+length)` of a file given its extents (holes read as zeros). */
  async readRange(extents: Extent[], offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let pos = 0;
    for (const x of extents) {
      const start = pos;
      const end = pos + x.n;
      pos = end;
      if (end <= offset) continue;
      if (start >= offset + length) break;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, end);
      if (x.h === '') continue;
      const bytes = await this.blobs.read(x.h, x.o + (from - start), to - from);
      bytes.copy(out, from - offset);
    }
    return out;
  }

  /**
   * Stream every byte of a file through `fn`, extent by extent (1 MiB-ish pieces). Holes are fed
   * from one shared zero buffer (never allocated per piece; `fn` must not keep or modify it), and
   * the event loop gets a turn every HOLE_YIELD_BYTES of hole, so a sparse 8 GiB file never blocks
   * other requests (issue 12 item 7).
   */
  async forEachPiece(extents: Extent[], fn: (b: Buffer) => void | Promise<void>): Promise<void> {
    for (const x of extents) {
      if (x.h === '') {
        let left = x.n;
        let sinceYield = 0;
        while (left > 0) {
          const n = Math.min(left, ZEROS.length);
          await fn(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n));
          left -= n;
          sinceYield += n;
          if (sinceYield >= HOLE_YIELD_BYTES) {
            sinceYield = 0;
            await new Promise<void>((r) => setImmediate(r));
          }
        }
      } else {
        await fn(await this.blobs.read(x.h, x.o, x.n));
      }
    }
  }

  /**
   * sha256 content hash of a file given its extents. Hash states after recently hashed extent
   * lists are remembered (keyed by a digest of the extent list), so a file that grows by appends —
   * a large upload arriving in several patchSegments requests — costs O(new bytes) per request
   * instead of rehashing everything before it.
   */
  async hashOf(extents: Extent[]): Promise<string> {
    // Rolling identity of each extent-list prefix.
    const keys: string[] = [];
    let k = '';
    for (const x of extents) {
      k = createHash('sha1').update(k).update(`${x.h}:${x.o}:${x.n}`).digest('hex');
      keys.push(k);
    }
    let start = 0;
    let state: Hash | undefined;
    for (let i = keys.length - 1; i >= 0; i--) {
      const hit = this.hashStates.get(keys[i]!);
      if (hit) {
        state = hit.copy();
        start = i + 1;
        break;
      }
    }
    const h = state ?? createHash('sha256');
    await this.forEachPiece(extents.slice(start), (b) => void h.update(b));
    if (keys.length) {
      this.hashStates.delete(keys[keys.length - 1]!);
      this.hashStates.set(keys[keys.length - 1]!, h.copy());
      if (this.hashStates.size > 256) this.hashStates.delete(this.hashStates.keys().next().value!);
    }
    return 'sha256:' + h.digest('hex');
  }

  /** All bytes of a file (for small files and git export). */
  async readAll(extents: Extent[]): Promise<Buffer> {
    const total = extents.reduce((a, x) => a + x.n, 0);
    return this.readRange(extents, 0, total);
  }
}
