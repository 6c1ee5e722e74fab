// Filesystem mutation routes against a real gateway: seed 001 sections 12–21 sent as printed
// (with real ids and, where the seed's hash cannot be reproduced, the real hash), plus the
// POSIX edge cases, atomicity, hard links, xattrs and the O(changed bytes) patch property.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const sha = (b: string | Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const SEED_HASH = 'sha256:0c9c7ca53c8f7d8b1efb62fdb5879f7ff6b6e2d9f0b3f0173d9d68c8a1d62d7d';
const BAD_PATHS = ['relative/path', '/a/../b', '/a/./b', '/a//b', '', '/trailing/'];

describe('filesystem routes', () => {
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
  async function expectCode(p: Promise<{ status: number; body: any }>, code: number, http?: number) {
    const r = await p;
    expect(r.body, JSON.stringify(r.body)).toMatchObject({ code, details: [] });
    expect(typeof r.body.message).toBe('string');
    if (http !== undefined) expect(r.status).toBe(http);
  }
  const write = (sid: string, path: string, content: string | Buffer, extra: Record<string, unknown> = {}) =>
    ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path, content: b64(content), expectedHash: '', ...extra } }] });
  async function node(sid: string, path: string) {
    const r = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=${encodeURIComponent(path)}&maxDepth=1&includeCasExtents=true`);
    const n = r.nodes.find((x: any) => x.path === path);
    return n as any;
  }
  async function readFile(sid: string, path: string): Promise<Buffer> {
    const { extents } = await ok('POST', `/v1/sessions/${sid}:getCasExtents`, { path });
    const parts: Buffer[] = [];
    for (const x of extents) {
      const len = Number(x.length);
      if (x.hash === '') {
        parts.push(Buffer.alloc(len));
        continue;
      }
      const start = Number(x.casOffset);
      const res = await fetch(`${t.url}/v1/sessions/${sid}/blobs/${encodeURIComponent(x.hash)}`, {
        headers: { authorization: `Bearer ${t.token}`, range: `bytes=${start}-${start + len - 1}` },
      });
      expect([200, 206]).toContain(res.status);
      parts.push(Buffer.from(await res.arrayBuffer()));
    }
    return Buffer.concat(parts);
  }
  const metrics = async () => {
    const m = await ok('GET', '/v1/metrics/cas');
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)])) as Record<string, number>;
  };
  const events = (sid: string) =>
    (t.gw.core.db.prepare('SELECT event_type AS type, details FROM events WHERE session_id = ? ORDER BY seq').all(sid) as Array<{ type: string; details: string }>).map(
      (e) => ({ type: e.type, details: JSON.parse(e.details) as Record<string, string> }),
    );
  const lastEvent = (sid: string) => events(sid).at(-1)!;

  describe('directories (seed 12, 13)', () => {
    it('creates a directory as printed, creating missing parents', async () => {
      const sid = await newSession();
      const r = await t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/src/features', mode: 493 });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      const n = await node(sid, '/src/features');
      expect(n).toMatchObject({ path: '/src/features', fileType: 'VFS_FILE_TYPE_DIRECTORY', sizeBytes: '0', contentHash: '', mode: 16877 });
      expect((await node(sid, '/src')).mode).toBe(16877);
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.CreateDirectory', details: { path: '/src/features', createdParents: '/src' } });
      // mode: permission bits only, 0 → 0755
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/private', mode: 448 });
      expect((await node(sid, '/private')).mode).toBe(0o40700);
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/plain' });
      expect((await node(sid, '/plain')).mode).toBe(0o40755);
    });

    it('refuses to create over an existing directory or file (6), or under a file (9)', async () => {
      const sid = await newSession();
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 });
      await expectCode(t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 }), 6, 409);
      await write(sid, '/f', 'x');
      await expectCode(t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/f', mode: 493 }), 6, 409);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/', mode: 493 }), 6);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/f/sub', mode: 493 }), 9);
    });

    it('removes only empty directories', async () => {
      const sid = await newSession();
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/src/old-feature', mode: 493 });
      const r = await t.call('DELETE', `/v1/sessions/${sid}/dirs?path=/src/old-feature`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      expect(await node(sid, '/src/old-feature')).toBeUndefined();
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.RemoveDirectory', details: { path: '/src/old-feature' } });
      await write(sid, '/src/keep.ts', 'x');
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/dirs?path=/src`), 9, 400);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/dirs?path=/src/keep.ts`), 9, 400);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/dirs?path=/nope`), 5, 404);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/dirs?path=/`), 3, 400);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/dirs`), 3, 400);
    });
  });

  describe('delete file (seed 15)', () => {
    it('deletes with an expectedHash guard', async () => {
      const sid = await newSession();
      await write(sid, '/src/obsolete.ts', 'export {};\n');
      // As printed: the seed's hash is not this file's content hash → ABORTED, nothing deleted.
      await expectCode(
        t.call('DELETE', `/v1/sessions/${sid}/files?path=/src/obsolete.ts&expectedHash=sha256%3A0c9c7ca53c8f7d8b1efb62fdb5879f7ff6b6e2d9f0b3f0173d9d68c8a1d62d7d`),
        10,
        409,
      );
      expect(await node(sid, '/src/obsolete.ts')).toBeDefined();
      const r = await t.call('DELETE', `/v1/sessions/${sid}/files?path=/src/obsolete.ts&expectedHash=${encodeURIComponent(sha('export {};\n'))}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      expect(await node(sid, '/src/obsolete.ts')).toBeUndefined();
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.DeleteFile', details: { path: '/src/obsolete.ts' } });
    });

    it('unconditional delete, symlinks, and the error cases', async () => {
      const sid = await newSession();
      await write(sid, '/a.txt', 'a');
      await ok('DELETE', `/v1/sessions/${sid}/files?path=/a.txt`);
      await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/l', target: 'x' });
      await ok('DELETE', `/v1/sessions/${sid}/files?path=/l&expectedHash=`);
      expect(await node(sid, '/l')).toBeUndefined();
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 });
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/files?path=/d`), 9);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/files?path=/missing`), 5, 404);
      await expectCode(t.call('DELETE', `/v1/sessions/${sid}/files?path=/d&expectedHash=nothex`), 3);
    });
  });

  describe('rename (seed 14)', () => {
    it('moves a file as printed (both spellings), creating the destination parent', async () => {
      const sid = await newSession();
      await write(sid, '/src/legacy/config.ts', 'cfg');
      const r = await t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/src/legacy/config.ts', destinationPath: '/src/config/index.ts' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      expect(await node(sid, '/src/legacy/config.ts')).toBeUndefined();
      expect(await node(sid, '/src/config/index.ts')).toMatchObject({ contentHash: sha('cfg'), sizeBytes: '3' });
      expect(lastEvent(sid)).toEqual({
        type: 'v1.FileSystemService.Rename',
        details: { sourcePath: '/src/legacy/config.ts', destinationPath: '/src/config/index.ts', createdParents: '/src/config' },
      });
      await ok('POST', `/v1/sessions/${sid}/rename`, { sourcePath: '/src/config/index.ts', destinationPath: '/src/index.ts' });
      expect(await readFile(sid, '/src/index.ts')).toEqual(Buffer.from('cfg'));
    });

    it('renames a directory with its contents, symlinks and hard links', async () => {
      const sid = await newSession();
      await write(sid, '/old/a/deep.txt', 'deep');
      await write(sid, '/old/b.txt', 'b');
      await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/old/link', target: 'b.txt' });
      await ok('POST', `/v1/sessions/${sid}:link`, { srcPath: '/old/b.txt', dstPath: '/outside.txt' });
      await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/old', destinationPath: '/new/place' });
      const m = await ok('GET', `/v1/sessions/${sid}/manifest`);
      expect(m.nodes.map((n: any) => n.path)).toEqual(['/new', '/new/place', '/new/place/a', '/new/place/a/deep.txt', '/new/place/b.txt', '/new/place/link', '/outside.txt']);
      expect(await readFile(sid, '/new/place/a/deep.txt')).toEqual(Buffer.from('deep'));
      // The hard link followed the move: writing one name still updates the other.
      await write(sid, '/outside.txt', 'B2');
      expect(await readFile(sid, '/new/place/b.txt')).toEqual(Buffer.from('B2'));
      expect((await node(sid, '/new/place/b.txt')).nlink).toBe(2);
    });

    it('follows rename(2) rules for existing destinations', async () => {
      const sid = await newSession();
      await write(sid, '/f1', 'one');
      await write(sid, '/f2', 'two');
      await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/f1', destinationPath: '/f2' }); // file over file: replaced
      expect(await node(sid, '/f1')).toBeUndefined();
      expect(await readFile(sid, '/f2')).toEqual(Buffer.from('one'));

      await write(sid, '/d1/x', 'x');
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/empty', mode: 493 });
      await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/d1', destinationPath: '/empty' }); // dir over empty dir
      expect(await readFile(sid, '/empty/x')).toEqual(Buffer.from('x'));

      await write(sid, '/d2/y', 'y');
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/d2', destinationPath: '/empty' }), 9, 400); // non-empty
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/f2', destinationPath: '/d2' }), 9); // file over dir
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/d2', destinationPath: '/f2' }), 9); // dir over file
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/d2', destinationPath: '/d2/inside' }), 3, 400);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/missing', destinationPath: '/x' }), 5, 404);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/f2', destinationPath: '/' }), 3);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/f2' }), 3);

      const before = (await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash;
      const nEvents = events(sid).length;
      await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/f2', destinationPath: '/f2' }); // same path: no-op
      expect((await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash).toBe(before);
      expect(events(sid).length).toBe(nEvents);
    });
  });

  describe('batch (seed 16)', () => {
    const seedBatch = (deleteHash: string) => ({
      operations: [
        { write: { path: '/src/generated/version.ts', content: 'ZXhwb3J0IGNvbnN0IFZFUlNJT04gPSAiMS4yLjAiOwo=', expectedHash: '' } },
        { delete: { path: '/src/obsolete.ts', expectedHash: deleteHash } },
        {
          segmentWrite: {
            path: '/src/changelog.txt',
            segments: [{ data: { offset: '0', content: 'Q2hhbmdlZCBsb2dpbiB2YWxpZGF0aW9uLgo=' } }],
            logicalSize: '25',
            expectedHash: '',
            mode: 33188,
          },
        },
      ],
    });

    it('is atomic: as printed, the delete guard fails and nothing is applied', async () => {
      const sid = await newSession();
      await write(sid, '/src/obsolete.ts', 'old\n');
      const before = await ok('GET', `/v1/sessions/${sid}/manifest`);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, seedBatch(SEED_HASH)), 10, 409);
      const after = await ok('GET', `/v1/sessions/${sid}/manifest`);
      expect(after.manifestHash).toBe(before.manifestHash);
      expect(after.nodes.map((n: any) => n.path)).toEqual(['/src', '/src/obsolete.ts']);
    });

    it('applies the seed batch with the real hash', async () => {
      const sid = await newSession();
      await write(sid, '/src/obsolete.ts', 'old\n');
      const r = await t.call('POST', `/v1/sessions/${sid}/batch`, seedBatch(sha('old\n')));
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
      expect(await readFile(sid, '/src/generated/version.ts')).toEqual(Buffer.from('export const VERSION = "1.2.0";\n'));
      expect(await node(sid, '/src/obsolete.ts')).toBeUndefined();
      const cl = await node(sid, '/src/changelog.txt');
      expect(cl).toMatchObject({ sizeBytes: '25', mode: 33188, contentHash: sha('Changed login validation.') });
      expect(await readFile(sid, '/src/changelog.txt')).toEqual(Buffer.from('Changed login validation.'));
      expect(lastEvent(sid)).toEqual({
        type: 'v1.FileSystemService.Batch',
        // Every changed path, including the parent directory the write created.
        details: { paths: '/src/generated,/src/generated/version.ts,/src/obsolete.ts,/src/changelog.txt', operationCount: '3' },
      });
    });

    it('later operations see earlier ones; a failing later op rolls back earlier ones', async () => {
      const sid = await newSession();
      await ok('POST', `/v1/sessions/${sid}/batch`, {
        operations: [
          { write: { path: '/x.txt', content: b64('hello world') } },
          { segmentWrite: { path: '/x.txt', segments: [{ data: { offset: '6', content: b64('WORLD') } }], logicalSize: '11', expectedHash: sha('hello world') } },
          { write: { path: '/gone.txt', content: b64('tmp') } },
          { delete: { path: '/gone.txt', expectedHash: sha('tmp') } },
        ],
      });
      expect(await readFile(sid, '/x.txt')).toEqual(Buffer.from('hello WORLD'));
      expect(await node(sid, '/gone.txt')).toBeUndefined();

      const before = (await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash;
      await expectCode(
        t.call('POST', `/v1/sessions/${sid}/batch`, {
          operations: [{ write: { path: '/new.txt', content: b64('n') } }, { delete: { path: '/does-not-exist' } }],
        }),
        5,
      );
      await expectCode(
        t.call('POST', `/v1/sessions/${sid}/batch`, {
          operations: [{ write: { path: '/new.txt', content: b64('n') } }, { write: { path: '/x.txt', content: b64('z'), expectedHash: SEED_HASH } }],
        }),
        10,
      );
      expect((await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash).toBe(before);
      expect(await node(sid, '/new.txt')).toBeUndefined();
    });

    it('normalizes modes: bare permission bits, full st_mode, 0 keeps the current mode', async () => {
      const sid = await newSession();
      await write(sid, '/a', 'a', { mode: 420 });
      expect((await node(sid, '/a')).mode).toBe(33188);
      await write(sid, '/a', 'b', { mode: 0o100755 });
      expect((await node(sid, '/a')).mode).toBe(0o100755);
      await write(sid, '/a', 'c', { mode: 0 });
      expect((await node(sid, '/a')).mode).toBe(0o100755);
      await write(sid, '/b', 'b');
      expect((await node(sid, '/b')).mode).toBe(33188);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/a', content: '', mode: -1 } }] }), 3);
    });

    it('rejects malformed operations with 3 and writes over directories with 9', async () => {
      const sid = await newSession();
      const bad = async (op: unknown) => expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [op] }), 3, 400);
      await bad({});
      await bad({ write: { path: '/a', content: 'QQ==' }, delete: { path: '/a' } });
      await bad({ write: { path: '/a', content: '***not base64***' } });
      await bad({ write: { path: '/a', content: 'QQ==', expectedHash: 'abc' } });
      await bad({ segmentWrite: { path: '/a', segments: [{ data: { offset: '-1', content: 'QQ==' } }] } });
      await bad({ segmentWrite: { path: '/a', segments: [{ data: { content: 'QQ==' }, hole: { length: '1' } }] } });
      await bad('write');
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: 'nope' }), 3);
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 });
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/d', content: 'QQ==' } }] }), 9);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ delete: { path: '/d' } }] }), 9);
      expect((await ok('GET', `/v1/sessions/${sid}/manifest`)).nodes.map((n: any) => n.path)).toEqual(['/d']);
    });

    it('counts received content bytes', async () => {
      const sid = await newSession();
      const m0 = await metrics();
      await write(sid, '/r', Buffer.alloc(1000, 7));
      const m1 = await metrics();
      expect(m1.bytesReceived - m0.bytesReceived).toBe(1000);
    });
  });

  describe('patchSegments (seed 17)', () => {
    it('applies the seed mutation (printed hash → 10, real hash → skippedPaths [])', async () => {
      const sid = await newSession();
      await write(sid, '/src/feature.flag', 'enabled=false\n');
      const body = (expectedHash: string) => ({
        mutations: [
          {
            path: '/src/feature.flag',
            segments: [{ data: { offset: '0', content: 'ZW5hYmxlZD10cnVlCg==' } }],
            logicalSize: '13',
            expectedHash,
            mode: 33188,
          },
        ],
        conflictPolicy: 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT',
      });
      await expectCode(t.call('POST', `/v1/sessions/${sid}/patchSegments`, body('sha256:2d4ed1af6f6fb9fb0f3c9ef5ec7849f9fe8f88c145d70ec4a34490e5f17f9f78')), 10, 409);
      const r = await t.call('POST', `/v1/sessions/${sid}/patchSegments`, body(sha('enabled=false\n')));
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ skippedPaths: [] });
      expect(await readFile(sid, '/src/feature.flag')).toEqual(Buffer.from('enabled=true\n'));
      expect(await node(sid, '/src/feature.flag')).toMatchObject({ sizeBytes: '13', contentHash: sha('enabled=true\n'), mode: 33188 });
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.PatchSegments', details: { paths: '/src/feature.flag', skippedPaths: '' } });
    });

    it('data, hole and borrowed segments; logicalSize truncates and zero-extends', async () => {
      const sid = await newSession();
      const KiB = 1024;
      const source = randomBytes(200 * KiB);
      await write(sid, '/src.bin', source);
      const src = await ok('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/src.bin' });
      expect(src.extents).toHaveLength(1);
      const blobHash = src.extents[0].hash;
      const m0 = await metrics();
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [
          {
            path: '/new/sparse.bin',
            segments: [
              { data: { offset: '0', content: b64('hello') } },
              { hole: { offset: '2', length: '2' } },
              { borrowed: { offset: '10', length: String(100 * KiB), hash: blobHash, casOffset: '3' } },
            ],
            logicalSize: String(10 + 200 * KiB),
          },
        ],
      });
      const m1 = await metrics();
      expect(m1.bytesReceived - m0.bytesReceived).toBe(5);
      expect(m1.bytesStored - m0.bytesStored).toBeLessThan(64); // only the tiny head was stored
      const want = Buffer.concat([Buffer.from('he\0\0o'), Buffer.alloc(5), source.subarray(3, 3 + 100 * KiB), Buffer.alloc(100 * KiB)]);
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(want);
      const n = await node(sid, '/new/sparse.bin');
      expect(n).toMatchObject({ sizeBytes: String(want.length), contentHash: sha(want), mode: 33188 });
      // The borrowed range references the existing blob; the trailing zero-extension is a hole.
      expect(n.casExtents[1]).toEqual({ offset: '10', length: String(100 * KiB), hash: blobHash, casOffset: '3' });
      expect(n.casExtents.at(-1)).toEqual({ offset: String(10 + 100 * KiB), length: String(100 * KiB), hash: '', casOffset: '0' });

      // Truncate.
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/new/sparse.bin', logicalSize: '3' }] });
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(Buffer.from('he\0'));
      // Extend with zeros, and a write past EOF leaves a hole gap.
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [{ path: '/new/sparse.bin', segments: [{ data: { offset: '6', content: b64('Z') } }], logicalSize: '9' }],
      });
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(Buffer.from('he\0\0\0\0Z\0\0'));
      // Absent logicalSize never truncates: the file keeps the size the segments leave it
      // (max of the current size and the end of the furthest segment).
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/new/sparse.bin' }] });
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(Buffer.from('he\0\0\0\0Z\0\0'));
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/new/sparse.bin', segments: [{ data: { offset: '1', content: b64('E') } }] }] });
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(Buffer.from('hE\0\0\0\0Z\0\0'));
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/new/sparse.bin', segments: [{ data: { offset: '9', content: b64('!!') } }] }] });
      expect(await readFile(sid, '/new/sparse.bin')).toEqual(Buffer.from('hE\0\0\0\0Z\0\0!!'));
      // An explicit "0" truncates to empty.
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/new/sparse.bin', logicalSize: '0' }] });
      expect(await node(sid, '/new/sparse.bin')).toMatchObject({ sizeBytes: '0', contentHash: sha('') });
    });

    it('borrowed segments need a blob the tenant holds (9) and a range inside it (3)', async () => {
      const sid = await newSession();
      await write(sid, '/f', '0123456789');
      const { extents } = await ok('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/f' });
      const h = extents[0].hash;
      const borrow = (hash: string, casOffset: string, length: string, token?: string, session = sid) =>
        t.call(
          'POST',
          `/v1/sessions/${session}/patchSegments`,
          { mutations: [{ path: '/g', segments: [{ borrowed: { offset: '0', length, hash, casOffset } }], logicalSize: length }] },
          token,
        );
      await expectCode(borrow(h, '8', '4'), 3);
      await expectCode(borrow('sha256:' + 'e'.repeat(64), '0', '1'), 9);
      await expectCode(borrow('not-a-hash', '0', '1'), 3);
      const other = await t.tokenFor('borrower');
      const otherSid = await newSession(other);
      await expectCode(borrow(h, '0', '4', other, otherSid), 9);
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: [{ path: '/g', segments: [{ borrowed: { offset: '0', length: '4', hash: h, casOffset: '6' } }], logicalSize: '4' }] });
      expect(await readFile(sid, '/g')).toEqual(Buffer.from('6789'));
    });

    it('SKIP_CONFLICTING applies the others and reports skipped paths; ABORT applies nothing', async () => {
      const sid = await newSession();
      await write(sid, '/a', 'a');
      await write(sid, '/b', 'b');
      const muts = [
        { path: '/a', segments: [{ data: { offset: '0', content: b64('A') } }], logicalSize: '1', expectedHash: sha('a') },
        { path: '/b', segments: [{ data: { offset: '0', content: b64('B') } }], logicalSize: '1', expectedHash: SEED_HASH },
        { path: '/c', segments: [{ data: { offset: '0', content: b64('C') } }], logicalSize: '1' },
      ];
      const before = (await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash;
      await expectCode(t.call('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: muts }), 10);
      expect((await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash).toBe(before);

      const r = await ok('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: muts, conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING' });
      expect(r).toEqual({ skippedPaths: ['/b'] });
      expect(await readFile(sid, '/a')).toEqual(Buffer.from('A'));
      expect(await readFile(sid, '/b')).toEqual(Buffer.from('b'));
      expect(await readFile(sid, '/c')).toEqual(Buffer.from('C'));
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.PatchSegments', details: { paths: '/a,/c', skippedPaths: '/b' } });
      await expectCode(t.call('POST', `/v1/sessions/${sid}/patchSegments`, { mutations: muts, conflictPolicy: 'SOMETIMES' }), 3);
    });

    it('costs O(changed bytes): a one-byte patch of a 20 MiB file stores and receives almost nothing', async () => {
      const sid = await newSession();
      const size = 20 * 1024 * 1024;
      const content = randomBytes(size);
      await write(sid, '/big.bin', content);
      const m0 = await metrics();
      const mid = size / 2 + 12345;
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [{ path: '/big.bin', segments: [{ data: { offset: String(mid), content: b64('!') } }], logicalSize: String(size), expectedHash: sha(content) }],
      });
      const m1 = await metrics();
      expect(m1.bytesReceived - m0.bytesReceived).toBe(1);
      expect(m1.bytesStored - m0.bytesStored).toBeLessThan(2 * 1024 * 1024);
      const want = Buffer.from(content);
      want[mid] = '!'.charCodeAt(0);
      const got = await readFile(sid, '/big.bin');
      expect(got.length).toBe(size);
      expect(got.equals(want)).toBe(true);
      expect((await node(sid, '/big.bin')).contentHash).toBe(sha(want));
    });

    it('many small adjacent writes do not fragment the file without bound', async () => {
      const sid = await newSession();
      await write(sid, '/log', '');
      let expected = '';
      for (let i = 0; i < 40; i++) {
        const line = `line ${i}\n`;
        await ok('POST', `/v1/sessions/${sid}/patchSegments`, {
          mutations: [{ path: '/log', segments: [{ data: { offset: String(expected.length), content: b64(line) } }], logicalSize: String(expected.length + line.length) }],
        });
        expected += line;
      }
      expect(await readFile(sid, '/log')).toEqual(Buffer.from(expected));
      const { extents } = await ok('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/log' });
      expect(extents.length).toBeLessThan(5);
    });

    it('stores identical content once, across files and sessions', async () => {
      const a = await newSession();
      const b = await newSession();
      const content = randomBytes(300 * 1024);
      const m0 = await metrics();
      await write(a, '/one', content);
      const m1 = await metrics();
      await write(a, '/two', content);
      await write(b, '/three', content);
      const m2 = await metrics();
      expect(m1.bytesStored - m0.bytesStored).toBe(content.length);
      expect(m2.bytesStored).toBe(m1.bytesStored);
    });
  });

  describe('symlinks (seed 18)', () => {
    it('create, list and read as printed', async () => {
      const sid = await newSession();
      const c = await t.call('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/app/current-config', target: '/app/configs/release-2026-03-11' });
      expect(c.status).toBe(200);
      expect(c.body).toEqual({});
      expect(lastEvent(sid)).toEqual({
        type: 'v1.FileSystemService.CreateSymlink',
        details: { linkPath: '/app/current-config', target: '/app/configs/release-2026-03-11', createdParents: '/app' },
      });
      const l = await t.call('GET', `/v1/sessions/${sid}/symlinks?pathPrefix=/app&pageSize=50`);
      expect(l.status).toBe(200);
      expect(l.body).toEqual({ symlinks: [{ path: '/app/current-config', target: '/app/configs/release-2026-03-11' }], nextPageToken: '' });
      const r = await t.call('GET', `/v1/sessions/${sid}/readSymlink?path=/app/current-config`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ target: '/app/configs/release-2026-03-11' });
      expect(await node(sid, '/app/current-config')).toMatchObject({
        fileType: 'VFS_FILE_TYPE_SYMLINK',
        sizeBytes: String('/app/configs/release-2026-03-11'.length),
        mode: 41471,
        symlinkTarget: '/app/configs/release-2026-03-11',
      });
    });

    it('pages symlink listings and answers the error cases', async () => {
      const sid = await newSession();
      for (const n of ['a', 'b', 'c', 'd', 'e']) await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: `/links/${n}`, target: `../${n}` });
      await write(sid, '/links/file', 'x');
      const seen: string[] = [];
      let token = '';
      do {
        const r = await ok('GET', `/v1/sessions/${sid}/symlinks?pathPrefix=/links&pageSize=2${token ? `&pageToken=${token}` : ''}`);
        expect(r.symlinks.length).toBeLessThanOrEqual(2);
        seen.push(...r.symlinks.map((s: any) => s.path));
        token = r.nextPageToken;
      } while (token);
      expect(seen).toEqual(['/links/a', '/links/b', '/links/c', '/links/d', '/links/e']);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/links/a', target: 'x' }), 6, 409);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/links/z', target: '' }), 3);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/links/z', target: 'x'.repeat(4097) }), 3);
      await expectCode(t.call('GET', `/v1/sessions/${sid}/readSymlink?path=/links/file`), 3);
      await expectCode(t.call('GET', `/v1/sessions/${sid}/readSymlink?path=/links/none`), 5, 404);
      await expectCode(t.call('GET', `/v1/sessions/${sid}/symlinks?pageToken=garbage!`), 3);
    });
  });

  describe('hard links (seed 19)', () => {
    it('link and unlink as printed; content and nlink are shared', async () => {
      const sid = await newSession();
      await write(sid, '/src/main.ts', 'main v1\n', { mode: 0o755 });
      const l = await t.call('POST', `/v1/sessions/${sid}:link`, { srcPath: '/src/main.ts', dstPath: '/src/main-copy.ts' });
      expect(l.status).toBe(200);
      expect(l.body).toEqual({});
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.Link', details: { srcPath: '/src/main.ts', dstPath: '/src/main-copy.ts' } });
      expect(await node(sid, '/src/main.ts')).toMatchObject({ nlink: 2, mode: 0o100755 });
      expect(await node(sid, '/src/main-copy.ts')).toMatchObject({ nlink: 2, mode: 0o100755, contentHash: sha('main v1\n') });

      // Writing through one name is visible through the other (content and mode).
      await write(sid, '/src/main-copy.ts', 'main v2\n', { mode: 0o644 });
      expect(await readFile(sid, '/src/main.ts')).toEqual(Buffer.from('main v2\n'));
      expect((await node(sid, '/src/main.ts')).mode).toBe(0o100644);
      expect(lastEvent(sid).details.paths.split(',').sort()).toEqual(['/src/main-copy.ts', '/src/main.ts']);
      await ok('POST', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [{ path: '/src/main.ts', segments: [{ data: { offset: '5', content: b64('V3') } }], logicalSize: '8' }],
      });
      expect(await readFile(sid, '/src/main-copy.ts')).toEqual(Buffer.from('main V3\n'));

      // Unlink as printed: the seed's hash is stale → 10; the real one works.
      await expectCode(t.call('POST', `/v1/sessions/${sid}:unlink`, { path: '/src/main-copy.ts', expectedHash: SEED_HASH }), 10);
      const u = await t.call('POST', `/v1/sessions/${sid}:unlink`, { path: '/src/main-copy.ts', expectedHash: sha('main V3\n') });
      expect(u.status).toBe(200);
      expect(u.body).toEqual({});
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.Unlink', details: { path: '/src/main-copy.ts', linkedPaths: '/src/main.ts' } });
      expect(await node(sid, '/src/main-copy.ts')).toBeUndefined();
      expect(await node(sid, '/src/main.ts')).toMatchObject({ nlink: 1, contentHash: sha('main V3\n') });
    });

    it('three-way links and the error cases', async () => {
      const sid = await newSession();
      await write(sid, '/a', 'x');
      await ok('POST', `/v1/sessions/${sid}:link`, { srcPath: '/a', dstPath: '/b' });
      await ok('POST', `/v1/sessions/${sid}:link`, { srcPath: '/b', dstPath: '/sub/c' });
      expect((await node(sid, '/sub/c')).nlink).toBe(3);
      await ok('DELETE', `/v1/sessions/${sid}/files?path=/a`);
      expect((await node(sid, '/b')).nlink).toBe(2);
      await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/b', destinationPath: '/sub/c' }); // same file: no-op
      expect((await node(sid, '/b')).nlink).toBe(2);
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 });
      await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/s', target: 'b' });
      await expectCode(t.call('POST', `/v1/sessions/${sid}:link`, { srcPath: '/d', dstPath: '/d2' }), 9);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:link`, { srcPath: '/missing', dstPath: '/m2' }), 5);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:link`, { srcPath: '/b', dstPath: '/s' }), 6);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:unlink`, { path: '/d' }), 9);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:unlink`, { path: '/missing' }), 5);
    });
  });

  describe('CAS extents (seed 20)', () => {
    it('returns extents that tile the file, as strings', async () => {
      const sid = await newSession();
      const content = randomBytes(3 * 1024 * 1024);
      await write(sid, '/src/main.ts', content);
      const r = await t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/src/main.ts' });
      expect(r.status).toBe(200);
      let off = 0;
      for (const x of r.body.extents) {
        expect(Object.keys(x).sort()).toEqual(['casOffset', 'hash', 'length', 'offset']);
        expect(x.offset).toBe(String(off));
        expect(x.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(typeof x.length).toBe('string');
        off += Number(x.length);
      }
      expect(off).toBe(content.length);
      await write(sid, '/empty', '');
      expect(await ok('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/empty' })).toEqual({ extents: [] });
      await expectCode(t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/src' }), 9);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/nope' }), 5);
    });
  });

  describe('xattrs (seed 21)', () => {
    it('set, list, get and remove as printed', async () => {
      const sid = await newSession();
      await write(sid, '/src/main.ts', 'x');
      const h0 = (await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash;
      const set = await t.call('POST', `/v1/sessions/${sid}:setXattr`, { path: '/src/main.ts', name: 'user.review.status', value: 'bmVlZHMtYXR0ZW50aW9u' });
      expect(set.status).toBe(200);
      expect(set.body).toEqual({});
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.SetXattr', details: { path: '/src/main.ts', name: 'user.review.status' } });
      const h1 = (await ok('GET', `/v1/sessions/${sid}/manifest`)).manifestHash;
      expect(h1).not.toBe(h0);
      await ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/src/main.ts', name: 'user.owner', value: b64('alice') });
      const list = await t.call('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/src/main.ts' });
      expect(list.status).toBe(200);
      expect([...list.body.names].sort()).toEqual(['user.owner', 'user.review.status']);
      expect([...(await node(sid, '/src/main.ts')).xattrNames].sort()).toEqual(['user.owner', 'user.review.status']);
      const get = await t.call('POST', `/v1/sessions/${sid}:getXattr`, { path: '/src/main.ts', name: 'user.review.status' });
      expect(get.status).toBe(200);
      expect(get.body).toEqual({ value: 'bmVlZHMtYXR0ZW50aW9u' });
      const rm = await t.call('POST', `/v1/sessions/${sid}:removeXattr`, { path: '/src/main.ts', name: 'user.review.status' });
      expect(rm.status).toBe(200);
      expect(rm.body).toEqual({});
      expect(lastEvent(sid)).toEqual({ type: 'v1.FileSystemService.RemoveXattr', details: { path: '/src/main.ts', name: 'user.review.status' } });
      expect((await ok('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/src/main.ts' })).names).toEqual(['user.owner']);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:getXattr`, { path: '/src/main.ts', name: 'user.review.status' }), 5);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:removeXattr`, { path: '/src/main.ts', name: 'user.review.status' }), 5);
      // Content writes keep xattrs (same inode).
      await write(sid, '/src/main.ts', 'new content');
      expect((await ok('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/src/main.ts' })).names).toEqual(['user.owner']);
    });

    it('works on directories, the root and symlinks; validates names and values', async () => {
      const sid = await newSession();
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d', mode: 493 });
      await ok('POST', `/v1/sessions/${sid}/symlinks`, { linkPath: '/l', target: 'd' });
      for (const path of ['/', '/d', '/l']) {
        await ok('POST', `/v1/sessions/${sid}:setXattr`, { path, name: 'user.tag', value: b64(path) });
        expect(await ok('POST', `/v1/sessions/${sid}:getXattr`, { path, name: 'user.tag' })).toEqual({ value: b64(path) });
      }
      expect((await ok('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/' })).names).toEqual(['user.tag']);
      // Empty values are allowed.
      await ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name: 'user.empty' });
      expect(await ok('POST', `/v1/sessions/${sid}:getXattr`, { path: '/d', name: 'user.empty' })).toEqual({ value: '' });
      // Still a directory with its children after an xattr change.
      await write(sid, '/d/child', 'c');
      await ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name: 'user.tag', value: b64('v2') });
      expect(await readFile(sid, '/d/child')).toEqual(Buffer.from('c'));
      // A hard-linked file shares its xattrs.
      await ok('POST', `/v1/sessions/${sid}:link`, { srcPath: '/d/child', dstPath: '/child2' });
      await ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/child2', name: 'user.shared', value: b64('1') });
      expect((await ok('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/d/child' })).names).toEqual(['user.shared']);

      for (const name of ['', 'noNamespace', '.x', 'user.', 'user.' + 'x'.repeat(260)]) {
        await expectCode(t.call('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name, value: b64('v') }), 3);
      }
      await expectCode(t.call('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name: 'user.big', value: b64(Buffer.alloc(64 * 1024 + 1)) }), 3);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:setXattr`, { path: '/d', name: 'user.bad', value: '!!!' }), 3);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:setXattr`, { path: '/missing', name: 'user.x', value: '' }), 5);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/missing' }), 5);
    });
  });

  describe('concurrency', () => {
    it('concurrent mutations of one session serialize: nothing is lost', async () => {
      const sid = await newSession();
      await write(sid, '/counter', '');
      const writes = Array.from({ length: 20 }, (_, i) =>
        ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/many/f${i}`, content: b64(`v${i}`) } }] }),
      );
      const appends = Array.from({ length: 20 }, (_, i) =>
        ok('POST', `/v1/sessions/${sid}/patchSegments`, {
          mutations: [{ path: `/appends/a${i}`, segments: [{ data: { offset: '0', content: b64('x'.repeat(i + 1)) } }], logicalSize: String(i + 1) }],
        }),
      );
      const xattrs = Array.from({ length: 10 }, (_, i) => ok('POST', `/v1/sessions/${sid}:setXattr`, { path: '/counter', name: `user.k${i}`, value: b64(String(i)) }));
      await Promise.all([...writes, ...appends, ...xattrs]);
      const m = await ok('GET', `/v1/sessions/${sid}/manifest?pageSize=1000`);
      const got = new Set(m.nodes.map((n: any) => n.path));
      for (let i = 0; i < 20; i++) {
        expect(got.has(`/many/f${i}`)).toBe(true);
        expect(got.has(`/appends/a${i}`)).toBe(true);
      }
      expect((await ok('POST', `/v1/sessions/${sid}:listXattrs`, { path: '/counter' })).names).toHaveLength(10);
    });
  });

  describe('validation and isolation', () => {
    it('answers 3 for bad paths on every route that takes one', async () => {
      const sid = await newSession();
      const base = `/v1/sessions/${sid}`;
      for (const p of BAD_PATHS) {
        const q = encodeURIComponent(p);
        const calls: Array<[string, string, unknown?]> = [
          ['POST', `${base}/dirs`, { path: p, mode: 493 }],
          ['DELETE', `${base}/dirs?path=${q}`],
          ['DELETE', `${base}/files?path=${q}`],
          ['POST', `${base}:rename`, { sourcePath: p, destinationPath: '/x' }],
          ['POST', `${base}:rename`, { sourcePath: '/x', destinationPath: p }],
          ['POST', `${base}/rename`, { sourcePath: p, destinationPath: '/x' }],
          ['POST', `${base}/batch`, { operations: [{ write: { path: p, content: '' } }] }],
          ['POST', `${base}/batch`, { operations: [{ delete: { path: p } }] }],
          ['POST', `${base}/batch`, { operations: [{ segmentWrite: { path: p } }] }],
          ['POST', `${base}/patchSegments`, { mutations: [{ path: p }] }],
          ['POST', `${base}/symlinks`, { linkPath: p, target: 'x' }],
          ['GET', `${base}/readSymlink?path=${q}`],
          ['POST', `${base}:link`, { srcPath: p, dstPath: '/x' }],
          ['POST', `${base}:link`, { srcPath: '/x', dstPath: p }],
          ['POST', `${base}:unlink`, { path: p }],
          ['POST', `${base}:getCasExtents`, { path: p }],
          ['POST', `${base}:setXattr`, { path: p, name: 'user.a', value: '' }],
          ['POST', `${base}:listXattrs`, { path: p }],
          ['POST', `${base}:getXattr`, { path: p, name: 'user.a' }],
          ['POST', `${base}:removeXattr`, { path: p, name: 'user.a' }],
        ];
        if (p !== '') {
          calls.push(['GET', `${base}/manifest?pathPrefix=${q}`]);
          calls.push(['GET', `${base}/symlinks?pathPrefix=${q}`]);
        }
        for (const [method, path, body] of calls) {
          const r = await t.call(method, path, body);
          expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
          expect(r.body.code).toBe(3);
        }
      }
      expect((await ok('GET', `${base}/manifest`)).nodes).toEqual([]);
    });

    it("another tenant cannot see or change a session (404)", async () => {
      const sid = await newSession();
      await write(sid, '/secret', 's');
      const other = await t.tokenFor('intruder');
      await expectCode(t.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/x', mode: 493 }, other), 5, 404);
      await expectCode(t.call('GET', `/v1/sessions/${sid}/manifest`, undefined, other), 5, 404);
      await expectCode(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ delete: { path: '/secret' } }] }, other), 5, 404);
      await expectCode(t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/secret' }, other), 5, 404);
      expect(await node(sid, '/secret')).toBeDefined();
    });
  });
});
