// Sessions, fork, checkpoints and restore against a real gateway (seed 001 §1, §2, §4, §5; seed
// 000 "create a review branch" and "checkpoint before a risky change" workflows).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { git, makeRemote, readSessionFile, writeSessionFiles, type Remote } from '../../helpers/git-fixtures.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SESSION_KEYS = ['id', 'baseFingerprint', 'status', 'tags', 'createdAt', 'lastActivityAt', 'capabilities'].sort();

function events(t: TestGateway, sessionId: string): Array<{ type: string; details: Record<string, string> }> {
  return (t.gw.core.db.prepare('SELECT event_type, details FROM events WHERE session_id = ? ORDER BY seq').all(sessionId) as Array<{ event_type: string; details: string }>).map(
    (e) => ({ type: e.event_type, details: JSON.parse(e.details) }),
  );
}

async function text(t: TestGateway, sessionId: string, p: string): Promise<string | undefined> {
  return (await readSessionFile(t.gw, sessionId, p))?.data?.toString();
}

describe('sessions', () => {
  let t: TestGateway;
  let remote: Remote;
  let other: string;
  let sourceId: string;
  let revisionId: string;
  let commit: string;

  beforeAll(async () => {
    t = await startTestGateway();
    other = await t.tokenFor('other-tenant');
    remote = await makeRemote({ 'src/main.ts': 'export const main = 1;\n', 'README.md': 'readme\n' });
    commit = (await git(remote.bare, 'rev-parse', 'main')).trim();
    const src = await t.call('POST', '/v1/sources', { displayName: 'webapp-main', gitRemote: { remoteUrl: remote.url, defaultRef: 'main' }, labels: { team: 'web' } });
    expect(src.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    sourceId = src.body.sourceId;
    revisionId = src.body.latestRevisionId;
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
  });

  describe('create and get (§1, §2)', () => {
    let sessionId: string;

    it('creates a session from a source revision exactly as in the seed', async () => {
      const r = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId, revisionId }, initialTags: { task: 'bugfix-123', owner: 'alice' } });
      expect(r.status).toBe(200);
      const b = r.body;
      expect(Object.keys(b).sort()).toEqual(SESSION_KEYS);
      expect(b.id).toMatch(/^sess_[0-9A-Z]{26}$/);
      expect(b.baseFingerprint).toBe(commit);
      expect(b.status).toBe('SESSION_STATUS_ACTIVE');
      expect(b.tags).toEqual({ task: 'bugfix-123', owner: 'alice' });
      expect(b.createdAt).toMatch(RFC3339);
      expect(b.lastActivityAt).toBe(b.createdAt);
      expect(b.capabilities).toEqual({ commit: true, approvals: true, annotations: true });
      sessionId = b.id;
      expect(await text(t, sessionId, '/src/main.ts')).toBe('export const main = 1;\n');
      expect(events(t, sessionId)).toEqual([{ type: 'v1.SessionService.CreateSession', details: { sourceId, revisionId } }]);
    });

    it('gets the session as in the seed', async () => {
      const r = await t.call('GET', `/v1/sessions/${sessionId}`);
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(SESSION_KEYS);
      expect(r.body).toMatchObject({ id: sessionId, baseFingerprint: commit, status: 'SESSION_STATUS_ACTIVE', tags: { task: 'bugfix-123', owner: 'alice' } });
      expect(r.body.capabilities).toEqual({ commit: true, approvals: true, annotations: true });
      expect(r.body.lastActivityAt).toMatch(RFC3339);
    });

    it('uses the latest revision when revisionId is "" or absent', async () => {
      for (const sourceRef of [{ sourceId }, { sourceId, revisionId: '' }]) {
        const r = await t.call('POST', '/v1/sessions', { sourceRef });
        expect(r.status).toBe(200);
        expect(r.body.baseFingerprint).toBe(commit);
        expect(r.body.tags).toEqual({});
        expect(t.gw.core.sessions.reload(r.body.id).revision_id).toBe(revisionId);
      }
    });

    it('creates an empty session without sourceRef (no commit capability)', async () => {
      for (const body of [undefined, {}, { initialTags: { k: 'v' } }, { sourceRef: {} }]) {
        const r = await t.call('POST', '/v1/sessions', body);
        expect(r.status, JSON.stringify(body)).toBe(200);
        expect(Object.keys(r.body).sort()).toEqual(SESSION_KEYS);
        expect(r.body.baseFingerprint).toMatch(/^[0-9a-f]{40}$/);
        expect(r.body.capabilities).toEqual({ commit: false, approvals: true, annotations: true });
        const row = t.gw.core.sessions.reload(r.body.id);
        expect(row.root).toBe(t.gw.core.trees.emptyTree);
      }
    });

    it('reports PENDING_APPROVAL while an approval is pending', async () => {
      const core = t.gw.core;
      const s = await t.call('POST', '/v1/sessions', {});
      core.db
        .prepare("INSERT INTO approvals (id, session_id, reason, summary, changed_files, state, requested_by, requested_at) VALUES (?, ?, 'COMMIT_TO_MAIN', '', '[]', 'APPROVAL_STATE_PENDING', 'admin', ?)")
        .run('appr_sessions_1', s.body.id, Date.now());
      expect((await t.call('GET', `/v1/sessions/${s.body.id}`)).body.status).toBe('SESSION_STATUS_PENDING_APPROVAL');
      core.db.prepare("UPDATE approvals SET state = 'APPROVAL_STATE_GRANTED' WHERE id = 'appr_sessions_1'").run();
      expect((await t.call('GET', `/v1/sessions/${s.body.id}`)).body.status).toBe('SESSION_STATUS_ACTIVE');
      // The status column alone also counts (the approvals family may keep it as the truth).
      core.db.prepare("UPDATE sessions SET status = 'SESSION_STATUS_PENDING_APPROVAL' WHERE id = ?").run(s.body.id);
      expect((await t.call('GET', `/v1/sessions/${s.body.id}`)).body.status).toBe('SESSION_STATUS_PENDING_APPROVAL');
    });

    it('answers 404 for unknown sources, revisions and other tenants', async () => {
      const cases: unknown[] = [
        { sourceRef: { sourceId: 'src_webapp' } },
        { sourceRef: { sourceId, revisionId: 'rev_2026_03_10' } },
      ];
      for (const body of cases) {
        const r = await t.call('POST', '/v1/sessions', body);
        expect(r.status, JSON.stringify(body)).toBe(404);
        expect(r.body).toEqual({ code: 5, message: expect.any(String), details: [] });
      }
      expect((await t.call('POST', '/v1/sessions', { sourceRef: { sourceId, revisionId } }, other)).status).toBe(404);
      // A revision of another source of the same tenant is not a revision of this one.
      const src2 = await t.call('POST', '/v1/sources', { displayName: 'second', gitRemote: { remoteUrl: remote.url } });
      const r = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: src2.body.sourceId, revisionId } });
      expect(r.status).toBe(404);
      expect((await t.call('GET', `/v1/sessions/${sessionId}`, undefined, other)).status).toBe(404);
      const unknown = await t.call('GET', '/v1/sessions/sess_1234abcd');
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe(5);
    });

    it('rejects bad bodies with code 3', async () => {
      const bad: unknown[] = [
        { sourceRef: 'src_webapp' },
        { sourceRef: { sourceId: 5 } },
        { sourceRef: { revisionId } },
        { initialTags: ['a'] },
        { initialTags: { a: 1 } },
        { initialTags: { '': 'x' } },
      ];
      for (const body of bad) {
        const r = await t.call('POST', '/v1/sessions', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.code, JSON.stringify(body)).toBe(3);
      }
      expect((await t.call('POST', '/v1/sessions', '[1]')).body.code).toBe(3);
    });
  });

  describe('list (extension)', () => {
    it('lists the tenant sessions with tag filters and pages', async () => {
      const a = await t.call('POST', '/v1/sessions', { initialTags: { list: 'yes', color: 'red' } }, other);
      const b = await t.call('POST', '/v1/sessions', { initialTags: { list: 'yes', color: 'blue' } }, other);
      const c = await t.call('POST', '/v1/sessions', { initialTags: { list: 'no' } }, other);
      const all = await t.call('GET', '/v1/sessions', undefined, other);
      expect(all.status).toBe(200);
      expect(all.body.sessions.map((s: any) => s.id)).toEqual([a.body.id, b.body.id, c.body.id]);
      expect(all.body.nextPageToken).toBe('');
      expect(all.body.sessions[0]).toEqual(a.body);

      const yes = await t.call('GET', '/v1/sessions?tag=list%3Dyes', undefined, other);
      expect(yes.body.sessions.map((s: any) => s.id)).toEqual([a.body.id, b.body.id]);
      const both = await t.call('GET', '/v1/sessions?tag=list%3Dyes&tag=color%3Dblue', undefined, other);
      expect(both.body.sessions.map((s: any) => s.id)).toEqual([b.body.id]);

      const p1 = await t.call('GET', '/v1/sessions?pageSize=2', undefined, other);
      expect(p1.body.sessions).toHaveLength(2);
      const p2 = await t.call('GET', `/v1/sessions?pageSize=2&pageToken=${p1.body.nextPageToken}`, undefined, other);
      expect(p2.body.sessions.map((s: any) => s.id)).toEqual([c.body.id]);
      expect(p2.body.nextPageToken).toBe('');

      // The default tenant sees none of them.
      const mine = await t.call('GET', '/v1/sessions?pageSize=1000');
      expect(mine.body.sessions.some((s: any) => s.id === a.body.id)).toBe(false);
      expect((await t.call('GET', '/v1/sessions?tag=novalue')).body.code).toBe(3);
      expect((await t.call('GET', '/v1/sessions?pageToken=xyz%24')).body.code).toBe(3);
    });
  });

  describe('checkpoints, fork and restore (§4, §5)', () => {
    let sessionId: string;

    beforeAll(async () => {
      const r = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId, revisionId }, initialTags: { task: 'bugfix-123', owner: 'alice' } });
      sessionId = r.body.id;
    });

    it('creates a checkpoint as in the seed', async () => {
      await writeSessionFiles(t.gw, sessionId, { '/src/main.ts': 'v1\n' });
      const r = await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'before-large-refactor' });
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(['createdAt', 'id', 'label', 'sessionId']);
      expect(r.body.id).toMatch(/^cp_[0-9A-Z]{26}$/);
      expect(r.body.sessionId).toBe(sessionId);
      expect(r.body.label).toBe('before-large-refactor');
      expect(r.body.createdAt).toMatch(RFC3339);
      expect(t.gw.core.sessions.reload(sessionId).checkpoint_count).toBe(1);
      expect(events(t, sessionId).at(-1)).toEqual({ type: 'v1.SessionService.CreateCheckpoint', details: { checkpointId: r.body.id, label: 'before-large-refactor' } });
    });

    it('fork from a checkpoint label sees the checkpoint content, not later changes (§4)', async () => {
      await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'before-review' });
      await writeSessionFiles(t.gw, sessionId, { '/src/main.ts': 'v2 after checkpoint\n', '/new.txt': 'new\n' });
      const r = await t.call('POST', `/v1/sessions/${sessionId}/fork`, { sourceCheckpointLabel: 'before-review', newTags: { 'review-track': 'proposal-b', owner: 'reviewer-2' } });
      expect(r.status).toBe(200);
      const b = r.body;
      expect(Object.keys(b).sort()).toEqual(SESSION_KEYS);
      expect(b.id).toMatch(/^sess_/);
      expect(b.id).not.toBe(sessionId);
      expect(b.baseFingerprint).toBe(commit);
      expect(b.status).toBe('SESSION_STATUS_ACTIVE');
      expect(b.tags).toEqual({ task: 'bugfix-123', owner: 'reviewer-2', 'review-track': 'proposal-b' });
      expect(b.createdAt).toMatch(RFC3339);
      expect(b.lastActivityAt).toBe(b.createdAt);
      expect(b.capabilities).toEqual({ commit: true, approvals: true, annotations: true });
      expect(await text(t, b.id, '/src/main.ts')).toBe('v1\n');
      expect(await text(t, b.id, '/new.txt')).toBeUndefined();
      expect(await text(t, sessionId, '/src/main.ts')).toBe('v2 after checkpoint\n');
      const row = t.gw.core.sessions.reload(b.id);
      expect(row.parent_session_id).toBe(sessionId);
      expect(row.source_id).toBe(sourceId);
      expect(row.revision_id).toBe(revisionId);
      expect(events(t, sessionId).at(-1)).toEqual({ type: 'v1.SessionService.ForkSession', details: { forkSessionId: b.id, sourceCheckpointLabel: 'before-review' } });
      expect(events(t, b.id)[0]!.type).toBe('v1.SessionService.CreateSession');

      // Writes to the fork do not affect the parent.
      await writeSessionFiles(t.gw, b.id, { '/fork-only.txt': 'x' });
      expect(await text(t, sessionId, '/fork-only.txt')).toBeUndefined();
    });

    it('forks the current state without a label, with the latest of duplicate labels, and 404s unknown labels', async () => {
      const cur = await t.call('POST', `/v1/sessions/${sessionId}/fork`, {});
      expect(await text(t, cur.body.id, '/src/main.ts')).toBe('v2 after checkpoint\n');
      expect(cur.body.tags).toEqual({ task: 'bugfix-123', owner: 'alice' });
      const empty = await t.call('POST', `/v1/sessions/${sessionId}/fork`, { sourceCheckpointLabel: '' });
      expect(await text(t, empty.body.id, '/new.txt')).toBe('new\n');

      await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'dup' });
      await writeSessionFiles(t.gw, sessionId, { '/dup.txt': 'second\n' });
      await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'dup' });
      await writeSessionFiles(t.gw, sessionId, { '/dup.txt': null });
      const dup = await t.call('POST', `/v1/sessions/${sessionId}/fork`, { sourceCheckpointLabel: 'dup' });
      expect(await text(t, dup.body.id, '/dup.txt')).toBe('second\n');

      const missing = await t.call('POST', `/v1/sessions/${sessionId}/fork`, { sourceCheckpointLabel: 'nope' });
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe(5);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/fork`, {}, other)).status).toBe(404);
      expect((await t.call('POST', '/v1/sessions/sess_7890fork/fork', {})).status).toBe(404);
      for (const body of [{ sourceCheckpointLabel: 3 }, { newTags: 'x' }, { newTags: { a: false } }]) {
        expect((await t.call('POST', `/v1/sessions/${sessionId}/fork`, body)).body.code).toBe(3);
      }
    });

    it('lists checkpoints oldest first', async () => {
      const r = await t.call('GET', `/v1/sessions/${sessionId}/checkpoints`);
      expect(r.status).toBe(200);
      expect(r.body.checkpoints.map((c: any) => c.label)).toEqual(['before-large-refactor', 'before-review', 'dup', 'dup']);
      for (const c of r.body.checkpoints) expect(Object.keys(c).sort()).toEqual(['createdAt', 'id', 'label', 'sessionId']);
      expect((await t.call('GET', `/v1/sessions/${sessionId}/checkpoints`, undefined, other)).status).toBe(404);
    });

    it('accepts a checkpoint without a label and validates the label', async () => {
      const r = await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, {});
      expect(r.status).toBe(200);
      expect(r.body.label).toBe('');
      expect((await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 42 })).body.code).toBe(3);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'x'.repeat(300) })).body.code).toBe(3);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/checkpoints`, { label: 'x' }, other)).status).toBe(404);
    });

    it('restores by id and by label', async () => {
      const list = (await t.call('GET', `/v1/sessions/${sessionId}/checkpoints`)).body.checkpoints;
      const first = list[0];
      const before = t.gw.core.sessions.reload(sessionId);
      const r = await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: first.id });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ checkpointId: first.id });
      expect(await text(t, sessionId, '/src/main.ts')).toBe('v1\n');
      expect(await text(t, sessionId, '/new.txt')).toBeUndefined();
      const after = t.gw.core.sessions.reload(sessionId);
      expect(after.version).toBe(before.version + 1);
      expect(after.restore_count).toBe(1);
      expect(events(t, sessionId).at(-1)).toEqual({ type: 'v1.SessionService.RestoreCheckpoint', details: { checkpointId: first.id, label: 'before-large-refactor' } });

      // By label: the most recent checkpoint with it.
      const byLabel = await t.call('POST', `/v1/sessions/${sessionId}/restore`, { label: 'dup' });
      expect(byLabel.body).toEqual({ checkpointId: list[3].id });
      expect(await text(t, sessionId, '/dup.txt')).toBe('second\n');
      expect(t.gw.core.sessions.reload(sessionId).restore_count).toBe(2);
    });

    it('rejects bad restores', async () => {
      const list = (await t.call('GET', `/v1/sessions/${sessionId}/checkpoints`)).body.checkpoints;
      const neither = await t.call('POST', `/v1/sessions/${sessionId}/restore`, {});
      expect(neither.status).toBe(400);
      expect(neither.body.code).toBe(3);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: list[0].id, label: 'dup' })).body.code).toBe(3);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: 7 })).body.code).toBe(3);
      const unknown = await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: 'cp_5678efgh' });
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe(5);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/restore`, { label: 'never' })).body.code).toBe(5);
      // A checkpoint of another session cannot be restored here.
      const otherSession = await t.call('POST', '/v1/sessions', {});
      const cp = await t.call('POST', `/v1/sessions/${otherSession.body.id}/checkpoints`, { label: 'theirs' });
      const cross = await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: cp.body.id });
      expect(cross.status).toBe(404);
      expect((await t.call('POST', `/v1/sessions/${sessionId}/restore`, { checkpointId: list[0].id }, other)).status).toBe(404);
    });

    it('checkpoint, fork and restore of a 2000-file session copy no tree rows (O(1))', async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 2000; i++) files[`/d${i % 50}/f${i}.txt`] = `file ${i}\n`;
      const s = await t.call('POST', '/v1/sessions', {});
      await writeSessionFiles(t.gw, s.body.id, files);
      const count = () => (t.gw.core.db.prepare('SELECT COUNT(*) AS n FROM trees').get() as { n: number }).n;
      const blobs = () => (t.gw.core.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n;
      const trees0 = count();
      const blobs0 = blobs();
      const cp = await t.call('POST', `/v1/sessions/${s.body.id}/checkpoints`, { label: 'big' });
      const f1 = await t.call('POST', `/v1/sessions/${s.body.id}/fork`, {});
      const f2 = await t.call('POST', `/v1/sessions/${s.body.id}/fork`, { sourceCheckpointLabel: 'big' });
      await t.call('POST', `/v1/sessions/${s.body.id}/restore`, { checkpointId: cp.body.id });
      expect(count()).toBe(trees0);
      expect(blobs()).toBe(blobs0);
      expect(t.gw.core.sessions.reload(f1.body.id).root).toBe(t.gw.core.sessions.reload(s.body.id).root);
      expect(await text(t, f2.body.id, '/d7/f1957.txt')).toBe('file 1957\n');
    });
  });
});
