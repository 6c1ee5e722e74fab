// GET /v1/sessions/{sessionId}/manifest against a real gateway: the seed 001 §3 example, paging,
// prefix boundaries, maxDepth, CAS extents, page tokens and manifest hashes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const sha = (b: string | Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('manifest route', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function newSession(token?: string): Promise<string> {
    const r = await t.call('POST', '/v1/sessions', {}, token);
    expect(r.status).toBe(200);
    return r.body.id as string;
  }
  async function ok(method: string, path: string, body?: unknown, token?: string) {
    const r = await t.call(method, path, body, token);
    if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
  const writeMany = (sid: string, files: Record<string, string>) =>
    ok('POST', `/v1/sessions/${sid}/batch`, { operations: Object.entries(files).map(([path, c]) => ({ write: { path, content: b64(c) } })) });
  const paths = (r: any) => r.nodes.map((n: any) => n.path);

  it('answers the seed example shape (pathPrefix=/src&pageSize=2&includeCasExtents=true)', async () => {
    const sid = await newSession();
    const main = 'x'.repeat(1284);
    await writeMany(sid, { '/src/main.ts': main, '/src/util.ts': 'u', '/README.md': 'r' });
    const r = await t.call('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/src&pageSize=2&includeCasExtents=true`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['manifestHash', 'nextPageToken', 'nodes']);
    expect(r.body.nodes).toHaveLength(2);
    const [dir, file] = r.body.nodes;
    expect(dir).toMatchObject({ path: '/src', fileType: 'VFS_FILE_TYPE_DIRECTORY', sizeBytes: '0', contentHash: '', mode: 16877 });
    expect(dir.casExtents).toBeUndefined();
    expect(file).toMatchObject({ path: '/src/main.ts', fileType: 'VFS_FILE_TYPE_FILE', sizeBytes: '1284', contentHash: sha(main), mode: 33188 });
    expect(file.casExtents).toHaveLength(1);
    expect(file.casExtents[0]).toMatchObject({ offset: '0', length: '1284', casOffset: '0' });
    expect(file.casExtents[0].hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Extension fields.
    expect(file.nlink).toBe(1);
    expect(file.modifiedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(file.xattrNames).toBeUndefined();
    expect(file.symlinkTarget).toBeUndefined();
    expect(dir.nlink).toBe(2);
    expect(r.body.nextPageToken).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(r.body.manifestHash).toMatch(/^mf_[0-9A-Z]{26}$/);
    const next = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/src&pageSize=2&includeCasExtents=true&pageToken=${r.body.nextPageToken}`);
    expect(paths(next)).toEqual(['/src/util.ts']);
    expect(next.nextPageToken).toBe('');
    expect(next.manifestHash).toBe(r.body.manifestHash);
  });

  it('pages over a few hundred nodes with pageSize 7: every node exactly once, in byte order', async () => {
    const sid = await newSession();
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`/tree/d${i % 9}/sub${i % 4}/f-${i}.txt`] = `file ${i}`;
    // Names that sort differently in byte order than in a naive depth-first walk.
    Object.assign(files, { '/tree/d1-x.txt': 'a', '/tree/d1.txt': 'b', '/tree/d1/sub0-z': 'c', '/tree/D0': 'd' });
    await writeMany(sid, files);
    const full = await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=10000`);
    expect(full.nextPageToken).toBe('');
    const all = paths(full);
    expect(all).toEqual([...all].sort(byteOrder));
    expect(new Set(all).size).toBe(all.length);
    for (const f of Object.keys(files)) expect(all).toContain(f);
    expect(all).not.toContain('/');

    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const r = await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=7${token ? `&pageToken=${token}` : ''}`);
      expect(r.nodes.length).toBeLessThanOrEqual(7);
      expect(r.manifestHash).toBe(full.manifestHash);
      seen.push(...paths(r));
      token = r.nextPageToken;
      pages++;
    } while (token);
    expect(seen).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 7));
  });

  it('a token from a changed tree resumes by path; manifestHash tracks changes', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/a': '1', '/b': '2', '/c': '3', '/d': '4' });
    const p1 = await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=2`);
    expect(paths(p1)).toEqual(['/a', '/b']);
    await writeMany(sid, { '/aa': 'new', '/e': '5' });
    const p2 = await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=10&pageToken=${p1.nextPageToken}`);
    expect(paths(p2)).toEqual(['/c', '/d', '/e']);
    expect(p2.manifestHash).not.toBe(p1.manifestHash);
    // Same tree ⇒ same hash: repeated reads, and a fork (which shares the root tree).
    expect((await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=1`)).manifestHash).toBe(p2.manifestHash);
    const fork = await ok('POST', `/v1/sessions/${sid}/fork`, {});
    expect((await ok('GET', `/v1/sessions/${fork.id}/manifest`)).manifestHash).toBe(p2.manifestHash);
    // A metadata-only change still yields a new hash.
    await ok('POST', `/v1/sessions/${fork.id}:setXattr`, { path: '/a', name: 'user.x', value: '' });
    expect((await ok('GET', `/v1/sessions/${fork.id}/manifest`)).manifestHash).not.toBe(p2.manifestHash);
  });

  it('matches pathPrefix on path boundaries; a missing prefix is an empty page', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/src/a.ts': 'a', '/srcx/b.ts': 'b', '/src.txt': 'c' });
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/src`))).toEqual(['/src', '/src/a.ts']);
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/srcx`))).toEqual(['/srcx', '/srcx/b.ts']);
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/src/a.ts`))).toEqual(['/src/a.ts']);
    expect(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/nope`)).toMatchObject({ nodes: [], nextPageToken: '' });
    expect(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/src/a.ts/deeper`)).toMatchObject({ nodes: [], nextPageToken: '' });
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=`))).toEqual(['/src', '/src.txt', '/src/a.ts', '/srcx', '/srcx/b.ts']);
    // Byte order: "." (0x2e) sorts before "/" (0x2f), so /src.txt comes between /src and /src/a.ts.
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/`))).toEqual(['/src', '/src.txt', '/src/a.ts', '/srcx', '/srcx/b.ts']);
  });

  it('limits depth with maxDepth', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/a/b/c/d.txt': 'd', '/a/e.txt': 'e', '/f.txt': 'f' });
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?maxDepth=1`))).toEqual(['/a', '/f.txt']);
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/a&maxDepth=1`))).toEqual(['/a', '/a/b', '/a/e.txt']);
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/a&maxDepth=2`))).toEqual(['/a', '/a/b', '/a/b/c', '/a/e.txt']);
    expect(paths(await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/a&maxDepth=0`))).toEqual(['/a', '/a/b', '/a/b/c', '/a/b/c/d.txt', '/a/e.txt']);
    // Paging within a depth-limited listing.
    const p1 = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/a&maxDepth=1&pageSize=2`);
    expect(paths(p1)).toEqual(['/a', '/a/b']);
    const p2 = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/a&maxDepth=1&pageSize=2&pageToken=${p1.nextPageToken}`);
    expect(paths(p2)).toEqual(['/a/e.txt']);
    expect(p2.nextPageToken).toBe('');
  });

  it('includes casExtents only when asked, and only for files', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/f': 'content', '/empty': '' });
    await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/l', target: 'f' });
    const without = await ok('GET', `/v1/sessions/${sid}/manifest`);
    for (const n of without.nodes) expect(n.casExtents).toBeUndefined();
    const withX = await ok('GET', `/v1/sessions/${sid}/manifest?includeCasExtents=true`);
    const byPath = Object.fromEntries(withX.nodes.map((n: any) => [n.path, n]));
    expect(byPath['/f'].casExtents).toHaveLength(1);
    expect(byPath['/empty']).toMatchObject({ sizeBytes: '0', contentHash: sha(''), casExtents: [] });
    expect(byPath['/l'].casExtents).toBeUndefined();
    expect(byPath['/l']).toMatchObject({ fileType: 'VFS_FILE_TYPE_SYMLINK', sizeBytes: '1', contentHash: '', mode: 41471, symlinkTarget: 'f', nlink: 1 });
  });

  it('reports nlink for hard links and subdirectories, and xattrNames', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/d/sub1/x': 'x', '/d/sub2/y': 'y', '/d/file': 'f' });
    await ok('POST', `/v1/sessions/${sid}:link`, { srcPath: '/d/file', dstPath: '/d/file2' });
    await ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name: 'user.k', value: b64('v') });
    const r = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=/d&maxDepth=1`);
    const byPath = Object.fromEntries(r.nodes.map((n: any) => [n.path, n]));
    expect(byPath['/d'].nlink).toBe(4);
    expect(byPath['/d'].xattrNames).toEqual(['user.k']);
    expect(byPath['/d/file'].nlink).toBe(2);
    expect(byPath['/d/file2'].nlink).toBe(2);
  });

  it('validates query parameters', async () => {
    const sid = await newSession();
    await writeMany(sid, { '/a': 'a' });
    const bad = async (q: string) => {
      const r = await t.call('GET', `/v1/sessions/${sid}/manifest?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body).toMatchObject({ code: 3, details: [] });
    };
    await bad('pageToken=junk!');
    await bad('pageToken=' + Buffer.from('{"x":1}').toString('base64url'));
    await bad('pageToken=' + Buffer.from('{"p":"relative","r":"x"}').toString('base64url'));
    await bad('pageToken=' + Buffer.from('not json').toString('base64url'));
    await bad('pageSize=-1');
    await bad('pageSize=abc');
    await bad('maxDepth=-2');
    await bad('includeCasExtents=maybe');
    await bad('pathPrefix=src');
    await bad('pathPrefix=/a/../b');
    // pageSize above the maximum is capped, 0 is the default.
    expect((await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=50000`)).nodes).toHaveLength(1);
    expect((await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=0`)).nodes).toHaveLength(1);
  });

  it("another tenant's token gets 404 for the session; an empty session lists nothing", async () => {
    const sid = await newSession();
    const other = await t.tokenFor('manifest-other');
    const r = await t.call('GET', `/v1/sessions/${sid}/manifest`, undefined, other);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe(5);
    const e = await ok('GET', `/v1/sessions/${sid}/manifest`);
    expect(e).toMatchObject({ nodes: [], nextPageToken: '' });
    await expect(t.call('GET', `/v1/sessions/sess_missing/manifest`)).resolves.toMatchObject({ status: 404 });
  });
});
