// Merkle trees of session content. A session, a checkpoint and a source revision are each just a
// root tree hash, so fork and checkpoint are O(1) and identical subtrees are shared by everything
// that contains them.
//
// Directory layout (history-independent paging). A directory's entries, sorted by name, are cut
// into pages after every entry whose name is a *boundary*: the first 32 bits of
// sha256("aether-page\0" + name) are ≡ 0 mod PAGE_FANOUT (64). Boundaries depend only on the names
// themselves, so the same set of entries always yields the same pages and the same hashes
// whatever edits produced it (manifestHash stays a function of content). A directory that is one
// page is stored flat, `{e: [...]}` (the pre-v2 format, so small directories keep their old
// hashes); a larger one is an index node `{p: [[lastName, pageHash, count, subdirs], ...]}` whose
// pages are ordinary `{e: [...]}` rows. Changing k entries rewrites only the pages containing them
// (plus a neighbour when a boundary entry disappears) and the index: O(k·64 + n/64) bytes instead
// of the whole directory, which is what makes mutations O(changed) (issue 9) and storage growth
// per write bounded (issue 15). Root nodes additionally carry `links` and `root` (attributes of /).
//
// Invariants: bodies are canonical (entries sorted by name, keys in fixed order), so equal trees
// have equal hashes; nodes are immutable and shared — never mutate what get() returns; edit
// through TreeEditor (tree-editor.ts). Callers: the editor, fs/walk.ts, fs/render.ts, git/*,
// routes/*, gc.ts.
import { RecentlyTouched } from './recency.js';
import { createHash } from 'node:crypto';
import type { Db } from '../db/database.js';
import { ApiError } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { joinPath, splitPath } from '../http/validate.js';

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
  /** Entries sorted by name (for a paged directory: all pages, assembled). */
  e: Array<[string, TreeEntry]>;
  /** Root only: hard-link groups, id → paths. */
  links?: Record<string, string[]>;
  /** Root only: attributes of "/" itself. */
  root?: { m: number; mt: number; xa?: Record<string, string> };
}

export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Average entries per page; see the module comment. */
export const PAGE_FANOUT = 64;

/** A page reference in an index node: last name in the page, page hash, entry count, subdirectories. */
export type PageRef = [string, string, number, number];

/** A stored node as written: flat (`e`) or an index of pages (`p`). */
interface RawNode {
  e?: Array<[string, TreeEntry]>;
  p?: PageRef[];
  links?: Record<string, string[]>;
  root?: { m: number; mt: number; xa?: Record<string, string> };
}

/** Boundary verdicts by name (a SHA-256 per name per page rewrite showed in the profile). */
const boundaryMemo = new Map<string, boolean>();
const BOUNDARY_MEMO_MAX = 200_000;

/** Whether `name` ends a page (history-independent boundary rule). */
export function isBoundary(name: string): boolean {
  let b = boundaryMemo.get(name);
  if (b === undefined) {
    b = createHash('sha256').update('aether-page\0').update(name).digest().readUInt32BE(0) % PAGE_FANOUT === 0;
    if (boundaryMemo.size >= BOUNDARY_MEMO_MAX) boundaryMemo.clear();
    boundaryMemo.set(name, b);
  }
  return b;
}

/** Cut sorted entries into pages at boundary names. */
function paginate(entries: Array<[string, TreeEntry]>): Array<Array<[string, TreeEntry]>> {
  const pages: Array<Array<[string, TreeEntry]>> = [];
  let cur: Array<[string, TreeEntry]> = [];
  for (const it of entries) {
    cur.push(it);
    if (isBoundary(it[0])) {
      pages.push(cur);
      cur = [];
    }
  }
  if (cur.length || pages.length === 0) pages.push(cur);
  return pages;
}

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
  /** Parsed stored nodes (flat dirs, pages, index nodes), LRU. */
  private cache = new Map<string, RawNode>();
  private readonly maxCached = 20_000;
  /** Assembled bodies of paged directories, LRU (small: they can be large). */
  private assembled = new Map<string, TreeBody>();
  private readonly maxAssembled = 64;
  private readonly getStmt;
  private readonly putStmt;
  readonly emptyTree: string;

  constructor(private db: Db) {
    this.getStmt = db.prepare('SELECT body FROM trees WHERE hash = ?');
    this.putStmt = db.prepare('INSERT OR IGNORE INTO trees (hash, body) VALUES (?, ?)');
    this.emptyTree = this.put({ e: [] });
  }

  /** A stored node as written. */
  private raw(hash: string): RawNode {
    const hit = this.cache.get(hash);
    if (hit) {
      this.cache.delete(hash);
      this.cache.set(hash, hit);
      return hit;
    }
    const row = this.getStmt.get(hash) as { body: string } | undefined;
    if (!row) throw new ApiError(RpcCode.DATA_LOSS, `tree ${hash} is missing from the store`);
    const node = JSON.parse(row.body) as RawNode;
    this.remember(hash, node);
    return node;
  }

  /** The whole directory (pages assembled). Shared: never mutate it. */
  get(hash: string): TreeBody {
    const node = this.raw(hash);
    if (!node.p) return node as TreeBody;
    const hit = this.assembled.get(hash);
    if (hit) return hit;
    const e: Array<[string, TreeEntry]> = [];
    for (const [, ph] of node.p) for (const it of this.raw(ph).e ?? []) e.push(it);
    const body: TreeBody = { e };
    if (node.links) body.links = node.links;
    if (node.root) body.root = node.root;
    this.assembled.set(hash, body);
    if (this.assembled.size > this.maxAssembled) this.assembled.delete(this.assembled.keys().next().value!);
    return body;
  }

  /** Root-only attributes of a node (cheap: never assembles pages). */
  meta(hash: string): { links?: Record<string, string[]>; root?: { m: number; mt: number; xa?: Record<string, string> } } {
    const n = this.raw(hash);
    return { links: n.links, root: n.root };
  }

  /** Page references of a directory (a flat directory is one page: itself). */
  pages(hash: string): PageRef[] {
    const n = this.raw(hash);
    if (n.p) return n.p;
    const e = n.e ?? [];
    return [[e.length ? e[e.length - 1]![0] : '', hash, e.length, e.filter(([, x]) => x.t === 'd').length]];
  }

  /** Entries of one page (or of a flat directory). */
  pageEntries(pageHash: string): Array<[string, TreeEntry]> {
    return this.raw(pageHash).e ?? [];
  }

  /** Child `name` of directory `hash`, in O(log n) (binary search of the index, then the page). */
  childOf(hash: string, name: string): TreeEntry | undefined {
    const n = this.raw(hash);
    if (!n.p) return this.child(n as TreeBody, name);
    const i = pageIndexFor(n.p, name);
    return this.child({ e: this.raw(n.p[i]![1]).e ?? [] }, name);
  }

  /** Number of entries and of subdirectories of a directory, without assembling it. */
  counts(hash: string): { entries: number; subdirs: number } {
    let entries = 0;
    let subdirs = 0;
    for (const [, , c, d] of this.pages(hash)) {
      entries += c;
      subdirs += d;
    }
    return { entries, subdirs };
  }

  /** Store a whole directory (entries in any order); returns its hash. */
  put(body: TreeBody): string {
    const sorted = [...body.e].sort(([a], [b]) => cmp(a, b)).map(([n, e]): [string, TreeEntry] => [n, canonicalEntry(e)]);
    return this.putPages(
      paginate(sorted).map((pg) => this.pageRef(pg)),
      body,
    );
  }

  /**
   * A new version of directory `base` with `changes` applied (entry, or null to remove), rewriting
   * only the pages the changes fall in (see the module comment). `attrs` gives the root-only fields
   * of the result. Entries in `changes` must already be resolved (directories have their `tr`).
   */
  update(base: string, changes: Map<string, TreeEntry | null>, attrs: Pick<TreeBody, 'links' | 'root'> = {}): string {
    const refs = this.pages(base);
    if (changes.size === 0) return this.putPages(refs, attrs);
    const byPage = new Map<number, Array<[string, TreeEntry | null]>>();
    for (const [name, e] of changes) {
      const i = pageIndexFor(refs, name);
      let list = byPage.get(i);
      if (!list) byPage.set(i, (list = []));
      list.push([name, e]);
    }
    // Rewrite every touched page and the page after each (a removed boundary merges into it):
    // a run's first page starts after an untouched boundary and its last ends at one, so
    // re-paginating the run alone gives exactly what paginating the whole directory would.
    const region = new Set<number>();
    for (const i of byPage.keys()) {
      region.add(i);
      if (i + 1 < refs.length) region.add(i + 1);
    }
    const idx = [...region].sort((x, y) => x - y);
    const out: PageRef[] = [];
    let next = 0;
    for (let r = 0; r < idx.length; ) {
      const a = idx[r]!;
      let b = a;
      while (r + 1 < idx.length && idx[r + 1] === b + 1) b = idx[++r]!;
      r++;
      for (; next < a; next++) out.push(refs[next]!);
      const merged = new Map<string, TreeEntry>();
      for (let i = a; i <= b; i++) for (const [n, e] of this.pageEntries(refs[i]![1])) merged.set(n, e);
      for (let i = a; i <= b; i++) for (const [n, e] of byPage.get(i) ?? []) e ? merged.set(n, canonicalEntry(e)) : merged.delete(n);
      const entries = [...merged].sort(([x], [y]) => cmp(x, y));
      if (entries.length) for (const pg of paginate(entries)) out.push(this.pageRef(pg));
      next = b + 1;
    }
    for (; next < refs.length; next++) out.push(refs[next]!);
    return this.putPages(out, attrs);
  }

  private pageRef(entries: Array<[string, TreeEntry]>): PageRef {
    const hash = this.putNode({ e: entries });
    return [entries.length ? entries[entries.length - 1]![0] : '', hash, entries.length, entries.filter(([, x]) => x.t === 'd').length];
  }

  /** A directory node from its pages: flat when it is one page (or none), else an index. */
  private putPages(refs: PageRef[], attrs: Pick<TreeBody, 'links' | 'root'>): string {
    const live = refs.filter((r) => r[2] > 0);
    const node: RawNode = live.length <= 1 ? { e: live.length ? this.pageEntries(live[0]![1]) : [] } : { p: live };
    if (attrs.links && Object.keys(attrs.links).length) {
      const links = Object.fromEntries(
        Object.entries(attrs.links)
          .filter(([, paths]) => paths.length > 0)
          .sort(([a], [b]) => cmp(a, b))
          .map(([k, v]) => [k, [...v].sort(cmp)]),
      );
      if (Object.keys(links).length) node.links = links;
    }
    // Default attributes of "/" are implied, so an emptied tree is the empty tree again.
    if (attrs.root && (attrs.root.m !== (S_IFDIR | 0o755) || attrs.root.mt !== 0 || (attrs.root.xa && Object.keys(attrs.root.xa).length))) {
      node.root = { m: attrs.root.m, mt: attrs.root.mt };
      if (attrs.root.xa && Object.keys(attrs.root.xa).length) node.root.xa = attrs.root.xa;
    }
    return this.putNode(node);
  }

  private putNode(node: RawNode): string {
    const json = JSON.stringify(node);
    const hash = 'sha256:' + createHash('sha256').update(json).digest('hex');
    this.stamp(hash);
    if (!this.cache.has(hash)) {
      this.putStmt.run(hash, json);
      this.remember(hash, node);
    }
    return hash;
  }

  private remember(hash: string, node: RawNode): void {
    this.cache.set(hash, node);
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Hashes a node refers to directly: its pages, and every subdirectory's tree (GC marking). */
  children(hash: string): string[] {
    const n = this.raw(hash);
    const out: string[] = [];
    const scan = (e: Array<[string, TreeEntry]>) => {
      for (const [, x] of e) if (x.t === 'd' && x.tr) out.push(x.tr);
    };
    if (n.p) {
      for (const [, ph] of n.p) {
        out.push(ph);
        scan(this.raw(ph).e ?? []);
      }
    } else scan(n.e ?? []);
    return out;
  }

  /** GC recency (store/recency.ts). */
  private recent = new RecentlyTouched();

  private stamp(hash: string): void {
    this.recent.stamp(hash);
  }

  /** Nodes put at or after `since` (GC: they are live whatever the roots say). */
  recentlyPut(since: number): Set<string> {
    return this.recent.since(since);
  }

  /** Forget cached nodes GC deleted, so a later put writes them again. */
  forget(hashes: readonly string[]): void {
    for (const h of hashes) {
      this.cache.delete(h);
      this.assembled.delete(h);
    }
  }

  /** Find one child entry of a flat body by name (binary search). */
  child(tree: Pick<TreeBody, 'e'>, name: string): TreeEntry | undefined {
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
    const root = this.raw(rootHash).root;
    return { t: 'd', m: root?.m ?? S_IFDIR | 0o755, mt: root?.mt ?? 0, tr: rootHash, xa: root?.xa };
  }

  /** Resolve a validated absolute path in a root tree. Symlinks are not followed. */
  lookup(rootHash: string, path: string): TreeEntry | undefined {
    let entry = this.rootEntry(rootHash);
    for (const part of splitPath(path)) {
      if (entry.t !== 'd') return undefined;
      const next = this.childOf(entry.tr!, part);
      if (!next) return undefined;
      entry = next;
    }
    return entry;
  }

  /** Hard-link groups of a root. */
  links(rootHash: string): Record<string, string[]> {
    return this.raw(rootHash).links ?? {};
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


/** Index of the page whose name range holds `name`: the first with lastName ≥ name, else the last. */
function pageIndexFor(refs: PageRef[], name: string): number {
  let lo = 0;
  let hi = refs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(refs[mid]![0], name) >= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
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

export { TreeEditor } from './tree-editor.js';
