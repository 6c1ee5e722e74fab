// The core's data model: one FsNode per known name (tree, inode numbers, per-node dirty/overlay
// state), the attribute/extent/stat shapes the adapter and the status line read, mount options,
// and the small pure helpers (mode bits, manifest types, hidden names) every layer of
// SessionFilesystem uses.
// Invariants: a node's `baseLimit <= size`; `hidden` nodes are libfuse's unlinked-but-open names and
// never count as children for rmdir/rename. Callers: src/fs/session-fs.ts and its layers
// (src/fs/core/*, src/fs/overlay/overlay-glue.ts), src/fuse (types), tests.
import * as fsp from 'node:fs/promises';
import type { GatewayClient } from '../client/gateway-client.js';
import type { CasStore } from '../cas/cas-store.js';
import type { ManifestNode } from '../protocol/types.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { RangeSet } from './range-set.js';
import { type OverlayStore } from './overlay/overlay-store.js';

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

export type Kind = 'file' | 'dir' | 'symlink';

export interface DirtyState {
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

export class FsNode {
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
  // ---- overlay mode (local-first) ----
  /** A queued op creates this node on the gateway (mkdir, put of a new file, symlink). */
  queued = false;
  /** seq of the queued put that creates this file, while nothing else refers to it by path. */
  createSeq: number | undefined;
  /** seq of the latest queued put of this file. */
  pendingPut: number | undefined;
  /** Bumped by every content/mode change: a put shipped at an older gen leaves the file dirty. */
  gen = 0;
  /** xattrs set/removed locally and not shipped yet (null = removed). */
  xattrLocal: Map<string, Buffer | null> | undefined;
  /**
   * [posix hook] The invalidation generation that last marked this node (0 = never): a listing or
   * refresh that started before it carries older metadata and must not clear `metaStale`/`stale`.
   */
  invalGen = 0;
  /**
   * The local-change generation that last changed this directory's set of names (0 = never): a
   * listing that began before it does not know that change and must not add or drop names.
   */
  localGen = 0;
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

export const ROOT_INO = 1;

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
  /**
   * 'write-through' (close/unlink/rename/mkdir wait for the gateway) or 'overlay' (local-first:
   * every mutation lands in a durable local overlay and a background shipper sends it).
   */
  mode?: MountMode;
  /** Overlay mode: the store (default: SQLite in the session state dir). */
  overlayStore?: OverlayStore;
  /** Overlay mode: shipping delay after a change (ms). */
  shipDelayMs?: number;
  /** Overlay mode: writers wait while more than this many ops are queued. */
  maxQueuedOps?: number;
  /** Overlay mode: how long a barrier (fsync, sync) waits for the gateway (ms). */
  barrierTimeoutMs?: number;
}

export type MountMode = 'write-through' | 'overlay';

/** The mount mode asked for by the environment (AETHER_MOUNT_MODE), default write-through. */
export function mountModeFromEnv(env: Record<string, string | undefined>): MountMode {
  return env.AETHER_MOUNT_MODE === 'overlay' ? 'overlay' : 'write-through';
}

export const O_ACCMODE = 3;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

export const POSIX_NAME_MAX = 255;

/** Names libfuse gives files it hides because they were unlinked while open. */
export const HIDDEN_NAME = /^\.fuse_hidden[0-9a-fA-F]+$/;

/** A directory is empty for rmdir/rename when only hidden (unlinked-but-open) files remain. */
export function hasVisibleChildren(dir: FsNode): boolean {
  for (const c of dir.children!.values()) if (!c.hidden) return true;
  return false;
}

export function joinPath(dir: FsNode, name: string): string {
  const p = dir.path;
  return p === '/' ? `/${name}` : `${p}/${name}`;
}

/**
 * Content up to this size is one CAS blob on the gateway (its chunker's minimum chunk), so a
 * whole-file write of it has extents we know without asking. If a gateway chunks differently the
 * only cost is a cache miss after a remount: reads use the local blob, which is always correct.
 */
export const SINGLE_CHUNK_BYTES = 256 * 1024;

export function typeOfManifest(n: ManifestNode): Kind {
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
export function modeFor(kind: Kind, mode: number | undefined): number {
  const explicit = mode !== undefined && (mode & S_IFMT) !== 0;
  const perm = (mode ?? 0) & 0o7777;
  if (kind === 'dir') return S_IFDIR | (explicit || perm ? perm : 0o755);
  if (kind === 'symlink') return S_IFLNK | 0o777;
  return S_IFREG | (explicit || perm ? perm : 0o644);
}

export function toNum(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

export interface PendingBatchOp {
  op: { write: { path: string; content: Buffer; expectedHash: string; mode: number } };
  resolve: () => void;
  reject: (e: unknown) => void;
}
