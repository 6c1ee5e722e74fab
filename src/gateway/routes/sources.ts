// Route family: underlay sources (git remotes), their import/refresh/promote jobs and job polling.
//
// POST /v1/sources first checks the remote with `git ls-remote` (unreadable → 9, no such ref → 5, so
// a bad --ref fails at create, not 40 s later in a job), registers it and queues the initial import
// of `defaultRef`; it then
// waits up to INITIAL_IMPORT_WAIT_MS for that import, so a small repository answers READY with
// `latestRevisionId` set (as in the seed example), while a large one answers IMPORTING and the
// client polls GET /v1/sources/{id} (whose `lastJob` extension carries the job, its live counts and
// its error) like after startImport. The other mutating routes only queue a job and return its
// v1ImportJob immediately (state QUEUED) — or the identical import/refresh already queued or
// running, so `source create` + `source import --wait` is one import; git work happens in GitService.
//
// Invariants: sources and jobs are tenant-private (another tenant's id is NOT_FOUND); a job is only
// visible under its own source.
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { ApiError, invalidArgument, notFound } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import {
  decodePageToken,
  encodePageToken,
  optionalString,
  parseObject,
  parsePageSize,
  parseStringMap,
  requireString,
} from '../http/validate.js';
import { newId } from '../../shared/digest.js';
import { gitService } from '../git/git-service.js';
import { importRefProblem, remoteUrlProblem } from '../git/refs.js';
import { jobJson, sourceJson, type SourceRow } from '../git/source-repo.js';
import { assertNoPendingApproval } from './sessions.js';
import type { ListSourcesResponse } from '../../protocol/types.js';

/** How long POST /v1/sources waits for the initial import before answering IMPORTING. */
export const INITIAL_IMPORT_WAIT_MS = 10_000;

const MAX_NAME = 256;

/** One `key=value` term of a list filter. */
interface FilterTerm {
  key: string;
  value: string;
}

/**
 * Parse a sources filter: `key=value` terms (value optionally "double-quoted") separated by
 * spaces, commas or the word AND; all must match. `displayName` matches the display name,
 * `labels.k` or a bare `k` matches label k.
 */
export function parseSourceFilter(filter: string): FilterTerm[] {
  const terms: FilterTerm[] = [];
  let i = 0;
  const n = filter.length;
  const isSep = (c: string) => c === ' ' || c === ',' || c === '\t' || c === '\n';
  while (i < n) {
    while (i < n && isSep(filter[i]!)) i++;
    if (i >= n) break;
    let key = '';
    while (i < n && filter[i] !== '=' && filter[i] !== ':' && !isSep(filter[i]!)) key += filter[i++];
    if (i >= n || isSep(filter[i]!)) {
      if (key.toUpperCase() === 'AND') continue;
      throw invalidArgument(`filter term ${JSON.stringify(key)} must look like key=value`);
    }
    i++; // '=' or ':'
    let value = '';
    if (filter[i] === '"') {
      i++;
      while (i < n && filter[i] !== '"') {
        if (filter[i] === '\\' && i + 1 < n) i++;
        value += filter[i++];
      }
      if (i >= n) throw invalidArgument('filter has an unterminated quoted value');
      i++;
    } else {
      while (i < n && !isSep(filter[i]!)) value += filter[i++];
    }
    if (!key) throw invalidArgument('filter term has an empty key');
    terms.push({ key, value });
  }
  return terms;
}

function matches(row: SourceRow, terms: FilterTerm[]): boolean {
  const labels = JSON.parse(row.labels) as Record<string, string>;
  return terms.every(({ key, value }) => {
    if (key === 'displayName' || key === 'display_name') return row.display_name === value;
    const k = key.startsWith('labels.') ? key.slice('labels.'.length) : key;
    return labels[k] === value;
  });
}

export function registerSourceRoutes(router: Router, core: GatewayCore): void {
  const git = gitService(core);
  const repo = git.repo;
  git.resume();

  router.post('/v1/sources', async (ctx) => {
    const b = ctx.body;
    const displayName = requireString(b.displayName, 'displayName', { maxLength: MAX_NAME });
    const remote = parseObject(b.gitRemote, 'gitRemote');
    const remoteUrl = requireString(remote.remoteUrl, 'gitRemote.remoteUrl');
    const urlProblem = remoteUrlProblem(remoteUrl);
    if (urlProblem) throw invalidArgument(`gitRemote.remoteUrl ${urlProblem}`);
    const refused = await git.remoteProblem(remoteUrl, ctx.principal.tenantId);
    if (refused) throw new ApiError(RpcCode.PERMISSION_DENIED, `gitRemote.remoteUrl ${refused}`);
    const defaultRef = optionalString(remote.defaultRef, 'gitRemote.defaultRef') ?? 'main';
    const refProblem = importRefProblem(defaultRef);
    if (refProblem) throw invalidArgument(`gitRemote.defaultRef ${refProblem}`);
    const credentialsSecretId = optionalString(remote.credentialsSecretId, 'gitRemote.credentialsSecretId') ?? '';
    const labels = parseStringMap(b.labels, 'labels');
    for (const k of Object.keys(labels)) if (!k) throw invalidArgument('labels must not have an empty key');

    const now = core.clock.now();
    const id = newId('src', now);
    // Fail now, not in the background job: an unreadable remote (9) or a missing ref (5).
    await git.probeRemote({ id, tenant_id: ctx.principal.tenantId, remote_url: remoteUrl, credentials_secret_id: credentialsSecretId }, defaultRef);
    core.db
      .prepare(
        `INSERT INTO sources (id, tenant_id, display_name, kind, status, remote_url, default_ref, credentials_secret_id, labels, latest_revision_id, created_by, created_at, updated_at)
         VALUES (?, ?, ?, 'UNDERLAY_SOURCE_KIND_GIT_REMOTE', 'UNDERLAY_SOURCE_STATUS_IMPORTING', ?, ?, ?, ?, '', ?, ?, ?)`,
      )
      .run(id, ctx.principal.tenantId, displayName, remoteUrl, defaultRef, credentialsSecretId, JSON.stringify(labels), ctx.principal.principalId, now, now);
    const job = git.createJob(repo.loadSource(id)!, 'import', { gitRef: '' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      git.whenDone(job.id),
      new Promise<void>((r) => {
        timer = setTimeout(r, INITIAL_IMPORT_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return sourceJson(repo.loadSource(id)!, repo.loadJob(job.id));
  });

  router.get('/v1/sources', (ctx) => {
    const filter = ctx.query.get('filter') ?? '';
    const terms = parseSourceFilter(filter);
    const pageSize = parsePageSize(ctx.query.get('pageSize'), 50, 1000);
    const token = decodePageToken<{ r: number }>(ctx.query.get('pageToken'), (t) => Number.isSafeInteger(t.r));
    const stmt = core.db.prepare('SELECT rowid AS r, * FROM sources WHERE tenant_id = ? AND rowid > ? ORDER BY rowid LIMIT 500');
    const out: Array<SourceRow & { r: number }> = [];
    let after = token?.r ?? 0;
    let more = false;
    for (;;) {
      const rows = stmt.all(ctx.principal.tenantId, after) as Array<SourceRow & { r: number }>;
      for (const row of rows) {
        after = row.r;
        if (!matches(row, terms)) continue;
        if (out.length === pageSize) {
          more = true;
          break;
        }
        out.push(row);
      }
      if (more || rows.length < 500) break;
    }
    const res: ListSourcesResponse = {
      sources: out.map((row) => sourceJson(row, repo.latestJob(row.id))),
      nextPageToken: more ? encodePageToken({ r: out[out.length - 1]!.r }) : '',
    };
    return res;
  });

  router.get('/v1/sources/{sourceId}', (ctx) => {
    const row = repo.getSource(ctx.principal, ctx.params.sourceId!);
    return sourceJson(row, repo.latestJob(row.id));
  });

  router.post('/v1/sources/{sourceId}/startImport', (ctx) => {
    const source = repo.getSource(ctx.principal, ctx.params.sourceId!);
    const spec = parseObject(ctx.body.git, 'git');
    const gitRef = optionalString(spec.gitRef, 'git.gitRef') ?? '';
    const problem = gitRef ? importRefProblem(gitRef) : undefined;
    if (problem) throw invalidArgument(`git.gitRef ${problem}`);
    // One import per request: an identical import still queued or running is that request's job.
    return jobJson(repo.activeImport(source, gitRef) ?? git.createJob(source, 'import', { gitRef }));
  });

  router.post('/v1/sources/{sourceId}/refresh', (ctx) => {
    const source = repo.getSource(ctx.principal, ctx.params.sourceId!);
    const gitRef = optionalString(ctx.body.gitRef, 'gitRef') ?? '';
    const problem = gitRef ? importRefProblem(gitRef) : undefined;
    if (problem) throw invalidArgument(`gitRef ${problem}`);
    return jobJson(repo.activeImport(source, gitRef) ?? git.createJob(source, 'refresh', { gitRef }));
  });

  router.post('/v1/sources/{sourceId}/promoteSession', async (ctx) => {
    const source = repo.getSource(ctx.principal, ctx.params.sourceId!);
    const sessionId = requireString(ctx.body.sessionId, 'sessionId');
    const revisionLabel = optionalString(ctx.body.revisionLabel, 'revisionLabel') ?? '';
    if (revisionLabel.length > MAX_NAME) throw invalidArgument(`revisionLabel is longer than ${MAX_NAME} characters`);
    const session = core.sessions.get(ctx.principal, sessionId);
    // Capture the tree once in-flight mutations of the session have landed.
    const root = await core.sessions.withLock(session.id, async () => {
      const cur = core.sessions.reload(session.id);
      assertNoPendingApproval(core, cur, 'promote it');
      return cur.root;
    });
    return jobJson(git.createJob(source, 'promote', { sessionId: session.id, root, revisionLabel, principalId: ctx.principal.principalId }));
  });

  router.get('/v1/sources/{sourceId}/jobs/{jobId}', (ctx) => {
    const source = repo.getSource(ctx.principal, ctx.params.sourceId!);
    const job = repo.getJob(source.id, ctx.params.jobId!);
    if (!job) throw notFound(`job ${ctx.params.jobId} not found for source ${source.id}`);
    return jobJson(job);
  });
}
