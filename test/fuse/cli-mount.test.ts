// The CLI as a user runs it, as real processes, against the embedded gateway it starts itself:
// session create → mount → edit with shell tools → status/sync → commit inside the mount →
// unmount. Teardown always unmounts and stops the embedded gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { ROOT, detach, hasFuse } from '../helpers/processes.js';

const BIN = path.join(ROOT, 'bin', 'aether.js');

describe.skipIf(!hasFuse)('aether CLI with real mounts and the embedded gateway', () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const mounted: string[] = [];
  const aether = (args: string[], cwd?: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: cwd ?? tmp, env, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const json = (args: string[], cwd?: string) => {
    const r = aether([...args, '--json'], cwd);
    if (r.code !== 0) throw new Error(`aether ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aether-cli-'));
    env = { ...process.env, AETHER_HOME: path.join(tmp, 'home'), NO_COLOR: '1', CI: 'true' };
    delete env.AETHER_URL;
    delete env.AETHER_TOKEN;
  });
  afterAll(() => {
    for (const m of mounted) {
      aether(['unmount', m, '--force']);
      detach(m);
    }
    aether(['gateway', 'stop']);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('mounts a session from a git source, commits from inside the mount, unmounts', () => {
    const repo = path.join(tmp, 'repo');
    fs.mkdirSync(path.join(repo, 'src'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'README.md'), '# demo\n');
    fs.writeFileSync(path.join(repo, 'src', 'main.ts'), 'export const answer = 41;\n');
    const g = (...a: string[]) => execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@e.x', ...a], { cwd: repo, stdio: 'pipe' });
    g('init', '-q', '-b', 'main');
    g('add', '-A');
    g('commit', '-q', '-m', 'init');

    const src = json(['source', 'create', '--name', 'demo', '--git-remote', repo]);
    expect(src.sourceId).toMatch(/^src_/);
    const sess = json(['session', 'create', '--source', src.sourceId, '--tag', 'task=cli-test']);
    expect(sess.status).toBe('SESSION_STATUS_ACTIVE');

    const dir = path.join(tmp, 'work');
    const m = json(['mount', sess.id, dir]);
    mounted.push(dir);
    expect(m.mountpoint).toBe(dir);
    expect(fs.readFileSync(path.join(dir, 'src', 'main.ts'), 'utf8')).toBe('export const answer = 41;\n');

    execFileSync('sed', ['-i', 's/41/42/', path.join(dir, 'src', 'main.ts')]);
    fs.writeFileSync(path.join(dir, 'NEW.md'), 'new file\n');

    const mounts = json(['mounts']);
    expect(mounts.map((x: any) => x.mountpoint)).toContain(dir);
    const st = json(['status'], path.join(dir, 'src'));
    expect(st.sessionId).toBe(sess.id);
    expect(st.pendingUploads).toBe(0);
    expect(json(['sync'], dir).pendingUploads).toBe(0);

    const c = json(['commit', '-m', 'answer is 42', '--branch', 'feature/answer', '--author', 'Alice <alice@example.com>'], path.join(dir, 'src'));
    expect(c.commitId).toMatch(/^[0-9a-f]{40}$/);
    const show = execFileSync('git', ['show', 'feature/answer:src/main.ts'], { cwd: repo }).toString();
    expect(show).toBe('export const answer = 42;\n');
    expect(execFileSync('git', ['log', '-1', '--format=%an <%ae>|%s', 'feature/answer'], { cwd: repo }).toString().trim()).toBe('Alice <alice@example.com>|answer is 42');
    expect(execFileSync('git', ['show', 'feature/answer:NEW.md'], { cwd: repo }).toString()).toBe('new file\n');

    const u = aether(['unmount', dir]);
    expect(u.code).toBe(0);
    mounted.pop();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(json(['mounts'])).toEqual([]);
  });

  it('reports errors in one line with distinct exit codes', () => {
    const missing = aether(['mount', 'sess_does_not_exist', path.join(tmp, 'nope')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim().split('\n')[0]).toMatch(/^aether: .*not found/i);
    const notMounted = aether(['unmount', path.join(tmp, 'nowhere')]);
    expect(notMounted.code).toBe(3);
    const usage = aether(['mount']);
    expect(usage.code).toBe(2);
  });

  it('cleans up a dead mount left by a killed daemon', () => {
    const sess = json(['session', 'create']);
    const dir = path.join(tmp, 'dead');
    const m = json(['mount', sess.id, dir]);
    mounted.push(dir);
    process.kill(m.pid, 'SIGKILL');
    // The mount point is now "transport endpoint is not connected".
    let code: string | undefined;
    for (let i = 0; i < 50 && !code; i++) {
      try {
        fs.statSync(dir);
        spawnSync('sleep', ['0.1']);
      } catch (e) {
        code = (e as NodeJS.ErrnoException).code;
      }
    }
    expect(['ENOTCONN', 'ECONNABORTED']).toContain(code);
    // The next mount of the same directory cleans it up and works.
    const again = json(['mount', sess.id, dir]);
    expect(again.mountpoint).toBe(dir);
    fs.writeFileSync(path.join(dir, 'ok.txt'), 'ok');
    expect(aether(['unmount', dir]).code).toBe(0);
    mounted.pop();
  });
});
