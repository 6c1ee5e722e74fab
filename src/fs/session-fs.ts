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
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { GatewayClient } from '../client/gateway-client.js';
import { isGatewayError } from '../client/gateway-error.js';
import type { CasStore } from '../cas/cas-store.js';
import type { ManifestNode } from '../protocol/types.js';
import { RpcCode } from '../protocol/rpc-status.js';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { nullLogger } from '../shared/log.js';
import { sha256 } from '../shared/digest.js';
import { Errno, FsError, fromGatewayError, fsError } from './fs-error.js';
import { fallocate } from './fallocate.js'; // [posix hook]
import { MAX_SESSION_PATH_BYTES } from '../shared/path-limits.js'; // [posix hook]
import { RangeSet } from './range-set.js';
import { StagingArea, findOrphans, type JournalRecord } from './staging.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Synthetic read-only xattr exposing a file's content hash. */
export const HASH_XATTR = 'user.aether.sha256';

export interface Attr {
  ino: number;
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  ctime: number;
  blocks: number;
  blksize: number;
}

export interface Extent {
  offset: number;
  length: number;
  hash: string;
  casOffset: number;
}

type Kind = 'file' | 'dir' | 'symlink';

interface DirtyState {
  /** Ranges written locally (bytes in the staging file). */
  ranges: RangeSet;
  /** Remote base bytes at or beyond this offset are gone (truncated). */
  baseLimit: number;
  stagingId: string;
  fd?: fsp.FileHandle;
  /** Must be uploaded even if no bytes changed (new file, truncate, mode change). */
  force: boolean;
  /** The remote version the local edit is based on (expectedHash of the upload); see OpenFile.baseHash. */
  baseHash: string | undefined;
  /**
   * Extents of that version when it is no longer the node's current remote version (a handle
   * that read version X writes after the mount learnt of version Y): reads of unwritten ranges
   * come from X, so the local file — and its conflict copy — is the edit of what was read.
   */
  baseExtents?: Extent[];
  /**
   * Reads in progress through this state (reads take no node lock). An upload that finishes
   * or a discard waits for them before it closes and removes the staging file, so a read that
   * began against the staged bytes always finishes against them (never against a closed fd or a
   * re-created empty file).
   */
  readers: number;
  /** Resolved when `readers` drops to 0 (set only while someone waits). */
  drained?: () => void;
}

class FsNode {
  parent: FsNode | undefined;
  name: string;
  ino: number;
  kind: Kind;
  mode: number;
  size = 0;
  mtime: number;
  ctime: number;
  atime: number;
  nlink = 1;
  /** Exists on the gateway (as far as we know). */
  remote = false;
  remoteHash = '';
  remoteSize = 0;
  extents: Extent[] | undefined;
  target: string | undefined;
  xattrNames: string[] | undefined;
  children: Map<string, FsNode> | undefined;
  listed = false;
  stale = false;
  dirty: DirtyState | undefined;
  openCount = 0;
  pinned: string[] = [];
  lock: Promise<void> = Promise.resolve();
  /** Extra names of this node created by link() in this mount (hard links). */
  aliases: Array<{ parent: FsNode; name: string }> = [];
  /**
   * Unlinked while open and parked by libfuse under a `.fuse_hidden*` name: local only, never
   * uploaded, not listed, nlink 0. It goes away when libfuse unlinks that name on release.
   */
  hidden = false;
  /** For a hidden stand-in of a file that still has another name: that file. */
  hiddenOf: FsNode | undefined;
  /**
   * Another client changed this file: size, hash and extents must be re-read together (one
   * manifest call) before the next read, so bytes and size never come from different versions.
   */
  metaStale = false;
  /**
   * [posix hook] The invalidation generation that last marked this node (0 = never): a listing or
   * refresh that started before it carries older metadata and must not clear `metaStale`/`stale`.
   */
  invalGen = 0;
  /**
   * A version the kernel may still show for this file (its cached attributes and pages) although
   * the core moved on — set when a remote change or a conflict replaced the version here, cleared
   * when the binding reports the kernel invalidation done (`kernelGen` guards against an older
   * invalidation finishing late). Only with a binding that keeps kernel caches (fuse3).
   */
  kernelHash: string | undefined;
  kernelGen = 0;

  constructor(parent: FsNode | undefined, name: string, ino: number, kind: Kind, mode: number, now: number) {
    this.parent = parent;
    this.name = name;
    this.ino = ino;
    this.kind = kind;
    this.mode = mode;
    this.mtime = now;
    this.ctime = now;
    this.atime = now;
    if (kind === 'dir') this.children = new Map();
  }

  get path(): string {
    if (!this.parent) return '/';
    const parts: string[] = [];
    let n: FsNode | undefined = this;
    while (n && n.parent) {
      parts.push(n.name);
      n = n.parent;
    }
    return '/' + parts.reverse().join('/');
  }

  /** Attached to the tree (not unlinked). */
  get attached(): boolean {
    let n: FsNode | undefined = this;
    while (n.parent) {
      if (n.parent.children?.get(n.name) !== n) return false;
      n = n.parent;
    }
    return n.ino === ROOT_INO;
  }
}

const ROOT_INO = 1;

export interface OpenFile {
  fh: number;
  node: FsNode;
  flags: number;
  /** Last read end, for sequential-read prefetch. */
  lastReadEnd: number;
  /**
   * The remote version this handle's view is based on: the content hash at open, moved on only
   * by this mount's own uploads (never by reads: a reader may have seen part of the older
   * version). A write through the handle is an edit of that version; if the gateway has another
   * one by upload time, it is a conflict (never a silent merge over someone else's write).
   */
  baseHash: string | undefined;
  /** Size and extents of that version (when known), so an edit applies to the bytes it saw. */
  baseSize: number;
  baseExtents: Extent[] | undefined;
}

export interface Conflict {
  path: string;
  conflictPath: string;
  at: number;
  reason: string;
}

export interface FsStats {
  pendingUploads: number;
  uploadsInFlight: number;
  conflicts: Conflict[];
  cacheHits: number;
  cacheMisses: number;
  bytesFetched: number;
  bytesUploaded: number;
  blobsFetched: number;
  listings: number;
  extentLookups: number;
  uploads: number;
  batches: number;
  remoteInvalidations: number;
}

export interface SessionFsOptions {
  client: GatewayClient;
  cas: CasStore;
  sessionId: string;
  /** Directory holding this session's local state (staging, journals). */
  sessionStateDir: string;
  /** Unique per mount instance. */
  mountKey: string;
  readOnly?: boolean;
  uid?: number;
  gid?: number;
  clock?: Clock;
  logger?: Logger;
  /** Files up to this size are uploaded whole through batch (default 4 MiB). */
  smallFileBytes?: number;
  /** Max content bytes per upload request (default 16 MiB). */
  maxRequestBytes?: number;
}

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

const POSIX_NAME_MAX = 255;

/** Names libfuse gives files it hides because they were unlinked while open. */
const HIDDEN_NAME = /^\.fuse_hidden[0-9a-fA-F]+$/;

/** A directory is empty for rmdir/rename when only hidden (unlinked-but-open) files remain. */
function hasVisibleChildren(dir: FsNode): boolean {
  for (const c of dir.children!.values()) if (!c.hidden) return true;
  return false;
}

function joinPath(dir: FsNode, name: string): string {
  const p = dir.path;
  return p === '/' ? `/${name}` : `${p}/${name}`;
}

/**
 * Content up to this size is one CAS blob on the gateway (its chunker's minimum chunk), so a
 * whole-file write of it has extents we know without asking. If a gateway chunks differently the
 * only cost is a cache miss after a remount: reads use the local blob, which is always correct.
 */
const SINGLE_CHUNK_BYTES = 256 * 1024;

function typeOfManifest(n: ManifestNode): Kind {
  switch (n.fileType) {
    case 'VFS_FILE_TYPE_DIRECTORY':
      return 'dir';
    case 'VFS_FILE_TYPE_SYMLINK':
      return 'symlink';
    default:
      return 'file';
  }
}

/**
 * Full st_mode for a node. A mode that carries file-type bits is taken as is (so chmod 000 stays
 * 000); a missing or zero mode means "the default" (0755 dirs, 0644 files).
 */
function modeFor(kind: Kind, mode: number | undefined): number {
  const explicit = mode !== undefined && (mode & S_IFMT) !== 0;
  const perm = (mode ?? 0) & 0o7777;
  if (kind === 'dir') return S_IFDIR | (explicit || perm ? perm : 0o755);
  if (kind === 'symlink') return S_IFLNK | 0o777;
  return S_IFREG | (explicit || perm ? perm : 0o644);
}

function toNum(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

interface PendingBatchOp {
  op: { write: { path: string; content: Buffer; expectedHash: string; mode: number } };
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SessionFilesystem {
  readonly sessionId: string;
  private readonly client: GatewayClient;
  private readonly cas: CasStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly readOnly: boolean;
  private readonly uid: number;
  private readonly gid: number;
  private readonly smallFileBytes: number;
  private readonly maxRequestBytes: number;
  private readonly staging: StagingArea;
  private readonly sessionStateDir: string;
  private root: FsNode;
  private nextIno = ROOT_INO + 1;
  private nextFh = 1;
  private readonly handles = new Map<number, OpenFile>();
  private readonly listingInFlight = new Map<FsNode, Promise<void>>();
  /** [posix hook] Bumped by every invalidate(): see FsNode.invalGen. */
  private invalGen = 0;
  private readonly blobInFlight = new Map<string, Promise<Buffer>>();
  private readonly dirtyNodes = new Set<FsNode>();
  private kernelInvalidator: ((paths: string[]) => Promise<unknown>) | undefined;
  private batchQueue: PendingBatchOp[] = [];
  private batchInFlight = false;
  private inFlightUploads = 0;
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
    this.root = new FsNode(undefined, '', ROOT_INO, 'dir', S_IFDIR | 0o755, this.clock.now());
    this.root.remote = true;
  }

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
    return { recovered };
  }

  // ---------------------------------------------------------------------------------------------
  // Tree resolution and listings
  // ---------------------------------------------------------------------------------------------

  private newNode(parent: FsNode, name: string, kind: Kind, mode: number): FsNode {
    const node = new FsNode(parent, name, this.nextIno++, kind, mode, this.clock.now());
    // Newer than any listing in flight: such a listing must not drop it for not knowing it.
    node.invalGen = ++this.invalGen;
    return node;
  }

  private checkName(name: string): void {
    if (Buffer.byteLength(name) > POSIX_NAME_MAX) throw fsError('ENAMETOOLONG');
  }

  /** Load (or reload, when stale) the children of a directory: one manifest listing. */
  private async ensureListed(dir: FsNode): Promise<void> {
    if (dir.kind !== 'dir') throw fsError('ENOTDIR');
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

  private async loadListing(dir: FsNode): Promise<void> {
    const dirPath = dir.path;
    const gen = this.invalGen; // [posix hook] nodes invalidated after this point keep their marks
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
    for (const [name, m] of seen) {
      const kind = typeOfManifest(m);
      let child = children.get(name);
      if (child && child.kind !== kind && !child.dirty) {
        this.detach(child);
        child = undefined;
      }
      if (!child) {
        child = this.newNode(dir, name, kind, modeFor(kind, m.mode));
        children.set(name, child);
      } else if (child.invalGen > gen) continue; // [posix hook] changed since this listing began
      this.applyMeta(child, m);
    }
    for (const [name, child] of [...children]) {
      // Gone remotely: drop, unless it is a local creation not uploaded yet.
      if (!seen.has(name) && child.remote && !child.dirty && !child.hidden && child.invalGen <= gen) {
        children.delete(name);
      }
    }
    dir.listed = true;
  }

  /** Refresh a node's remote metadata from a manifest node. Local dirty state is kept. */
  private applyMeta(node: FsNode, m: ManifestNode): void {
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

  private async resolveParent(path: string): Promise<{ parent: FsNode; name: string }> {
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

  private detach(node: FsNode): void {
    if (node.parent && node.parent.children?.get(node.name) === node) node.parent.children.delete(node.name);
    if (node.aliases.length) {
      const next = node.aliases.shift()!;
      node.parent = next.parent;
      node.name = next.name;
    }
  }

  private attr(node: FsNode): Attr {
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

  private assertWritable(): void {
    if (this.readOnly) throw fsError('EROFS');
  }

  // ---------------------------------------------------------------------------------------------
  // Metadata ops
  // ---------------------------------------------------------------------------------------------

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

  /**
   * [posix hook] Re-read a remotely changed file's metadata (size, hash, extents in one call)
   * before anything answers from it: a size the kernel caches after its invalidation must be the
   * new one, or reads return the new bytes cut to the old size. Repeats (bounded) when another
   * invalidation lands during the refresh.
   */
  private async freshen(node: FsNode): Promise<void> {
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
    parent.mtime = parent.ctime = this.clock.now();
    return this.attr(node);
  }

  async rmdir(path: string): Promise<void> {
    this.assertWritable();
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

  /** Remove one name of a node; the node lives on while open (open-after-unlink). */
  private removeName(node: FsNode, parent: FsNode, name: string): void {
    if (node.parent === parent && node.name === name) {
      parent.children!.delete(name);
      if (node.aliases.length) {
        const next = node.aliases.shift()!;
        node.parent = next.parent;
        node.name = next.name;
      }
    } else {
      node.aliases = node.aliases.filter((a) => !(a.parent === parent && a.name === name));
      parent.children!.delete(name);
    }
    node.nlink = Math.max(0, node.nlink - 1);
    parent.mtime = parent.ctime = this.clock.now();
    if (node.nlink > 0) node.ctime = parent.ctime; // [posix hook] POSIX: a file keeping other links gets a new ctime
    if (node.nlink === 0 || !node.attached) {
      // Unlinked: its bytes will never be uploaded.
      if (node.dirty && node.openCount === 0) void this.discardDirty(node);
    }
  }

  async symlink(target: string, path: string): Promise<Attr> {
    this.assertWritable();
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
    parent.mtime = parent.ctime = node.ctime; // [posix hook] POSIX: the new name changes the parent
    return this.attr(node);
  }

  async link(src: string, dst: string): Promise<Attr> {
    this.assertWritable();
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
    if (node.parent === s.parent && node.name === s.name) {
      s.parent.children!.delete(s.name);
      node.parent = d.parent;
      node.name = d.name;
    } else {
      const alias = node.aliases.find((a) => a.parent === s.parent && a.name === s.name);
      s.parent.children!.delete(s.name);
      if (alias) {
        alias.parent = d.parent;
        alias.name = d.name;
      }
    }
    d.parent.children!.set(d.name, node);
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
  private async hide(node: FsNode, parent: FsNode, name: string, hiddenName: string): Promise<void> {
    if (node.remote) {
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
      node.name = hiddenName;
      node.hidden = true; // never uploaded again; `remote` stays: its base bytes are still read from the gateway's extents
      node.nlink = 0;
      parent.children!.set(hiddenName, node);
    } else {
      // The node lives on under its other name; the hidden name is a stand-in with its attributes.
      this.removeName(node, parent, name);
      const ghost = this.newNode(parent, hiddenName, 'file', node.mode);
      ghost.hidden = true;
      ghost.hiddenOf = node;
      parent.children!.set(hiddenName, ghost);
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

  // ---------------------------------------------------------------------------------------------
  // Xattrs
  // ---------------------------------------------------------------------------------------------

  async getxattr(path: string, name: string): Promise<Buffer> {
    const node = await this.resolve(path);
    if (name === HASH_XATTR) {
      if (node.kind !== 'file') throw fsError('ENODATA');
      if (node.dirty) await this.uploadNow(node);
      return Buffer.from(node.remoteHash || sha256(Buffer.alloc(0)));
    }
    if (!name.startsWith('user.')) throw fsError('ENODATA');
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
    return node.kind === 'file' ? [...names, HASH_XATTR] : [...names];
  }

  async setxattr(path: string, name: string, value: Buffer): Promise<void> {
    this.assertWritable();
    if (name === HASH_XATTR || name.startsWith('user.aether.')) throw fsError('EPERM');
    if (!name.startsWith('user.')) throw fsError('ENOTSUP');
    const node = await this.resolve(path);
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
    if (!node.remote) throw fsError('ENODATA');
    try {
      await this.client.removeXattr(this.sessionId, { path: node.path, name });
    } catch (e) {
      if (isGatewayError(e) && e.rpcCode === RpcCode.NOT_FOUND) throw fsError('ENODATA');
      throw fromGatewayError(e);
    }
    if (node.xattrNames) node.xattrNames = node.xattrNames.filter((n) => n !== name);
  }

  // ---------------------------------------------------------------------------------------------
  // Open files, reads and writes
  // ---------------------------------------------------------------------------------------------

  private handle(fh: number): OpenFile {
    const h = this.handles.get(fh);
    if (!h) throw fsError('EBADF');
    return h;
  }

  private register(node: FsNode, flags: number): number {
    const fh = this.nextFh++;
    const h: OpenFile = { fh, node, flags, lastReadEnd: -1, baseHash: undefined, baseSize: 0, baseExtents: undefined };
    this.seeVersion(h);
    this.handles.set(fh, h);
    node.openCount++;
    return fh;
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
    parent.mtime = parent.ctime = this.clock.now();
    const d = this.markDirty(node);
    d.force = true;
    const fh = this.register(node, flags);
    return { fh, attr: this.attr(node) };
  }

  private markDirty(node: FsNode, h?: OpenFile): DirtyState {
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

  /** The staging file for writing, created on first use (callers hold the node lock). */
  private async stagingFd(d: DirtyState): Promise<fsp.FileHandle> {
    if (!d.fd) d.fd = await fsp.open(this.staging.stagingPath(d.stagingId), 'w+', 0o600);
    return d.fd;
  }

  /** Wait until no read uses `d`, then close and remove its staging file and journal record. */
  private async retireDirty(d: DirtyState): Promise<void> {
    while (d.readers > 0) await new Promise<void>((r) => (d.drained = r));
    await d.fd?.close().catch(() => undefined);
    d.fd = undefined;
    await this.staging.removeStaging(d.stagingId);
    await this.staging.removeRecord(d.stagingId);
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

  private async ensureExtents(node: FsNode): Promise<Extent[]> {
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
  private async readBase(node: FsNode, start: number, end: number, out: Buffer, outOff: number): Promise<void> {
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
  private async blobRange(hash: string, offset: number, length: number): Promise<Buffer> {
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

  private fetchBlob(hash: string): Promise<Buffer> {
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

  private prefetchAfter(node: FsNode, offset: number): void {
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

  /** `positional`: write at `offset` even on an O_APPEND handle (fallocate's zeroing). */
  async write(fh: number, data: Buffer, offset: number, positional = false): Promise<number> {
    this.assertWritable();
    const h = this.handle(fh);
    const node = h.node;
    if (node.kind !== 'file') throw fsError('EISDIR');
    return this.withNodeLock(node, async () => {
      const pos = h.flags & O_APPEND && !positional ? node.size : offset;
      const d = this.markDirty(node, h);
      const fd = await this.stagingFd(d);
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fd.write(data, done, data.length - done, pos + done);
        done += bytesWritten;
      }
      d.ranges.add(pos, pos + data.length);
      node.size = Math.max(node.size, pos + data.length);
      node.mtime = node.ctime = this.clock.now();
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
    if (node.openCount === 0) await this.uploadNow(node);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.assertWritable();
    const h = this.handle(fh);
    await this.truncateNode(h.node, size, h);
  }

  private async truncateNode(node: FsNode, size: number, h?: OpenFile): Promise<void> {
    if (size < 0) throw fsError('EINVAL');
    await this.withNodeLock(node, async () => {
      if (size === node.size && node.dirty) return;
      const d = this.markDirty(node, h);
      d.force = true;
      if (size < node.size) {
        d.ranges.truncate(size);
        d.baseLimit = Math.min(d.baseLimit, size);
        if (d.fd) await d.fd.truncate(size);
      }
      node.size = size;
      node.mtime = node.ctime = this.clock.now();
    });
  }

  async flush(fh: number): Promise<void> {
    const node = this.handle(fh).node;
    if (node.kind === 'file' && node.dirty) await this.uploadNow(node);
  }

  async fsync(fh: number): Promise<void> {
    await this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const node = h.node;
    node.openCount--;
    try {
      if (node.kind === 'file' && node.dirty && node.attached && !node.hidden) await this.uploadNow(node);
    } finally {
      if (node.openCount === 0) {
        if ((!node.attached || node.hidden) && node.dirty) await this.discardDirty(node);
        const pins = node.pinned;
        node.pinned = [];
        for (const p of pins) await this.cas.unpin(p).catch(() => undefined);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Uploads
  // ---------------------------------------------------------------------------------------------

  private async withNodeLock<T>(node: FsNode, fn: () => Promise<T>): Promise<T> {
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

  /** Make sure `dir` exists on the gateway (it always does unless created by an upload race). */
  private async ensureRemoteParent(dir: FsNode): Promise<void> {
    if (dir.remote) return;
    if (dir.parent) await this.ensureRemoteParent(dir.parent);
    await this.client.createDir(this.sessionId, { path: dir.path, mode: dir.mode & 0o7777 }).catch((e) => {
      if (!(isGatewayError(e) && e.rpcCode === RpcCode.ALREADY_EXISTS)) throw fromGatewayError(e);
    });
    dir.remote = true;
  }

  private async uploadSubtree(node: FsNode): Promise<void> {
    if (node.kind === 'file') return this.uploadNow(node);
    if (node.kind !== 'dir') return;
    for (const n of [...this.dirtyNodes]) {
      let p: FsNode | undefined = n;
      while (p && p !== node) p = p.parent;
      if (p === node) await this.uploadNow(n);
    }
  }

  private async discardDirty(node: FsNode): Promise<void> {
    const d = node.dirty;
    if (!d) return;
    node.dirty = undefined;
    this.dirtyNodes.delete(node);
    this.stats.pendingUploads = this.dirtyNodes.size;
    await this.retireDirty(d);
  }

  /** Upload a node's pending bytes now (flush/fsync/close); errors surface to the caller. */
  async uploadNow(node: FsNode): Promise<void> {
    await this.withNodeLock(node, () => this.uploadLocked(node));
  }

  private async uploadLocked(node: FsNode): Promise<void> {
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
  private kernelMayShow(node: FsNode, hash: string): void {
    if (!this.kernelInvalidator || node.kind !== 'file') return;
    if (node.kernelHash === undefined) node.kernelHash = hash;
    node.kernelGen = this.invalGen;
  }

  /** Open handles of `node` now see the gateway's current version (after our own upload or a conflict). */
  private rebaseHandles(node: FsNode): void {
    if (node.openCount === 0 || node.dirty) return;
    for (const h of this.handles.values()) if (h.node === node) this.seeVersion(h);
  }

  /** A handle now sees what the node shows: its pending edit, or its current remote version. */
  private seeVersion(h: OpenFile): void {
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

  /** The node's bytes are on the gateway: drop local staging state. */
  private async finishDirty(node: FsNode, d: DirtyState): Promise<void> {
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
  private async afterUpload(node: FsNode, rec: JournalRecord, sent: Buffer | undefined, read: (off: number, len: number) => Promise<Buffer>): Promise<void> {
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

  /** Current bytes of a node through the local view (staging + base + zeros). */
  private async readLocal(node: FsNode, offset: number, length: number): Promise<Buffer> {
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
  private async readStaging(d: DirtyState, out: Buffer, outOff: number, length: number, position: number): Promise<void> {
    if (d.fd) {
      await d.fd.read(out, outOff, length, position);
      return;
    }
    const fd = await fsp.open(this.staging.stagingPath(d.stagingId), 'r');
    try {
      await fd.read(out, outOff, length, position);
    } finally {
      await fd.close();
    }
  }

  /**
   * Send one journaled change: whole-file batch write for new/small/rewritten files (coalesced
   * with concurrent flushes), otherwise patchSegments with only the changed ranges, split into
   * requests of at most maxRequestBytes (only the first carries expectedHash).
   */
  private async sendUpload(rec: JournalRecord, read: (off: number, len: number) => Promise<Buffer>): Promise<Buffer | undefined> {
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
    let batch: Seg[] = [];
    let batchBytes = 0;
    let dataEnd = 0;
    const sendBatch = async (last: boolean) => {
      // Intermediate requests of a long upload let the file grow with the data sent so far (so the
      // gateway never hashes a long zero tail); the last one sets the final size.
      const logicalSize = last ? rec.size : Math.min(rec.size, Math.max(dataEnd, rec.isNew ? 0 : rec.baseLimit));
      await this.client.patchSegments(this.sessionId, {
        mutations: [{ path: rec.path, segments: batch, logicalSize, expectedHash: first ? rec.baseHash : '', mode: rec.mode }],
        conflictPolicy: 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT',
      });
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
  private enqueueBatchWrite(w: { path: string; content: Buffer; expectedHash: string; mode: number }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.batchQueue.push({ op: { write: w }, resolve, reject });
      if (!this.batchInFlight) void this.drainBatch();
    });
  }

  private async drainBatch(): Promise<void> {
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

  private async sendBatchOps(ops: PendingBatchOp[]): Promise<void> {
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
  private async refreshFile(node: FsNode, rec?: JournalRecord, read?: (off: number, len: number) => Promise<Buffer>): Promise<void> {
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
  private async saveConflict(rec: JournalRecord, read: (off: number, len: number) => Promise<Buffer>, reason: string): Promise<void> {
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
  private async replayRecord(rec: JournalRecord, stagingPath: string): Promise<void> {
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
    return this.dirtyNodes.size;
  }

  // ---------------------------------------------------------------------------------------------
  // Remote change notifications
  // ---------------------------------------------------------------------------------------------

  /**
   * Another client changed `paths` (from the event log): forget cached listings and extents
   * there so the next access revalidates. Files with local unsaved edits keep them; the upload
   * then detects the conflict through expectedHash. `paths` empty = everything.
   */
  invalidate(paths: string[]): string[] {
    this.stats.remoteInvalidations++;
    const gen = ++this.invalGen; // [posix hook]
    const touched: string[] = [];
    if (paths.length === 0) {
      const walk = (n: FsNode) => {
        n.invalGen = gen;
        if (n.kind === 'dir') {
          n.stale = true;
          for (const c of n.children!.values()) walk(c);
        } else if (!n.dirty) {
          if (n.remote) this.kernelMayShow(n, n.remoteHash);
          n.extents = undefined;
          n.metaStale = true;
        }
      };
      walk(this.root);
      return ['/'];
    }
    for (const p of paths) {
      const node = this.peek(p);
      const parentPath = p.slice(0, Math.max(1, p.lastIndexOf('/')));
      const parent = this.peek(parentPath);
      if (parent && parent.kind === 'dir') {
        parent.stale = true;
        parent.invalGen = gen;
        touched.push(parentPath);
      }
      if (node) {
        node.invalGen = gen;
        if (node.kind === 'dir') node.stale = true;
        else if (!node.dirty) {
          if (node.remote) this.kernelMayShow(node, node.remoteHash);
          node.extents = undefined;
          node.metaStale = true;
        }
        touched.push(p);
      }
    }
    return touched;
  }

  /** Look up a path in memory only (no gateway calls). */
  peek(path: string): FsNode | undefined {
    let node: FsNode | undefined = this.root;
    for (const part of path.split('/')) {
      if (!part) continue;
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** Inode number of a path if it is known in memory (for kernel invalidation). */
  inoOf(path: string): number | undefined {
    return this.peek(path)?.ino;
  }

  /** Paths of every node held in memory, parents first (kernel invalidation of "everything"). */
  knownPaths(limit = 1_000_000): string[] {
    const out: string[] = [];
    const walk = (n: FsNode, p: string) => {
      if (out.length >= limit) return;
      out.push(p);
      if (n.children) for (const [name, c] of n.children) walk(c, p === '/' ? `/${name}` : `${p}/${name}`);
    };
    walk(this.root, '/');
    return out;
  }

  /** Close staging files; pending bytes stay journaled for the next mount. */
  async close(): Promise<void> {
    if (this.batchQueue.length) await this.drainBatch().catch(() => undefined);
    for (const n of this.dirtyNodes) await n.dirty?.fd?.close().catch(() => undefined);
    if (this.dirtyNodes.size === 0) await this.staging.destroyIfEmpty().catch(() => undefined);
  }
}

export { FsError, Errno };
