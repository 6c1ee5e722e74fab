// SessionFilesystem: the FUSE-free core of `aether mount`. It presents one AetherFS session as a
// POSIX tree, path-addressed (both bindings hand us paths), with stable inode numbers.
//
// Reads are lazy: a directory is listed once (one manifest page per directory, `maxDepth=1`) and
// then answered from memory, so negative lookups and bursts of lookups cost nothing; file bytes
// come from extents (`getCasExtents`) through the local CAS cache, fetching a blob from the
// gateway only on a cache miss. Writes land in a sparse staging file and reach the gateway on
// flush/fsync/close: new and small files through `batch` (concurrent closes coalesce into one
// atomic batch), edits of large files through `patchSegments` carrying only the changed ranges,
// every update guarded by `expectedHash`. A conflicting remote change never loses either side: the
// local bytes go to a visible conflict copy. Namespace operations (mkdir, rename, unlink, symlink,
// link, xattrs, chmod) are forwarded to the gateway immediately.
//
// Invariants: a node's `baseLimit <= size`; bytes in `dirty` ranges live in the staging file,
// bytes below `baseLimit` outside them come from the remote extents, the rest are zeros. All
// content mutation of one node is serialized by its `lock`. Callers: src/fuse (the adapter), tests.
//
// The class is layered by concern (each layer in its own file, each extending the one before):
// src/fs/core/tree.ts (state, tree, listings) → core/reads.ts (read path) → core/write-through.ts
// (uploads, conflicts, crash replay) → overlay/overlay-glue.ts (local-first queue, ShipSource) →
// core/remote-follow.ts (invalidation) → this file: the POSIX operations the adapter calls,
// open/write/release and the barriers.
import * as fsp from 'node:fs/promises';
import { isGatewayError } from '../client/gateway-error.js';
import { RpcCode } from '../protocol/rpc-status.js';
import { sha256 } from '../shared/digest.js';
import { fromGatewayError, fsError } from './fs-error.js';
import { fallocate } from './fallocate.js';
import { RangeSet } from './range-set.js';
import { findOrphans } from './staging.js';
import { SqliteOverlayStore } from './overlay/overlay-store.js';
import { recoverOverlays } from './overlay/recovery.js';
import { Shipper } from './shipper/shipper.js';
import * as nodePath from 'node:path';
import { S_IFMT, S_IFDIR, S_IFLNK, HASH_XATTR, type Attr, type DirtyState, type OpenFile, FsNode, O_ACCMODE, O_WRONLY, O_RDWR, O_TRUNC, O_APPEND, POSIX_NAME_MAX, HIDDEN_NAME, hasVisibleChildren, joinPath, modeFor } from './fs-node.js';
import { FsRemoteFollow } from './core/remote-follow.js';

export class SessionFilesystem extends FsRemoteFollow {
  /** Prepare local state, check the session exists, and upload what a crashed mount left behind. */
  async init(): Promise<{ recovered: number }> {
    await this.client.getSession(this.sessionId).catch((e) => {
      throw fromGatewayError(e);
    });
    await this.staging.init();
    let recovered = 0;
    for (const orphan of await findOrphans(this.sessionStateDir, this.staging.mountKey)) {
      for (const rec of orphan.records) {
        await this.replayRecord(rec, orphan.stagingPath(rec.id));
        recovered++;
      }
      await fsp.rm(orphan.dir, { recursive: true, force: true });
    }
    if (this.mode === 'overlay') {
      const root = nodePath.join(this.sessionStateDir, 'overlay');
      const mine = this.overlay?.dir ?? nodePath.join(root, this.mountKey);
      // What a dead mount of this session left in its overlay reaches the gateway before we serve.
      recovered += await recoverOverlays({
        root,
        exclude: mine,
        logger: this.log,
        ship: async (store) => {
          const n = store.opCount();
          if (n === 0) return 0;
          const sh = new Shipper({ client: this.client, sessionId: this.sessionId, store, source: this.recordSource(store), logger: this.log, delayMs: 0, maxBatchBytes: this.maxRequestBytes, retryMaxMs: 1000 });
          sh.start();
          try {
            await sh.flush(this.barrierTimeoutMs);
          } finally {
            await sh.stop();
          }
          return n;
        },
      });
      this.overlay ??= SqliteOverlayStore.open(mine);
      await fsp.writeFile(nodePath.join(mine, 'owner.json'), JSON.stringify({ pid: process.pid, startedAt: Date.now() }));
      this.shipper = new Shipper({ client: this.client, sessionId: this.sessionId, store: this.overlay, source: this.shipSource(), logger: this.log, delayMs: this.shipDelayMs, maxBatchBytes: this.maxRequestBytes });
      this.shipper.start();
    }
    return { recovered };
  }


  async getattr(path: string): Promise<Attr> {
    const node = await this.resolve(path);
    await this.freshen(node); // [posix hook]
    return this.attr(node);
  }

  async fgetattr(fh: number): Promise<Attr> {
    const node = this.handle(fh).node;
    await this.freshen(node); // [posix hook]
    return this.attr(node);
  }

  async readdir(path: string): Promise<Array<{ name: string; attr: Attr }>> {
    const dir = await this.resolve(path);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR');
    await this.ensureListed(dir);
    return [...dir.children!].filter(([, n]) => !n.hidden).map(([name, n]) => ({ name, attr: this.attr(n) }));
  }

  async readlink(path: string): Promise<string> {
    const node = await this.resolve(path);
    if (node.kind !== 'symlink') throw fsError('EINVAL');
    if (node.target === undefined) {
      try {
        node.target = (await this.client.readSymlink(this.sessionId, { path })).target ?? '';
      } catch (e) {
        throw fromGatewayError(e);
      }
    }
    return node.target;
  }

  async access(path: string): Promise<void> {
    await this.resolve(path);
  }

  statfs(): { bsize: number; frsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number; favail: number; namemax: number } {
    const blocks = 1 << 30;
    return { bsize: 4096, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files: 1 << 24, ffree: 1 << 24, favail: 1 << 24, namemax: POSIX_NAME_MAX };
  }

  async mkdir(path: string, mode: number): Promise<Attr> {
    this.assertWritable();
    if (this.ov) return this.ovMkdir(path, mode);
    const { parent, name } = await this.resolveParent(path);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.ensureRemoteParent(parent);
    // As on a local disk, a directory created inside a set-group-ID directory inherits S_ISGID.
    const perm = ((mode & 0o7777) | (parent.mode & 0o2000)) || 0o755;
    try {
      await this.client.createDir(this.sessionId, { path, mode: perm });
    } catch (e) {
      throw fromGatewayError(e);
    }
    const node = this.newNode(parent, name, 'dir', S_IFDIR | perm);
    node.remote = true;
    node.listed = true; // created here: complete and empty, so lookups inside never hit the gateway
    parent.children!.set(name, node);
    this.touchDir(parent);
    parent.mtime = parent.ctime = this.clock.now();
    return this.attr(node);
  }

  async rmdir(path: string): Promise<void> {
    this.assertWritable();
    if (this.ov) return this.ovRmdir(path);
    const node = await this.resolve(path);
    if (node === this.root) throw fsError('EBUSY');
    if (node.kind !== 'dir') throw fsError('ENOTDIR');
    await this.ensureListed(node);
    if (hasVisibleChildren(node)) throw fsError('ENOTEMPTY');
    try {
      await this.client.removeDir(this.sessionId, { path });
    } catch (e) {
      if (isGatewayError(e) && e.rpcCode === RpcCode.FAILED_PRECONDITION) {
        node.stale = true;
        throw fsError('ENOTEMPTY');
      }
      if (!(isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND)) throw fromGatewayError(e);
    }
    const parent = node.parent; // [posix hook] POSIX: rmdir updates the parent's mtime and ctime
    this.detach(node);
    if (parent) parent.mtime = parent.ctime = this.clock.now();
  }

  async unlink(path: string): Promise<void> {
    this.assertWritable();
    if (this.ov) return this.ovUnlink(path);
    const node = await this.resolve(path);
    if (node.kind === 'dir') throw fsError('EISDIR');
    const { parent, name } = await this.resolveParent(path);
    if (node.remote && !node.hidden) {
      try {
        await this.client.deleteFile(this.sessionId, { path });
      } catch (e) {
        if (!(isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND)) throw fromGatewayError(e);
      }
    }
    this.removeName(node, parent, name);
  }

  async symlink(target: string, path: string): Promise<Attr> {
    this.assertWritable();
    if (this.ov) return this.ovSymlink(target, path);
    const { parent, name } = await this.resolveParent(path);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.ensureRemoteParent(parent);
    try {
      await this.client.createSymlink(this.sessionId, { linkPath: path, target });
    } catch (e) {
      throw fromGatewayError(e);
    }
    const node = this.newNode(parent, name, 'symlink', S_IFLNK | 0o777);
    node.remote = true;
    node.target = target;
    node.remoteHash = sha256(Buffer.from(target));
    parent.children!.set(name, node);
    this.touchDir(parent);
    parent.mtime = parent.ctime = node.ctime; // [posix hook] POSIX: the new name changes the parent
    return this.attr(node);
  }

  async link(src: string, dst: string): Promise<Attr> {
    this.assertWritable();
    if (this.ov) return this.ovLink(src, dst);
    const node = await this.resolve(src);
    // Directories cannot be hard-linked; the public API links regular files only.
    if (node.kind !== 'file') throw fsError('EPERM');
    const { parent, name } = await this.resolveParent(dst);
    if (parent.children!.has(name)) throw fsError('EEXIST');
    await this.uploadNow(node);
    try {
      await this.client.link(this.sessionId, { srcPath: node.path, dstPath: dst });
    } catch (e) {
      throw fromGatewayError(e);
    }
    parent.children!.set(name, node);
    this.touchDir(parent);
    node.aliases.push({ parent, name });
    node.nlink++;
    node.ctime = this.clock.now();
    parent.mtime = parent.ctime = node.ctime; // [posix hook] POSIX: the new name changes the parent
    return this.attr(node);
  }

  async rename(src: string, dst: string, flags = 0): Promise<void> {
    this.assertWritable();
    const RENAME_NOREPLACE = 1;
    const RENAME_EXCHANGE = 2;
    if (flags & RENAME_EXCHANGE) throw fsError('EINVAL', 'RENAME_EXCHANGE is not supported');
    const node = await this.resolve(src);
    const s = await this.resolveParent(src);
    const d = await this.resolveParent(dst);
    if (src === dst) return;
    if (HIDDEN_NAME.test(d.name) && s.parent === d.parent && node.kind !== 'dir' && !d.parent.children!.has(d.name)) {
      await this.hide(node, s.parent, s.name, d.name);
      return;
    }
    if (node.kind === 'dir' && (dst + '/').startsWith(src + '/')) throw fsError('EINVAL');
    const existing = d.parent.children!.get(d.name);
    if (existing) {
      if (flags & RENAME_NOREPLACE) throw fsError('EEXIST');
      if (existing === node) return;
      if (node.kind === 'dir' && existing.kind !== 'dir') throw fsError('ENOTDIR');
      if (node.kind !== 'dir' && existing.kind === 'dir') throw fsError('EISDIR');
      if (existing.kind === 'dir') {
        await this.ensureListed(existing);
        if (hasVisibleChildren(existing)) throw fsError('ENOTEMPTY');
      }
    }
    if (this.ov) {
      await this.room();
      this.ovRename(node, src, dst, existing, d);
      if (existing) this.removeName(existing, d.parent, d.name);
    } else {
      // The gateway must know the source before it can move it: flush pending bytes first.
      await this.uploadSubtree(node);
      await this.ensureRemoteParent(d.parent);
      if (existing && !existing.remote) {
        // A local-only destination (never uploaded) just disappears.
        this.removeName(existing, d.parent, d.name);
      }
      try {
        await this.client.rename(this.sessionId, { sourcePath: src, destinationPath: dst });
      } catch (e) {
        throw fromGatewayError(e);
      }
      if (existing && existing.remote) this.removeName(existing, d.parent, d.name);
    }
    if (node.parent === s.parent && node.name === s.name) {
      s.parent.children!.delete(s.name);
      this.touchDir(s.parent);
      node.parent = d.parent;
      node.name = d.name;
    } else {
      const alias = node.aliases.find((a) => a.parent === s.parent && a.name === s.name);
      s.parent.children!.delete(s.name);
      this.touchDir(s.parent);
      if (alias) {
        alias.parent = d.parent;
        alias.name = d.name;
      }
    }
    d.parent.children!.set(d.name, node);
    this.touchDir(d.parent);
    node.invalGen = ++this.invalGen; // moved here after any listing in flight began: not to be dropped by it
    const now = this.clock.now();
    s.parent.mtime = s.parent.ctime = now;
    d.parent.mtime = d.parent.ctime = now;
    node.ctime = now;
  }

  /**
   * libfuse's "hide" of a file unlinked while open: to the gateway (and every other client) it is
   * an unlink; locally the node lives on under the hidden name so the open descriptors keep
   * working (read, write, fstat, ftruncate) until the last one closes.
   */
  protected async hide(node: FsNode, parent: FsNode, name: string, hiddenName: string): Promise<void> {
    if (this.ov) {
      await this.room();
      this.queueRemoval(node, joinPath(parent, name), this.otherNames(node, parent, name) === 0);
    } else if (node.remote) {
      // Only this name goes away (another hard-link name may survive).
      try {
        await this.client.deleteFile(this.sessionId, { path: joinPath(parent, name) });
      } catch (e) {
        if (!(isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND)) throw fromGatewayError(e);
      }
    }
    const isPrimary = node.parent === parent && node.name === name;
    const otherNames = (isPrimary ? 0 : 1) + node.aliases.filter((a) => !(a.parent === parent && a.name === name)).length;
    if (otherNames === 0) {
      parent.children!.delete(name);
      this.touchDir(parent);
      node.name = hiddenName;
      node.hidden = true; // never uploaded again; `remote` stays: its base bytes are still read from the gateway's extents
      node.nlink = 0;
      parent.children!.set(hiddenName, node);
      this.touchDir(parent);
    } else {
      // The node lives on under its other name; the hidden name is a stand-in with its attributes.
      this.removeName(node, parent, name);
      const ghost = this.newNode(parent, hiddenName, 'file', node.mode);
      ghost.hidden = true;
      ghost.hiddenOf = node;
      parent.children!.set(hiddenName, ghost);
      this.touchDir(parent);
    }
    parent.mtime = parent.ctime = this.clock.now();
  }

  async chmod(path: string, mode: number): Promise<void> {
    this.assertWritable();
    const node = await this.resolve(path);
    const newMode = (node.mode & S_IFMT) | (mode & 0o7777);
    if (node.kind === 'file') {
      await this.withNodeLock(node, async () => {
        node.mode = newMode;
        if (this.ov) {
          this.markDirty(node).force = true;
          if (node.attached && !node.hidden) this.notePut(node, true);
          return;
        }
        if (node.dirty || !node.remote || node.hidden) {
          this.markDirty(node).force = true;
          return;
        }
        try {
          await this.client.patchSegments(this.sessionId, {
            mutations: [{ path: node.path, segments: [], logicalSize: node.remoteSize, expectedHash: node.remoteHash, mode: newMode }],
            conflictPolicy: 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT',
          });
          await this.refreshFile(node);
        } catch (e) {
          throw fromGatewayError(e);
        }
      });
    } else {
      // Directory and symlink modes are kept in memory only (the public API has no route for them).
      node.mode = newMode;
    }
    node.ctime = this.clock.now();
  }

  async utimens(path: string, atime: number, mtime: number): Promise<void> {
    const node = await this.resolve(path);
    node.atime = atime;
    node.mtime = mtime;
    node.ctime = this.clock.now();
  }


  async getxattr(path: string, name: string): Promise<Buffer> {
    const node = await this.resolve(path);
    if (name === HASH_XATTR) {
      if (node.kind !== 'file') throw fsError('ENODATA');
      if (node.dirty) {
        if (this.ov) await this.syncAll();
        else await this.uploadNow(node);
      }
      return Buffer.from(node.remoteHash || sha256(Buffer.alloc(0)));
    }
    if (!name.startsWith('user.')) throw fsError('ENODATA');
    const local = node.xattrLocal?.get(name);
    if (local === null) throw fsError('ENODATA');
    if (local) return local;
    if (node.xattrNames && !node.xattrNames.includes(name)) throw fsError('ENODATA');
    if (!node.remote) throw fsError('ENODATA');
    try {
      return await this.client.getXattr(this.sessionId, { path: node.path, name });
    } catch (e) {
      if (isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND) throw fsError('ENODATA');
      throw fromGatewayError(e);
    }
  }

  async listxattr(path: string): Promise<string[]> {
    const node = await this.resolve(path);
    let names = node.xattrNames;
    if (!names) {
      if (!node.remote) names = [];
      else {
        try {
          names = await this.client.listXattrs(this.sessionId, { path: node.path });
        } catch (e) {
          throw fromGatewayError(e);
        }
        node.xattrNames = names;
      }
    }
    if (node.xattrLocal) {
      const set = new Set(names);
      for (const [k, v] of node.xattrLocal) {
        if (v === null) set.delete(k);
        else set.add(k);
      }
      names = [...set];
    }
    return node.kind === 'file' ? [...names, HASH_XATTR] : [...names];
  }

  async setxattr(path: string, name: string, value: Buffer): Promise<void> {
    this.assertWritable();
    if (name === HASH_XATTR || name.startsWith('user.aether.')) throw fsError('EPERM');
    if (!name.startsWith('user.')) throw fsError('ENOTSUP');
    const node = await this.resolve(path);
    if (this.ov) {
      await this.room();
      node.createSeq = undefined; // named by path from here on
      this.enqueue({ kind: 'setxattr', path: node.path, name, value: Buffer.from(value) });
      (node.xattrLocal ??= new Map()).set(name, Buffer.from(value));
      node.ctime = this.clock.now();
      return;
    }
    await this.uploadNow(node);
    try {
      await this.client.setXattr(this.sessionId, { path: node.path, name, value });
    } catch (e) {
      throw fromGatewayError(e);
    }
    if (node.xattrNames && !node.xattrNames.includes(name)) node.xattrNames = [...node.xattrNames, name];
    node.ctime = this.clock.now();
  }

  async removexattr(path: string, name: string): Promise<void> {
    this.assertWritable();
    if (name === HASH_XATTR) throw fsError('EPERM');
    if (!name.startsWith('user.')) throw fsError('ENODATA');
    const node = await this.resolve(path);
    if (this.ov) {
      const names = await this.listxattr(path);
      if (!names.includes(name)) throw fsError('ENODATA');
      await this.room();
      this.enqueue({ kind: 'removexattr', path: node.path, name });
      (node.xattrLocal ??= new Map()).set(name, null);
      return;
    }
    if (!node.remote) throw fsError('ENODATA');
    try {
      await this.client.removeXattr(this.sessionId, { path: node.path, name });
    } catch (e) {
      if (isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND) throw fsError('ENODATA');
      throw fromGatewayError(e);
    }
    if (node.xattrNames) node.xattrNames = node.xattrNames.filter((n) => n !== name);
  }

  async open(path: string, flags: number): Promise<number> {
    const node = await this.resolve(path);
    if (node.kind === 'dir') {
      if ((flags & O_ACCMODE) !== 0) throw fsError('EISDIR');
      return this.register(node, flags);
    }
    const writing = (flags & O_ACCMODE) === O_WRONLY || (flags & O_ACCMODE) === O_RDWR || (flags & O_TRUNC) !== 0;
    if (writing) this.assertWritable();
    const fh = this.register(node, flags);
    try {
      await this.freshen(node); // [posix hook]
      if (flags & O_TRUNC) await this.truncateNode(node, 0);
      else if (node.kind === 'file' && node.remote && node.size > 0) await this.ensureExtents(node);
      this.seeVersion(this.handles.get(fh)!); // the version as of open, after any pending refresh
    } catch (e) {
      this.handles.delete(fh);
      node.openCount--;
      throw fromGatewayError(e);
    }
    return fh;
  }

  async create(path: string, mode: number, flags: number): Promise<{ fh: number; attr: Attr }> {
    this.assertWritable();
    const { parent, name } = await this.resolveParent(path);
    const existing = parent.children!.get(name);
    if (existing) {
      if (flags & 0o200 /* O_EXCL */) throw fsError('EEXIST');
      if (existing.kind === 'dir') throw fsError('EISDIR');
      // O_CREAT on an existing file is a plain open (truncating only if O_TRUNC was asked for).
      const fh = await this.open(path, flags);
      return { fh, attr: this.attr(existing) };
    }
    const node = this.newNode(parent, name, 'file', modeFor('file', mode));
    parent.children!.set(name, node);
    this.touchDir(parent);
    parent.mtime = parent.ctime = this.clock.now();
    const d = this.markDirty(node);
    d.force = true;
    if (this.ov) {
      await this.room();
      this.notePut(node, true);
      node.createSeq = node.pendingPut;
      node.queued = true;
    }
    const fh = this.register(node, flags);
    return { fh, attr: this.attr(node) };
  }

  protected markDirty(node: FsNode, h?: OpenFile): DirtyState {
    if (!node.dirty) {
      const older = node.remote && h?.baseHash !== undefined && h.baseHash !== node.remoteHash && h.baseExtents !== undefined;
      if (older) node.size = h!.baseSize; // the local file is the edit of the version the handle saw
      node.dirty = {
        ranges: new RangeSet(),
        baseLimit: older ? h!.baseSize : node.remote ? Math.min(node.remoteSize, node.size) : 0,
        stagingId: this.staging.newId(),
        force: false,
        baseHash: node.remote ? (h?.baseHash ?? node.remoteHash) : undefined,
        ...(older ? { baseExtents: h!.baseExtents } : {}),
        readers: 0,
      };
      this.dirtyNodes.add(node);
      this.stats.pendingUploads = this.dirtyNodes.size;
    }
    return node.dirty;
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const h = this.handle(fh);
    const node = h.node;
    if (node.kind !== 'file') throw fsError('EISDIR');
    await this.freshen(node); // [posix hook]
    const end = Math.min(node.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    // The handle's base version does not move on reads: a reader may already have seen part of
    // the older version (its size, its first pages), and a later read of the newer one must not
    // make an edit of the old bytes look like an edit of the new ones. Such an edit conflicts.
    const out = await this.readLocal(node, offset, end - offset);
    if (!node.dirty && h.baseHash === node.remoteHash) h.baseExtents ??= node.extents;
    const sequential = h.lastReadEnd === offset;
    h.lastReadEnd = end;
    if (sequential && !node.dirty) this.prefetchAfter(node, end);
    node.atime = this.clock.now();
    return out;
  }

  /** `positional`: write at `offset` even on an O_APPEND handle (fallocate's zeroing). */
  async write(fh: number, data: Buffer, offset: number, positional = false): Promise<number> {
    this.assertWritable();
    const h = this.handle(fh);
    const node = h.node;
    if (node.kind !== 'file') throw fsError('EISDIR');
    if (this.ov && !node.dirty) await this.room();
    return this.withNodeLock(node, async () => {
      const pos = h.flags & O_APPEND && !positional ? node.size : offset;
      const d = this.markDirty(node, h);
      const fd = await this.stagingFd(d);
      let done = 0;
      try {
        while (done < data.length) {
          const { bytesWritten } = await fd.write(data, done, data.length - done, pos + done);
          done += bytesWritten;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
          if (!this.stateDiskFull) this.log.warn('the disk holding the mount state is full: writes fail with ENOSPC until space is freed');
          this.stateDiskFull = true;
          // What did land is kept (a short write), as a local disk would.
          if (done > 0) d.ranges.add(pos, pos + done);
          node.size = Math.max(node.size, pos + done);
          throw fsError('ENOSPC', 'the disk holding the mount state is full');
        }
        throw e;
      }
      d.ranges.add(pos, pos + data.length);
      node.size = Math.max(node.size, pos + data.length);
      node.mtime = node.ctime = this.clock.now();
      if (this.ov && node.attached && !node.hidden) this.notePut(node, node.remote && d.baseLimit > 0);
      return data.length;
    });
  }

  // [posix hook] fallocate(2): the mode logic lives in ./fallocate.ts, over three handle primitives.
  async fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    this.assertWritable();
    const h = this.handle(fh);
    await fallocate(
      {
        stat: async () => ({ size: h.node.size, isFile: h.node.kind === 'file' }),
        setSize: (_fh, size) => this.truncateNode(h.node, size, h),
        writeAt: async (f, data, pos) => void (await this.write(f, data, pos, true)),
      },
      fh,
      mode,
      offset,
      length,
    );
  }

  async truncate(path: string, size: number): Promise<void> {
    this.assertWritable();
    const node = await this.resolve(path);
    if (node.kind === 'dir') throw fsError('EISDIR');
    await this.truncateNode(node, size);
    // truncate(2) on a path has no close to follow: make it durable now unless the file is open.
    if (node.openCount === 0 && !this.ov) await this.uploadNow(node);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.assertWritable();
    const h = this.handle(fh);
    await this.truncateNode(h.node, size, h);
  }

  protected async truncateNode(node: FsNode, size: number, h?: OpenFile): Promise<void> {
    if (size < 0) throw fsError('EINVAL');
    await this.withNodeLock(node, async () => {
      if (size === node.size && node.dirty) return;
      const d = this.markDirty(node, h);
      d.force = true;
      if (size < node.size) {
        d.ranges.truncate(size);
        d.baseLimit = Math.min(d.baseLimit, size);
        if (d.fd) await d.fd.truncate(size);
      } else if (this.ov && (!node.remote || d.baseLimit === 0)) {
        // A file with no remote base is its staging file: keep its length the file's size.
        await (await this.stagingFd(d)).truncate(size);
      }
      node.size = size;
      node.mtime = node.ctime = this.clock.now();
      if (this.ov && node.attached && !node.hidden) this.notePut(node, true);
    });
  }

  async flush(fh: number): Promise<void> {
    const node = this.handle(fh).node;
    if (this.ov) return;
    if (node.kind === 'file' && node.dirty) await this.uploadNow(node);
  }

  /**
   * Before a lock is taken or released: the holder's writes must be on the gateway so the next
   * holder (maybe another mount) sees them. Overlay: ship the whole queue; write-through: this file.
   */
  async lockBarrier(fh: number | undefined): Promise<void> {
    if (this.ov) return this.syncAll();
    if (fh !== undefined && fh > 0) await this.flush(fh);
  }

  async fsync(fh: number): Promise<void> {
    this.handle(fh);
    // fsync = on the gateway: ship the queue up to now (this file and everything it depends on).
    if (this.ov) return this.syncAll();
    await this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const node = h.node;
    node.openCount--;
    try {
      if (!this.ov && node.kind === 'file' && node.dirty && node.attached && !node.hidden) await this.uploadNow(node);
    } finally {
      if (node.openCount === 0) {
        if ((!node.attached || node.hidden) && node.dirty) await this.discardDirty(node);
        // Overlay: thousands of closed-but-unshipped files must not hold thousands of fds.
        else if (this.ov && node.dirty?.fd) {
          const d = node.dirty;
          await this.withNodeLock(node, async () => {
            const fd = d.fd;
            d.fd = undefined;
            await fd?.close().catch(() => undefined);
          });
        }
        const pins = node.pinned;
        node.pinned = [];
        for (const p of pins) await this.cas.unpin(p).catch(() => undefined);
      }
    }
  }

  /** Close staging files; pending bytes stay journaled for the next mount. */
  async close(): Promise<void> {
    if (this.ov && this.overlay) {
      await this.shipper?.stop();
      for (const n of this.dirtyNodes) await n.dirty?.fd?.close().catch(() => undefined);
      const left = this.overlay.opCount();
      this.overlay.close();
      // Queued changes stay in the overlay: the next mount of the session ships them.
      if (left === 0) await fsp.rm(this.overlay.dir, { recursive: true, force: true }).catch(() => undefined);
      await this.staging.destroyIfEmpty().catch(() => undefined);
      return;
    }
    if (this.batchQueue.length) await this.drainBatch().catch(() => undefined);
    for (const n of this.dirtyNodes) await n.dirty?.fd?.close().catch(() => undefined);
    if (this.dirtyNodes.size === 0) await this.staging.destroyIfEmpty().catch(() => undefined);
  }
}

export { HASH_XATTR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, mountModeFromEnv } from './fs-node.js';
export type { Attr, Conflict, Extent, FsStats, MountMode, OpenFile, SessionFsOptions } from './fs-node.js';
export { FsError, Errno } from './fs-error.js';
