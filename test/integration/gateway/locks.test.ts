// POSIX locks, flock and collaboration file locks against a real gateway (seeds §22, §23).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../../src/gateway/server.js';
import { ManualClock } from '../../../src/shared/clock.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

// ---- harness: a gateway with a ManualClock, sessions and files --------------------------------------

interface Harness {
  gw: RunningGateway;
  clock: ManualClock;
  call(method: string, path: string, body?: unknown, opts?: { token?: string; signal?: AbortSignal }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

async function startHarness(): Promise<Harness> {
  const { dir, cleanup } = await makeTempDir('aether-locks-');
  const clock = new ManualClock(Date.UTC(2026, 2, 11, 6, 0, 0));
  const gw = await startGateway({ dataDir: dir, port: 0, clock });
  return {
    gw,
    clock,
    async call(method, path, body, opts = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${opts.token ?? gw.token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(gw.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: opts.signal });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await gw.close();
      await cleanup();
    },
  };
}

/** A new empty session of the caller's tenant, via POST /v1/sessions. */
async function createSession(h: Harness, token?: string): Promise<string> {
  const r = await h.call('POST', '/v1/sessions', {}, { token });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as string;
}

/** Write files through the batch route (parents are created as needed). */
async function writeFiles(h: Harness, sessionId: string, files: Record<string, string>): Promise<void> {
  const operations = Object.entries(files).map(([path, text]) => ({ write: { path, content: Buffer.from(text).toString('base64') } }));
  const r = await h.call('POST', `/v1/sessions/${sessionId}/batch`, { operations });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

function events(h: Harness, sessionId: string): Array<{ type: string; details: Record<string, string> }> {
  return (h.gw.core.db.prepare('SELECT event_type, details FROM events WHERE session_id = ? ORDER BY seq').all(sessionId) as Array<{ event_type: string; details: string }>).map(
    (e) => ({ type: e.event_type, details: JSON.parse(e.details) }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves to 'pending' if `p` has not settled after `ms`. */
async function stateAfter<T>(p: Promise<T>, ms: number): Promise<'pending' | 'settled'> {
  return Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);
}

// ---- seed bodies (§22) -------------------------------------------------------------------------------

const OWNER_1001 = { ownerId: '1001', pid: 4242, clientId: '7' };
const OWNER_1002 = { ownerId: '1002', pid: 4310, clientId: '8' };
const WHOLE = { start: '0', length: '0' };

let h: Harness;
let sid: string;
beforeAll(async () => {
  h = await startHarness();
  sid = await createSession(h);
  await writeFiles(h, sid, { '/src/main.ts': 'export const main = 1;\n', '/src/util.ts': 'u\n', '/srcx/other.ts': 'o\n', '/docs/readme.md': '# hi\n' });
});
afterAll(async () => {
  await h?.close();
});

describe('POSIX locks (seed §22)', () => {
  it('getPosixLock reports the conflict exactly as the seed shows', async () => {
    const held = await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1002 });
    expect(held).toEqual({ status: 200, body: {} });
    const r = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, {
      path: '/src/main.ts',
      kind: 'POSIX_LOCK_KIND_EXCLUSIVE',
      range: { start: '0', length: '0' },
      owner: { ownerId: '1001', pid: 4242, clientId: '7' },
      isFlock: false,
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      hasConflict: true,
      conflict: {
        kind: 'POSIX_LOCK_KIND_EXCLUSIVE',
        range: { start: '0', length: '0' },
        owner: { ownerId: '1002', pid: 4310, clientId: '8' },
        isFlock: false,
      },
    });
    // The holder itself sees no conflict; flock namespace is separate.
    const self = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1002 });
    expect(self.body).toEqual({ hasConflict: false });
    const fl = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1001, isFlock: true });
    expect(fl.body).toEqual({ hasConflict: false });
  });

  it('setPosixLock (seed body) conflicts with code 10 naming the holder, then succeeds once released', async () => {
    const seedBody = { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '0' }, owner: { ownerId: '1001', pid: 4242, clientId: '7' } };
    const c = await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, seedBody);
    expect(c.status).toBe(409);
    expect(c.body.code).toBe(10);
    expect(c.body.details).toEqual([]);
    expect(c.body.message).toContain('1002');
    expect(c.body.message).toContain('4310');
    const un = await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/main.ts', owner: OWNER_1002, range: WHOLE, isFlock: false });
    expect(un).toEqual({ status: 200, body: {} });
    expect(await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, seedBody)).toEqual({ status: 200, body: {} });
  });

  it('setPosixLockBlocking (seed body) by the holder converts without waiting', async () => {
    const r = await h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, {
      path: '/src/main.ts',
      kind: 'POSIX_LOCK_KIND_SHARED',
      range: { start: '0', length: '0' },
      owner: { ownerId: '1001', pid: 4242, clientId: '7' },
    });
    expect(r).toEqual({ status: 200, body: {} });
    // Now shared: another owner's shared lock coexists, an exclusive one conflicts with the shared lock.
    const g = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '10', length: '5' }, owner: OWNER_1002 });
    expect(g.body.conflict).toEqual({ kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1001, isFlock: false });
    const s2 = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1002 });
    expect(s2.body).toEqual({ hasConflict: false });
  });

  it('flock (seed body) is a separate namespace from fcntl locks; funlock (seed body) releases', async () => {
    const r = await h.call('POST', `/v1/sessions/${sid}:flock`, {
      path: '/src/main.ts',
      mode: 'POSIX_FLOCK_MODE_EXCLUSIVE',
      owner: { ownerId: '1001', pid: 4242, clientId: '7' },
      blocking: false,
    });
    expect(r).toEqual({ status: 200, body: {} });
    const u = await h.call('POST', `/v1/sessions/${sid}:funlock`, {
      path: '/src/main.ts',
      owner: { ownerId: '1001', pid: 4242, clientId: '7' },
      range: { start: '0', length: '0' },
      isFlock: false,
    });
    expect(u).toEqual({ status: 200, body: {} });
    // The fcntl lock is gone, the flock remains.
    const fc = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1002 });
    expect(fc.body).toEqual({ hasConflict: false });
    const fk = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1002, isFlock: true });
    expect(fk.body).toEqual({ hasConflict: true, conflict: { kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1001, isFlock: true } });
    const fu = await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/main.ts', owner: OWNER_1001, isFlock: true });
    expect(fu).toEqual({ status: 200, body: {} });
    expect((await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1002, isFlock: true })).body).toEqual({ hasConflict: false });
  });

  it('flock: exclusive vs shared across two owners, conversion, and POSIX_FLOCK_MODE_UNLOCK', async () => {
    const flock = (owner: object, mode: string, blocking = false) => h.call('POST', `/v1/sessions/${sid}:flock`, { path: '/src/util.ts', mode, owner, blocking });
    expect((await flock(OWNER_1001, 'POSIX_FLOCK_MODE_SHARED')).status).toBe(200);
    expect((await flock(OWNER_1002, 'POSIX_FLOCK_MODE_SHARED')).status).toBe(200);
    const up = await flock(OWNER_1002, 'POSIX_FLOCK_MODE_EXCLUSIVE');
    expect(up.status).toBe(409);
    expect(up.body.code).toBe(10);
    expect(up.body.message).toContain('1001');
    expect((await flock(OWNER_1001, 'POSIX_FLOCK_MODE_UNLOCK')).body).toEqual({});
    expect((await flock(OWNER_1002, 'POSIX_FLOCK_MODE_EXCLUSIVE')).status).toBe(200);
    const sh = await flock(OWNER_1001, 'POSIX_FLOCK_MODE_SHARED');
    expect(sh.status).toBe(409);
    // A blocking shared flock waits for the exclusive holder.
    const waiting = flock(OWNER_1001, 'POSIX_FLOCK_MODE_SHARED', true);
    expect(await stateAfter(waiting, 300)).toBe('pending');
    await flock(OWNER_1002, 'POSIX_FLOCK_MODE_UNLOCK');
    expect(await waiting).toEqual({ status: 200, body: {} });
    await flock(OWNER_1001, 'POSIX_FLOCK_MODE_UNLOCK');
  });

  it('a blocking lock actually blocks until the holder releases, then is granted', async () => {
    const path = '/docs/readme.md';
    expect((await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '100' }, owner: OWNER_1002 })).status).toBe(200);
    const blocked = h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '50', length: '0' }, owner: OWNER_1001 });
    expect(await stateAfter(blocked, 300)).toBe('pending');
    // Releasing a part that does not overlap the wait is not enough.
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002, range: { start: '0', length: '10' } });
    expect(await stateAfter(blocked, 100)).toBe('pending');
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002, range: WHOLE });
    expect(await blocked).toEqual({ status: 200, body: {} });
    const g = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path, kind: 'POSIX_LOCK_KIND_SHARED', range: { start: '0', length: '0' }, owner: OWNER_1002 });
    expect(g.body).toEqual({ hasConflict: true, conflict: { kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '50', length: '0' }, owner: OWNER_1001, isFlock: false } });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1001 });
  });

  it('an aborted blocking request leaves no lock and no waiter', async () => {
    const path = '/docs/readme.md';
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1002 });
    const ac = new AbortController();
    const blocked = h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1001 }, { signal: ac.signal });
    expect(await stateAfter(blocked, 300)).toBe('pending');
    ac.abort();
    await expect(blocked).rejects.toThrow();
    await sleep(100); // let the server notice the disconnect
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002, range: WHOLE });
    await sleep(50);
    // 1001 got nothing: a third owner can take an exclusive lock.
    const third = { ownerId: '1003', pid: 1, clientId: '9' };
    expect(await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: third })).toEqual({ status: 200, body: {} });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: third });
  });

  it('timeoutMs (extension) ends a blocking wait with code 4 and takes nothing', async () => {
    const path = '/docs/readme.md';
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: WHOLE, owner: OWNER_1002 });
    const r = await h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path, kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1001, timeoutMs: 150 });
    expect(r.status).toBe(504);
    expect(r.body.code).toBe(4);
    expect(r.body.message).toContain('1002');
    const fl = await h.call('POST', `/v1/sessions/${sid}:flock`, { path, mode: 'POSIX_FLOCK_MODE_EXCLUSIVE', owner: OWNER_1002 });
    expect(fl.status).toBe(200);
    const fr = await h.call('POST', `/v1/sessions/${sid}:flock`, { path, mode: 'POSIX_FLOCK_MODE_SHARED', owner: OWNER_1001, blocking: true, timeoutMs: 100 });
    expect(fr.body.code).toBe(4);
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002 });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002, isFlock: true });
    expect((await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: { ownerId: '5' } })).body).toEqual({ hasConflict: false });
  });

  it('a wait that would deadlock fails at once with code 10 and an EDEADLK ErrorInfo', async () => {
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1001 });
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/util.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1002 });
    const first = h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path: '/src/util.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1001 });
    expect(await stateAfter(first, 100)).toBe('pending');
    const second = await h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1002 });
    expect(second.status).toBe(409);
    expect(second.body.code).toBe(10);
    expect(second.body.details[0]).toMatchObject({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EDEADLK' });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/util.ts', owner: OWNER_1002 });
    expect(await first).toEqual({ status: 200, body: {} });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/util.ts', owner: OWNER_1001 });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/main.ts', owner: OWNER_1001 });
  });

  it(':releasePosixLocks (extension) drops every lock of a client and ends its waits', async () => {
    const c7a = { ownerId: '1', pid: 10, clientId: '7' };
    const c7b = { ownerId: '2', pid: 11, clientId: '7' };
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '10' }, owner: c7a });
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/util.ts', kind: 'POSIX_LOCK_KIND_SHARED', owner: c7b });
    await h.call('POST', `/v1/sessions/${sid}:flock`, { path: '/src/util.ts', mode: 'POSIX_FLOCK_MODE_EXCLUSIVE', owner: c7b });
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/docs/readme.md', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1002 });
    const waits = h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path: '/docs/readme.md', kind: 'POSIX_LOCK_KIND_SHARED', owner: c7a });
    expect(await stateAfter(waits, 100)).toBe('pending');
    const r = await h.call('POST', `/v1/sessions/${sid}:releasePosixLocks`, { owner: { clientId: '7' } });
    expect(r).toEqual({ status: 200, body: { releasedLocks: 3, cancelledWaits: 1 } });
    const w = await waits;
    expect(w.status).toBe(409);
    expect(w.body.code).toBe(10);
    for (const path of ['/src/main.ts', '/src/util.ts']) {
      for (const isFlock of [false, true]) {
        const g = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1002, isFlock });
        expect(g.body).toEqual({ hasConflict: false });
      }
    }
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/docs/readme.md', owner: OWNER_1002 });
    const bad = await h.call('POST', `/v1/sessions/${sid}:releasePosixLocks`, { owner: { ownerId: '1' } });
    expect(bad.body.code).toBe(3);
    expect(bad.body.message).toContain('owner.clientId');
  });

  it('range splitting: unlocking the middle of a lock frees exactly that part', async () => {
    const path = '/src/main.ts';
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '0' }, owner: OWNER_1001 });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1001, range: { start: '100', length: '100' } });
    const mid = await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path, kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '100', length: '100' }, owner: OWNER_1002 });
    expect(mid.status).toBe(200);
    const after = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path, kind: 'POSIX_LOCK_KIND_SHARED', range: { start: '200', length: '1' }, owner: OWNER_1002 });
    expect(after.body.conflict).toEqual({ kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '200', length: '0' }, owner: OWNER_1001, isFlock: false });
    const before = await h.call('POST', `/v1/sessions/${sid}:getPosixLock`, { path, kind: 'POSIX_LOCK_KIND_SHARED', range: { start: '0', length: '1' }, owner: OWNER_1002 });
    expect(before.body.conflict.range).toEqual({ start: '0', length: '100' });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1001 });
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path, owner: OWNER_1002 });
  });

  it('validates input: codes 3 for bad fields, 5 for a missing path or session', async () => {
    const base = { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', range: WHOLE, owner: OWNER_1001 };
    const cases: Array<[object, string]> = [
      [{ ...base, path: 'src/main.ts' }, 'path'],
      [{ ...base, path: '/src/../main.ts' }, 'path'],
      [{ ...base, kind: 'SHARED' }, 'kind'],
      [{ ...base, kind: undefined }, 'kind'],
      [{ ...base, owner: undefined }, 'owner'],
      [{ ...base, owner: { pid: 1 } }, 'owner.ownerId'],
      [{ ...base, owner: { ownerId: 'abc' } }, 'owner.ownerId'],
      [{ ...base, owner: { ownerId: '1', clientId: '-1' } }, 'owner.clientId'],
      [{ ...base, owner: { ownerId: '1', pid: 'x' } }, 'owner.pid'],
      [{ ...base, range: { start: '-1', length: '0' } }, 'range.start'],
      [{ ...base, range: { start: '0', length: '-5' } }, 'range.length'],
      [{ ...base, range: { start: '9223372036854775807', length: '2' } }, 'overflows'],
      [{ ...base, range: 'all' }, 'range'],
      [{ ...base, isFlock: 'maybe' }, 'isFlock'],
    ];
    for (const [body, field] of cases) {
      for (const route of ['getPosixLock', 'setPosixLock', 'setPosixLockBlocking']) {
        const r = await h.call('POST', `/v1/sessions/${sid}:${route}`, body);
        expect(r.status, `${route} ${JSON.stringify(body)}`).toBe(400);
        expect(r.body.code).toBe(3);
        expect(r.body.message).toContain(field);
      }
    }
    const badMode = await h.call('POST', `/v1/sessions/${sid}:flock`, { path: '/src/main.ts', mode: 'LOCK_EX', owner: OWNER_1001 });
    expect(badMode.body.code).toBe(3);
    expect(badMode.body.message).toContain('mode');
    const badTimeout = await h.call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { ...base, timeoutMs: -1 });
    expect(badTimeout.body.code).toBe(3);
    for (const route of ['getPosixLock', 'setPosixLock', 'setPosixLockBlocking']) {
      const r = await h.call('POST', `/v1/sessions/${sid}:${route}`, { ...base, path: '/nope.ts' });
      expect(r.status).toBe(404);
      expect(r.body.code).toBe(5);
    }
    const fmissing = await h.call('POST', `/v1/sessions/${sid}:flock`, { path: '/nope.ts', mode: 'POSIX_FLOCK_MODE_SHARED', owner: OWNER_1001 });
    expect(fmissing.body.code).toBe(5);
    // Releasing on a path that does not exist (e.g. unlinked while locked) is a no-op, never an error.
    expect(await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/nope.ts', owner: OWNER_1001 })).toEqual({ status: 200, body: {} });
    const nosess = await h.call('POST', '/v1/sessions/sess_missing:setPosixLock', base);
    expect(nosess.status).toBe(404);
    expect(nosess.body.code).toBe(5);
  });

  it("another tenant cannot see or touch the session's locks (404)", async () => {
    const other = h.gw.core.auth.createToken('other-tenant');
    for (const route of ['getPosixLock', 'setPosixLock', 'funlock', 'flock', 'releasePosixLocks']) {
      const r = await h.call('POST', `/v1/sessions/${sid}:${route}`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', mode: 'POSIX_FLOCK_MODE_SHARED', owner: { ownerId: '1', clientId: '1' } }, { token: other });
      expect(r.status, route).toBe(404);
      expect(r.body.code).toBe(5);
    }
  });

  it('locks of different sessions are independent', async () => {
    const other = await createSession(h);
    await writeFiles(h, other, { '/src/main.ts': 'x' });
    await h.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1001 });
    expect((await h.call('POST', `/v1/sessions/${other}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', owner: OWNER_1002 })).status).toBe(200);
    await h.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/src/main.ts', owner: OWNER_1001 });
    // No events are recorded for POSIX locks.
    expect(events(h, sid).filter((e) => e.type.includes('Lock'))).toEqual([]);
  });
});

describe('collaboration file locks (seed §23)', () => {
  let lockId: string;

  it('acquires with the seed body and returns a real lockId', async () => {
    const r = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts', timeoutSeconds: 300 });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['lockId']);
    expect(r.body.lockId).toMatch(/^lock_[0-9A-Z]{26}$/);
    lockId = r.body.lockId;
  });

  it('renews with the seed body: remainingTtlSeconds "300"', async () => {
    h.clock.advance(100_000);
    const r = await h.call('POST', `/v1/sessions/${sid}/files/renew-lock`, { path: '/src/main.ts', lockId, timeoutSeconds: 300 });
    expect(r).toEqual({ status: 200, body: { lockId, remainingTtlSeconds: '300' } });
  });

  it('lists live locks under a path-boundary prefix with the seed body', async () => {
    const x = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/srcx/other.ts', timeoutSeconds: 60 });
    expect(x.status).toBe(200);
    h.clock.advance(13_000);
    const r = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/src' });
    expect(r).toEqual({ status: 200, body: { locks: [{ path: '/src/main.ts', lockId, ownerId: 'admin', remainingTtlSeconds: '287' }] } });
    const all = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, {});
    expect(all.body.locks.map((l: any) => l.path)).toEqual(['/src/main.ts', '/srcx/other.ts']);
    expect(all.body.locks[1]).toEqual({ path: '/srcx/other.ts', lockId: x.body.lockId, ownerId: 'admin', remainingTtlSeconds: '47' });
    const exact = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/src/main.ts' });
    expect(exact.body.locks).toHaveLength(1);
    const none = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/docs' });
    expect(none.body).toEqual({ locks: [] });
    await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/srcx/other.ts', lockId: x.body.lockId });
  });

  it('another principal gets code 10 naming the owner; the same principal renews and keeps the id', async () => {
    const bob = h.gw.core.auth.createToken('default', 'bob');
    const r = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts' }, { token: bob });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe(10);
    expect(r.body.message).toContain('admin');
    const again = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts', timeoutSeconds: 600 });
    expect(again.body).toEqual({ lockId });
    const l = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/src' });
    expect(l.body.locks[0].remainingTtlSeconds).toBe('600');
  });

  it('unlocks with the seed body; a wrong id is 9, a missing lock is 5', async () => {
    const wrong = await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/src/main.ts', lockId: 'lock_01HRJ8KXQMA75VPYF1E56DHQ0N' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe(9);
    const wrongRenew = await h.call('POST', `/v1/sessions/${sid}/files/renew-lock`, { path: '/src/main.ts', lockId: 'lock_01HRJ8KXQMA75VPYF1E56DHQ0N', timeoutSeconds: 300 });
    expect(wrongRenew.body.code).toBe(9);
    expect(await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/src/main.ts', lockId })).toEqual({ status: 200, body: {} });
    const gone = await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/src/main.ts', lockId });
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe(5);
    const renewGone = await h.call('POST', `/v1/sessions/${sid}/files/renew-lock`, { path: '/src/main.ts', lockId, timeoutSeconds: 300 });
    expect(renewGone.body.code).toBe(5);
  });

  it('force-unlock with the seed body returns the broken lock and its owner', async () => {
    const alice = h.gw.core.auth.createToken('default', 'alice');
    const taken = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts', timeoutSeconds: 300 }, { token: alice });
    const r = await h.call('POST', `/v1/sessions/${sid}/files/force-unlock`, { path: '/src/main.ts', reason: 'client crashed during review handoff' });
    expect(r).toEqual({ status: 200, body: { lockId: taken.body.lockId, ownerId: 'alice' } });
    const none = await h.call('POST', `/v1/sessions/${sid}/files/force-unlock`, { path: '/src/main.ts', reason: 'again' });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe(5);
    const noReason = await h.call('POST', `/v1/sessions/${sid}/files/force-unlock`, { path: '/src/main.ts' });
    expect(noReason.body.code).toBe(3);
    expect(noReason.body.message).toContain('reason');
    const ev = events(h, sid).filter((e) => e.type === 'v1.LockService.ForceUnlock');
    expect(ev).toEqual([{ type: 'v1.LockService.ForceUnlock', details: { path: '/src/main.ts', lockId: taken.body.lockId, ownerId: 'alice', reason: 'client crashed during review handoff' } }]);
  });

  it('expires after its TTL (ManualClock): gone from the list, renew is 5, another owner may lock', async () => {
    const r = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/docs/readme.md', timeoutSeconds: 10 });
    const id = r.body.lockId;
    h.clock.advance(9_500);
    let l = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/docs' });
    expect(l.body.locks).toEqual([{ path: '/docs/readme.md', lockId: id, ownerId: 'admin', remainingTtlSeconds: '1' }]);
    h.clock.advance(500);
    l = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/docs' });
    expect(l.body.locks).toEqual([]);
    const renew = await h.call('POST', `/v1/sessions/${sid}/files/renew-lock`, { path: '/docs/readme.md', lockId: id, timeoutSeconds: 10 });
    expect(renew.body.code).toBe(5);
    const bob = h.gw.core.auth.createToken('default', 'bob2');
    const next = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/docs/readme.md' }, { token: bob });
    expect(next.status).toBe(200);
    expect(next.body.lockId).not.toBe(id);
    // Default TTL is 300 s.
    l = await h.call('POST', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/docs' });
    expect(l.body.locks[0]).toMatchObject({ ownerId: 'bob2', remainingTtlSeconds: '300' });
    h.clock.advance(300_000);
    const afterExpiry = await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/docs/readme.md', lockId: next.body.lockId });
    expect(afterExpiry.body.code).toBe(5);
  });

  it('validates input (code 3) and hides other tenants (404)', async () => {
    const cases: Array<[string, object, string]> = [
      ['lock', { path: 'relative' }, 'path'],
      ['lock', { path: '/a', timeoutSeconds: 86_401 }, 'timeoutSeconds'],
      ['lock', { path: '/a', timeoutSeconds: -1 }, 'timeoutSeconds'],
      ['lock', { path: '/a', timeoutSeconds: 'soon' }, 'timeoutSeconds'],
      ['lock', {}, 'path'],
      ['renew-lock', { path: '/a' }, 'lockId'],
      ['renew-lock', { path: '/a', lockId: 'lock_x', timeoutSeconds: 1e9 }, 'timeoutSeconds'],
      ['list-locks', { pathPrefix: 'src' }, 'pathPrefix'],
      ['list-locks', { pathPrefix: '/src/' }, 'pathPrefix'],
      ['unlock', { path: '/a' }, 'lockId'],
      ['force-unlock', { path: '/a//b', reason: 'x' }, 'path'],
    ];
    for (const [route, body, field] of cases) {
      const r = await h.call('POST', `/v1/sessions/${sid}/files/${route}`, body);
      expect(r.status, `${route} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain(field);
    }
    const max = await h.call('POST', `/v1/sessions/${sid}/files/lock`, { path: '/reserved/new-file.ts', timeoutSeconds: 86_400 });
    expect(max.status).toBe(200); // advisory: the path need not exist yet
    const other = h.gw.core.auth.createToken('tenant-two');
    for (const route of ['lock', 'renew-lock', 'list-locks', 'unlock', 'force-unlock']) {
      const r = await h.call('POST', `/v1/sessions/${sid}/files/${route}`, { path: '/reserved/new-file.ts', lockId: max.body.lockId, reason: 'x' }, { token: other });
      expect(r.status, route).toBe(404);
      expect(r.body.code).toBe(5);
    }
    await h.call('POST', `/v1/sessions/${sid}/files/unlock`, { path: '/reserved/new-file.ts', lockId: max.body.lockId });
  });

  it('records Lock/Unlock/ForceUnlock events with path and lockId', async () => {
    const ev = events(h, sid).filter((e) => e.type.startsWith('v1.LockService.'));
    expect(ev[0]).toEqual({ type: 'v1.LockService.Lock', details: { path: '/src/main.ts', lockId, ownerId: 'admin' } });
    expect(ev).toContainEqual({ type: 'v1.LockService.Unlock', details: { path: '/src/main.ts', lockId } });
    expect(new Set(ev.map((e) => e.type))).toEqual(new Set(['v1.LockService.Lock', 'v1.LockService.Unlock', 'v1.LockService.ForceUnlock']));
  });
});
