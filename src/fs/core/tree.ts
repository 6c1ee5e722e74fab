// FsTree: the base layer of SessionFilesystem — the state every layer shares (inode table, open
// handles, stats, mount options) and the tree itself: lazy directory listings (one manifest page
// per directory, remembered until invalidated), path resolution, attributes, name removal and the
// per-node content lock.
// Invariants: a listing that started before an invalidation never clears that invalidation's marks
// (invalidation generations); all content mutation of one node is serialized by `withNodeLock`.
// Members implemented by a higher layer are declared abstract here.
// Callers: the layers above (src/fs/core/reads.ts → … → src/fs/session-fs.ts), nothing else.
import type { GatewayClient } from '../../client/gateway-client.js';
import type { CasStore } from '../../cas/cas-store.js';
import type { ManifestNode } from '../../protocol/types.js';
import type { Clock } from '../../shared/clock.js';
import { systemClock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { nullLogger } from '../../shared/log.js';
import { fromGatewayError, fsError } from '../fs-error.js';
import { MAX_SESSION_PATH_BYTES } from '../../shared/path-limits.js';
import { StagingArea, type JournalRecord } from '../staging.js';
import { type OverlayStore } from '../overlay/overlay-store.js';
import { Shipper, type PutPlan } from '../shipper/shipper.js';
import { S_IFDIR, type Attr, type Kind, FsNode, ROOT_INO, type OpenFile, type FsStats, type SessionFsOptions, type MountMode, POSIX_NAME_MAX, typeOfManifest, modeFor, toNum, type PendingBatchOp } from '../fs-node.js';

export abstract class FsTree {
  readonly sessionId: string;

  protected readonly client: GatewayClient;

  protected readonly cas: CasStore;

  protected readonly clock: Clock;

  protected readonly log: Logger;

  protected readonly readOnly: boolean;

  protected readonly uid: number;

  protected readonly gid: number;

  protected readonly smallFileBytes: number;

  protected readonly maxRequestBytes: number;

  protected readonly staging: StagingArea;

  protected readonly sessionStateDir: string;

  protected root: FsNode;

  protected nextIno = ROOT_INO + 1;

  protected nextFh = 1;

  protected readonly handles = new Map<number, OpenFile>();

  protected readonly listingInFlight = new Map<FsNode, Promise<void>>();

  /** [posix hook] Bumped by every invalidate(): see FsNode.invalGen. */
  protected invalGen = 0;
  protected kernelInvalidator: ((paths: string[]) => Promise<unknown>) | undefined;
  /** Bumped by every local change of a directory's names: see FsNode.localGen. */
  protected localGen = 0;

  protected readonly blobInFlight = new Map<string, Promise<Buffer>>();

  protected readonly dirtyNodes = new Set<FsNode>();

  protected batchQueue: PendingBatchOp[] = [];

  protected batchInFlight = false;

  protected inFlightUploads = 0;

  readonly mode: MountMode;

  protected overlay: OverlayStore | undefined;

  protected shipper: Shipper | undefined;

  /** Overlay mode: live dirty files by staging id (the shipper reads their bytes through these). */
  protected readonly filesById = new Map<string, FsNode>();

  protected shipDelayMs: number | undefined;

  protected readonly maxQueuedOps: number;

  protected readonly barrierTimeoutMs: number;

  protected readonly mountKey: string;

  /** The disk holding the overlay is full: the last local write failed with ENOSPC. */
  stateDiskFull = false;

  protected readonly planInfo = new WeakMap<PutPlan, { node: FsNode; gen: number }>();

  readonly stats: FsStats = {
    pendingUploads: 0,
    uploadsInFlight: 0,
    conflicts: [],
    cacheHits: 0,
    cacheMisses: 0,
    bytesFetched: 0,
    bytesUploaded: 0,
    blobsFetched: 0,
    listings: 0,
    extentLookups: 0,
    uploads: 0,
    batches: 0,
    remoteInvalidations: 0,
  };

  constructor(opts: SessionFsOptions) {
    this.client = opts.client;
    this.cas = opts.cas;
    this.sessionId = opts.sessionId;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? nullLogger;
    this.readOnly = !!opts.readOnly;
    this.uid = opts.uid ?? (process.getuid?.() ?? 0);
    this.gid = opts.gid ?? (process.getgid?.() ?? 0);
    this.smallFileBytes = opts.smallFileBytes ?? 4 * 1024 * 1024;
    this.maxRequestBytes = opts.maxRequestBytes ?? 4 * 1024 * 1024;
    this.sessionStateDir = opts.sessionStateDir;
    this.staging = new StagingArea(opts.sessionStateDir, opts.mountKey);
    this.mode = opts.mode ?? 'write-through';
    this.overlay = opts.overlayStore;
    this.shipDelayMs = opts.shipDelayMs;
    this.maxQueuedOps = opts.maxQueuedOps ?? 50_000;
    this.barrierTimeoutMs = opts.barrierTimeoutMs ?? 60_000;
    this.mountKey = opts.mountKey;
    this.root = new FsNode(undefined, '', ROOT_INO, 'dir', S_IFDIR | 0o755, this.clock.now());
    this.root.remote = true;
  }


  protected newNode(parent: FsNode, name: string, kind: Kind, mode: number): FsNode {
    const node = new FsNode(parent, name, this.nextIno++, kind, mode, this.clock.now());
    // Newer than any listing in flight: such a listing must not drop it for not knowing it.
    node.invalGen = ++this.invalGen;
    return node;
  }

  protected checkName(name: string): void {
    if (Buffer.byteLength(name) > POSIX_NAME_MAX) throw fsError('ENAMETOOLONG');
  }

  /** Load (or reload, when stale) the children of a directory: one manifest listing. */
  protected async ensureListed(dir: FsNode): Promise<void> {
    if (dir.kind !== 'dir') throw fsError('ENOTDIR');
    if (dir.listed && !dir.stale) return;
    // Overlay: while local changes are queued the gateway's listing lags ours; keep ours.
    if (dir.listed && this.overlay && this.ov && this.overlay.opCount() > 0) return;
    // [posix hook] A listing already in flight may predate a newer invalidation of this directory
    // (it then comes back with dir.stale set again): list once more rather than answer from it.
    for (let attempt = 0; attempt < 3 && (!dir.listed || dir.stale); attempt++) {
      if (!dir.remote) {
        dir.listed = true;
        dir.stale = false;
        return;
      }
      const inflight = this.listingInFlight.get(dir);
      if (inflight) {
        await inflight;
        continue;
      }
      const p = this.loadListing(dir).finally(() => this.listingInFlight.delete(dir));
      this.listingInFlight.set(dir, p);
      await p;
    }
  }

  protected async loadListing(dir: FsNode): Promise<void> {
    const dirPath = dir.path;
    const gen = this.invalGen; // [posix hook] nodes invalidated after this point keep their marks
    const lg = this.localGen; // names added/removed locally after this point are newer than the listing
    dir.stale = false;
    const seen = new Map<string, ManifestNode>();
    this.stats.listings++;
    try {
      for await (const n of this.client.iterateManifest(this.sessionId, { pathPrefix: dirPath, maxDepth: 1, pageSize: 5000, includeCasExtents: true })) {
        if (n.path === dirPath) {
          this.applyMeta(dir, n);
          continue;
        }
        seen.set(n.path.slice(n.path.lastIndexOf('/') + 1), n);
      }
    } catch (e) {
      dir.stale = true;
      throw fromGatewayError(e);
    }
    const children = dir.children!;
    // A local create/unlink/rename in this directory landed while the listing was in flight (its
    // gateway side may not be in the answer yet, overlay mode: not shipped): keep our names and
    // take only the metadata of untouched children. (Not marked stale for another listing: during
    // a burst of creates — a git clone — every listing would be overtaken and re-listed.)
    const namesFresh = dir.localGen <= lg;
    for (const [name, m] of seen) {
      const kind = typeOfManifest(m);
      let child = children.get(name);
      if (child && child.kind !== kind && !child.dirty) {
        this.detach(child);
        child = undefined;
      }
      if (!child) {
        if (!namesFresh) continue;
        child = this.newNode(dir, name, kind, modeFor(kind, m.mode));
        children.set(name, child);
      } else if (child.invalGen > gen) continue; // [posix hook] changed since this listing began
      else if (this.ov && (child.queued || child.pendingPut !== undefined)) continue; // unshipped local change wins
      this.applyMeta(child, m);
    }
    for (const [name, child] of [...children]) {
      // Gone remotely: drop, unless it is a local creation not uploaded yet.
      if (namesFresh && !seen.has(name) && child.remote && !child.dirty && !child.hidden && child.invalGen <= gen) {
        children.delete(name);
      }
    }
    dir.listed = true;
  }

  /** Refresh a node's remote metadata from a manifest node. Local dirty state is kept. */
  protected applyMeta(node: FsNode, m: ManifestNode): void {
    const hash = m.contentHash ?? '';
    const size = toNum(m.sizeBytes);
    if (m.nlink) node.nlink = m.nlink;
    if (node.dirty && node.remote) {
      // Local edits are based on the hash we started from: keep it (and its extents), so the
      // upload's expectedHash still detects that someone else changed the file meanwhile.
      return;
    }
    node.remote = true;
    node.metaStale = false;
    if (node.kind === 'file' && node.remoteHash !== hash) {
      node.extents = undefined;
      if (node.openCount === 0) node.pinned = [];
    }
    if (m.casExtents && node.kind === 'file' && hash) {
      node.extents = m.casExtents.map((x) => ({ offset: toNum(x.offset), length: toNum(x.length), hash: x.hash ?? '', casOffset: toNum(x.casOffset) }));
    }
    node.remoteHash = hash;
    node.remoteSize = size;
    if (!node.dirty) {
      node.size = size;
      node.mode = modeFor(node.kind, m.mode);
    }
    if (m.modifiedAt && !node.dirty) {
      const t = Date.parse(m.modifiedAt);
      if (!Number.isNaN(t)) {
        node.mtime = t;
        node.ctime = t;
      }
    }
    if (node.kind === 'symlink') node.target = m.symlinkTarget ?? node.target;
    // Gateways with the extension fields report xattrNames whenever there are any; without them
    // we do not know and ask on demand.
    node.xattrNames = m.xattrNames ?? (m.nlink !== undefined ? [] : undefined);
  }

  /** Resolve an absolute path to a node (ENOENT / ENOTDIR like the kernel would). */
  async resolve(path: string): Promise<FsNode> {
    if (path === '/' || path === '') {
      if (!this.root.listed || this.root.stale) await this.ensureListed(this.root);
      return this.root;
    }
    let node = this.root;
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '') continue;
      if (node.kind !== 'dir') throw fsError('ENOTDIR');
      if (part.length > POSIX_NAME_MAX / 4 && Buffer.byteLength(part) > POSIX_NAME_MAX) throw fsError('ENAMETOOLONG');
      await this.ensureListed(node);
      const next = node.children!.get(part);
      if (!next) throw fsError('ENOENT', `${path} does not exist`);
      node = next;
    }
    return node;
  }

  protected async resolveParent(path: string): Promise<{ parent: FsNode; name: string }> {
    const i = path.lastIndexOf('/');
    const name = path.slice(i + 1);
    if (!name) throw fsError('EINVAL');
    this.checkName(name);
    // [posix hook] no name the gateway would refuse at upload (see shared/path-limits.ts).
    if (path.length > MAX_SESSION_PATH_BYTES / 4 && Buffer.byteLength(path) > MAX_SESSION_PATH_BYTES) throw fsError('ENAMETOOLONG');
    const parent = await this.resolve(i <= 0 ? '/' : path.slice(0, i));
    if (parent.kind !== 'dir') throw fsError('ENOTDIR');
    await this.ensureListed(parent);
    return { parent, name };
  }

  /** A local change added or removed a name in `dir` (see FsNode.localGen). */
  protected touchDir(dir: FsNode): void {
    dir.localGen = ++this.localGen;
  }

  protected detach(node: FsNode): void {
    if (node.parent && node.parent.children?.get(node.name) === node) {
      node.parent.children.delete(node.name);
      this.touchDir(node.parent);
    }
    if (node.aliases.length) {
      const next = node.aliases.shift()!;
      node.parent = next.parent;
      node.name = next.name;
    }
  }

  protected attr(node: FsNode): Attr {
    if (node.hiddenOf) return this.attr(node.hiddenOf);
    const size = node.kind === 'symlink' ? Buffer.byteLength(node.target ?? '') : node.kind === 'dir' ? 4096 : node.size;
    let nlink = node.nlink;
    if (node.kind === 'dir') {
      if (node.listed) {
        nlink = 2;
        for (const c of node.children!.values()) if (c.kind === 'dir') nlink++;
      } else nlink = Math.max(2, node.nlink); // the gateway's count until we list it ourselves
    } else if (node.hidden) nlink = 0;
    return {
      ino: node.ino,
      mode: node.mode,
      size,
      nlink,
      uid: this.uid,
      gid: this.gid,
      atime: node.atime,
      mtime: node.mtime,
      ctime: node.ctime,
      blocks: Math.ceil(size / 512),
      blksize: 4096,
    };
  }

  protected assertWritable(): void {
    if (this.readOnly) throw fsError('EROFS');
  }

  /**
   * [posix hook] Re-read a remotely changed file's metadata (size, hash, extents in one call)
   * before anything answers from it: a size the kernel caches after its invalidation must be the
   * new one, or reads return the new bytes cut to the old size. Repeats (bounded) when another
   * invalidation lands during the refresh.
   */
  protected async freshen(node: FsNode): Promise<void> {
    const stale = () => node.kind === 'file' && node.metaStale && !node.dirty && node.remote && node.attached;
    if (!stale()) return;
    // Under the node lock: a write + upload that lands while the manifest request is out would
    // otherwise be overwritten by the older answer (size and extents going back in time).
    await this.withNodeLock(node, async () => {
      for (let i = 0; i < 3 && stale(); i++) {
        node.metaStale = false;
        const gen = this.invalGen;
        await this.refreshFile(node);
        if (node.invalGen > gen) {
          node.metaStale = true;
          node.extents = undefined;
        }
      }
    });
  }

  /** Remove one name of a node; the node lives on while open (open-after-unlink). */
  protected removeName(node: FsNode, parent: FsNode, name: string): void {
    if (node.parent === parent && node.name === name) {
      parent.children!.delete(name);
      this.touchDir(parent);
      if (node.aliases.length) {
        const next = node.aliases.shift()!;
        node.parent = next.parent;
        node.name = next.name;
      }
    } else {
      node.aliases = node.aliases.filter((a) => !(a.parent === parent && a.name === name));
      parent.children!.delete(name);
      this.touchDir(parent);
    }
    node.nlink = Math.max(0, node.nlink - 1);
    parent.mtime = parent.ctime = this.clock.now();
    if (node.nlink > 0) node.ctime = parent.ctime; // [posix hook] POSIX: a file keeping other links gets a new ctime
    if (node.nlink === 0 || !node.attached) {
      // Unlinked: its bytes will never be uploaded.
      if (node.dirty && node.openCount === 0) void this.discardDirty(node);
    }
  }


  protected handle(fh: number): OpenFile {
    const h = this.handles.get(fh);
    if (!h) throw fsError('EBADF');
    return h;
  }

  protected register(node: FsNode, flags: number): number {
    const fh = this.nextFh++;
    const h: OpenFile = { fh, node, flags, lastReadEnd: -1, baseHash: undefined, baseSize: 0, baseExtents: undefined };
    this.seeVersion(h);
    this.handles.set(fh, h);
    node.openCount++;
    return fh;
  }

  /** Open handles of `node` now see the gateway's current version (after our own upload or a conflict). */
  protected rebaseHandles(node: FsNode): void {
    if (node.openCount === 0 || node.dirty) return;
    for (const h of this.handles.values()) if (h.node === node) this.seeVersion(h);
  }

  /**
   * The binding's kernel-cache invalidation (fuse3), fired without waiting (it may be called from
   * inside a request the kernel holds locks for); it resolves when the kernel dropped the caches.
   */
  setKernelInvalidator(fn: (paths: string[]) => Promise<unknown>): void {
    this.kernelInvalidator = fn;
  }

  /** The invalidation generation now (pass it to kernelInvalidated with the paths it covered). */
  currentInvalGen(): number {
    return this.invalGen;
  }

  /** The kernel dropped its caches of these paths (an invalidation requested at generation `gen`). */
  kernelInvalidated(paths: string[], gen: number): void {
    const clear = (n: FsNode) => {
      if (n.kernelGen <= gen) n.kernelHash = undefined;
    };
    for (const p of paths) {
      const n = this.peek(p);
      if (n && n.kind === 'file') clear(n);
    }
  }

  /** Remember that the kernel may still show `hash` for `node` (until an invalidation completes). */
  protected kernelMayShow(node: FsNode, hash: string): void {
    if (!this.kernelInvalidator || node.kind !== 'file') return;
    if (node.kernelHash === undefined) node.kernelHash = hash;
    node.kernelGen = this.invalGen;
  }

  /** A handle now sees what the node shows: its pending edit, or its current remote version. */
  protected seeVersion(h: OpenFile): void {
    const node = h.node;
    if (node.dirty) {
      h.baseHash = node.dirty.baseHash;
      return;
    }
    if (node.remote && node.kernelHash !== undefined && node.kernelHash !== node.remoteHash) {
      // The process may be shown the older version from the kernel's caches: an edit is of that.
      h.baseHash = node.kernelHash;
      h.baseSize = 0;
      h.baseExtents = undefined;
      return;
    }
    h.baseHash = node.remote ? node.remoteHash : undefined;
    h.baseSize = node.remote ? node.remoteSize : 0;
    h.baseExtents = node.remote ? node.extents : undefined;
  }


  protected async withNodeLock<T>(node: FsNode, fn: () => Promise<T>): Promise<T> {
    const prev = node.lock;
    let release!: () => void;
    node.lock = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ---- implemented by higher layers ----
  protected abstract get ov(): boolean;
  abstract peek(path: string): FsNode | undefined;
  protected abstract refreshFile(node: FsNode, rec?: JournalRecord, read?: (off: number, len: number) => Promise<Buffer>): Promise<void>;
  protected abstract discardDirty(node: FsNode): Promise<void>;
  protected abstract dropPendingPuts(node: FsNode): void;
}
