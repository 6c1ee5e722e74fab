// MemoryCas: an in-memory CasStore with the same LRU, pin, verification and eviction semantics as
// DiskCas, for tests of the filesystem core (and anything else that wants a cache without a disk).
//
// Owns: its Map of blobs. Invariants: stored buffers are private copies (callers' later mutations
// and mutations of returned buffers cannot reach the cache); the Map's insertion order is the LRU
// order (oldest first) because every access re-inserts; pinned blobs are never evicted; background
// eviction after put runs asynchronously, serialized, and never rejects into a caller.
// `corruptForTest` lets a scenario damage a blob the way a disk could, to exercise the
// detect-discard-miss path exactly as with DiskCas.
//
// Callers: tests, and cli/ for a throwaway cache (e.g. `--no-cache`).

import { debuglog } from 'node:util';
import {
  CasError,
  CasErrorCode,
  casHashOf,
  checkByteCount,
  checkRange,
  parseCasHash,
  resolveCasConfig,
  type CasConfig,
  type CasGcResult,
  type CasLogger,
  type CasPutOptions,
  type CasStats,
  type CasStore,
  type CasVerifyResult,
} from './cas-store.js';
import { evictionOrder, planEviction } from './eviction.js';

const debug = debuglog('aether:cas');

/** Options of {@link MemoryCas}. */
export interface MemoryCasOptions extends Partial<CasConfig> {
  logger?: CasLogger;
}

interface MemEntry {
  data: Buffer;
  /** False until the bytes have been hashed since they were stored or damaged. */
  verified: boolean;
}

/** In-memory {@link CasStore}. */
export class MemoryCas implements CasStore {
  readonly config: CasConfig;
  readonly #log: CasLogger;
  /** Insertion order = recency order, least recently used first. */
  readonly #blobs = new Map<string, MemEntry>();
  readonly #pins = new Map<string, number>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #corruptions = 0;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #maintenanceQueued = false;

  constructor(opts: MemoryCasOptions = {}) {
    this.config = resolveCasConfig(opts);
    this.#log = opts.logger ?? {};
  }

  async has(hash: string): Promise<boolean> {
    const h = this.#key(hash);
    return this.#blobs.has(h);
  }

  async get(hash: string): Promise<Buffer | undefined> {
    const h = this.#key(hash);
    const e = this.#verified(h);
    if (!e) {
      this.#misses++;
      return undefined;
    }
    this.#touch(h, e);
    this.#hits++;
    return Buffer.from(e.data);
  }

  async read(hash: string, offset: number, length: number): Promise<Buffer | undefined> {
    const h = this.#key(hash);
    checkRange(offset, length);
    const e = this.#verified(h);
    if (!e) {
      this.#misses++;
      return undefined;
    }
    this.#touch(h, e);
    this.#hits++;
    const start = Math.min(offset, e.data.length);
    return Buffer.from(e.data.subarray(start, Math.min(e.data.length, start + length)));
  }

  async put(data: Uint8Array, expectedHash?: string, opts: CasPutOptions = {}): Promise<string> {
    this.#open();
    const expected = expectedHash === undefined ? undefined : parseCasHash(expectedHash).hash;
    const h = casHashOf(data);
    if (expected !== undefined && expected !== h) {
      throw new CasError(CasErrorCode.HASH_MISMATCH, `blob hashes to ${h}, expected ${expected}`);
    }
    if (opts.pin) await this.pin(h);
    const existing = this.#blobs.get(h);
    if (existing) {
      // Idempotent: re-putting replaces a damaged copy and refreshes recency.
      this.#bytes += data.length - existing.data.length;
      existing.data = Buffer.from(data);
      existing.verified = true;
      this.#touch(h, existing);
    } else {
      this.#blobs.set(h, { data: Buffer.from(data), verified: true });
      this.#bytes += data.length;
    }
    if (this.#bytes > this.config.maxBytes) this.#scheduleEviction();
    return h;
  }

  async pin(hash: string): Promise<void> {
    const h = this.#key(hash);
    this.#pins.set(h, (this.#pins.get(h) ?? 0) + 1);
  }

  async unpin(hash: string): Promise<void> {
    const h = this.#key(hash);
    const n = this.#pins.get(h) ?? 0;
    if (n <= 1) {
      if (n === 0) debug('unpin of unpinned %s ignored', h);
      this.#pins.delete(h);
    } else {
      this.#pins.set(h, n - 1);
    }
  }

  pinCount(hash: string): number {
    return this.#pins.get(parseCasHash(hash).hash) ?? 0;
  }

  stats(): CasStats {
    return {
      entries: this.#blobs.size,
      bytes: this.#bytes,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      corruptions: this.#corruptions,
      pinned: this.#pins.size,
      maxBytes: this.config.maxBytes,
    };
  }

  async verify(): Promise<CasVerifyResult> {
    this.#open();
    const corrupt: string[] = [];
    let checked = 0;
    for (const [h, e] of [...this.#blobs]) {
      checked++;
      if (casHashOf(e.data) === h) e.verified = true;
      else {
        this.#discardCorrupt(h, e);
        corrupt.push(h);
      }
    }
    corrupt.sort();
    return { checked, corrupt };
  }

  gc(targetBytes?: number): Promise<CasGcResult> {
    this.#open();
    const target = checkByteCount('targetBytes', targetBytes ?? this.config.maxBytes);
    return this.#serialize(() => this.#evict(target));
  }

  async clear(): Promise<void> {
    this.#open();
    await this.#serialize(async () => {
      for (const [h, e] of [...this.#blobs]) {
        if (this.#pins.has(h)) continue;
        this.#blobs.delete(h);
        this.#bytes -= e.data.length;
      }
    });
  }

  idle(): Promise<void> {
    return this.#queue.then(
      () => undefined,
      () => undefined,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.idle();
    this.#pins.clear();
  }

  /**
   * Damages a stored blob in place, as a bad disk would: 'flip' inverts one byte, 'truncate' drops
   * the second half. The next get/read detects it, deletes it and reports a miss. Tests only.
   * @returns false if the blob is not present.
   */
  corruptForTest(hash: string, mode: 'flip' | 'truncate' = 'flip'): boolean {
    const h = parseCasHash(hash).hash;
    const e = this.#blobs.get(h);
    if (!e) return false;
    const data = Buffer.from(e.data);
    let damaged: Buffer;
    if (mode === 'truncate') damaged = data.subarray(0, Math.floor(data.length / 2));
    else if (data.length === 0) damaged = Buffer.from([0]);
    else {
      data[data.length >> 1]! ^= 0xff;
      damaged = data;
    }
    this.#bytes += damaged.length - e.data.length;
    e.data = damaged;
    e.verified = false;
    return true;
  }

  // --- internals ---

  #key(hash: string): string {
    this.#open();
    return parseCasHash(hash).hash;
  }

  #open(): void {
    if (this.#closed) throw new CasError(CasErrorCode.CLOSED, 'CAS store is closed');
  }

  /** The entry if present and its bytes match the key; discards it (miss) otherwise. */
  #verified(h: string): MemEntry | undefined {
    const e = this.#blobs.get(h);
    if (!e) return undefined;
    if (!e.verified) {
      if (casHashOf(e.data) !== h) {
        this.#discardCorrupt(h, e);
        return undefined;
      }
      e.verified = true;
    }
    return e;
  }

  #discardCorrupt(h: string, e: MemEntry): void {
    this.#blobs.delete(h);
    this.#bytes -= e.data.length;
    this.#corruptions++;
    this.#log.warn?.('cas: corrupt blob discarded', { hash: h });
  }

  /** Moves the entry to the most-recently-used end. */
  #touch(h: string, e: MemEntry): void {
    this.#blobs.delete(h);
    this.#blobs.set(h, e);
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(work, work);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #scheduleEviction(): void {
    if (this.#maintenanceQueued) return;
    this.#maintenanceQueued = true;
    void this.#serialize(async () => {
      this.#maintenanceQueued = false;
      if (this.#bytes <= this.config.maxBytes) return;
      await this.#evict(Math.floor(this.config.maxBytes * this.config.lowWatermark));
    }).catch((err: unknown) => this.#log.warn?.('cas: background eviction failed', { err }));
  }

  async #evict(target: number): Promise<CasGcResult> {
    let seq = 0;
    const entries = [...this.#blobs].map(([hash, e]) => ({ hash, size: e.data.length, lastUsed: seq++ }));
    const victims = planEviction(evictionOrder(entries, (h) => this.#pins.has(h)), this.#bytes, target);
    let freedBytes = 0;
    for (const v of victims) {
      this.#blobs.delete(v.hash);
      this.#bytes -= v.size;
      freedBytes += v.size;
    }
    this.#evictions += victims.length;
    if (victims.length) debug('evicted %d blobs (%d bytes)', victims.length, freedBytes);
    return { evicted: victims.length, freedBytes };
  }
}
