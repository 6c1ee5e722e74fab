// FsOverlayGlue: the filesystem side of the local-first (overlay) mount. Namespace and content
// changes are recorded in the durable overlay store (src/fs/overlay/overlay-store.ts) and coalesced
// there (a file created and removed before shipping never ships, later puts replace earlier ones);
// this layer is also the Shipper's ShipSource: it turns a queued put into a whole-file batch write
// or a patchSegments upload from the staging file, learns what the gateway holds after a ship, and
// keeps conflict copies (unique names, created no-replace).
// Invariants: an op being shipped (shipper.inFlight) is never coalesced away; a put shipped at an
// older generation leaves its file dirty. Callers: src/fs/session-fs.ts (the POSIX ops), the Shipper.
import * as fsp from 'node:fs/promises';
import { sha256 } from '../../shared/digest.js';
import { randomBytes } from 'node:crypto';
import { Errno, FsError, fsError } from '../fs-error.js';
import { RangeSet } from '../range-set.js';
import { type JournalRecord } from '../staging.js';
import { type FileRecord, type OverlayStore, type QueuedOp } from '../overlay/overlay-store.js';
import { Shipper, type PutPlan, type ShipSource } from '../shipper/shipper.js';
import { S_IFREG, S_IFDIR, S_IFLNK, type Attr, type Extent, FsNode, hasVisibleChildren, SINGLE_CHUNK_BYTES, toNum } from '../fs-node.js';
import { FsWriteThrough } from '../core/write-through.js';

export abstract class FsOverlayGlue extends FsWriteThrough {
  /** Queued mkdir/symlink ops by seq → the node each creates (marked remote once it ships). */
  protected readonly createdBy = new Map<number, FsNode>();

  protected get ov(): boolean {
    return this.mode === 'overlay';
  }

  protected store(): OverlayStore {
    if (!this.overlay) throw fsError('EIO', 'the overlay is not open');
    return this.overlay;
  }

  /** Backpressure: writers wait while the queue is over its bound (the shipper drains it). */
  protected async room(): Promise<void> {
    if (!this.overlay || this.overlay.opCount() < this.maxQueuedOps) return;
    const until = Date.now() + 10 * 60_000;
    while (this.overlay.opCount() >= this.maxQueuedOps && Date.now() < until) {
      this.shipper?.notify();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  protected enqueue(op: Omit<QueuedOp, 'seq' | 'attempts' | 'enqueuedAt'>): number {
    const seq = this.noteDisk(() => this.store().appendOp({ ...op, enqueuedAt: Date.now() }));
    this.shipper?.notify();
    return seq;
  }

  /** Run a local-state write, tracking "state disk full" for status (ENOSPC goes to the caller). */
  protected noteDisk<T>(fn: () => T): T {
    try {
      const r = fn();
      this.stateDiskFull = false;
      return r;
    } catch (e) {
      if (e instanceof FsError && e.errno === Errno.ENOSPC) {
        if (!this.stateDiskFull) this.log.warn('the disk holding the mount state is full: writes fail with ENOSPC until space is freed');
        this.stateDiskFull = true;
      }
      throw e;
    }
  }

  protected inFlight(seq: number | undefined): boolean {
    return seq !== undefined && !!this.shipper?.inFlight.has(seq);
  }

  /** Will the gateway have this node at its name once the queue is shipped? */
  protected onGateway(node: FsNode): boolean {
    return node.remote || node.queued;
  }

  /** The file record for a dirty node (what recovery needs to ship it after a crash). */
  protected fileRecord(node: FsNode): FileRecord {
    const d = node.dirty!;
    const whole = !node.remote || d.baseLimit === 0;
    return { id: d.stagingId, path: node.path, baseHash: node.remote ? (d.baseHash ?? node.remoteHash) : '', baseLimit: whole ? 0 : d.baseLimit, size: node.size, mode: node.mode, ranges: whole ? null : d.ranges.ranges.map((r) => ({ ...r })), isNew: !node.remote };
  }

  /**
   * A file's content or mode changed: make the change durable (its record) and make sure a put
   * is queued after every op so far that names it. A put not yet sent reads the latest bytes when
   * it ships, so a burst of writes costs one put.
   */
  protected notePut(node: FsNode, recordChanged: boolean): void {
    const d = node.dirty!;
    node.gen++;
    const rec = this.fileRecord(node);
    const store = this.store();
    const needPut = node.pendingPut === undefined || this.inFlight(node.pendingPut);
    if (!needPut && !recordChanged) return;
    this.noteDisk(() => store.tx(() => {
      if (recordChanged || needPut) store.putFile(rec);
      if (needPut) node.pendingPut = this.enqueue({ kind: 'put', path: node.path, fileId: d.stagingId });
    }));
    this.filesById.set(d.stagingId, node);
  }

  /** Drop a node's queued puts that were not sent yet (it is being removed). */
  protected dropPendingPuts(node: FsNode): void {
    const seqs: number[] = [];
    if (node.pendingPut !== undefined && !this.inFlight(node.pendingPut)) seqs.push(node.pendingPut);
    if (node.createSeq !== undefined && !this.inFlight(node.createSeq) && node.createSeq !== node.pendingPut) seqs.push(node.createSeq);
    if (seqs.length) this.store().removeOps(seqs);
    if (node.pendingPut !== undefined && seqs.includes(node.pendingPut)) node.pendingPut = undefined;
    if (node.createSeq !== undefined && seqs.includes(node.createSeq)) node.createSeq = undefined;
  }

  /**
   * One name of `node` goes away (unlink, rmdir, hide, replaced by a rename). A file whose create
   * was never sent disappears from the queue without a trace; anything else the gateway has (or
   * will have) gets a remove op.
   */
  protected queueRemoval(node: FsNode, path: string, lastName: boolean): void {
    const neverSent = node.createSeq !== undefined && !this.inFlight(node.createSeq) && node.remote === false;
    if (lastName) this.dropPendingPuts(node);
    if (neverSent && lastName) {
      node.queued = false;
      if (node.dirty) this.store().removeFile(node.dirty.stagingId);
      return;
    }
    if (node.kind === 'dir') {
      if (this.onGateway(node)) this.enqueue({ kind: 'rmdir', path });
    } else if (this.onGateway(node) || node.pendingPut !== undefined) this.enqueue({ kind: 'unlink', path });
    node.createSeq = undefined;
  }

  protected otherNames(node: FsNode, parent: FsNode, name: string): number {
    const isPrimary = node.parent === parent && node.name === name;
    return (isPrimary ? 0 : 1) + node.aliases.filter((a) => !(a.parent === parent && a.name === name)).length;
  }

  protected async ovMkdir(path: string, mode: number): Promise<Attr> {
    const { parent, name } = await this.resolveParent(path);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.room();
    const perm = ((mode & 0o7777) | (parent.mode & 0o2000)) || 0o755;
    const seq = this.enqueue({ kind: 'mkdir', path, mode: perm });
    const node = this.newNode(parent, name, 'dir', S_IFDIR | perm);
    this.createdBy.set(seq, node);
    node.queued = true;
    node.listed = true;
    parent.children!.set(name, node);
    this.touchDir(parent);
    parent.mtime = parent.ctime = this.clock.now();
    return this.attr(node);
  }

  protected async ovRmdir(path: string): Promise<void> {
    const node = await this.resolve(path);
    if (node === this.root) throw fsError('EBUSY');
    if (node.kind !== 'dir') throw fsError('ENOTDIR');
    await this.ensureListed(node);
    if (hasVisibleChildren(node)) throw fsError('ENOTEMPTY');
    await this.room();
    this.queueRemoval(node, path, true);
    this.detach(node);
    if (node.parent) node.parent.mtime = node.parent.ctime = this.clock.now();
  }

  protected async ovUnlink(path: string): Promise<void> {
    const node = await this.resolve(path);
    if (node.kind === 'dir') throw fsError('EISDIR');
    const { parent, name } = await this.resolveParent(path);
    await this.room();
    if (!node.hidden) this.queueRemoval(node, path, this.otherNames(node, parent, name) === 0);
    this.removeName(node, parent, name);
  }

  protected async ovSymlink(target: string, path: string): Promise<Attr> {
    const { parent, name } = await this.resolveParent(path);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.room();
    const seq = this.enqueue({ kind: 'symlink', path, path2: target });
    const node = this.newNode(parent, name, 'symlink', S_IFLNK | 0o777);
    this.createdBy.set(seq, node);
    node.queued = true;
    node.target = target;
    node.remoteHash = sha256(Buffer.from(target));
    parent.children!.set(name, node);
    this.touchDir(parent);
    parent.mtime = parent.ctime = this.clock.now();
    return this.attr(node);
  }

  protected async ovLink(src: string, dst: string): Promise<Attr> {
    const node = await this.resolve(src);
    if (node.kind !== 'file') throw fsError('EPERM');
    const { parent, name } = await this.resolveParent(dst);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.room();
    // The link names the file by path: from here on its create must stay where it is in the queue.
    node.createSeq = undefined;
    this.enqueue({ kind: 'link', path: src, path2: dst });
    parent.children!.set(name, node);
    this.touchDir(parent);
    node.aliases.push({ parent, name });
    node.nlink++;
    node.ctime = this.clock.now();
    return this.attr(node);
  }

  /** rename(2) in overlay mode; validation already done by rename(). */
  protected ovRename(node: FsNode, src: string, dst: string, existing: FsNode | undefined, d: { parent: FsNode; name: string }): void {
    if (existing && existing !== node) {
      // The destination's old file is replaced: its unsent puts are moot.
      this.dropPendingPuts(existing);
      if (existing.createSeq === undefined && existing.dirty && !existing.remote && !existing.queued) this.store().removeFile(existing.dirty.stagingId);
    }
    if (node.kind === 'file' && node.createSeq !== undefined && !this.inFlight(node.createSeq) && !node.remote) {
      // A file the gateway has never seen: its create moves to the end of the queue under the
      // new name (a temp file renamed over its target ships as one write at the final path).
      // A write cannot replace a symlink on the gateway: remove that first.
      if (existing && existing !== node && existing.kind === 'symlink' && this.onGateway(existing)) this.enqueue({ kind: 'unlink', path: dst });
      const seq = this.store().requeueOp(node.createSeq, dst);
      if (node.pendingPut === node.createSeq) node.pendingPut = seq;
      node.createSeq = seq;
      this.shipper?.notify();
      return;
    }
    if (this.onGateway(node) || node.pendingPut !== undefined) {
      this.enqueue({ kind: 'rename', path: src, path2: dst });
      node.createSeq = undefined;
    } else if (existing && this.onGateway(existing)) {
      this.enqueue({ kind: existing.kind === 'dir' ? 'rmdir' : 'unlink', path: dst });
    }
    void d;
  }

  /** The live source: puts read the current bytes of in-memory nodes. */
  protected shipSource(): ShipSource {
    const info = this.planInfo;
    return {
      preparePut: async (op) => {
        const node = this.filesById.get(op.fileId ?? '');
        if (!node) return this.planFromStore(this.store(), op);
        return this.withNodeLock(node, async () => {
          if (!node.dirty || node.dirty.stagingId !== op.fileId) return { kind: 'skip' } as PutPlan;
          const d = node.dirty;
          const rec: JournalRecord = {
            id: d.stagingId, sessionId: this.sessionId, path: op.path, baseHash: node.remote ? (d.baseHash ?? node.remoteHash) : '', baseLimit: d.baseLimit,
            size: node.size, mode: node.mode, ranges: d.ranges.ranges.map((r) => ({ ...r })), isNew: !node.remote, writtenAt: Date.now(),
          };
          const read = (off: number, len: number) => this.readLocal(node, off, len);
          const plan = await this.planFor(rec, read);
          info.set(plan, { node, gen: node.gen });
          return plan;
        });
      },
      putShipped: (op, plan) => this.ovPutShipped(op, plan),
      putConflict: async (op, plan, err) => {
        const i = info.get(plan);
        if (await this.alreadyThere(op.path, plan)) {
          if (i) await this.ovPutShipped(op, plan);
          return;
        }
        await this.keepConflictCopy(op.path, plan, err);
        if (!i) return;
        const node = i.node;
        if (node.createSeq === op.seq) node.createSeq = undefined;
        if (node.pendingPut === op.seq) node.pendingPut = undefined;
        const d = node.dirty;
        if (d && d.stagingId === op.fileId && node.pendingPut === undefined) {
          this.filesById.delete(d.stagingId);
          this.store().removeFile(d.stagingId);
          await this.finishDirty(node, d);
        }
        node.extents = undefined;
        node.metaStale = true;
        if (node.parent) node.parent.stale = true;
      },
      opShipped: (op) => {
        // The node this op created (not whatever has its path now: it may be a newer node that
        // replaced it, whose own ops are still queued).
        const n = this.createdBy.get(op.seq);
        this.createdBy.delete(op.seq);
        if (n && n.queued) {
          n.remote = true;
          n.queued = false;
        }
      },
    };
  }

  protected async ovPutShipped(op: QueuedOp, plan: PutPlan): Promise<void> {
        const i = this.planInfo.get(plan);
        if (!i) return;
        const node = i.node;
        if (node.createSeq === op.seq) node.createSeq = undefined;
        if (node.pendingPut === op.seq) node.pendingPut = undefined;
        this.stats.uploads++;
        await this.withNodeLock(node, async () => {
          node.remote = true;
          node.queued = false;
          if (plan.kind === 'whole') {
            const hash = sha256(plan.content);
            this.stats.bytesUploaded += plan.content.length;
            if (plan.content.length > 0 && plan.content.length <= SINGLE_CHUNK_BYTES) await this.cas.put(plan.content, hash).catch(() => undefined);
            node.remoteHash = hash;
            node.remoteSize = plan.content.length;
            node.extents = plan.content.length === 0 ? [] : plan.content.length <= SINGLE_CHUNK_BYTES ? [{ offset: 0, length: plan.content.length, hash, casOffset: 0 }] : undefined;
            if (plan.content.length > SINGLE_CHUNK_BYTES) {
              await this.learnRemote(node, plan.path);
              for (const x of node.extents ?? []) {
                if (!x.hash || x.casOffset !== 0 || x.offset + x.length > plan.content.length) continue;
                const part = plan.content.subarray(x.offset, x.offset + x.length);
                if (sha256(part) === x.hash) await this.cas.put(Buffer.from(part), x.hash).catch(() => undefined);
              }
            }
          } else if (plan.kind === 'custom') {
            await this.learnRemote(node, plan.path);
            // Seed the local CAS with the blobs we hold the bytes of: rereading never downloads them.
            const read = (plan as { read?: (off: number, len: number) => Promise<Buffer> }).read;
            for (const x of node.extents ?? []) {
              if (!read || !x.hash || x.casOffset !== 0 || x.length === 0 || x.length > 8 * 1024 * 1024) continue;
              if (await this.cas.has(x.hash)) continue;
              const bytes = await read(x.offset, x.length).catch(() => undefined);
              if (bytes && sha256(bytes) === x.hash) await this.cas.put(bytes, x.hash).catch(() => undefined);
            }
          }
          const d = node.dirty;
          if (!d || d.stagingId !== op.fileId) return;
          if (node.gen === i.gen && node.pendingPut === undefined) {
            if (node.extents === undefined && node.attached && plan.kind !== 'skip') await this.learnRemote(node, plan.path).catch(() => undefined);
            this.filesById.delete(d.stagingId);
            this.store().removeFile(d.stagingId);
            await this.finishDirty(node, d);
            this.rebaseHandles(node);
          } else {
            // Written again meanwhile: the next put is based on what we just shipped.
            d.baseHash = node.remoteHash;
            d.baseExtents = undefined;
            this.store().putFile(this.fileRecord(node));
          }
        });
  }

  /** Recovery source: puts read staging files and records of a dead mount's overlay. */
  protected recordSource(store: OverlayStore): ShipSource {
    return {
      preparePut: (op) => this.planFromStore(store, op),
      putShipped: async () => undefined,
      putConflict: async (op, plan, err) => {
        if (await this.alreadyThere(op.path, plan)) return;
        await this.keepConflictCopy(op.path, plan, err);
      },
      opShipped: () => undefined,
    };
  }

  /** A put planned from a file record (bytes in its staging file, base bytes from the gateway). */
  protected async planFromStore(store: OverlayStore, op: QueuedOp): Promise<PutPlan> {
    const fr = store.getFile(op.fileId ?? '');
    if (!fr) return { kind: 'skip' };
    const stagingPath = store.stagingPath(fr.id);
    const st = await fsp.stat(stagingPath).catch(() => undefined);
    const size = fr.ranges === null ? (st?.size ?? 0) : fr.size;
    const rec: JournalRecord = {
      id: fr.id, sessionId: this.sessionId, path: op.path, baseHash: fr.baseHash, baseLimit: fr.baseLimit, size, mode: fr.mode,
      ranges: fr.ranges ?? (size ? [{ start: 0, end: size }] : []), isNew: fr.isNew, writtenAt: Date.now(),
    };
    const ranges = RangeSet.from(rec.ranges);
    let baseExtents: Extent[] | undefined;
    const read = async (off: number, len: number): Promise<Buffer> => {
      const out = Buffer.alloc(len);
      const fd = await fsp.open(stagingPath, 'r').catch(() => undefined);
      try {
        for (const p of ranges.split(off, off + len)) {
          if (p.inside) {
            if (fd) await fd.read(out, p.start - off, p.end - p.start, p.start);
          } else if (p.start < rec.baseLimit && !rec.isNew) {
            if (!baseExtents) {
              const r = await this.client.getCasExtents(this.sessionId, { path: op.path });
              baseExtents = (r.extents ?? []).map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) }));
            }
            const tmp = new FsNode(undefined, '', 0, 'file', S_IFREG, 0);
            tmp.extents = baseExtents;
            await this.readBase(tmp, p.start, Math.min(p.end, rec.baseLimit), out, p.start - off);
          }
        }
      } finally {
        await fd?.close();
      }
      return out;
    };
    return this.planFor(rec, read);
  }

  /** Whole-file write (batchable) for new/small/rewritten files, else patchSegments of the changed ranges. */
  protected async planFor(rec: JournalRecord, read: (off: number, len: number) => Promise<Buffer>): Promise<PutPlan> {
    const wholeFile = rec.isNew || rec.baseLimit === 0 || (rec.ranges.length > 0 && rec.ranges[0]!.start === 0 && rec.ranges[0]!.end >= rec.size);
    if (wholeFile && rec.size <= this.smallFileBytes) {
      return { kind: 'whole', path: rec.path, content: await read(0, rec.size), expectedHash: rec.baseHash, mode: rec.mode };
    }
    const plan: PutPlan = {
      kind: 'custom',
      path: rec.path,
      run: async (requestId) => {
        await this.sendUpload(rec, read, requestId);
      },
    };
    (plan as { read?: typeof read; size?: number; mode?: number }).read = read;
    (plan as { size?: number }).size = rec.size;
    (plan as { mode?: number }).mode = rec.mode;
    return plan;
  }

  /** After an unknown outcome or a conflict: does the gateway hold exactly what we sent? */
  protected async alreadyThere(path: string, plan: PutPlan): Promise<boolean> {
    if (plan.kind !== 'whole') return false;
    const res = await this.client.getManifest(this.sessionId, { pathPrefix: path, pageSize: 1 }).catch(() => undefined);
    const m = res?.nodes?.find((n) => n.path === path);
    return !!m && m.contentHash === sha256(plan.content);
  }

  /** Keep the local side of a conflict under a unique name that did not exist. */
  protected async keepConflictCopy(path: string, plan: PutPlan, err: unknown): Promise<void> {
    let content: Buffer;
    let mode: number;
    if (plan.kind === 'whole') {
      content = plan.content;
      mode = plan.mode;
    } else {
      const p = plan as { read?: (off: number, len: number) => Promise<Buffer>; size?: number; mode?: number };
      content = p.read ? await p.read(0, p.size ?? 0) : Buffer.alloc(0);
      mode = p.mode ?? 0o644;
    }
    const conflictPath = await this.uniqueConflictPath(path);
    await this.client.batch(this.sessionId, { operations: [{ write: { path: conflictPath, content, expectedHash: '', mode } }] });
    const reason = err instanceof Error ? err.message : String(err);
    this.stats.conflicts.push({ path, conflictPath, at: this.clock.now(), reason });
    this.log.warn('conflict: kept local version as a copy', { path, conflictPath });
  }

  /** `<path>.conflict-<UTC time>-<random>`, checked absent on the gateway. */
  protected async uniqueConflictPath(path: string): Promise<string> {
    const stamp = new Date(this.clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z');
    for (let i = 0; i < 8; i++) {
      const p = `${path}.conflict-${stamp}-${randomBytes(3).toString('hex')}`;
      const res = await this.client.getManifest(this.sessionId, { pathPrefix: p, pageSize: 1 }).catch(() => undefined);
      if (!res?.nodes?.some((n) => n.path === p)) return p;
    }
    throw fsError('EIO', 'could not find a free conflict-copy name');
  }

  /** Learn a file's hash and extents from the gateway at `path` after a put. */
  protected async learnRemote(node: FsNode, path: string): Promise<void> {
    const res = await this.client.getManifest(this.sessionId, { pathPrefix: path, includeCasExtents: true, pageSize: 1 }).catch(() => undefined);
    const m = res?.nodes?.find((n) => n.path === path);
    if (!m) return;
    node.remoteHash = m.contentHash ?? '';
    node.remoteSize = toNum(m.sizeBytes);
    node.extents = m.casExtents ? m.casExtents.map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) })) : undefined;
  }

  /** Overlay stats for `aether status`. */
  shipperStats(): Shipper['stats'] | undefined {
    if (!this.shipper) return undefined;
    this.shipper.refreshStats();
    let bytes = 0;
    for (const n of this.filesById.values()) if (n.pendingPut !== undefined) bytes += n.size;
    this.shipper.stats.queuedBytes = bytes;
    return this.shipper.stats;
  }
}
