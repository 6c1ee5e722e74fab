// HttpGatewayClient against the real gateway: manifest, batch, patchSegments, dirs, rename,
// deletes, symlinks, hard links, xattrs, CAS extents and blob range reads.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { int64ToNumber, type ManifestNode } from '../../../src/client/gateway-client.js';
import { GatewayError } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { sha256 } from '../../../src/shared/digest.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;
let sid: string;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token });
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

beforeEach(async () => {
  sid = (await client.createSession()).id;
});

const write = (path: string, content: string | Buffer, mode?: number) =>
  client.batch(sid, { operations: [{ write: { path, content: typeof content === 'string' ? Buffer.from(content) : content, mode } }] });

async function nodes(opts: Parameters<HttpGatewayClient['iterateManifest']>[1] = {}): Promise<Map<string, ManifestNode>> {
  const m = new Map<string, ManifestNode>();
  for await (const n of client.iterateManifest(sid, opts)) m.set(n.path, n);
  return m;
}

/** Read a file's content back through its CAS extents and blob reads. */
async function readBack(path: string): Promise<Buffer> {
  const { extents = [] } = await client.getCasExtents(sid, { path });
  const parts: Buffer[] = [];
  for (const e of extents) {
    const len = int64ToNumber(e.length);
    if (!e.hash) {
      parts.push(Buffer.alloc(len)); // a hole
      continue;
    }
    parts.push(await client.getBlob(sid, e.hash, { offset: int64ToNumber(e.casOffset), length: len }));
  }
  return Buffer.concat(parts);
}

describe('batch and manifest', () => {
  it('writes files; the manifest shows type, size, hash, mode; parents are implied', async () => {
    await client.batch(sid, {
      operations: [
        { write: { path: '/src/main.ts', content: Buffer.from('export const VERSION = "1.2.0";\n'), mode: 0o100644 } },
        { write: { path: '/src/bin/run.sh', content: Buffer.from('#!/bin/sh\n'), mode: 0o100755 } },
      ],
    });
    const m = await nodes();
    const main = m.get('/src/main.ts')!;
    expect(main.fileType).toBe('VFS_FILE_TYPE_FILE');
    expect(main.sizeBytes).toBe('32');
    expect(main.contentHash).toBe(sha256('export const VERSION = "1.2.0";\n'));
    expect(main.mode! & 0o777).toBe(0o644);
    expect(m.get('/src/bin/run.sh')!.mode! & 0o777).toBe(0o755);
    expect(m.get('/src')?.fileType).toBe('VFS_FILE_TYPE_DIRECTORY');
    expect(m.get('/src/bin')?.fileType).toBe('VFS_FILE_TYPE_DIRECTORY');
  });

  it('getManifest pages with pageSize; iterateManifest walks them all', async () => {
    await client.batch(sid, { operations: Array.from({ length: 7 }, (_, i) => ({ write: { path: `/p/f${i}.txt`, content: Buffer.from(String(i)) } })) });
    const first = await client.getManifest(sid, { pathPrefix: '/p', pageSize: 3 });
    expect(first.nodes!.length).toBeLessThanOrEqual(3);
    expect(first.nextPageToken).toBeTruthy();
    expect(first.manifestHash).toBeTruthy();
    const all = await nodes({ pathPrefix: '/p', pageSize: 3 });
    for (let i = 0; i < 7; i++) expect(all.has(`/p/f${i}.txt`)).toBe(true);
    for (const p of all.keys()) expect(p === '/p' || p.startsWith('/p/')).toBe(true);
  });

  it('maxDepth limits the listing to direct children', async () => {
    await write('/d/x.txt', 'x');
    await write('/d/sub/y.txt', 'y');
    const m = await nodes({ pathPrefix: '/d', maxDepth: 1 });
    expect(m.has('/d/x.txt')).toBe(true);
    expect(m.has('/d/sub')).toBe(true);
    expect(m.has('/d/sub/y.txt')).toBe(false);
  });

  it('includeCasExtents adds extents to file nodes', async () => {
    await write('/e.txt', 'extent content');
    const page = await client.getManifest(sid, { pathPrefix: '/e.txt', includeCasExtents: true });
    const n = page.nodes!.find((x) => x.path === '/e.txt')!;
    expect(n.casExtents?.length).toBeGreaterThan(0);
    expect(n.casExtents!.reduce((a, e) => a + int64ToNumber(e.length), 0)).toBe(14);
  });

  it('batch is atomic: a failing operation applies nothing', async () => {
    await write('/guarded.txt', 'v1');
    const err = await client
      .batch(sid, {
        operations: [
          { write: { path: '/should-not-exist.txt', content: Buffer.from('x') } },
          { delete: { path: '/guarded.txt', expectedHash: sha256('not the content') } },
        ],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.kind).toBe('conflict');
    const m = await nodes();
    expect(m.has('/should-not-exist.txt')).toBe(false);
    expect(m.has('/guarded.txt')).toBe(true);
  });

  it('write with expectedHash: stale → ABORTED (409 conflict), current → ok', async () => {
    await write('/cas.txt', 'v1');
    const stale = await client.batch(sid, { operations: [{ write: { path: '/cas.txt', content: Buffer.from('v3'), expectedHash: sha256('v0') } }] }).catch((e) => e);
    expect(stale).toMatchObject({ rpcCode: RpcCode.ABORTED, httpStatus: 409, code: 'AETHER_GATEWAY_CONFLICT', kind: 'conflict' });
    await client.batch(sid, { operations: [{ write: { path: '/cas.txt', content: Buffer.from('v2'), expectedHash: sha256('v1') } }] });
    expect((await readBack('/cas.txt')).toString()).toBe('v2');
  });

  it('segmentWrite inside a batch', async () => {
    await client.batch(sid, {
      operations: [{ segmentWrite: { path: '/src/changelog.txt', segments: [{ data: { offset: 0, content: Buffer.from('Changed login validation.\n') } }], logicalSize: 26, expectedHash: '' } }],
    });
    expect((await readBack('/src/changelog.txt')).toString()).toBe('Changed login validation.\n');
  });

  it('binary content round-trips byte for byte', async () => {
    const bin = Buffer.alloc(70_000);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919) & 0xff;
    await write('/bin.dat', bin);
    const m = await nodes();
    expect(m.get('/bin.dat')!.contentHash).toBe(sha256(bin));
    expect((await readBack('/bin.dat')).equals(bin)).toBe(true);
  });
});

describe('patchSegments', () => {
  it('patches part of a file, extends it, and leaves holes as zeros', async () => {
    await write('/feature.flag', 'enabled=false\n');
    const r = await client.patchSegments(sid, {
      mutations: [
        {
          path: '/feature.flag',
          segments: [{ data: { offset: 8, content: Buffer.from('true \n') } }],
          logicalSize: 14,
          expectedHash: sha256('enabled=false\n'),
        },
      ],
      conflictPolicy: 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT',
    });
    expect(r.skippedPaths ?? []).toEqual([]);
    expect((await readBack('/feature.flag')).toString()).toBe('enabled=true \n');

    await client.patchSegments(sid, {
      mutations: [{ path: '/sparse.bin', segments: [{ hole: { offset: 0, length: 100 } }, { data: { offset: 100, content: Buffer.from('END') } }], logicalSize: 103 }],
    });
    const sparse = await readBack('/sparse.bin');
    expect(sparse.length).toBe(103);
    expect(sparse.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
    expect(sparse.subarray(100).toString()).toBe('END');
  });

  it('borrowed segments reuse existing CAS bytes', async () => {
    await write('/src.txt', 'hello borrowed world');
    const { extents = [] } = await client.getCasExtents(sid, { path: '/src.txt' });
    const e = extents[0]!;
    await client.patchSegments(sid, {
      mutations: [{ path: '/copy.txt', segments: [{ borrowed: { offset: 0, length: 8, hash: e.hash!, casOffset: int64ToNumber(e.casOffset) + 6 } }], logicalSize: 8 }],
    });
    expect((await readBack('/copy.txt')).toString()).toBe('borrowed');
  });

  it('conflicts: abort policy fails, skip policy reports skipped paths', async () => {
    await write('/c1.txt', 'one');
    const stale = sha256('something else');
    await expect(
      client.patchSegments(sid, { mutations: [{ path: '/c1.txt', segments: [{ data: { offset: 0, content: Buffer.from('X') } }], expectedHash: stale }] }),
    ).rejects.toMatchObject({ kind: 'conflict' });
    const r = await client.patchSegments(sid, {
      mutations: [
        { path: '/c1.txt', segments: [{ data: { offset: 0, content: Buffer.from('X') } }], expectedHash: stale },
        { path: '/c2.txt', segments: [{ data: { offset: 0, content: Buffer.from('two') } }], logicalSize: 3 },
      ],
      conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING',
    });
    expect(r.skippedPaths).toEqual(['/c1.txt']);
    expect((await readBack('/c2.txt')).toString()).toBe('two');
    expect((await readBack('/c1.txt')).toString()).toBe('one');
  });
});

describe('directories, rename, delete', () => {
  it('createDir / removeDir (empty only)', async () => {
    await client.createDir(sid, { path: '/src/features', mode: 0o755 });
    expect((await nodes()).get('/src/features')?.fileType).toBe('VFS_FILE_TYPE_DIRECTORY');
    await write('/src/features/a.ts', 'a');
    await expect(client.removeDir(sid, { path: '/src/features' })).rejects.toMatchObject({ rpcCode: RpcCode.FAILED_PRECONDITION, kind: 'conflict' });
    await client.deleteFile(sid, { path: '/src/features/a.ts' });
    await client.removeDir(sid, { path: '/src/features' });
    expect((await nodes()).has('/src/features')).toBe(false);
    await expect(client.removeDir(sid, { path: '/nope' })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('createDir on an existing path → ALREADY_EXISTS', async () => {
    await client.createDir(sid, { path: '/x' });
    await expect(client.createDir(sid, { path: '/x' })).rejects.toMatchObject({ rpcCode: RpcCode.ALREADY_EXISTS, kind: 'conflict' });
  });

  it('rename moves files and directory subtrees', async () => {
    await write('/src/legacy/config.ts', 'cfg');
    await client.rename(sid, { sourcePath: '/src/legacy/config.ts', destinationPath: '/src/config/index.ts' });
    let m = await nodes();
    expect(m.has('/src/legacy/config.ts')).toBe(false);
    expect(m.get('/src/config/index.ts')?.contentHash).toBe(sha256('cfg'));
    await client.rename(sid, { sourcePath: '/src/config', destinationPath: '/lib' });
    m = await nodes();
    expect(m.has('/lib/index.ts')).toBe(true);
    await expect(client.rename(sid, { sourcePath: '/missing', destinationPath: '/y' })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('deleteFile with expectedHash guards stale deletes', async () => {
    await write('/src/obsolete.ts', 'old');
    await expect(client.deleteFile(sid, { path: '/src/obsolete.ts', expectedHash: sha256('newer') })).rejects.toMatchObject({ rpcCode: RpcCode.ABORTED, httpStatus: 409 });
    await client.deleteFile(sid, { path: '/src/obsolete.ts', expectedHash: sha256('old') });
    expect((await nodes()).has('/src/obsolete.ts')).toBe(false);
    await expect(client.deleteFile(sid, { path: '/src/obsolete.ts' })).rejects.toMatchObject({ kind: 'not_found' });
  });
});

describe('symlinks and hard links', () => {
  it('create, list, read; symlinks show in the manifest', async () => {
    await client.createSymlink(sid, { linkPath: '/app/current-config', target: '/app/configs/release-2026-03-11' });
    const list = await client.listSymlinks(sid, { pathPrefix: '/app', pageSize: 50 });
    expect(list.symlinks).toEqual([{ path: '/app/current-config', target: '/app/configs/release-2026-03-11' }]);
    expect((await client.readSymlink(sid, { path: '/app/current-config' })).target).toBe('/app/configs/release-2026-03-11');
    const n = (await nodes()).get('/app/current-config')!;
    expect(n.fileType).toBe('VFS_FILE_TYPE_SYMLINK');
    expect(n.symlinkTarget).toBe('/app/configs/release-2026-03-11');
    await expect(client.readSymlink(sid, { path: '/nope' })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('link shares content and bumps nlink; unlink removes one name', async () => {
    await write('/src/main.ts', 'shared');
    await client.link(sid, { srcPath: '/src/main.ts', dstPath: '/src/main-copy.ts' });
    let m = await nodes();
    expect(m.get('/src/main-copy.ts')?.contentHash).toBe(sha256('shared'));
    expect(m.get('/src/main.ts')?.nlink).toBe(2);
    await expect(client.unlink(sid, { path: '/src/main-copy.ts', expectedHash: sha256('different') })).rejects.toMatchObject({ kind: 'conflict' });
    await client.unlink(sid, { path: '/src/main-copy.ts', expectedHash: sha256('shared') });
    m = await nodes();
    expect(m.has('/src/main-copy.ts')).toBe(false);
    expect(m.get('/src/main.ts')?.nlink ?? 1).toBe(1);
  });
});

describe('xattrs', () => {
  it('set, get, list, remove (binary values)', async () => {
    await write('/src/main.ts', 'x');
    await client.setXattr(sid, { path: '/src/main.ts', name: 'user.review.status', value: Buffer.from('needs-attention') });
    await client.setXattr(sid, { path: '/src/main.ts', name: 'user.bin', value: Buffer.from([0, 255, 1]) });
    expect((await client.getXattr(sid, { path: '/src/main.ts', name: 'user.review.status' })).toString()).toBe('needs-attention');
    expect([...(await client.getXattr(sid, { path: '/src/main.ts', name: 'user.bin' }))]).toEqual([0, 255, 1]);
    expect((await client.listXattrs(sid, { path: '/src/main.ts' })).sort()).toEqual(['user.bin', 'user.review.status']);
    expect((await nodes()).get('/src/main.ts')?.xattrNames?.sort()).toEqual(['user.bin', 'user.review.status']);
    await client.removeXattr(sid, { path: '/src/main.ts', name: 'user.bin' });
    expect(await client.listXattrs(sid, { path: '/src/main.ts' })).toEqual(['user.review.status']);
    await expect(client.getXattr(sid, { path: '/src/main.ts', name: 'user.bin' })).rejects.toBeInstanceOf(GatewayError);
  });
});

describe('CAS extents and blobs', () => {
  it('extents cover the file; blob ranges read the right bytes', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.\n'.repeat(50);
    await write('/fox.txt', text);
    const { extents = [] } = await client.getCasExtents(sid, { path: '/fox.txt' });
    expect(extents.length).toBeGreaterThan(0);
    let covered = 0;
    for (const e of extents) {
      expect(int64ToNumber(e.offset)).toBe(covered);
      covered += int64ToNumber(e.length);
    }
    expect(covered).toBe(text.length);
    expect((await readBack('/fox.txt')).toString()).toBe(text);

    const e0 = extents[0]!;
    const whole = await client.getBlob(sid, e0.hash!);
    expect(sha256(whole)).toBe(e0.hash);
    const part = await client.getBlob(sid, e0.hash!, { offset: 4, length: 5 });
    expect(part.toString()).toBe(whole.subarray(4, 9).toString());
    const tail = await client.getBlob(sid, e0.hash!, { offset: whole.length - 3 });
    expect(tail.equals(whole.subarray(whole.length - 3))).toBe(true);
    expect((await client.getBlob(sid, e0.hash!, { offset: whole.length + 10, length: 4 })).length).toBe(0);
    expect(client.stats().blobBytesFetched).toBeGreaterThan(0);
  });

  it('unknown blobs → NOT_FOUND', async () => {
    await expect(client.getBlob(sid, sha256('never stored anywhere'))).rejects.toMatchObject({ rpcCode: RpcCode.NOT_FOUND });
  });

  it('getCasExtents of a missing file → NOT_FOUND', async () => {
    await expect(client.getCasExtents(sid, { path: '/missing' })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('CAS metrics count stored and served bytes', async () => {
    await write('/m.txt', 'metrics');
    const m = await client.getCasMetrics();
    expect(int64ToNumber(m.blobsStored)).toBeGreaterThan(0);
    expect(int64ToNumber(m.bytesStored)).toBeGreaterThan(0);
  });
});
