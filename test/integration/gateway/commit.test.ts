// Commit of a session to its git source, verified with real git in the remote (seed 001 §9; seed 000
// "explicit approval before persistence").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { git, gitBytes, makeRemote, writeSessionFiles, type Remote } from '../../helpers/git-fixtures.js';

interface LsEntry {
  mode: string;
  type: string;
  sha: string;
  path: string;
}

async function lsTree(repo: string, rev: string): Promise<Map<string, LsEntry>> {
  const out = (await gitBytes(repo, 'ls-tree', '-r', '-z', '--full-tree', rev)).toString('utf8');
  const map = new Map<string, LsEntry>();
  for (const rec of out.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, sha] = rec.slice(0, tab).split(' ');
    map.set(rec.slice(tab + 1), { mode: mode!, type: type!, sha: sha!, path: rec.slice(tab + 1) });
  }
  return map;
}

async function blob(repo: string, sha: string): Promise<Buffer> {
  return gitBytes(repo, 'cat-file', 'blob', sha);
}

describe('commit', () => {
  let t: TestGateway;
  let remote: Remote;
  let other: string;
  let sourceId: string;
  let base: string;

  beforeAll(async () => {
    t = await startTestGateway();
    other = await t.tokenFor('other-tenant');
    remote = await makeRemote({
      'src/main.ts': 'export function login() {}\n',
      'tests/main.test.ts': 'test("x", () => {});\n',
      'src/obsolete.ts': 'old\n',
      'tools/gen.sh': { data: '#!/bin/sh\necho gen\n', exec: true },
    });
    base = (await git(remote.bare, 'rev-parse', 'main')).trim();
    const src = await t.call('POST', '/v1/sources', { displayName: 'webapp-main', gitRemote: { remoteUrl: remote.url, defaultRef: 'main' } });
    expect(src.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    sourceId = src.body.sourceId;
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
  });

  async function newSession(): Promise<string> {
    const r = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId } });
    expect(r.status).toBe(200);
    return r.body.id;
  }

  it('commits a session exactly as in the seed and pushes a real, fsck-clean commit', async () => {
    const sessionId = await newSession();
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await writeSessionFiles(t.gw, sessionId, {
      '/src/main.ts': 'export function login(u?: string) {\n  if (!u) throw new Error("no user");\n}\n',
      '/tests/login.test.ts': 'test("null user", () => {});\n',
      '/src/obsolete.ts': null,
      '/bin/release': { data: '#!/bin/sh\nexit 0\n', exec: true },
      '/config/current': { symlink: '../src/main.ts' },
      '/assets/big.bin': big,
      '/empty.txt': '',
      '/docs/with space and ünïcode.md': 'spaces\n',
      '/docs/"quoted".md': 'quoted\n',
      '/"lead.md': 'lead\n',
      '/.git/config': '[core]\n',
      '/vendor/.GIT': 'not a repo\n',
      '/docs/new\nline\\.txt': 'newline\n',
    });
    const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, {
      message: 'Fix login validation and add regression tests',
      author: { name: 'Alice Example', email: 'alice@example.com' },
      gitBranch: { branchName: 'fix/login-validation' },
    });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['commitId', 'created', 'diff', 'parentId']);
    expect(r.body.created).toBe(true);
    expect(r.body.parentId).toBe(base);
    expect(r.body.commitId).toMatch(/^[0-9a-f]{40}$/);
    const commitId = r.body.commitId;

    const log = (await git(remote.bare, 'log', '-1', '--format=%H%n%P%n%an%n%ae%n%s', 'refs/heads/fix/login-validation')).trim().split('\n');
    expect(log).toEqual([commitId, base, 'Alice Example', 'alice@example.com', 'Fix login validation and add regression tests']);
    expect((await git(remote.bare, 'log', '-1', '--format=%cn <%ce>', commitId)).trim()).toBe('Alice Example <alice@example.com>');

    const tree = await lsTree(remote.bare, commitId);
    expect([...tree.keys()].sort()).toEqual(
      [
        'assets/big.bin',
        'bin/release',
        'config/current',
        'docs/"quoted".md',
        '"lead.md',
        'docs/new\nline\\.txt',
        'docs/with space and ünïcode.md',
        'empty.txt',
        'src/main.ts',
        'tests/login.test.ts',
        'tests/main.test.ts',
        'tools/gen.sh',
      ].sort(),
    );
    // ".git" entries cannot live in a git tree: they are left out.
    expect([...tree.keys()].some((k) => k.toLowerCase().split('/').includes('.git'))).toBe(false);
    expect(tree.get('bin/release')!.mode).toBe('100755');
    expect(tree.get('tools/gen.sh')!.mode).toBe('100755');
    expect(tree.get('src/main.ts')!.mode).toBe('100644');
    expect(tree.get('config/current')!.mode).toBe('120000');
    expect((await blob(remote.bare, tree.get('config/current')!.sha)).toString()).toBe('../src/main.ts');
    expect((await blob(remote.bare, tree.get('src/main.ts')!.sha)).toString()).toContain('no user');
    expect((await blob(remote.bare, tree.get('tests/main.test.ts')!.sha)).toString()).toBe('test("x", () => {});\n');
    expect((await blob(remote.bare, tree.get('docs/"quoted".md')!.sha)).toString()).toBe('quoted\n');
    expect((await blob(remote.bare, tree.get('"lead.md')!.sha)).toString()).toBe('lead\n');
    expect((await blob(remote.bare, tree.get('docs/new\nline\\.txt')!.sha)).toString()).toBe('newline\n');
    const bigBack = await blob(remote.bare, tree.get('assets/big.bin')!.sha);
    expect(createHash('sha256').update(bigBack).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect((await blob(remote.bare, tree.get('empty.txt')!.sha)).length).toBe(0);
    // Unchanged imported files keep their blob ids.
    const baseTree = await lsTree(remote.bare, base);
    expect(tree.get('tools/gen.sh')!.sha).toBe(baseTree.get('tools/gen.sh')!.sha);

    await git(remote.bare, 'fsck', '--strict', '--no-progress');
    const fsck = await git(remote.bare, 'fsck', '--strict', '--no-dangling', '--no-progress');
    expect(fsck.trim()).toBe('');

    const row = t.gw.core.sessions.reload(sessionId);
    expect(row.completed_at).not.toBeNull();
    const ev = t.gw.core.db.prepare("SELECT details FROM events WHERE session_id = ? AND event_type = 'v1.SessionService.Commit'").get(sessionId) as { details: string };
    expect(JSON.parse(ev.details)).toEqual({ commitId, branchName: 'fix/login-validation' });
  });

  it('commits what the filesystem routes wrote (seed §16 batch, symlinks, then §9 commit)', async () => {
    const sessionId = await newSession();
    const obsoleteHash = 'sha256:' + createHash('sha256').update('old\n').digest('hex');
    const batch = await t.call('POST', `/v1/sessions/${sessionId}/batch`, {
      operations: [
        { write: { path: '/src/generated/version.ts', content: 'ZXhwb3J0IGNvbnN0IFZFUlNJT04gPSAiMS4yLjAiOwo=', expectedHash: '' } },
        { delete: { path: '/src/obsolete.ts', expectedHash: obsoleteHash } },
        {
          segmentWrite: {
            path: '/src/changelog.txt',
            segments: [{ data: { offset: '0', content: 'Q2hhbmdlZCBsb2dpbiB2YWxpZGF0aW9uLgo=' } }],
            logicalSize: '25',
            expectedHash: '',
            mode: 33188,
          },
        },
        { write: { path: '/scripts/check.sh', content: Buffer.from('#!/bin/sh\nexit 0\n').toString('base64'), mode: 493 } },
      ],
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(200);
    const link = await t.call('POST', `/v1/sessions/${sessionId}/symlinks`, { linkPath: '/app/current-config', target: '../src/generated/version.ts' });
    expect(link.status, JSON.stringify(link.body)).toBe(200);
    const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, {
      message: 'Fix login validation and add regression tests',
      author: { name: 'Alice Example', email: 'alice@example.com' },
      gitBranch: { branchName: 'fix/login-validation-batch' },
    });
    expect(r.status).toBe(200);
    const tree = await lsTree(remote.bare, r.body.commitId);
    expect(tree.has('src/obsolete.ts')).toBe(false);
    expect((await blob(remote.bare, tree.get('src/generated/version.ts')!.sha)).toString()).toBe('export const VERSION = "1.2.0";\n');
    expect((await blob(remote.bare, tree.get('src/changelog.txt')!.sha)).toString()).toBe('Changed login validation.'); // logicalSize 25 cuts the trailing newline
    expect(tree.get('src/changelog.txt')!.mode).toBe('100644');
    expect(tree.get('scripts/check.sh')!.mode).toBe('100755');
    expect(tree.get('app/current-config')!.mode).toBe('120000');
    expect((await blob(remote.bare, tree.get('app/current-config')!.sha)).toString()).toBe('../src/generated/version.ts');
    expect((await git(remote.bare, 'log', '-1', '--format=%P', r.body.commitId)).trim()).toBe(base);
    expect((await git(remote.bare, 'fsck', '--strict', '--no-dangling', '--no-progress')).trim()).toBe('');
  });

  it('commits again on top of its own previous commit to the same branch', async () => {
    const sessionId = await newSession();
    await writeSessionFiles(t.gw, sessionId, { '/a.txt': 'one\n' });
    const c1 = (await t.call('POST', `/v1/sessions/${sessionId}/commit`, { message: 'one', gitBranch: { branchName: 'feature/two-step' } })).body.commitId;
    await writeSessionFiles(t.gw, sessionId, { '/a.txt': 'two\n' });
    const r2 = await t.call('POST', `/v1/sessions/${sessionId}/commit`, { message: 'two', gitBranch: { branchName: 'refs/heads/feature/two-step' } });
    expect(r2.status).toBe(200);
    const log = (await git(remote.bare, 'log', '--format=%H %P', 'refs/heads/feature/two-step')).trim().split('\n');
    expect(log).toEqual([`${r2.body.commitId} ${c1}`, `${c1} ${base}`, expect.stringMatching(new RegExp(`^${base}`))]);
  });

  it('uses the principal as the default author', async () => {
    const sessionId = await newSession();
    const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, { message: 'no author given\n\nbody line', gitBranch: { branchName: 'defaults' }, allowEmpty: true });
    expect(r.body.created).toBe(true);
    expect(r.status).toBe(200);
    const log = (await git(remote.bare, 'log', '-1', '--format=%an%n%ae%n%s%n%b', 'refs/heads/defaults')).trim().split('\n');
    expect(log).toEqual(['admin', 'admin@aether.local', 'no author given', 'body line']);
    // Nothing changed (allowEmpty): the commit has the base tree.
    expect((await git(remote.bare, 'rev-parse', 'refs/heads/defaults^{tree}')).trim()).toBe((await git(remote.bare, 'rev-parse', `${base}^{tree}`)).trim());
  });

  it('answers 10 ABORTED when the branch moved elsewhere (non-fast-forward)', async () => {
    const a = await newSession();
    const b = await newSession();
    await writeSessionFiles(t.gw, a, { '/who.txt': 'a\n' });
    await writeSessionFiles(t.gw, b, { '/who.txt': 'b\n' });
    expect((await t.call('POST', `/v1/sessions/${a}/commit`, { message: 'a', gitBranch: { branchName: 'contended' } })).status).toBe(200);
    const r = await t.call('POST', `/v1/sessions/${b}/commit`, { message: 'b', gitBranch: { branchName: 'contended' } });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe(10);
    expect(r.body.message).toMatch(/rejected/);
    expect(r.body.details).toEqual([]);
    expect((await blob(remote.bare, 'refs/heads/contended:who.txt')).toString()).toBe('a\n');
  });

  it('commits from a fork with the imported revision as parent', async () => {
    const parent = await newSession();
    await writeSessionFiles(t.gw, parent, { '/fork.txt': 'from parent\n' });
    const fork = await t.call('POST', `/v1/sessions/${parent}/fork`, { newTags: { track: 'b' } });
    const r = await t.call('POST', `/v1/sessions/${fork.body.id}/commit`, { message: 'from fork', gitBranch: { branchName: 'from-fork' } });
    expect(r.status).toBe(200);
    expect((await git(remote.bare, 'log', '-1', '--format=%P', r.body.commitId)).trim()).toBe(base);
    expect((await blob(remote.bare, `${r.body.commitId}:fork.txt`)).toString()).toBe('from parent\n');
  });

  it('refuses with 9 while an approval is pending, and commits after it is granted', async () => {
    const sessionId = await newSession();
    const core = t.gw.core;
    core.db
      .prepare("INSERT INTO approvals (id, session_id, reason, summary, changed_files, state, requested_by, requested_at) VALUES (?, ?, 'COMMIT_TO_MAIN', '', '[]', 'APPROVAL_STATE_PENDING', 'admin', ?)")
      .run('appr_01HRJ62B2S2H12XATB9TQX6W7R', sessionId, Date.now());
    core.db.prepare("UPDATE sessions SET status = 'SESSION_STATUS_PENDING_APPROVAL' WHERE id = ?").run(sessionId);
    const body = { message: 'after approval', gitBranch: { branchName: 'approved' } };
    const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, body);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(9);
    expect(r.body.message).toMatch(/approval appr_01HRJ62B2S2H12XATB9TQX6W7R is pending/);
    core.db.prepare("UPDATE approvals SET state = 'APPROVAL_STATE_GRANTED' WHERE id = 'appr_01HRJ62B2S2H12XATB9TQX6W7R'").run();
    core.db.prepare("UPDATE sessions SET status = 'SESSION_STATUS_ACTIVE' WHERE id = ?").run(sessionId);
    expect((await t.call('POST', `/v1/sessions/${sessionId}/commit`, body)).status).toBe(200);
  });

  it('refuses with 9 for a session without a git source', async () => {
    const s = await t.call('POST', '/v1/sessions', {});
    const r = await t.call('POST', `/v1/sessions/${s.body.id}/commit`, { message: 'x', gitBranch: { branchName: 'x' } });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(9);
    expect(r.body.message).toMatch(/no git source/);
  });

  it('answers 9 when the remote refuses the update (checked-out branch of a non-bare remote)', async () => {
    const src = await t.call('POST', '/v1/sources', { displayName: 'work-tree', gitRemote: { remoteUrl: remote.work } });
    expect(src.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    const s = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: src.body.sourceId } });
    await writeSessionFiles(t.gw, s.body.id, { '/x.txt': 'x\n' });
    const current = (await git(remote.work, 'rev-parse', '--abbrev-ref', 'HEAD')).trim();
    const r = await t.call('POST', `/v1/sessions/${s.body.id}/commit`, { message: 'x', gitBranch: { branchName: current } });
    expect(r.body.code).toBe(9);
    expect(r.body.message).toMatch(/refused/);
  });

  it('answers 14 UNAVAILABLE when the remote is gone', async () => {
    const { makeTempDir } = await import('../../helpers/temp-dir.js');
    const { dir, cleanup } = await makeTempDir('aether-vanishing-');
    try {
      const bare = path.join(dir, 'r.git');
      await git(dir, 'clone', '--quiet', '--bare', remote.bare, bare);
      const src = await t.call('POST', '/v1/sources', { displayName: 'vanishing', gitRemote: { remoteUrl: bare } });
      const s = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: src.body.sourceId } });
      await writeSessionFiles(t.gw, s.body.id, { '/new.txt': 'x\n' });
      await fs.rm(bare, { recursive: true, force: true });
      const r = await t.call('POST', `/v1/sessions/${s.body.id}/commit`, { message: 'x', gitBranch: { branchName: 'x' } });
      expect(r.status).toBe(503);
      expect(r.body.code).toBe(14);
    } finally {
      await cleanup();
    }
  });

  it('rejects bad bodies with code 3', async () => {
    const sessionId = await newSession();
    const ok = { message: 'm', gitBranch: { branchName: 'ok' } };
    const bad: unknown[] = [
      { gitBranch: { branchName: 'ok' } },
      { message: '', gitBranch: { branchName: 'ok' } },
      { message: 5, gitBranch: { branchName: 'ok' } },
      { message: 'm' },
      { message: 'm', gitBranch: {} },
      { message: 'm', gitBranch: 'main' },
      { ...ok, author: 'alice' },
      { ...ok, author: { name: 'Alice <evil>' } },
      { ...ok, author: { email: 'a\n@b' } },
      ...['bad..name', '-x', 'a b', 'x.lock', 'refs/heads/', 'a//b', '.hidden', 'end.', 'a@{1}', 'q?', 'star*', 'tilde~1', 'col:on', 'back\\slash', '@', 'HEAD', 'trailing/'].map(
        (branchName) => ({ message: 'm', gitBranch: { branchName } }),
      ),
    ];
    for (const body of bad) {
      const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code, JSON.stringify(body)).toBe(3);
    }
  });

  it('keeps commits tenant-private', async () => {
    const sessionId = await newSession();
    const body = { message: 'm', gitBranch: { branchName: 'private' } };
    const r = await t.call('POST', `/v1/sessions/${sessionId}/commit`, body, other);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe(5);
    expect((await t.call('POST', '/v1/sessions/sess_1234abcd/commit', body)).status).toBe(404);
    await expect(git(remote.bare, 'rev-parse', '--verify', '--quiet', 'refs/heads/private')).rejects.toThrow();
  });
});
