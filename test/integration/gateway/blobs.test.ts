// GET /v1/sessions/{sessionId}/blobs/{hash} and GET /v1/metrics/cas against a real gateway:
// caching headers, ranges, conditional requests, tenant isolation and counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { parseByteRange } from '../../../src/gateway/routes/blobs.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('blob and CAS metrics routes', () => {
  let t: TestGateway;
  let sid: string;
  let hash: string;
  const content = randomBytes(5000);

  beforeAll(async () => {
    t = await startTestGateway();
    sid = (await t.call('POST', '/v1/sessions', {})).body.id;
    const w = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f.bin', content: b64(content) } }] });
    expect(w.status).toBe(200);
    const x = await t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/f.bin' });
    hash = x.body.extents[0].hash;
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (h: string, headers: Record<string, string> = {}, token = t.token, session = sid) =>
    fetch(`${t.url}/v1/sessions/${session}/blobs/${encodeURIComponent(h)}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const metrics = async () => {
    const r = await t.call('GET', '/v1/metrics/cas');
    expect(r.status).toBe(200);
    return r.body as Record<string, string>;
  };

  it('serves the whole blob with immutable caching headers', async () => {
    const r = await get(hash);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('etag')).toBe(`"${hash}"`);
    expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(r.headers.get('content-length')).toBe('5000');
    expect(Buffer.from(await r.arrayBuffer()).equals(content)).toBe(true);
    // The unencoded form of the hash works too.
    const raw = await fetch(`${t.url}/v1/sessions/${sid}/blobs/${hash}`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(raw.status).toBe(200);
    await raw.arrayBuffer();
  });

  it('serves single byte ranges (a-b, a-, -n) as 206', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=4990-', 4990, 4999],
      ['bytes=-10', 4990, 4999],
      ['bytes=100-100', 100, 100],
      ['bytes=4000-99999', 4000, 4999],
      ['bytes=-99999', 0, 4999],
    ];
    for (const [range, start, end] of cases) {
      const r = await get(hash, { range });
      expect(r.status, range).toBe(206);
      expect(r.headers.get('content-range')).toBe(`bytes ${start}-${end}/5000`);
      expect(r.headers.get('content-length')).toBe(String(end - start + 1));
      expect(r.headers.get('etag')).toBe(`"${hash}"`);
      expect(Buffer.from(await r.arrayBuffer()).equals(content.subarray(start, end + 1))).toBe(true);
    }
  });

  it('ignores multi-range and malformed Range headers (200, whole blob)', async () => {
    for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=9-3', 'bytes=-']) {
      const r = await get(hash, { range });
      expect(r.status, range).toBe(200);
      expect((await r.arrayBuffer()).byteLength).toBe(5000);
    }
    // If-Range with a different validator: whole blob.
    const r = await get(hash, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(r.status).toBe(200);
    await r.arrayBuffer();
  });

  it('answers 416 with a Status body for unsatisfiable ranges', async () => {
    for (const range of ['bytes=5000-', 'bytes=6000-7000', 'bytes=-0']) {
      const r = await get(hash, { range });
      expect(r.status, range).toBe(416);
      expect(r.headers.get('content-range')).toBe('bytes */5000');
      expect(await r.json()).toMatchObject({ code: 11, details: [] });
    }
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const before = await metrics();
    for (const inm of [`"${hash}"`, `W/"${hash}"`, `"nope", "${hash}"`, '*']) {
      const r = await get(hash, { 'if-none-match': inm });
      expect(r.status, inm).toBe(304);
      expect(r.headers.get('etag')).toBe(`"${hash}"`);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await r.arrayBuffer()).byteLength).toBe(0);
    }
    expect((await metrics()).bytesServed).toBe(before.bytesServed);
    const miss = await get(hash, { 'if-none-match': '"something-else"' });
    expect(miss.status).toBe(200);
    await miss.arrayBuffer();
  });

  it('isolates tenants: another tenant gets 404 for the blob and the session; unknown and malformed hashes are 404 too', async () => {
    const other = await t.tokenFor('blob-other');
    const otherSid = (await t.call('POST', '/v1/sessions', {}, other)).body.id;
    const viaOwnSession = await get(hash, {}, other, otherSid);
    expect(viaOwnSession.status).toBe(404);
    expect(await viaOwnSession.json()).toMatchObject({ code: 5, details: [] });
    const viaVictimSession = await get(hash, {}, other, sid);
    expect(viaVictimSession.status).toBe(404);
    expect((await viaVictimSession.json()).code).toBe(5);
    const unknown = await get('sha256:' + 'a'.repeat(64));
    expect(unknown.status).toBe(404);
    const unknownBody = await unknown.json();
    expect(unknownBody.code).toBe(5);
    for (const bad of ['sha256:XYZ', 'md5:abc', 'sha256:' + 'A'.repeat(64)]) {
      const r = await get(bad);
      expect(r.status, bad).toBe(404);
      expect((await r.json()).code).toBe(5);
    }
    // Once the other tenant stores the same bytes, it may read the (shared) blob.
    await t.call('POST', `/v1/sessions/${otherSid}/batch`, { operations: [{ write: { path: '/mine.bin', content: b64(content) } }] }, other);
    const now = await get(hash, {}, other, otherSid);
    expect(now.status).toBe(200);
    expect(Buffer.from(await now.arrayBuffer()).equals(content)).toBe(true);
  });

  it('serves the blobs a patch stored', async () => {
    const w = await t.call('POST', `/v1/sessions/${sid}/patchSegments`, {
      mutations: [{ path: '/tiny', segments: [{ data: { offset: '0', content: b64('z') } }], logicalSize: '1' }],
    });
    expect(w.status).toBe(200);
    const x = await t.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/tiny' });
    const r = await get(x.body.extents[0].hash);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).toString()).toBe('z');
  });

  it('counts blobs and bytes served, and records tenant egress', async () => {
    const m0 = await metrics();
    for (const k of ['blobsStored', 'bytesStored', 'blobsServed', 'bytesServed', 'bytesReceived']) expect(m0[k]).toMatch(/^\d+$/);
    const r = await get(hash, { range: 'bytes=0-99' });
    await r.arrayBuffer();
    const full = await get(hash);
    await full.arrayBuffer();
    const m1 = await metrics();
    expect(Number(m1.blobsServed) - Number(m0.blobsServed)).toBe(2);
    expect(Number(m1.bytesServed) - Number(m0.bytesServed)).toBe(5100);
    const tenantId = t.gw.core.auth.ensureTenant('default');
    const day = new Date().toISOString().slice(0, 10);
    const row = t.gw.core.db.prepare('SELECT bytes FROM usage_egress WHERE tenant_id = ? AND day = ?').get(tenantId, day) as { bytes: number };
    expect(row.bytes).toBeGreaterThanOrEqual(5100);
    // Unauthenticated metrics → 401.
    expect((await t.call('GET', '/v1/metrics/cas', undefined, null)).status).toBe(401);
  });

  it('scopes CAS metrics to the caller tenant; only the admin token sees gateway-wide figures', async () => {
    const other = await t.tokenFor('metrics-other');
    const asOther = (m: string, p: string, b?: unknown) => t.call(m, p, b, other);
    const before = await metrics();
    const o0 = (await asOther('GET', '/v1/metrics/cas')).body;
    expect(o0).toEqual({ tenantId: expect.stringMatching(/^tenant_/), blobsStored: '0', bytesStored: '0', blobsServed: '0', bytesServed: '0', bytesReceived: '0', liveBytes: '0', reclaimableBytes: '0' });
    expect(o0.gateway).toBeUndefined();

    // The other tenant writes 3000 new bytes and reads them back.
    const osid = (await asOther('POST', '/v1/sessions', {})).body.id;
    const data = randomBytes(3000);
    expect((await asOther('POST', `/v1/sessions/${osid}/batch`, { operations: [{ write: { path: '/o.bin', content: b64(data) } }] })).status).toBe(200);
    const ohash = (await asOther('POST', `/v1/sessions/${osid}:getCasExtents`, { path: '/o.bin' })).body.extents[0].hash;
    const r = await get(ohash, {}, other, osid);
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);

    const o1 = (await asOther('GET', '/v1/metrics/cas')).body;
    expect(o1).toMatchObject({ tenantId: o0.tenantId, blobsStored: '1', bytesStored: '3000', blobsServed: '1', bytesServed: '3000', bytesReceived: '3000' });
    expect(o1.gateway).toBeUndefined();

    // The admin's own (default tenant) figures did not move; its gateway-wide ones did.
    const after = await metrics();
    expect(after.tenantId).not.toBe(o0.tenantId);
    for (const k of ['blobsStored', 'bytesStored', 'blobsServed', 'bytesServed', 'bytesReceived']) expect(after[k], k).toBe(before[k]);
    const g0 = before.gateway as unknown as Record<string, string>;
    const g1 = after.gateway as unknown as Record<string, string>;
    expect(Number(g1.blobsStored) - Number(g0.blobsStored)).toBe(1);
    expect(Number(g1.bytesStored) - Number(g0.bytesStored)).toBe(3000);
    expect(Number(g1.bytesServed) - Number(g0.bytesServed)).toBe(3000);
    expect(Number(g1.bytesReceived) - Number(g0.bytesReceived)).toBe(3000);
    // A non-admin token of the default tenant gets the tenant figures, not the gateway's.
    const plain = await t.tokenFor('default');
    const d = (await t.call('GET', '/v1/metrics/cas', undefined, plain)).body;
    expect(d.tenantId).toBe(after.tenantId);
    expect(d.gateway).toBeUndefined();
  });

  it('parses Range headers (including against an empty blob)', () => {
    expect(parseByteRange(undefined, 10)).toBeUndefined();
    expect(parseByteRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseByteRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=-5', 0)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=3-1', 10)).toBeUndefined();
    expect(parseByteRange('bytes=0-1, 3-4', 10)).toBeUndefined();
    expect(parseByteRange('BYTES=2-', 10)).toEqual([2, 9]);
  });
});
