// HttpGatewayClient against the real gateway: session cache, bus (publish + NDJSON stream) and
// the event log (including the waitSeconds long-poll).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import type { BusMessage } from '../../../src/client/gateway-client.js';
import { GatewayError } from '../../../src/client/gateway-error.js';
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cache', () => {
  it('set, get, overwrite, delete; missing keys are found:false', async () => {
    await client.cacheSet(sid, 'analysis.summary', Buffer.from('{"status":"ready-for-review","risk":"low"}'), { ttlSeconds: 3600 });
    const e = await client.cacheGet(sid, 'analysis.summary');
    expect(e.found).toBe(true);
    expect(JSON.parse(e.value.toString())).toEqual({ status: 'ready-for-review', risk: 'low' });
    await client.cacheSet(sid, 'analysis.summary', 'v2');
    expect((await client.cacheGet(sid, 'analysis.summary')).value.toString()).toBe('v2');
    await client.cacheDelete(sid, 'analysis.summary');
    expect(await client.cacheGet(sid, 'analysis.summary')).toEqual({ found: false, value: Buffer.alloc(0) });
    await client.cacheDelete(sid, 'never-set'); // idempotent
  });

  it('binary values and keys needing encoding', async () => {
    const v = Buffer.from([0, 1, 2, 250, 255]);
    await client.cacheSet(sid, 'tool output:v1', v);
    expect((await client.cacheGet(sid, 'tool output:v1')).value.equals(v)).toBe(true);
  });

  it('entries expire after their TTL', async () => {
    await client.cacheSet(sid, 'short', 'x', { ttlSeconds: 1 });
    expect((await client.cacheGet(sid, 'short')).found).toBe(true);
    await sleep(2100);
    expect((await client.cacheGet(sid, 'short')).found).toBe(false);
  });
});

describe('bus', () => {
  it('replays recent messages, then delivers live ones, filtered by topic', async () => {
    await client.busPublish(sid, { topic: 'review:status', payload: Buffer.from('{"status":"a"}') });
    await client.busPublish(sid, { topic: 'noise', payload: 'ignored' });
    await client.busPublish(sid, { topic: 'tests:complete', payload: '{"passed":128,"failed":0}' });

    const ac = new AbortController();
    const got: BusMessage[] = [];
    const done = (async () => {
      for await (const m of client.busSubscribe(sid, { topics: ['review:status', 'tests:complete'], replayLimit: 2, signal: ac.signal })) {
        got.push(m);
        if (got.length === 3) ac.abort();
      }
    })();
    await sleep(200);
    await client.busPublish(sid, { topic: 'review:status', payload: 'live' });
    await done;
    expect(got.map((m) => m.topic)).toEqual(['review:status', 'tests:complete', 'review:status']);
    expect(got[0]!.payload.toString()).toBe('{"status":"a"}');
    expect(JSON.parse(got[1]!.payload.toString())).toEqual({ passed: 128, failed: 0 });
    expect(got[2]!.payload.toString()).toBe('live');
    expect(got[0]!.messageId).toBeTruthy();
    expect(got[0]!.sessionId).toBe(sid);
  });

  it('replayAfterMessageId resumes after a given message', async () => {
    for (const p of ['1', '2', '3']) await client.busPublish(sid, { topic: 't', payload: p });
    const ac = new AbortController();
    const first: BusMessage[] = [];
    for await (const m of client.busSubscribe(sid, { replayLimit: 3, signal: ac.signal })) {
      first.push(m);
      if (first.length === 3) break;
    }
    const after: string[] = [];
    const ac2 = new AbortController();
    for await (const m of client.busSubscribe(sid, { replayAfterMessageId: first[0]!.messageId, signal: ac2.signal })) {
      after.push(m.payload.toString());
      if (after.length === 2) ac2.abort();
    }
    expect(after).toEqual(['2', '3']);
    void ac;
  });

  it('an unknown replayAfterMessageId fails before the stream starts', async () => {
    const run = async () => {
      for await (const _ of client.busSubscribe(sid, { replayAfterMessageId: 'msg_unknown' })) void _;
    };
    await expect(run()).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('subscribing to an unknown session fails with NOT_FOUND', async () => {
    const run = async () => {
      for await (const _ of client.busSubscribe('sess_missing')) void _;
    };
    await expect(run()).rejects.toBeInstanceOf(GatewayError);
  });

  it('an idle subscription is not cut by the client timeout', async () => {
    const c = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token, timeoutMs: 300 });
    const ac = new AbortController();
    const got: string[] = [];
    const done = (async () => {
      for await (const m of c.busSubscribe(sid, { signal: ac.signal })) {
        got.push(m.payload.toString());
        ac.abort();
      }
    })();
    await sleep(1200);
    await c.busPublish(sid, { topic: 't', payload: 'late' });
    await done;
    await c.close();
    expect(got).toEqual(['late']);
  });
});

describe('events', () => {
  it('lists mutations oldest first, filters by type, pages', async () => {
    await client.createDir(sid, { path: '/a' });
    await client.rename(sid, { sourcePath: '/a', destinationPath: '/b' });
    await client.addAnnotation(sid, { filePath: '/b', comment: 'note' }).catch(() => undefined);
    const all = await client.listEvents(sid);
    const types = all.events!.map((e) => e.eventType);
    expect(types).toContain('v1.FileSystemService.CreateDirectory');
    expect(types).toContain('v1.FileSystemService.Rename');
    expect(types.indexOf('v1.FileSystemService.CreateDirectory')).toBeLessThan(types.indexOf('v1.FileSystemService.Rename'));
    const renames = await client.listEvents(sid, { eventType: 'v1.FileSystemService.Rename' });
    expect(renames.events).toHaveLength(1);
    expect(renames.events![0]!.details).toMatchObject({ sourcePath: '/a', destinationPath: '/b' });
    const p1 = await client.listEvents(sid, { pageSize: 1 });
    expect(p1.events).toHaveLength(1);
    expect(p1.nextPageToken).toBeTruthy();
    const p2 = await client.listEvents(sid, { pageSize: 1, pageToken: p1.nextPageToken });
    expect(p2.events![0]!.eventId).not.toBe(p1.events![0]!.eventId);
  });

  it('waitSeconds long-polls until an event arrives', async () => {
    const existing = await client.listEvents(sid);
    const lastId = existing.events?.at(-1)?.eventId;
    const started = Date.now();
    const poll = client.listEvents(sid, { eventType: 'v1.FileSystemService.CreateDirectory', waitSeconds: 10, ...(lastId ? { afterEventId: lastId } : {}) });
    await sleep(300);
    await client.createDir(sid, { path: '/waited' });
    const r = await poll;
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.events?.map((e) => e.eventType)).toContain('v1.FileSystemService.CreateDirectory');
  });

  it('events caused by a client with a clientId carry details.clientId', async () => {
    const c = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token, clientId: 'mnt-test-1' });
    await c.createDir(sid, { path: '/from-mount' });
    await c.close();
    await client.createDir(sid, { path: '/from-elsewhere' });
    const evs = (await client.listEvents(sid, { eventType: 'v1.FileSystemService.CreateDirectory' })).events!;
    const byPath = new Map(evs.map((e) => [e.details?.path, e.details?.clientId]));
    expect(byPath.get('/from-mount')).toBe('mnt-test-1');
    expect(byPath.get('/from-elsewhere')).toBeUndefined();
  });

  it('an aborted long-poll rejects with CANCELLED', async () => {
    const ac = new AbortController();
    const poll = client.listEvents(sid, { eventType: 'v1.SessionService.Commit', waitSeconds: 30, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(poll).rejects.toMatchObject({ rpcCode: 1 });
  });
});
