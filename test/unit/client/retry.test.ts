// Retry policy: pure decisions, the withRetry loop, and the real HTTP client against a throwaway
// local server that fails in controlled ways before succeeding.
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay, certainlyNotSent, isRetryable, parseRetryAfter, sleep, withRetry, type RetryPolicy } from '../../../src/client/retry.js';
import { GatewayError, GatewayErrorCode } from '../../../src/client/gateway-error.js';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';

const TOKEN = 'aet_unit_test_token_0123456789';
const policy: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
const unreachable = (transportCode: string) => GatewayError.unreachable('x', { transportCode });
const status = (rpcCode: number, httpStatus: number) => new GatewayError('x', { rpcCode, httpStatus });

describe('backoffDelay', () => {
  it('grows exponentially with equal jitter and is capped', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(1, policy, () => 0)).toBe(100);
    expect(backoffDelay(2, policy, () => 1)).toBe(400);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
    expect(backoffDelay(10, policy, () => 0)).toBe(500);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('parses Retry-After', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('garbage')).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5000);
  });
});

describe('isRetryable', () => {
  it('reads retry on transport failures and 503', () => {
    expect(isRetryable(unreachable('ECONNRESET'), true)).toBe(true);
    expect(isRetryable(unreachable('UND_ERR_HEADERS_TIMEOUT'), true)).toBe(true);
    expect(isRetryable(status(RpcCode.UNAVAILABLE, 503), true)).toBe(true);
  });
  it('reads do not retry on answers other than 503', () => {
    for (const [c, h] of [[5, 404], [3, 400], [13, 500], [10, 409], [16, 401], [4, 504]] as const) {
      expect(isRetryable(status(c, h), true)).toBe(false);
    }
  });
  it('mutations retry only when the request was certainly not sent', () => {
    expect(isRetryable(unreachable('ECONNREFUSED'), false)).toBe(true);
    expect(certainlyNotSent(unreachable('ECONNREFUSED'))).toBe(true);
    expect(isRetryable(unreachable('ECONNRESET'), false)).toBe(false);
    expect(isRetryable(unreachable('UND_ERR_SOCKET'), false)).toBe(false);
    expect(isRetryable(unreachable('UND_ERR_HEADERS_TIMEOUT'), false)).toBe(false);
    expect(isRetryable(status(RpcCode.UNAVAILABLE, 503), false)).toBe(false);
  });
  it('cancellation never retries', () => {
    expect(isRetryable(GatewayError.cancelled(), true)).toBe(false);
  });
});

describe('withRetry', () => {
  const fast: RetryPolicy = { retries: 3, baseDelayMs: 1, maxDelayMs: 4 };

  it('retries until success', async () => {
    let calls = 0;
    const retried: number[] = [];
    const v = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw unreachable('ECONNRESET');
        return 'ok';
      },
      { policy: fast, idempotent: true, onRetry: (_e, attempt) => retried.push(attempt) },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(3);
    expect(retried).toEqual([1, 2]);
  });

  it('gives up after `retries` extra attempts with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw status(RpcCode.UNAVAILABLE, 503);
      }, { policy: fast, idempotent: true }),
    ).rejects.toMatchObject({ rpcCode: RpcCode.UNAVAILABLE });
    expect(calls).toBe(4);
  });

  it('does not retry non-retryable errors or foreign errors', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw status(5, 404); }, { policy: fast, idempotent: true })).rejects.toMatchObject({ rpcCode: 5 });
    expect(calls).toBe(1);
    await expect(withRetry(async () => { calls++; throw new TypeError('bug'); }, { policy: fast, idempotent: true })).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(2);
  });

  it('an abort during the backoff sleep stops retrying', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = withRetry(async () => { calls++; throw unreachable('ECONNRESET'); }, { policy: { retries: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 }, idempotent: true, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: GatewayErrorCode.UNREACHABLE });
    expect(calls).toBe(1);
  });

  it('honours Retry-After up to maxDelayMs', async () => {
    const delays: number[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        if (calls++ === 0) throw new GatewayError('busy', { rpcCode: 14, httpStatus: 503, retryAfterMs: 60_000 });
        return 1;
      },
      { policy: { retries: 1, baseDelayMs: 1, maxDelayMs: 30 }, idempotent: true, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(delays).toEqual([30]);
  });

  it('sleep rejects on abort', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});

// ---- against a real local HTTP server ------------------------------------------------------

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, hit: number) => void;

interface LocalServer {
  url: string;
  port: number;
  hits: () => number;
  close: () => Promise<void>;
}

const servers: LocalServer[] = [];
const clients: HttpGatewayClient[] = [];

async function startServer(handler: Handler, port = 0): Promise<LocalServer> {
  let hits = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    hits++;
    const n = hits;
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const p = (server.address() as AddressInfo).port;
  const s: LocalServer = {
    url: `http://127.0.0.1:${p}`,
    port: p,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
  servers.push(s);
  return s;
}

function client(url: string, extra: Partial<ConstructorParameters<typeof HttpGatewayClient>[0]> = {}): HttpGatewayClient {
  const c = new HttpGatewayClient({ baseUrl: url, token: TOKEN, retries: 3, retryBaseDelayMs: 5, retryMaxDelayMs: 20, timeoutMs: 2000, ...extra });
  clients.push(c);
  return c;
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const unavailable = (res: http.ServerResponse) => json(res, 503, { code: 14, message: 'gateway is starting', details: [] });

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('HttpGatewayClient retries (local server)', () => {
  it('a GET retries 503 twice, then succeeds', async () => {
    const srv = await startServer((_req, res, n) => (n <= 2 ? unavailable(res) : json(res, 200, { id: 'sess_1', status: 'SESSION_STATUS_ACTIVE', createdAt: 'x', lastActivityAt: 'x' })));
    const c = client(srv.url);
    const s = await c.getSession('sess_1');
    expect(s.id).toBe('sess_1');
    expect(srv.hits()).toBe(3);
    expect(c.stats()).toMatchObject({ requests: 3, retries: 2, errors: 0 });
  });

  it('retries are bounded', async () => {
    const srv = await startServer((_req, res) => unavailable(res));
    const c = client(srv.url, { retries: 2 });
    await expect(c.getSession('sess_1')).rejects.toMatchObject({ rpcCode: RpcCode.UNAVAILABLE, httpStatus: 503, code: GatewayErrorCode.UNAVAILABLE });
    expect(srv.hits()).toBe(3);
    expect(c.stats().errors).toBe(1);
  });

  it('retries: 0 disables retrying', async () => {
    const srv = await startServer((_req, res) => unavailable(res));
    const c = client(srv.url, { retries: 0 });
    await expect(c.listSessions()).rejects.toBeInstanceOf(GatewayError);
    expect(srv.hits()).toBe(1);
  });

  it('a mutation is not retried on 503', async () => {
    const srv = await startServer((_req, res) => unavailable(res));
    const c = client(srv.url);
    await expect(c.createDir('sess_1', { path: '/a' })).rejects.toMatchObject({ rpcCode: RpcCode.UNAVAILABLE });
    expect(srv.hits()).toBe(1);
  });

  it('POST reads (getCasExtents, listXattrs, getXattr, getPosixLock, listLocks) retry on 503', async () => {
    const srv = await startServer((req, res, n) => {
      if (n % 2 === 1) return unavailable(res);
      json(res, 200, {});
    });
    const c = client(srv.url);
    await c.getCasExtents('s', { path: '/a' });
    await c.listXattrs('s', { path: '/a' });
    await c.getXattr('s', { path: '/a', name: 'user.x' });
    await c.getPosixLock('s', { path: '/a', kind: 'POSIX_LOCK_KIND_SHARED', owner: { ownerId: '1' } });
    await c.listLocks('s', {});
    expect(srv.hits()).toBe(10);
  });

  it('a GET is retried after the connection is reset mid-request', async () => {
    const srv = await startServer((req, res, n) => {
      if (n === 1) return req.socket.destroy();
      json(res, 200, { sessions: [] });
    });
    const c = client(srv.url);
    expect(await c.listSessions()).toEqual({ sessions: [] });
    expect(srv.hits()).toBe(2);
  });

  it('a mutation is NOT retried after a reset (it may have been applied)', async () => {
    const srv = await startServer((req) => req.socket.destroy());
    const c = client(srv.url);
    const err = await c.batch('s', { operations: [{ delete: { path: '/a' } }] }).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('AETHER_GATEWAY_UNREACHABLE');
    expect(err.kind).toBe('network');
    expect(err.rpcCode).toBe(14);
    expect(srv.hits()).toBe(1);
  });

  it('a GET that times out is retried; a timed-out mutation is not', async () => {
    const srv = await startServer((req, res, n) => {
      if (req.method === 'GET' && n === 1) return; // never answer
      if (req.method === 'POST') return; // never answer
      json(res, 200, { sessions: [] });
    });
    const c = client(srv.url, { timeoutMs: 150 });
    expect(await c.listSessions()).toEqual({ sessions: [] });
    expect(srv.hits()).toBe(2);
    const err = await c.rename('s', { sourcePath: '/a', destinationPath: '/b' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'AETHER_GATEWAY_UNREACHABLE', transportCode: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(err.message).toMatch(/no response within 150 ms/);
    expect(srv.hits()).toBe(3);
  });

  it('connection refused: even a mutation is retried, and the error is clear and token-free', async () => {
    const port = await freePort();
    const c = client(`http://127.0.0.1:${port}`, { retries: 2 });
    const err = await c.commit('s', { message: 'm' }).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('AETHER_GATEWAY_UNREACHABLE');
    expect(err.kind).toBe('network');
    expect(err.rpcCode).toBe(RpcCode.UNAVAILABLE);
    expect(err.transportCode).toBe('ECONNREFUSED');
    expect(err.hint).toMatch(/aether gateway status/);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toContain('connection refused');
    expect(err.message).not.toContain(TOKEN);
    expect(String(err.stack)).not.toContain(TOKEN);
    expect(c.stats()).toMatchObject({ requests: 3, retries: 2, errors: 1 });
  });

  it('connection refused, then the gateway comes up: the mutation goes through exactly once', async () => {
    const port = await freePort();
    const c = client(`http://127.0.0.1:${port}`, { retries: 5, retryBaseDelayMs: 40, retryMaxDelayMs: 80 });
    let srv: LocalServer | undefined;
    const up = new Promise<void>((resolve) =>
      setTimeout(async () => {
        srv = await startServer((_req, res) => json(res, 200, {}), port);
        resolve();
      }, 60),
    );
    await c.createDir('s', { path: '/x' });
    await up;
    expect(srv!.hits()).toBe(1);
    expect(c.stats().retries).toBeGreaterThanOrEqual(1);
  });
});
