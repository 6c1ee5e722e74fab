// Session cache routes (seed §10): PUT/GET (+ extension DELETE) /v1/sessions/{id}/cache/{key}.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, callerFor, newSession } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/server.js';
import { ManualClock } from '../../../src/shared/clock.js';

const SEED_VALUE = 'eyJzdGF0dXMiOiJyZWFkeS1mb3ItcmV2aWV3IiwicmlzayI6ImxvdyJ9';

describe('session cache', () => {
  let t: TestGateway;
  let sid: string;
  beforeAll(async () => {
    t = await startTestGateway();
    sid = await newSession(t.call);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sets and gets the seed example entry as printed', async () => {
    const put = await t.call('PUT', `/v1/sessions/${sid}/cache/analysis.summary`, { value: SEED_VALUE, ttlSeconds: 3600 });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({});
    const get = await t.call('GET', `/v1/sessions/${sid}/cache/analysis.summary`);
    expect(get.status).toBe(200);
    expect(get.body).toEqual({ value: SEED_VALUE, found: true });
    expect(JSON.parse(Buffer.from(get.body.value, 'base64').toString('utf8'))).toEqual({ status: 'ready-for-review', risk: 'low' });
  });

  it('answers a miss with 200 {value: "", found: false}', async () => {
    const r = await t.call('GET', `/v1/sessions/${sid}/cache/never-set`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ value: '', found: false });
  });

  it('overwrites, accepts ttlSeconds as an int64 string, and stores empty and binary values', async () => {
    await t.call('PUT', `/v1/sessions/${sid}/cache/k1`, { value: Buffer.from('one').toString('base64'), ttlSeconds: '60' });
    const bin = Buffer.from([0, 1, 2, 255, 254]);
    expect((await t.call('PUT', `/v1/sessions/${sid}/cache/k1`, { value: bin.toString('base64') })).status).toBe(200);
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/k1`)).body).toEqual({ value: bin.toString('base64'), found: true });
    expect((await t.call('PUT', `/v1/sessions/${sid}/cache/empty`, { value: '', ttlSeconds: '0' })).status).toBe(200);
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/empty`)).body).toEqual({ value: '', found: true });
  });

  it('round-trips URL-encoded keys (spaces, unicode, punctuation)', async () => {
    const key = 'tool output: café ✓ #1?&=';
    const path = `/v1/sessions/${sid}/cache/${encodeURIComponent(key)}`;
    expect((await t.call('PUT', path, { value: 'AA==' })).status).toBe(200);
    expect((await t.call('GET', path)).body).toEqual({ value: 'AA==', found: true });
    const row = t.gw.core.db.prepare('SELECT key FROM cache_entries WHERE session_id = ? AND key = ?').get(sid, key);
    expect(row).toEqual({ key });
  });

  it('deletes entries (extension), idempotently', async () => {
    await t.call('PUT', `/v1/sessions/${sid}/cache/to-delete`, { value: 'AQ==' });
    const del = await t.call('DELETE', `/v1/sessions/${sid}/cache/to-delete`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({});
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/to-delete`)).body).toEqual({ value: '', found: false });
    const again = await t.call('DELETE', `/v1/sessions/${sid}/cache/to-delete`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({});
  });

  it('limits values to 1 MiB decoded', async () => {
    const max = Buffer.alloc(1024 * 1024, 7);
    expect((await t.call('PUT', `/v1/sessions/${sid}/cache/big`, { value: max.toString('base64') })).status).toBe(200);
    const got = await t.call('GET', `/v1/sessions/${sid}/cache/big`);
    expect(Buffer.from(got.body.value, 'base64').equals(max)).toBe(true);
    const over = await t.call('PUT', `/v1/sessions/${sid}/cache/big`, { value: Buffer.alloc(1024 * 1024 + 1).toString('base64') });
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ code: 3, details: [] });
    expect(over.body.message).toMatch(/value/);
  });

  it('validates the body and the key with code 3', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['k', {}, /value is required/],
      ['k', { value: null }, /value is required/],
      ['k', { value: 'not base64!!' }, /value/],
      ['k', { value: 42 }, /value/],
      ['k', { value: 'AA==', ttlSeconds: -1 }, /ttlSeconds/],
      ['k', { value: 'AA==', ttlSeconds: '-5' }, /ttlSeconds/],
      ['k', { value: 'AA==', ttlSeconds: 'soon' }, /ttlSeconds/],
      ['k', { value: 'AA==', ttlSeconds: 1.5 }, /ttlSeconds/],
      ['x'.repeat(513), { value: 'AA==' }, /key/],
      ['a%2Fb', { value: 'AA==' }, /key/],
      ['a%01b', { value: 'AA==' }, /key/],
      ['a%7Fb', { value: 'AA==' }, /key/],
    ];
    for (const [key, body, msg] of cases) {
      const r = await t.call('PUT', `/v1/sessions/${sid}/cache/${key}`, body);
      expect(r.status, `${key} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.details).toEqual([]);
      expect(r.body.message).toMatch(msg);
    }
    expect((await t.call('PUT', `/v1/sessions/${sid}/cache/${'x'.repeat(512)}`, { value: 'AA==' })).status).toBe(200);
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/a%01b`)).body.code).toBe(3);
    expect((await t.call('DELETE', `/v1/sessions/${sid}/cache/${'y'.repeat(513)}`)).body.code).toBe(3);
  });

  it('answers 404 for unknown sessions and hides other tenants\' caches', async () => {
    const missing = await t.call('GET', '/v1/sessions/sess_doesnotexist/cache/k');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 5, details: [] });
    const other = await t.tokenFor('cache-other-tenant');
    for (const [m, body] of [['PUT', { value: 'AA==' }], ['GET', undefined], ['DELETE', undefined]] as const) {
      const r = await t.call(m, `/v1/sessions/${sid}/cache/analysis.summary`, body, other);
      expect(r.status, m).toBe(404);
      expect(r.body.code).toBe(5);
    }
    // The same key in the other tenant's own session is independent.
    const theirs = await newSession(t.call, other);
    expect((await t.call('GET', `/v1/sessions/${theirs}/cache/analysis.summary`, undefined, other)).body).toEqual({ value: '', found: false });
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/analysis.summary`)).body.found).toBe(true);
    expect((await t.call('GET', `/v1/sessions/${sid}/cache/k`, undefined, null)).status).toBe(401);
  });
});

describe('session cache TTL (manual clock)', () => {
  let gw: RunningGateway;
  let cleanup: () => Promise<void>;
  let call: TestGateway['call'];
  const clock = new ManualClock(Date.parse('2026-03-11T08:00:00Z'));
  let sid: string;
  beforeAll(async () => {
    const tmp = await makeTempDir('aether-cache-');
    cleanup = tmp.cleanup;
    gw = await startGateway({ dataDir: tmp.dir, port: 0, clock });
    call = callerFor(gw);
    sid = await newSession(call);
  });
  afterAll(async () => {
    await gw?.close();
    await cleanup?.();
  });

  it('expires entries after ttlSeconds and purges them lazily', async () => {
    await call('PUT', `/v1/sessions/${sid}/cache/short`, { value: SEED_VALUE, ttlSeconds: 60 });
    clock.advance(59_999);
    expect((await call('GET', `/v1/sessions/${sid}/cache/short`)).body).toEqual({ value: SEED_VALUE, found: true });
    clock.advance(1);
    const gone = await call('GET', `/v1/sessions/${sid}/cache/short`);
    expect(gone.status).toBe(200);
    expect(gone.body).toEqual({ value: '', found: false });
    expect(gw.core.db.prepare('SELECT COUNT(*) AS n FROM cache_entries WHERE session_id = ? AND key = ?').get(sid, 'short')).toEqual({ n: 0 });
  });

  it('keeps entries without a TTL (absent or 0) forever, and a rewrite resets the TTL', async () => {
    await call('PUT', `/v1/sessions/${sid}/cache/forever`, { value: 'AQ==' });
    await call('PUT', `/v1/sessions/${sid}/cache/zero`, { value: 'Ag==', ttlSeconds: '0' });
    await call('PUT', `/v1/sessions/${sid}/cache/renewed`, { value: 'Aw==', ttlSeconds: 10 });
    clock.advance(9_000);
    await call('PUT', `/v1/sessions/${sid}/cache/renewed`, { value: 'BA==', ttlSeconds: 10 });
    clock.advance(9_000);
    expect((await call('GET', `/v1/sessions/${sid}/cache/renewed`)).body).toEqual({ value: 'BA==', found: true });
    clock.advance(10 * 365 * 86_400_000);
    expect((await call('GET', `/v1/sessions/${sid}/cache/forever`)).body).toEqual({ value: 'AQ==', found: true });
    expect((await call('GET', `/v1/sessions/${sid}/cache/zero`)).body).toEqual({ value: 'Ag==', found: true });
    expect((await call('GET', `/v1/sessions/${sid}/cache/renewed`)).body.found).toBe(false);
  });

  it('purges other expired entries of the session on writes', async () => {
    await call('PUT', `/v1/sessions/${sid}/cache/e1`, { value: 'AQ==', ttlSeconds: 1 });
    await call('PUT', `/v1/sessions/${sid}/cache/e2`, { value: 'AQ==', ttlSeconds: 1 });
    clock.advance(1_000);
    await call('PUT', `/v1/sessions/${sid}/cache/trigger`, { value: 'AQ==' });
    const left = gw.core.db.prepare("SELECT key FROM cache_entries WHERE session_id = ? AND key IN ('e1', 'e2')").all(sid);
    expect(left).toEqual([]);
  });

  it('accepts a huge ttlSeconds without overflowing', async () => {
    const r = await call('PUT', `/v1/sessions/${sid}/cache/huge`, { value: 'AQ==', ttlSeconds: '9007199254740991' });
    expect(r.status).toBe(200);
    expect((await call('GET', `/v1/sessions/${sid}/cache/huge`)).body.found).toBe(true);
    const tooBig = await call('PUT', `/v1/sessions/${sid}/cache/huge`, { value: 'AQ==', ttlSeconds: '99999999999999999999' });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.code).toBe(3);
  });
});
