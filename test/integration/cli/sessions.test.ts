// CLI in-process against a real gateway: session create/show/list, fork, checkpoint, checkpoints,
// restore, and their main errors (unknown id → 3, bad args → 2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliHarness, type CliHarness } from './harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startCliHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('session', () => {
  it('create --json prints the API session with tags', async () => {
    const r = await h.run(['session', 'create', '--tag', 'task=bugfix-123', '--tag', 'owner=alice', '--json']);
    expect(r.code).toBe(0);
    const s = r.json();
    expect(s.id).toMatch(/^sess_/);
    expect(s.status).toBe('SESSION_STATUS_ACTIVE');
    expect(s.tags).toEqual({ task: 'bugfix-123', owner: 'alice' });
    expect(r.err).toBe('');
  });

  it('create prints human key/values without --json', async () => {
    const r = await h.run(['session', 'create']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^id:\s+sess_/m);
    expect(r.out).toMatch(/^status:\s+ACTIVE/m);
    expect(r.out).not.toContain('\u001b['); // no colour off a TTY
  });

  it('create with a malformed --tag is a usage error (exit 2)', async () => {
    const r = await h.run(['session', 'create', '--tag', 'novalue']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^aether: --tag expects key=value/);
  });

  it('create --revision without --source is a usage error', async () => {
    const r = await h.run(['session', 'create', '--revision', 'rev_1']);
    expect(r.code).toBe(2);
  });

  it('create --source with an unknown source exits 3', async () => {
    const r = await h.run(['session', 'create', '--source', 'src_missing', '--revision', 'rev_x']);
    expect(r.code).toBe(3);
  });

  it('show ID and show via AETHER_SESSION', async () => {
    const id = await h.newSession('--tag', 'k=v');
    const a = await h.run(['session', 'show', id, '--json']);
    expect(a.code).toBe(0);
    expect(a.json().id).toBe(id);
    const b = await h.run(['session', 'show', '--json'], { env: { AETHER_SESSION: id } });
    expect(b.code).toBe(0);
    expect(b.json().tags).toEqual({ k: 'v' });
  });

  it('show of an unknown session exits 3 with a one-line message', async () => {
    const r = await h.run(['session', 'show', 'sess_doesnotexist']);
    expect(r.code).toBe(3);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')[0]).toMatch(/^aether: .*not found/);
    expect(r.err).not.toContain(h.gw.token);
  });

  it('show without any session is a usage error with a hint', async () => {
    const r = await h.run(['session', 'show']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('hint: pass --session');
  });

  it('list shows created sessions (table and JSON), filtered by tag', async () => {
    const id = await h.newSession('--tag', 'list-test=yes');
    const t = await h.run(['session', 'list']);
    expect(t.code).toBe(0);
    expect(t.out.split('\n')[0]).toMatch(/^ID\s+STATUS\s+CREATED/);
    expect(t.out).toContain(id);
    const j = await h.run(['session', 'list', '--tag', 'list-test=yes', '--json']);
    expect(j.code).toBe(0);
    expect(j.json().sessions.map((s: { id: string }) => s.id)).toEqual([id]);
  });
});

describe('fork, checkpoint, checkpoints, restore', () => {
  it('checkpoints, forks from a label and restores', async () => {
    const id = await h.newSession('--tag', 'task=cp', '--tag', 'owner=alice');
    await h.writeFiles(id, { '/a.txt': 'one\n' });

    const cp = await h.run(['checkpoint', 'before-review', '--session', id, '--json']);
    expect(cp.code).toBe(0);
    expect(cp.json()).toMatchObject({ sessionId: id, label: 'before-review' });
    const cpId = cp.json().id as string;

    await h.writeFiles(id, { '/a.txt': 'two\n' });

    const list = await h.run(['checkpoints', '--session', id, '--json']);
    expect(list.code).toBe(0);
    expect(list.json().checkpoints.map((c: { id: string }) => c.id)).toContain(cpId);

    const f = await h.run(['fork', id, '--checkpoint', 'before-review', '--tag', 'owner=reviewer-2', '--tag', 'review-track=b', '--json']);
    expect(f.code).toBe(0);
    const fork = f.json();
    expect(fork.id).not.toBe(id);
    expect(fork.tags).toEqual({ task: 'cp', owner: 'reviewer-2', 'review-track': 'b' });
    const forkFile = await h.gw.call('GET', `/v1/sessions/${fork.id}/manifest?pathPrefix=/a.txt`);
    const before = await h.gw.call('GET', `/v1/sessions/${id}/manifest?pathPrefix=/a.txt`);
    expect(forkFile.body.nodes[0].contentHash).not.toBe(before.body.nodes[0].contentHash);

    const byLabel = await h.run(['restore', '--label', 'before-review', '--session', id, '--json']);
    expect(byLabel.code).toBe(0);
    expect(byLabel.json()).toEqual({ sessionId: id, checkpointId: cpId });
    const after = await h.gw.call('GET', `/v1/sessions/${id}/manifest?pathPrefix=/a.txt`);
    expect(after.body.nodes[0].contentHash).toBe(forkFile.body.nodes[0].contentHash);

    const byId = await h.run(['restore', cpId, '--session', id]);
    expect(byId.code).toBe(0);
    expect(byId.out).toContain(`restored ${id} to checkpoint ${cpId}`);
  });

  it('checkpoints table and unlabelled checkpoint', async () => {
    const id = await h.newSession();
    const cp = await h.run(['checkpoint', '--session', id]);
    expect(cp.code).toBe(0);
    expect(cp.out).toMatch(/^id:\s+cp_/m);
    const t = await h.run(['checkpoints', '--session', id]);
    expect(t.out).toMatch(/^ID\s+LABEL\s+CREATED/);
  });

  it('fork of an unknown session exits 3', async () => {
    expect((await h.run(['fork', 'sess_nope'])).code).toBe(3);
  });

  it('restore needs exactly one of CHECKPOINT and --label (exit 2)', async () => {
    const id = await h.newSession();
    expect((await h.run(['restore', '--session', id])).code).toBe(2);
    expect((await h.run(['restore', 'cp_x', '--label', 'y', '--session', id])).code).toBe(2);
  });

  it('restore of an unknown checkpoint exits 3', async () => {
    const id = await h.newSession();
    expect((await h.run(['restore', 'cp_missing', '--session', id])).code).toBe(3);
    expect((await h.run(['restore', '--label', 'nope', '--session', id])).code).toBe(3);
  });
});
