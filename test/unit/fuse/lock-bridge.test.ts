// LockBridge against the real gateway (127.0.0.1:0): how kernel lock requests become gateway calls
// and how gateway answers become errnos (EAGAIN, EDEADLK, EINTR), the unlock-on-close shortcut for
// files never locked, rename-proof release, flock conversion, and releaseAll for unmount/crash
// recovery.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { LockBridge, lockClientIdFor, lockHooksFor } from '../../../src/fs/lock-bridge.js';
import { Errno, FsError } from '../../../src/fs/fs-error.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;
let sid: string;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token, timeoutMs: 2000 });
});
afterAll(async () => {
  await client?.close();
  await gw?.close();
});
beforeEach(async () => {
  sid = (await client.createSession()).id;
  await client.batch(sid, {
    operations: [
      { write: { path: '/f.txt', content: Buffer.from('x'.repeat(100)) } },
      { write: { path: '/g.txt', content: Buffer.from('y') } },
    ],
  });
});

const errnoOf = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof FsError) return e.errno;
    throw e;
  }
};

const set = (owner: string, type: 'read' | 'write' | 'unlock', start = 0n, len = 0n, cmd: 'setlk' | 'setlkw' = 'setlk', extra: { ino?: number; signal?: AbortSignal; path?: string } = {}) => ({
  path: extra.path ?? '/f.txt',
  ino: extra.ino,
  cmd,
  type,
  start,
  len,
  pid: 100,
  owner,
  signal: extra.signal,
});

describe('LockBridge', () => {
  it('derives a stable 63-bit numeric client id per (host, mountpoint, session)', () => {
    const a = lockClientIdFor('host\0/mnt/a\0sess_1');
    expect(a).toMatch(/^\d+$/);
    expect(BigInt(a) < 1n << 63n).toBe(true);
    expect(lockClientIdFor('host\0/mnt/a\0sess_1')).toBe(a);
    expect(lockClientIdFor('host\0/mnt/b\0sess_1')).not.toBe(a);
  });

  it('maps fcntl requests to the POSIX routes: conflicts are EAGAIN, byte ranges are honoured, F_GETLK reports the holder', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.fcntl(set('10', 'write', 0n, 50n));
    expect(await errnoOf(m2.fcntl(set('10', 'write', 40n, 20n)))).toBe(Errno.EAGAIN); // same ownerId, other client
    expect(await errnoOf(m2.fcntl(set('20', 'read', 50n, 0n)))).toBe(0);
    expect(await m2.fcntl({ ...set('20', 'write', 0n, 10n), cmd: 'getlk' })).toEqual({ type: 'write', start: 0n, len: 50n, pid: 100 });
    expect(await m2.fcntl({ ...set('20', 'write', 60n, 10n), cmd: 'getlk' })).toEqual({ type: 'unlock' }); // own lock never conflicts
    expect(m1.stats.granted).toBe(1);
    expect(m2.stats.conflicts).toBe(1);
    // Unlock of the whole file (what close() sends) releases it for the other mount.
    await m1.fcntl(set('10', 'unlock'));
    expect(await errnoOf(m2.fcntl(set('30', 'write', 0n, 10n)))).toBe(0);
  });

  it('skips the gateway for unlocks of files the owner never locked (every close sends one)', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    for (let i = 0; i < 5; i++) await m1.fcntl(set('10', 'unlock'));
    await m1.flock({ path: '/f.txt', type: 'unlock', nonBlocking: false, pid: 1, owner: '10' });
    await m1.releaseFlock('10', '/f.txt');
    expect(m1.stats.requests).toBe(0);
    expect(m1.stats.skippedUnlocks).toBe(6);
  });

  it('releases a lock under the path it was taken with, even after a rename (keyed by inode)', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.fcntl(set('10', 'write', 0n, 0n, 'setlk', { ino: 42 }));
    // The kernel now calls it /h.txt (renamed locally); the lock on the gateway is still at /f.txt.
    await m1.fcntl(set('10', 'unlock', 0n, 0n, 'setlk', { ino: 42, path: '/h.txt' }));
    expect(await errnoOf(m2.fcntl(set('20', 'write')))).toBe(0);
  });

  it('a blocking request waits for the holder; aborting it (Ctrl-C) answers EINTR and leaves nothing behind', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.fcntl(set('10', 'write'));
    const ac = new AbortController();
    const waiting = errnoOf(m2.fcntl(set('20', 'write', 0n, 0n, 'setlkw', { signal: ac.signal })));
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    expect(await waiting).toBe(Errno.EINTR);
    expect(m2.stats.interrupted).toBe(1);
    await m1.fcntl(set('10', 'unlock'));
    await new Promise((r) => setTimeout(r, 100));
    // Nobody holds anything now (the aborted wait was not granted later).
    const q = await client.getPosixLock(sid, { path: '/f.txt', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: { ownerId: '99', clientId: '99', pid: 1 } });
    expect(q.hasConflict).toBe(false);

    await m1.fcntl(set('10', 'write'));
    const granted = m2.fcntl(set('20', 'read', 0n, 0n, 'setlkw'));
    await new Promise((r) => setTimeout(r, 100));
    await m1.fcntl(set('10', 'unlock'));
    await expect(granted).resolves.toBeUndefined();
  });

  it('reports EDEADLK when a blocking request would close a wait-for cycle', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.fcntl(set('10', 'write', 0n, 10n));
    await m2.fcntl(set('20', 'write', 10n, 10n));
    const ac = new AbortController();
    const first = errnoOf(m1.fcntl(set('10', 'write', 10n, 10n, 'setlkw', { signal: ac.signal })));
    await new Promise((r) => setTimeout(r, 150));
    expect(await errnoOf(m2.fcntl(set('20', 'write', 0n, 10n, 'setlkw')))).toBe(Errno.EDEADLK);
    ac.abort();
    expect(await first).toBe(Errno.EINTR);
  });

  it('flock: separate namespace from fcntl, LOCK_NB conflicts are EAGAIN, releaseFlock drops it on the last close', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.flock({ path: '/f.txt', type: 'write', nonBlocking: true, pid: 1, owner: '10' });
    expect(await errnoOf(m2.flock({ path: '/f.txt', type: 'read', nonBlocking: true, pid: 2, owner: '20' }))).toBe(Errno.EAGAIN);
    expect(await errnoOf(m2.fcntl(set('20', 'write')))).toBe(0); // fcntl does not see flocks
    // Shared + shared coexist once the holder converts down.
    await m1.flock({ path: '/f.txt', type: 'read', nonBlocking: true, pid: 1, owner: '10' });
    expect(await errnoOf(m2.flock({ path: '/f.txt', type: 'read', nonBlocking: true, pid: 2, owner: '20' }))).toBe(0);
    await m2.flock({ path: '/f.txt', type: 'unlock', nonBlocking: false, pid: 2, owner: '20' });
    await m1.releaseFlock('10', '/f.txt');
    expect(await errnoOf(m2.flock({ path: '/f.txt', type: 'write', nonBlocking: true, pid: 2, owner: '20' }))).toBe(0);
  });

  it('a blocking flock that is interrupted drops the old lock too (the request released it before waiting)', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    const m2 = new LockBridge({ client, sessionId: sid, clientId: '2' });
    await m1.flock({ path: '/f.txt', type: 'read', nonBlocking: true, pid: 1, owner: '10' });
    await m2.flock({ path: '/f.txt', type: 'read', nonBlocking: true, pid: 2, owner: '20' });
    const ac = new AbortController();
    const upgrading = errnoOf(m2.flock({ path: '/f.txt', type: 'write', nonBlocking: false, pid: 2, owner: '20', signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 150));
    ac.abort();
    expect(await upgrading).toBe(Errno.EINTR);
    expect(m2.holds('20', '/f.txt', undefined, 'flock')).toBe(false);
    expect(await errnoOf(m1.flock({ path: '/f.txt', type: 'write', nonBlocking: true, pid: 1, owner: '10' }))).toBe(0);
  });

  it('runs the hooks: upload before locking and before an explicit unlock', async () => {
    const flushed: number[] = [];
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1', hooks: lockHooksFor({ flush: async (fh) => void flushed.push(fh) }) });
    await m1.fcntl({ ...set('10', 'write'), fh: 7 });
    await m1.fcntl({ ...set('10', 'unlock'), fh: 7 });
    await m1.flock({ path: '/g.txt', fh: 8, type: 'write', nonBlocking: true, pid: 1, owner: '11' });
    expect(flushed).toEqual([7, 7, 8]);
  });

  it('a lock on a path the gateway does not have fails with ENOENT', async () => {
    const m1 = new LockBridge({ client, sessionId: sid, clientId: '1' });
    expect(await errnoOf(m1.fcntl(set('10', 'write', 0n, 0n, 'setlk', { path: '/missing.txt' })))).toBe(Errno.ENOENT);
    expect(m1.holds('10', '/missing.txt', undefined, 'posix')).toBe(false);
  });

  it('releaseAll drops every lock and pending wait of the client (unmount, crash recovery)', async () => {
    const crashed = new LockBridge({ client, sessionId: sid, clientId: '5' });
    const other = new LockBridge({ client, sessionId: sid, clientId: '6' });
    await crashed.fcntl(set('10', 'write'));
    await crashed.flock({ path: '/g.txt', type: 'write', nonBlocking: true, pid: 1, owner: '11' });
    const waiting = errnoOf(crashed.fcntl(set('12', 'write', 0n, 0n, 'setlkw', { path: '/f.txt' })));
    await new Promise((r) => setTimeout(r, 100));
    // A new daemon for the same mount (same client id) cleans up.
    const restarted = new LockBridge({ client, sessionId: sid, clientId: '5' });
    expect(await restarted.releaseAll()).toEqual({ releasedLocks: 2, cancelledWaits: 1 });
    expect(await waiting).not.toBe(0);
    expect(await errnoOf(other.fcntl(set('20', 'write')))).toBe(0);
    expect(await errnoOf(other.flock({ path: '/g.txt', type: 'write', nonBlocking: true, pid: 2, owner: '21' }))).toBe(0);
  });
});
