// Listing a session tree in path byte order, the order the public contract promises for the
// manifest and symlink listings ("/a", "/a-b", "/a/c": '-' sorts before '/'). A plain depth-first
// walk would emit "/a/c" before "/a-b"; here each directory contributes two sort keys, `name` for
// itself and `name/` for its subtree, which yields exact byte order while still visiting each
// subtree as one contiguous block. Listings resume strictly after a path (page tokens store the
// last path served), which stays well-defined when the tree changed between pages.
//
// Callers: routes/manifest.ts, routes/files.ts (symlink listing). Reads committed trees only.
import type { TreeEntry, TreeStore } from '../store/tree-store.js';
import { joinPath } from '../http/validate.js';

/**
 * Compare two strings by Unicode code point, i.e. by their UTF-8 bytes. JS `<` compares UTF-16
 * code units, which disagrees for characters above U+FFFF versus U+E000..U+FFFF; the shift below
 * moves surrogates above every other code unit so both orders agree.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

export interface WalkOptions {
  /** Resume strictly after this path (byte order). */
  after?: string;
  /** 0 = unlimited; 1 = the prefix and its direct children; n = n levels below the prefix. */
  maxDepth?: number;
}

/**
 * Every node at or below `prefix` in byte order of their paths, excluding the root "/" itself.
 * A prefix that does not exist yields nothing. Lazy: a page reads only the trees it needs.
 */
export function* walkSorted(trees: TreeStore, root: string, prefix: string, opts: WalkOptions = {}): Generator<{ path: string; entry: TreeEntry }> {
  const start = trees.lookup(root, prefix);
  if (!start) return;
  const after = opts.after;
  const maxDepth = opts.maxDepth ?? 0;
  if (prefix !== '/') {
    if (after === undefined || compareBytes(prefix, after) > 0) yield { path: prefix, entry: start };
  }
  if (start.t !== 'd') return;
  const sub = prefix === '/' ? '/' : prefix + '/';
  if (after !== undefined && !after.startsWith(sub) && compareBytes(sub, after) < 0) return;
  yield* walkChildren(trees, start, prefix, after !== undefined && after.startsWith(sub) ? after : undefined, maxDepth, 1);
}

interface Item {
  key: string;
  name: string;
  entry: TreeEntry;
  subtree: boolean;
}

/** Sorted items of a directory body, kept while the (immutable, cached) body object lives. */
const itemsOf = new WeakMap<object, Item[]>();

function sortedItems(body: { e: Array<[string, TreeEntry]> }): Item[] {
  const hit = itemsOf.get(body);
  if (hit) return hit;
  // Sort keys: a child's own path, and for directories its subtree ("name/...").
  const items: Item[] = [];
  for (const [name, entry] of body.e) {
    items.push({ key: name, name, entry, subtree: false });
    if (entry.t === 'd') items.push({ key: name + '/', name, entry, subtree: true });
  }
  items.sort((a, b) => compareBytes(a.key, b.key));
  itemsOf.set(body, items);
  return items;
}

function* walkChildren(
  trees: TreeStore,
  dir: TreeEntry,
  dirPath: string,
  after: string | undefined,
  maxDepth: number,
  depth: number,
): Generator<{ path: string; entry: TreeEntry }> {
  if (maxDepth > 0 && depth > maxDepth) return;
  const items = sortedItems(trees.get(dir.tr!));
  // Resuming inside this directory: skip, by binary search, every item sorting before the
  // component `after` continues with (its paths all sort before `after`); a page of a 10,000-entry
  // directory costs O(page), not O(directory) (issue 9).
  let from = 0;
  if (after !== undefined) {
    const rest = after.slice(dirPath === '/' ? 1 : dirPath.length + 1);
    const slash = rest.indexOf('/');
    const c = slash < 0 ? rest : rest.slice(0, slash);
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareBytes(items[mid]!.key, c) < 0) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
  }
  for (let i = from; i < items.length; i++) {
    const it = items[i]!;
    const path = joinPath(dirPath, it.name);
    if (!it.subtree) {
      if (after === undefined || compareBytes(path, after) > 0) yield { path, entry: it.entry };
      continue;
    }
    const sub = path + '/';
    if (after === undefined) {
      yield* walkChildren(trees, it.entry, path, undefined, maxDepth, depth + 1);
    } else if (after.startsWith(sub)) {
      yield* walkChildren(trees, it.entry, path, after, maxDepth, depth + 1);
    } else if (compareBytes(sub, after) > 0) {
      yield* walkChildren(trees, it.entry, path, undefined, maxDepth, depth + 1);
    }
    // else: every path in this subtree sorts before `after`, skip it whole.
  }
}

