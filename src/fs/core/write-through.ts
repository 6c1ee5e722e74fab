// FsWriteThrough: the write-through upload engine (today's `--write-through` behaviour, also the
// content path of crash recovery). A dirty file reaches the gateway on flush/fsync/close: new and
// small files through `batch` (concurrent closes coalesce into one atomic batch), edits of large
// files through `patchSegments` with only the changed ranges, every update guarded by
// `expectedHash`; a conflicting remote change keeps both sides (a visible conflict copy). Staging
// journals left by a crashed mount are replayed at init.
// Invariants: one upload per node at a time (node lock); a journal record is removed only after the
// gateway holds its bytes. Callers: the layers above (overlay glue, SessionFilesystem).
import * as fsp from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { isGatewayError } from '../../client/gateway-error.js';
import type { ManifestNode } from '../../protocol/types.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { sha256 } from '../../shared/digest.js';
import { fromGatewayError } from '../fs-error.js';
import { RangeSet } from '../range-set.js';
import { type JournalRecord } from '../staging.js';
import { S_IFREG, type Extent, type DirtyState, FsNode, SINGLE_CHUNK_BYTES, toNum, type PendingBatchOp } from '../fs-node.js';
import { FsReads } from './reads.js';

export abstract class FsWriteThrough extends FsReads {
  /** Make sure `dir` exists on the gateway (it always does unless created by an upload race). */
  protected async ensureRemoteParent(dir: FsNode): Promise<void> {
    if (dir.remote) return;
    if (dir.parent) await this.ensureRemoteParent(dir.parent);
    await this.client.createDir(this.sessionId, { path: dir.path, mode: dir.mode & 0o7777 }).catch((e) => {
      if (!(isGatewayError(e) && e.rpcCode === RpcCode.ALREADY_EXISTS)) throw fromGatewayError(e);
    });
    dir.remote = true;
  }

  protected async uploadSubtree(node: FsNode): Promise<void> {
    if (node.kind === 'file') return this.uploadNow(node);
    if (node.kind !== 'dir') return;
    for (const n of [...this.dirtyNodes]) {
      let p: FsNode | undefined = n;
      while (p && p !== node) p = p.parent;
      if (p === node) await this.uploadNow(n);
    }
  }

  protected async discardDirty(node: FsNode): Promise<void> {
    const d = node.dirty;
    if (!d) return;
    node.dirty = undefined;
    this.dirtyNodes.delete(node);
    this.stats.pendingUploads = this.dirtyNodes.size;
    if (this.ov) {
      this.filesById.delete(d.stagingId);
      try {
        this.dropPendingPuts(node);
        this.overlay?.removeFile(d.stagingId);
      } catch (e) {
        this.log.warn('overlay: could not drop a discarded file', { error: String(e) });
      }
    }
    await this.retireDirty(d);
  }

  /** Wait until no read uses `d`, then close and remove its staging file and journal record. */
  protected async retireDirty(d: DirtyState): Promise<void> {
    while (d.readers > 0) await new Promise<void>((r) => (d.drained = r));
    await d.fd?.close().catch(() => undefined);
    d.fd = undefined;
    await this.staging.removeStaging(d.stagingId);
    await this.staging.removeRecord(d.stagingId);
  }

  /** Upload a node's pending bytes now (flush/fsync/close); errors surface to the caller. */
  async uploadNow(node: FsNode): Promise<void> {
    await this.withNodeLock(node, () => this.uploadLocked(node));
  }

  protected async uploadLocked(node: FsNode): Promise<void> {
    const d = node.dirty;
    if (!d || node.kind !== 'file') return;
    if (!node.attached || node.hidden) return;
    if (node.parent) await this.ensureRemoteParent(node.parent);
    const path = node.path;
    const rec: JournalRecord = {
      id: d.stagingId,
      sessionId: this.sessionId,
      path,
      baseHash: node.remote ? (d.baseHash ?? node.remoteHash) : '',
      baseLimit: d.baseLimit,
      size: node.size,
      mode: node.mode,
      ranges: d.ranges.ranges.map((r) => ({ ...r })),
      isNew: !node.remote,
      writtenAt: this.clock.now(),
    };
    this.inFlightUploads++;
    this.stats.uploadsInFlight = this.inFlightUploads;
    const reader = (off: number, len: number) => this.readLocal(node, off, len);
    try {
      const sent = await this.sendUpload(rec, reader);
      this.stats.uploads++;
      await this.afterUpload(node, rec, sent, reader);
    } catch (e) {
      if (isGatewayError(e) && (e.rpcCode === RpcCode.ABORTED || e.rpcCode === RpcCode.FAILED_PRECONDITION)) {
        await this.saveConflict(rec, reader, e.message);
        await this.finishDirty(node, d);
        // The kernel caches the refused local bytes: until it drops them, an edit is of those.
        if (this.kernelInvalidator && rec.baseHash) {
          this.kernelMayShow(node, rec.baseHash);
          const gen = this.invalGen;
          const p = node.path;
          const done = () => this.kernelInvalidated([p], gen);
          void this.kernelInvalidator([p]).then(done, done);
        }
        node.extents = undefined;
        if (node.parent) node.parent.stale = true;
        await this.refreshFile(node).catch(() => undefined);
        this.rebaseHandles(node);
        return;
      }
      // The upload failed: make the bytes durable locally (staging file + journal record) so a
      // retry, or the next mount after a crash, can still deliver them. The caller gets the error.
      await this.staging.writeRecord(rec, await this.stagingFd(d)).catch((je) => this.log.error('could not journal a failed upload', { path, error: String(je) }));
      throw fromGatewayError(e);
    } finally {
      this.inFlightUploads--;
      this.stats.uploadsInFlight = this.inFlightUploads;
    }
    await this.finishDirty(node, d);
    this.rebaseHandles(node);
  }

  /** The node's bytes are on the gateway: drop local staging state. */
  protected async finishDirty(node: FsNode, d: DirtyState): Promise<void> {
    if (node.dirty === d) node.dirty = undefined;
    // A listing that left before this upload must not apply its older view of the node (or drop
    // a file it did not know yet): mark the node changed after any listing in flight.
    node.invalGen = ++this.invalGen;
    this.dirtyNodes.delete(node);
    this.stats.pendingUploads = this.dirtyNodes.size;
    await this.retireDirty(d);
  }

  /**
   * Learn the new state after an upload. A whole-file write's hash is known locally (sha256 of
   * what we sent) and, for files no larger than one CAS chunk, so is its only blob: seed the local
   * CAS with it and skip the round trip. Otherwise ask the gateway for the new hash and extents.
   */
  protected async afterUpload(node: FsNode, rec: JournalRecord, sent: Buffer | undefined, read: (off: number, len: number) => Promise<Buffer>): Promise<void> {
    if (sent && sent.length <= SINGLE_CHUNK_BYTES) {
      const hash = sha256(sent);
      if (sent.length > 0) await this.cas.put(sent, hash).catch(() => undefined);
      node.remote = true;
      node.remoteHash = hash;
      node.remoteSize = sent.length;
      node.extents = sent.length ? [{ offset: 0, length: sent.length, hash, casOffset: 0 }] : [];
      return;
    }
    await this.refreshFile(node, rec, read);
  }

  /**
   * Send one journaled change: whole-file batch write for new/small/rewritten files (coalesced
   * with concurrent flushes), otherwise patchSegments with only the changed ranges, split into
   * requests of at most maxRequestBytes (only the first carries expectedHash).
   */
  /**
   * `requestId` (overlay shipping): every patchSegments request carries `<requestId>.<n>.<digest
   * of what it says>`, so a retried request is recognized and a changed one is not.
   */
  protected async sendUpload(rec: JournalRecord, read: (off: number, len: number) => Promise<Buffer>, requestId?: string): Promise<Buffer | undefined> {
    const wholeFile = rec.isNew || rec.baseLimit === 0 || (rec.ranges.length > 0 && rec.ranges[0]!.start === 0 && rec.ranges[0]!.end >= rec.size);
    if (wholeFile && rec.size <= this.smallFileBytes) {
      const content = await read(0, rec.size);
      this.stats.bytesUploaded += content.length;
      await this.enqueueBatchWrite({ path: rec.path, content, expectedHash: rec.baseHash, mode: rec.mode });
      return content;
    }
    // Segments: zeros (holes) wherever the file has no local bytes beyond the surviving base
    // (truncated-away base bytes, sparse gaps), then every locally written range.
    type Seg = { hole: { offset: number; length: number } } | { data: { offset: number; content: Buffer } };
    const segs: Array<{ start: number; end: number; hole: boolean }> = [];
    const ranges = RangeSet.from(rec.ranges);
    const holeFrom = rec.isNew ? 0 : rec.baseLimit;
    for (const p of ranges.split(holeFrom, Math.max(holeFrom, rec.size))) {
      if (!p.inside) segs.push({ start: p.start, end: p.end, hole: true });
    }
    for (const r of rec.ranges) segs.push({ start: r.start, end: Math.min(r.end, rec.size), hole: false });
    let first = true;
    let requestNo = 0;
    let batch: Seg[] = [];
    let batchBytes = 0;
    let dataEnd = 0;
    const sendBatch = async (last: boolean) => {
      // Intermediate requests of a long upload let the file grow with the data sent so far (so the
      // gateway never hashes a long zero tail); the last one sets the final size.
      const logicalSize = last ? rec.size : Math.min(rec.size, Math.max(dataEnd, rec.isNew ? 0 : rec.baseLimit));
      const mutation = { path: rec.path, segments: batch, logicalSize, expectedHash: first ? rec.baseHash : '', mode: rec.mode };
      let opts: { requestId: string } | undefined;
      if (requestId) {
        const h = createHash('sha256').update(JSON.stringify({ ...mutation, segments: batch.map((b) => ('hole' in b ? b : { offset: b.data.offset, length: b.data.content.length })) }));
        for (const b of batch) if ('data' in b) h.update(b.data.content);
        opts = { requestId: `${requestId}.${requestNo++}.${h.digest('hex').slice(0, 16)}` };
      }
      await this.client.patchSegments(this.sessionId, { mutations: [mutation], conflictPolicy: 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT' }, opts);
      first = false;
      batch = [];
      batchBytes = 0;
    };
    for (const s of segs) {
      if (s.end <= s.start) continue;
      if (s.hole) {
        batch.push({ hole: { offset: s.start, length: s.end - s.start } });
        continue;
      }
      let pos = s.start;
      while (pos < s.end) {
        const n = Math.min(s.end - pos, this.maxRequestBytes - batchBytes);
        const content = await read(pos, n);
        batch.push({ data: { offset: pos, content } });
        batchBytes += n;
        this.stats.bytesUploaded += n;
        pos += n;
        dataEnd = Math.max(dataEnd, pos);
        if (batchBytes >= this.maxRequestBytes && pos < rec.size) await sendBatch(false);
      }
    }
    if (batch.length > 0 || first) await sendBatch(true);
    return undefined;
  }

  /**
   * Queue a whole-file write. While a batch request is in flight, further flushes wait and then
   * go together in the next one (one atomic batch), so a burst of small files costs a few
   * requests instead of one each, and a lone flush is sent at once.
   */
  protected enqueueBatchWrite(w: { path: string; content: Buffer; expectedHash: string; mode: number }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.batchQueue.push({ op: { write: w }, resolve, reject });
      if (!this.batchInFlight) void this.drainBatch();
    });
  }

  protected async drainBatch(): Promise<void> {
    if (this.batchInFlight) return;
    this.batchInFlight = true;
    try {
      while (this.batchQueue.length) {
        // Take up to maxRequestBytes / 256 operations per request.
        let bytes = 0;
        let n = 0;
        while (n < this.batchQueue.length && n < 256 && (n === 0 || bytes + this.batchQueue[n]!.op.write.content.length <= this.maxRequestBytes)) {
          bytes += this.batchQueue[n]!.op.write.content.length;
          n++;
        }
        const ops = this.batchQueue.splice(0, n);
        await this.sendBatchOps(ops);
      }
    } finally {
      this.batchInFlight = false;
    }
  }

  protected async sendBatchOps(ops: PendingBatchOp[]): Promise<void> {
    this.stats.batches++;
    try {
      await this.client.batch(this.sessionId, { operations: ops.map((o) => o.op) });
      for (const o of ops) o.resolve();
    } catch (e) {
      if (ops.length === 1) {
        ops[0]!.reject(e);
        return;
      }
      // One bad apple (e.g. a conflict) must not fail the others: retry each on its own.
      for (const o of ops) {
        try {
          await this.client.batch(this.sessionId, { operations: [o.op] });
          o.resolve();
        } catch (err) {
          o.reject(err);
        }
      }
    }
  }

  /**
   * After an upload: learn the new hash and extents from the gateway, and seed the local CAS with
   * blobs whose bytes we have locally, so rereading what we wrote never downloads it.
   */
  protected async refreshFile(node: FsNode, rec?: JournalRecord, read?: (off: number, len: number) => Promise<Buffer>): Promise<void> {
    const path = node.path;
    let m: ManifestNode | undefined;
    try {
      const res = await this.client.getManifest(this.sessionId, { pathPrefix: path, includeCasExtents: true, pageSize: 1 });
      m = res.nodes?.find((n) => n.path === path);
    } catch (e) {
      throw fromGatewayError(e);
    }
    if (!m) return;
    if (read && rec && m.casExtents) {
      for (const x of m.casExtents) {
        const hash = x.hash ?? '';
        const off = toNum(x.offset);
        const len = toNum(x.length);
        if (!hash || toNum(x.casOffset) !== 0 || len === 0 || len > 8 * 1024 * 1024) continue;
        if (await this.cas.has(hash)) continue;
        const bytes = await read(off, len).catch(() => undefined);
        if (bytes && sha256(bytes) === hash) await this.cas.put(bytes, hash).catch(() => undefined);
      }
    }
    const wasDirty = node.dirty;
    node.dirty = undefined; // let applyMeta update size/mode from the gateway's view
    this.applyMeta(node, m);
    node.dirty = wasDirty;
    if (m.casExtents) node.extents = m.casExtents.map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) }));
  }

  /** Keep the local side of a conflict as `<path>.conflict-<time>` on the gateway. */
  protected async saveConflict(rec: JournalRecord, read: (off: number, len: number) => Promise<Buffer>, reason: string): Promise<void> {
    // Unique per conflict: UTC time to the millisecond plus 48 random bits (two conflicts in one
    // second used to share a name, and the second copy replaced the first).
    const stamp = new Date(this.clock.now()).toISOString().replace(/[-:]/g, '').replace('.', '');
    const conflictPath = `${rec.path}.conflict-${stamp}-${randomBytes(6).toString('hex')}`;
    const content = await read(0, rec.size);
    await this.client.batch(this.sessionId, { operations: [{ write: { path: conflictPath, content, expectedHash: '', mode: rec.mode } }] });
    this.stats.conflicts.push({ path: rec.path, conflictPath, at: this.clock.now(), reason });
    this.log.warn('conflict: kept local version as a copy', { path: rec.path, conflictPath });
  }

  /** Upload a record left by a crashed mount, reading its bytes from its staging file. */
  protected async replayRecord(rec: JournalRecord, stagingPath: string): Promise<void> {
    let fd: fsp.FileHandle | undefined;
    try {
      fd = await fsp.open(stagingPath, 'r').catch(() => undefined);
      const ranges = RangeSet.from(rec.ranges);
      let baseExtents: Extent[] | undefined;
      const read = async (off: number, len: number): Promise<Buffer> => {
        const out = Buffer.alloc(len);
        for (const p of ranges.split(off, off + len)) {
          if (p.inside) {
            if (fd) await fd.read(out, p.start - off, p.end - p.start, p.start);
          } else if (p.start < rec.baseLimit && !rec.isNew) {
            if (!baseExtents) {
              const r = await this.client.getCasExtents(this.sessionId, { path: rec.path });
              baseExtents = (r.extents ?? []).map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) }));
            }
            const tmp = new FsNode(undefined, '', 0, 'file', S_IFREG, 0);
            tmp.extents = baseExtents;
            await this.readBase(tmp, p.start, Math.min(p.end, rec.baseLimit), out, p.start - off);
          }
        }
        return out;
      };
      try {
        await this.sendUpload(rec, read);
      } catch (e) {
        if (isGatewayError(e) && (e.rpcCode === RpcCode.ABORTED || e.rpcCode === RpcCode.FAILED_PRECONDITION || e.rpcCode === RpcCode.NOT_FOUND)) {
          await this.saveConflict(rec, read, `recovered after a crash: ${e.message}`);
        } else throw fromGatewayError(e);
      }
      this.log.info('recovered a pending write from a previous mount', { path: rec.path, bytes: rec.size });
    } finally {
      await fd?.close();
    }
  }

  /** Upload everything pending (aether sync / unmount). Throws the first failure. */
  async syncAll(): Promise<void> {
    if (this.ov) {
      if (this.shipper) await this.shipper.flush(this.barrierTimeoutMs);
      return;
    }
    let firstErr: unknown;
    for (const n of [...this.dirtyNodes]) {
      if (!n.attached || n.hidden) continue;
      try {
        await this.uploadNow(n);
      } catch (e) {
        firstErr ??= e;
      }
    }
    if (this.batchQueue.length) await this.drainBatch();
    if (firstErr) throw firstErr;
  }

  /** Number of files with bytes not yet on the gateway. */
  get pendingCount(): number {
    if (this.ov) return this.overlay?.opCount() ?? 0;
    return this.dirtyNodes.size;
  }
}
