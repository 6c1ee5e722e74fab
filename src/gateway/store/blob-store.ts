// The gateway's on-disk content-addressed blob store. A blob is immutable, named by the sha256 of
// its bytes, written to a temp file, fsynced, renamed into place and its directory fsynced before
// `put` resolves: once acknowledged, a blob survives a crash. Identical bytes are stored once.
import { createReadStream, type ReadStream } from 'node:fs';
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
  put(data: Buffer): Promise<PutResult>;
  has(hash: string): Promise<boolean>;
  size(hash: string): Promise<number | undefined>;
  /** Read `length` bytes at `offset` (whole blob by default). Throws if missing or short. */
  read(hash: string, offset?: number, length?: number): Promise<Buffer>;
  stream(hash: string, start: number, endInclusive: number): ReadStream;
}

export class DiskBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly tmpDir: string;
  private readonly dirsMade = new Set<string>();

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

  async put(data: Buffer): Promise<PutResult> {
    const hash = sha256(data);
    const dest = this.pathOf(hash);
    try {
      const st = await fsp.stat(dest);
      if (st.size === data.length) return { hash, size: data.length, created: false };
    } catch {
      /* not stored yet */
    }
    const dir = path.dirname(dest);
    if (!this.dirsMade.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirsMade.add(dir);
    }
    const tmp = path.join(this.tmpDir, `${hash.slice(7, 23)}-${randomBytes(6).toString('hex')}`);
    const fh = await fsp.open(tmp, 'w', 0o400); // private to the gateway's user (data-dir.ts)
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, dest);
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return { hash, size: data.length, created: true };
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

  stream(hash: string, start: number, endInclusive: number): ReadStream {
    return createReadStream(this.pathOf(hash), { start, end: endInclusive, highWaterMark: 1 << 20 });
  }
}
