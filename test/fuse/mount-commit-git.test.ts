// Issue 14 end to end through a real mount and the CLI: a source with a submodule gitlink and a
// .gitignore; `npm install`-like node_modules written in the mount are left out of the commit; an
// unchanged session commits nothing (exit 1); the gitlink survives import → mount → commit
// (`git diff` base..commit empty, `git fsck --strict` clean); `aether diff --stat` run inside the
// mount equals `git diff --stat` of the commit that follows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { ROOT, hasFuse, type MountProc } from '../helpers/processes.js';

const BIN = path.join(ROOT, 'bin', 'aether.js');
const GIT_ENV: NodeJS.ProcessEnv = (() => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_') && k !== 'COLUMNS') env[k] = v;
  return { ...env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@e.x', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@e.x' };
})();
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], { cwd, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

describe.skipIf(!hasFuse)('real mount: commit with .gitignore, a submodule and no-op commits', () => {
  let env: MountEnv;
  let m: MountProc;
  let sid: string;
  let bare: string;
  let base: string;
  let subHead: string;
  const aether = (args: string[], cwd: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...GIT_ENV, AETHER_HOME: env.home, AETHER_URL: env.gw.url, AETHER_TOKEN: env.gw.token, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    env = await createMountEnv();
    const sub = path.join(env.root, 'sub');
    fs.mkdirSync(sub);
    git(sub, 'init', '-q');
    fs.writeFileSync(path.join(sub, 'lib.c'), 'int lib;\n');
    git(sub, 'add', '-A');
    git(sub, 'commit', '-q', '-m', 'sub');
    subHead = git(sub, 'rev-parse', 'HEAD').trim();

    const work = path.join(env.root, 'work');
    bare = path.join(env.root, 'remote.git');
    git(env.root, 'init', '-q', '--bare', bare);
    fs.mkdirSync(path.join(work, 'src'), { recursive: true });
    git(work, 'init', '-q');
    fs.writeFileSync(path.join(work, '.gitignore'), 'node_modules/\n*.log\n');
    fs.writeFileSync(path.join(work, 'package.json'), '{"name":"demo","dependencies":{"left-pad":"1"}}\n');
    fs.writeFileSync(path.join(work, 'src', 'index.js'), 'module.exports = 1;\n');
    fs.writeFileSync(path.join(work, '.gitmodules'), `[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = ${sub}\n`);
    git(work, 'add', '-A');
    git(work, 'update-index', '--add', '--cacheinfo', `160000,${subHead},vendor/lib`);
    git(work, 'commit', '-q', '-m', 'initial');
    git(work, 'push', '-q', bare, 'HEAD:refs/heads/main');
    base = git(bare, 'rev-parse', 'main').trim();

    const src = await env.call('POST', '/v1/sources', { displayName: 'demo', gitRemote: { remoteUrl: bare } });
    expect(src.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    sid = (await env.call('POST', '/v1/sessions', { sourceRef: { sourceId: src.sourceId } })).id;
    m = await env.mount(sid);
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });

  it('shows the submodule as an empty directory in the mount', () => {
    const st = fs.statSync(path.join(m.mountpoint, 'vendor', 'lib'));
    expect(st.isDirectory()).toBe(true);
    expect(fs.readdirSync(path.join(m.mountpoint, 'vendor', 'lib'))).toEqual([]);
    expect(fs.readFileSync(path.join(m.mountpoint, '.gitmodules'), 'utf8')).toContain('vendor/lib');
  });

  it('an npm-install-like node_modules alone is nothing to commit; --allow-empty keeps the tree and the gitlink', { timeout: 180_000 }, () => {
    for (let i = 0; i < 400; i++) {
      const d = path.join(m.mountpoint, 'node_modules', `pkg${i % 40}`, 'lib');
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, `f${i}.js`), `module.exports = ${i};\n`);
    }
    fs.writeFileSync(path.join(m.mountpoint, 'npm-debug.log'), 'log\n');

    const dry = aether(['commit', '-m', 'x', '--dry-run', '--json'], m.mountpoint);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).diff).toMatchObject({ filesChanged: 0, ignoredFiles: 401, ignoredPaths: ['node_modules/', 'npm-debug.log'] });

    const noop = aether(['commit', '-m', 'nothing', '--branch', 'noop'], path.join(m.mountpoint, 'src'));
    expect(noop.code).toBe(1);
    expect(noop.stdout).toBe('');
    expect(noop.stderr).toMatch(/nothing to commit: session .* has no changes/);
    expect(noop.stderr).toMatch(/401 untracked files left out by \.gitignore \(node_modules\/, npm-debug\.log\)/);
    expect(() => git(bare, 'rev-parse', '--verify', '-q', 'refs/heads/noop')).toThrow();

    const empty = aether(['commit', '-m', 'empty', '--branch', 'empty', '--allow-empty'], m.mountpoint);
    expect(empty.code, empty.stderr).toBe(0);
    const commit = empty.stdout.trim();
    expect(git(bare, 'rev-parse', 'refs/heads/empty').trim()).toBe(commit);
    expect(git(bare, 'diff', base, commit)).toBe('');
    expect(git(bare, 'ls-tree', commit, 'vendor/lib').trim()).toBe(`160000 commit ${subHead}\tvendor/lib`);
    git(bare, 'fsck', '--strict', '--no-progress');
  });

  it('`aether diff --stat` inside the mount equals `git diff --stat` of the commit', { timeout: 180_000 }, () => {
    fs.writeFileSync(path.join(m.mountpoint, 'src', 'index.js'), 'module.exports = 2;\nmodule.exports.more = true;\n');
    fs.writeFileSync(path.join(m.mountpoint, 'src', 'new.js'), 'new\n');
    fs.rmSync(path.join(m.mountpoint, 'package.json'));

    const stat = aether(['diff', '--stat'], m.mountpoint);
    expect(stat.code, stat.stderr).toBe(0);
    const names = aether(['diff', '--name-status', 'src'], path.join(m.mountpoint, 'src', '..'));
    expect(names.stdout).toBe('M\tsrc/index.js\nA\tsrc/new.js\n');
    const sub = aether(['diff', '--name-only', '.'], path.join(m.mountpoint, 'src'));
    expect(sub.stdout).toBe('src/index.js\nsrc/new.js\n');

    const c = aether(['commit', '-m', 'change', '--branch', 'change'], m.mountpoint);
    expect(c.code, c.stderr).toBe(0);
    const commit = c.stdout.trim();
    const gitStat = git(bare, 'diff', '--stat', base, commit);
    expect(stat.stdout).toBe(gitStat);
    expect(c.stderr).toContain(gitStat.split('\n').slice(-2)[0]!); // "3 files changed, …" after the commit
    expect(git(bare, 'ls-tree', '-r', '--name-only', commit).split('\n').filter((p) => p.startsWith('node_modules'))).toEqual([]);
    expect(git(bare, 'ls-tree', commit, 'vendor/lib').trim()).toBe(`160000 commit ${subHead}\tvendor/lib`);
    git(bare, 'fsck', '--strict', '--no-progress');
  });
});
