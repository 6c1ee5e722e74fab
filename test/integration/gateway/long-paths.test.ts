// Session path limits on the reference gateway: NAME_MAX (255 bytes) per component and
// MAX_SESSION_PATH_BYTES (32 KiB) per path, no 4,096-byte cap. A path far past 4,096 bytes is
// created, listed by prefix and deleted (the last two carry it percent-encoded in the query
// string, non-ASCII too); one byte past the limit and a 256-byte component answer code 3
// INVALID_ARGUMENT (HTTP 400), never a 5xx or a 431.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession, startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { MAX_SESSION_PATH_BYTES, NAME_MAX_BYTES } from '../../../src/shared/path-limits.js';

describe('gateway: long session paths', () => {
  let t: TestGateway;
  let sid: string;

  beforeAll(async () => {
    t = await startTestGateway();
    sid = await newSession(t.call);
  });
  afterAll(async () => t?.close());

  /** A path of exactly `bytes` bytes made of `/` + components of `seg` (UTF-8 aware). */
  const pathOf = (bytes: number, seg: string) => {
    let p = '';
    while (Buffer.byteLength(p) + 1 + Buffer.byteLength(seg) <= bytes) p += '/' + seg;
    const rest = bytes - Buffer.byteLength(p) - 1;
    return rest > 0 ? `${p}/${'z'.repeat(rest)}` : p;
  };

  it('accepts the longest path, also percent-encoded in query strings', async () => {
    const seg = 'é'.repeat(127); // 254 bytes, 762 characters once percent-encoded
    const dir = pathOf(MAX_SESSION_PATH_BYTES - 10, seg);
    expect(Buffer.byteLength(dir)).toBe(MAX_SESSION_PATH_BYTES - 10);
    const mk = await t.call('POST', `/v1/sessions/${sid}/dirs`, { path: dir });
    expect(mk.status).toBe(200);
    const file = `${dir}/f.txt`;
    expect(Buffer.byteLength(file)).toBe(MAX_SESSION_PATH_BYTES - 4);
    const w = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: file, content: Buffer.from('deep').toString('base64'), expectedHash: '' } }] });
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    const ls = await t.call('GET', `/v1/sessions/${sid}/manifest?pathPrefix=${encodeURIComponent(dir)}&maxDepth=1`);
    expect(ls.status).toBe(200);
    expect(ls.body.nodes.map((n: any) => n.path)).toContain(file);
    const del = await t.call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent(file)}`);
    expect(del.status).toBe(200);
  });

  it('refuses one byte more, and a component over NAME_MAX, with code 3', async () => {
    const tooLong = pathOf(MAX_SESSION_PATH_BYTES + 1, 'a'.repeat(200));
    const r = await t.call('POST', `/v1/sessions/${sid}/dirs`, { path: tooLong });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(3);
    expect(r.body.message).toMatch(/longer than 32768 bytes/);
    const q = await t.call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent(tooLong)}`);
    expect(q.status).toBe(400);
    expect(q.body.code).toBe(3);
    const name = await t.call('POST', `/v1/sessions/${sid}/dirs`, { path: `/x/${'n'.repeat(NAME_MAX_BYTES + 1)}` });
    expect(name.status).toBe(400);
    expect(name.body.code).toBe(3);
    expect((await t.call('POST', `/v1/sessions/${sid}/dirs`, { path: `/x/${'n'.repeat(NAME_MAX_BYTES)}` })).status).toBe(200);
  });
});
