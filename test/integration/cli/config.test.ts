// CLI in-process: gateway selection (flags → env → profile), login/logout/profile (tokens stored
// 0600, never printed), and the error classes every command shares: bad args 2, bad token 5,
// unreachable 6; --help with examples on every command.
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/main.js';
import { captureIO } from '../../helpers/capture-io.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { runMain } from './harness.js';

let gw: TestGateway;
let deadUrl: string;

/** A URL nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  gw = await startTestGateway();
  deadUrl = await closedPortUrl();
});
afterAll(async () => {
  await gw?.close();
});

async function withHome<T>(fn: (home: string, env: Record<string, string>) => Promise<T>): Promise<T> {
  const t = await makeTempDir('aether-cli-cfg-');
  try {
    return await fn(t.dir, { AETHER_HOME: t.dir });
  } finally {
    await t.cleanup();
  }
}

describe('login, logout, profiles', () => {
  it('login validates, stores url+token with mode 0600, and never prints the token', async () => {
    await withHome(async (home, env) => {
      const r = await runMain(['login', '--url', gw.url, '--token', gw.token, '--json'], { env });
      expect(r.code).toBe(0);
      expect(r.json()).toMatchObject({ profile: 'default', url: gw.url, active: true, verified: true });
      expect(r.out + r.err).not.toContain(gw.token);
      const file = path.join(home, 'config', 'config.json');
      const st = await fs.stat(file);
      expect(st.mode & 0o777).toBe(0o600);
      const saved = JSON.parse(await fs.readFile(file, 'utf8'));
      expect(saved.profiles.default).toEqual({ url: gw.url, token: gw.token });

      // The profile now selects the gateway.
      const s = await runMain(['session', 'create', '--json'], { env });
      expect(s.code).toBe(0);

      const list = await runMain(['profile', 'list', '--json'], { env });
      expect(list.json()).toEqual({ active: 'default', profiles: [{ name: 'default', active: true, url: gw.url, token: `****${gw.token.slice(-4)}` }] });
      const table = await runMain(['profile', 'list'], { env });
      expect(table.out).not.toContain(gw.token);
      expect(table.out).toMatch(/^\s+NAME\s+URL\s+TOKEN/);
      const show = await runMain(['profile', 'show', '--json'], { env });
      expect(show.json()).toMatchObject({ profile: 'default', url: gw.url, gateway: 'remote', origin: { url: 'profile', token: 'profile' } });
      expect(show.out).not.toContain(gw.token);

      // Re-login keeps 0600 even if someone loosened it.
      await fs.chmod(file, 0o644);
      expect((await runMain(['login', '--url', gw.url, '--token', gw.token], { env })).code).toBe(0);
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    });
  });

  it('login with a bad token exits 5 and saves nothing', async () => {
    await withHome(async (home, env) => {
      const r = await runMain(['login', '--url', gw.url, '--token', 'aet_bogus_token_value'], { env });
      expect(r.code).toBe(5);
      expect(r.err).not.toContain('aet_bogus_token_value');
      await expect(fs.stat(path.join(home, 'config', 'config.json'))).rejects.toThrow();
    });
  });

  it('login to an unreachable URL exits 6; a malformed URL exits 2', async () => {
    await withHome(async (_home, env) => {
      const r = await runMain(['login', '--url', deadUrl, '--token', 'x'], { env });
      expect(r.code).toBe(6);
      expect(r.err).toMatch(/^hint: /m);
      expect((await runMain(['login', '--url', 'ftp://example.com', '--token', 'x'], { env })).code).toBe(2);
      expect((await runMain(['login', '--token', 'x'], { env })).code).toBe(2);
    });
  });

  it('login reads the token from stdin; second profile is not activated until `profile use`', async () => {
    await withHome(async (_home, env) => {
      expect((await runMain(['login', '--url', gw.url, '--token', gw.token], { env })).code).toBe(0);
      const r = await runMain(['login', '--url', gw.url, '--profile', 'work'], { env, stdin: gw.token + '\n' });
      expect(r.code).toBe(0);
      expect(r.err).toContain('profile use work');
      let list = (await runMain(['profile', 'list', '--json'], { env })).json();
      expect(list.active).toBe('default');
      expect((await runMain(['profile', 'use', 'work'], { env })).code).toBe(0);
      list = (await runMain(['profile', 'list', '--json'], { env })).json();
      expect(list.active).toBe('work');
      expect((await runMain(['profile', 'use', 'nope'], { env })).code).toBe(3);
      // --profile on any command selects it; an unknown one is "not found".
      expect((await runMain(['session', 'list', '--profile', 'default'], { env })).code).toBe(0);
      expect((await runMain(['session', 'list', '--profile', 'ghost'], { env })).code).toBe(3);
    });
  });

  it('logout removes the token (then commands fail with exit 5); --forget removes the profile', async () => {
    await withHome(async (home, env) => {
      await runMain(['login', '--url', gw.url, '--token', gw.token], { env });
      const out = await runMain(['logout', '--json'], { env });
      expect(out.json()).toEqual({ profile: 'default', loggedOut: true, removed: false });
      const saved = JSON.parse(await fs.readFile(path.join(home, 'config', 'config.json'), 'utf8'));
      expect(saved.profiles.default.token).toBeUndefined();
      const r = await runMain(['session', 'list'], { env });
      expect(r.code).toBe(5);
      expect(r.err).toContain('no token for gateway');
      expect((await runMain(['logout', '--forget'], { env })).code).toBe(0);
      expect((await runMain(['profile', 'list', '--json'], { env })).json().profiles).toEqual([]);
      expect((await runMain(['logout', '--profile', 'ghost'], { env })).code).toBe(3);
    });
  });
});

describe('gateway selection and error classes', () => {
  it('--url/--token flags beat AETHER_URL/AETHER_TOKEN (also after the command name)', async () => {
    await withHome(async (_home, env) => {
      const r = await runMain(['session', 'list', '--url', gw.url, '--token', gw.token, '--json'], { env: { ...env, AETHER_URL: deadUrl, AETHER_TOKEN: 'wrong' } });
      expect(r.code).toBe(0);
      const before = await runMain(['--url', gw.url, '--token', gw.token, 'session', 'list', '--json'], { env });
      expect(before.code).toBe(0);
    });
  });

  it('AETHER_URL beats the profile, and never receives the profile token', async () => {
    await withHome(async (_home, env) => {
      await runMain(['login', '--url', gw.url, '--token', gw.token], { env });
      const dead = await runMain(['session', 'list'], { env: { ...env, AETHER_URL: deadUrl } });
      expect(dead.code).toBe(5); // no token for that URL: the profile token stays with the profile URL
      const withTok = await runMain(['session', 'list'], { env: { ...env, AETHER_URL: deadUrl, AETHER_TOKEN: gw.token } });
      expect(withTok.code).toBe(6);
    });
  });

  it('bad token → exit 5; unreachable → exit 6; neither prints the token', async () => {
    await withHome(async (_home, env) => {
      const bad = await runMain(['session', 'list'], { env: { ...env, AETHER_URL: gw.url, AETHER_TOKEN: 'aet_definitely_not_valid' } });
      expect(bad.code).toBe(5);
      expect(bad.err).toMatch(/^aether: /);
      expect(bad.err).toMatch(/^hint: /m);
      expect(bad.err).not.toContain('aet_definitely_not_valid');
      const down = await runMain(['session', 'show', 'sess_x'], { env: { ...env, AETHER_URL: deadUrl, AETHER_TOKEN: gw.token } });
      expect(down.code).toBe(6);
      expect(down.err).not.toContain(gw.token);
      expect(down.err.trim().split('\n')).toHaveLength(2); // one line + hint, no stack
    });
  });

  it('AETHER_LOG=debug adds the stack trace', async () => {
    await withHome(async (_home, env) => {
      const r = await runMain(['session', 'show', 'sess_x'], { env: { ...env, AETHER_URL: deadUrl, AETHER_TOKEN: gw.token, AETHER_LOG: 'debug' } });
      expect(r.code).toBe(6);
      expect(r.err).toMatch(/\n\s+at /);
      expect(r.err).not.toContain(gw.token);
    });
  });

  it('usage errors exit 2: unknown command, unknown option, missing argument, bare group', async () => {
    await withHome(async (_home, env) => {
      const unknown = await runMain(['sesion', 'list'], { env });
      expect(unknown.code).toBe(2);
      expect(unknown.err).toMatch(/^aether: unknown command 'sesion'/);
      const opt = await runMain(['session', 'list', '--bogus'], { env });
      expect(opt.code).toBe(2);
      expect(opt.err).toContain("hint: see `aether session list --help`");
      expect((await runMain(['source', 'show'], { env })).code).toBe(2);
      const bare = await runMain(['session'], { env });
      expect(bare.code).toBe(2);
      expect(bare.err).toContain('Usage: aether session');
      expect((await runMain([], { env })).code).toBe(2);
    });
  });

  it('--version prints the package version', async () => {
    const r = await runMain(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('help', () => {
  it('every command has --help with examples', async () => {
    const io = captureIO();
    const program = buildProgram(io, async () => undefined);
    const paths: string[][] = [];
    const walk = (c: Command, p: string[]) => {
      for (const sub of c.commands) {
        if (sub.name() === 'help') continue;
        paths.push([...p, sub.name()]);
        walk(sub, [...p, sub.name()]);
      }
    };
    walk(program, []);
    expect(paths.length).toBeGreaterThan(50);
    for (const p of paths) {
      const r = await runMain([...p, '--help']);
      expect(r.code, p.join(' ')).toBe(0);
      expect(r.out, p.join(' ')).toContain(`Usage: aether ${p.join(' ')}`);
      expect(r.out, p.join(' ')).toContain('Examples:');
    }
    const root = await runMain(['--help']);
    expect(root.out).toContain('Exit codes:');
  });
});
