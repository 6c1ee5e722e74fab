import { describe, expect, it } from 'vitest';
import { LockWaitError, PosixLockTable, type PosixLock, type PosixLockKind, type PosixLockOwner } from '../../../src/gateway/locks/posix-lock-table.js';

const S = 'sess_a';
const P = '/f';
const A: PosixLockOwner = { ownerId: '1001', clientId: '7', pid: 4242 };
const B: PosixLockOwner = { ownerId: '1002', clientId: '8', pid: 4310 };
const C: PosixLockOwner = { ownerId: '1003', clientId: '8', pid: 4400 };

function fl(kind: PosixLockKind, owner: PosixLockOwner, start: number, end: number | null): PosixLock {
  return { kind, owner, start: BigInt(start), end: end === null ? null : BigInt(end), isFlock: false };
}
function fk(kind: PosixLockKind, owner: PosixLockOwner): PosixLock {
  return { kind, owner, start: 0n, end: null, isFlock: true };
}
/** Held locks as compact tuples [kind, ownerId, start, end]. */
function held(t: PosixLockTable, path = P) {
  return t.locks(S, path).map((l) => [l.isFlock ? `flock-${l.kind}` : l.kind, l.owner.ownerId, Number(l.start), l.end === null ? null : Number(l.end)]);
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('PosixLockTable: fcntl conflicts', () => {
  it('shared locks of different owners coexist; exclusive conflicts with any overlap', () => {
    const t = new PosixLockTable();
    expect(t.trySet(S, P, fl('shared', A, 0, 100))).toBeUndefined();
    expect(t.trySet(S, P, fl('shared', B, 50, 150))).toBeUndefined();
    const c = t.trySet(S, P, fl('exclusive', C, 90, 95));
    expect(c).toMatchObject({ kind: 'shared', owner: A, start: 0n, end: 100n });
    expect(held(t)).toEqual([
      ['shared', '1001', 0, 100],
      ['shared', '1002', 50, 150],
    ]);
  });

  it('disjoint ranges coexist, including half-open edges', () => {
    const t = new PosixLockTable();
    expect(t.trySet(S, P, fl('exclusive', A, 0, 10))).toBeUndefined();
    expect(t.trySet(S, P, fl('exclusive', B, 10, 20))).toBeUndefined();
    expect(t.trySet(S, P, fl('exclusive', C, 20, null))).toBeUndefined();
    expect(t.test(S, P, fl('shared', A, 9, 11))).toMatchObject({ owner: B });
    expect(t.test(S, P, fl('shared', A, 1_000_000, 1_000_001))).toMatchObject({ owner: C, end: null });
  });

  it('an owner never conflicts with itself; identity is (ownerId, clientId), pid is informational', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, null));
    expect(t.trySet(S, P, fl('exclusive', { ...A, pid: 9999 }, 0, 10))).toBeUndefined();
    // Same ownerId from another client is another owner.
    expect(t.trySet(S, P, fl('shared', { ...A, clientId: '99' }, 0, 1))).toMatchObject({ owner: { ownerId: '1001', clientId: '7' } });
  });

  it('test() reports the first conflict by start offset and never changes state', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', B, 50, 60));
    t.trySet(S, P, fl('exclusive', C, 10, 20));
    expect(t.test(S, P, fl('shared', A, 0, null))).toMatchObject({ owner: C, start: 10n });
    expect(t.test(S, P, fl('shared', B, 0, null))).toMatchObject({ owner: C });
    expect(t.test(S, P, fl('shared', A, 30, 40))).toBeUndefined();
    expect(held(t)).toHaveLength(2);
  });
});

describe('PosixLockTable: fcntl split, convert and merge', () => {
  it('a new lock inside an existing one of the same owner splits it and converts the middle', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('shared', A, 0, 100));
    t.trySet(S, P, fl('exclusive', A, 40, 60));
    expect(held(t)).toEqual([
      ['shared', '1001', 0, 40],
      ['exclusive', '1001', 40, 60],
      ['shared', '1001', 60, 100],
    ]);
    // Converting back merges the three pieces into one.
    t.trySet(S, P, fl('shared', A, 40, 60));
    expect(held(t)).toEqual([['shared', '1001', 0, 100]]);
  });

  it('adjacent and overlapping same-kind locks coalesce; to-EOF absorbs what follows', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, 10));
    t.trySet(S, P, fl('exclusive', A, 10, 20));
    t.trySet(S, P, fl('exclusive', A, 15, 30));
    expect(held(t)).toEqual([['exclusive', '1001', 0, 30]]);
    t.trySet(S, P, fl('exclusive', A, 50, 60));
    t.trySet(S, P, fl('exclusive', A, 25, null));
    expect(held(t)).toEqual([['exclusive', '1001', 0, null]]);
  });

  it('unlock removes a range from the middle, splitting the lock', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, null));
    expect(t.unlock(S, P, A, 100n, 200n)).toBe(true);
    expect(held(t)).toEqual([
      ['exclusive', '1001', 0, 100],
      ['exclusive', '1001', 200, null],
    ]);
    expect(t.trySet(S, P, fl('exclusive', B, 100, 200))).toBeUndefined();
    expect(t.unlock(S, P, A, 0n, null)).toBe(true);
    expect(held(t)).toEqual([['exclusive', '1002', 100, 200]]);
  });

  it("unlock only touches the caller's locks and reports when nothing was held", () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('shared', A, 0, 10));
    t.trySet(S, P, fl('shared', B, 0, 10));
    expect(t.unlock(S, P, C, 0n, null)).toBe(false);
    expect(t.unlock(S, P, A, 20n, 30n)).toBe(false);
    expect(t.unlock(S, P, A, 0n, null)).toBe(true);
    expect(held(t)).toEqual([['shared', '1002', 0, 10]]);
  });

  it('reclaims bookkeeping when a path has no locks and no waiters', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('shared', A, 0, 10));
    expect(t.pathCount(S)).toBe(1);
    t.unlock(S, P, A, 0n, null);
    expect(t.pathCount(S)).toBe(0);
    t.trySet(S, P, fl('shared', A, 0, 10));
    expect(t.trySet(S, '/other', fl('shared', B, 0, 10))).toBeUndefined();
    t.releaseClient(S, '7');
    t.releaseClient(S, '8');
    expect(t.pathCount(S)).toBe(0);
  });

  it('paths and scopes are independent', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, null));
    expect(t.trySet(S, '/g', fl('exclusive', B, 0, null))).toBeUndefined();
    expect(t.trySet('sess_b', P, fl('exclusive', B, 0, null))).toBeUndefined();
  });
});

describe('PosixLockTable: flock', () => {
  it('is whole-file, separate from fcntl, shared/shared coexist, exclusive conflicts', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, null));
    expect(t.trySet(S, P, fk('exclusive', B))).toBeUndefined(); // other namespace
    expect(t.trySet(S, P, fk('shared', C))).toMatchObject({ isFlock: true, owner: B });
    t.unflock(S, P, B);
    expect(t.trySet(S, P, fk('shared', C))).toBeUndefined();
    expect(t.trySet(S, P, fk('shared', B))).toBeUndefined();
    expect(t.trySet(S, P, fk('exclusive', A))).toMatchObject({ isFlock: true });
  });

  it('converts modes for the same owner; a failed non-blocking upgrade keeps the old lock', () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fk('shared', A));
    t.trySet(S, P, fk('shared', B));
    expect(t.trySet(S, P, fk('exclusive', A))).toMatchObject({ owner: B });
    expect(held(t)).toEqual([
      ['flock-shared', '1001', 0, null],
      ['flock-shared', '1002', 0, null],
    ]);
    t.unflock(S, P, B);
    expect(t.trySet(S, P, fk('exclusive', A))).toBeUndefined();
    expect(held(t)).toEqual([['flock-exclusive', '1001', 0, null]]);
  });

  it('two shared holders upgrading with blocking waits do not deadlock (old lock dropped first)', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fk('shared', A));
    t.trySet(S, P, fk('shared', B));
    let aDone = false;
    const a = t.set(S, P, fk('exclusive', A)).then(() => (aDone = true));
    await settle();
    expect(aDone).toBe(false);
    const b = t.set(S, P, fk('exclusive', B)); // drops B's shared lock → A is granted, B waits
    await a;
    expect(held(t)).toEqual([['flock-exclusive', '1001', 0, null]]);
    t.unflock(S, P, A);
    await b;
    expect(held(t)).toEqual([['flock-exclusive', '1002', 0, null]]);
  });
});

describe('PosixLockTable: blocking waits', () => {
  it('a waiter is granted when the conflicting lock is released', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', B, 0, null));
    let done = false;
    const p = t.set(S, P, fl('shared', A, 0, 10)).then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    expect(t.waiting(S, P)).toBe(1);
    t.unlock(S, P, B, 0n, 5n); // still overlaps [5, 10)
    await settle();
    expect(done).toBe(false);
    t.unlock(S, P, B, 0n, null);
    await p;
    expect(held(t)).toEqual([['shared', '1001', 0, 10]]);
    expect(t.waiting(S, P)).toBe(0);
  });

  it('serves waiters FIFO as each becomes grantable; compatible waiters are granted together', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', A, 0, null));
    const order: string[] = [];
    const b = t.set(S, P, fl('shared', B, 0, null)).then(() => order.push('B'));
    const c = t.set(S, P, fl('shared', C, 0, null)).then(() => order.push('C'));
    const d = t.set(S, P, fl('exclusive', { ownerId: '1004', clientId: '9', pid: 1 }, 0, null)).then(() => order.push('D'));
    t.unlock(S, P, A, 0n, null);
    await Promise.all([b, c]);
    await settle();
    expect(order).toEqual(['B', 'C']);
    t.unlock(S, P, B, 0n, null);
    t.unlock(S, P, C, 0n, null);
    await d;
    expect(order).toEqual(['B', 'C', 'D']);
  });

  it('an aborted wait is removed and takes nothing', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', B, 0, null));
    const ac = new AbortController();
    const p = t.set(S, P, fl('exclusive', A, 0, null), { signal: ac.signal });
    await settle();
    ac.abort();
    await expect(p).rejects.toMatchObject({ reason: 'aborted' });
    expect(t.waiting(S, P)).toBe(0);
    t.unlock(S, P, B, 0n, null);
    expect(held(t)).toEqual([]);
    // An already-aborted signal fails at once.
    await expect(t.set(S, P, fl('shared', A, 0, 1), { signal: ac.signal })).rejects.toBeInstanceOf(LockWaitError);
    expect(held(t)).toEqual([]);
  });

  it('times out, reporting the blocker, and takes nothing', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('exclusive', B, 0, null));
    const err = await t.set(S, P, fl('shared', A, 0, 1), { timeoutMs: 20 }).catch((e) => e);
    expect(err).toBeInstanceOf(LockWaitError);
    expect(err.reason).toBe('timeout');
    expect(err.blocker.owner).toEqual(B);
    expect(t.waiting(S, P)).toBe(0);
    expect(held(t)).toEqual([['exclusive', '1002', 0, null]]);
  });

  it('detects a two-owner deadlock across files (EDEADLK) without disturbing the first waiter', async () => {
    const t = new PosixLockTable();
    t.trySet(S, '/x', fl('exclusive', A, 0, null));
    t.trySet(S, '/y', fl('exclusive', B, 0, null));
    const aWaits = t.set(S, '/y', fl('exclusive', A, 0, null));
    await settle();
    const err = await t.set(S, '/x', fl('exclusive', B, 0, null)).catch((e) => e);
    expect(err).toMatchObject({ reason: 'deadlock' });
    expect(t.waiting(S, '/y')).toBe(1);
    t.unlock(S, '/y', B, 0n, null);
    await aWaits;
    expect(held(t, '/y')).toEqual([['exclusive', '1001', 0, null]]);
  });

  it('detects the classic upgrade deadlock of two shared holders (fcntl)', async () => {
    const t = new PosixLockTable();
    t.trySet(S, P, fl('shared', A, 0, null));
    t.trySet(S, P, fl('shared', B, 0, null));
    const ac = new AbortController();
    const a = t.set(S, P, fl('exclusive', A, 0, null), { signal: ac.signal });
    await settle();
    await expect(t.set(S, P, fl('exclusive', B, 0, null))).rejects.toMatchObject({ reason: 'deadlock' });
    ac.abort();
    await expect(a).rejects.toMatchObject({ reason: 'aborted' });
    // Both still hold their shared locks (fcntl waits keep the old lock).
    expect(held(t)).toEqual([
      ['shared', '1001', 0, null],
      ['shared', '1002', 0, null],
    ]);
  });

  it('releaseClient drops every lock of a client and cancels its waits, waking others', async () => {
    const t = new PosixLockTable();
    t.trySet(S, '/x', fl('exclusive', B, 0, null));
    t.trySet(S, '/y', fk('exclusive', B));
    t.trySet(S, '/y', fl('shared', C, 0, 5));
    t.trySet(S, '/z', fl('exclusive', A, 0, null));
    const cWait = t.set(S, '/z', fl('shared', C, 0, null));
    const aWait = t.set(S, '/x', fl('exclusive', A, 0, null));
    const r = t.releaseClient(S, '8');
    expect(r).toEqual({ releasedLocks: 3, cancelledWaits: 1 });
    await expect(cWait).rejects.toMatchObject({ reason: 'cancelled' });
    await aWait;
    expect(held(t, '/x')).toEqual([['exclusive', '1001', 0, null]]);
    expect(held(t, '/y')).toEqual([]);
    expect(t.releaseClient(S, '7', '9999')).toEqual({ releasedLocks: 0, cancelledWaits: 0 });
    expect(t.releaseClient(S, '7', '1001')).toEqual({ releasedLocks: 2, cancelledWaits: 0 });
  });
});
