// Randomized model test of the tree store (issue 9): random writes, deletes, mkdirs, renames,
// forks, checkpoints and restores through TreeEditor, checked against an in-memory reference
// (path → entry). Directories grow past the page fanout so paged nodes, page splits and merges
// are exercised. After every step the walk equals the model; periodically the root hash equals
// the hash of the same content built from scratch in one editor (history independence, so the
// manifestHash of equal content is equal whatever edits produced it).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../src/gateway/db/database.js';
import { TreeStore, TreeEditor, S_IFREG, S_IFDIR, type TreeEntry } from '../../../src/gateway/store/tree-store.js';
import { manifestHashOf } from '../../../src/gateway/fs/render.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Model = Map<string, TreeEntry>;
const dir = (): TreeEntry => ({ t: 'd', m: S_IFDIR | 0o755, mt: 1 });
const file = (n: number): TreeEntry => ({ t: 'f', m: S_IFREG | 0o644, mt: 1, s: n, h: 'sha256:' + n.toString(16).padStart(64, '0'), x: [] });
const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';

function build(store: TreeStore, model: Model): string {
  const ed = new TreeEditor(store, store.emptyTree);
  const paths = [...model.keys()].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1));
  for (const p of paths) ed.set(p, { ...model.get(p)! });
  return ed.commit();
}

function deepDump(store: TreeStore, hash: string): unknown {
  const b = store.get(hash);
  return { links: b.links, root: b.root, pages: store.pages(hash).map((r) => [r[0], r[2], r[3]]), e: b.e.map(([n, e]) => [n, e.t === 'd' ? { ...e, tr: deepDump(store, e.tr!) } : e]) };
}

function snapshot(store: TreeStore, root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { path, entry } of store.walk(root, '/')) {
    if (path === '/') continue;
    out.set(path, entry.t === 'f' ? `f:${entry.s}` : entry.t);
  }
  return out;
}

function modelView(model: Model): Map<string, string> {
  return new Map([...model].map(([p, e]) => [p, e.t === 'f' ? `f:${e.s}` : e.t]).sort(([a], [b]) => (a < b ? -1 : 1)) as Array<[string, string]>);
}

describe('tree store against an in-memory model', () => {
  let db: Db;
  let store: TreeStore;
  beforeEach(() => {
    db = openDatabase(':memory:');
    store = new TreeStore(db);
  });
  afterEach(() => db.close());

  for (const seed of [1, 2, 3]) {
    it(`random edits, forks, checkpoints and restores agree with the model (seed ${seed})`, () => {
      const rnd = prng(seed);
      const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const dirs = ['/', '/big', '/big/sub', '/a', '/a/b'];
      let model: Model = new Map();
      let root = store.emptyTree;
      {
        const ed = new TreeEditor(store, root);
        for (const d of dirs.slice(1)) {
          ed.set(d, dir());
          model.set(d, dir());
        }
        root = ed.commit();
      }
      const saved: Array<{ root: string; model: Model }> = [];
      let counter = 0;
      let maxPages = 0;
      for (let step = 0; step < 400; step++) {
        const ed = new TreeEditor(store, root);
        const ops = 1 + Math.floor(rnd() * 8);
        for (let k = 0; k < ops; k++) {
          const r = rnd();
          const liveDirs = [...model.entries()].filter(([, e]) => e.t === 'd').map(([p]) => p).concat('/');
          if (r < 0.45) {
            // Write: mostly into /big so it grows past many pages.
            const d = rnd() < 0.7 && model.has('/big') ? '/big' : pick(liveDirs);
            const p = (d === '/' ? '' : d) + '/n' + Math.floor(rnd() * 3000);
            const cur = model.get(p);
            if (cur?.t === 'd') continue;
            const e = file(++counter);
            ed.set(p, e);
            model.set(p, e);
          } else if (r < 0.6) {
            const files = [...model.entries()].filter(([, e]) => e.t === 'f').map(([p]) => p);
            if (!files.length) continue;
            const p = pick(files);
            ed.remove(p);
            model.delete(p);
          } else if (r < 0.78) {
            const d = pick(liveDirs);
            const p = (d === '/' ? '' : d) + '/d' + Math.floor(rnd() * 20);
            if (model.has(p)) continue;
            ed.set(p, dir());
            model.set(p, dir());
          } else if (r < 0.95) {
            // Rename a file or directory to a fresh name somewhere else.
            const all = [...model.keys()].filter((q) => q !== '/big'); // /big stays, and grows
            if (!all.length) continue;
            const src = pick(all);
            const d = pick(liveDirs);
            const dst = (d === '/' ? '' : d) + '/m' + Math.floor(rnd() * 900);
            if (model.has(dst) || dst === src || dst.startsWith(src + '/')) continue;
            ed.move(src, dst);
            for (const [p, e] of [...model]) {
              if (p === src || p.startsWith(src + '/')) {
                model.delete(p);
                model.set(dst + p.slice(src.length), e);
              }
            }
          } else {
            const ds = [...model.entries()].filter(([p, e]) => e.t === 'd' && p !== '/big').map(([p]) => p);
            if (!ds.length) continue;
            const p = pick(ds);
            ed.remove(p);
            for (const q of [...model.keys()]) if (q === p || q.startsWith(p + '/')) model.delete(q);
          }
        }
        // Reads through the editor see the pending edits.
        for (const p of [...model.keys()].slice(0, 20)) expect(ed.get(p)?.t).toBe(model.get(p)!.t);
        root = ed.commit();
        expect(snapshot(store, root)).toEqual(modelView(model));
        for (const p of [...model.keys()].slice(-5)) expect(store.lookup(root, p)?.t).toBe(model.get(p)!.t);

        const c = rnd();
        if (c < 0.1) saved.push({ root, model: new Map(model) }); // checkpoint / fork: O(1), a root hash
        else if (c < 0.15 && saved.length) {
          const s = pick(saved); // restore
          root = s.root;
          model = new Map(s.model);
          expect(snapshot(store, root)).toEqual(modelView(model));
        }
        maxPages = Math.max(maxPages, store.pages(store.lookup(root, '/big')!.tr!).length);
        if (step % 25 === 0 || step === 399) {
          // History independence: the same content built in one go has the same hash.
          const fresh = build(store, model);
          if (fresh !== root) expect(deepDump(store, root)).toEqual(deepDump(store, fresh));
          expect(fresh).toBe(root);
          expect(manifestHashOf(fresh)).toBe(manifestHashOf(root));
        }
      }
      // The big directory really was paged at some point (the test exercises pages).
      expect(maxPages).toBeGreaterThanOrEqual(3);
      // Saved roots still read back as saved (nothing shared was mutated).
      for (const s of saved) expect(snapshot(store, s.root)).toEqual(modelView(s.model));
    });
  }

  it('a change in a large directory rewrites a bounded number of bytes', () => {
    const ed = new TreeEditor(store, store.emptyTree);
    ed.set('/d', dir());
    for (let i = 0; i < 10_000; i++) ed.set(`/d/f${i}`, file(i));
    let root = ed.commit();
    const bytes = () => (db.prepare('SELECT COALESCE(SUM(length(body)), 0) AS b FROM trees').get() as { b: number }).b;
    const before = bytes();
    for (let i = 0; i < 20; i++) {
      const e2 = new TreeEditor(store, root);
      e2.set(`/d/f${i * 7}`, file(100_000 + i));
      root = e2.commit();
    }
    const perWrite = (bytes() - before) / 20;
    // The whole directory is ~1.3 MB; one write stores a page (~64 entries) and the index.
    expect(perWrite).toBeLessThan(40_000);
  });
});
