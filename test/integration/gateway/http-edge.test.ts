// The gateway's HTTP edge against a real server on 127.0.0.1:0, with raw sockets (node:net) for
// requests no well-behaved client sends: ill-formed Unicode in paths (JSON "\ud800", percent
// escapes), malformed percent-escapes, parser errors (431, bad request line), HEAD, slow and
// abandoned bodies, the connection cap, and the size of echoed inputs. Plus a bounded fuzz of bad
// requests: never a 5xx, and 401 for every bad token.
import { MAX_HEADER_BYTES } from '../../../src/shared/path-limits.js';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../../src/gateway/server.js';
import { callerFor, newSession, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import type { Logger } from '../../../src/shared/log.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (rather than us after the wait). */
  closed: boolean;
}

/** Send `data` on a fresh connection and collect what comes back until the server closes or `waitMs` passes. */
function raw(port: number, data: string | Buffer, waitMs = 3_000, hold?: (s: net.Socket) => void): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status, headers, body: rest.join('\r\n\r\n'), closed });
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => {
      closed = true;
      done();
    });
    s.on('close', () => {
      closed = true;
      done();
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => {
      s.write(data);
      hold?.(s);
    });
  });
}

function envelope(r: RawResponse): { code: number; message: string; details: unknown[] } {
  expect(r.headers['content-type']).toBe('application/json');
  const b = JSON.parse(r.body);
  expect(typeof b.code).toBe('number');
  expect(typeof b.message).toBe('string');
  expect(b.details).toEqual([]);
  return b;
}

function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('gateway HTTP edge', () => {
  let gw: RunningGateway;
  let call: TestGateway['call'];
  let cleanup: () => Promise<void>;
  let sessionId: string;
  const log = recordingLogger();

  beforeAll(async () => {
    const t = await makeTempDir('aether-edge-');
    cleanup = t.cleanup;
    gw = await startGateway({ dataDir: t.dir, port: 0, logger: log, limits: { headersTimeoutMs: 1_000, bodyIdleTimeoutMs: 500, maxConnections: 40 } });
    call = callerFor(gw);
    sessionId = await newSession(call);
  });
  afterAll(async () => {
    await gw?.close();
    await cleanup?.();
  });
  afterEach(() => {
    log.lines.length = 0;
  });

  const post = (path: string, json: string, extra = '') =>
    `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n${extra}\r\n${json}`;
  const get = (target: string, method = 'GET') => `${method} ${target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.token}\r\nconnection: close\r\n\r\n`;

  it('rejects a JSON "\\ud800" lone surrogate in a path with code 3 and creates nothing', async () => {
    const r = await raw(gw.port, post(`/v1/sessions/${sessionId}/dirs`, '{"path":"/lone\\ud800"}'));
    expect(r.status).toBe(400);
    expect(envelope(r).code).toBe(3);
    // A trailing low surrogate alone, and one in a batch write path, too.
    const r2 = await raw(gw.port, post(`/v1/sessions/${sessionId}/batch`, '{"operations":[{"write":{"path":"/x\\udc00y","content":""}}]}'));
    expect(r2.status).toBe(400);
    expect(envelope(r2).code).toBe(3);
    const m = await call('GET', `/v1/sessions/${sessionId}/manifest`);
    expect(JSON.stringify(m.body)).not.toMatch(/lone|x.y/);
    // A proper pair (an astral character) is fine.
    const ok = await raw(gw.port, post(`/v1/sessions/${sessionId}/dirs`, '{"path":"/pair\\ud83d\\ude00"}'));
    expect(ok.status).toBe(200);
  });

  it('rejects a percent-encoded lone surrogate or non-UTF-8 bytes in the query with code 3', async () => {
    for (const bad of ['%2Fa%ED%A0%80', '%2Fa%FF', '%2Fa%C3']) {
      const r = await raw(gw.port, get(`/v1/sessions/${sessionId}/files?path=${bad}`, 'DELETE'));
      expect(r.status, bad).toBe(400);
      expect(envelope(r).code).toBe(3);
    }
  });

  it('answers a malformed percent-escape in the path with 400 and the envelope (not 501)', async () => {
    for (const target of [`/v1/sessions/sess%zz`, `/v1/sessions/${sessionId}/blobs/%E0%A4`, '/v1/sessions/%']) {
      const r = await raw(gw.port, get(target));
      expect(r.status, target).toBe(400);
      expect(envelope(r).code).toBe(3);
    }
    const q = await raw(gw.port, get(`/v1/sessions/${sessionId}/files?path=%zz`, 'DELETE'));
    expect(q.status).toBe(400);
    expect(envelope(q).code).toBe(3);
  });

  it('answers Node parser errors with the Status envelope: 431 and a bad request line', async () => {
    const big = `GET /v1/healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(MAX_HEADER_BYTES + 1_000)}\r\n\r\n`;
    const r = await raw(gw.port, big);
    expect(r.status).toBe(431);
    expect(envelope(r).code).toBe(3);
    const bad = await raw(gw.port, 'NOT A REQUEST\r\n\r\n');
    expect(bad.status).toBe(400);
    expect(envelope(bad).code).toBe(3);
    const badHeader = await raw(gw.port, 'GET /v1/healthz HTTP/1.1\r\nhost x\r\n\r\n');
    expect(badHeader.status).toBe(400);
    expect(envelope(badHeader).code).toBe(3);
  });

  it('serves HEAD like GET without a body, and HEAD errors carry the envelope headers', async () => {
    const g = await raw(gw.port, get('/v1/healthz'));
    const h = await raw(gw.port, get('/v1/healthz', 'HEAD'));
    expect(h.status).toBe(200);
    expect(h.headers['content-type']).toBe('application/json');
    expect(h.headers['content-length']).toBe(g.headers['content-length']);
    expect(h.body).toBe('');
    const missing = await raw(gw.port, get('/v1/nothing-here', 'HEAD'));
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json');
  });

  it('times out request headers that never finish with 408 and the envelope', async () => {
    const t0 = Date.now();
    const r = await raw(gw.port, 'GET /v1/healthz HTTP/1.1\r\nhost: x\r\n', 10_000);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(9_000);
    expect(r.status).toBe(408);
    expect(envelope(r).code).toBe(4);
  });

  it('cuts a body that stalls with 408 and closes the connection', async () => {
    const t0 = Date.now();
    const head = `POST /v1/sessions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"`;
    const r = await raw(gw.port, head, 10_000);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(9_000);
    expect(r.status).toBe(408);
    expect(envelope(r).code).toBe(4);
  });

  it('does not time out a long-lived response once the request is read', async () => {
    // A blocking lock wait outlives the 1 s header timeout: the request was read, so Node must not cut it.
    const w = await call('POST', `/v1/sessions/${sessionId}/batch`, { operations: [{ write: { path: '/held', content: '' } }] });
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    const lock = (ownerId: string, extra: Record<string, unknown> = {}) => ({ path: '/held', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: { ownerId, clientId: '1', pid: 1 }, ...extra });
    const a = await call('POST', `/v1/sessions/${sessionId}:setPosixLock`, lock('1'));
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    const t0 = Date.now();
    const b = await call('POST', `/v1/sessions/${sessionId}:setPosixLockBlocking`, lock('2', { timeoutMs: 2_500 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_300);
    // The route's own bounded-wait answer (DEADLINE_EXCEEDED), not the transport's 408 / a cut connection.
    expect(b.status).toBe(504);
    expect(b.body.code).toBe(4);
    expect(b.body.message).toMatch(/lock/);
  });

  it('caps open connections', async () => {
    const socks: net.Socket[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const s = net.connect(gw.port, '127.0.0.1');
        socks.push(s);
        await new Promise<void>((res, rej) => s.once('connect', () => res()).once('error', rej));
      }
      await new Promise((r) => setTimeout(r, 100));
      const extra = await raw(gw.port, get('/v1/healthz'), 3_000);
      expect(extra.status).toBe(0);
      expect(extra.closed).toBe(true);
    } finally {
      for (const s of socks) s.destroy();
    }
    // Once they are gone, new connections are served again.
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await raw(gw.port, get('/v1/healthz'), 2_000)).status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ok).toBe(true);
  });

  it('logs a client leaving mid-body as one info line, no error, no stack trace', async () => {
    const head = `POST /v1/sessions/${sessionId}/batch HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${gw.token}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"operations":[`;
    await raw(gw.port, head, 200);
    for (let i = 0; i < 100 && !log.lines.some((l) => l.level === 'info' && /went away/.test(l.msg)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
    const info = log.lines.filter((l) => l.level === 'info' && /went away/.test(l.msg));
    expect(info).toHaveLength(1);
    expect(JSON.stringify(info[0])).not.toMatch(/\n\s+at /);
  });

  it('truncates echoed inputs in error messages', async () => {
    const long = '/' + 'x'.repeat(100_000) + '/';
    const r = await call('POST', `/v1/sessions/${sessionId}/dirs`, { path: long });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(3);
    expect(r.body.message.length).toBeLessThan(400);
    const route = await call('GET', '/v1/' + 'y'.repeat(10_000));
    expect(route.status).toBe(404);
    expect(route.body.message.length).toBeLessThan(400);
  });

  it('bounded fuzz: bad requests never get a 5xx, bad tokens always 401', async () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const junk = ['', '{', '[]', 'null', '{"path":5}', '{"path":"rel"}', '{"path":"/a/../b"}', '{"operations":"x"}', '{"mutations":[{}]}', '\u00ff\u00fe', '{"path":"/\\udfff"}', '{"a":' + '['.repeat(50) + '}'];
    const routes = router();
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const [method, pattern] = routes[rnd(routes.length)]!;
      const target = pattern.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'sessionId' && rnd(2) ? sessionId : ['%zz', 'x', '%ED%A0%80', encodeURIComponent('\u0000')][rnd(4)]!));
      const body = junk[rnd(junk.length)]!;
      const badAuth = rnd(5) === 0;
      const badQuery = rnd(3) === 0;
      const res = await fetch(gw.url + target + (badQuery ? '?path=%ff&pageSize=-1' : ''), {
        method,
        headers: { authorization: badAuth ? 'Bearer aet_nope' : `Bearer ${gw.token}`, 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : body,
      });
      const text = await res.text();
      expect(res.status, `${method} ${target} ${body} → ${text.slice(0, 200)}`).toBeLessThan(500);
      // Malformed targets are rejected before auth; every other bad-token request is 401.
      if (badAuth && !badQuery && !/%zz|%ED/.test(target) && pattern !== '/v1/healthz') expect(res.status, `${method} ${target}`).toBe(401);
      if (res.status !== 200 && res.status !== 304) expect(JSON.parse(text)).toHaveProperty('code');
      n++;
    }
    expect(n).toBe(300);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);

    function router(): Array<[string, string]> {
      return gw.router.list().filter((r) => !/bus|:wait|events:watch|subscribe/.test(r.pattern)).map((r) => [r.method, r.pattern]);
    }
  });
});
