// CLI in-process: `gateway serve` (one JSON line, clean stop on interrupt), `gateway token create`,
// `gateway status` for a remote gateway, `doctor`, and `completion bash|zsh|fish`.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { captureIO } from '../../helpers/capture-io.js';
import { main } from '../../../src/cli/main.js';
import { runMain } from './harness.js';

const execFileP = promisify(execFile);
let tmp: { dir: string; cleanup: () => Promise<void> };
let gw: TestGateway;
beforeAll(async () => {
  tmp = await makeTempDir('aether-cli-gw-');
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
  await tmp?.cleanup();
});

describe('gateway serve / token create', () => {
  it('serve --json prints exactly one {url, token} line, serves, and stops cleanly on interrupt', async () => {
    const data = path.join(tmp.dir, 'serve-data');
    const io = captureIO({ env: { AETHER_HOME: tmp.dir, AETHER_LOG: 'warn' } });
    const done = main(['gateway', 'serve', '--data', data, '--port', '0', '--json'], io);
    await io.waitForOutput('\n');
    const lines = io.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    const { url, token } = JSON.parse(lines[0]!);
    expect(Object.keys(JSON.parse(lines[0]!)).sort()).toEqual(['token', 'url']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    expect(io.claimed).toBe(true);
    io.interrupt();
    expect(await done).toBe(0);
    await expect(fetch(`${url}/v1/healthz`)).rejects.toThrow();
    expect((await fs.stat(path.join(data, 'admin-token'))).mode & 0o777).toBe(0o600);
  });

  it('serve rejects a bad port (exit 2)', async () => {
    expect((await runMain(['gateway', 'serve', '--port', '70000', '--data', tmp.dir])).code).toBe(2);
    expect((await runMain(['gateway', 'serve', '--port', 'abc', '--data', tmp.dir])).code).toBe(2);
  });

  it('token create --json mints a working token for another tenant', async () => {
    const r = await runMain(['gateway', 'token', 'create', '--data', gw.dataDir, '--tenant', 'acme', '--json']);
    expect(r.code).toBe(0);
    const { token, tenant } = r.json();
    expect(tenant).toBe('acme');
    const s = await gw.call('POST', '/v1/sessions', {}, token);
    expect(s.status).toBe(200);
    // Tenant isolation through the CLI: the default tenant's session is invisible to acme.
    const mine = await gw.call('POST', '/v1/sessions', {});
    const other = await runMain(['session', 'show', mine.body.id], { env: { AETHER_URL: gw.url, AETHER_TOKEN: token, AETHER_HOME: tmp.dir } });
    expect([3, 5]).toContain(other.code);
    expect((await runMain(['gateway', 'token', 'create', '--data', gw.dataDir, '--tenant', 'bad name!'])).code).toBe(2);
  });

  it('status describes a configured remote gateway without printing the token', async () => {
    const env = { AETHER_URL: gw.url, AETHER_TOKEN: gw.token, AETHER_HOME: tmp.dir };
    const r = await runMain(['gateway', 'status', '--json'], { env });
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ mode: 'remote', origin: 'env', running: true, url: gw.url });
    expect(typeof r.json().sessions).toBe('number');
    expect(r.out).not.toContain(gw.token);
    const human = await runMain(['gateway', 'status'], { env });
    expect(human.out).toMatch(/^running:\s+yes/m);
  });

  it('gc --dry-run --json reports, gc removes what a deleted session held, status shows live vs reclaimable', async () => {
    const env = { AETHER_URL: gw.url, AETHER_TOKEN: gw.token, AETHER_HOME: tmp.dir };
    const s = await gw.call('POST', '/v1/sessions', {});
    const content = Buffer.from('gc me '.repeat(20_000)).toString('base64');
    expect((await gw.call('POST', `/v1/sessions/${s.body.id}/batch`, { operations: [{ write: { path: '/big', content } }] })).status).toBe(200);
    expect((await gw.call('DELETE', `/v1/sessions/${s.body.id}`)).status).toBe(200);
    const st = await runMain(['gateway', 'status', '--json'], { env });
    expect(st.code).toBe(0);
    expect(typeof st.json().liveBytes).toBe('number');
    expect(typeof st.json().reclaimableBytes).toBe('number');
    const dry = await runMain(['gateway', 'gc', '--dry-run', '--json'], { env });
    expect(dry.code).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, removedBlobs: '0' });
    expect(dry.out).not.toContain(gw.token);
    const human = await runMain(['gateway', 'gc'], { env });
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/^removed:/m);
    // Another tenant's token is refused with a one-line error and a non-zero exit.
    const token = await gw.tokenFor('gc-other');
    const denied = await runMain(['gateway', 'gc'], { env: { ...env, AETHER_TOKEN: token } });
    expect(denied.code).toBe(5);
  });

  it('stop without an embedded gateway is a no-op', async () => {
    const r = await runMain(['gateway', 'stop', '--json'], { env: { AETHER_HOME: tmp.dir } });
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({ stopped: false, reason: 'not-running' });
  });
});

describe('doctor', () => {
  it('reports every check; a healthy gateway + token pass', async () => {
    const r = await runMain(['doctor', '--json'], { env: { AETHER_URL: gw.url, AETHER_TOKEN: gw.token, AETHER_HOME: tmp.dir } });
    const report = r.json();
    const names = report.checks.map((c: { name: string }) => c.name);
    expect(names).toEqual(expect.arrayContaining(['gateway', 'token']));
    expect(report.checks.find((c: { name: string }) => c.name === 'gateway').status).toBe('ok');
    expect(report.checks.find((c: { name: string }) => c.name === 'token').status).toBe('ok');
    const fuseFailed = report.checks.some((c: { status: string }) => c.status === 'fail');
    expect(r.code).toBe(fuseFailed ? 1 : 0);
    expect(report.ok).toBe(!fuseFailed);
    for (const c of report.checks) if (c.status === 'fail') expect(c.fix).toBeTruthy();
  });

  it('an unreachable gateway fails with a fix and a non-zero exit; a bad token exits 5', async () => {
    const down = await runMain(['doctor'], { env: { AETHER_URL: 'http://127.0.0.1:1', AETHER_TOKEN: 'x', AETHER_HOME: tmp.dir } });
    expect(down.code).not.toBe(0);
    expect(down.out).toMatch(/^gateway\s+FAIL/m);
    expect(down.out).toContain('To fix:');
    const bad = await runMain(['doctor', '--json'], { env: { AETHER_URL: gw.url, AETHER_TOKEN: 'aet_wrong_token_123', AETHER_HOME: tmp.dir } });
    const tok = bad.json().checks.find((c: { name: string }) => c.name === 'token');
    expect(tok.status).toBe('fail');
    expect(bad.code).not.toBe(0);
    expect(bad.out).not.toContain('aet_wrong_token_123');
  });
});

describe('completion', () => {
  it('bash script is valid and completes nested commands', async () => {
    const r = await runMain(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('complete -o default -F _aether_complete aether');
    const file = path.join(tmp.dir, 'aether.bash');
    await fs.writeFile(file, r.out);
    await execFileP('bash', ['-n', file]);
    // Drive the completion function like bash would.
    const probe = async (line: string) => {
      const script = `source ${file}; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _aether_complete; echo "\${COMPREPLY[@]}"`;
      return (await execFileP('bash', ['-c', script])).stdout.trim().split(/\s+/);
    };
    expect(await probe('aether se ""'.replace(' ""', ''))).toEqual(expect.arrayContaining(['session', 'secret']));
    expect(await probe('aether session ""')).toEqual(expect.arrayContaining(['create', 'show', 'list']));
    expect(await probe('aether session create --t')).toEqual(expect.arrayContaining(['--tag', '--token']));
    expect(await probe('aether gateway token ""')).toEqual(expect.arrayContaining(['create']));
  });

  it('zsh and fish scripts are generated (and parse when the shell exists)', async () => {
    for (const shell of ['zsh', 'fish'] as const) {
      const r = await runMain(['completion', shell]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('session');
      const file = path.join(tmp.dir, `aether.${shell}`);
      await fs.writeFile(file, r.out);
      try {
        await execFileP('which', [shell]);
      } catch {
        continue; // shell not installed here
      }
      await execFileP(shell, ['-n', file]);
    }
    expect((await runMain(['completion', 'powershell'])).code).toBe(2);
  });
});
