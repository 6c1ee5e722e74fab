// HttpGatewayClient against the real gateway: sessions, checkpoints, auth and error mapping.
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { GatewayError } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token });
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

const write = (sid: string, path: string, content: string) => client.batch(sid, { operations: [{ write: { path, content: Buffer.from(content) } }] });

describe('gateway', () => {
  it('health() answers without a token', async () => {
    const anon = new HttpGatewayClient({ baseUrl: gw.url });
    const h = await anon.health();
    await anon.close();
    expect(h.status).toBe('SERVING');
    expect(typeof h.version).toBe('string');
  });
});

describe('sessions', () => {
  it('create, get, list, fork', async () => {
    const s = await client.createSession({ initialTags: { task: 'bugfix-123', owner: 'alice' } });
    expect(s.id).toMatch(/^sess_/);
    expect(s.status).toBe('SESSION_STATUS_ACTIVE');
    expect(s.tags).toEqual({ task: 'bugfix-123', owner: 'alice' });
    expect(s.createdAt).toBeTruthy();

    const got = await client.getSession(s.id);
    expect(got.id).toBe(s.id);
    expect(got.tags).toEqual(s.tags);

    const all = await client.listSessions();
    expect(all.sessions?.map((x) => x.id)).toContain(s.id);
    const byTag = await client.listSessions({ tag: ['task=bugfix-123'] });
    expect(byTag.sessions?.map((x) => x.id)).toEqual([s.id]);

    const fork = await client.forkSession(s.id, { newTags: { owner: 'reviewer-2', 'review-track': 'b' } });
    expect(fork.id).not.toBe(s.id);
    expect(fork.tags).toMatchObject({ task: 'bugfix-123', owner: 'reviewer-2', 'review-track': 'b' });
  });

  it('listSessions pages', async () => {
    for (let i = 0; i < 3; i++) await client.createSession({ initialTags: { pager: 'yes' } });
    const p1 = await client.listSessions({ tag: ['pager=yes'], pageSize: 2 });
    expect(p1.sessions).toHaveLength(2);
    expect(p1.nextPageToken).toBeTruthy();
    const p2 = await client.listSessions({ tag: ['pager=yes'], pageSize: 2, pageToken: p1.nextPageToken });
    expect(p2.sessions).toHaveLength(1);
  });

  it('a fork sees the parent content, and diverges', async () => {
    const s = await client.createSession();
    await write(s.id, '/a.txt', 'parent');
    const f = await client.forkSession(s.id);
    await write(f.id, '/b.txt', 'fork only');
    const parent = [];
    for await (const n of client.iterateManifest(s.id)) parent.push(n.path);
    const fork = [];
    for await (const n of client.iterateManifest(f.id)) fork.push(n.path);
    expect(parent).toContain('/a.txt');
    expect(parent).not.toContain('/b.txt');
    expect(fork).toEqual(expect.arrayContaining(['/a.txt', '/b.txt']));
  });

  it('unknown session → NOT_FOUND (404, not_found)', async () => {
    const err = await client.getSession('sess_doesnotexist').catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ rpcCode: RpcCode.NOT_FOUND, httpStatus: 404, code: 'AETHER_GATEWAY_NOT_FOUND', kind: 'not_found' });
  });

  it('a bad token → UNAUTHENTICATED (401, auth), token not in the message', async () => {
    const bad = 'aet_this_is_not_a_valid_token_000000';
    const c = new HttpGatewayClient({ baseUrl: gw.url, token: bad });
    const err = await c.listSessions().catch((e) => e);
    await c.close();
    expect(err).toMatchObject({ rpcCode: RpcCode.UNAUTHENTICATED, httpStatus: 401, code: 'AETHER_GATEWAY_UNAUTHENTICATED', kind: 'auth' });
    expect(err.message).not.toContain(bad);
  });

  it('another tenant cannot see the session', async () => {
    const s = await client.createSession();
    const other = new HttpGatewayClient({ baseUrl: gw.url, token: await gw.tokenFor('other-tenant') });
    const err = await other.getSession(s.id).catch((e) => e);
    await other.close();
    expect(err).toBeInstanceOf(GatewayError);
    expect([RpcCode.NOT_FOUND, RpcCode.PERMISSION_DENIED]).toContain(err.rpcCode);
  });

  it('invalid arguments → usage', async () => {
    const s = await client.createSession();
    const err = await client.createDir(s.id, { path: 'relative/path' }).catch((e) => e);
    expect(err).toMatchObject({ rpcCode: RpcCode.INVALID_ARGUMENT, httpStatus: 400, kind: 'usage' });
  });

  it('an unreachable gateway → UNREACHABLE with a hint', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const c = new HttpGatewayClient({ baseUrl: `http://127.0.0.1:${port}`, token: gw.token, retries: 1, retryBaseDelayMs: 1 });
    const err = await c.createSession().catch((e) => e);
    await c.close();
    expect(err).toMatchObject({ code: 'AETHER_GATEWAY_UNREACHABLE', kind: 'network', rpcCode: 14 });
    expect(err.hint).toMatch(/gateway status/);
    expect(err.message).not.toContain(gw.token);
  });
});

describe('checkpoints', () => {
  it('create, list, restore by id and by label', async () => {
    const s = await client.createSession();
    await write(s.id, '/keep.txt', 'v1');
    const cp = await client.createCheckpoint(s.id, { label: 'before-large-refactor' });
    expect(cp.id).toMatch(/^cp_/);
    expect(cp.sessionId).toBe(s.id);
    expect(cp.label).toBe('before-large-refactor');

    const list = await client.listCheckpoints(s.id);
    expect(list.checkpoints?.map((c) => c.id)).toContain(cp.id);

    await write(s.id, '/keep.txt', 'v2');
    await write(s.id, '/new.txt', 'added later');
    const r = await client.restore(s.id, { label: 'before-large-refactor' });
    expect(r.checkpointId).toBe(cp.id);
    const nodes = new Map<string, string | undefined>();
    for await (const n of client.iterateManifest(s.id)) nodes.set(n.path, n.sizeBytes);
    expect(nodes.has('/new.txt')).toBe(false);
    expect(nodes.get('/keep.txt')).toBe('2');

    await write(s.id, '/again.txt', 'x');
    const r2 = await client.restore(s.id, { checkpointId: cp.id });
    expect(r2.checkpointId).toBe(cp.id);
    const after = [];
    for await (const n of client.iterateManifest(s.id)) after.push(n.path);
    expect(after).not.toContain('/again.txt');
  });

  it('restore of an unknown checkpoint → NOT_FOUND', async () => {
    const s = await client.createSession();
    await expect(client.restore(s.id, { checkpointId: 'cp_missing' })).rejects.toMatchObject({ kind: 'not_found' });
    await expect(client.restore(s.id, { label: 'no-such-label' })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('fork from a checkpoint label', async () => {
    const s = await client.createSession();
    await write(s.id, '/one.txt', '1');
    await client.createCheckpoint(s.id, { label: 'before-review' });
    await write(s.id, '/two.txt', '2');
    const f = await client.forkSession(s.id, { sourceCheckpointLabel: 'before-review' });
    const paths = [];
    for await (const n of client.iterateManifest(f.id)) paths.push(n.path);
    expect(paths).toContain('/one.txt');
    expect(paths).not.toContain('/two.txt');
  });
});
