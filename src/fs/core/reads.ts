// FsReads: the read path. File bytes come from the node's extents (`getCasExtents`, cached per
// node) through the local CAS cache, fetching a blob from the gateway only on a cache miss (one
// fetch per hash at a time) and prefetching ahead on sequential reads; dirty ranges come from the
// local staging file.
// Invariants: bytes in `dirty` ranges come from staging, bytes below `baseLimit` outside them from
// the remote extents, the rest are zeros. Callers: the layers above (write-through, overlay glue,
// SessionFilesystem.read).
import * as fsp from 'node:fs/promises';
import { fromGatewayError, fsError } from '../fs-error.js';
import { type Extent, type DirtyState, FsNode, toNum } from '../fs-node.js';
import { FsTree } from './tree.js';

export abstract class FsReads extends FsTree {
  /** Staging files being opened: concurrent callers (a write, the shipper's read) share one open. */
  private readonly fdOpening = new WeakMap<DirtyState, Promise<fsp.FileHandle>>();

  /** Where a dirty file's staged bytes live (the overlay's staging dir in overlay mode). */
  protected stagingPathOf(d: DirtyState): string {
    return this.overlay && this.ov ? this.overlay.stagingPath(d.stagingId) : this.staging.stagingPath(d.stagingId);
  }

  /** The staging file for writing, created on first use (callers hold the node lock). */
  protected async stagingFd(d: DirtyState): Promise<fsp.FileHandle> {
    if (d.fd) return d.fd;
    let opening = this.fdOpening.get(d);
    if (!opening) {
      const p = this.stagingPathOf(d);
      // Overlay mode closes staging files on release: reopen without truncating.
      opening = fsp
        .open(p, 'r+')
        .catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return fsp.open(p, 'w+', 0o600);
          throw e;
        })
        .then((fd) => (d.fd = fd))
        .finally(() => this.fdOpening.delete(d));
      this.fdOpening.set(d, opening);
    }
    return opening;
  }

  protected async ensureExtents(node: FsNode): Promise<Extent[]> {
    if (node.extents) return node.extents;
    this.stats.extentLookups++;
    let res;
    try {
      res = await this.client.getCasExtents(this.sessionId, { path: node.path });
    } catch (e) {
      throw fromGatewayError(e);
    }
    node.extents = (res.extents ?? []).map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) }));
    // Pin what an open file needs so eviction never removes it under a reader.
    if (node.openCount > 0 && node.pinned.length === 0) {
      node.pinned = [...new Set(node.extents.map((x) => x.hash).filter(Boolean))];
      for (const hsh of node.pinned) await this.cas.pin(hsh);
    }
    return node.extents;
  }

  /** Copy base (remote) bytes [start, end) into out at outOff. */
  protected async readBase(node: FsNode, start: number, end: number, out: Buffer, outOff: number): Promise<void> {
    const extents = node.dirty?.baseExtents ?? (await this.ensureExtents(node));
    for (const x of extents) {
      const xs = x.offset;
      const xe = x.offset + x.length;
      if (xe <= start) continue;
      if (xs >= end) break;
      const s = Math.max(start, xs);
      const e = Math.min(end, xe);
      if (!x.hash) continue; // hole: zeros
      const bytes = await this.blobRange(x.hash, x.casOffset + (s - xs), e - s);
      bytes.copy(out, outOff + (s - start));
    }
  }

  /** Bytes of a blob, from the local CAS or (once) from the gateway. */
  protected async blobRange(hash: string, offset: number, length: number): Promise<Buffer> {
    const cached = await this.cas.read(hash, offset, length).catch(() => undefined);
    if (cached && cached.length === length) {
      this.stats.cacheHits++;
      return cached;
    }
    this.stats.cacheMisses++;
    const whole = await this.fetchBlob(hash);
    if (offset + length > whole.length) throw fsError('EIO', `blob ${hash} is shorter than its extent`);
    return whole.subarray(offset, offset + length);
  }

  protected fetchBlob(hash: string): Promise<Buffer> {
    let p = this.blobInFlight.get(hash);
    if (!p) {
      p = (async () => {
        let data: Buffer;
        try {
          data = await this.client.getBlob(this.sessionId, hash);
        } catch (e) {
          throw fromGatewayError(e);
        }
        this.stats.blobsFetched++;
        this.stats.bytesFetched += data.length;
        await this.cas.put(data, hash).catch((e) => this.log.warn('cas put failed', { hash, error: String(e) }));
        return data;
      })().finally(() => this.blobInFlight.delete(hash));
      this.blobInFlight.set(hash, p);
    }
    return p;
  }

  protected prefetchAfter(node: FsNode, offset: number): void {
    const extents = node.extents;
    if (!extents) return;
    let n = 0;
    for (const x of extents) {
      if (x.offset + x.length <= offset || !x.hash) continue;
      if (n++ >= 2) break;
      void (async () => {
        if (await this.cas.has(x.hash)) return;
        await this.fetchBlob(x.hash).catch(() => undefined);
      })();
    }
  }

  /** Current bytes of a node through the local view (staging + base + zeros). */
  protected async readLocal(node: FsNode, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const d = node.dirty;
    const end = offset + length;
    const pieces = d ? d.ranges.split(offset, end) : [{ start: offset, end, inside: false }];
    const baseLimit = d ? d.baseLimit : node.size;
    if (d) d.readers++;
    try {
      for (const p of pieces) {
        if (p.inside) await this.readStaging(d!, out, p.start - offset, p.end - p.start, p.start);
        else if (p.start < baseLimit) await this.readBase(node, p.start, Math.min(p.end, baseLimit), out, p.start - offset);
      }
    } finally {
      if (d && --d.readers === 0 && d.drained) {
        const wake = d.drained;
        d.drained = undefined;
        wake();
      }
    }
    return out;
  }

  /** Staged bytes for a read: through the writer's fd, or a read-only open (never creates). */
  protected async readStaging(d: DirtyState, out: Buffer, outOff: number, length: number, position: number): Promise<void> {
    if (d.fd) {
      await d.fd.read(out, outOff, length, position);
      return;
    }
    const fd = await fsp.open(this.stagingPathOf(d), 'r');
    try {
      await fd.read(out, outOff, length, position);
    } finally {
      await fd.close();
    }
  }
}
