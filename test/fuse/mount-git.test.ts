// A realistic tree: a git repository with thousands of files cloned into the mount, then git
// status / commit inside it, checked through the gateway and after a remount.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@e.x', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@e.x' };
const git = (cwd: string, args: string) => execSync(`git ${args}`, { cwd, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A repository with `n` files spread over nested directories, plus a symlink and an executable. */
export function makeRepo(dir: string, n: number): void {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init -q -b main');
  for (let i = 0; i < n; i++) {
    const d = path.join(dir, `pkg${i % 20}`, `mod${i % 7}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `file${i}.ts`), `export const v${i} = ${i};\n// ${'x'.repeat(i % 200)}\n`);
  }
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  fs.symlinkSync('run.sh', path.join(dir, 'run-link'));
  git(dir, 'add -A');
  git(dir, 'commit -q -m initial');
}

describe.skipIf(!hasFuse)('real mount: a git repository with thousands of files', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let origin: string;
  beforeAll(async () => {
    env = await createMountEnv();
    origin = path.join(env.root, 'origin');
    makeRepo(origin, 3000);
    sid = await env.createSession();
    m = await env.mount(sid);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('git clone, git status, edit, git commit inside the mount', { timeout: 300_000 }, async () => {
    const repo = path.join(m.mountpoint, 'repo');
    git(m.mountpoint, `clone -q ${origin} repo`);
    expect(git(repo, 'status --porcelain')).toBe('');
    expect(fs.readFileSync(path.join(repo, 'pkg3/mod3/file3.ts'), 'utf8')).toContain('export const v3 = 3;');
    execSync(`sed -i 's/v42 = 42/v42 = 4242/' pkg2/mod0/file42.ts`, { cwd: repo });
    expect(git(repo, 'status --porcelain').trim()).toBe('M pkg2/mod0/file42.ts');
    git(repo, 'commit -q -am "change 42"');
    expect(git(repo, 'status --porcelain')).toBe('');
    expect(git(repo, 'log --oneline').trim().split('\n')).toHaveLength(2);
    expect(git(repo, 'fsck --strict 2>&1 || true')).not.toMatch(/error|missing|corrupt/i);
  });

  it('the gateway has the working tree and the .git directory', async () => {
    const n = await env.node(sid, '/repo/pkg2/mod0/file42.ts');
    expect(n).toBeDefined();
    expect((await env.bytes(sid, '/repo/pkg2/mod0/file42.ts')).toString()).toContain('v42 = 4242');
    expect((await env.node(sid, '/repo/run.sh')).mode & 0o777).toBe(0o755);
    expect((await env.node(sid, '/repo/run-link')).fileType).toBe('VFS_FILE_TYPE_SYMLINK');
    expect(await env.node(sid, '/repo/.git/HEAD')).toBeDefined();
  });

  it('after a remount the repository is clean and complete', { timeout: 300_000 }, async () => {
    await m.stop();
    const served0 = (await env.metrics()).bytesServed;
    m = await env.mount(sid);
    const repo = path.join(m.mountpoint, 'repo');
    expect(git(repo, 'status --porcelain')).toBe('');
    expect(git(repo, 'log -1 --format=%s').trim()).toBe('change 42');
    expect(git(repo, 'fsck --strict 2>&1 || true')).not.toMatch(/error|missing|corrupt/i);
    expect((await env.metrics()).bytesServed).toBe(served0);
    execSync(`rm -rf ${repo}`);
    expect(fs.existsSync(repo)).toBe(false);
    expect(await env.node(sid, '/repo')).toBeUndefined();
  });
});
