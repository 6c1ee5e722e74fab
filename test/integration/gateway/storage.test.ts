// The gateway's storage engine against a real gateway (issues 9, 15 and 12 items 4, 6, 7):
// idempotent mutations (x-aether-request-id), deep paths that stay cheap and never freeze the
// event loop, sparse sizes that do not block other requests, group commit, and per-write storage
// growth in a large directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('gateway storage engine', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function req(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(t.url + p, {
      method,
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
  async function ok(method: string, p: string, body?: unknown, headers?: Record<string, string>) {
    const r = await req(method, p, body, headers);
    if (r.status !== 200) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
  const session = async () => (await ok('POST', '/v1/sessions', {})).id as string;
  async function node(sid: string, p: string) {
    const r = await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=${encodeURIComponent(p)}&maxDepth=1&pageSize=1`);
    return r.nodes.find((n: any) => n.path === p);
  }
  async function events(sid: string, type: string): Promise<number> {
    const r = await ok('GET', `/v1/sessions/${sid}/events?pageSize=1000`);
    return r.events.filter((e: any) => e.eventType === type).length;
  }

  describe('x-aether-request-id (issue 12 item 4)', () => {
    it('a retried batch is not applied twice, even after another write changed the file', async () => {
      const sid = await session();
      const first = { operations: [{ write: { path: '/a.txt', content: b64('one\n') } }] };
      await ok('POST', `/v1/sessions/${sid}/batch`, first, { 'x-aether-request-id': 'req-1' });
      await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/a.txt', content: b64('two!\n') } }] });
      // The client timed out on req-1 and retries it: the recorded outcome, not a second apply.
      expect(await ok('POST', `/v1/sessions/${sid}/batch`, first, { 'x-aether-request-id': 'req-1' })).toEqual({});
      expect((await node(sid, '/a.txt')).sizeBytes).toBe('5');
      expect(await events(sid, 'v1.FileSystemService.Batch')).toBe(2);
    });

    it('a retried mkdir and unlink answer as the first time did (no ALREADY_EXISTS / NOT_FOUND)', async () => {
      const sid = await session();
      const h = { 'x-aether-request-id': 'mk-1' };
      await ok('POST', `/v1/sessions/${sid}/dirs`, { path: '/d' }, h);
      expect((await req('POST', `/v1/sessions/${sid}/dirs`, { path: '/d' }, h)).status).toBe(200);
      expect((await req('POST', `/v1/sessions/${sid}/dirs`, { path: '/d' })).status).toBe(409); // without the id: a new request
      await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/d/f', content: b64('x') } }] });
      const u = { 'x-aether-request-id': 'un-1' };
      await ok('POST', `/v1/sessions/${sid}:unlink`, { path: '/d/f' }, u);
      expect((await req('POST', `/v1/sessions/${sid}:unlink`, { path: '/d/f' }, u)).status).toBe(200);
    });

    it('the same id sent twice at once applies once; an id reused for another request is code 9', async () => {
      const sid = await session();
      const body = { operations: [{ write: { path: '/c.txt', content: b64('c') } }] };
      const h = { 'x-aether-request-id': 'dup-1' };
      const [a, b] = await Promise.all([req('POST', `/v1/sessions/${sid}/batch`, body, h), req('POST', `/v1/sessions/${sid}/batch`, body, h)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(await events(sid, 'v1.FileSystemService.Batch')).toBe(1);
      const other = await req('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/c.txt', destinationPath: '/d.txt' }, h);
      expect(other.status).toBe(400);
      expect(other.body).toMatchObject({ code: 9 });
      // Another session, same id: also a different request.
      const sid2 = await session();
      expect((await req('POST', `/v1/sessions/${sid2}/batch`, body, h)).body).toMatchObject({ code: 9 });
    });

    it('patchSegments replays its recorded response', async () => {
      const sid = await session();
      const body = {
        mutations: [{ path: '/p', segments: [{ data: { offset: '0', content: b64('hello') } }], expectedHash: '' }],
        conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING',
      };
      const h = { 'x-aether-request-id': 'ps-1' };
      const r1 = await ok('POST', `/v1/sessions/${sid}/patchSegments`, body, h);
      const r2 = await ok('POST', `/v1/sessions/${sid}/patchSegments`, body, h);
      expect(r2).toEqual(r1);
      expect(await events(sid, 'v1.FileSystemService.PatchSegments')).toBe(1);
    });
  });

  /** Poll /v1/healthz while `work` runs; returns the slowest answer in ms. */
  async function worstHealthz(work: Promise<unknown>): Promise<number> {
    let done = false;
    void work.finally(() => (done = true)).catch(() => undefined);
    let worst = 0;
    const deadline = Date.now() + 120_000;
    while (!done && Date.now() < deadline) {
      const t0 = Date.now();
      const r = await fetch(t.url + '/v1/healthz');
      await r.text();
      worst = Math.max(worst, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await work;
    return worst;
  }

  it('a 4,095-byte path 2,047 directories deep is written, renamed and listed quickly (issue 12 item 6)', async () => {
    const sid = await session();
    const dir = '/' + Array.from({ length: 2046 }, () => 'a').join('/'); // 4,091 bytes, 2,046 levels
    const file = dir + '/f1';
    expect(Buffer.byteLength(file)).toBe(4094 + 1);
    const t0 = Date.now();
    const worst = await worstHealthz(
      (async () => {
        await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: file, content: b64('deep') } }] });
        await ok('POST', `/v1/sessions/${sid}:rename`, { sourcePath: file, destinationPath: dir + '/f2' });
        await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: dir + '/f3', content: b64('deeper') } }] });
      })(),
    );
    const took = Date.now() - t0;
    expect((await node(sid, dir + '/f2')).sizeBytes).toBe('4');
    expect((await node(sid, dir + '/f3')).sizeBytes).toBe('6');
    // Before: O(depth³) — minutes for one request at this depth, with /v1/healthz stuck behind it.
    expect(took).toBeLessThan(20_000);
    expect(worst).toBeLessThan(5_000);
  });

  it('a sparse 2 GiB logicalSize does not stall other requests (issue 12 item 7)', async () => {
    const sid = await session();
    const work = ok('POST', `/v1/sessions/${sid}/patchSegments`, {
      mutations: [{ path: '/sparse', segments: [{ data: { offset: '0', content: b64('head') } }], logicalSize: String(2 * 1024 ** 3), expectedHash: '' }],
    });
    const worst = await worstHealthz(work);
    expect((await node(sid, '/sparse')).sizeBytes).toBe(String(2 * 1024 ** 3));
    // The hole is hashed in slices with event-loop turns between them.
    expect(worst).toBeLessThan(1_000);
  });

  it('concurrent writers share fsyncs (group commit) and every acknowledged write is there', async () => {
    const sids = await Promise.all([session(), session(), session(), session()]);
    const before = t.gw.core.durability.syncs;
    const per = 15;
    await Promise.all(
      sids.map(async (sid, w) => {
        for (let i = 0; i < per; i++) await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/w${i}`, content: b64(`${w}:${i}`) } }] });
      }),
    );
    const syncs = t.gw.core.durability.syncs - before;
    expect(syncs).toBeGreaterThan(0);
    expect(syncs).toBeLessThanOrEqual(4 * per); // never more than one per request; usually far fewer
    for (const sid of sids) expect((await ok('GET', `/v1/sessions/${sid}/manifest`)).nodes.length).toBe(per);
  });

  it('a write into a directory of 5,000 entries stores O(changed), not the whole directory (issue 15)', async () => {
    const sid = await session();
    for (let i = 0; i < 5000; i += 1000) {
      const ops = [];
      for (let j = i; j < i + 1000; j++) ops.push({ write: { path: `/big/f${String(j).padStart(5, '0')}`, content: b64(`file ${j}\n`) } });
      await ok('POST', `/v1/sessions/${sid}/batch`, { operations: ops });
    }
    const db = t.gw.core.db;
    const treeBytes = () => (db.prepare('SELECT COALESCE(SUM(length(body)), 0) AS b FROM trees').get() as { b: number }).b;
    const before = treeBytes();
    const n = 50;
    for (let i = 0; i < n; i++) {
      await ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/big/f${String(i * 97).padStart(5, '0')}`, content: b64(`changed ${i}\n`) } }] });
    }
    const perWrite = (treeBytes() - before) / n;
    // The directory body is ~1 MB; a write now stores one page (~64 entries) + the index + root.
    const whole = (db.prepare("SELECT length(body) AS n FROM trees ORDER BY length(body) DESC LIMIT 1").get() as { n: number }).n;
    expect(perWrite).toBeLessThan(60_000);
    expect(whole).toBeLessThan(250_000); // no node holds the whole directory (~1 MB)
    expect(fs.existsSync(path.join(t.dataDir, 'gateway.db'))).toBe(true);
  });

  describe('garbage collection (issue 15)', () => {
    const blobGet = (sid: string, hash: string) => fetch(`${t.url}/v1/sessions/${sid}/blobs/${hash}`, { headers: { authorization: `Bearer ${t.token}` } });

    it('keeps what a checkpoint, a fork and a recently replaced version still read; removes the rest', async () => {
      const a = await session();
      const v = (n: number) => `version ${n} `.repeat(10_000); // > 64 KiB: a file blob
      const put = (sid: string, p: string, c: string) => ok('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: p, content: b64(c) } }] });
      await put(a, '/f', v(0));
      const old = (await ok('GET', `/v1/sessions/${a}/manifest?pathPrefix=%2Ff&includeCasExtents=true`)).nodes[0].casExtents;
      await put(a, '/f', v(1));
      await ok('POST', `/v1/sessions/${a}/checkpoints`, { label: 'c1' });
      await put(a, '/f', v(2));
      const fork = (await ok('POST', `/v1/sessions/${a}/fork`, { sourceCheckpointLabel: 'c1' })).id as string;
      await put(a, '/f', v(3));
      // With the default grace period, v0 (replaced seconds ago; a mount may still hold its extents) stays.
      await ok('POST', '/v1/admin/gc', {});
      expect((await blobGet(a, old[0].hash)).status).toBe(200);
      // With none, v0 and v2 go; the checkpoint (v1, also the fork) and the head (v3) stay.
      const r = await ok('POST', '/v1/admin/gc', { graceSeconds: '0' });
      expect(Number(r.removedBlobs)).toBeGreaterThan(0);
      expect(Number(r.removedTrees)).toBeGreaterThan(0);
      const read = async (sid: string, label?: string) => {
        const n = (await ok('GET', `/v1/sessions/${sid}/manifest?pathPrefix=%2Ff&includeCasExtents=true`)).nodes[0];
        const parts = [];
        for (const x of n.casExtents) {
          const res = await blobGet(sid, x.hash);
          expect(res.status, label).toBe(200);
          parts.push(Buffer.from(await res.arrayBuffer()));
        }
        return Buffer.concat(parts).toString();
      };
      expect(await read(fork, 'fork')).toBe(v(1));
      expect(await read(a, 'head')).toBe(v(3));
      await ok('POST', `/v1/sessions/${a}/restore`, { label: 'c1' });
      expect(await read(a, 'restored checkpoint')).toBe(v(1));
    });

    it('another tenant may not run GC', async () => {
      // Another tenant may not run GC.
      const other = await t.tokenFor('acme');
      const r = await fetch(`${t.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(403);
    });
  });
});
