// The main error of every session- or source-taking command, table-driven: an unknown id exits 3,
// a bad token exits 5, an unreachable gateway exits 6; each prints one line (+ hint), nothing on
// stdout, and never the token.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliHarness, type CliHarness } from './harness.js';

let h: CliHarness;
let sid: string;
let deadUrl: string;
beforeAll(async () => {
  h = await startCliHarness();
  sid = await h.newSession();
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  deadUrl = `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
  await new Promise<void>((r) => srv.close(() => r()));
});
afterAll(async () => {
  await h?.close();
});

/** Every command that acts on a session, as argv without --session. */
const SESSION_COMMANDS: string[][] = [
  ['session', 'show'],
  ['fork'],
  ['checkpoint', 'x'],
  ['checkpoints'],
  ['restore', '--label', 'x'],
  ['annotate', '/a.ts:1', '-m', 'x'],
  ['annotations'],
  ['annotation', 'resolve', 'ann_x'],
  ['approval', 'request', '--reason', 'R'],
  ['approval', 'grant', 'appr_x'],
  ['approval', 'deny', 'appr_x'],
  ['approval', 'list'],
  ['approval', 'show', 'appr_x'],
  ['commit', '-m', 'x'],
  ['lock', '/a.ts'],
  ['unlock', '/a.ts'],
  ['locks'],
  ['kv', 'get', 'k'],
  ['kv', 'set', 'k', 'v'],
  ['kv', 'rm', 'k'],
  ['bus', 'publish', 't', '{}'],
  ['bus', 'tail', '--max', '1'],
  ['events'],
  ['health'],
  ['analytics'],
  ['secret', 'list'],
  ['secret', 'get', 'S'],
  ['secret', 'rm', 'S'],
];

const SOURCE_COMMANDS: string[][] = [
  ['source', 'show', 'src_missing'],
  ['source', 'import', 'src_missing'],
  ['source', 'refresh', 'src_missing'],
  ['source', 'promote', 'src_missing', '--session', 'SID'],
  ['source', 'job', 'src_missing', 'job_x'],
];

describe('unknown ids exit 3', () => {
  it.each(SESSION_COMMANDS.map((c) => [c.join(' '), c]))('%s --session sess_missing', async (_name, argv) => {
    const r = await h.run([...argv, '--session', 'sess_missing']);
    expect(r.code, r.err).toBe(3);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^aether: /);
  });

  it.each(SOURCE_COMMANDS.map((c) => [c.join(' '), c]))('%s', async (_name, argv) => {
    const r = await h.run(argv.map((a) => (a === 'SID' ? sid : a)));
    expect(r.code, r.err).toBe(3);
  });

  it('unknown ids inside a real session', async () => {
    for (const argv of [
      ['annotation', 'resolve', 'ann_missing'],
      ['approval', 'show', 'appr_missing'],
      ['approval', 'deny', 'appr_missing'],
      ['secret', 'get', 'MISSING'],
      ['restore', 'cp_missing'],
    ]) {
      const r = await h.run([...argv, '--session', sid]);
      expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(3);
    }
  });
});

describe('bad token exits 5, unreachable exits 6', () => {
  const sample = [['session', 'list'], ['session', 'create'], ['checkpoints', '--session', 'SID'], ['kv', 'get', 'k', '--session', 'SID'], ['source', 'list'], ['usage'], ['events', '--session', 'SID']];

  it.each(sample.map((c) => [c.join(' '), c]))('%s', async (_name, argv) => {
    const args = argv.map((a) => (a === 'SID' ? sid : a));
    const bad = await h.run(args, { env: { AETHER_TOKEN: 'aet_not_a_real_token_value' } });
    expect(bad.code, bad.err).toBe(5);
    expect(bad.err).not.toContain('aet_not_a_real_token_value');
    const down = await h.run(args, { env: { AETHER_URL: deadUrl } });
    expect(down.code, down.err).toBe(6);
    expect(down.err).not.toContain(h.gw.token);
    expect(down.err).toMatch(/^hint: /m);
  });
});
