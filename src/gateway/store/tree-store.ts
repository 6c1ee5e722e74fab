// Merkle trees of session content. A directory is an immutable JSON body named by its sha256;
// a session, a checkpoint and a source revision are each just a root tree hash, so fork and
// checkpoint are O(1) and identical subtrees are shared by everything that contains them.
//
// Invariants: bodies are canonical (entries sorted by name, keys in fixed order), so equal trees
// have equal hashes; a tree returned by get() is shared and must never be mutated — edit through
// TreeEditor, which copies the dirs it touches and writes them back bottom-up on commit().
import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
import { ApiError } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { joinPath, splitPath } from '../http/validate.js';
import { gitlinkOf } from '../git/gitlink.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** A run of file bytes: `n` bytes of blob `h` starting at `o`. `h === ''` is a hole (zeros). */
export interface Extent {
  h: string;
  o: number;
  n: number;
}

export type EntryType = 'f' | 'd' | 'l';

export interface TreeEntry {
  t: EntryType;
  /** Full st_mode, type bits included (0o100644, 0o040755, 0o120777). */
  m: number;
  /** Last modification, epoch ms (server time). */
  mt: number;
  /** Files: size, content hash ("sha256:" of all bytes) and extents. */
  s?: number;
  h?: string;
  x?: Extent[];
  /** Directories: tree hash of the contents. */
  tr?: string;
  /** Symlinks: target. */
  tg?: string;
  /** Extended attributes, base64 values. */
  xa?: Record<string, string>;
  /** Hard-link group id; every path in the group shares content and mode. */
  ln?: string;
}

export interface TreeBody {
  /** Entries sorted by name. */
  e: Array<[string, TreeEntry]>;
  /** Root only: hard-link groups, id → paths. */
  links?: Record<string, string[]>;
  /** Root only: attributes of "/" itself. */
  root?: { m: number; mt: number; xa?: Record<string, string> };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function canonicalEntry(e: TreeEntry): TreeEntry {
  const out: TreeEntry = { t: e.t, m: e.m, mt: e.mt };
  if (e.t === 'f') {
    out.s = e.s ?? 0;
    out.h = e.h ?? '';
    out.x = e.x ?? [];
  }
  if (e.t === 'd') out.tr = e.tr;
  if (e.t === 'l') out.tg = e.tg ?? '';
  if (e.xa && Object.keys(e.xa).length) out.xa = Object.fromEntries(Object.entries(e.xa).sort(([a], [b]) => cmp(a, b)));
  if (e.ln) out.ln = e.ln;
  return out;
}

export class TreeStore {
  private cache = new Map<string, TreeBody>();
  private readonly maxCached = 20_000;
  private readonly getStmt;
  private readonly putStmt;
  readonly emptyTree: string;

  constructor(private db: Db) {
    this.getStmt = db.prepare('SELECT body FROM trees WHERE hash = ?');
    this.putStmt = db.prepare('INSERT OR IGNORE INTO trees (hash, body) VALUES (?, ?)');
    this.emptyTree = this.put({ e: [] });
  }

  get(hash: string): TreeBody {
    const hit = this.cache.get(hash);
    if (hit) {
      this.cache.delete(hash);
      this.cache.set(hash, hit);
      return hit;
    }
    const row = this.getStmt.get(hash) as { body: string } | undefined;
    if (!row) throw new ApiError(RpcCode.DATA_LOSS, `tree ${hash} is missing from the store`);
    const body = JSON.parse(row.body) as TreeBody;
    this.remember(hash, body);
    return body;
  }

  put(body: TreeBody): string {
    const canon: TreeBody = { e: [...body.e].sort(([a], [b]) => cmp(a, b)).map(([n, e]) => [n, canonicalEntry(e)]) };
    if (body.links && Object.keys(body.links).length) {
      canon.links = Object.fromEntries(
        Object.entries(body.links)
          .filter(([, paths]) => paths.length > 0)
          .sort(([a], [b]) => cmp(a, b))
          .map(([k, v]) => [k, [...v].sort(cmp)]),
      );
      if (!Object.keys(canon.links).length) delete canon.links;
    }
    if (body.root) {
      canon.root = { m: body.root.m, mt: body.root.mt };
      if (body.root.xa && Object.keys(body.root.xa).length) canon.root.xa = body.root.xa;
    }
    const json = JSON.stringify(canon);
    const hash = 'sha256:' + createHash('sha256').update(json).digest('hex');
    if (!this.cache.has(hash)) {
      this.putStmt.run(hash, json);
      this.remember(hash, canon);
    }
    return hash;
  }

  private remember(hash: string, body: TreeBody): void {
    this.cache.set(hash, body);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Find one child entry of a tree by name (binary search). */
  child(tree: TreeBody, name: string): TreeEntry | undefined {
    let lo = 0;
    let hi = tree.e.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = cmp(tree.e[mid]![0], name);
      if (c === 0) return tree.e[mid]![1];
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The synthetic entry for "/" of a root tree. */
  rootEntry(rootHash: string): TreeEntry {
    const body = this.get(rootHash);
    return { t: 'd', m: body.root?.m ?? S_IFDIR | 0o755, mt: body.root?.mt ?? 0, tr: rootHash, xa: body.root?.xa };
  }

  /** Resolve a validated absolute path in a root tree. Symlinks are not followed. */
  lookup(rootHash: string, path: string): TreeEntry | undefined {
    let entry = this.rootEntry(rootHash);
    for (const part of splitPath(path)) {
      if (entry.t !== 'd') return undefined;
      const next = this.child(this.get(entry.tr!), part);
      if (!next) return undefined;
      entry = next;
    }
    return entry;
  }

  /** Hard-link groups of a root. */
  links(rootHash: string): Record<string, string[]> {
    return this.get(rootHash).links ?? {};
  }

  /**
   * Depth-first walk under `prefix` (itself first, then children by name), resuming strictly after
   * `after` in the same order. `maxDepth` 0 = unlimited, 1 = prefix and its direct children.
   */
  *walk(rootHash: string, prefix: string, after?: string, maxDepth = 0): Generator<{ path: string; entry: TreeEntry }> {
    const start = this.lookup(rootHash, prefix);
    if (!start) return;
    const afterParts = after ? splitPath(after) : undefined;
    const prefixParts = splitPath(prefix);
    if (afterParts) {
      // `after` must lie at or under prefix for resumption to mean anything; otherwise compare.
      const rel = relativeParts(prefixParts, afterParts);
      if (rel === 'before') yield* this.walkFrom(start, prefix, undefined, maxDepth, 0, true);
      else if (rel !== 'after') yield* this.walkFrom(start, prefix, rel, maxDepth, 0, false);
      return;
    }
    yield* this.walkFrom(start, prefix, undefined, maxDepth, 0, true);
  }

  private *walkFrom(
    entry: TreeEntry,
    path: string,
    after: string[] | undefined,
    maxDepth: number,
    depth: number,
    emitSelf: boolean,
  ): Generator<{ path: string; entry: TreeEntry }> {
    if (emitSelf) yield { path, entry };
    if (entry.t !== 'd' || (maxDepth > 0 && depth >= maxDepth)) return;
    const tree = this.get(entry.tr!);
    for (const [name, child] of tree.e) {
      if (after && after.length) {
        const c = cmp(name, after[0]!);
        if (c < 0) continue;
        if (c === 0) {
          const rest = after.slice(1);
          // The resume point itself was already emitted; continue with what follows it.
          yield* this.walkFrom(child, joinPath(path, name), rest, maxDepth, depth + 1, false);
          after = undefined;
          continue;
        }
        after = undefined;
      }
      yield* this.walkFrom(child, joinPath(path, name), undefined, maxDepth, depth + 1, true);
    }
  }
}

/** Where `after` sits relative to `prefix`: its components below prefix, or wholly before/after. */
function relativeParts(prefix: string[], after: string[]): string[] | 'before' | 'after' {
  for (let i = 0; i < prefix.length; i++) {
    if (i >= after.length) return 'before';
    const c = cmp(after[i]!, prefix[i]!);
    if (c < 0) return 'before';
    if (c > 0) return 'after';
  }
  return after.slice(prefix.length);
}

/**
 * A copy-on-write working copy of one root. Reads see the edits made so far; commit() writes
 * the changed directories bottom-up and returns the new root hash. Errors use the public codes:
 * missing parent → NOT_FOUND, parent not a dir → FAILED_PRECONDITION, exists → ALREADY_EXISTS.
 */
export class TreeEditor {
  private dirty = new Map<string, Map<string, TreeEntry>>();
  private rootAttrs: { m: number; mt: number; xa?: Record<string, string> };
  private linkGroups: Record<string, string[]>;

  constructor(private store: TreeStore, readonly baseRoot: string) {
    const body = store.get(baseRoot);
    this.rootAttrs = { ...(body.root ?? { m: S_IFDIR | 0o755, mt: 0 }) };
    this.linkGroups = Object.fromEntries(Object.entries(body.links ?? {}).map(([k, v]) => [k, [...v]]));
  }

  /** Entries of a directory (a fresh array). Throws NOT_FOUND / FAILED_PRECONDITION. */
  list(dirPath: string): Array<[string, TreeEntry]> {
    const d = this.dirty.get(dirPath);
    if (d) return [...d.entries()].sort(([a], [b]) => cmp(a, b));
    const e = this.get(dirPath);
    if (!e) throw new ApiError(RpcCode.NOT_FOUND, `directory ${dirPath} does not exist`);
    if (e.t !== 'd') throw new ApiError(RpcCode.FAILED_PRECONDITION, `${dirPath} is not a directory`);
    return [...this.store.get(e.tr!).e];
  }

  get(path: string): TreeEntry | undefined {
    if (path === '/') return { t: 'd', m: this.rootAttrs.m, mt: this.rootAttrs.mt, xa: this.rootAttrs.xa, tr: '' };
    const parts = splitPath(path);
    const name = parts.pop()!;
    const parent = parts.length ? '/' + parts.join('/') : '/';
    const d = this.dirty.get(parent);
    if (d) return d.get(name);
    if (parts.length === 0) return this.store.child(this.store.get(this.baseRoot), name);
    const pe = this.get(parent);
    if (!pe || pe.t !== 'd') return undefined;
    if (this.dirty.has(parent)) return this.dirty.get(parent)!.get(name);
    return this.store.child(this.store.get(pe.tr!), name);
  }

  /** Make `dirPath` (and every ancestor) editable; returns its child map. */
  private open(dirPath: string): Map<string, TreeEntry> {
    const existing = this.dirty.get(dirPath);
    if (existing) return existing;
    let entries: Array<[string, TreeEntry]>;
    if (dirPath === '/') {
      entries = this.store.get(this.baseRoot).e;
    } else {
      const parts = splitPath(dirPath);
      const name = parts.pop()!;
      const parentPath = parts.length ? '/' + parts.join('/') : '/';
      const e = this.get(dirPath);
      if (!e) throw new ApiError(RpcCode.NOT_FOUND, `parent directory ${dirPath} does not exist`);
      if (e.t !== 'd') throw new ApiError(RpcCode.FAILED_PRECONDITION, `${dirPath} is not a directory`);
      const sub = gitlinkOf(e);
      if (sub) throw new ApiError(RpcCode.PERMISSION_DENIED, `${dirPath} is a git submodule (commit ${sub}); its files are not part of this session and cannot be written`);
      const parentMap = this.open(parentPath);
      entries = e.tr ? this.store.get(e.tr).e : [];
      // Mark the dir entry as pending: commit() fills in the new tree hash.
      parentMap.set(name, { ...e, tr: '' });
    }
    const map = new Map(entries);
    this.dirty.set(dirPath, map);
    return map;
  }

  /** Create or replace the entry at `path`; the parent must exist. Directories passed in keep `tr`. */
  set(path: string, entry: TreeEntry): void {
    if (path === '/') {
      this.rootAttrs = { m: entry.m, mt: entry.mt, xa: entry.xa };
      return;
    }
    const parts = splitPath(path);
    const name = parts.pop()!;
    const parent = parts.length ? '/' + parts.join('/') : '/';
    const map = this.open(parent);
    if (entry.t === 'd' && !entry.tr) entry = { ...entry, tr: this.store.emptyTree };
    map.set(name, entry);
    // A replaced directory subtree may have pending edits under it: drop them.
    for (const k of [...this.dirty.keys()]) if (k.startsWith(path + '/') || k === path) this.dirty.delete(k);
  }

  /**
   * Update metadata (mode, mtime, xattrs) of an existing entry — "/" included — keeping its content
   * and any pending edits beneath it (unlike set(), which replaces a directory's subtree).
   * Throws NOT_FOUND if the entry does not exist.
   */
  setMeta(path: string, meta: { m?: number; mt?: number; xa?: Record<string, string> | undefined }): void {
    const pick = <K extends 'm' | 'mt' | 'xa'>(k: K, cur: TreeEntry[K]) => (k in meta ? meta[k] : cur);
    if (path === '/') {
      this.rootAttrs = { m: pick('m', this.rootAttrs.m)!, mt: pick('mt', this.rootAttrs.mt)!, xa: pick('xa', this.rootAttrs.xa) };
      return;
    }
    if (!this.get(path)) throw new ApiError(RpcCode.NOT_FOUND, `${path} does not exist`);
    const parts = splitPath(path);
    const name = parts.pop()!;
    const map = this.open(parts.length ? '/' + parts.join('/') : '/');
    const cur = map.get(name)!;
    map.set(name, { ...cur, m: pick('m', cur.m)!, mt: pick('mt', cur.mt)!, xa: pick('xa', cur.xa) });
  }

  /** Create missing directories along `dirPath` with `mode`; existing non-dirs → FAILED_PRECONDITION. */
  mkdirs(dirPath: string, mode = S_IFDIR | 0o755, now = Date.now()): void {
    const parts = splitPath(dirPath);
    let cur = '/';
    for (const part of parts) {
      const next = joinPath(cur, part);
      const e = this.get(next);
      if (!e) this.set(next, { t: 'd', m: mode, mt: now, tr: this.store.emptyTree });
      else if (e.t !== 'd') throw new ApiError(RpcCode.FAILED_PRECONDITION, `${next} exists and is not a directory`);
      cur = next;
    }
  }

  /** Remove the entry at `path` (recursively for dirs); returns it, or undefined if absent. */
  remove(path: string): TreeEntry | undefined {
    if (path === '/') throw new ApiError(RpcCode.INVALID_ARGUMENT, 'cannot remove the root directory');
    const e = this.get(path);
    if (!e) return undefined;
    const parts = splitPath(path);
    const name = parts.pop()!;
    const parent = parts.length ? '/' + parts.join('/') : '/';
    this.open(parent).delete(name);
    for (const k of [...this.dirty.keys()]) if (k === path || k.startsWith(path + '/')) this.dirty.delete(k);
    this.rewriteLinks(path, undefined);
    return e;
  }

  /**
   * Move the entry at `src` to `dst` (replacing whatever is at dst; the caller checks POSIX
   * rules first). Pending edits under src move with it; hard-link groups follow the new paths.
   */
  move(src: string, dst: string): void {
    const e = this.get(src);
    if (!e) throw new ApiError(RpcCode.NOT_FOUND, `${src} does not exist`);
    if (src === dst) return;
    if (dst.startsWith(src + '/')) throw new ApiError(RpcCode.INVALID_ARGUMENT, `cannot move ${src} into itself`);
    if (this.get(dst)) this.remove(dst);
    const moved: Array<[string, Map<string, TreeEntry>]> = [];
    for (const [k, v] of [...this.dirty]) {
      if (k === src || k.startsWith(src + '/')) {
        moved.push([dst + k.slice(src.length), v]);
        this.dirty.delete(k);
      }
    }
    const sp = splitPath(src);
    const sname = sp.pop()!;
    this.open(sp.length ? '/' + sp.join('/') : '/').delete(sname);
    const dp = splitPath(dst);
    const dname = dp.pop()!;
    this.open(dp.length ? '/' + dp.join('/') : '/').set(dname, e);
    for (const [k, v] of moved) this.dirty.set(k, v);
    this.rewriteLinks(src, dst);
  }

  /** Rename (dst) or drop (dst undefined) every hard-link path at or under `src`. */
  private rewriteLinks(src: string, dst: string | undefined): void {
    for (const [id, paths] of Object.entries(this.linkGroups)) {
      const next: string[] = [];
      for (const p of paths) {
        if (p === src || p.startsWith(src + '/')) {
          if (dst !== undefined) next.push(dst + p.slice(src.length));
        } else next.push(p);
      }
      if (next.length <= 1) {
        // A group of one is no longer a hard link: clear the marker on the survivor.
        delete this.linkGroups[id];
        if (next.length === 1) {
          const survivor = this.get(next[0]!);
          if (survivor && survivor.ln === id) this.setKeepingDirty(next[0]!, { ...survivor, ln: undefined });
        }
      } else this.linkGroups[id] = next;
    }
  }

  /** set() for a non-directory entry, without discarding pending edits elsewhere. */
  private setKeepingDirty(path: string, entry: TreeEntry): void {
    const parts = splitPath(path);
    const name = parts.pop()!;
    this.open(parts.length ? '/' + parts.join('/') : '/').set(name, entry);
  }

  /** Hard-link groups (mutable view). */
  get links(): Record<string, string[]> {
    return this.linkGroups;
  }

  /** Write every changed directory bottom-up; returns the new root hash. */
  commit(): string {
    if (this.dirty.size === 0 && !this.attrsChanged() && !this.linksChanged()) return this.baseRoot;
    const paths = [...this.dirty.keys()].sort((a, b) => splitPath(b).length - splitPath(a).length);
    const hashes = new Map<string, string>();
    for (const p of paths) {
      if (p === '/') continue;
      const map = this.dirty.get(p)!;
      const hash = this.store.put({ e: this.resolved(p, map, hashes) });
      hashes.set(p, hash);
    }
    const rootMap = this.dirty.get('/') ?? new Map(this.store.get(this.baseRoot).e);
    return this.store.put({ e: this.resolved('/', rootMap, hashes), links: this.linkGroups, root: this.rootAttrs });
  }

  private resolved(dir: string, map: Map<string, TreeEntry>, hashes: Map<string, string>): Array<[string, TreeEntry]> {
    const out: Array<[string, TreeEntry]> = [];
    for (const [name, e] of map) {
      if (e.t === 'd' && !e.tr) {
        const h = hashes.get(joinPath(dir, name));
        if (!h) throw new Error(`internal: no tree for ${joinPath(dir, name)}`);
        out.push([name, { ...e, tr: h }]);
      } else out.push([name, e]);
    }
    return out;
  }

  private attrsChanged(): boolean {
    const b = this.store.get(this.baseRoot).root;
    return JSON.stringify(b ?? { m: S_IFDIR | 0o755, mt: 0 }) !== JSON.stringify(this.rootAttrs);
  }

  private linksChanged(): boolean {
    return JSON.stringify(this.store.get(this.baseRoot).links ?? {}) !== JSON.stringify(this.linkGroups);
  }
}
