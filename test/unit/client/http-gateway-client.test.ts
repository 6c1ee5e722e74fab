// Wire encoding and stream/blob handling of HttpGatewayClient, against a recording local server
// (the real gateway is exercised in test/integration/client).
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { GatewayError, GatewayErrorCode } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { sha256 } from '../../../src/shared/digest.js';

const TOKEN = 'aet_wire_test_token_abcdef0123';

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: Buffer;
}

type Reply = (rec: Recorded, req: http.IncomingMessage, res: http.ServerResponse) => void;

let server: http.Server;
let sockets: Set<net.Socket>;
let base: string;
let recorded: Recorded[];
let reply: Reply;
let closedRequests: number;
let c: HttpGatewayClient;

const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

beforeEach(async () => {
  recorded = [];
  closedRequests = 0;
  sockets = new Set();
  reply = (_rec, _req, res) => sendJson(res, 200, {});
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: any = undefined;
      if (raw.length) body = JSON.parse(raw.toString());
      const rec = { method: req.method!, url: req.url!, headers: req.headers, body, raw };
      recorded.push(rec);
      res.on('close', () => {
        if (!res.writableEnded) closedRequests++;
      });
      reply(rec, req, res);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c = new HttpGatewayClient({ baseUrl: base, token: TOKEN, retries: 1, retryBaseDelayMs: 1, timeoutMs: 500 });
});

afterEach(async () => {
  await c.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const last = () => recorded[recorded.length - 1]!;
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('headers and paths', () => {
  it('sends the bearer token, a user agent and JSON content type', async () => {
    await c.createSession({ initialTags: { task: 't' } });
    const r = last();
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/v1/sessions');
    expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.headers['user-agent']).toMatch(/^aether\//);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body).toEqual({ initialTags: { task: 't' } });
  });

  it('clientId is sent as x-aether-client-id; invalid ids are rejected', async () => {
    const cc = new HttpGatewayClient({ baseUrl: base, token: TOKEN, clientId: 'mnt-abc.1:2' });
    await cc.getSession('s1');
    await cc.close();
    expect(last().headers['x-aether-client-id']).toBe('mnt-abc.1:2');
    await c.getSession('s1');
    expect(last().headers['x-aether-client-id']).toBeUndefined();
    expect(() => new HttpGatewayClient({ baseUrl: base, clientId: 'has space' })).toThrow(/invalid client id/);
  });

  it('health() sends no token', async () => {
    reply = (_r, _q, res) => sendJson(res, 200, { status: 'SERVING', version: '1' });
    expect(await c.health()).toEqual({ status: 'SERVING', version: '1' });
    expect(last().headers.authorization).toBeUndefined();
    expect(last().url).toBe('/v1/healthz');
  });

  it('keeps a base URL path prefix', async () => {
    const p = new HttpGatewayClient({ baseUrl: `${base}/api/`, token: TOKEN });
    await p.getSession('s1');
    await p.close();
    expect(last().url).toBe('/api/v1/sessions/s1');
  });

  it('rejects a bad base URL with a usage error', () => {
    expect(() => new HttpGatewayClient({ baseUrl: 'not a url' })).toThrow(/invalid gateway URL/);
    expect(() => new HttpGatewayClient({ baseUrl: 'ftp://x' })).toThrow(/http/);
  });

  it('percent-encodes ids, keys and names; verbs follow the id', async () => {
    await c.rename('s/1', { sourcePath: '/a', destinationPath: '/b' });
    expect(last().url).toBe('/v1/sessions/s%2F1:rename');
    await c.cacheGet('s1', 'analysis/summary x');
    expect(last().url).toBe('/v1/sessions/s1/cache/analysis%2Fsummary%20x');
    await c.getSecret('s1', 'NPM TOKEN');
    expect(last().url).toBe('/v1/sessions/s1/secrets/NPM%20TOKEN');
    await c.link('s1', { srcPath: '/a', dstPath: '/b' });
    expect(last().url).toBe('/v1/sessions/s1:link');
    await c.unlink('s1', { path: '/b' });
    expect(last().url).toBe('/v1/sessions/s1:unlink');
  });

  it('query parameters: repeated arrays, omitted undefined, encoded values', async () => {
    await c.listSessions({ tag: ['a=1', 'b=2'], pageSize: 5 });
    expect(last().url).toBe('/v1/sessions?pageSize=5&tag=a%3D1&tag=b%3D2');
    await c.deleteFile('s1', { path: '/src/x.ts', expectedHash: 'sha256:ab' });
    expect(last().method).toBe('DELETE');
    expect(last().url).toBe('/v1/sessions/s1/files?path=%2Fsrc%2Fx.ts&expectedHash=sha256%3Aab');
    await c.removeDir('s1', { path: '/old' });
    expect(last().url).toBe('/v1/sessions/s1/dirs?path=%2Fold');
    await c.getManifest('s1', { pathPrefix: '/src', pageSize: 2, includeCasExtents: true, maxDepth: 1 });
    expect(last().url).toBe('/v1/sessions/s1/manifest?pathPrefix=%2Fsrc&pageSize=2&includeCasExtents=true&maxDepth=1');
    await c.listEvents('s1', { eventType: 'v1.FileSystemService.Rename', pageSize: 10 });
    expect(last().url).toBe('/v1/sessions/s1/events?pageSize=10&eventType=v1.FileSystemService.Rename');
    await c.getUsage({ windowStart: '2026-03-01T00:00:00Z', granularity: 'day' });
    expect(last().url).toBe('/v1/usage?windowStart=2026-03-01T00%3A00%3A00Z&granularity=day');
    await c.deleteSecret('s1', 'K', { scope: 'SECRET_SCOPE_SESSION' });
    expect(last().url).toBe('/v1/sessions/s1/secrets/K?scope=SECRET_SCOPE_SESSION');
  });
});

describe('body encoding', () => {
  it('batch: base64 content, int64 as strings', async () => {
    await c.batch('s1', {
      operations: [
        { write: { path: '/a', content: Buffer.from('export const V = 1;\n'), mode: 0o100644 } },
        { delete: { path: '/b', expectedHash: 'sha256:00' } },
        { segmentWrite: { path: '/c', segments: [{ data: { offset: 0, content: Buffer.from('hi') } }], logicalSize: 25, expectedHash: '' } },
      ],
    });
    expect(last().url).toBe('/v1/sessions/s1/batch');
    expect(last().body).toEqual({
      operations: [
        { write: { path: '/a', content: b64('export const V = 1;\n'), mode: 33188 } },
        { delete: { path: '/b', expectedHash: 'sha256:00' } },
        { segmentWrite: { path: '/c', segments: [{ data: { offset: '0', content: b64('hi') } }], logicalSize: '25', expectedHash: '' } },
      ],
    });
  });

  it('patchSegments: data, hole and borrowed segments; bigint and string int64s', async () => {
    reply = (_r, _q, res) => sendJson(res, 200, { skippedPaths: ['/z'] });
    const r = await c.patchSegments('s1', {
      mutations: [
        {
          path: '/f',
          segments: [
            { data: { offset: 10n, content: new Uint8Array([1, 2, 3]) } },
            { hole: { offset: '100', length: 4096 } },
            { borrowed: { offset: 5000, length: 10, hash: 'sha256:aa', casOffset: 3 } },
          ],
          logicalSize: '9000',
        },
      ],
      conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING',
    });
    expect(r).toEqual({ skippedPaths: ['/z'] });
    expect(last().body).toEqual({
      mutations: [
        {
          path: '/f',
          segments: [
            { data: { offset: '10', content: Buffer.from([1, 2, 3]).toString('base64') } },
            { hole: { offset: '100', length: '4096' } },
            { borrowed: { offset: '5000', length: '10', hash: 'sha256:aa', casOffset: '3' } },
          ],
          logicalSize: '9000',
        },
      ],
      conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING',
    });
  });

  it('rejects non-integer int64 inputs before sending', async () => {
    await expect(c.cacheSet('s1', 'k', 'v', { ttlSeconds: 1.5 })).rejects.toMatchObject({ rpcCode: RpcCode.INVALID_ARGUMENT, kind: 'usage' });
    await expect(c.cacheSet('s1', 'k', 'v', { ttlSeconds: '12abc' })).rejects.toBeInstanceOf(GatewayError);
    await expect(c.batch('s1', { operations: [{} as never] })).rejects.toMatchObject({ rpcCode: RpcCode.INVALID_ARGUMENT });
    expect(recorded).toHaveLength(0);
  });

  it('cache set/get/delete: PUT with base64 value and string TTL; value decoded to a Buffer', async () => {
    await c.cacheSet('s1', 'analysis.summary', Buffer.from('{"status":"ready"}'), { ttlSeconds: 3600 });
    expect(last().method).toBe('PUT');
    expect(last().body).toEqual({ value: b64('{"status":"ready"}'), ttlSeconds: '3600' });
    reply = (_r, _q, res) => sendJson(res, 200, { value: b64('{"status":"ready"}'), found: true });
    const e = await c.cacheGet('s1', 'analysis.summary');
    expect(e.found).toBe(true);
    expect(e.value.toString()).toBe('{"status":"ready"}');
    reply = (_r, _q, res) => sendJson(res, 200, {});
    expect(await c.cacheGet('s1', 'missing')).toEqual({ found: false, value: Buffer.alloc(0) });
    await c.cacheDelete('s1', 'k');
    expect(last().method).toBe('DELETE');
  });

  it('xattrs: value base64 both ways; names list', async () => {
    await c.setXattr('s1', { path: '/a', name: 'user.review', value: Buffer.from('needs-attention') });
    expect(last().body).toEqual({ path: '/a', name: 'user.review', value: b64('needs-attention') });
    reply = (_r, _q, res) => sendJson(res, 200, { value: b64('needs-attention') });
    expect((await c.getXattr('s1', { path: '/a', name: 'user.review' })).toString()).toBe('needs-attention');
    reply = (_r, _q, res) => sendJson(res, 200, { names: ['user.a', 'user.b'] });
    expect(await c.listXattrs('s1', { path: '/a' })).toEqual(['user.a', 'user.b']);
    reply = (_r, _q, res) => sendJson(res, 200, {});
    expect(await c.listXattrs('s1', { path: '/a' })).toEqual([]);
  });

  it('bus publish: payload base64 (string payloads as UTF-8)', async () => {
    await c.busPublish('s1', { topic: 'review:status', payload: '{"status":"ready-for-approval"}' });
    expect(last().url).toBe('/v1/sessions/s1/bus:publish');
    expect(last().body).toEqual({ topic: 'review:status', payload: 'eyJzdGF0dXMiOiJyZWFkeS1mb3ItYXBwcm92YWwifQ==' });
  });

  it('posix locks: ranges as strings; releasePosixLocks; flock', async () => {
    await c.setPosixLock('s1', { path: '/a', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: 0, length: 100 }, owner: { ownerId: '1001', pid: 4242, clientId: '7' } });
    expect(last().body).toEqual({ path: '/a', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '100' }, owner: { ownerId: '1001', pid: 4242, clientId: '7' } });
    await c.funlock('s1', { path: '/a', owner: { ownerId: '1001' }, range: { start: 5 }, isFlock: false });
    expect(last().body).toEqual({ path: '/a', owner: { ownerId: '1001' }, range: { start: '5' }, isFlock: false });
    reply = (_r, _q, res) => sendJson(res, 200, { releasedLocks: 2, cancelledWaits: 0 });
    expect(await c.releasePosixLocks('s1', { owner: { clientId: '7' } })).toEqual({ releasedLocks: 2, cancelledWaits: 0 });
    expect(last().url).toBe('/v1/sessions/s1:releasePosixLocks');
    reply = (_r, _q, res) => sendJson(res, 200, {});
    await c.flock('s1', { path: '/a', mode: 'POSIX_FLOCK_MODE_SHARED', owner: { ownerId: '1' }, blocking: false });
    expect(last().url).toBe('/v1/sessions/s1:flock');
  });

  it('restore by id or by label; health report content base64', async () => {
    await c.restore('s1', { checkpointId: 'cp_1' });
    expect(last().body).toEqual({ checkpointId: 'cp_1' });
    await c.restore('s1', { label: 'before' });
    expect(last().body).toEqual({ label: 'before' });
    await c.reportHealth('s1', { reportFormat: 'junit-xml/v1', reportContent: '<testsuite tests="2" failures="0"/>' });
    expect(last().body).toEqual({ reportFormat: 'junit-xml/v1', reportContent: 'PHRlc3RzdWl0ZSB0ZXN0cz0iMiIgZmFpbHVyZXM9IjAiLz4=' });
  });
});

describe('responses and errors', () => {
  it('error envelope → GatewayError with code, kind, status', async () => {
    reply = (_r, _q, res) => sendJson(res, 404, { code: 5, message: 'session sess_x not found', details: [] });
    const err = await c.getSession('sess_x').catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ rpcCode: 5, httpStatus: 404, code: 'AETHER_GATEWAY_NOT_FOUND', kind: 'not_found' });
    expect(err.message).toContain('session sess_x not found');
    expect(err.message).toContain('GET /v1/sessions/sess_x');
  });

  it('non-JSON error bodies still give a clear error', async () => {
    reply = (_r, _q, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('upstream exploded');
    };
    await expect(c.createDir('s', { path: '/a' })).rejects.toMatchObject({ rpcCode: RpcCode.INTERNAL, httpStatus: 500, message: expect.stringContaining('upstream exploded') });
  });

  it('a 200 with a non-JSON body is BAD_RESPONSE', async () => {
    reply = (_r, _q, res) => res.end('<html>');
    await expect(c.getSession('s')).rejects.toMatchObject({ code: GatewayErrorCode.BAD_RESPONSE });
  });

  it('iterateManifest follows page tokens and detects loops', async () => {
    reply = (rec, _q, res) => {
      const u = new URL(rec.url, 'http://x');
      const t = u.searchParams.get('pageToken');
      if (!t) return sendJson(res, 200, { nodes: [{ path: '/a', fileType: 'VFS_FILE_TYPE_FILE' }], nextPageToken: 'p2', manifestHash: 'h' });
      if (t === 'p2') return sendJson(res, 200, { nodes: [{ path: '/b', fileType: 'VFS_FILE_TYPE_FILE' }, { path: '/c', fileType: 'VFS_FILE_TYPE_DIRECTORY' }], nextPageToken: 'p3' });
      return sendJson(res, 200, { nodes: [], nextPageToken: '' });
    };
    const paths: string[] = [];
    for await (const n of c.iterateManifest('s1', { pageSize: 2, pathPrefix: '/' })) paths.push(n.path);
    expect(paths).toEqual(['/a', '/b', '/c']);
    expect(recorded.map((r) => new URL(r.url, 'http://x').searchParams.get('pathPrefix'))).toEqual(['/', '/', '/']);
    reply = (_r, _q, res) => sendJson(res, 200, { nodes: [{ path: '/a', fileType: 'VFS_FILE_TYPE_FILE' }], nextPageToken: 'same' });
    const loop = async () => {
      for await (const _ of c.iterateManifest('s1')) void _;
    };
    await expect(loop()).rejects.toMatchObject({ code: GatewayErrorCode.BAD_RESPONSE });
  });

  it('stats count requests and bytes', async () => {
    reply = (_r, _q, res) => sendJson(res, 200, { id: 's', status: 'SESSION_STATUS_ACTIVE', createdAt: 'x', lastActivityAt: 'x' });
    const before = c.stats();
    await c.createSession({ initialTags: { a: 'b' } });
    const after = c.stats();
    expect(after.requests - before.requests).toBe(1);
    expect(after.bytesSent - before.bytesSent).toBe(last().raw.length);
    expect(after.bytesReceived - before.bytesReceived).toBeGreaterThan(20);
  });

  it('calls after close() fail with CLIENT_CLOSED', async () => {
    await c.close();
    await expect(c.getSession('s')).rejects.toMatchObject({ code: GatewayErrorCode.CLIENT_CLOSED });
  });

  it('an aborted ordinary call rejects with CANCELLED', async () => {
    reply = () => {}; // never answer
    const ac = new AbortController();
    const p = c.getSession('s', { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toMatchObject({ rpcCode: RpcCode.CANCELLED, code: 'AETHER_GATEWAY_CANCELLED' });
  });
});

describe('long-lived calls', () => {
  it('setPosixLockBlocking has no timeout (outlives timeoutMs)', async () => {
    reply = (_r, _q, res) => setTimeout(() => sendJson(res, 200, {}), 1200);
    await c.setPosixLockBlocking('s1', { path: '/a', kind: 'POSIX_LOCK_KIND_SHARED', owner: { ownerId: '1' }, timeoutMs: 5000 });
    expect(last().body.timeoutMs).toBe(5000);
    expect(last().url).toBe('/v1/sessions/s1:setPosixLockBlocking');
  });

  it('aborting a blocking lock closes the request and rejects with CANCELLED', async () => {
    reply = () => {}; // the lock is never granted
    const ac = new AbortController();
    const p = c.setPosixLockBlocking('s1', { path: '/a', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: { ownerId: '1' } }, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await expect(p).rejects.toMatchObject({ rpcCode: RpcCode.CANCELLED });
    await new Promise((r) => setTimeout(r, 50));
    expect(closedRequests).toBe(1);
    expect(recorded).toHaveLength(1); // never retried
  });

  it('blocking waits do not starve ordinary calls (separate pool)', async () => {
    const small = new HttpGatewayClient({ baseUrl: base, token: TOKEN, connections: 1 });
    reply = (rec, _q, res) => {
      if (rec.url.includes('Blocking')) return; // held forever
      sendJson(res, 200, {});
    };
    const ac = new AbortController();
    const waits = [1, 2, 3].map(() => small.setPosixLockBlocking('s', { path: '/a', kind: 'POSIX_LOCK_KIND_SHARED', owner: { ownerId: '1' } }, { signal: ac.signal }).catch((e) => e));
    await new Promise((r) => setTimeout(r, 50));
    await small.funlock('s', { path: '/a', owner: { ownerId: '1' } }); // must not queue behind the waits
    ac.abort();
    for (const w of await Promise.all(waits)) expect(w).toMatchObject({ rpcCode: RpcCode.CANCELLED });
    await small.close();
  });

  it('busSubscribe streams NDJSON, passes topics, and abort ends the iteration quietly', async () => {
    reply = (_rec, _q, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const line = (id: string, p: string) => JSON.stringify({ result: { messageId: id, sessionId: 's1', topic: 'a', payload: b64(p), publishedAt: 't' } }) + '\n';
      const l1 = line('m1', 'one');
      res.write(l1.slice(0, 10));
      setTimeout(() => res.write(l1.slice(10) + line('m2', 'two')), 20);
      // then stay open
    };
    const ac = new AbortController();
    const got: string[] = [];
    for await (const m of c.busSubscribe('s1', { topics: ['a', 'b'], replayLimit: 2, signal: ac.signal })) {
      got.push(`${m.messageId}:${m.payload.toString()}`);
      if (got.length === 2) ac.abort();
    }
    expect(got).toEqual(['m1:one', 'm2:two']);
    expect(last().url).toBe('/v1/sessions/s1/bus?topics=a&topics=b&replayLimit=2');
    expect(last().headers.accept).toBe('application/x-ndjson');
    await new Promise((r) => setTimeout(r, 50));
    expect(closedRequests).toBe(1);
  });

  it('breaking out of a bus loop closes the connection', async () => {
    reply = (_rec, _q, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(JSON.stringify({ result: { messageId: 'm1', sessionId: 's1', topic: 'a', payload: '', publishedAt: 't' } }) + '\n');
    };
    for await (const m of c.busSubscribe('s1')) {
      expect(m.messageId).toBe('m1');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(closedRequests).toBe(1);
  });

  it('a bus error line and an error status before the stream both raise GatewayError', async () => {
    reply = (_rec, _q, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(JSON.stringify({ error: { code: 8, message: 'too slow', details: [] } }) + '\n');
    };
    const drain = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it) void _;
    };
    await expect(drain(c.busSubscribe('s1'))).rejects.toMatchObject({ rpcCode: 8, message: expect.stringContaining('too slow') });
    reply = (_r, _q, res) => sendJson(res, 404, { code: 5, message: 'message m9 not found', details: [] });
    await expect(drain(c.busSubscribe('s1', { replayAfterMessageId: 'm9' }))).rejects.toMatchObject({ rpcCode: 5, kind: 'not_found' });
  });

  it('events long-poll (waitSeconds) is not cut by timeoutMs', async () => {
    reply = (_r, _q, res) => setTimeout(() => sendJson(res, 200, { events: [] }), 1200);
    expect(await c.listEvents('s1', { waitSeconds: 5 })).toEqual({ events: [] });
    expect(last().url).toBe('/v1/sessions/s1/events?waitSeconds=5');
  });
});

describe('getBlob', () => {
  const content = Buffer.from('0123456789abcdefghij'); // 20 bytes
  const hash = sha256(content);

  function blobServer(opts: { ignoreRange?: boolean; corrupt?: boolean; short?: boolean } = {}): Reply {
    return (rec, _q, res) => {
      const data = opts.corrupt ? Buffer.from(content).fill(0x41, 0, 1) : content;
      const range = rec.headers.range;
      if (!range || opts.ignoreRange) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
        return res.end(data);
      }
      const m = /^bytes=(\d+)-(\d*)$/.exec(range)!;
      const start = Number(m[1]);
      const end = Math.min(m[2] ? Number(m[2]) : data.length - 1, data.length - 1);
      if (start >= data.length) return sendJson(res, 416, { code: 11, message: 'range not satisfiable', details: [] });
      const slice = data.subarray(start, end + 1);
      const sent = opts.short ? slice.subarray(1) : slice;
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': sent.length });
      res.end(sent);
    };
  }

  it('reads a whole blob, URL-encoding the hash, and verifies it', async () => {
    reply = blobServer();
    const b = await c.getBlob('s1', hash);
    expect(b.equals(content)).toBe(true);
    expect(last().url).toBe(`/v1/sessions/s1/blobs/${encodeURIComponent(hash)}`);
    expect(last().url).toContain('sha256%3A');
    expect(last().headers.range).toBeUndefined();
    expect(c.stats().blobBytesFetched).toBe(20);
  });

  it('sends Range headers for partial reads', async () => {
    reply = blobServer();
    expect((await c.getBlob('s1', hash, { offset: 5, length: 4 })).toString()).toBe('5678');
    expect(last().headers.range).toBe('bytes=5-8');
    expect((await c.getBlob('s1', hash, { offset: 15 })).toString()).toBe('fghij');
    expect(last().headers.range).toBe('bytes=15-');
    expect((await c.getBlob('s1', hash, { offset: 0, length: 3 })).toString()).toBe('012');
    expect(last().headers.range).toBe('bytes=0-2');
    expect((await c.getBlob('s1', hash, { offset: 18, length: 100 })).toString()).toBe('ij');
    expect(c.stats().blobBytesFetched).toBe(4 + 5 + 3 + 2);
  });

  it('past the end is empty; zero length sends nothing', async () => {
    reply = blobServer();
    expect((await c.getBlob('s1', hash, { offset: 20, length: 5 })).length).toBe(0);
    const n = recorded.length;
    expect((await c.getBlob('s1', hash, { offset: 3, length: 0 })).length).toBe(0);
    expect(recorded.length).toBe(n);
  });

  it('a corrupted whole-blob read is DATA_LOSS', async () => {
    reply = blobServer({ corrupt: true });
    const err = await c.getBlob('s1', hash).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.rpcCode).toBe(RpcCode.DATA_LOSS);
    expect(err.code).toBe('AETHER_GATEWAY_DATA_LOSS');
    // a range covering the whole blob is verified too
    await expect(c.getBlob('s1', hash, { offset: 0, length: 20 })).rejects.toMatchObject({ rpcCode: RpcCode.DATA_LOSS });
  });

  it('a short 206 body is DATA_LOSS', async () => {
    reply = blobServer({ short: true });
    await expect(c.getBlob('s1', hash, { offset: 2, length: 5 })).rejects.toMatchObject({ rpcCode: RpcCode.DATA_LOSS });
  });

  it('a server ignoring Range (200) is verified and sliced locally', async () => {
    reply = blobServer({ ignoreRange: true });
    expect((await c.getBlob('s1', hash, { offset: 10, length: 3 })).toString()).toBe('abc');
    reply = blobServer({ ignoreRange: true, corrupt: true });
    await expect(c.getBlob('s1', hash, { offset: 10, length: 3 })).rejects.toMatchObject({ rpcCode: RpcCode.DATA_LOSS });
  });

  it('unknown blob → NOT_FOUND; invalid ranges are rejected locally', async () => {
    reply = (_r, _q, res) => sendJson(res, 404, { code: 5, message: 'blob not found', details: [] });
    await expect(c.getBlob('s1', 'sha256:' + '0'.repeat(64))).rejects.toMatchObject({ rpcCode: 5 });
    await expect(c.getBlob('s1', hash, { offset: -1 })).rejects.toMatchObject({ rpcCode: RpcCode.INVALID_ARGUMENT });
  });
});
