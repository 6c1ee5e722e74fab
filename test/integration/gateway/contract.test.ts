// The gateway against openapi.yaml: the router's routes and the contract's operations are the same
// set (both directions), and a real 200 response of every JSON operation (plus error envelopes) validates
// against its response schema — no unknown fields, required fields present, int64 as decimal strings, enums by name.
// Schema checking is the strict validator the contract unit test uses for the yaml's own examples.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { makeRemote, type Remote } from '../../helpers/git-fixtures.js';
import { METHODS, loadSpec, schemaChecker, type Json, type SchemaChecker } from '../../unit/protocol/schema-check.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
/** "POST /v1/sessions/{id}:rename" → "POST /v1/sessions/{}:rename": parameter names do not matter. */
const normalise = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`;

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

describe('gateway ⇄ openapi.yaml contract', () => {
  let t: TestGateway;
  let remote: Remote;
  let spec: Json;
  let checker: SchemaChecker;
  /** Operations whose real 200 response was validated, by "METHOD /template". */
  const validated = new Set<string>();

  beforeAll(async () => {
    spec = await loadSpec();
    checker = schemaChecker(spec);
    t = await startTestGateway();
    remote = await makeRemote({ 'src/main.ts': 'export const main = 1;\n', 'README.md': 'readme\n' });
  });
  afterAll(async () => {
    await t?.close();
    await remote?.cleanup();
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    const h: Record<string, string> = { authorization: `Bearer ${t.token}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(t.url + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }

  /** Assert `res` is a documented response of operation `key` and its body matches the schema. */
  function conforms(key: string, res: Res, contentType = 'application/json'): void {
    const [method, template] = key.split(' ') as [string, string];
    const op = spec.paths[template]?.[method.toLowerCase()];
    expect(op, `${key} is not in openapi.yaml`).toBeDefined();
    const declared = op.responses[String(res.status)] ?? op.responses.default;
    expect(declared, `${key} does not document ${res.status}`).toBeDefined();
    const schema = checker.deref(declared).content?.[contentType]?.schema;
    expect(schema, `${key} ${res.status} has no ${contentType} schema`).toBeDefined();
    expect(checker.check(res.body, schema, `${key} → ${res.status}`), JSON.stringify(res.body)).toEqual([]);
    if (res.status === 200) validated.add(key);
  }

  /** Call, expect 200, validate, return the body. */
  async function ok(key: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const r = await call(key.split(' ')[0]!, path, body, headers);
    expect(r.status, `${key}: ${JSON.stringify(r.body)}`).toBe(200);
    conforms(key, r);
    return r.body;
  }

  describe('routes', () => {
    it('the router serves exactly the operations of openapi.yaml (method + path, parameter names normalised)', () => {
      const router = t.gw.router.list().map((r) => normalise(r.method, r.pattern));
      expect(new Set(router).size, 'duplicate router registrations').toBe(router.length);
      const contract: string[] = [];
      for (const [path, item] of Object.entries<Json>(spec.paths)) for (const m of METHODS) if (item[m]) contract.push(normalise(m, path));
      expect(new Set(contract).size, 'duplicate operations in openapi.yaml').toBe(contract.length);
      const inRouter = new Set(router);
      const inContract = new Set(contract);
      expect([...inRouter].filter((r) => !inContract.has(r)).sort(), 'routes the gateway serves but openapi.yaml lacks').toEqual([]);
      expect([...inContract].filter((r) => !inRouter.has(r)).sort(), 'operations openapi.yaml declares but the gateway lacks').toEqual([]);
    });

    it('an unknown path is 5 and an unsupported method is 12, both as rpcStatus', async () => {
      const missing = await call('GET', '/v1/nope');
      expect(missing.status).toBe(404);
      expect(checker.check(missing.body, { $ref: '#/components/schemas/rpcStatus' })).toEqual([]);
      expect(missing.body.code).toBe(5);
      const wrong = await call('PUT', '/v1/usage');
      expect(wrong.status).toBe(501);
      expect(wrong.body.code).toBe(12);
    });
  });

  describe('responses match their schemas', () => {
    let sourceId: string;
    let sid: string;
    let fork: string;
    let empty: string;

    it('healthz, sources create/get/list and a job', async () => {
      await ok('GET /v1/healthz', '/v1/healthz');
      const src = await ok('POST /v1/sources', '/v1/sources', {
        displayName: 'webapp-main',
        gitRemote: { remoteUrl: remote.url, defaultRef: 'main' },
        labels: { team: 'web', env: 'prod' },
      });
      expect(src.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
      sourceId = src.sourceId;
      await ok('GET /v1/sources/{sourceId}', `/v1/sources/${sourceId}`);
      const list = await ok('GET /v1/sources', '/v1/sources?filter=team%3Dweb&pageSize=20');
      expect(list.sources.map((s: any) => s.sourceId)).toEqual([sourceId]);
      const queued = await ok('POST /v1/sources/{sourceId}/refresh', `/v1/sources/${sourceId}/refresh`, { gitRef: 'refs/heads/main' });
      expect(queued.state).toBe('UNDERLAY_IMPORT_JOB_STATE_QUEUED');
      const started = await ok('POST /v1/sources/{sourceId}/startImport', `/v1/sources/${sourceId}/startImport`, { git: { gitRef: 'refs/heads/main' } });
      const deadline = Date.now() + 30_000;
      let job: any;
      do {
        job = await ok('GET /v1/sources/{sourceId}/jobs/{jobId}', `/v1/sources/${sourceId}/jobs/${started.jobId}`);
        if (job.state.endsWith('SUCCEEDED') || job.state.endsWith('FAILED')) break;
        await new Promise((r) => setTimeout(r, 50));
      } while (Date.now() < deadline);
      expect(job.state).toBe('UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED');
    });

    it('sessions create (from a source and empty), get, list and fork', async () => {
      const s = await ok('POST /v1/sessions', '/v1/sessions', { sourceRef: { sourceId }, initialTags: { task: 'bugfix-123', owner: 'alice' } });
      sid = s.id;
      const e = await ok('POST /v1/sessions', '/v1/sessions', {});
      empty = e.id;
      expect(e.capabilities.commit).toBe(false);
      await ok('GET /v1/sessions/{sessionId}', `/v1/sessions/${sid}`);
      const list = await ok('GET /v1/sessions', '/v1/sessions?tag=task%3Dbugfix-123');
      expect(list.sessions.map((x: any) => x.id)).toEqual([sid]);
      await ok('POST /v1/sessions/{sessionId}/checkpoints', `/v1/sessions/${sid}/checkpoints`, { label: 'before-review' });
      const f = await ok('POST /v1/sessions/{sessionId}/fork', `/v1/sessions/${sid}/fork`, { sourceCheckpointLabel: 'before-review', newTags: { 'review-track': 'proposal-b' } });
      fork = f.id;
      expect(f.tags).toEqual({ task: 'bugfix-123', owner: 'alice', 'review-track': 'proposal-b' });
    });

    it('filesystem mutations, manifest (extension fields included), symlinks, CAS extents, xattrs', async () => {
      await ok('POST /v1/sessions/{sessionId}/dirs', `/v1/sessions/${sid}/dirs`, { path: '/src/features', mode: 493 });
      await ok('POST /v1/sessions/{sessionId}/batch', `/v1/sessions/${sid}/batch`, {
        operations: [
          { write: { path: '/src/generated/version.ts', content: b64('export const VERSION = "1.2.0";\n'), expectedHash: '' } },
          { segmentWrite: { path: '/src/changelog.txt', segments: [{ data: { offset: '0', content: b64('Changed login validation.\n') } }], logicalSize: '25', expectedHash: '', mode: 33188 } },
        ],
      });
      const patched = await ok('POST /v1/sessions/{sessionId}/patchSegments', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [{ path: '/src/feature.flag', segments: [{ hole: { offset: '0', length: '4' } }, { data: { offset: '4', content: b64('on\n') } }] }],
        conflictPolicy: 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING',
      });
      expect(patched.skippedPaths).toEqual([]);
      await ok('POST /v1/sessions/{sessionId}/symlinks', `/v1/sessions/${sid}/symlinks`, { linkPath: '/app/current-config', target: '/app/configs/release' });
      await ok('POST /v1/sessions/{sessionId}:link', `/v1/sessions/${sid}:link`, { srcPath: '/src/main.ts', dstPath: '/src/main-copy.ts' });
      await ok('POST /v1/sessions/{sessionId}:setXattr', `/v1/sessions/${sid}:setXattr`, { path: '/src/main.ts', name: 'user.review.status', value: b64('needs-attention') });
      await ok('POST /v1/sessions/{sessionId}:rename', `/v1/sessions/${sid}:rename`, { sourcePath: '/src/features', destinationPath: '/src/feature-dir' });

      const m = await ok('GET /v1/sessions/{sessionId}/manifest', `/v1/sessions/${sid}/manifest?pathPrefix=/src&includeCasExtents=true`);
      // The prefix node itself comes first; the root is never listed.
      expect(m.nodes[0]).toMatchObject({ path: '/src', fileType: 'VFS_FILE_TYPE_DIRECTORY', sizeBytes: '0', contentHash: '', mode: 16877 });
      const main = m.nodes.find((n: any) => n.path === '/src/main.ts');
      expect(main).toMatchObject({ nlink: 2, xattrNames: ['user.review.status'] });
      expect(m.nodes.find((n: any) => n.path === '/src/feature.flag').casExtents[0]).toEqual({ offset: '0', length: '4', hash: '', casOffset: '0' });
      const root = await ok('GET /v1/sessions/{sessionId}/manifest', `/v1/sessions/${sid}/manifest?pageSize=2`);
      expect(root.nodes.map((n: any) => n.path)).not.toContain('/');
      expect(root.nextPageToken).not.toBe('');
      const page2 = await ok('GET /v1/sessions/{sessionId}/manifest', `/v1/sessions/${sid}/manifest?pageSize=2&pageToken=${root.nextPageToken}`);
      expect(page2.nodes.length).toBeGreaterThan(0);
      const withLink = await ok('GET /v1/sessions/{sessionId}/manifest', `/v1/sessions/${sid}/manifest?pathPrefix=/app&maxDepth=1`);
      expect(withLink.nodes.find((n: any) => n.path === '/app/current-config')).toMatchObject({ fileType: 'VFS_FILE_TYPE_SYMLINK', symlinkTarget: '/app/configs/release' });

      await ok('GET /v1/sessions/{sessionId}/symlinks', `/v1/sessions/${sid}/symlinks?pathPrefix=/app&pageSize=50`);
      await ok('GET /v1/sessions/{sessionId}/readSymlink', `/v1/sessions/${sid}/readSymlink?path=/app/current-config`);
      const ext = await ok('POST /v1/sessions/{sessionId}:getCasExtents', `/v1/sessions/${sid}:getCasExtents`, { path: '/src/main.ts' });
      expect(ext.extents.length).toBeGreaterThan(0);
      await ok('POST /v1/sessions/{sessionId}:listXattrs', `/v1/sessions/${sid}:listXattrs`, { path: '/src/main.ts' });
      await ok('POST /v1/sessions/{sessionId}:getXattr', `/v1/sessions/${sid}:getXattr`, { path: '/src/main.ts', name: 'user.review.status' });
      await ok('POST /v1/sessions/{sessionId}:unlink', `/v1/sessions/${sid}:unlink`, { path: '/src/main-copy.ts' });
      await ok('POST /v1/sessions/{sessionId}:removeXattr', `/v1/sessions/${sid}:removeXattr`, { path: '/src/main.ts', name: 'user.review.status' });
      await ok('POST /v1/sessions/{sessionId}/rename', `/v1/sessions/${sid}/rename`, { sourcePath: '/src/feature-dir', destinationPath: '/src/old-feature' });
      await ok('DELETE /v1/sessions/{sessionId}/dirs', `/v1/sessions/${sid}/dirs?path=/src/old-feature`);
      const flag = m.nodes.find((n: any) => n.path === '/src/feature.flag');
      await ok('DELETE /v1/sessions/{sessionId}/files', `/v1/sessions/${sid}/files?path=/src/feature.flag&expectedHash=${encodeURIComponent(flag.contentHash)}`);

      // Blob bytes (binary, so only the headers and the 404 envelope are checked against the contract).
      const blob = await fetch(`${t.url}/v1/sessions/${sid}/blobs/${encodeURIComponent(ext.extents[0].hash)}`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(blob.status).toBe(200);
      expect(blob.headers.get('etag')).toBe(`"${ext.extents[0].hash}"`);
      expect(blob.headers.get('cache-control')).toBe(spec.paths['/v1/sessions/{sessionId}/blobs/{hash}'].get.responses['200'].headers['Cache-Control'].example);
      expect(Buffer.from(await blob.arrayBuffer()).toString()).toBe('export const main = 1;\n');
      const noBlob = await call('GET', `/v1/sessions/${sid}/blobs/${encodeURIComponent('sha256:' + 'e'.repeat(64))}`);
      expect(noBlob.status).toBe(404);
      conforms('GET /v1/sessions/{sessionId}/blobs/{hash}', noBlob);

      // A borrowed segment naming a blob the tenant does not hold: 9, as the contract says.
      const borrowed = await call('POST', `/v1/sessions/${sid}/patchSegments`, {
        mutations: [{ path: '/g', segments: [{ borrowed: { offset: '0', length: '1', hash: 'sha256:' + 'e'.repeat(64), casOffset: '0' } }] }],
      });
      expect(borrowed.status).toBe(400);
      expect(borrowed.body.code).toBe(9);
      conforms('POST /v1/sessions/{sessionId}/patchSegments', borrowed);
    });

    it('checkpoints list and restore', async () => {
      const list = await ok('GET /v1/sessions/{sessionId}/checkpoints', `/v1/sessions/${sid}/checkpoints`);
      expect(list.checkpoints).toHaveLength(1);
      // Checkpoints belong to one session: a fork does not inherit its parent's.
      expect((await ok('GET /v1/sessions/{sessionId}/checkpoints', `/v1/sessions/${fork}/checkpoints`)).checkpoints).toEqual([]);
      const cp = await ok('POST /v1/sessions/{sessionId}/checkpoints', `/v1/sessions/${fork}/checkpoints`, { label: 'fork-start' });
      const restored = await ok('POST /v1/sessions/{sessionId}/restore', `/v1/sessions/${fork}/restore`, { label: 'fork-start' });
      expect(restored).toEqual({ checkpointId: cp.id });
    });

    it('annotations, approvals (list and get) and commit', async () => {
      const added = await ok('POST /v1/sessions/{sessionId}/annotations', `/v1/sessions/${sid}/annotations`, { filePath: '/src/main.ts', lineNumber: 1, comment: 'needs coverage' });
      const stale = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/main.ts', expectedContentHash: 'sha256:' + '0'.repeat(64), comment: 'stale' });
      expect(stale.body.code).toBe(9);
      conforms('POST /v1/sessions/{sessionId}/annotations', stale);
      await ok('GET /v1/sessions/{sessionId}/annotations', `/v1/sessions/${sid}/annotations?filePath=/src/main.ts`);
      await ok('PATCH /v1/sessions/{sessionId}/annotations/{annotationId}', `/v1/sessions/${sid}/annotations/${added.annotation.id}`, { newStatus: 'ANNOTATION_STATUS_RESOLVED' });

      const { approvalId } = await ok('POST /v1/sessions/{sessionId}/request-approval', `/v1/sessions/${sid}/request-approval`, {
        reason: 'COMMIT_TO_MAIN',
        details: { summary: 'Applies the fix.', changedFiles: ['/src/main.ts'] },
      });
      const pending = await ok('GET /v1/sessions/{sessionId}/approvals', `/v1/sessions/${sid}/approvals`);
      expect(pending.approvals[0]).toMatchObject({ approvalId, state: 'APPROVAL_STATE_PENDING', resolvedAt: '' });
      await ok('POST /v1/sessions/{sessionId}/approvals/{approvalId}/grant', `/v1/sessions/${sid}/approvals/${approvalId}/grant`, {});
      const again = await call('POST', `/v1/sessions/${sid}/approvals/${approvalId}/grant`, {});
      expect(again.body.code).toBe(9);
      conforms('POST /v1/sessions/{sessionId}/approvals/{approvalId}/grant', again);
      await ok('GET /v1/sessions/{sessionId}/approvals/{approvalId}', `/v1/sessions/${sid}/approvals/${approvalId}`);
      const d = await ok('GET /v1/sessions/{sessionId}/diff', `/v1/sessions/${sid}/diff?statWidth=100`);
      expect(d.diff.filesChanged).toBeGreaterThan(0);
      const c = await ok('POST /v1/sessions/{sessionId}/commit', `/v1/sessions/${sid}/commit`, {
        message: 'Fix login validation',
        author: { name: 'Alice Example', email: 'alice@example.com' },
        gitBranch: { branchName: 'fix/login-validation' },
      });
      expect(c.commitId).toMatch(/^[0-9a-f]{40}$/);
      const second = await ok('POST /v1/sessions/{sessionId}/request-approval', `/v1/sessions/${sid}/request-approval`, { reason: 'COMMIT_TO_MAIN' });
      await ok('POST /v1/sessions/{sessionId}/approvals/{approvalId}/deny', `/v1/sessions/${sid}/approvals/${second.approvalId}/deny`, { feedback: 'Split the change.' });
      const denied = await ok('GET /v1/sessions/{sessionId}/approvals/{approvalId}', `/v1/sessions/${sid}/approvals/${second.approvalId}`);
      expect(denied).toMatchObject({ state: 'APPROVAL_STATE_DENIED', feedback: 'Split the change.' });
      const promoted = await ok('POST /v1/sources/{sourceId}/promoteSession', `/v1/sources/${sourceId}/promoteSession`, { sessionId: sid, revisionLabel: 'release-candidate-7' });
      expect(promoted.state).toBe('UNDERLAY_IMPORT_JOB_STATE_QUEUED');
    });

    it('cache hit and miss, bus publish and one streamed item', async () => {
      await ok('PUT /v1/sessions/{sessionId}/cache/{key}', `/v1/sessions/${sid}/cache/analysis.summary`, { value: b64('{"risk":"low"}'), ttlSeconds: 3600 });
      const hit = await ok('GET /v1/sessions/{sessionId}/cache/{key}', `/v1/sessions/${sid}/cache/analysis.summary`);
      expect(hit.found).toBe(true);
      const miss = await ok('GET /v1/sessions/{sessionId}/cache/{key}', `/v1/sessions/${sid}/cache/missing`);
      expect(miss).toEqual({ value: '', found: false });
      await ok('DELETE /v1/sessions/{sessionId}/cache/{key}', `/v1/sessions/${sid}/cache/analysis.summary`);

      await ok('POST /v1/sessions/{sessionId}/bus:publish', `/v1/sessions/${sid}/bus:publish`, { topic: 'review:status', payload: b64('{"status":"ready"}') });
      const ac = new AbortController();
      const res = await fetch(`${t.url}/v1/sessions/${sid}/bus?topics=review:status&scope=SESSION_ONLY&replayLimit=1`, { headers: { authorization: `Bearer ${t.token}` }, signal: ac.signal });
      expect(res.headers.get('content-type')).toBe('application/x-ndjson');
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('\n')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      ac.abort();
      conforms('GET /v1/sessions/{sessionId}/bus', { status: 200, body: JSON.parse(text.split('\n')[0]!), headers: res.headers }, 'application/x-ndjson');
    });

    it('events: list, eventType/afterEventId filters, and details.clientId from x-aether-client-id', async () => {
      await ok('POST /v1/sessions/{sessionId}/dirs', `/v1/sessions/${empty}/dirs`, { path: '/mine' }, { 'x-aether-client-id': 'mount-7f3a2c' });
      await ok('POST /v1/sessions/{sessionId}/dirs', `/v1/sessions/${empty}/dirs`, { path: '/theirs' });
      const all = await ok('GET /v1/sessions/{sessionId}/events', `/v1/sessions/${empty}/events?pageSize=2`);
      expect(all.events.map((e: any) => e.eventType)).toEqual(['v1.SessionService.CreateSession', 'v1.FileSystemService.CreateDirectory']);
      expect(all.nextPageToken).not.toBe('');
      const dirs = await ok(
        'GET /v1/sessions/{sessionId}/events',
        `/v1/sessions/${empty}/events?eventType=v1.FileSystemService.CreateDirectory&eventType=v1.FileSystemService.Rename`,
      );
      expect(dirs.events.map((e: any) => e.details)).toEqual([{ path: '/mine', clientId: 'mount-7f3a2c' }, { path: '/theirs' }]);
      const after = await ok('GET /v1/sessions/{sessionId}/events', `/v1/sessions/${empty}/events?afterEventId=${dirs.events[0].eventId}&waitSeconds=1`);
      expect(after.events.map((e: any) => e.details.path)).toEqual(['/theirs']);
      // Event types beyond the seed enum (extension values) validate too.
      await ok('PUT /v1/sessions/{sessionId}/secrets/{secretName}', `/v1/sessions/${empty}/secrets/NPM_TOKEN`, { secretValue: 'npm_x', scope: 'SECRET_SCOPE_SESSION' });
      const secretEvents = await ok('GET /v1/sessions/{sessionId}/events', `/v1/sessions/${empty}/events?eventType=v1.SecretService.SetSecret`);
      expect(secretEvents.events).toHaveLength(1);
    });

    it('secrets list/get/delete', async () => {
      await ok('PUT /v1/sessions/{sessionId}/secrets/{secretName}', `/v1/sessions/${sid}/secrets/OPENAI_API_KEY`, { secretValue: 'sk_x', scope: 'SECRET_SCOPE_TENANT' });
      const list = await ok('GET /v1/sessions/{sessionId}/secrets', `/v1/sessions/${empty}/secrets`);
      expect(list.secrets).toEqual([
        { secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' },
        { secretName: 'OPENAI_API_KEY', scope: 'SECRET_SCOPE_TENANT' },
      ]);
      await ok('GET /v1/sessions/{sessionId}/secrets/{secretName}', `/v1/sessions/${empty}/secrets/OPENAI_API_KEY?scope=SECRET_SCOPE_TENANT`);
      await ok('DELETE /v1/sessions/{sessionId}/secrets/{secretName}', `/v1/sessions/${empty}/secrets/NPM_TOKEN?scope=SECRET_SCOPE_SESSION`);
    });

    it('health before and after a report, analytics, usage, CAS metrics', async () => {
      const before = await ok('GET /v1/sessions/{sessionId}/health', `/v1/sessions/${fork}/health`);
      expect(before.health).toEqual({ status: 'STATUS_UNKNOWN', testsPassed: 0, testsFailed: 0, testsSkipped: 0 });
      const noHealth = await ok('GET /v1/sessions/{sessionId}/analytics', `/v1/sessions/${fork}/analytics`);
      expect(noHealth.lastReportedHealth).toBeUndefined();
      await ok('POST /v1/sessions/{sessionId}/health/report', `/v1/sessions/${sid}/health/report`, {
        reportFormat: 'junit-xml/v1',
        reportContent: b64('<testsuite tests="2" failures="0"/>'),
      });
      await ok('POST /v1/sessions/{sessionId}/health:testResults', `/v1/sessions/${sid}/health:testResults`, {
        reportFormat: 'junit-xml/v1',
        reportContent: b64('<testsuite tests="3" failures="1" skipped="1"/>'),
      });
      await ok('GET /v1/sessions/{sessionId}/health', `/v1/sessions/${sid}/health`);
      const a = await ok('GET /v1/sessions/{sessionId}/analytics', `/v1/sessions/${sid}/analytics`);
      expect(a.completionTime).toBeDefined();
      await ok('GET /v1/usage', '/v1/usage?windowStart=2026-03-01T00:00:00Z&windowEnd=2026-03-31T23:59:59Z&granularity=day');
      await ok('GET /v1/metrics/cas', '/v1/metrics/cas');
      // Storage administration (extensions): a throwaway session deleted, a dry-run GC, the storage report.
      const doomed = (await ok('POST /v1/sessions', '/v1/sessions', {})).id;
      await ok('DELETE /v1/sessions/{sessionId}', `/v1/sessions/${doomed}`);
      await ok('POST /v1/admin/gc', '/v1/admin/gc', { dryRun: true });
      await ok('GET /v1/admin/storage', '/v1/admin/storage');
    });

    it('POSIX locks (get, set, flock, funlock, releasePosixLocks) and collaboration locks', async () => {
      const owner = { ownerId: '1001', pid: 4242, clientId: '7' };
      await ok('POST /v1/sessions/{sessionId}:setPosixLock', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_EXCLUSIVE', range: { start: '0', length: '0' }, owner });
      const c = await ok('POST /v1/sessions/{sessionId}:getPosixLock', `/v1/sessions/${sid}:getPosixLock`, {
        path: '/src/main.ts',
        kind: 'POSIX_LOCK_KIND_SHARED',
        range: { start: '0', length: '10' },
        owner: { ownerId: '1002', pid: 4310, clientId: '8' },
      });
      expect(c).toMatchObject({ hasConflict: true, conflict: { owner } });
      const conflict = await call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', owner: { ownerId: '1002', clientId: '8' } });
      expect(conflict.body.code).toBe(10);
      conforms('POST /v1/sessions/{sessionId}:setPosixLock', conflict);
      const timedOut = await call('POST', `/v1/sessions/${sid}:setPosixLockBlocking`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', owner: { ownerId: '1002', clientId: '8' }, timeoutMs: 50 });
      expect(timedOut.status).toBe(504);
      expect(timedOut.body.code).toBe(4);
      conforms('POST /v1/sessions/{sessionId}:setPosixLockBlocking', timedOut);
      await ok('POST /v1/sessions/{sessionId}:flock', `/v1/sessions/${sid}:flock`, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_SHARED', owner, blocking: false });
      await ok('POST /v1/sessions/{sessionId}:flock', `/v1/sessions/${sid}:flock`, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_UNLOCK', owner });
      await ok('POST /v1/sessions/{sessionId}:flock', `/v1/sessions/${sid}:flock`, { path: '/src/main.ts', mode: 'POSIX_FLOCK_MODE_EXCLUSIVE', owner });
      const released = await ok('POST /v1/sessions/{sessionId}:releasePosixLocks', `/v1/sessions/${sid}:releasePosixLocks`, { owner: { clientId: '7' } });
      expect(released).toEqual({ releasedLocks: 2, cancelledWaits: 0 });
      await ok('POST /v1/sessions/{sessionId}:funlock', `/v1/sessions/${sid}:funlock`, { path: '/src/main.ts', owner, range: { start: '0', length: '0' }, isFlock: false });
      await ok('POST /v1/sessions/{sessionId}:setPosixLockBlocking', `/v1/sessions/${sid}:setPosixLockBlocking`, { path: '/src/main.ts', kind: 'POSIX_LOCK_KIND_SHARED', owner, timeoutMs: 1000 });
      expect(await ok('POST /v1/sessions/{sessionId}:releasePosixLocks', `/v1/sessions/${sid}:releasePosixLocks`, { owner: { clientId: '7', ownerId: '1001' } })).toEqual({ releasedLocks: 1, cancelledWaits: 0 });

      const { lockId } = await ok('POST /v1/sessions/{sessionId}/files/lock', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts', timeoutSeconds: 300 });
      await ok('POST /v1/sessions/{sessionId}/files/renew-lock', `/v1/sessions/${sid}/files/renew-lock`, { path: '/src/main.ts', lockId, timeoutSeconds: 300 });
      const locks = await ok('POST /v1/sessions/{sessionId}/files/list-locks', `/v1/sessions/${sid}/files/list-locks`, { pathPrefix: '/src' });
      expect(locks.locks).toHaveLength(1);
      await ok('POST /v1/sessions/{sessionId}/files/force-unlock', `/v1/sessions/${sid}/files/force-unlock`, { path: '/src/main.ts', reason: 'client crashed' });
      const again = await ok('POST /v1/sessions/{sessionId}/files/lock', `/v1/sessions/${sid}/files/lock`, { path: '/src/main.ts' });
      await ok('POST /v1/sessions/{sessionId}/files/unlock', `/v1/sessions/${sid}/files/unlock`, { path: '/src/main.ts', lockId: again.lockId });
    });

    it('errors are rpcStatus: another tenant\'s session is 5, like a missing one', async () => {
      const other = await t.tokenFor('contract-other');
      const r = await call('GET', `/v1/sessions/${sid}`, undefined, { authorization: `Bearer ${other}` });
      expect(r.status).toBe(404);
      expect(r.body.code).toBe(5);
      conforms('GET /v1/sessions/{sessionId}', r);
      const unauth = await call('GET', `/v1/sessions/${sid}`, undefined, { authorization: 'Bearer nope' });
      expect(unauth.status).toBe(401);
      conforms('GET /v1/sessions/{sessionId}', unauth);
    });

    it('covered every operation the sample requires', () => {
      const required = [
        'POST /v1/sessions',
        'GET /v1/sessions/{sessionId}',
        'POST /v1/sessions/{sessionId}/fork',
        'GET /v1/sessions/{sessionId}/manifest',
        'POST /v1/sessions/{sessionId}/checkpoints',
        'GET /v1/sessions/{sessionId}/checkpoints',
        'POST /v1/sessions/{sessionId}/annotations',
        'GET /v1/sessions/{sessionId}/annotations',
        'GET /v1/sessions/{sessionId}/approvals',
        'GET /v1/sessions/{sessionId}/cache/{key}',
        'GET /v1/sessions/{sessionId}/events',
        'GET /v1/sessions/{sessionId}/health',
        'GET /v1/sessions/{sessionId}/analytics',
        'GET /v1/usage',
        'GET /v1/metrics/cas',
        'POST /v1/sources',
        'GET /v1/sources/{sourceId}',
        'GET /v1/sources',
        'GET /v1/sources/{sourceId}/jobs/{jobId}',
        'GET /v1/sessions/{sessionId}/secrets',
      ];
      expect(required.filter((k) => !validated.has(k))).toEqual([]);
      // In fact every JSON operation of the contract was exercised with a validated 200; only the
      // blob route answers bytes (its 404 envelope and headers are checked above).
      const all = Object.entries<Json>(spec.paths).flatMap(([p, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${p}`));
      expect(all.filter((k) => !validated.has(k))).toEqual(['GET /v1/sessions/{sessionId}/blobs/{hash}']);
    });
  });
});
