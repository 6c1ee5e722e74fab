// CLI in-process: health, health report, analytics, usage, secrets (values never echoed), cache.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliHarness, type CliHarness } from './harness.js';

let h: CliHarness;
let sid: string;
beforeAll(async () => {
  h = await startCliHarness();
  sid = await h.newSession();
});
afterAll(async () => {
  await h?.close();
});

describe('health', () => {
  it('health before any report, then report FILE.xml, then health', async () => {
    const before = await h.run(['health', '--session', sid, '--json']);
    expect(before.code).toBe(0);
    expect(before.json().health.status).toBeDefined();

    const file = path.join(h.home, 'junit.xml');
    await fs.writeFile(file, '<testsuite tests="3" failures="1" skipped="0"><testcase name="a"/><testcase name="b"/><testcase name="c"><failure/></testcase></testsuite>');
    const r = await h.run(['health', 'report', file, '--session', sid, '--json']);
    expect(r.code).toBe(0);
    expect(r.json().newHealthStatus).toMatchObject({ status: 'STATUS_FAILING', testsPassed: 2, testsFailed: 1 });

    const human = await h.run(['health', '--session', sid]);
    expect(human.out).toMatch(/^status:\s+FAILING/m);
    expect(human.out).toMatch(/^testsPassed:\s+2/m);
  });

  it('report of a missing file exits 3; malformed XML exits 2', async () => {
    expect((await h.run(['health', 'report', path.join(h.home, 'missing.xml'), '--session', sid])).code).toBe(3);
    const bad = path.join(h.home, 'bad.xml');
    await fs.writeFile(bad, 'this is not xml');
    expect((await h.run(['health', 'report', bad, '--session', sid])).code).toBe(2);
  });

  it('health of an unknown session exits 3', async () => {
    expect((await h.run(['health', '--session', 'sess_missing'])).code).toBe(3);
  });
});

describe('analytics and usage', () => {
  it('analytics counts mutations and checkpoints', async () => {
    const id = await h.newSession();
    await h.writeFiles(id, { '/x': '1' });
    await h.run(['checkpoint', 'one', '--session', id]);
    const a = await h.run(['analytics', '--session', id, '--json']);
    expect(a.code).toBe(0);
    expect(a.json()).toMatchObject({ sessionId: id, checkpointCount: '1' });
    const human = await h.run(['analytics', '--session', id]);
    expect(human.out).toMatch(/^checkpointCount:\s+1/m);
    expect((await h.run(['analytics', '--session', 'sess_missing'])).code).toBe(3);
  });

  it('usage with a window and granularity; bad granularity exits 2', async () => {
    const u = await h.run(['usage', '--from', '2026-01-01', '--to', 'now', '--granularity', 'day', '--json']);
    expect(u.code).toBe(0);
    expect(u.json().tenantId).toBeTruthy();
    expect(u.json().granularity).toBe('day');
    const human = await h.run(['usage']);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/^sessionHours:/m);
    expect((await h.run(['usage', '--granularity', 'fortnight'])).code).toBe(2);
  });
});

describe('secrets', () => {
  const value = 'npm_supersecretvalue_123';

  it('set from stdin, list (names only), get (value only), rm', async () => {
    const s = await h.run(['secret', 'set', 'NPM_TOKEN', '--session', sid], { stdin: value + '\n' });
    expect(s.code).toBe(0);
    expect(s.out + s.err).not.toContain(value);

    const l = await h.run(['secret', 'list', '--session', sid, '--json']);
    expect(l.json().secrets).toEqual([{ secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' }]);
    expect(l.out).not.toContain(value);

    const g = await h.run(['secret', 'get', 'NPM_TOKEN', '--session', sid]);
    expect(g.code).toBe(0);
    expect(g.out).toBe(value); // no trailing newline off a TTY
    expect(g.err).toBe('');

    const rm = await h.run(['secret', 'rm', 'NPM_TOKEN', '--session', sid, '--json']);
    expect(rm.code).toBe(0);
    expect(rm.json().secretName).toBe('NPM_TOKEN');
    expect((await h.run(['secret', 'get', 'NPM_TOKEN', '--session', sid])).code).toBe(3);
  });

  it('set with an empty value exits 2; bad scope exits 2; secret value is not an argument', async () => {
    expect((await h.run(['secret', 'set', 'EMPTY', '--session', sid], { stdin: '' })).code).toBe(2);
    expect((await h.run(['secret', 'list', '--scope', 'galaxy', '--session', sid])).code).toBe(2);
    expect((await h.run(['secret', 'set', 'X', 'inline-value', '--session', sid])).code).toBe(2);
  });
});

describe('cache', () => {
  it('stats, verify, gc, clear on an empty cache', async () => {
    const s = await h.run(['cache', 'stats', '--json']);
    expect(s.code).toBe(0);
    expect(s.json()).toMatchObject({ entries: 0, bytes: 0, maxBytes: 10 * 1024 ** 3 });
    expect(s.json().dir).toBe(path.join(h.home, 'cache', 'cas'));
    expect((await h.run(['cache', 'verify', '--json'])).json()).toEqual({ checked: 0, corrupt: [] });
    expect((await h.run(['cache', 'gc', '--target', '1M', '--json'])).json()).toEqual({ evicted: 0, freedBytes: 0 });
    expect((await h.run(['cache', 'clear'])).code).toBe(0);
    expect((await h.run(['cache', 'gc', '--target', 'lots'])).code).toBe(2);
  });
});
