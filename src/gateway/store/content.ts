// File content as extents: storing new bytes (chunked into CAS blobs), reading ranges back, and
// recording which tenant references which blob (the blob route serves only those).
//
// Deferred rows (issue 9): putBlob() does not commit its index rows (blobs, tenant_blobs, and the
// inline bytes of tiered-blobs.ts) one by one — that was two SQLite commits per small file, half
// the cost of a 1,000-file batch. They wait in memory, visible to this store's reads, until
// flushPending() writes them all in one transaction. Invariant: pending rows are flushed before
// any row that references them commits and before any fsync round — SessionRepo.apply calls
// flushPending() inside its transaction, git import inside its tree transaction, and the group
// commit (db/database.ts) before every barrier — and at the latest one event-loop turn after
// the put (a setImmediate), so nothing waits in memory for long.
import { RecentlyTouched } from './recency.js';
import type { Db } from '../db/database.js';
import type { BlobStore } from './blob-store.js';
import { chunk } from './chunker.js';
import type { Extent } from './tree-store.js';
import { createHash, type Hash } from 'node:crypto';
import type { Counters } from '../counters.js';
import { sha256 } from '../../shared/digest.js';

/** How long a reader lease keeps a blob (see ContentStore.lease). */
export const LEASE_MS = 10 * 60_000;

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
  /** Index rows not yet written (see the module comment): hash → size, and tenant refs. */
  private pendingBlobs = new Map<string, number>();
  private pendingRefs = new Map<string, Set<string>>();
  private flushTimer: NodeJS.Immediate | undefined;

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
   * Reader leases (issue 15): blobs whose extents were handed to a reader (manifest with
   * includeCasExtents, getCasExtents) or that were served are leased for LEASE_MS from then, and
   * GC keeps them whatever its grace period — even `graceSeconds: 0` — so a mount reading a
   * replaced file's old version (its cached extents) still gets its bytes.
   */
  private leases = new RecentlyTouched();

  lease(extents: readonly Extent[]): void {
    for (const x of extents) if (x.h) this.leases.stamp(x.h);
  }

  leaseBlob(hash: string): void {
    this.leases.stamp(hash);
  }

  /** Blobs leased now (a lease lasts LEASE_MS). */
  leased(now = Date.now()): Set<string> {
    return this.leases.since(now - LEASE_MS);
  }

  /**
   * GC: remove a blob's bytes unless it was touched since `since`. The check and the start of the
   * removal happen in one synchronous step, and a put stamps its hash before it looks for existing
   * bytes, so a put racing with GC either keeps the blob or writes it again.
   */
  async removeBlob(hash: string, since: number): Promise<boolean> {
    if (this.recent.touchedSince(hash, since) || this.leases.touchedSince(hash, Date.now() - LEASE_MS)) return false;
    await this.blobs.remove?.(hash);
    return true;
  }

  /** Store one blob (exactly these bytes, no chunking) for `tenantId`; its rows are deferred. */
  async putBlob(tenantId: string, data: Buffer, knownHash?: string): Promise<string> {
    const hash = knownHash ?? sha256(data);
    this.stamp(hash);
    const r = await this.blobs.put(data, hash);
    this.pendingBlobs.set(r.hash, r.size);
    let refs = this.pendingRefs.get(tenantId);
    if (!refs) this.pendingRefs.set(tenantId, (refs = new Set()));
    refs.add(r.hash);
    if (!this.flushTimer) {
      this.flushTimer = setImmediate(() => {
        this.flushTimer = undefined;
        // A failure puts the rows back; the next transaction or barrier retries (and reports it).
        try {
          if (this.db.open) this.flushPending();
        } catch {
          /* retried */
        }
      });
      this.flushTimer.unref();
    }
    return r.hash;
  }

  /** Rows waiting for flushPending(). */
  pendingCount(): number {
    return this.pendingBlobs.size + (this.blobs.pendingRows?.() ?? 0);
  }

  /**
   * Write every deferred row in one transaction (nested in the caller's, if any). Returns a
   * function that puts them back in memory: call it if an enclosing transaction rolled back.
   */
  flushPending(): () => void {
    if (this.pendingBlobs.size === 0 && !this.blobs.pendingRows?.()) return () => undefined;
    const blobs = this.pendingBlobs;
    const refs = this.pendingRefs;
    this.pendingBlobs = new Map();
    this.pendingRefs = new Map();
    let restoreInline = () => undefined as void;
    const restore = () => {
      restoreInline();
      for (const [h, n] of blobs) this.pendingBlobs.set(h, n);
      for (const [t, hs] of refs) for (const h of hs) (this.pendingRefs.get(t) ?? this.pendingRefs.set(t, new Set()).get(t)!).add(h);
    };
    try {
      this.db.transaction(() => {
        restoreInline = this.blobs.flushRows?.() ?? restoreInline;
        const now = this.now();
        for (const [hash, size] of blobs) {
          if (this.insertBlob.run(hash, size, now).changes > 0) {
            this.counters.blobsStored++;
            this.counters.bytesStored += size;
          }
        }
        for (const [tenantId, hashes] of refs) for (const h of hashes) this.insertRef.run(tenantId, h);
      })();
    } catch (err) {
      restore(); // the transaction rolled back as a whole: a later flush retries
      throw err;
    }
    return restore;
  }

  /** Chunk `data` and store every chunk; returns extents covering it in order. */
  async putContent(tenantId: string, data: Buffer): Promise<Extent[]> {
    const out: Extent[] = [];
    for (const part of chunk(data)) {
      out.push({ h: await this.putBlob(tenantId, part), o: 0, n: part.length });
    }
    return out;
  }

  /** putContent, plus the file's content hash (free when the file is one chunk: same bytes). */
  async putFile(tenantId: string, data: Buffer): Promise<{ x: Extent[]; h: string }> {
    const x = await this.putContent(tenantId, data);
    return { x, h: x.length === 1 && x[0]!.n === data.length ? x[0]!.h : sha256(data) };
  }

  /** Record that `tenantId` references `hash` (content it imported or borrowed legitimately). */
  addRef(tenantId: string, hash: string): void {
    this.stamp(hash);
    this.insertRef.run(tenantId, hash);
  }

  tenantHas(tenantId: string, hash: string): boolean {
    const has = !!this.pendingRefs.get(tenantId)?.has(hash) || this.hasRef.get(tenantId, hash) !== undefined;
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
