// Session bus (seed §11): POST /v1/sessions/{id}/bus:publish and the NDJSON stream GET /v1/sessions/{id}/bus.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway, newSession } from '../../helpers/start-gateway.js';
import { busHubOf } from '../../../src/gateway/routes/coordination.js';
import { newId } from '../../../src/shared/digest.js';

const STATUS_PAYLOAD = 'eyJzdGF0dXMiOiJyZWFkeS1mb3ItYXBwcm92YWwifQ==';
const TESTS_PAYLOAD = 'eyJwYXNzZWQiOjEyOCwiZmFpbGVkIjowfQ==';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** An open bus stream read incrementally: parsed NDJSON lines, raw text, and the connection. */
interface BusStream {
  status: number;
  headers: Headers;
  /** The next parsed line (fails after `ms`). */
  next(ms?: number): Promise<any>;
  /** Resolve after `ms` if no line arrived meanwhile; fail otherwise. */
  expectQuiet(ms?: number): Promise<void>;
  /** Resolves when the server ended the body. */
  ended: Promise<void>;
  raw(): string;
  close(): void;
}

async function openStream(t: TestGateway, sessionId: string, query = '', token?: string): Promise<BusStream> {
  const ac = new AbortController();
  const res = await fetch(`${t.url}/v1/sessions/${sessionId}/bus${query}`, {
    headers: { authorization: `Bearer ${token ?? t.token}` },
    signal: ac.signal,
  });
  const lines: any[] = [];
  let raw = '';
  let wake: (() => void) | undefined;
  let done = false;
  const ended = (async () => {
    if (!res.body) return;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done: d } = await reader.read();
        if (d) break;
        const text = dec.decode(value, { stream: true });
        raw += text;
        buf += text;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
        wake?.();
      }
    } catch {
      // aborted by close()
    } finally {
      done = true;
      wake?.();
    }
  })();
  const waitLine = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (lines.length === 0 && !done && Date.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.max(1, deadline - Date.now()));
      });
    }
    return lines.length > 0;
  };
  return {
    status: res.status,
    headers: res.headers,
    async next(ms = 5000) {
      if (!(await waitLine(ms))) throw new Error(`no stream line within ${ms} ms (ended: ${done}); got so far: ${raw}`);
      return lines.shift();
    },
    async expectQuiet(ms = 300) {
      await waitLine(ms);
      expect(lines, 'unexpected stream lines').toEqual([]);
    },
    ended,
    raw: () => raw,
    close: () => ac.abort(),
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('session bus', () => {
  let t: TestGateway;
  let sid: string;
  const open: BusStream[] = [];
  const stream = async (sessionId: string, query = '', token?: string) => {
    const s = await openStream(t, sessionId, query, token);
    open.push(s);
    return s;
  };
  const publish = (sessionId: string, topic: string, payload: string, token?: string) =>
    t.call('POST', `/v1/sessions/${sessionId}/bus:publish`, { topic, payload }, token);

  beforeAll(async () => {
    t = await startTestGateway();
    sid = await newSession(t.call);
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
  });

  it('publishes the seed example as printed and stores it', async () => {
    const r = await t.call('POST', `/v1/sessions/${sid}/bus:publish`, { topic: 'review:status', payload: STATUS_PAYLOAD });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    const row = t.gw.core.db.prepare('SELECT * FROM bus_messages WHERE session_id = ? ORDER BY seq DESC LIMIT 1').get(sid) as any;
    expect(row.id).toMatch(/^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(row.topic).toBe('review:status');
    expect(Buffer.from(row.payload).toString('utf8')).toBe('{"status":"ready-for-approval"}');
    expect(row.sender_id).toBe('admin');
  });

  it('streams the seed subscription: replayLimit=2 replays the last two matching messages, then live ones, as NDJSON', async () => {
    const s2 = await newSession(t.call);
    expect((await publish(s2, 'review:status', 'b2xk')).status).toBe(200); // older: not among the last two
    expect((await publish(s2, 'noise', 'AA==')).status).toBe(200); // other topic: filtered out
    await publish(s2, 'review:status', STATUS_PAYLOAD);
    await publish(s2, 'tests:complete', TESTS_PAYLOAD);
    await publish(s2, 'noise', 'AQ==');
    const s = await stream(s2, '?topics=review:status&topics=tests:complete&scope=SESSION_ONLY&replayLimit=2');
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('application/x-ndjson');
    const first = await s.next();
    const second = await s.next();
    expect(Object.keys(first)).toEqual(['result']);
    expect(first.result).toEqual({
      messageId: expect.stringMatching(/^msg_/),
      sessionId: s2,
      topic: 'review:status',
      payload: STATUS_PAYLOAD,
      senderId: 'admin',
      publishedAt: expect.stringMatching(RFC3339),
    });
    expect(second.result).toEqual({
      messageId: expect.stringMatching(/^msg_/),
      sessionId: s2,
      topic: 'tests:complete',
      payload: TESTS_PAYLOAD,
      senderId: 'admin',
      publishedAt: expect.stringMatching(RFC3339),
    });
    expect(first.result.messageId < second.result.messageId).toBe(true);
    await s.expectQuiet(200);
    // Live: only the subscribed topics arrive, in order.
    await publish(s2, 'noise', 'Ag==');
    await publish(s2, 'tests:complete', 'Aw==');
    await publish(s2, 'review:status', 'BA==');
    expect((await s.next()).result).toMatchObject({ topic: 'tests:complete', payload: 'Aw==' });
    expect((await s.next()).result).toMatchObject({ topic: 'review:status', payload: 'BA==' });
    await s.expectQuiet(200);
    // Every line is exactly one JSON object terminated by "\n".
    expect(s.raw().endsWith('\n')).toBe(true);
    for (const line of s.raw().trimEnd().split('\n')) expect(Object.keys(JSON.parse(line))).toEqual(['result']);
    s.close();
  });

  it('delivers live messages filtered by topic and nothing else', async () => {
    const s3 = await newSession(t.call);
    const s = await stream(s3, '?topics=alpha');
    const all = await stream(s3, '?scope=BUS_SCOPE_SESSION_ONLY');
    await s.expectQuiet(100); // no replay by default
    await publish(s3, 'beta', Buffer.from('b1').toString('base64'));
    await publish(s3, 'alpha', Buffer.from('a1').toString('base64'));
    await publish(s3, 'alpha', Buffer.from('a2').toString('base64'));
    const a1 = (await s.next()).result;
    const a2 = (await s.next()).result;
    expect([a1.topic, a2.topic]).toEqual(['alpha', 'alpha']);
    expect([Buffer.from(a1.payload, 'base64').toString(), Buffer.from(a2.payload, 'base64').toString()]).toEqual(['a1', 'a2']);
    await s.expectQuiet(200);
    const got = [(await all.next()).result.topic, (await all.next()).result.topic, (await all.next()).result.topic];
    expect(got).toEqual(['beta', 'alpha', 'alpha']);
    // A message on another session never shows up here.
    const other = await newSession(t.call);
    await publish(other, 'alpha', 'AA==');
    await s.expectQuiet(200);
    s.close();
    all.close();
  });

  it('replays every stored message after replayAfterMessageId, then continues live without gaps', async () => {
    const s4 = await newSession(t.call);
    for (let i = 0; i < 5; i++) await publish(s4, i % 2 ? 'odd' : 'even', Buffer.from(String(i)).toString('base64'));
    const ids = (t.gw.core.db.prepare('SELECT id FROM bus_messages WHERE session_id = ? ORDER BY seq').all(s4) as Array<{ id: string }>).map((r) => r.id);
    expect([...ids].sort()).toEqual(ids); // ids increase in publish order
    const s = await stream(s4, `?replayAfterMessageId=${ids[1]}`);
    const replayed = [(await s.next()).result, (await s.next()).result, (await s.next()).result];
    expect(replayed.map((m) => m.messageId)).toEqual(ids.slice(2));
    expect(replayed.map((m) => Buffer.from(m.payload, 'base64').toString())).toEqual(['2', '3', '4']);
    await s.expectQuiet(150);
    await publish(s4, 'even', Buffer.from('5').toString('base64'));
    expect(Buffer.from((await s.next()).result.payload, 'base64').toString()).toBe('5');
    s.close();
    // With a topic filter: only matching messages after the id.
    const f = await stream(s4, `?topics=odd&replayAfterMessageId=${ids[0]}`);
    expect([(await f.next()).result.messageId, (await f.next()).result.messageId]).toEqual([ids[1], ids[3]]);
    await f.expectQuiet(150);
    f.close();
    // The last id: nothing to replay.
    const last = await stream(s4, `?replayAfterMessageId=${ids[4]}&topics=odd`);
    await last.expectQuiet(150);
    last.close();
  });

  it('replays in batches and loses nothing while publishers race the subscription', async () => {
    const s5 = await newSession(t.call);
    for (let i = 0; i < 1200; i++) {
      t.gw.core.db
        .prepare('INSERT INTO bus_messages (id, session_id, topic, payload, sender_id, published_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(`msg_${String(i).padStart(26, '0')}`, s5, 't', Buffer.from(String(i)), 'admin', Date.now());
    }
    const racing = (async () => {
      for (let i = 1200; i < 1230; i++) await publish(s5, 't', Buffer.from(String(i)).toString('base64'));
    })();
    const s = await stream(s5, '?replayLimit=1200');
    await racing;
    const seen: number[] = [];
    for (let i = 0; i < 1230; i++) {
      const line = await s.next();
      seen.push(Number(Buffer.from(line.result.payload, 'base64').toString()));
    }
    // Every message once, in publish order; the replay window starts somewhere in the first 30.
    const startAt = seen[0]!;
    expect(startAt).toBeGreaterThanOrEqual(0);
    expect(startAt).toBeLessThanOrEqual(30);
    const expected = Array.from({ length: 1230 - startAt }, (_, i) => startAt + i);
    expect(seen.slice(0, expected.length)).toEqual(expected);
    s.close();
  });

  it('closes cleanly when the client aborts and unregisters the subscriber', async () => {
    const hub = busHubOf(t.gw.core)!;
    await until(() => hub.subscriberCount === 0);
    const s6 = await newSession(t.call);
    const s = await stream(s6, '?topics=x');
    await until(() => hub.subscriberCount === 1);
    s.close();
    await s.ended;
    await until(() => hub.subscriberCount === 0);
    // Publishing afterwards works and nobody is left to deliver to.
    expect((await publish(s6, 'x', 'AA==')).status).toBe(200);
  });

  it('answers parameter errors before the stream starts, as JSON Status', async () => {
    const s7 = await newSession(t.call);
    const cases: Array<[string, number, number]> = [
      ['?scope=GLOBAL', 400, 3],
      ['?scope=BUS_SCOPE_UNSPECIFIED', 400, 3],
      ['?replayLimit=-1', 400, 3],
      ['?replayLimit=two', 400, 3],
      ['?replayLimit=2147483648', 400, 3],
      ['?topics=', 400, 3],
      [`?topics=${'t'.repeat(257)}`, 400, 3],
      [`?replayAfterMessageId=${newId('msg')}`, 404, 5],
    ];
    for (const [q, status, code] of cases) {
      const r = await t.call('GET', `/v1/sessions/${s7}/bus${q}`);
      expect(r.status, q).toBe(status);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(r.body).toMatchObject({ code, details: [] });
    }
    // A message id of another session is unknown here too.
    await publish(sid, 'x', 'AA==');
    const foreign = (t.gw.core.db.prepare('SELECT id FROM bus_messages WHERE session_id = ? ORDER BY seq DESC LIMIT 1').get(sid) as { id: string }).id;
    expect((await t.call('GET', `/v1/sessions/${s7}/bus?replayAfterMessageId=${foreign}`)).body.code).toBe(5);
  });

  it('validates publish requests with code 3', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /topic is required/],
      [{ topic: '' }, /topic is required/],
      [{ topic: 7 }, /topic/],
      [{ topic: 'x'.repeat(257) }, /topic/],
      [{ topic: 'a\nb' }, /topic/],
      [{ topic: 'ok', payload: '***' }, /payload/],
      [{ topic: 'ok', payload: Buffer.alloc(1024 * 1024 + 1).toString('base64') }, /payload/],
    ];
    for (const [body, msg] of cases) {
      const r = await t.call('POST', `/v1/sessions/${sid}/bus:publish`, body);
      expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toMatch(msg);
    }
    expect((await t.call('POST', `/v1/sessions/${sid}/bus:publish`, { topic: 'x'.repeat(256) })).status).toBe(200);
    expect((await t.call('POST', `/v1/sessions/${sid}/bus:publish`, { topic: 'no-payload' })).status).toBe(200);
  });

  it('isolates tenants: other tenants get 404 and never see messages', async () => {
    const other = await t.tokenFor('bus-other-tenant');
    expect((await publish(sid, 'review:status', STATUS_PAYLOAD, other)).status).toBe(404);
    const r = await t.call('GET', `/v1/sessions/${sid}/bus?replayLimit=5`, undefined, other);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 5, details: [] });
    const theirs = await newSession(t.call, other);
    const s = await stream(theirs, '?replayLimit=100', other);
    expect(s.status).toBe(200);
    await publish(sid, 'review:status', STATUS_PAYLOAD);
    await s.expectQuiet(200);
    await publish(theirs, 'mine', 'AA==', other);
    expect((await s.next()).result).toMatchObject({ sessionId: theirs, topic: 'mine', senderId: 'bus-other-tenant' });
    s.close();
    expect((await t.call('GET', `/v1/sessions/${sid}/bus`, undefined, null)).status).toBe(401);
  });

  it('ends open streams when the gateway shuts down', async () => {
    const t2 = await startTestGateway();
    const s8 = await newSession(t2.call);
    const s = await openStream(t2, s8, '?topics=a');
    expect(s.status).toBe(200);
    await t2.close();
    await s.ended;
  });
});
