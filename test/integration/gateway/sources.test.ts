// Sources, import/refresh/promote jobs and job polling against a real gateway and real git remotes
// (seed 001 §28, §29; seed 000 "promote" and "long-running import" workflows).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { git, makeRemote, readSessionFile, startGitHttpServer, treeTotals, waitJob, writeSessionFiles, type Remote } from '../../helpers/git-fixtures.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { startGateway } from '../../../src/gateway/server.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SHA = /^[0-9a-f]{40}$/;


function expectQueuedJob(body: any, sourceId: string): void {
  expect(Object.keys(body).sort()).toEqual(
    ['jobId', 'sourceId', 'state', 'revisionId', 'createdAt', 'startedAt', 'completedAt', 'errorCode', 'errorMessage', 'bytesProcessed', 'filesProcessed'].sort(),
  );
  expect(body.jobId).toMatch(/^job_[0-9A-Z]{26}$/);
  expect(body.sourceId).toBe(sourceId);
  expect(body.state).toBe('UNDERLAY_IMPORT_JOB_STATE_QUEUED');
  expect(body.revisionId).toBe('');
  expect(body.createdAt).toMatch(RFC3339);
  expect(body.startedAt).toBe('');
  expect(body.completedAt).toBe('');
  expect(body.errorCode).toBe('');
  expect(body.errorMessage).toBe('');
  expect(body.bytesProcessed).toBe('0');
  expect(body.filesProcessed).toBe('0');
}

describe('sources', () => {
  let t: TestGateway;
  let remote: Remote;
  let other: string;
  let sourceId: string;
  let firstRevision: string;
  let mainCommit: string;

  beforeAll(async () => {
    // Remotes live in temp dirs; other tenants may use local remotes only under an allowed root.
    t = await startTestGateway({ allowLocalRemotes: [os.tmpdir()] });
    other = await t.tokenFor('other-tenant');
    remote = await makeRemote({
      'README.md': '# webapp\n',
      'src/main.ts': 'export const main = () => 42;\n',
      'src/util/strings.ts': 'export const up = (s: string) => s.toUpperCase();\n',
      'scripts/build.sh': { data: '#!/bin/sh\necho build\n', exec: true },
      'config/current': { symlink: '../src/main.ts' },
      'empty.txt': '',
    });
    mainCommit = (await git(remote.bare, 'rev-parse', 'refs/heads/main')).trim();
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
  });

  describe('create, list, get (§28)', () => {
    it('creates a source as in the seed and answers READY once the initial import is done', async () => {
      const r = await t.call('POST', '/v1/sources', {
        displayName: 'webapp-main',
        gitRemote: { remoteUrl: remote.url, defaultRef: 'main', credentialsSecretId: 'sec_git_pat_prod' },
        labels: { team: 'web', env: 'prod' },
      });
      expect(r.status).toBe(200);
      const b = r.body;
      expect(Object.keys(b).sort()).toEqual(['sourceId', 'displayName', 'kind', 'status', 'latestRevisionId', 'createdAt', 'updatedAt', 'createdByPrincipal', 'labels', 'lastJob'].sort());
      expect(b.lastJob).toMatchObject({ state: 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED', revisionId: b.latestRevisionId, filesProcessed: '6', errorMessage: '' });
      expect(b.sourceId).toMatch(/^src_[0-9A-Z]{26}$/);
      expect(b.displayName).toBe('webapp-main');
      expect(b.kind).toBe('UNDERLAY_SOURCE_KIND_GIT_REMOTE');
      expect(b.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      expect(b.latestRevisionId).toMatch(/^rev_[0-9A-Z]{26}$/);
      expect(b.createdAt).toMatch(RFC3339);
      expect(b.updatedAt).toMatch(RFC3339);
      expect(b.createdByPrincipal).toBe('admin');
      expect(b.labels).toEqual({ team: 'web', env: 'prod' });
      sourceId = b.sourceId;
      firstRevision = b.latestRevisionId;
      const rev = t.gw.core.db.prepare('SELECT * FROM revisions WHERE id = ?').get(firstRevision) as any;
      expect(rev.commit_sha).toBe(mainCommit);
      expect(rev.git_ref).toBe('refs/heads/main');
    });

    it('accepts a local absolute path and "refs/heads/main" as defaultRef', async () => {
      const r = await t.call('POST', '/v1/sources', { displayName: 'by-path', gitRemote: { remoteUrl: remote.bare, defaultRef: 'refs/heads/main' }, labels: { team: 'infra' } });
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      const rev = t.gw.core.db.prepare('SELECT commit_sha FROM revisions WHERE id = ?').get(r.body.latestRevisionId) as any;
      expect(rev.commit_sha).toBe(mainCommit);
    });

    it('imports files, modes and symlinks faithfully', async () => {
      const core = t.gw.core;
      const rev = core.db.prepare('SELECT root FROM revisions WHERE id = ?').get(firstRevision) as { root: string };
      const main = core.trees.lookup(rev.root, '/src/main.ts')!;
      expect(main.t).toBe('f');
      expect(main.m).toBe(0o100644);
      expect((await core.content.readAll(main.x!)).toString()).toBe('export const main = () => 42;\n');
      const sh = core.trees.lookup(rev.root, '/scripts/build.sh')!;
      expect(sh.m).toBe(0o100755);
      const link = core.trees.lookup(rev.root, '/config/current')!;
      expect(link.t).toBe('l');
      expect(link.tg).toBe('../src/main.ts');
      const empty = core.trees.lookup(rev.root, '/empty.txt')!;
      expect(empty.s).toBe(0);
      expect(core.trees.lookup(rev.root, '/src/util')!.t).toBe('d');
      expect(core.trees.lookup(rev.root, '/.git')).toBeUndefined();
    });

    it('lists with the seed filter and pagination', async () => {
      const r = await t.call('GET', '/v1/sources?filter=team%3Dweb&pageSize=20');
      expect(r.status).toBe(200);
      expect(r.body.nextPageToken).toBe('');
      expect(r.body.sources).toHaveLength(1);
      expect(r.body.sources[0]).toEqual((await t.call('GET', `/v1/sources/${sourceId}`)).body);

      for (const f of ['team=web env=prod', 'team=web,env=prod', 'team=web AND env=prod', 'labels.team=web', 'displayName=webapp-main', 'displayName="webapp-main"']) {
        const q = await t.call('GET', `/v1/sources?filter=${encodeURIComponent(f)}`);
        expect(q.status, f).toBe(200);
        expect(q.body.sources.map((s: any) => s.sourceId), f).toEqual([sourceId]);
      }
      const none = await t.call('GET', `/v1/sources?filter=${encodeURIComponent('team=web env=dev')}`);
      expect(none.body.sources).toEqual([]);

      const p1 = await t.call('GET', '/v1/sources?pageSize=1');
      expect(p1.body.sources).toHaveLength(1);
      expect(p1.body.nextPageToken).not.toBe('');
      const p2 = await t.call('GET', `/v1/sources?pageSize=1&pageToken=${p1.body.nextPageToken}`);
      expect(p2.body.sources).toHaveLength(1);
      expect(p2.body.sources[0].sourceId).not.toBe(p1.body.sources[0].sourceId);
      expect(p2.body.nextPageToken).toBe('');

      expect((await t.call('GET', '/v1/sources?filter=team')).body.code).toBe(3);
      expect((await t.call('GET', '/v1/sources?pageToken=%21%21')).body.code).toBe(3);
      expect((await t.call('GET', '/v1/sources?pageSize=-1')).body.code).toBe(3);
    });

    it('gets a source as in the seed; other tenants and unknown ids get 404', async () => {
      const r = await t.call('GET', `/v1/sources/${sourceId}`);
      expect(r.status).toBe(200);
      expect(r.body.sourceId).toBe(sourceId);
      expect(r.body.latestRevisionId).toBe(firstRevision);
      const x = await t.call('GET', `/v1/sources/${sourceId}`, undefined, other);
      expect(x.status).toBe(404);
      expect(x.body).toEqual({ code: 5, message: expect.any(String), details: [] });
      expect((await t.call('GET', '/v1/sources/src_webapp')).body.code).toBe(5);
      expect((await t.call('GET', '/v1/sources', undefined, other)).body.sources).toEqual([]);
    });

    it('rejects bad create bodies with code 3', async () => {
      const bad: unknown[] = [
        { gitRemote: { remoteUrl: remote.url } },
        { displayName: 'x' },
        { displayName: 'x', gitRemote: {} },
        { displayName: 'x', gitRemote: 'nope' },
        { displayName: 7, gitRemote: { remoteUrl: remote.url } },
        { displayName: 'x', gitRemote: { remoteUrl: 'relative/path' } },
        { displayName: 'x', gitRemote: { remoteUrl: 'ext::sh -c touch% /tmp/pwned' } },
        { displayName: 'x', gitRemote: { remoteUrl: '--upload-pack=evil' } },
        { displayName: 'x', gitRemote: { remoteUrl: 'ftp://example.com/repo.git' } },
        { displayName: 'x', gitRemote: { remoteUrl: remote.url, defaultRef: 'bad..ref' } },
        { displayName: 'x', gitRemote: { remoteUrl: remote.url, defaultRef: 'has space' } },
        { displayName: 'x', gitRemote: { remoteUrl: remote.url }, labels: { team: 1 } },
        { displayName: 'x', gitRemote: { remoteUrl: remote.url }, labels: ['a'] },
      ];
      for (const body of bad) {
        const r = await t.call('POST', '/v1/sources', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.code, JSON.stringify(body)).toBe(3);
      }
    });

    it('refuses an unreachable remote (9) and a missing ref (5) at create, naming what the remote has', async () => {
      const gone = await t.call('POST', '/v1/sources', { displayName: 'gone', gitRemote: { remoteUrl: path.join(os.tmpdir(), 'nonexistent-aether', 'repo.git') } });
      expect(gone.status).toBe(400);
      expect(gone.body.code).toBe(9);
      expect(gone.body.message).toMatch(/^cannot read the git remote .*nonexistent-aether/);
      const badRef = await t.call('POST', '/v1/sources', { displayName: 'bad-ref', gitRemote: { remoteUrl: remote.url, defaultRef: 'no-such-branch' } });
      expect(badRef.status).toBe(404);
      expect(badRef.body.code).toBe(5);
      expect(badRef.body.message).toBe(`ref "no-such-branch" was not found in the git remote ${remote.url}: it has branches main`);
      expect((await t.call('GET', '/v1/sources')).body.sources.map((x: any) => x.displayName)).not.toContain('bad-ref');
    });

    it('answers FAILED for a commit id the remote lacks, says why on the source (lastJob), and refuses sessions with 9', async () => {
      const r = await t.call('POST', '/v1/sources', { displayName: 'missing-commit', gitRemote: { remoteUrl: remote.url, defaultRef: 'f'.repeat(40) } });
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_FAILED');
      expect(r.body.latestRevisionId).toBe('');
      expect(r.body.lastJob).toMatchObject({ state: 'UNDERLAY_IMPORT_JOB_STATE_FAILED', errorCode: 'REF_NOT_FOUND' });
      const shown = await t.call('GET', `/v1/sources/${r.body.sourceId}`);
      expect(shown.body.lastJob.errorMessage).toMatch(/was not found in the remote/);
      const job = await t.call('POST', `/v1/sources/${r.body.sourceId}/startImport`, {});
      const done = await waitJob(t, r.body.sourceId, job.body.jobId);
      expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_FAILED');
      expect(done.errorCode).toBe('REF_NOT_FOUND');
      expect(done.completedAt).toMatch(RFC3339);
      const s = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: r.body.sourceId } });
      expect(s.status).toBe(400);
      expect(s.body.code).toBe(9);
    });
  });

  describe('jobs (§29)', () => {
    it('startImport returns the queued job shape, and the job succeeds with the repo counts', async () => {
      const r = await t.call('POST', `/v1/sources/${sourceId}/startImport`, { git: { gitRef: 'refs/heads/main' } });
      expect(r.status).toBe(200);
      expectQueuedJob(r.body, sourceId);
      const done = await waitJob(t, sourceId, r.body.jobId);
      expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
      expect(done.startedAt).toMatch(RFC3339);
      expect(done.completedAt).toMatch(RFC3339);
      expect(done.errorCode).toBe('');
      const totals = await treeTotals(remote.bare, 'main');
      expect(done.filesProcessed).toBe(String(totals.files));
      expect(done.bytesProcessed).toBe(String(totals.bytes));
      expect(totals.files).toBe(6);
      // Same commit: the revision (and its root) is reused.
      expect(done.revisionId).toBe(firstRevision);
      expect((await t.call('GET', `/v1/sources/${sourceId}`)).body.latestRevisionId).toBe(firstRevision);
    });

    it('imports a tag, an annotated tag and a commit id', async () => {
      await git(remote.work, 'tag', 'v1.0');
      await git(remote.work, 'tag', '-a', 'v1.1', '-m', 'annotated');
      await git(remote.work, 'push', '--quiet', 'origin', 'v1.0', 'v1.1');
      for (const gitRef of ['v1.0', 'refs/tags/v1.1', mainCommit]) {
        const r = await t.call('POST', `/v1/sources/${sourceId}/startImport`, { git: { gitRef } });
        const done = await waitJob(t, sourceId, r.body.jobId);
        expect(done.state, gitRef).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
        const rev = t.gw.core.db.prepare('SELECT commit_sha FROM revisions WHERE id = ?').get(done.revisionId) as any;
        expect(rev.commit_sha).toBe(mainCommit);
      }
    });

    it('fails an unknown ref with REF_NOT_FOUND and keeps the source READY', async () => {
      const r = await t.call('POST', `/v1/sources/${sourceId}/startImport`, { git: { gitRef: 'refs/heads/no-such-branch' } });
      const done = await waitJob(t, sourceId, r.body.jobId);
      expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_FAILED');
      expect(done.errorCode).toBe('REF_NOT_FOUND');
      expect(done.errorMessage).toContain('no-such-branch');
      expect(done.revisionId).toBe('');
      const s = await t.call('GET', `/v1/sources/${sourceId}`);
      expect(s.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      expect(s.body.latestRevisionId).not.toBe('');
    });

    it('refresh as in the seed moves latestRevisionId to the new commit', async () => {
      const release = await remote.commit({ 'src/main.ts': 'export const main = () => 43;\n', 'RELEASE': '2026.03\n' }, 'release', 'release/2026.03');
      const r = await t.call('POST', `/v1/sources/${sourceId}/refresh`, { gitRef: 'refs/heads/release/2026.03' });
      expect(r.status).toBe(200);
      expectQueuedJob(r.body, sourceId);
      const done = await waitJob(t, sourceId, r.body.jobId);
      expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
      const src = (await t.call('GET', `/v1/sources/${sourceId}`)).body;
      expect(src.latestRevisionId).toBe(done.revisionId);
      expect(src.latestRevisionId).not.toBe(firstRevision);
      const rev = t.gw.core.db.prepare('SELECT * FROM revisions WHERE id = ?').get(done.revisionId) as any;
      expect(rev.commit_sha).toBe(release);
      expect(rev.git_ref).toBe('refs/heads/release/2026.03');

      // A session from the source now starts from the refreshed content.
      const sess = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId } });
      expect(sess.body.baseFingerprint).toBe(release);
      expect((await readSessionFile(t.gw, sess.body.id, '/src/main.ts'))!.data!.toString()).toBe('export const main = () => 43;\n');

      // Refresh of the default ref after a new commit on main.
      await git(remote.work, 'checkout', '--quiet', 'main');
      const next = await remote.commit({ 'docs/guide.md': 'guide\n', 'README.md': null }, 'docs');
      const r2 = await t.call('POST', `/v1/sources/${sourceId}/refresh`, {});
      const d2 = await waitJob(t, sourceId, r2.body.jobId);
      expect(d2.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
      const rev2 = t.gw.core.db.prepare('SELECT * FROM revisions WHERE id = ?').get(d2.revisionId) as any;
      expect(rev2.commit_sha).toBe(next);
      expect(t.gw.core.trees.lookup(rev2.root, '/README.md')).toBeUndefined();
      expect(t.gw.core.trees.lookup(rev2.root, '/docs/guide.md')!.s).toBe(6);
      expect((await t.call('GET', `/v1/sources/${sourceId}`)).body.latestRevisionId).toBe(d2.revisionId);
      mainCommit = next;
    });

    it('promoteSession as in the seed makes the session tree the source baseline', async () => {
      const sess = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId } });
      const base = sess.body.baseFingerprint;
      await writeSessionFiles(t.gw, sess.body.id, { '/src/main.ts': 'export const main = () => 7;\n', '/bin/run': { data: '#!/bin/sh\n', exec: true }, '/docs/guide.md': null });
      const r = await t.call('POST', `/v1/sources/${sourceId}/promoteSession`, { sessionId: sess.body.id, revisionLabel: 'release-candidate-7' });
      expect(r.status).toBe(200);
      expectQueuedJob(r.body, sourceId);
      // Later edits do not leak into the promotion: the tree was captured at request time.
      await writeSessionFiles(t.gw, sess.body.id, { '/late.txt': 'late\n' });
      const done = await waitJob(t, sourceId, r.body.jobId);
      expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
      expect(done.revisionId).toMatch(/^rev_/);
      const src = (await t.call('GET', `/v1/sources/${sourceId}`)).body;
      expect(src.latestRevisionId).toBe(done.revisionId);
      const rev = t.gw.core.db.prepare('SELECT * FROM revisions WHERE id = ?').get(done.revisionId) as any;
      expect(rev.label).toBe('release-candidate-7');
      expect(rev.commit_sha).toMatch(SHA);
      expect(Number(done.filesProcessed)).toBe(6);

      // The promotion is a real commit in the mirror, on top of the session's base.
      const mirror = path.join(t.dataDir, 'git', `${sourceId}.git`);
      expect((await git(mirror, 'rev-parse', 'refs/heads/aether/promote/release-candidate-7')).trim()).toBe(rev.commit_sha);
      expect((await git(mirror, 'log', '-1', '--format=%P', rev.commit_sha)).trim()).toBe(base);
      expect(await git(mirror, 'ls-tree', '-r', '--name-only', rev.commit_sha)).toContain('bin/run');

      // New sessions start from the promoted content.
      const fresh = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId, revisionId: '' } });
      expect(fresh.body.baseFingerprint).toBe(rev.commit_sha);
      expect((await readSessionFile(t.gw, fresh.body.id, '/src/main.ts'))!.data!.toString()).toBe('export const main = () => 7;\n');
      expect(await readSessionFile(t.gw, fresh.body.id, '/docs/guide.md')).toBeUndefined();
      expect(await readSessionFile(t.gw, fresh.body.id, '/late.txt')).toBeUndefined();
      expect((await readSessionFile(t.gw, fresh.body.id, '/bin/run'))!.mode).toBe(0o100755);
    });

    it('validates promote, import and refresh bodies', async () => {
      const cases: Array<[string, unknown]> = [
        ['promoteSession', {}],
        ['promoteSession', { sessionId: 5 }],
        ['promoteSession', { sessionId: 'sess_x', revisionLabel: 3 }],
        ['startImport', { git: 'main' }],
        ['startImport', { git: { gitRef: 'bad..ref' } }],
        ['refresh', { gitRef: 12 }],
        ['refresh', { gitRef: 'a b' }],
      ];
      for (const [verb, body] of cases) {
        const r = await t.call('POST', `/v1/sources/${sourceId}/${verb}`, body);
        expect(r.body.code, `${verb} ${JSON.stringify(body)}`).toBe(3);
      }
      const unknown = await t.call('POST', `/v1/sources/${sourceId}/promoteSession`, { sessionId: 'sess_missing' });
      expect(unknown.status).toBe(404);
    });

    it('refuses to promote a session whose approval is pending', async () => {
      const sess = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId } });
      const core = t.gw.core;
      core.db
        .prepare("INSERT INTO approvals (id, session_id, reason, summary, changed_files, state, requested_by, requested_at) VALUES (?, ?, 'COMMIT_TO_MAIN', '', '[]', 'APPROVAL_STATE_PENDING', 'admin', ?)")
        .run('appr_promote', sess.body.id, Date.now());
      const r = await t.call('POST', `/v1/sources/${sourceId}/promoteSession`, { sessionId: sess.body.id });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(9);
      expect(r.body.message).toContain('appr_promote');
    });

    it('keeps sources, jobs and sessions tenant-private', async () => {
      const job = await t.call('POST', `/v1/sources/${sourceId}/refresh`, {});
      await waitJob(t, sourceId, job.body.jobId);
      for (const [m, p, b] of [
        ['GET', `/v1/sources/${sourceId}/jobs/${job.body.jobId}`, undefined],
        ['POST', `/v1/sources/${sourceId}/startImport`, {}],
        ['POST', `/v1/sources/${sourceId}/refresh`, {}],
        ['POST', `/v1/sources/${sourceId}/promoteSession`, { sessionId: 'sess_x' }],
        ['POST', '/v1/sessions', { sourceRef: { sourceId } }],
      ] as const) {
        const r = await t.call(m, p, b, other);
        expect(r.status, p).toBe(404);
        expect(r.body.code, p).toBe(5);
      }
      // Another tenant cannot promote our session into its own source.
      const theirs = await t.call('POST', '/v1/sources', { displayName: 'theirs', gitRemote: { remoteUrl: remote.url } }, other);
      expect(theirs.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      const ours = await t.call('POST', '/v1/sessions', {});
      const steal = await t.call('POST', `/v1/sources/${theirs.body.sourceId}/promoteSession`, { sessionId: ours.body.id }, other);
      expect(steal.status).toBe(404);
      // Unknown job, and a job of another source.
      expect((await t.call('GET', `/v1/sources/${sourceId}/jobs/job_missing`)).status).toBe(404);
      const mine2 = await t.call('POST', '/v1/sources', { displayName: 'second', gitRemote: { remoteUrl: remote.url } });
      const r = await t.call('GET', `/v1/sources/${mine2.body.sourceId}/jobs/${job.body.jobId}`);
      expect(r.status).toBe(404);
    });
  });

  it('keeps submodule gitlinks as read-only directories and does not count them as files', async () => {
    const sub = await makeRemote({ 'lib.c': 'int x;\n' });
    try {
      const subHead = (await git(sub.bare, 'rev-parse', 'main')).trim();
      await git(sub.work, 'update-index', '--add', '--cacheinfo', `160000,${subHead},vendor/lib`);
      await git(sub.work, 'commit', '--quiet', '-m', 'add gitlink');
      await git(sub.work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
      const r = await t.call('POST', '/v1/sources', { displayName: 'with-submodule', gitRemote: { remoteUrl: sub.url } });
      expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      const job = await t.call('POST', `/v1/sources/${r.body.sourceId}/refresh`, {});
      const done = await waitJob(t, r.body.sourceId, job.body.jobId);
      expect(done.filesProcessed).toBe('1');
      const rev = t.gw.core.db.prepare('SELECT root FROM revisions WHERE id = ?').get(done.revisionId) as { root: string };
      const link = t.gw.core.trees.lookup(rev.root, '/vendor/lib')!;
      expect(link.t).toBe('d');
      expect(link.m).toBe(0o40555);
      expect(Buffer.from(link.xa!['user.aether.gitlink']!, 'base64').toString()).toBe(subHead);
      expect(t.gw.core.trees.lookup(rev.root, '/lib.c')!.s).toBe(7);
    } finally {
      await sub.cleanup();
    }
  });

  it('fetches and pushes over HTTP with the credentials secret, which never leaks', async () => {
    const password = 's3cr3t-Pa55word';
    const server = await startGitHttpServer(path.dirname(remote.bare), 'gituser', password);
    try {
      const httpUrl = `${server.url}/${path.basename(remote.bare)}`;
      const holder = await t.call('POST', '/v1/sessions', {});
      const put = await t.call('PUT', `/v1/sessions/${holder.body.id}/secrets/git_pat`, { secretValue: `gituser:${password}`, scope: 'SECRET_SCOPE_TENANT' });
      expect(put.status).toBe(200);

      // Without credentials the remote refuses: create fails (9) and says why without secrets.
      const anon = await t.call('POST', '/v1/sources', { displayName: 'http-anon', gitRemote: { remoteUrl: httpUrl } });
      expect(anon.status).toBe(400);
      expect(anon.body.code).toBe(9);
      expect(anon.body.message).toMatch(/^cannot read the git remote/);

      const r = await t.call('POST', '/v1/sources', { displayName: 'http', gitRemote: { remoteUrl: httpUrl, defaultRef: 'main', credentialsSecretId: 'git_pat' } });
      expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      const rev = t.gw.core.db.prepare('SELECT commit_sha FROM revisions WHERE id = ?').get(r.body.latestRevisionId) as any;
      expect(rev.commit_sha).toBe((await git(remote.bare, 'rev-parse', 'main')).trim());
      expect(server.authHeaders.some((h) => h === 'Basic ' + Buffer.from(`gituser:${password}`).toString('base64'))).toBe(true);

      // Commit + push go through the same credentials.
      const sess = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: r.body.sourceId } });
      await writeSessionFiles(t.gw, sess.body.id, { '/over-http.txt': 'pushed over http\n' });
      const c = await t.call('POST', `/v1/sessions/${sess.body.id}/commit`, { message: 'over http', gitBranch: { branchName: 'http/push' } });
      expect(c.status).toBe(200);
      expect((await git(remote.bare, 'rev-parse', 'refs/heads/http/push')).trim()).toBe(c.body.commitId);

      // A wrong secret: the failure message names the problem but never the password.
      await t.call('PUT', `/v1/sessions/${holder.body.id}/secrets/git_bad`, { secretValue: 'gituser:wrong-Pa55', scope: 'SECRET_SCOPE_TENANT' });
      const bad = await t.call('POST', '/v1/sources', { displayName: 'http-bad', gitRemote: { remoteUrl: httpUrl, credentialsSecretId: 'git_bad' } });
      expect(bad.body.code).toBe(9);
      expect(JSON.stringify(bad.body)).not.toContain('wrong-Pa55');
      expect(JSON.stringify(bad.body)).not.toContain(password);
      // The same through a job: a working source whose secret is then replaced by a wrong one.
      await t.call('PUT', `/v1/sessions/${holder.body.id}/secrets/git_pat`, { secretValue: 'gituser:wrong-Pa55', scope: 'SECRET_SCOPE_TENANT' });
      const j = await t.call('POST', `/v1/sources/${r.body.sourceId}/refresh`, {});
      const jf = await waitJob(t, r.body.sourceId, j.body.jobId);
      expect(jf.errorCode).toBe('GIT_FETCH_FAILED');
      expect(JSON.stringify(jf)).not.toContain('wrong-Pa55');
      expect(JSON.stringify(jf)).not.toContain(password);
      const rows = t.gw.core.db.prepare('SELECT error_message FROM jobs').all() as Array<{ error_message: string }>;
      for (const row of rows) expect(row.error_message).not.toMatch(/Pa55/);
    } finally {
      await server.close();
    }
  });

  describe('larger repositories', () => {
    let big: Remote;
    beforeAll(async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 2000; i++) files[`pkg${i % 40}/mod${i}.ts`] = `export const v${i} = ${i};\n`.repeat(1 + (i % 7));
      big = await makeRemote(files);
    }, 120_000);
    afterAll(async () => {
      await big?.cleanup();
    });

    it('imports 2000 files in seconds, reports them, and re-imports without re-reading', async () => {
      const r = await t.call('POST', '/v1/sources', { displayName: 'big', gitRemote: { remoteUrl: big.url } });
      // Under load the initial import may outlast the create call's wait: then follow lastJob.
      if (r.body.status === 'UNDERLAY_SOURCE_STATUS_IMPORTING') await waitJob(t, r.body.sourceId, r.body.lastJob.jobId);
      const src = (await t.call('GET', `/v1/sources/${r.body.sourceId}`)).body;
      expect(src.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      expect(src.lastJob.filesProcessed).toBe('2000');
      r.body.latestRevisionId = src.latestRevisionId;
      const totals = await treeTotals(big.bare, 'main');
      const job = await t.call('POST', `/v1/sources/${r.body.sourceId}/refresh`, {});
      const blobsBefore = t.gw.core.counters.blobsStored;
      const done = await waitJob(t, r.body.sourceId, job.body.jobId);
      expect(done.filesProcessed).toBe('2000');
      expect(done.bytesProcessed).toBe(String(totals.bytes));
      expect(done.revisionId).toBe(r.body.latestRevisionId);
      expect(t.gw.core.counters.blobsStored).toBe(blobsBefore);

      // A refresh after a one-file change stores one new blob; asking again while it is queued
      // or running gets the same job (one import per request), a different ref a new one.
      await big.commit({ 'pkg0/mod0.ts': 'changed\n' });
      const j2 = await t.call('POST', `/v1/sources/${r.body.sourceId}/refresh`, {});
      const again = await t.call('POST', `/v1/sources/${r.body.sourceId}/startImport`, {});
      expect(again.body.jobId).toBe(j2.body.jobId);
      const d2 = await waitJob(t, r.body.sourceId, j2.body.jobId);
      expect(d2.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
      expect(t.gw.core.counters.blobsStored).toBe(blobsBefore + 1);
    });
  });
});

describe('source jobs across restarts', () => {
  it('resumes a job left queued by a previous gateway on the same data dir', async () => {
    const remote = await makeRemote({ 'a.txt': 'a\n' });
    const { dir, cleanup } = await makeTempDir('aether-gw-resume-');
    try {
      const gw1 = await startGateway({ dataDir: dir, port: 0 });
      const call = async (gw: typeof gw1, method: string, p: string, body?: unknown) => {
        const res = await fetch(gw.url + p, { method, headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return (await res.json()) as any;
      };
      const src = await call(gw1, 'POST', '/v1/sources', { displayName: 'r', gitRemote: { remoteUrl: remote.url } });
      expect(src.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      // Simulate a crash between queueing and running: a QUEUED row nobody is working on.
      gw1.core.db
        .prepare("INSERT INTO jobs (id, source_id, kind, state, params, created_at) VALUES ('job_RESUME', ?, 'refresh', 'UNDERLAY_IMPORT_JOB_STATE_QUEUED', '{}', ?)")
        .run(src.sourceId, Date.now());
      await gw1.close();
      const gw2 = await startGateway({ dataDir: dir, port: 0 });
      try {
        const deadline = Date.now() + 20_000;
        let job: any;
        do {
          job = await call(gw2, 'GET', `/v1/sources/${src.sourceId}/jobs/job_RESUME`);
          if (job.state === 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED') break;
          await new Promise((r) => setTimeout(r, 50));
        } while (Date.now() < deadline);
        expect(job.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
        expect(job.filesProcessed).toBe('1');
      } finally {
        await gw2.close();
      }
    } finally {
      await cleanup();
      await remote.cleanup();
    }
  });
});
