import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../src/gateway/db/database.js';
import { TreeStore, TreeEditor, S_IFREG, S_IFDIR } from '../../../src/gateway/store/tree-store.js';
import { chunkBoundaries } from '../../../src/gateway/store/chunker.js';
import { randomBytes } from 'node:crypto';

const file = (size: number, h = 'sha256:' + '0'.repeat(64)) => ({ t: 'f' as const, m: S_IFREG | 0o644, mt: 1, s: size, h, x: [] });

describe('TreeStore / TreeEditor', () => {
  let db: Db;
  let store: TreeStore;
  beforeEach(() => {
    db = openDatabase(':memory:');
    store = new TreeStore(db);
  });
  afterEach(() => db.close());

  it('builds nested trees copy-on-write and shares unchanged subtrees', () => {
    const ed = new TreeEditor(store, store.emptyTree);
    ed.mkdirs('/a/b');
    ed.set('/a/b/f.txt', file(3));
    ed.set('/a/g.txt', file(4));
    const r1 = ed.commit();
    expect(store.lookup(r1, '/a/b/f.txt')?.s).toBe(3);
    const ed2 = new TreeEditor(store, r1);
    ed2.set('/a/g.txt', file(5));
    const r2 = ed2.commit();
    expect(store.lookup(r1, '/a/g.txt')?.s).toBe(4); // old root unchanged
    expect(store.lookup(r2, '/a/g.txt')?.s).toBe(5);
    expect(store.lookup(r2, '/a/b')?.tr).toBe(store.lookup(r1, '/a/b')?.tr); // shared subtree
  });

  it('equal content gives equal root hashes', () => {
    const a = new TreeEditor(store, store.emptyTree);
    a.mkdirs('/x');
    a.set('/x/1', file(1));
    const b = new TreeEditor(store, store.emptyTree);
    b.set('/x', { t: 'd', m: S_IFDIR | 0o755, mt: a.get('/x')!.mt });
    b.set('/x/1', file(1));
    expect(a.commit()).toBe(b.commit());
  });

  it('moves subtrees with pending edits', () => {
    const ed = new TreeEditor(store, store.emptyTree);
    ed.mkdirs('/src/deep');
    ed.set('/src/deep/f', file(1));
    ed.move('/src', '/dst');
    const r = ed.commit();
    expect(store.lookup(r, '/src')).toBeUndefined();
    expect(store.lookup(r, '/dst/deep/f')?.s).toBe(1);
  });

  it('walks depth-first and resumes after a path', () => {
    const ed = new TreeEditor(store, store.emptyTree);
    for (const p of ['/a/b/c', '/a/d', '/a-b/e', '/z']) {
      ed.mkdirs(p.slice(0, p.lastIndexOf('/')) || '/');
      ed.set(p, file(1));
    }
    const r = ed.commit();
    const all = [...store.walk(r, '/')].map((n) => n.path);
    expect(all).toEqual(['/', '/a', '/a/b', '/a/b/c', '/a/d', '/a-b', '/a-b/e', '/z']);
    const rest = [...store.walk(r, '/', '/a/b')].map((n) => n.path);
    expect(rest).toEqual(['/a/b/c', '/a/d', '/a-b', '/a-b/e', '/z']);
    const shallow = [...store.walk(r, '/a', undefined, 1)].map((n) => n.path);
    expect(shallow).toEqual(['/a', '/a/b', '/a/d']);
  });
});

describe('chunker', () => {
  it('keeps boundaries stable after an edit in the middle', () => {
    const data = randomBytes(12 * 1024 * 1024);
    const before = chunkBoundaries(data);
    const edited = Buffer.from(data);
    edited[6 * 1024 * 1024] ^= 0xff;
    const after = chunkBoundaries(edited);
    const sb = new Set(before);
    const common = after.filter((b) => sb.has(b)).length;
    expect(before.length).toBeGreaterThan(4);
    expect(after.length - common).toBeLessThanOrEqual(2);
    for (let i = 1; i < before.length; i++) expect(before[i]! - before[i - 1]!).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});
