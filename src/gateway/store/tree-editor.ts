// A copy-on-write working copy of one root tree (see tree-store.ts for the node layout). Reads see
// the edits made so far; commit() writes the changed directories bottom-up and returns the new
// root hash. Errors use the public codes: missing parent → NOT_FOUND, parent not a dir →
// FAILED_PRECONDITION, exists → ALREADY_EXISTS.
//
// Cost model (issues 9 and 12.6): a touched directory is kept as its base hash plus a map of
// changed children — never copied whole — so an edit costs O(path length) and commit() costs
// O(changed entries) pages per touched directory (TreeStore.update). Path resolution walks up to
// the nearest touched ancestor only, and subtree bookkeeping (dropping pending edits under a
// replaced or removed directory) runs only when a directory is replaced, so a chain of 2,048
// nested directories is created in O(depth · path length), not O(depth³).
//
// Invariants: an opened directory's entry in its parent carries `tr: ''` until commit() fills in
// its new hash; every such pending entry has a state in `dirty` under its current path.
// Callers: core.ts (SessionRepo.apply), fs/mutation.ts, routes, git/import.ts.
import { ApiError } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { joinPath, splitPath } from '../http/validate.js';
import { S_IFDIR, cmp, type TreeEntry, type TreeStore } from './tree-store.js';
import { gitlinkOf } from '../git/gitlink.js';

/** A touched directory: its tree before the edit and its changed children (null = removed). */
interface DirState {
  base: string;
  changes: Map<string, TreeEntry | null>;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function nameOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Path depth (number of components) without splitting. */
function depthOf(p: string): number {
  if (p === '/') return 0;
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) n++;
  return n;
}

export class TreeEditor {
  private dirty = new Map<string, DirState>();
  /** Entries resolved through untouched directories; cleared by every content change. */
  private resolvedCache = new Map<string, TreeEntry | undefined>();
  private rootAttrs: { m: number; mt: number; xa?: Record<string, string> };
  private linkGroups: Record<string, string[]>;
  private readonly baseLinksJson: string;

  constructor(private store: TreeStore, readonly baseRoot: string) {
    const meta = store.meta(baseRoot);
    this.rootAttrs = { ...(meta.root ?? { m: S_IFDIR | 0o755, mt: 0 }) };
    this.linkGroups = Object.fromEntries(Object.entries(meta.links ?? {}).map(([k, v]) => [k, [...v]]));
    this.baseLinksJson = JSON.stringify(meta.links ?? {});
  }

  private stateGet(st: DirState, name: string): TreeEntry | undefined {
    const c = st.changes.get(name);
    if (c !== undefined) return c ?? undefined;
    return st.base ? this.store.childOf(st.base, name) : undefined;
  }

  /** Entries of a directory (a fresh array, sorted). Throws NOT_FOUND / FAILED_PRECONDITION. */
  list(dirPath: string): Array<[string, TreeEntry]> {
    const st = this.dirty.get(dirPath);
    if (st) {
      const merged = new Map<string, TreeEntry>(st.base ? this.store.get(st.base).e : []);
      for (const [n, e] of st.changes) e ? merged.set(n, e) : merged.delete(n);
      return [...merged].sort(([a], [b]) => cmp(a, b));
    }
    if (dirPath === '/') return [...this.store.get(this.baseRoot).e];
    const e = this.get(dirPath);
    if (!e) throw new ApiError(RpcCode.NOT_FOUND, `directory ${dirPath} does not exist`);
    if (e.t !== 'd') throw new ApiError(RpcCode.FAILED_PRECONDITION, `${dirPath} is not a directory`);
    return [...this.store.get(e.tr!).e];
  }

  /** Whether a directory has no entries (cheap for untouched directories). */
  isEmptyDir(dirPath: string): boolean {
    if (!this.dirty.has(dirPath) && dirPath !== '/') {
      const e = this.get(dirPath);
      if (e?.t === 'd' && e.tr) return this.store.counts(e.tr).entries === 0;
    }
    return this.list(dirPath).length === 0;
  }

  get(path: string): TreeEntry | undefined {
    if (path === '/') return { t: 'd', m: this.rootAttrs.m, mt: this.rootAttrs.mt, xa: this.rootAttrs.xa, tr: '' };
    const parent = parentOf(path);
    const name = nameOf(path);
    const st = this.dirty.get(parent);
    if (st) return this.stateGet(st, name);
    if (parent === '/') return this.store.childOf(this.baseRoot, name);
    if (this.resolvedCache.has(path)) return this.resolvedCache.get(path);
    const pe = this.get(parent);
    const e = !pe || pe.t !== 'd' || !pe.tr ? undefined : this.store.childOf(pe.tr, name);
    this.resolvedCache.set(path, e);
    return e;
  }

  private changed(): void {
    if (this.resolvedCache.size) this.resolvedCache.clear();
  }

  /** Make `dirPath` (and every ancestor) editable; returns its state. */
  private open(dirPath: string): DirState {
    const existing = this.dirty.get(dirPath);
    if (existing) return existing;
    let st: DirState;
    if (dirPath === '/') {
      st = { base: this.baseRoot, changes: new Map() };
    } else {
      const e = this.get(dirPath);
      if (!e) throw new ApiError(RpcCode.NOT_FOUND, `parent directory ${dirPath} does not exist`);
      if (e.t !== 'd') throw new ApiError(RpcCode.FAILED_PRECONDITION, `${dirPath} is not a directory`);
      const sub = gitlinkOf(e);
      if (sub) throw new ApiError(RpcCode.PERMISSION_DENIED, `${dirPath} is a git submodule (commit ${sub}); its files are not part of this session and cannot be written`);
      // Ancestors are resolved (and cached) by the get() above, so opening them is O(depth).
      const parent = this.open(parentOf(dirPath));
      st = { base: e.tr ?? '', changes: new Map() };
      // Mark the dir entry as pending: commit() fills in the new tree hash.
      parent.changes.set(nameOf(dirPath), { ...e, tr: '' });
    }
    this.dirty.set(dirPath, st);
    return st;
  }

  /** Drop pending edits at or under `path` (its subtree was replaced or removed). */
  private dropDirtyUnder(path: string): void {
    const prefix = path + '/';
    for (const k of [...this.dirty.keys()]) if (k === path || k.startsWith(prefix)) this.dirty.delete(k);
  }

  /** Create or replace the entry at `path`; the parent must exist. Directories passed in keep `tr`. */
  set(path: string, entry: TreeEntry): void {
    if (path === '/') {
      this.rootAttrs = { m: entry.m, mt: entry.mt, xa: entry.xa };
      return;
    }
    const st = this.open(parentOf(path));
    const name = nameOf(path);
    if (entry.t === 'd' && !entry.tr) entry = { ...entry, tr: this.store.emptyTree };
    const prev = this.stateGet(st, name);
    st.changes.set(name, entry);
    this.changed();
    // A replaced directory subtree may have pending edits under it: drop them.
    if (prev?.t === 'd') this.dropDirtyUnder(path);
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
    const st = this.open(parentOf(path));
    const name = nameOf(path);
    const cur = this.stateGet(st, name)!;
    st.changes.set(name, { ...cur, m: pick('m', cur.m)!, mt: pick('mt', cur.mt)!, xa: pick('xa', cur.xa) });
    this.changed();
  }

  /** Create missing directories along `dirPath` with `mode`; existing non-dirs → FAILED_PRECONDITION. */
  mkdirs(dirPath: string, mode = S_IFDIR | 0o755, now = Date.now()): void {
    let cur = '/';
    for (const part of splitPath(dirPath)) {
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
    this.open(parentOf(path)).changes.set(nameOf(path), null);
    this.changed();
    if (e.t === 'd') this.dropDirtyUnder(path);
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
    const moved: Array<[string, DirState]> = [];
    if (e.t === 'd') {
      for (const [k, v] of [...this.dirty]) {
        if (k === src || k.startsWith(src + '/')) {
          moved.push([dst + k.slice(src.length), v]);
          this.dirty.delete(k);
        }
      }
    }
    this.open(parentOf(src)).changes.set(nameOf(src), null);
    this.open(parentOf(dst)).changes.set(nameOf(dst), e);
    this.changed();
    for (const [k, v] of moved) this.dirty.set(k, v);
    this.rewriteLinks(src, dst);
  }

  /** Rename (dst) or drop (dst undefined) every hard-link path at or under `src`. */
  private rewriteLinks(src: string, dst: string | undefined): void {
    for (const [id, paths] of Object.entries(this.linkGroups)) {
      const next: string[] = [];
      let touched = false;
      for (const p of paths) {
        if (p === src || p.startsWith(src + '/')) {
          touched = true;
          if (dst !== undefined) next.push(dst + p.slice(src.length));
        } else next.push(p);
      }
      if (!touched) continue;
      if (next.length <= 1) {
        // A group of one is no longer a hard link: clear the marker on the survivor.
        delete this.linkGroups[id];
        if (next.length === 1) {
          const survivor = this.get(next[0]!);
          if (survivor && survivor.ln === id) {
            this.open(parentOf(next[0]!)).changes.set(nameOf(next[0]!), { ...survivor, ln: undefined });
            this.changed();
          }
        }
      } else this.linkGroups[id] = next;
    }
  }

  /** Hard-link groups (mutable view). */
  get links(): Record<string, string[]> {
    return this.linkGroups;
  }

  /** Write every changed directory bottom-up; returns the new root hash. */
  commit(): string {
    if (this.dirty.size === 0 && !this.attrsChanged() && !this.linksChanged()) return this.baseRoot;
    const paths = [...this.dirty.keys()].map((p) => [p, depthOf(p)] as const).sort((a, b) => b[1] - a[1]);
    const hashes = new Map<string, string>();
    for (const [p] of paths) {
      if (p === '/') continue;
      const st = this.dirty.get(p)!;
      hashes.set(p, this.store.update(st.base || this.store.emptyTree, this.resolved(p, st, hashes)));
    }
    const root = this.dirty.get('/') ?? { base: this.baseRoot, changes: new Map() };
    return this.store.update(root.base, this.resolved('/', root, hashes), { links: this.linkGroups, root: this.rootAttrs });
  }

  private resolved(dir: string, st: DirState, hashes: Map<string, string>): Map<string, TreeEntry | null> {
    const out = new Map<string, TreeEntry | null>();
    for (const [name, e] of st.changes) {
      if (e && e.t === 'd' && !e.tr) {
        const h = hashes.get(joinPath(dir, name));
        if (!h) throw new Error(`internal: no tree for ${joinPath(dir, name)}`);
        out.set(name, { ...e, tr: h });
      } else out.set(name, e);
    }
    return out;
  }

  private attrsChanged(): boolean {
    const b = this.store.meta(this.baseRoot).root;
    return JSON.stringify(b ?? { m: S_IFDIR | 0o755, mt: 0 }) !== JSON.stringify(this.rootAttrs);
  }

  private linksChanged(): boolean {
    return this.baseLinksJson !== JSON.stringify(this.linkGroups);
  }
}
