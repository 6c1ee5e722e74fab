// CLI in-process: collaboration locks, the session cache (kv), the bus (publish, tail until
// interrupted) and the event log, plus the annotate stale-hash guard.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpGatewayClient, type GatewayClient } from '../../../src/client/index.js';
import { startCliHarness, type CliHarness } from './harness.js';

let h: CliHarness;
let sid: string;
beforeAll(async () => {
  h = await startCliHarness();
  sid = await h.newSession();
  await h.writeFiles(sid, { '/src/main.ts': 'x\n', '/src/util.ts': 'y\n' });
});
afterAll(async () => {
  await h?.close();
});

describe('locks', () => {
  it('lock, locks, unlock (looked up by path)', async () => {
    const l = await h.run(['lock', '/src/main.ts', '--ttl', '5m', '--session', sid, '--json']);
    expect(l.code).toBe(0);
    const lockId = l.json().lockId as string;
    expect(lockId).toMatch(/^lock_/);

    // Another principal of the same tenant conflicts with the holder.
    const bob = h.gw.gw.core.auth.createToken('default', 'bob');
    const conflict = await h.run(['lock', '/src/main.ts', '--session', sid], { env: { AETHER_TOKEN: bob } });
    expect(conflict.code).toBe(4);
    expect(conflict.err).not.toContain(bob);

    const list = await h.run(['locks', '/src', '--session', sid, '--json']);
    expect(list.json().locks).toEqual([expect.objectContaining({ path: '/src/main.ts', lockId })]);
    const table = await h.run(['locks', '--session', sid]);
    expect(table.out).toMatch(/^PATH\s+LOCK ID\s+OWNER\s+TTL/);

    const u = await h.run(['unlock', '/src/main.ts', '--session', sid, '--json']);
    expect(u.code).toBe(0);
    expect(u.json()).toMatchObject({ path: '/src/main.ts', lockId, unlocked: true });
    expect((await h.run(['locks', '--session', sid, '--json'])).json().locks).toEqual([]);
  });

  it('unlock without a lock exits 3; lock --force needs --reason (exit 2)', async () => {
    expect((await h.run(['unlock', '/src/util.ts', '--session', sid])).code).toBe(3);
    expect((await h.run(['lock', '--force', '/src/util.ts', '--session', sid])).code).toBe(2);
    expect((await h.run(['lock', '/src/util.ts', '--ttl', 'soon', '--session', sid])).code).toBe(2);
  });

  it('lock --force breaks the holder and takes the lock', async () => {
    const first = await h.run(['lock', '/src/util.ts', '--session', sid, '--json']);
    const old = first.json().lockId as string;
    const f = await h.run(['lock', '--force', '/src/util.ts', '--reason', 'client crashed', '--session', sid, '--json']);
    expect(f.code).toBe(0);
    expect(f.json().brokenLock).toMatchObject({ lockId: old });
    expect(f.json().lockId).not.toBe(old);
    const u = await h.run(['unlock', '/src/util.ts', '--lock-id', f.json().lockId, '--session', sid]);
    expect(u.code).toBe(0);
  });
});

describe('kv', () => {
  it('set VALUE / get / rm, with TTL', async () => {
    const s = await h.run(['kv', 'set', 'analysis.summary', '{"status":"ready"}', '--ttl', '1h', '--session', sid, '--json']);
    expect(s.code).toBe(0);
    expect(s.json()).toEqual({ key: 'analysis.summary', bytes: 18, ttlSeconds: 3600 });
    const g = await h.run(['kv', 'get', 'analysis.summary', '--session', sid]);
    expect(g.code).toBe(0);
    expect(g.out).toBe('{"status":"ready"}');
    const gj = await h.run(['kv', 'get', 'analysis.summary', '--session', sid, '--json']);
    expect(gj.json()).toEqual({ key: 'analysis.summary', found: true, value: Buffer.from('{"status":"ready"}').toString('base64'), text: '{"status":"ready"}' });
    const rm = await h.run(['kv', 'rm', 'analysis.summary', '--session', sid]);
    expect(rm.code).toBe(0);
    const miss = await h.run(['kv', 'get', 'analysis.summary', '--session', sid]);
    expect(miss.code).toBe(3);
    expect(miss.err).toMatch(/^aether: no cache entry/);
  });

  it('set reads stdin (binary safe) when VALUE is omitted', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 10]);
    const s = await h.run(['kv', 'set', 'bin', '--session', sid], { stdin: bytes });
    expect(s.code).toBe(0);
    const g = await h.run(['kv', 'get', 'bin', '--session', sid, '--json']);
    expect(Buffer.from(g.json().value, 'base64')).toEqual(bytes);
    expect(g.json().text).toBeUndefined();
  });

  it('kv on an unknown session exits 3', async () => {
    expect((await h.run(['kv', 'get', 'k', '--session', 'sess_missing'])).code).toBe(3);
  });
});

describe('bus', () => {
  it('publish validates JSON (exit 2) and tail streams NDJSON until interrupted', async () => {
    expect((await h.run(['bus', 'publish', 'review:status', '{not json', '--session', sid])).code).toBe(2);
    const p1 = await h.run(['bus', 'publish', 'review:status', '{"status":"ready-for-approval"}', '--session', sid, '--json']);
    expect(p1.code).toBe(0);
    expect(p1.json()).toMatchObject({ topic: 'review:status' });

    const tail = h.start(['bus', 'tail', '--topic', 'review:status', '--topic', 'tests:complete', '--replay', '5', '--json', '--session', sid]);
    await tail.io.waitForOutput('ready-for-approval');
    expect(tail.io.claimed).toBe(true);
    const p2 = await h.run(['bus', 'publish', 'tests:complete', '--session', sid], { stdin: '{"passed":128,"failed":0}' });
    expect(p2.code).toBe(0);
    await h.run(['bus', 'publish', 'other:topic', '{"x":1}', '--session', sid]);
    await tail.io.waitForOutput('passed');
    tail.io.interrupt();
    expect(await tail.done).toBe(0);
    const lines = tail.io.jsonLines();
    expect(lines.map((l) => l.topic)).toEqual(['review:status', 'tests:complete']);
    expect(lines[1]).toMatchObject({ text: '{"passed":128,"failed":0}', sessionId: sid });
    expect(lines[1].messageId).toMatch(/^msg_/);
  });

  it('tail --max stops after N messages (human lines)', async () => {
    const r = await h.run(['bus', 'tail', '--replay', '1', '--max', '1', '--session', sid]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('Ctrl-C to stop');
  });
});

describe('events', () => {
  it('lists the audit log with time and type filters', async () => {
    const all = await h.run(['events', '--session', sid, '--json']);
    expect(all.code).toBe(0);
    const types = all.json().events.map((e: { eventType: string }) => e.eventType);
    expect(types).toContain('v1.FileSystemService.Batch');
    const batches = await h.run(['events', '--type', 'Batch', '--since', '1h', '--until', 'now', '--session', sid, '--json']);
    expect(batches.json().events.every((e: { eventType: string }) => e.eventType === 'v1.FileSystemService.Batch')).toBe(true);
    expect(batches.json().events.length).toBeGreaterThan(0);
    const future = await h.run(['events', '--since', '2999-01-01', '--session', sid, '--json']);
    expect(future.json().events).toEqual([]);
    const table = await h.run(['events', '--session', sid]);
    expect(table.out).toMatch(/^TIME\s+TYPE\s+DETAILS/);
  });

  it('bad time or type exits 2', async () => {
    expect((await h.run(['events', '--since', 'yesterday-ish', '--session', sid])).code).toBe(2);
    expect((await h.run(['events', '--type', 'Nope', '--session', sid])).code).toBe(2);
  });
});

describe('annotate guard', () => {
  it('refuses (exit 4) when the file changes between reading its hash and annotating', async () => {
    const id = await h.newSession();
    await h.writeFiles(id, { '/a.ts': 'v1\n' });
    // A client whose manifest read is followed by a concurrent edit, as if another actor wrote.
    const clientFactory = (t: { url: string; token?: string }): GatewayClient => {
      const real = new HttpGatewayClient({ baseUrl: t.url, token: t.token });
      return new Proxy(real, {
        get(target, prop, recv) {
          if (prop === 'getManifest') {
            return async (...args: Parameters<GatewayClient['getManifest']>) => {
              const page = await target.getManifest(...args);
              await h.writeFiles(id, { '/a.ts': 'v2\n' });
              return page;
            };
          }
          const v = Reflect.get(target, prop, recv);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    };
    const r = await h.run(['annotate', '/a.ts:1', '-m', 'stale', '--session', id], { deps: { clientFactory } });
    expect(r.code).toBe(4);
    expect((await h.run(['annotations', '--session', id, '--json'])).json().annotations).toEqual([]);
  });
});
