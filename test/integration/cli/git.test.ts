// CLI in-process, the git-facing commands as a git user expects them (issue 14): `source create`
// validates the ref up front (exit 3 / 4), waits for its one import and shows a failure's error;
// `diff` and `commit --dry-run`; a non-fast-forward refusal with a hint; `events --limit` newest
// first; `annotate --expected-hash`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCliHarness, makeGitRemote, type CliHarness } from './harness.js';

let h: CliHarness;
let remote: { bare: string; cleanup: () => Promise<void> };
let sourceId: string;
beforeAll(async () => {
  h = await startCliHarness();
  remote = await makeGitRemote({ 'README.md': '# demo\n', 'src/main.ts': 'export const x = 1;\n', '.gitignore': 'dist/\n' });
  const src = await h.run(['source', 'create', '--name', 'demo', '--git-remote', remote.bare, '--json']);
  if (src.code !== 0) throw new Error(src.err);
  sourceId = src.json().sourceId;
});
afterAll(async () => {
  await h?.close();
  await remote?.cleanup();
});

describe('source create', () => {
  it('a bad --ref exits 3 at create with what the remote has, and creates nothing', async () => {
    const r = await h.run(['source', 'create', '--name', 'bad', '--git-remote', remote.bare, '--ref', 'no-such-branch']);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`aether: ref "no-such-branch" was not found in the git remote ${remote.bare}: it has branches main`);
    const list = await h.run(['source', 'list', '--json']);
    expect(list.json().sources.map((s: any) => s.displayName)).not.toContain('bad');
  });

  it('an unreadable remote exits 4 at create', async () => {
    const r = await h.run(['source', 'create', '--name', 'gone', '--git-remote', path.join(os.tmpdir(), 'aether-no-such-remote.git')]);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^aether: cannot read the git remote /m);
  });

  it('waits for its import; a following `source import --wait` reads nothing again', async () => {
    const shown = await h.run(['source', 'show', sourceId]);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/status:\s+READY/);
    expect(shown.out).toMatch(/lastJob:\s+job_\S+ SUCCEEDED 3 files/);
    const before = h.gw.gw.core.counters.blobsStored;
    const imp = await h.run(['source', 'import', sourceId, '--wait', '--json']);
    expect(imp.code).toBe(0);
    expect(imp.json()).toMatchObject({ state: 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED', filesProcessed: '3' });
    expect(h.gw.gw.core.counters.blobsStored).toBe(before);
  });

  it('a failed import exits 1 with the error, and `source show` says why', async () => {
    const r = await h.run(['source', 'create', '--name', 'missing-commit', '--git-remote', remote.bare, '--ref', 'a'.repeat(40), '--json']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/failed \(REF_NOT_FOUND\): ref "a{40}" was not found in the remote/);
    const id = r.json().sourceId;
    const shown = await h.run(['source', 'show', id]);
    expect(shown.out).toMatch(/status:\s+FAILED/);
    expect(shown.out).toMatch(/error:\s+REF_NOT_FOUND: ref "a{40}" was not found/);
  });
});

describe('diff and commit', () => {
  it('diff lists what commit --dry-run would commit; the dry run commits nothing', async () => {
    const id = await h.newSession('--source', sourceId);
    await h.writeFiles(id, { '/src/main.ts': 'export const x = 2;\n', '/src/new.ts': 'new\n', '/dist/out.js': 'built\n' });
    const ns = await h.run(['diff', '--name-status', '--session', id]);
    expect(ns.code).toBe(0);
    expect(ns.out).toBe('M\tsrc/main.ts\nA\tsrc/new.ts\n');
    expect(ns.err).toMatch(/1 untracked file left out by \.gitignore \(dist\/\); --include-ignored adds them/);
    expect((await h.run(['diff', '--name-only', '--include-ignored', '--session', id])).out).toBe('dist/out.js\nsrc/main.ts\nsrc/new.ts\n');
    const only = await h.run(['diff', '--name-only', 'src/new.ts', '--session', id]);
    expect(only.out).toBe('src/new.ts\n');
    const stat = await h.run(['diff', '--session', id]);
    expect(stat.out).toMatch(/^ src\/main\.ts \| 2 \+-\n src\/new\.ts {2}\| 1 \+\n 2 files changed, 2 insertions\(\+\), 1 deletion\(-\)\n$/);
    const json = await h.run(['diff', '--session', id, '--json']);
    expect(json.json().diff).toMatchObject({ filesChanged: 2, additions: 2, deletions: 1, ignoredFiles: 1 });

    const dry = await h.run(['commit', '-m', 'x', '--dry-run', '--branch', 'dry', '--session', id]);
    expect(dry.code).toBe(0);
    expect(dry.out).toBe(stat.out);
    expect(dry.err).toContain('dry run: nothing was committed (2 files would change on branch dry)');
    const real = await h.run(['commit', '-m', 'x', '--branch', 'dry', '--session', id]);
    expect(real.code).toBe(0);
    expect(real.out.trim()).toMatch(/^[0-9a-f]{40}$/);
    expect(real.err).toContain(' 2 files changed, 2 insertions(+), 1 deletion(-)');
    // Nothing left to commit.
    const again = await h.run(['commit', '-m', 'again', '--branch', 'dry', '--session', id, '--json']);
    expect(again.code).toBe(1);
    expect(again.json()).toMatchObject({ created: false, commitId: real.out.trim() });
    expect((await h.run(['diff', '--bogus-flag', '--session', id])).code).toBe(2);
    expect((await h.run(['diff', '--stat', '--name-only', '--session', id])).code).toBe(2);
    expect((await h.run(['diff', '--checkpoint', 'nope', '--session', id])).code).toBe(3);
  });

  it('a push refused because the branch moved exits 4 with a hint on how to proceed', async () => {
    const a = await h.newSession('--source', sourceId);
    const b = await h.newSession('--source', sourceId);
    await h.writeFiles(a, { '/who.txt': 'a\n' });
    await h.writeFiles(b, { '/who.txt': 'b\n' });
    expect((await h.run(['commit', '-m', 'a', '--branch', 'contended', '--session', a])).code).toBe(0);
    const r = await h.run(['commit', '-m', 'b', '--branch', 'contended', '--session', b]);
    expect(r.code).toBe(4);
    expect(r.err).toContain('aether: commit refused: branch contended moved on the remote since this session started (non-fast-forward)');
    expect(r.err).toMatch(/hint: start a new session from the updated source .* or commit to a new --branch/);
  });
});

describe('events and annotate', () => {
  it('events --limit N shows the newest N, newest first; --reverse oldest first', async () => {
    const id = await h.newSession();
    for (let i = 0; i < 5; i++) await h.writeFiles(id, { [`/f${i}.txt`]: `${i}\n` });
    const all = (await h.run(['events', '--session', id, '--json'])).json().events;
    expect(all.length).toBeGreaterThanOrEqual(6);
    const times = all.map((e: any) => e.timestamp);
    expect([...times].sort().reverse()).toEqual(times); // newest first
    const two = (await h.run(['events', '--limit', '2', '--session', id, '--json'])).json().events;
    expect(two).toEqual(all.slice(0, 2));
    const rev = (await h.run(['events', '--limit', '2', '--reverse', '--session', id, '--json'])).json().events;
    expect(rev).toEqual(all.slice(0, 2).reverse());
  });

  it('annotate --expected-hash sends the reviewed hash: a stale one exits 4, a bad one 2', async () => {
    const id = await h.newSession();
    await h.writeFiles(id, { '/a.txt': 'v1\n' });
    const m = await h.gw.call('GET', `/v1/sessions/${id}/manifest?pathPrefix=/a.txt`);
    const v1 = m.body.nodes[0].contentHash as string;
    await h.writeFiles(id, { '/a.txt': 'v2\n' });
    const stale = await h.run(['annotate', '/a.txt:1', '-m', 'on v1', '--expected-hash', v1, '--session', id]);
    expect(stale.code).toBe(4);
    const m2 = await h.gw.call('GET', `/v1/sessions/${id}/manifest?pathPrefix=/a.txt`);
    const ok = await h.run(['annotate', '/a.txt:1', '-m', 'on v2', '--expected-hash', m2.body.nodes[0].contentHash, '--session', id, '--json']);
    expect(ok.code).toBe(0);
    expect(ok.json().annotation.contentHash).toBe(m2.body.nodes[0].contentHash);
    expect((await h.run(['annotate', '/a.txt', '-m', 'x', '--expected-hash', 'md5:abc', '--session', id])).code).toBe(2);
  });
});
