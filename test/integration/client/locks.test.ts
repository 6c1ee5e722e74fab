// HttpGatewayClient against the real gateway: POSIX byte-range locks, flock, blocking waits
// with AbortSignal, releasePosixLocks, and collaboration file locks.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import type { PosixLockInput } from '../../../src/client/gateway-client.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;
let sid: string;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token, timeoutMs: 500 });
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

beforeEach(async () => {
  sid = (await client.createSession()).id;
  await client.batch(sid, { operations: [{ write: { path: '/src/main.ts', content: Buffer.from('x'.repeat(100)) } }] });
});

const A = { ownerId: '1001', pid: 4242, clientId: '7' };
const B = { ownerId: '1002', pid: 4310, clientId: '8' };
const lock = (owner: typeof A, kind: PosixLockInput['kind'] = 'POSIX_LOCK_KIND_EXCLUSIVE', start = 0, length = 0): PosixLockInput => ({
  path: '/src/main.ts',
  kind,
  range: { start, length },
  owner,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('POSIX locks', () => {
  it('getPosixLock reports conflicts; setPosixLock fails on conflict', async () => {
    expect((await client.getPosixLock(sid, lock(B))).hasConflict ?? false).toBe(false);
    await client.setPosixLock(sid, lock(A));
    const r = await client.getPosixLock(sid, lock(B));
    expect(r.hasConflict).toBe(true);
    expect(r.conflict?.owner?.ownerId).toBe('1001');
    expect(r.conflict?.kind).toBe('POSIX_LOCK_KIND_EXCLUSIVE');
    await expect(client.setPosixLock(sid, lock(B))).rejects.toMatchObject({ kind: 'conflict' });
    await client.funlock(sid, { path: '/src/main.ts', owner: A, range: { start: 0, length: 0 }, isFlock: false });
    await client.setPosixLock(sid, lock(B));
  });

  it('disjoint byte ranges and shared locks coexist', async () => {
    await client.setPosixLock(sid, lock(A, 'POSIX_LOCK_KIND_EXCLUSIVE', 0, 10));
    await client.setPosixLock(sid, lock(B, 'POSIX_LOCK_KIND_EXCLUSIVE', 10, 10));
    await client.setPosixLock(sid, lock(A, 'POSIX_LOCK_KIND_SHARED', 50, 10));
    await client.setPosixLock(sid, lock(B, 'POSIX_LOCK_KIND_SHARED', 50, 10));
  });

  it('a blocking lock waits (beyond timeoutMs) and is granted on release', async () => {
    await client.setPosixLock(sid, lock(A));
    let granted = false;
    const wait = client.setPosixLockBlocking(sid, lock(B)).then(() => (granted = true));
    await sleep(800); // longer than the client's 500 ms timeout
    expect(granted).toBe(false);
    await client.funlock(sid, { path: '/src/main.ts', owner: A, isFlock: false });
    await wait;
    expect(granted).toBe(true);
    expect((await client.getPosixLock(sid, lock(A))).conflict?.owner?.ownerId).toBe('1002');
  });

  it('aborting a blocking wait cancels it and takes no lock', async () => {
    await client.setPosixLock(sid, lock(A));
    const ac = new AbortController();
    const wait = client.setPosixLockBlocking(sid, lock(B), { signal: ac.signal });
    await sleep(100);
    ac.abort();
    await expect(wait).rejects.toMatchObject({ rpcCode: RpcCode.CANCELLED });
    await client.funlock(sid, { path: '/src/main.ts', owner: A });
    await sleep(100);
    expect((await client.getPosixLock(sid, lock({ ownerId: '9', pid: 1, clientId: '9' }))).hasConflict ?? false).toBe(false);
  });

  it('timeoutMs bounds a blocking wait (DEADLINE_EXCEEDED)', async () => {
    await client.setPosixLock(sid, lock(A));
    await expect(client.setPosixLockBlocking(sid, { ...lock(B), timeoutMs: 200 })).rejects.toMatchObject({ rpcCode: RpcCode.DEADLINE_EXCEEDED, kind: 'network' });
  });

  it('flock: exclusive conflicts, unlock via funlock isFlock', async () => {
    await client.flock(sid, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_EXCLUSIVE', owner: A, blocking: false });
    await expect(client.flock(sid, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_SHARED', owner: B, blocking: false })).rejects.toMatchObject({ kind: 'conflict' });
    const wait = client.flock(sid, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_SHARED', owner: B, blocking: true });
    await sleep(100);
    await client.funlock(sid, { path: '/src/main.ts', owner: A, isFlock: true });
    await wait;
  });

  it('releasePosixLocks drops every lock of a client and cancels its waits', async () => {
    await client.setPosixLock(sid, lock(A, 'POSIX_LOCK_KIND_EXCLUSIVE', 0, 10));
    await client.setPosixLock(sid, lock(A, 'POSIX_LOCK_KIND_EXCLUSIVE', 20, 10));
    await client.setPosixLock(sid, lock(B, 'POSIX_LOCK_KIND_EXCLUSIVE', 40, 10));
    const wait = client.setPosixLockBlocking(sid, lock(A, 'POSIX_LOCK_KIND_EXCLUSIVE', 40, 10)).catch((e) => e);
    await sleep(100);
    const r = await client.releasePosixLocks(sid, { owner: { clientId: '7' } });
    expect(r).toEqual({ releasedLocks: 2, cancelledWaits: 1 });
    expect(await wait).toMatchObject({ kind: 'conflict' });
    expect((await client.getPosixLock(sid, lock(B, 'POSIX_LOCK_KIND_EXCLUSIVE', 0, 30))).hasConflict ?? false).toBe(false);
  });

  it('locking a missing path → NOT_FOUND', async () => {
    await expect(client.setPosixLock(sid, { ...lock(A), path: '/missing' })).rejects.toMatchObject({ kind: 'not_found' });
  });
});

describe('collaboration file locks', () => {
  it('lock, list, renew, unlock', async () => {
    const { lockId } = await client.lockFile(sid, { path: '/src/main.ts', timeoutSeconds: 300 });
    expect(lockId).toMatch(/^lock_/);
    const list = await client.listLocks(sid, { pathPrefix: '/src' });
    expect(list.locks).toHaveLength(1);
    expect(list.locks![0]).toMatchObject({ path: '/src/main.ts', lockId });
    expect(Number(list.locks![0]!.remainingTtlSeconds)).toBeGreaterThan(200);
    const renewed = await client.renewLock(sid, { path: '/src/main.ts', lockId, timeoutSeconds: 600 });
    expect(renewed.lockId).toBe(lockId);
    expect(Number(renewed.remainingTtlSeconds)).toBeGreaterThan(500);
    await client.unlockFile(sid, { path: '/src/main.ts', lockId });
    expect((await client.listLocks(sid)).locks ?? []).toEqual([]);
    await expect(client.renewLock(sid, { path: '/src/main.ts', lockId })).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('another principal conflicts; force-unlock breaks the lock', async () => {
    const { lockId } = await client.lockFile(sid, { path: '/src/main.ts' });
    const other = new HttpGatewayClient({ baseUrl: gw.url, token: await gw.tokenFor('default') });
    try {
      await expect(other.lockFile(sid, { path: '/src/main.ts' })).rejects.toMatchObject({ rpcCode: RpcCode.ABORTED, kind: 'conflict' });
      const forced = await other.forceUnlock(sid, { path: '/src/main.ts', reason: 'client crashed during review handoff' });
      expect(forced.lockId).toBe(lockId);
      expect(forced.ownerId).toBeTruthy();
      await other.lockFile(sid, { path: '/src/main.ts' });
    } finally {
      await other.close();
    }
  });
});
