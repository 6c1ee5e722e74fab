// DiskCas: the on-disk CasStore shared by every mount on the machine (`<state>/cache/cas/`).
//
// Layout under `dir`:
//   blobs/<hex[0..2]>/<hex[2..64]>   one immutable file per blob, named by its sha256
//   tmp/<…>.tmp                      in-flight puts (same filesystem, so rename is atomic)
//   pins/<hex>.<pid>.<instance>      one empty marker per blob pinned by a live store instance
//
// Invariants:
//   - A file under blobs/ only ever appears by rename of a complete, fsynced temp file, so a
//     reader sees the whole blob or nothing. Damage after the fact (bad disk, a person editing
//     files) is caught by hashing: get/read never return bytes that do not match the key; the
//     damaged file is deleted and the access reported as a miss.
//   - Several processes (and several instances in one process) may use one directory at once.
//     None holds a lock; each tolerates files appearing and vanishing under it (ENOENT = miss),
//     and two puts of one blob race harmlessly (identical bytes, last rename wins).
//   - LRU recency lives in file mtimes, so it is shared across processes and survives restarts:
//     an access touches the mtime at most once per `touchIntervalMs` per blob (why: see
//     CasConfig). Within this process recency is exact (an in-memory stamp per access).
//   - A blob pinned here is never evicted by this process; one pinned by another live process
//     is never evicted either, thanks to its marker in pins/. Markers of dead pids are removed.
//     Pids make this a single-host, single-pid-namespace scheme: do not share a cache directory
//     over NFS or between containers.
//   - The in-process index (hash → size, mtime) is a view: built by a scan on first need,
//     updated by this process's own puts/deletes, and rebuilt before every eviction pass, so
//     decisions use fresh mtimes and sizes written by other processes.
//   - Eviction runs after put when over budget: in the background, serialized with gc/clear,
//     logging (never throwing) its failures.
//
// Callers: cli/ (composition root) constructs it; everything else sees CasStore.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import {
  CAS_HASH_PREFIX,
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
import { evictionOrder, RecencyClock, type EvictionEntry } from './eviction.js';

const debug = debuglog('aether:cas');

/** Options of {@link DiskCas}. */
export interface DiskCasOptions extends Partial<CasConfig> {
  /** Cache root directory; created on first write. */
  dir: string;
  logger?: CasLogger;
}

/** Temp files older than this belong to a crashed writer and are removed by gc/clear. */
const STALE_TMP_MS = 60 * 60 * 1000;
/**
 * Rescan the directory once this fraction of maxBytes has been put since the last scan. Why:
 * other processes' puts are invisible to our index; without this, N processes could each believe
 * the cache is under budget while together they overshoot it N-fold. With it, each process
 * overshoots by at most this fraction before noticing.
 */
const RESCAN_FRACTION = 0.1;
const VERIFY_CHUNK = 1024 * 1024;
const VERIFY_CONCURRENCY = 4;
const SHARD_RE = /^[0-9a-f]{2}$/;
const REST_RE = /^[0-9a-f]{62}$/;
const MARKER_RE = /^([0-9a-f]{64})\.(\d+)\.([0-9a-f]+)$/;

interface IndexEntry {
  size: number;
  mtimeMs: number;
}

/** Proof that the file with this inode and size hashed correctly in this process. */
interface VerifiedRecord {
  ino: number;
  size: number;
}

interface Candidate extends EvictionEntry {
  mtimeMs: number;
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as NodeJS.ErrnoException).code ?? undefined) : undefined;
}

function isGone(e: unknown): boolean {
  const c = errCode(e);
  return c === 'ENOENT' || c === 'ENOTDIR';
}

/** On-disk {@link CasStore}; see the module header for layout and invariants. */
export class DiskCas implements CasStore {
  /** Cache root directory. */
  readonly dir: string;
  readonly config: CasConfig;
  readonly #blobsDir: string;
  readonly #tmpDir: string;
  readonly #pinsDir: string;
  readonly #log: CasLogger;
  readonly #recency = new RecencyClock();
  readonly #instanceId = randomBytes(6).toString('hex');

  // In-process view of the directory.
  #index = new Map<string, IndexEntry>();
  #indexBytes = 0;
  #indexLoaded = false;
  #scanning: Promise<void> | undefined;
  #changesDuringScan: Map<string, IndexEntry | null> | undefined;
  #bytesPutSinceScan = 0;

  /** Exact in-process recency stamp of the last access. */
  readonly #lastUsed = new Map<string, number>();
  /** When this process last wrote the blob's mtime (touch or put). */
  readonly #touchedAt = new Map<string, number>();
  readonly #verified = new Map<string, VerifiedRecord>();
  readonly #verifying = new Map<string, Promise<VerifiedRecord | undefined>>();

  readonly #pins = new Map<string, number>();
  readonly #pinOps = new Map<string, Promise<void>>();
  readonly #madeDirs = new Set<string>();

  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #corruptions = 0;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #maintenanceQueued = false;

  /** Does no I/O; the directory is scanned on first need. See also {@link DiskCas.open}. */
  constructor(opts: DiskCasOptions) {
    if (!opts || typeof opts.dir !== 'string' || opts.dir === '') {
      throw new CasError(CasErrorCode.IO, 'DiskCas needs a cache directory', { kind: 'usage' });
    }
    this.config = resolveCasConfig(opts);
    this.dir = opts.dir;
    this.#blobsDir = join(opts.dir, 'blobs');
    this.#tmpDir = join(opts.dir, 'tmp');
    this.#pinsDir = join(opts.dir, 'pins');
    this.#log = opts.logger ?? {};
  }

  /** Constructs a DiskCas and scans its directory, so stats() is accurate from the start. */
  static async open(opts: DiskCasOptions): Promise<DiskCas> {
    const cas = new DiskCas(opts);
    await cas.#refreshIndex();
    return cas;
  }

  /** The file that holds (or would hold) a blob. For diagnostics and tests. */
  pathFor(hash: string): string {
    return this.#blobPath(parseCasHash(hash).hash);
  }

  async has(hash: string): Promise<boolean> {
    const h = this.#key(hash);
    try {
      const st = await fsp.stat(this.#blobPath(h));
      if (!st.isFile()) return false;
      this.#noteSeen(h, st);
      return true;
    } catch (e) {
      if (isGone(e)) {
        this.#forget(h);
        return false;
      }
      throw this.#ioError('stat', h, e);
    }
  }

  async get(hash: string): Promise<Buffer | undefined> {
    const h = this.#key(hash);
    const fh = await this.#openBlob(h);
    if (!fh) return this.#miss();
    try {
      const st = await fh.stat();
      const data = await fh.readFile();
      // The whole blob is in memory anyway: hashing it every time costs little next to the read.
      if (casHashOf(data) !== h) {
        await this.#discardCorrupt(h, st.ino);
        return this.#miss();
      }
      this.#verified.set(h, { ino: st.ino, size: data.length });
      this.#noteSeen(h, st);
      this.#used(h, st.mtimeMs);
      this.#hits++;
      return data;
    } catch (e) {
      throw this.#ioError('read', h, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async read(hash: string, offset: number, length: number): Promise<Buffer | undefined> {
    const h = this.#key(hash);
    checkRange(offset, length);
    const fh = await this.#openBlob(h);
    if (!fh) return this.#miss();
    try {
      const st = await fh.stat();
      const rec = await this.#ensureVerified(h, fh, st);
      if (!rec) return this.#miss();
      const start = Math.min(offset, rec.size);
      const want = Math.min(length, rec.size - start);
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < want) {
        // Truncated after it was verified.
        await this.#discardCorrupt(h, st.ino);
        return this.#miss();
      }
      this.#noteSeen(h, st);
      this.#used(h, st.mtimeMs);
      this.#hits++;
      return buf;
    } catch (e) {
      throw this.#ioError('read', h, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async put(data: Uint8Array, expectedHash?: string, opts: CasPutOptions = {}): Promise<string> {
    this.#open();
    const expected = expectedHash === undefined ? undefined : parseCasHash(expectedHash).hash;
    const h = casHashOf(data);
    if (expected !== undefined && expected !== h) {
      throw new CasError(CasErrorCode.HASH_MISMATCH, `blob hashes to ${h}, expected ${expected}`);
    }
    if (opts.pin) await this.pin(h);
    try {
      await this.#store(h, data);
    } catch (e) {
      if (opts.pin) await this.unpin(h).catch(() => undefined);
      throw e;
    }
    this.#scheduleMaintenance();
    return h;
  }

  async pin(hash: string): Promise<void> {
    const h = this.#key(hash);
    const n = (this.#pins.get(h) ?? 0) + 1;
    this.#pins.set(h, n);
    if (n === 1) return this.#pinOp(h, () => this.#writeMarker(h));
    // Resolve only once the marker written by the first pin exists.
    await this.#pinOps.get(h);
  }

  async unpin(hash: string): Promise<void> {
    const h = this.#key(hash);
    const n = this.#pins.get(h) ?? 0;
    if (n === 0) {
      debug('unpin of unpinned %s ignored', h);
      return;
    }
    if (n > 1) {
      this.#pins.set(h, n - 1);
      return;
    }
    this.#pins.delete(h);
    return this.#pinOp(h, () => this.#removeMarker(h));
  }

  pinCount(hash: string): number {
    return this.#pins.get(parseCasHash(hash).hash) ?? 0;
  }

  stats(): CasStats {
    return {
      entries: this.#index.size,
      bytes: this.#indexBytes,
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
    await this.#refreshIndex();
    const hashes = [...this.#index.keys()];
    const corrupt: string[] = [];
    let checked = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < hashes.length) {
        const h = hashes[next++]!;
        const fh = await this.#openBlob(h);
        if (!fh) continue;
        try {
          const st = await fh.stat();
          checked++;
          if (!(await this.#hashFile(h, fh, st))) corrupt.push(h);
        } finally {
          await fh.close().catch(() => undefined);
        }
      }
    };
    await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, worker));
    corrupt.sort();
    return { checked, corrupt };
  }

  gc(targetBytes?: number): Promise<CasGcResult> {
    this.#open();
    const target = checkByteCount('targetBytes', targetBytes ?? this.config.maxBytes);
    return this.#serialize(async () => {
      await this.#refreshIndex();
      await this.#removeStaleTemps();
      return this.#evict(target);
    });
  }

  async clear(): Promise<void> {
    this.#open();
    await this.#serialize(async () => {
      await this.#refreshIndex();
      const foreign = await this.#foreignPins();
      for (const h of [...this.#index.keys()]) {
        if (this.#pins.has(h) || foreign.has(h)) continue;
        await this.#unlinkBlob(h);
      }
      await this.#removeStaleTemps();
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
    await Promise.all([...this.#pinOps.values()]);
    const pinned = [...this.#pins.keys()];
    this.#pins.clear();
    await Promise.all(pinned.map((h) => this.#removeMarker(h)));
  }

  // --- paths and small helpers ---

  #key(hash: string): string {
    this.#open();
    return parseCasHash(hash).hash;
  }

  #open(): void {
    if (this.#closed) throw new CasError(CasErrorCode.CLOSED, `CAS store ${this.dir} is closed`);
  }

  #blobPath(h: string): string {
    const hex = h.slice(CAS_HASH_PREFIX.length);
    return join(this.#blobsDir, hex.slice(0, 2), hex.slice(2));
  }

  #markerPath(h: string): string {
    return join(this.#pinsDir, `${h.slice(CAS_HASH_PREFIX.length)}.${process.pid}.${this.#instanceId}`);
  }

  #miss(): undefined {
    this.#misses++;
    return undefined;
  }

  #ioError(op: string, h: string | undefined, e: unknown): CasError {
    if (e instanceof CasError) return e;
    const c = errCode(e);
    const where = h ? `${op} ${h}` : op;
    if (c === 'ENOSPC' || c === 'EDQUOT') {
      return new CasError(CasErrorCode.NO_SPACE, `CAS ${where}: no space left in ${this.dir}`, { cause: e });
    }
    return new CasError(CasErrorCode.IO, `CAS ${where} failed in ${this.dir}: ${c ?? String(e)}`, { cause: e });
  }

  async #mkdir(d: string): Promise<void> {
    if (this.#madeDirs.has(d)) return;
    await fsp.mkdir(d, { recursive: true });
    this.#madeDirs.add(d);
  }

  /** Opens a blob for reading; undefined if it does not exist (now). */
  async #openBlob(h: string): Promise<FileHandle | undefined> {
    try {
      return await fsp.open(this.#blobPath(h), 'r');
    } catch (e) {
      if (isGone(e)) {
        this.#forget(h);
        return undefined;
      }
      throw this.#ioError('open', h, e);
    }
  }

  // --- index maintenance ---

  #setEntry(h: string, e: IndexEntry): void {
    const prev = this.#index.get(h);
    this.#indexBytes += e.size - (prev?.size ?? 0);
    this.#index.set(h, e);
    this.#changesDuringScan?.set(h, e);
  }

  #dropEntry(h: string): void {
    const prev = this.#index.get(h);
    if (prev) {
      this.#indexBytes -= prev.size;
      this.#index.delete(h);
    }
    this.#changesDuringScan?.set(h, null);
  }

  /** The blob is gone from disk (another process evicted it, or we did). */
  #forget(h: string): void {
    this.#verified.delete(h);
    this.#lastUsed.delete(h);
    this.#touchedAt.delete(h);
    this.#dropEntry(h);
  }

  /** Records a file we just observed, so blobs put by other processes are accounted. */
  #noteSeen(h: string, st: Stats): void {
    if (!this.#indexLoaded) return;
    const e = this.#index.get(h);
    if (!e || e.size !== st.size || e.mtimeMs < st.mtimeMs) this.#setEntry(h, { size: st.size, mtimeMs: st.mtimeMs });
  }

  /** Records an access: exact in-process recency, and a throttled mtime touch for other processes. */
  #used(h: string, diskMtimeMs: number): void {
    this.#lastUsed.set(h, this.#recency.next());
    const now = Date.now();
    const last = Math.max(diskMtimeMs, this.#touchedAt.get(h) ?? -Infinity);
    if (now - last < this.config.touchIntervalMs) return;
    this.#touchedAt.set(h, now);
    const t = now / 1000;
    fsp.utimes(this.#blobPath(h), t, t).then(
      () => {
        const e = this.#index.get(h);
        if (e && e.mtimeMs < now) this.#setEntry(h, { size: e.size, mtimeMs: now });
      },
      (err: unknown) => debug('touch %s failed: %s', h, errCode(err) ?? err),
    );
  }

  /**
   * Rebuilds the index from the directory. Changes this process makes while the scan runs are
   * recorded and replayed on top, so a put that lands mid-scan is not lost from the view.
   */
  #refreshIndex(): Promise<void> {
    if (this.#scanning) return this.#scanning;
    const changes = new Map<string, IndexEntry | null>();
    this.#changesDuringScan = changes;
    this.#bytesPutSinceScan = 0;
    const p = (async () => {
      try {
        const scanned = await this.#scanDisk();
        for (const [h, e] of changes) {
          if (e) scanned.set(h, e);
          else scanned.delete(h);
        }
        let bytes = 0;
        for (const e of scanned.values()) bytes += e.size;
        this.#index = scanned;
        this.#indexBytes = bytes;
        this.#indexLoaded = true;
        // Drop per-blob bookkeeping of blobs that are gone, so it cannot grow without bound.
        for (const m of [this.#lastUsed, this.#touchedAt, this.#verified]) {
          for (const h of m.keys()) if (!scanned.has(h)) m.delete(h);
        }
      } finally {
        this.#changesDuringScan = undefined;
        this.#scanning = undefined;
      }
    })();
    this.#scanning = p;
    return p;
  }

  async #scanDisk(): Promise<Map<string, IndexEntry>> {
    const out = new Map<string, IndexEntry>();
    let shards: string[];
    try {
      shards = await fsp.readdir(this.#blobsDir);
    } catch (e) {
      if (isGone(e)) return out;
      throw this.#ioError('scan', undefined, e);
    }
    for (const shard of shards) {
      if (!SHARD_RE.test(shard)) continue;
      const shardDir = join(this.#blobsDir, shard);
      let names: string[];
      try {
        names = await fsp.readdir(shardDir);
      } catch (e) {
        if (isGone(e)) continue;
        throw this.#ioError('scan', undefined, e);
      }
      await Promise.all(
        names.map(async (name) => {
          if (!REST_RE.test(name)) return;
          try {
            const st = await fsp.stat(join(shardDir, name));
            if (st.isFile()) out.set(`${CAS_HASH_PREFIX}${shard}${name}`, { size: st.size, mtimeMs: st.mtimeMs });
          } catch (e) {
            if (!isGone(e)) throw this.#ioError('scan', undefined, e);
          }
        }),
      );
    }
    return out;
  }

  // --- verification ---

  /** The verified record for the open file, hashing it if this process has not yet. */
  #ensureVerified(h: string, fh: FileHandle, st: Stats): Promise<VerifiedRecord | undefined> {
    const rec = this.#verified.get(h);
    if (rec && rec.ino === st.ino && rec.size === st.size) return Promise.resolve(rec);
    // Concurrent first reads of one file share one hashing pass.
    const k = `${h}:${st.ino}`;
    let p = this.#verifying.get(k);
    if (!p) {
      p = this.#hashFile(h, fh, st).finally(() => this.#verifying.delete(k));
      this.#verifying.set(k, p);
    }
    return p;
  }

  /** Hashes an open blob file; remembers success, discards the file on mismatch. */
  async #hashFile(h: string, fh: FileHandle, st: Stats): Promise<VerifiedRecord | undefined> {
    const hasher = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK, Math.max(1, st.size)));
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    if (`${CAS_HASH_PREFIX}${hasher.digest('hex')}` !== h) {
      await this.#discardCorrupt(h, st.ino);
      return undefined;
    }
    const rec = { ino: st.ino, size: pos };
    this.#verified.set(h, rec);
    return rec;
  }

  /**
   * Deletes a blob file found corrupt, unless another process has meanwhile replaced it with a
   * new file (different inode), which is then left for its own verification.
   */
  async #discardCorrupt(h: string, ino: number): Promise<void> {
    this.#corruptions++;
    this.#verified.delete(h);
    this.#log.warn?.('cas: corrupt blob discarded', { hash: h, path: this.#blobPath(h) });
    const p = this.#blobPath(h);
    try {
      const st = await fsp.stat(p);
      if (st.ino !== ino) return;
      await fsp.unlink(p);
    } catch (e) {
      if (!isGone(e)) {
        this.#log.warn?.('cas: could not delete corrupt blob', { hash: h, err: e });
        return;
      }
    }
    this.#forget(h);
  }

  // --- writing ---

  async #store(h: string, data: Uint8Array): Promise<void> {
    const p = this.#blobPath(h);
    const rec = this.#verified.get(h);
    if (rec) {
      // Idempotent fast path: the very file we verified is still there.
      try {
        const st = await fsp.stat(p);
        if (st.ino === rec.ino && st.size === rec.size && st.size === data.length) {
          this.#noteSeen(h, st);
          this.#used(h, st.mtimeMs);
          return;
        }
      } catch (e) {
        if (!isGone(e)) throw this.#ioError('stat', h, e);
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#writeAtomically(h, p, data);
        return;
      } catch (e) {
        // The directory was removed under us (someone wiped the cache): recreate once.
        if (isGone(e) && attempt === 0) {
          this.#madeDirs.clear();
          continue;
        }
        throw this.#ioError('put', h, e);
      }
    }
  }

  async #writeAtomically(h: string, finalPath: string, data: Uint8Array): Promise<void> {
    const hex = h.slice(CAS_HASH_PREFIX.length);
    await this.#mkdir(this.#tmpDir);
    await this.#mkdir(join(this.#blobsDir, hex.slice(0, 2)));
    const tmp = join(this.#tmpDir, `${hex.slice(0, 16)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let mtimeMs: number;
    try {
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        // Why: without it a crash can leave a renamed but empty/partial file (ext4 delayed alloc).
        await fh.datasync();
        ({ mtimeMs } = await fh.stat());
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, finalPath);
    } catch (e) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw e;
    }
    const now = Date.now();
    // Not marked verified: the first read re-hashes the file, so damage done to it on disk after
    // this write (or by a broken disk) is still caught, also in this process.
    this.#touchedAt.set(h, now);
    this.#lastUsed.set(h, this.#recency.next());
    const known = this.#index.has(h);
    if (!known) this.#bytesPutSinceScan += data.length;
    if (this.#indexLoaded || this.#scanning) this.#setEntry(h, { size: data.length, mtimeMs });
  }

  // --- pins ---

  /** Runs marker operations of one hash in call order. Failures are logged: the in-process pin still holds. */
  #pinOp(h: string, op: () => Promise<void>): Promise<void> {
    const prev = this.#pinOps.get(h) ?? Promise.resolve();
    const next = prev.then(op).catch((err: unknown) => {
      this.#log.warn?.('cas: pin marker update failed; pin holds in this process only', { hash: h, err });
    });
    this.#pinOps.set(h, next);
    void next.then(() => {
      if (this.#pinOps.get(h) === next) this.#pinOps.delete(h);
    });
    return next;
  }

  async #writeMarker(h: string): Promise<void> {
    await this.#mkdir(this.#pinsDir);
    try {
      await fsp.writeFile(this.#markerPath(h), '');
    } catch (e) {
      if (!isGone(e)) throw e;
      this.#madeDirs.delete(this.#pinsDir);
      await this.#mkdir(this.#pinsDir);
      await fsp.writeFile(this.#markerPath(h), '');
    }
  }

  async #removeMarker(h: string): Promise<void> {
    await fsp.unlink(this.#markerPath(h)).catch((e: unknown) => {
      if (!isGone(e)) throw e;
    });
  }

  /** Blobs pinned by other live store instances (other processes, or other instances here). */
  async #foreignPins(): Promise<Set<string>> {
    const out = new Set<string>();
    let names: string[];
    try {
      names = await fsp.readdir(this.#pinsDir);
    } catch (e) {
      if (isGone(e)) return out;
      throw this.#ioError('read pins', undefined, e);
    }
    const alive = new Map<number, boolean>();
    for (const name of names) {
      const m = MARKER_RE.exec(name);
      if (!m) continue;
      const [, hex, pidText, instance] = m;
      if (instance === this.#instanceId) continue; // our own pins are in this.#pins
      const pid = Number(pidText);
      let live = alive.get(pid);
      if (live === undefined) {
        live = pidAlive(pid);
        alive.set(pid, live);
      }
      if (live) out.add(CAS_HASH_PREFIX + hex);
      else {
        debug('removing pin marker of dead pid %d: %s', pid, name);
        await fsp.unlink(join(this.#pinsDir, name)).catch(() => undefined);
      }
    }
    return out;
  }

  // --- eviction ---

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(work, work);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** After a put: rescan and evict in the background if the budget may be exceeded. */
  #scheduleMaintenance(): void {
    if (this.#maintenanceQueued || this.#closed) return;
    const max = this.config.maxBytes;
    const due = !this.#indexLoaded || this.#indexBytes > max || this.#bytesPutSinceScan >= max * RESCAN_FRACTION;
    if (!due) return;
    this.#maintenanceQueued = true;
    void this.#serialize(async () => {
      this.#maintenanceQueued = false;
      await this.#refreshIndex();
      if (this.#indexBytes > max) await this.#evict(Math.floor(max * this.config.lowWatermark));
    }).catch((err: unknown) => this.#log.warn?.('cas: background eviction failed', { err }));
  }

  /** Deletes LRU unpinned blobs until the index is at or under target. Call with a fresh index. */
  async #evict(target: number): Promise<CasGcResult> {
    if (this.#indexBytes <= target) return { evicted: 0, freedBytes: 0 };
    const foreign = await this.#foreignPins();
    const entries: Candidate[] = [];
    for (const [hash, e] of this.#index) {
      entries.push({ hash, size: e.size, mtimeMs: e.mtimeMs, lastUsed: Math.max(e.mtimeMs, this.#lastUsed.get(hash) ?? -Infinity) });
    }
    const order = evictionOrder(entries, (h) => this.#pins.has(h) || foreign.has(h));
    let evicted = 0;
    let freedBytes = 0;
    for (const c of order) {
      if (this.#indexBytes <= target) break;
      let st: Stats;
      try {
        st = await fsp.stat(this.#blobPath(c.hash));
      } catch (e) {
        if (!isGone(e)) throw this.#ioError('stat', c.hash, e);
        this.#forget(c.hash);
        continue;
      }
      // Used by another process since the scan: no longer least recent.
      if (st.mtimeMs > c.mtimeMs + 1) {
        this.#setEntry(c.hash, { size: st.size, mtimeMs: st.mtimeMs });
        continue;
      }
      // Pinned here while we were awaiting.
      if (this.#pins.has(c.hash)) continue;
      if (await this.#unlinkBlob(c.hash)) {
        evicted++;
        freedBytes += st.size;
      }
    }
    this.#evictions += evicted;
    if (evicted) debug('evicted %d blobs (%d bytes) from %s', evicted, freedBytes, this.dir);
    return { evicted, freedBytes };
  }

  /** Deletes a blob file; true if this call removed it. */
  async #unlinkBlob(h: string): Promise<boolean> {
    try {
      await fsp.unlink(this.#blobPath(h));
      this.#forget(h);
      return true;
    } catch (e) {
      if (!isGone(e)) throw this.#ioError('unlink', h, e);
      this.#forget(h);
      return false;
    }
  }

  /** Removes temp files left by crashed writers (live writers finish well within STALE_TMP_MS). */
  async #removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.#tmpDir);
    } catch (e) {
      if (isGone(e)) return;
      throw this.#ioError('read tmp', undefined, e);
    }
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const name of names) {
      const p = join(this.#tmpDir, name);
      try {
        const st = await fsp.stat(p);
        if (st.mtimeMs < cutoff) await fsp.unlink(p);
      } catch (e) {
        if (!isGone(e)) debug('stale temp %s: %s', p, errCode(e) ?? e);
      }
    }
  }
}

/** True if a process with this pid exists (EPERM: exists, owned by someone else). */
function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM';
  }
}
