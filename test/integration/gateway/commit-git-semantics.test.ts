// Commit the way a git user expects (issue 14), against a real gateway and real git: .gitignore
// rules leave untracked ignored files out (tracked ones stay), submodule gitlinks survive import →
// session → commit, an unchanged session commits nothing, dry runs and GET …/diff show exactly
// what `git diff` shows for the commit that follows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { git, makeRemote, writeSessionFiles, type Remote } from '../../helpers/git-fixtures.js';

describe('commit: git semantics', () => {
  let t: TestGateway;
  let remote: Remote;
  let sub: Remote;
  let subHead: string;
  let base: string;
  let sourceId: string;

  beforeAll(async () => {
    t = await startTestGateway();
    sub = await makeRemote({ 'lib.c': 'int lib;\n' });
    subHead = (await git(sub.bare, 'rev-parse', 'main')).trim();
    remote = await makeRemote({
      '.gitignore': 'node_modules\n/dist/\n*.log\n!keep.log\n',
      'src/.gitignore': 'generated/\n',
      'src/main.js': 'module.exports = 1;\n',
      'vendor.log': 'tracked although it matches *.log\n',
      '.gitmodules': `[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = ${sub.url}\n`,
    });
    await git(remote.work, 'add', '--force', 'vendor.log'); // `git add -A` left it out: *.log
    await git(remote.work, 'update-index', '--add', '--cacheinfo', `160000,${subHead},vendor/lib`);
    await git(remote.work, 'commit', '--quiet', '-m', 'add submodule and a tracked ignored file');
    await git(remote.work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
    base = (await git(remote.bare, 'rev-parse', 'main')).trim();
    const src = await t.call('POST', '/v1/sources', { displayName: 'semantics', gitRemote: { remoteUrl: remote.url } });
    expect(src.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    sourceId = src.body.sourceId;
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
    await sub?.cleanup();
  });

  async function newSession(): Promise<string> {
    const r = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId } });
    expect(r.status).toBe(200);
    return r.body.id;
  }
  const commit = (id: string, body: Record<string, unknown>) => t.call('POST', `/v1/sessions/${id}/commit`, { message: 'change', ...body });

  it('imports a gitlink as a read-only directory carrying the commit id, and refuses writes inside it', async () => {
    const id = await newSession();
    const row = t.gw.core.sessions.reload(id);
    const entry = t.gw.core.trees.lookup(row.root, '/vendor/lib')!;
    expect(entry.m & 0o777).toBe(0o555);
    expect(Buffer.from(entry.xa!['user.aether.gitlink']!, 'base64').toString()).toBe(subHead);
    for (const [method, path, body] of [
      ['POST', `/v1/sessions/${id}/batch`, { operations: [{ write: { path: '/vendor/lib/inside.c', content: Buffer.from('x').toString('base64') } }] }],
      ['POST', `/v1/sessions/${id}/dirs`, { path: '/vendor/lib/sub' }],
      ['POST', `/v1/sessions/${id}/symlinks`, { linkPath: '/vendor/lib/l', target: '../x' }],
    ] as const) {
      const r = await t.call(method, path, body);
      expect(r.status, path).toBe(403);
      expect(r.body.code).toBe(7);
      expect(r.body.message).toMatch(/git submodule/);
    }
    await expect(writeSessionFiles(t.gw, id, { '/vendor/lib/x.c': 'x\n' })).rejects.toThrow(/git submodule/);
  });

  it('an unchanged session commits nothing and says so; --allow-empty still works', async () => {
    const id = await newSession();
    const r = await commit(id, { gitBranch: { branchName: 'unchanged' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: false, commitId: base, parentId: base });
    expect(r.body.diff.filesChanged).toBe(0);
    expect(r.body.diff.stat).toBe('');
    await expect(git(remote.bare, 'rev-parse', '--verify', 'refs/heads/unchanged')).rejects.toThrow();
  });

  it('keeps the gitlink through a commit of other changes: fsck --strict clean, gitlink unchanged', async () => {
    const id = await newSession();
    await writeSessionFiles(t.gw, id, { '/src/main.js': 'module.exports = 2;\n' });
    const r = await commit(id, { gitBranch: { branchName: 'with-gitlink' } });
    expect(r.body.created).toBe(true);
    expect((await git(remote.bare, 'ls-tree', r.body.commitId, 'vendor/lib')).trim()).toBe(`160000 commit ${subHead}\tvendor/lib`);
    expect((await git(remote.bare, 'diff', '--name-only', base, r.body.commitId)).trim()).toBe('src/main.js');
    await git(remote.bare, 'fsck', '--strict', '--no-progress');
  });

  it('leaves untracked ignored files out (node_modules after npm install), keeps tracked ones, --include-ignored adds them', async () => {
    const id = await newSession();
    const files: Record<string, string> = {
      '/src/main.js': 'module.exports = 3;\n',
      '/vendor.log': 'tracked, changed\n',
      '/debug.log': 'ignored\n',
      '/keep.log': 're-included\n',
      '/dist/bundle.js': 'ignored dir\n',
      '/src/generated/out.js': 'ignored by src/.gitignore\n',
      '/src/dist/x.js': 'not ignored: /dist/ is anchored\n',
    };
    for (let i = 0; i < 300; i++) files[`/node_modules/pkg${i % 30}/file${i}.js`] = `// ${i}\n`;
    files['/node_modules/pkg0/.gitignore'] = '!*\n'; // inside an ignored dir: never read
    await writeSessionFiles(t.gw, id, files);

    const dry = await commit(id, { gitBranch: { branchName: 'ignored' }, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ created: false, commitId: '' });
    expect(dry.body.diff.ignoredFiles, JSON.stringify(dry.body.diff.ignoredPaths)).toBe(304);
    expect(dry.body.diff.ignoredPaths).toEqual(expect.arrayContaining(['node_modules/', 'dist/', 'debug.log', 'src/generated/']));
    await expect(git(remote.bare, 'rev-parse', '--verify', 'refs/heads/ignored')).rejects.toThrow();

    const r = await commit(id, { gitBranch: { branchName: 'ignored' } });
    expect(r.body.created).toBe(true);
    const names = (await git(remote.bare, 'diff', '--name-status', base, r.body.commitId)).trim().split('\n').sort();
    expect(names).toEqual(['A\tkeep.log', 'A\tsrc/dist/x.js', 'M\tsrc/main.js', 'M\tvendor.log']);
    expect(r.body.diff.files.map((f: any) => `${f.status}\t${f.path}`).sort()).toEqual(names);

    const id2 = await newSession();
    await writeSessionFiles(t.gw, id2, { '/node_modules/a/index.js': 'x\n' });
    const all = await commit(id2, { gitBranch: { branchName: 'include-ignored' }, includeIgnored: true });
    expect(all.body.created).toBe(true);
    expect((await git(remote.bare, 'diff', '--name-only', base, all.body.commitId)).trim()).toBe('node_modules/a/index.js');
  });

  it('GET …/diff --stat equals `git diff --stat` of the commit that follows, also per path and vs a checkpoint', async () => {
    const id = await newSession();
    await writeSessionFiles(t.gw, id, {
      '/src/main.js': 'module.exports = 4;\nconst more = true;\n',
      '/README.md': '# readme\n\nwith lines\n',
      '/vendor.log': null,
      '/bin.dat': Buffer.from([0, 1, 2, 3, 0, 255]),
    });
    const cp = await t.call('POST', `/v1/sessions/${id}/checkpoints`, { label: 'mid' });
    expect(cp.status).toBe(200);
    await writeSessionFiles(t.gw, id, { '/later.txt': 'after the checkpoint\n' });

    const d = await t.call('GET', `/v1/sessions/${id}/diff`);
    expect(d.status).toBe(200);
    expect(d.body.baseCommitId).toBe(base);
    const r = await commit(id, { gitBranch: { branchName: 'stat' } });
    expect(r.body.created).toBe(true);
    const gitStat = await git(remote.bare, 'diff', '--stat', base, r.body.commitId);
    expect(d.body.diff.stat).toBe(gitStat);
    expect(r.body.diff.stat).toBe(gitStat);
    const numstat = (await git(remote.bare, 'diff', '--numstat', base, r.body.commitId)).trim().split('\n');
    expect(d.body.diff.files.map((f: any) => (f.binary ? `-\t-\t${f.path}` : `${f.additions}\t${f.deletions}\t${f.path}`))).toEqual(numstat);

    const onlySrc = await t.call('GET', `/v1/sessions/${id}/diff?path=/src&statWidth=120`);
    expect(onlySrc.body.diff.stat).toBe(await git(remote.bare, 'diff', '--stat=120', base, r.body.commitId, '--', 'src'));
    const vsCp = await t.call('GET', `/v1/sessions/${id}/diff?checkpointLabel=mid`);
    expect(vsCp.body.diff.files.map((f: any) => `${f.status}\t${f.path}`)).toEqual(['A\tlater.txt']);

    for (const q of ['checkpointLabel=nope', 'path=relative', 'statWidth=5', 'includeIgnored=maybe']) {
      const bad = await t.call('GET', `/v1/sessions/${id}/diff?${q}`);
      expect(bad.status, q).toBe(q.startsWith('checkpoint') ? 404 : 400);
      expect(bad.body.code, q).toBe(q.startsWith('checkpoint') ? 5 : 3);
    }
    const empty = await t.call('POST', '/v1/sessions', {});
    expect((await t.call('GET', `/v1/sessions/${empty.body.id}/diff`)).body.code).toBe(9);
  });
});
