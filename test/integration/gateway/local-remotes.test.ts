// Local git remotes are confined (issue 12 item 10): no tenant can import the gateway's own
// mirrors (paths, file:// URLs, symlinks, "..", the ".git"-less name git would complete), other
// tenants need an allow-listed root, and the check runs again at fetch and push time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { makeRemote, waitJob, writeSessionFiles, type Remote } from '../../helpers/git-fixtures.js';
import { makeTempDir } from '../../helpers/temp-dir.js';


describe('local remotes: default policy (embedded single-user gateway)', () => {
  let t: TestGateway;
  let remote: Remote;
  let other: string;
  let mine: string;
  let links: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    t = await startTestGateway();
    other = await t.tokenFor('tenant-two');
    remote = await makeRemote({ 'secret.txt': 'tenant one only\n' });
    links = await makeTempDir('aether-links-');
    const r = await t.call('POST', '/v1/sources', { displayName: 'one', gitRemote: { remoteUrl: remote.url } });
    expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    mine = r.body.sourceId;
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
    await links?.cleanup();
  });

  it('lets the default tenant use a local path or file:// URL (the README flow)', async () => {
    const r = await t.call('POST', '/v1/sources', { displayName: 'plain path', gitRemote: { remoteUrl: remote.bare } });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
  });

  it('refuses local remotes for another tenant with PERMISSION_DENIED and a clear message', async () => {
    for (const url of [remote.url, remote.bare]) {
      const r = await t.call('POST', '/v1/sources', { displayName: 'steal', gitRemote: { remoteUrl: url } }, other);
      expect(r.status, url).toBe(403);
      expect(r.body.code).toBe(7);
      expect(r.body.message).toMatch(/local remotes are only allowed for the default tenant.*--allow-local-remotes/);
    }
    expect((await t.call('GET', '/v1/sources', undefined, other)).body.sources).toEqual([]);
  });

  it("refuses the gateway's own mirrors for every tenant, however they are spelled", async () => {
    const mirror = path.join(t.dataDir, 'git', `${mine}.git`);
    await fs.access(path.join(mirror, 'HEAD'));
    await fs.symlink(mirror, path.join(links.dir, 'innocent.git'));
    await fs.symlink(t.dataDir, path.join(links.dir, 'data'));
    const spellings = [
      mirror,
      'file://' + mirror,
      'file://' + mirror.split('/').map(encodeURIComponent).join('/'),
      path.join(t.dataDir, 'git', mine), // git completes the ".git"
      path.join(t.dataDir, 'git', '..', 'git', `${mine}.git`),
      path.join(links.dir, 'innocent.git'),
      path.join(links.dir, 'data', 'git', `${mine}.git`),
      t.dataDir,
    ];
    for (const token of [undefined, other]) {
      for (const url of spellings) {
        const r = await t.call('POST', '/v1/sources', { displayName: 'mirror', gitRemote: { remoteUrl: url } }, token);
        expect(r.status, url).toBe(403);
        expect(r.body.code, url).toBe(7);
        if (!token) expect(r.body.message, url).toMatch(/inside the gateway's data directory/);
      }
    }
  });
});

describe('local remotes: --allow-local-remotes', () => {
  let t: TestGateway;
  let allowed: { dir: string; cleanup: () => Promise<void> };
  let outside: Remote;
  let inside: Remote;
  let other: string;

  beforeAll(async () => {
    allowed = await makeTempDir('aether-allowed-');
    outside = await makeRemote({ 'a.txt': 'outside\n' });
    inside = await makeRemote({ 'a.txt': 'inside\n' });
    // Move the "inside" remote under the allowed root.
    const target = path.join(allowed.dir, 'inside.git');
    await fs.rename(inside.bare, target);
    inside.bare = target;
    inside.url = 'file://' + target;
    t = await startTestGateway({ allowLocalRemotes: [allowed.dir] });
    other = await t.tokenFor('tenant-two');
  });
  afterAll(async () => {
    await t?.close();
    await allowed?.cleanup();
    await outside?.cleanup();
    await inside?.cleanup();
  });

  it('allows every tenant under the roots and nobody outside them', async () => {
    for (const token of [undefined, other]) {
      const ok = await t.call('POST', '/v1/sources', { displayName: 'in', gitRemote: { remoteUrl: inside.url } }, token);
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      const no = await t.call('POST', '/v1/sources', { displayName: 'out', gitRemote: { remoteUrl: outside.url } }, token);
      expect(no.status).toBe(403);
      expect(no.body.code).toBe(7);
      expect(no.body.message).toMatch(/outside the directories this gateway allows/);
      // ".." out of the allowed root.
      const dots = await t.call('POST', '/v1/sources', { displayName: 'dots', gitRemote: { remoteUrl: path.join(allowed.dir, '..', path.relative(path.dirname(allowed.dir), outside.bare)) } }, token);
      expect(dots.status).toBe(403);
    }
  });

  it('checks again at fetch and push time: a remote swapped for a symlink to a mirror is refused', async () => {
    const victim = await t.call('POST', '/v1/sources', { displayName: 'victim', gitRemote: { remoteUrl: inside.url } });
    expect(victim.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    const link = path.join(allowed.dir, 'swap.git');
    await fs.cp(inside.bare, link, { recursive: true });
    const theirs = await t.call('POST', '/v1/sources', { displayName: 'swap', gitRemote: { remoteUrl: 'file://' + link } }, other);
    expect(theirs.body.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    const session = await t.call('POST', '/v1/sessions', { sourceRef: { sourceId: theirs.body.sourceId } }, other);
    expect(session.status).toBe(200);
    // Swap the remote for a link to the victim's mirror.
    await fs.rm(link, { recursive: true, force: true });
    await fs.symlink(path.join(t.dataDir, 'git', `${victim.body.sourceId}.git`), link);

    const job = await t.call('POST', `/v1/sources/${theirs.body.sourceId}/refresh`, {}, other);
    const done = await waitJob(t, theirs.body.sourceId, job.body.jobId, other);
    expect(done.state).toBe('UNDERLAY_IMPORT_JOB_STATE_FAILED');
    expect(done.errorCode).toBe('REMOTE_NOT_ALLOWED');
    expect(done.errorMessage).toMatch(/data directory/);

    await writeSessionFiles(t.gw, session.body.id, { '/evil.txt': 'x\n' });
    const commit = await t.call('POST', `/v1/sessions/${session.body.id}/commit`, { message: 'push into a mirror', gitBranch: { branchName: 'main' } }, other);
    expect(commit.status).toBe(403);
    expect(commit.body.code).toBe(7);
    expect(commit.body.message).toMatch(/refusing to push.*data directory/);
  });
});
