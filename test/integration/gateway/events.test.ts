// Session event log (seed §30): GET /v1/sessions/{id}/events, plus the Aether extensions
// eventType, afterEventId and waitSeconds (long-poll).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerFor, newSession, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startGateway, type RunningGateway } from '../../../src/gateway/server.js';
import { ManualClock } from '../../../src/shared/clock.js';
import { newId } from '../../../src/shared/digest.js';

describe('session event log', () => {
  const clock = new ManualClock(Date.parse('2026-03-11T07:00:00Z'));
  let gw: RunningGateway;
  let cleanup: () => Promise<void>;
  let call: TestGateway['call'];
  let sid: string;
  const at = (iso: string) => clock.set(Date.parse(iso));
  const record = (sessionId: string, iso: string, type: string, details: Record<string, string>) => {
    at(iso);
    gw.core.events.record(sessionId, type, details);
  };
  const events = (sessionId: string, query: string) => call('GET', `/v1/sessions/${sessionId}/events${query}`);

  beforeAll(async () => {
    const tmp = await makeTempDir('aether-events-');
    cleanup = tmp.cleanup;
    gw = await startGateway({ dataDir: tmp.dir, port: 0, clock });
    call = callerFor(gw);
    sid = await newSession(call);
    // Whatever session creation recorded happened at 07:00, outside the seed window.
    record(sid, '2026-03-11T07:59:59Z', 'v1.FileSystemService.CreateDirectory', { path: '/src' });
    record(sid, '2026-03-11T08:12:11Z', 'v1.FileSystemService.Rename', { sourcePath: '/src/legacy/config.ts', destinationPath: '/src/config/index.ts' });
    record(sid, '2026-03-11T08:18:04Z', 'v1.AnnotationService.AddAnnotation', { filePath: '/src/main.ts', annotationId: 'ann_01HRJ5Q8D3RMY8H7RWX7Y1AVRJ' });
    record(sid, '2026-03-11T08:30:00Z', 'v1.SessionService.CreateCheckpoint', { checkpointId: 'cp_1', label: 'x' });
    record(sid, '2026-03-11T08:59:59.500Z', 'v1.FileSystemService.DeleteFile', { path: '/a' });
    record(sid, '2026-03-11T09:00:00Z', 'v1.FileSystemService.DeleteFile', { path: '/b' });
  });
  afterAll(async () => {
    await gw?.close();
    await cleanup?.();
  });

  it('answers the seed request as printed: the first page of the window, two events, with a token', async () => {
    const r = await events(sid, '?startTime=2026-03-11T08:00:00Z&endTime=2026-03-11T09:00:00Z&pageSize=2');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['events', 'nextPageToken']);
    expect(r.body.events).toEqual([
      {
        eventId: expect.stringMatching(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/),
        timestamp: '2026-03-11T08:12:11Z',
        eventType: 'v1.FileSystemService.Rename',
        details: { sourcePath: '/src/legacy/config.ts', destinationPath: '/src/config/index.ts' },
      },
      {
        eventId: expect.stringMatching(/^evt_/),
        timestamp: '2026-03-11T08:18:04Z',
        eventType: 'v1.AnnotationService.AddAnnotation',
        details: { filePath: '/src/main.ts', annotationId: 'ann_01HRJ5Q8D3RMY8H7RWX7Y1AVRJ' },
      },
    ]);
    expect(r.body.nextPageToken).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('pages through everything with pageSize=2; the last page has nextPageToken ""', async () => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const r = await events(sid, `?pageSize=2${token ? `&pageToken=${token}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.events.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.events.map((e: any) => e.timestamp));
      token = r.body.nextPageToken;
      pages++;
    } while (token);
    const all = (await events(sid, '')).body;
    expect(all.nextPageToken).toBe('');
    expect(seen).toEqual(all.events.map((e: any) => e.timestamp));
    expect(seen.slice(-6)).toEqual([
      '2026-03-11T07:59:59Z',
      '2026-03-11T08:12:11Z',
      '2026-03-11T08:18:04Z',
      '2026-03-11T08:30:00Z',
      '2026-03-11T08:59:59.500Z',
      '2026-03-11T09:00:00Z',
    ]);
    expect(pages).toBe(Math.ceil(seen.length / 2)); // no trailing empty page
  });

  it('filters by time: start inclusive, end exclusive, offsets normalized', async () => {
    const win = await events(sid, '?startTime=2026-03-11T08:12:11Z&endTime=2026-03-11T09:00:00Z');
    expect(win.body.events.map((e: any) => e.timestamp)).toEqual(['2026-03-11T08:12:11Z', '2026-03-11T08:18:04Z', '2026-03-11T08:30:00Z', '2026-03-11T08:59:59.500Z']);
    expect(win.body.nextPageToken).toBe('');
    const fromNine = await events(sid, `?startTime=${encodeURIComponent('2026-03-11T10:00:00+01:00')}`);
    expect(fromNine.body.events.map((e: any) => e.timestamp)).toEqual(['2026-03-11T09:00:00Z']);
    const before = await events(sid, '?endTime=2026-03-11T08:00:00Z');
    expect(before.body.events.map((e: any) => e.eventType)).toContain('v1.FileSystemService.CreateDirectory');
    expect(before.body.events.every((e: any) => e.timestamp < '2026-03-11T08:00:00Z')).toBe(true);
    const empty = await events(sid, '?startTime=2026-03-11T08:00:00Z&endTime=2026-03-11T08:00:00Z');
    expect(empty.body).toEqual({ events: [], nextPageToken: '' });
  });

  it('filters by eventType (extension), repeated or single', async () => {
    const one = await events(sid, '?eventType=v1.FileSystemService.DeleteFile');
    expect(one.body.events.map((e: any) => e.details.path)).toEqual(['/a', '/b']);
    const two = await events(sid, '?eventType=v1.FileSystemService.Rename&eventType=v1.SessionService.CreateCheckpoint&pageSize=1');
    expect(two.body.events.map((e: any) => e.eventType)).toEqual(['v1.FileSystemService.Rename']);
    const next = await events(sid, `?eventType=v1.FileSystemService.Rename&eventType=v1.SessionService.CreateCheckpoint&pageSize=1&pageToken=${two.body.nextPageToken}`);
    expect(next.body.events.map((e: any) => e.eventType)).toEqual(['v1.SessionService.CreateCheckpoint']);
    expect(next.body.nextPageToken).toBe('');
    expect((await events(sid, '?eventType=v1.Nope.Nothing')).body).toEqual({ events: [], nextPageToken: '' });
  });

  it('starts after a given event with afterEventId (extension)', async () => {
    const all = (await events(sid, '')).body.events;
    const r = await events(sid, `?afterEventId=${all[all.length - 3].eventId}`);
    expect(r.body.events.map((e: any) => e.eventId)).toEqual(all.slice(-2).map((e: any) => e.eventId));
    expect((await events(sid, `?afterEventId=${newId('evt')}`)).body).toMatchObject({ code: 5, details: [] });
  });

  it('defaults pageSize to 100 and caps it at 1000', async () => {
    const s2 = await newSession(call);
    at('2026-03-12T00:00:00Z');
    for (let i = 0; i < 1005; i++) gw.core.events.record(s2, 'v1.FileSystemService.Batch', { i: String(i) });
    const dflt = await events(s2, '');
    expect(dflt.body.events).toHaveLength(100);
    expect(dflt.body.nextPageToken).not.toBe('');
    const big = await events(s2, '?pageSize=5000');
    expect(big.body.events).toHaveLength(1000);
    const rest = await events(s2, `?pageSize=5000&pageToken=${big.body.nextPageToken}`);
    const total = big.body.events.length + rest.body.events.length;
    expect(rest.body.nextPageToken).toBe('');
    expect(rest.body.events.at(-1).details).toEqual({ i: '1004' });
    expect(total).toBeGreaterThanOrEqual(1005);
  });

  it('rejects bad parameters with code 3', async () => {
    const bad = [
      '?startTime=yesterday',
      '?endTime=2026-03-11',
      '?startTime=2026-03-11T09:00:00Z&endTime=2026-03-11T08:00:00Z',
      '?pageSize=-1',
      '?pageSize=ten',
      '?pageToken=!!!',
      '?pageToken=bm90LWpzb24',
      '?waitSeconds=31',
      '?waitSeconds=-1',
      '?eventType=',
      '?startTime=2026-03-11T08:00:00Z&startTime=2026-03-11T09:00:00Z',
    ];
    for (const q of bad) {
      const r = await events(sid, q);
      expect(r.status, q).toBe(400);
      expect(r.body, q).toMatchObject({ code: 3, details: [] });
    }
  });

  it('hides other tenants\' logs (404)', async () => {
    const other = gw.core.auth.createToken('events-other');
    const r = await call('GET', `/v1/sessions/${sid}/events`, undefined, other);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 5, details: [] });
    expect((await call('GET', '/v1/sessions/sess_nope/events')).status).toBe(404);
  });

  describe('long-poll (extension waitSeconds)', () => {
    it('waits for the next event of the session and answers as soon as it is recorded', async () => {
      const s3 = await newSession(call);
      const all = (await events(s3, '')).body.events;
      const cursor = all.length ? `&afterEventId=${all[all.length - 1].eventId}` : '';
      const started = Date.now();
      const pending = events(s3, `?waitSeconds=10${cursor}`);
      await new Promise((r) => setTimeout(r, 150));
      gw.core.events.record(sid, 'v1.FileSystemService.Rename', { sourcePath: '/x', destinationPath: '/y' }); // other session: no wake-up
      await new Promise((r) => setTimeout(r, 150));
      gw.core.events.record(s3, 'v1.FileSystemService.CreateDirectory', { path: '/new' });
      const r = await pending;
      const elapsed = Date.now() - started;
      expect(r.status).toBe(200);
      expect(r.body.events.map((e: any) => e.details)).toEqual([{ path: '/new' }]);
      expect(r.body.nextPageToken).toBe('');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5000);
    });

    it('keeps waiting when the new event does not match the filter', async () => {
      const s4 = await newSession(call);
      const pending = events(s4, '?waitSeconds=10&eventType=v1.LockService.Lock');
      await new Promise((r) => setTimeout(r, 100));
      gw.core.events.record(s4, 'v1.FileSystemService.CreateDirectory', { path: '/ignored' });
      await new Promise((r) => setTimeout(r, 100));
      gw.core.events.record(s4, 'v1.LockService.Lock', { filePath: '/a' });
      const r = await pending;
      expect(r.body.events.map((e: any) => e.eventType)).toEqual(['v1.LockService.Lock']);
    });

    it('answers an empty page when the time passes', async () => {
      const s5 = await newSession(call);
      const all = (await events(s5, '')).body.events;
      const cursor = all.length ? `&afterEventId=${all[all.length - 1].eventId}` : '';
      const started = Date.now();
      const r = await events(s5, `?waitSeconds=1${cursor}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(r.body).toEqual({ events: [], nextPageToken: '' });
    });

    it('answers at once when events are already there', async () => {
      const started = Date.now();
      const r = await events(sid, '?waitSeconds=30&pageSize=1');
      expect(r.body.events).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('does not wait when endTime has already passed', async () => {
      const started = Date.now();
      const r = await events(sid, '?waitSeconds=30&endTime=2000-01-01T00:00:00Z');
      expect(r.body).toEqual({ events: [], nextPageToken: '' });
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('gives up quietly when the client disconnects', async () => {
      const s6 = await newSession(call);
      const ac = new AbortController();
      const p = fetch(`${gw.url}/v1/sessions/${s6}/events?waitSeconds=30&eventType=v1.Never`, { headers: { authorization: `Bearer ${gw.token}` }, signal: ac.signal });
      await new Promise((r) => setTimeout(r, 100));
      ac.abort();
      await expect(p).rejects.toThrow();
      // The gateway is still fine.
      expect((await events(sid, '?pageSize=1')).status).toBe(200);
    });
  });
});
