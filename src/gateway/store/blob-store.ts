// The gateway's on-disk content-addressed blob store. A blob is immutable, named by the sha256 of
// its bytes, written to a temp file and renamed into place; identical bytes are stored once.
//
// Durability is batched: `put` does not fsync. Every file written (or found and not yet known to
// be synced) joins a pending set, and `flush()` fsyncs all pending files, then their directories,
// in parallel — once per request (fs/mutation.ts flushes before the tree commit that references
// the blobs) or per group commit (Durability.barrier calls it before the WAL fsync). So a request
// with many large chunks costs one round of parallel fsyncs, not a file+dir fsync pair per blob.
// Invariant: a tree that references a blob is never made durable before the blob's file is.
// Callers: store/tiered-blobs.ts (which keeps small blobs in SQLite instead), server.ts.
import { createReadStream, renameSync } from 'node:fs';
import type { Readable } from 'node:stream';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../shared/digest.js';

export interface PutResult {
  hash: string;
  size: number;
  /** False when the blob was already stored. */
  created: boolean;
}

/** Seam: the gateway sees blobs only through this interface. */
export interface BlobStore {
  /** Store bytes; `hash` may be passed when the caller already computed sha256(data). */
  put(data: Buffer, hash?: string): Promise<PutResult>;
  has(hash: string): Promise<boolean>;
  size(hash: string): Promise<number | undefined>;
  /** Read `length` bytes at `offset` (whole blob by default). Throws if missing or short. */
  read(hash: string, offset?: number, length?: number): Promise<Buffer>;
  stream(hash: string, start: number, endInclusive: number): Readable;
  /** Make every blob put so far durable (fsync); resolves when done. */
  flush(): Promise<void>;
  /** Blobs put but not yet flushed (a store that cannot tell returns 1). */
  unflushed?(): number;
  /** Rows put but not yet written to SQLite (tiered-blobs.ts); flushRows() writes them, inside a transaction, and returns an undo for a rollback. */
  pendingRows?(): number;
  flushRows?(): () => void;
  /** Remove a blob (GC only; the caller guarantees nothing references it). */
  remove?(hash: string): Promise<void>;
}

export class DiskBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly tmpDir: string;
  private readonly dirsMade = new Set<string>();
  /** Files put (or found) since the last flush that may not be on stable storage yet. */
  private pending = new Set<string>();
  /** Hashes known durable in this process (bounded), so dedupe hits skip the fsync. */
  private synced = new Set<string>();

  constructor(root: string) {
    this.blobDir = path.join(root, 'blobs');
    this.tmpDir = path.join(root, 'tmp');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  pathOf(hash: string): string {
    const hex = hash.startsWith('sha256:') ? hash.slice(7) : hash;
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`bad blob hash ${hash}`);
    return path.join(this.blobDir, hex.slice(0, 2), hex.slice(2));
  }

  async put(data: Buffer, knownHash?: string): Promise<PutResult> {
    const hash = knownHash ?? sha256(data);
    const dest = this.pathOf(hash);
    try {
      const st = await fsp.stat(dest);
      if (st.size === data.length) {
        // Found, perhaps written by an unacknowledged request before a crash: sync it with ours.
        if (!this.synced.has(hash)) this.pending.add(dest);
        return { hash, size: data.length, created: false };
      }
    } catch {
      /* not stored yet */
    }
    const dir = path.dirname(dest);
    if (!this.dirsMade.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirsMade.add(dir);
    }
    const tmp = path.join(this.tmpDir, `${hash.slice(7, 23)}-${randomBytes(6).toString('hex')}`);
    await fsp.writeFile(tmp, data, { mode: 0o400 }); // private to the gateway's user (data-dir.ts); fsynced in flush()
    await fsp.rename(tmp, dest);
    this.pending.add(dest);
    return { hash, size: data.length, created: true };
  }

  unflushed(): number {
    return this.pending.size;
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const files = [...this.pending];
    this.pending = new Set();
    try {
      await Promise.all(files.map((f) => syncPath(f)));
      await Promise.all([...new Set(files.map((f) => path.dirname(f)))].map((d) => syncPath(d)));
    } catch (err) {
      for (const f of files) this.pending.add(f);
      throw err;
    }
    for (const f of files) {
      this.synced.add('sha256:' + path.basename(path.dirname(f)) + path.basename(f));
      if (this.synced.size > 100_000) this.synced.delete(this.synced.values().next().value!);
    }
  }

  async remove(hash: string): Promise<void> {
    // Renamed away synchronously, so a put that starts after this call never dedupes against it.
    const doomed = path.join(this.tmpDir, `gc-${hash.slice(7, 23)}-${randomBytes(6).toString('hex')}`);
    try {
      renameSync(this.pathOf(hash), doomed);
    } catch {
      return;
    }
    this.synced.delete(hash);
    await fsp.rm(doomed, { force: true });
  }

  async has(hash: string): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: string): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.pathOf(hash))).size;
    } catch {
      return undefined;
    }
  }

  async read(hash: string, offset = 0, length?: number): Promise<Buffer> {
    const fh = await fsp.open(this.pathOf(hash), 'r');
    try {
      const len = length ?? (await fh.stat()).size - offset;
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, offset + got);
        if (bytesRead === 0) throw new Error(`blob ${hash} is shorter than expected`);
        got += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  stream(hash: string, start: number, endInclusive: number): Readable {
    return createReadStream(this.pathOf(hash), { start, end: endInclusive, highWaterMark: 1 << 20 });
  }
}

async function syncPath(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
