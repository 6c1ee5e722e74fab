// CLI in-process: annotate (guarded by the content hash), annotations, annotation resolve,
// approval request/grant/deny/list/show, and commit (refused while approval is pending → exit 4).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliHarness, makeGitRemote, type CliHarness } from './harness.js';

let h: CliHarness;
let remote: { bare: string; cleanup: () => Promise<void> };
let sourceId: string;
beforeAll(async () => {
  h = await startCliHarness();
  remote = await makeGitRemote({ 'README.md': '# demo\n', 'src/main.ts': 'export const x = 1;\n' });
  const src = await h.run(['source', 'create', '--name', 'demo', '--git-remote', remote.bare, '--ref', 'main', '--json']);
  if (src.code !== 0) throw new Error(src.err);
  sourceId = src.json().sourceId;
  const imp = await h.run(['source', 'import', sourceId, '--wait', '--json']);
  if (imp.code !== 0) throw new Error(imp.err);
});
afterAll(async () => {
  await h?.close();
  await remote?.cleanup();
});

describe('annotations', () => {
  it('annotate PATH:LINE sends the current content hash; list and resolve', async () => {
    const id = await h.newSession();
    await h.writeFiles(id, { '/src/main.ts': 'line1\nline2\n' });
    const m = await h.gw.call('GET', `/v1/sessions/${id}/manifest?pathPrefix=/src/main.ts`);
    const hash = m.body.nodes[0].contentHash;

    const a = await h.run(['annotate', '/src/main.ts:2', '-m', 'needs coverage', '--session', id, '--json']);
    expect(a.code).toBe(0);
    const ann = a.json().annotation;
    expect(ann).toMatchObject({ filePath: '/src/main.ts', lineNumber: 2, contentHash: hash, comment: 'needs coverage', status: 'ANNOTATION_STATUS_OPEN' });

    // Relative path, --line form, human output.
    const b = await h.run(['annotate', 'src/main.ts', '--line', '1', '-m', 'nit', '--session', id]);
    expect(b.code).toBe(0);
    expect(b.out).toMatch(/^ann_\S+\s+\/src\/main\.ts:1\s+OPEN/);

    const all = await h.run(['annotations', '--session', id, '--json']);
    expect(all.json().annotations).toHaveLength(2);
    const forFile = await h.run(['annotations', '/src/main.ts', '--session', id]);
    expect(forFile.out).toMatch(/^ID\s+FILE\s+STATUS/);
    expect(forFile.out).toContain('needs coverage');

    const r = await h.run(['annotation', 'resolve', ann.id, '--session', id, '--json']);
    expect(r.code).toBe(0);
    expect(r.json().annotation.status).toBe('ANNOTATION_STATUS_RESOLVED');
    const open = await h.run(['annotations', '--open', '--session', id, '--json']);
    expect(open.json().annotations).toHaveLength(1);
    const reopened = await h.run(['annotation', 'reopen', ann.id, '--session', id, '--json']);
    expect(reopened.json().annotation.status).toBe('ANNOTATION_STATUS_OPEN');
  });

  it('annotate a missing file exits 3; missing -m exits 2; unknown annotation exits 3', async () => {
    const id = await h.newSession();
    expect((await h.run(['annotate', '/nope.ts:1', '-m', 'x', '--session', id])).code).toBe(3);
    expect((await h.run(['annotate', '/nope.ts:1', '--session', id])).code).toBe(2);
    expect((await h.run(['annotation', 'resolve', 'ann_missing', '--session', id])).code).toBe(3);
  });
});

describe('approvals and commit', () => {
  it('commit is refused while approval is pending (exit 4), allowed after grant', async () => {
    const id = await h.newSession('--source', sourceId);
    await h.writeFiles(id, { '/src/main.ts': 'export const x = 2;\n' });

    const req = await h.run(['approval', 'request', '--reason', 'COMMIT_TO_MAIN', '--summary', 'bump x', '--file', '/src/main.ts', '--session', id, '--json']);
    expect(req.code).toBe(0);
    const approvalId = req.json().approvalId as string;
    expect(approvalId).toMatch(/^appr_/);

    const show = await h.run(['session', 'show', id, '--json']);
    expect(show.json().status).toBe('SESSION_STATUS_PENDING_APPROVAL');

    const refused = await h.run(['commit', '-m', 'bump', '--session', id]);
    expect(refused.code).toBe(4);
    expect(refused.out).toBe('');
    expect(refused.err).toContain(`aether: commit refused: session ${id} is waiting for approval (${approvalId})`);
    expect(refused.err).toContain(`hint: a reviewer must grant or deny it first: aether approval grant ${approvalId}`);

    const list = await h.run(['approval', 'list', '--pending', '--session', id, '--json']);
    expect(list.json().approvals.map((a: { approvalId: string }) => a.approvalId)).toEqual([approvalId]);

    const grant = await h.run(['approval', 'grant', approvalId, '--session', id, '--json']);
    expect(grant.code).toBe(0);
    expect(grant.json()).toEqual({ sessionId: id, approvalId, state: 'APPROVAL_STATE_GRANTED' });

    const again = await h.run(['approval', 'grant', approvalId, '--session', id]);
    expect(again.code).toBe(4); // no longer pending: code 9

    const c = await h.run(['commit', '-m', 'bump x', '--branch', 'feature/x', '--author', 'Alice Example <alice@example.com>', '--session', id]);
    expect(c.code).toBe(0);
    expect(c.out.trim()).toMatch(/^[0-9a-f]{40}$/);
    expect(c.err).toContain('committed session');

    const j = await h.run(['commit', '-m', 'again', '--session', id, '--json', '--allow-empty']);
    expect(j.code).toBe(0);
    expect(j.json().commitId).toMatch(/^[0-9a-f]{40}$/);
    expect(j.json().created).toBe(true);
  });

  it('deny keeps feedback; show displays it', async () => {
    const id = await h.newSession('--source', sourceId);
    const req = await h.run(['approval', 'request', '--reason', 'R', '--session', id, '--json']);
    const approvalId = req.json().approvalId as string;
    const d = await h.run(['approval', 'deny', approvalId, '--feedback', 'split it', '--session', id]);
    expect(d.code).toBe(0);
    expect(d.out).toContain(`${approvalId}  DENIED`);
    const s = await h.run(['approval', 'show', approvalId, '--session', id, '--json']);
    expect(s.json()).toMatchObject({ approvalId, state: 'APPROVAL_STATE_DENIED', feedback: 'split it' });
    const table = await h.run(['approval', 'list', '--session', id]);
    expect(table.out).toMatch(/^ID\s+STATE\s+REASON/);
    expect((await h.run(['session', 'show', id, '--json'])).json().status).toBe('SESSION_STATUS_ACTIVE');
  });

  it('unknown approval exits 3; empty commit message exits 2; bad author exits 2', async () => {
    const id = await h.newSession('--source', sourceId);
    expect((await h.run(['approval', 'grant', 'appr_missing', '--session', id])).code).toBe(3);
    expect((await h.run(['commit', '-m', '  ', '--session', id])).code).toBe(2);
    expect((await h.run(['commit', '--session', id])).code).toBe(2);
  });
});

describe('sources', () => {
  it('list, show, refresh --wait, promote --wait, job', async () => {
    const l = await h.run(['source', 'list', '--json']);
    expect(l.code).toBe(0);
    expect(l.json().sources.map((s: { sourceId: string }) => s.sourceId)).toContain(sourceId);
    const t = await h.run(['source', 'list']);
    expect(t.out).toMatch(/^ID\s+NAME\s+STATUS/);

    const show = await h.run(['source', 'show', sourceId, '--json']);
    expect(show.json().latestRevisionId).toBeTruthy();

    const ref = await h.run(['source', 'refresh', sourceId, '--ref', 'main', '--wait', '--json']);
    expect(ref.code).toBe(0);
    expect(ref.json().state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
    expect(ref.err).toMatch(/refresh job_\S+ (QUEUED|RUNNING|SUCCEEDED)/); // plain progress lines off a TTY

    const sid = await h.newSession('--source', sourceId);
    await h.writeFiles(sid, { '/NEW.md': 'promoted\n' });
    const p = await h.run(['source', 'promote', sourceId, '--session', sid, '--label', 'rc-1', '--wait', '--json']);
    expect(p.code).toBe(0);
    const job = p.json();
    expect(job.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
    const after = await h.run(['source', 'show', sourceId, '--json']);
    expect(after.json().latestRevisionId).toBe(job.revisionId);

    const j = await h.run(['source', 'job', sourceId, job.jobId]);
    expect(j.code).toBe(0);
    expect(j.out).toMatch(/^state:\s+SUCCEEDED/m);

    const noWait = await h.run(['source', 'import', sourceId, '--json']);
    expect(noWait.code).toBe(0);
    expect(noWait.json().jobId).toMatch(/^job_/);
    expect((await h.run(['source', 'job', sourceId, noWait.json().jobId, '--wait', '--json'])).json().state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
  });

  it('--wait on a terminal renders the ink progress view, then the job', async () => {
    const tail = h.start(['source', 'refresh', sourceId, '--wait'], { isTTY: true, columns: 100, rows: 30 });
    expect(await tail.done).toBe(0);
    const out = tail.io.out();
    expect(out).toContain('refresh job_');
    expect(out).toMatch(/\d+ files, /);
    expect(out).toMatch(/state:.*SUCCEEDED/);
    expect(tail.io.err()).not.toMatch(/refresh job_\S+ (QUEUED|RUNNING)/); // no plain lines on a TTY
  });

  it('unknown source / job exit 3; missing --git-remote exits 2', async () => {
    expect((await h.run(['source', 'show', 'src_missing'])).code).toBe(3);
    expect((await h.run(['source', 'job', sourceId, 'job_missing'])).code).toBe(3);
    expect((await h.run(['source', 'create', '--name', 'x'])).code).toBe(2);
  });
});
