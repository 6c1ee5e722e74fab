// Group commit through the fsync seam (issue 9): a mutating request is acknowledged only after an
// fsync of the WAL that started after its commit, concurrent requests share one, and a failed
// fsync is never acknowledged as success. The seam (GatewayOptions.walSync) gates or fails the
// real fdatasync; everything else (HTTP, SQLite, the WAL file) is real.
import { afterEach, describe, expect, it } from 'vitest';
import { fdatasync } from '../../../src/gateway/db/database.js';
import { newSession, startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Gate {
  started: number;
  release: () => void;
  fail: (err: Error) => void;
}

/** A walSync that holds every fsync until the test releases (or fails) it. */
function gatedSync() {
  const gates: Gate[] = [];
  const waiters: Array<() => void> = [];
  let passThrough = false;
  const sync = (fd: number) =>
    passThrough
      ? fdatasync(fd)
      : new Promise<void>((resolve, reject) => {
          gates.push({ started: Date.now(), release: () => fdatasync(fd).then(resolve, reject), fail: reject });
          waiters.splice(0).forEach((w) => w());
        });
  /** The n-th fsync (0-based), once it has started (bounded wait). */
  const nth = async (n: number): Promise<Gate> => {
    const deadline = Date.now() + 10_000;
    while (gates.length <= n) {
      if (Date.now() > deadline) throw new Error(`fsync #${n} never started (${gates.length} so far)`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return gates[n]!;
  };
  return { sync, nth, count: () => gates.length, open: () => void (passThrough = true) };
}

/** Track a request's settlement without awaiting it. */
function track<T>(p: Promise<T>) {
  const t = { done: false, value: undefined as T | undefined };
  const wait = p.then((v) => {
    t.done = true;
    t.value = v;
    return v;
  });
  return Object.assign(t, { wait });
}

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

describe('group commit acknowledges only after the fsync of its group', () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('holds the response while the fsync is held; a request that commits during an fsync waits for the next one', async () => {
    const g2 = gatedSync();
    t = await startTestGateway({ walSync: g2.sync, gcIntervalMs: 0 });
    // Session creation is itself a mutation: let its fsync through.
    const created = track(newSession(t.call));
    (await g2.nth(0)).release();
    const s2 = await created.wait;
    const write = (p: string) => track(t!.call('POST', `/v1/sessions/${s2}/batch`, { operations: [{ write: { path: p, content: b64(p) } }] }));

    const a = write('/a');
    const first = await g2.nth(1); // a committed, its fsync is in flight (held)
    await settle();
    expect(a.done, 'acknowledged before its fsync completed').toBe(false);
    // b and c commit while a's fsync is held: that fsync started before their commits.
    const b = write('/b');
    const c = write('/c');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const m = await t.call('GET', `/v1/sessions/${s2}/manifest`);
      if (m.body.nodes.length === 3) break; // a, b, c all committed (visible to readers: WAL, not yet durable)
      await settle(20);
    }
    expect(g2.count(), 'b and c queue behind the fsync in flight').toBe(2);
    first.release();
    expect((await a.wait).status).toBe(200);
    const second = await g2.nth(2);
    await settle();
    expect(b.done || c.done, 'acknowledged by an fsync that started before their commit').toBe(false);
    second.release();
    expect((await b.wait).status).toBe(200);
    expect((await c.wait).status).toBe(200);
    // b and c shared one fsync.
    expect(g2.count()).toBe(3);
    expect(t.gw.core.durability.syncs).toBe(3);
  });

  it('a failed fsync answers UNAVAILABLE, never success; the gateway keeps serving', async () => {
    const g = gatedSync();
    t = await startTestGateway({ walSync: g.sync, gcIntervalMs: 0 });
    const created = track(newSession(t.call));
    (await g.nth(0)).release();
    const sid = await created.wait;
    const a = track(t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/a', content: b64('a') } }] }));
    (await g.nth(1)).fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const r = await a.wait;
    expect(r.status).toBe(503);
    expect(r.body.code).toBe(14);
    expect(r.body.message).toMatch(/durable/);
    // The next request gets a fresh fsync and succeeds.
    g.open();
    const ok = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/b', content: b64('b') } }] });
    expect(ok.status).toBe(200);
  });
});
