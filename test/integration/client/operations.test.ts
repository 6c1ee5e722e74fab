// HttpGatewayClient against the real gateway: session health, analytics, tenant usage, secrets,
// sources/import jobs/promotion and commit.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { int64ToNumber } from '../../../src/client/gateway-client.js';
import type { ImportJob } from '../../../src/protocol/types.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;
let sid: string;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token });
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

beforeEach(async () => {
  sid = (await client.createSession()).id;
});

const JUNIT_OK = '<testsuite tests="2" failures="0"/>';
const JUNIT_FAIL = '<testsuites><testsuite tests="3" failures="1" skipped="1"/></testsuites>';

describe('health and analytics', () => {
  it('reportHealth updates getHealth; analytics counts mutations', async () => {
    expect((await client.getHealth(sid)).health.status).toBe('STATUS_UNKNOWN');
    const r = await client.reportHealth(sid, { reportFormat: 'junit-xml/v1', reportContent: JUNIT_OK });
    expect(r.newHealthStatus).toMatchObject({ status: 'STATUS_PASSING', testsPassed: 2 });
    const r2 = await client.reportHealth(sid, { reportFormat: 'junit-xml/v1', reportContent: Buffer.from(JUNIT_FAIL) });
    expect(r2.newHealthStatus.status).toBe('STATUS_FAILING');
    const h = await client.getHealth(sid);
    expect(h.health).toMatchObject({ status: 'STATUS_FAILING', testsFailed: 1, testsSkipped: 1 });
    await expect(client.reportHealth(sid, { reportFormat: 'tap', reportContent: 'ok' })).rejects.toMatchObject({ rpcCode: RpcCode.INVALID_ARGUMENT, kind: 'usage' });

    await client.batch(sid, { operations: [{ write: { path: '/a', content: Buffer.from('a') } }] });
    await client.createCheckpoint(sid, { label: 'c1' });
    const a = await client.getAnalytics(sid);
    expect(a.sessionId).toBe(sid);
    expect(int64ToNumber(a.totalFileMutations)).toBeGreaterThanOrEqual(1);
    expect(int64ToNumber(a.checkpointCount)).toBe(1);
    expect(a.lastReportedHealth?.status).toBe('STATUS_FAILING');
  });

  it('getUsage reports the tenant and window', async () => {
    const u = await client.getUsage({ windowStart: '2026-03-01T00:00:00Z', windowEnd: '2026-03-31T23:59:59Z', granularity: 'day' });
    expect(u.tenantId).toBeTruthy();
    expect(u.windowStart).toBe('2026-03-01T00:00:00Z');
    expect(u.granularity).toBe('day');
    expect(typeof u.sessionHours).toBe('number');
    const dflt = await client.getUsage();
    expect(dflt.windowStart).toBeTruthy();
  });
});

describe('secrets', () => {
  it('set, list, get, delete; values never in errors', async () => {
    const value = 'npm_xxxxxxxxxxxxxxxxx';
    expect(await client.setSecret(sid, 'NPM_TOKEN', { secretValue: value, scope: 'SECRET_SCOPE_SESSION' })).toEqual({ secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' });
    await client.setSecret(sid, 'OPENAI_API_KEY', { secretValue: 'sk-test' });
    const list = await client.listSecrets(sid, { scope: 'SECRET_SCOPE_SESSION' });
    expect(list.secrets?.map((s) => s.secretName).sort()).toEqual(['NPM_TOKEN', 'OPENAI_API_KEY']);
    expect(await client.getSecret(sid, 'NPM_TOKEN')).toEqual({ secretName: 'NPM_TOKEN', secretValue: value });
    expect((await client.getSecret(sid, 'NPM_TOKEN', { scope: 'SECRET_SCOPE_SESSION' })).secretValue).toBe(value);
    expect(await client.deleteSecret(sid, 'NPM_TOKEN', { scope: 'SECRET_SCOPE_SESSION' })).toEqual({ secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' });
    const err = await client.getSecret(sid, 'NPM_TOKEN').catch((e) => e);
    expect(err).toMatchObject({ kind: 'not_found' });
    expect(err.message).not.toContain(value);
  });
});

describe('sources, imports, promotion, commit', () => {
  let repo: string;

  beforeAll(async () => {
    repo = await fs.mkdtemp(path.join(os.tmpdir(), 'aether-client-src-'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } });
    git('init', '-q', '-b', 'main');
    await fs.mkdir(path.join(repo, 'src'));
    await fs.writeFile(path.join(repo, 'src', 'main.ts'), 'export const x = 1;\n');
    await fs.writeFile(path.join(repo, 'README.md'), '# webapp\n');
    git('add', '.');
    git('commit', '-q', '-m', 'initial');
  });

  afterAll(async () => {
    if (repo) await fs.rm(repo, { recursive: true, force: true });
  });

  async function waitJob(job: ImportJob): Promise<ImportJob> {
    const deadline = Date.now() + 30_000;
    let j = job;
    while (j.state === 'UNDERLAY_IMPORT_JOB_STATE_QUEUED' || j.state === 'UNDERLAY_IMPORT_JOB_STATE_RUNNING') {
      if (Date.now() > deadline) throw new Error(`job ${j.jobId} did not finish`);
      await new Promise((r) => setTimeout(r, 100));
      j = await client.getJob(j.sourceId, j.jobId);
    }
    return j;
  }

  it('create a source, import it, start a session from it, commit, promote', async () => {
    const src = await client.createSource({ displayName: 'webapp-main', gitRemote: { remoteUrl: `file://${repo}`, defaultRef: 'main' }, labels: { team: 'web' } });
    expect(src.sourceId).toBeTruthy();
    expect(src.kind).toBe('UNDERLAY_SOURCE_KIND_GIT_REMOTE');
    expect(src.labels).toEqual({ team: 'web' });
    expect((await client.getSource(src.sourceId)).displayName).toBe('webapp-main');
    expect((await client.listSources({ filter: 'team=web' })).sources?.map((s) => s.sourceId)).toContain(src.sourceId);

    const job = await waitJob(await client.startImport(src.sourceId, { git: { gitRef: 'refs/heads/main' } }));
    expect(job.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
    expect(job.revisionId).toBeTruthy();
    expect(int64ToNumber(job.filesProcessed)).toBe(2);

    const s = await client.createSession({ sourceRef: { sourceId: src.sourceId, revisionId: job.revisionId } });
    const paths: string[] = [];
    for await (const n of client.iterateManifest(s.id)) paths.push(n.path);
    expect(paths).toEqual(expect.arrayContaining(['/src/main.ts', '/README.md']));

    await client.batch(s.id, { operations: [{ write: { path: '/src/main.ts', content: Buffer.from('export const x = 2;\n') } }] });
    const { commitId } = await client.commit(s.id, { message: 'Bump x', author: { name: 'Alice', email: 'alice@example.com' }, gitBranch: { branchName: 'fix/bump' } });
    expect(commitId).toMatch(/^[0-9a-f]{40}$/);

    const refreshed = await waitJob(await client.refreshSource(src.sourceId, { gitRef: 'refs/heads/main' }));
    expect(refreshed.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');

    const promoted = await waitJob(await client.promoteSession(src.sourceId, { sessionId: s.id, revisionLabel: 'rc-7' }));
    expect(promoted.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
    expect((await client.getSource(src.sourceId)).latestRevisionId).toBe(promoted.revisionId);
  });

  it('unknown source and job → NOT_FOUND', async () => {
    await expect(client.getSource('src_missing')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(client.getJob('src_missing', 'job_missing')).rejects.toMatchObject({ kind: 'not_found' });
  });
});
