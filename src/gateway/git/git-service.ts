// The gateway's git side: one bare mirror per source at `<dataDir>/git/<sourceId>.git`, the
// background job queue that imports, refreshes and promotes sources, the up-front remote probe
// (`git ls-remote`) of a new source, and commit (+ dry run, diff) + push of a session tree. One GitService per GatewayCore (`gitService(core)`), shared by the source,
// session and commit routes.
//
// Invariants:
// - Every operation on a mirror runs under that source's mirror lock (fetches, fast-import and
//   pushes of one mirror never interleave); jobs of one source run in creation order.
// - Jobs are durable rows: QUEUED → RUNNING → SUCCEEDED | FAILED. A job interrupted by gateway
//   shutdown goes back to QUEUED and is resumed by the next gateway on the same data dir.
// - A failed refresh never takes a READY source down: only a source without any revision becomes
//   FAILED.
// - Every fetch and push first passes the local-remote policy (git/local-remotes.ts).
// - Temporary commits (dry runs, diffs, no-op commits) never keep a ref in the mirror.
// - Credentials (the tenant-scoped secret named by `credentialsSecretId`: "user:password", or a
//   bare token sent as user "x-access-token") reach git only through the child's environment;
//   remote URLs are redacted in every message. A missing secret is logged and the fetch proceeds
//   anonymously (public remotes need none).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { GatewayCore } from '../core.js';
import { ApiError } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { openSecret } from '../routes/secrets.js';
import { newId } from '../../shared/digest.js';
import { credentialEnv, GitError, redact, runGit } from './git-runner.js';
import { importCommit, reusableContent, type ImportProgress } from './import.js';
import { writeCommit, type GitIdentity, type IgnoredSummary } from './export.js';
import { diffCommits, EMPTY_TREE, type DiffResult } from './diff.js';
import { refFormatProblem, SHA1_RE } from './refs.js';
import { LocalRemotePolicy } from './local-remotes.js';
import { collectMirrors } from './mirror-gc.js';
import {
  JOB_FAILED,
  JOB_QUEUED,
  JOB_RUNNING,
  JOB_SUCCEEDED,
  SourceRepo,
  type JobParams,
  type JobRow,
  type SourceRow,
} from './source-repo.js';

/** Outcome of GitService.commitSession. */
export interface SessionCommitResult {
  /** The new commit; the parent when nothing was created; "" for a dry run. */
  commitId: string;
  /** The commit it is based on ("" for a root commit). */
  parentId: string;
  /** A commit was created and pushed. */
  created: boolean;
  /** The tree equals the parent's. */
  unchanged: boolean;
  diff: DiffResult;
  ignored: IgnoredSummary;
  files: number;
  bytes: number;
}

/** A job failure with a machine-readable code (v1ImportJob.errorCode). */
export class JobError extends Error {
  constructor(readonly errorCode: string, message: string) {
    super(message);
    this.name = 'JobError';
  }
}

/** How long `probeRemote` waits for `git ls-remote`. */
const PROBE_TIMEOUT_MS = 60_000;

/** The parts of a source row needed to talk to its remote. */
export type RemoteSpec = Pick<SourceRow, 'id' | 'tenant_id' | 'remote_url' | 'credentials_secret_id'>;

interface RemoteAccess {
  url: string;
  env: Record<string, string>;
  config: string[];
  secrets: string[];
}

const services = new WeakMap<GatewayCore, GitService>();

/** The GitService of a gateway (created on first use; drained when the gateway closes). */
export function gitService(core: GatewayCore): GitService {
  let s = services.get(core);
  if (!s) {
    s = new GitService(core);
    services.set(core, s);
  }
  return s;
}

export class GitService {
  readonly repo: SourceRepo;
  private mirrorLocks = new Map<string, Promise<unknown>>();
  private jobChains = new Map<string, Promise<void>>();
  private completions = new Map<string, Promise<void>>();
  private readonly shutdown = new AbortController();
  private closed = false;
  private readonly localRemotes: LocalRemotePolicy;

  constructor(private core: GatewayCore) {
    this.repo = new SourceRepo(core.db);
    this.localRemotes = new LocalRemotePolicy({ dataDir: core.dataDir, allowLocalRemotes: core.allowLocalRemotes });
    core.onClose(() => this.close());
    // The mirrors' own garbage (dry runs, deleted sessions' refs) goes with every gateway GC.
    core.gc.addPhase(async (opts) => (await collectMirrors(core, this, opts)) as unknown as Record<string, unknown>[]);
  }

  /** Path of the bare mirror of `sourceId`. */
  mirrorPath(sourceId: string): string {
    return path.join(this.core.dataDir, 'git', `${sourceId}.git`);
  }

  /** Run `fn` holding the mirror lock of `sourceId`. */
  async withMirror<T>(sourceId: string, fn: (gitDir: string) => Promise<T>): Promise<T> {
    const prev = this.mirrorLocks.get(sourceId) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => gate, () => gate);
    this.mirrorLocks.set(sourceId, chained);
    await prev.catch(() => undefined);
    try {
      return await fn(await this.ensureMirror(sourceId));
    } finally {
      release();
      if (this.mirrorLocks.get(sourceId) === chained) this.mirrorLocks.delete(sourceId);
    }
  }

  private async ensureMirror(sourceId: string): Promise<string> {
    const dir = this.mirrorPath(sourceId);
    try {
      await fsp.access(path.join(dir, 'HEAD'));
    } catch {
      await fsp.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
      await runGit(['init', '--bare', '--quiet', dir], { signal: this.shutdown.signal });
    }
    return dir;
  }

  // ---- remote access ----------------------------------------------------------------------------

  /** Why tenant `tenantId` may not use remote `url` (local-remote confinement), or undefined. */
  async remoteProblem(url: string, tenantId: string): Promise<string | undefined> {
    const row = this.core.db.prepare('SELECT name FROM tenants WHERE id = ?').get(tenantId) as { name: string } | undefined;
    return this.localRemotes.problem(url, row?.name === 'default');
  }

  /**
   * Check, before a source is created, that its remote answers (`git ls-remote`) and has `ref`:
   * FAILED_PRECONDITION when it cannot be read, NOT_FOUND (naming what it has) when the ref is
   * missing. A commit id cannot be checked this way and is left to the import.
   */
  async probeRemote(remote: RemoteSpec, ref: string): Promise<void> {
    const a = this.remoteAccess(remote);
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
    let out: string;
    try {
      out = (await runGit(['ls-remote', '--symref', a.url], { env: a.env, config: a.config, secrets: a.secrets, signal })).stdout.toString('utf8');
    } catch (err) {
      throw new ApiError(RpcCode.FAILED_PRECONDITION, `cannot read the git remote ${redact(remote.remote_url)}: ${signal.aborted && !this.shutdown.signal.aborted ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : gitMessage(err, a.secrets)}`);
    }
    if (SHA1_RE.test(ref)) return;
    const refs = new Set<string>();
    for (const line of out.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0 && !line.startsWith('ref: ')) refs.add(line.slice(tab + 1));
    }
    const wanted = ref === 'HEAD' ? ['HEAD'] : ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    if (wanted.some((w) => refs.has(w))) return;
    const list = (prefix: string) => [...refs].filter((r) => r.startsWith(prefix) && !r.endsWith('^{}')).map((r) => r.slice(prefix.length));
    const heads = list('refs/heads/');
    const tags = list('refs/tags/');
    const some = (xs: string[]) => xs.slice(0, 10).join(', ') + (xs.length > 10 ? `, … (${xs.length} in all)` : '');
    const has = heads.length || tags.length ? `it has ${heads.length ? `branches ${some(heads)}` : 'no branches'}${tags.length ? `; tags ${some(tags)}` : ''}` : 'it has no branches or tags (an empty repository?)';
    throw new ApiError(RpcCode.NOT_FOUND, `ref ${JSON.stringify(ref)} was not found in the git remote ${redact(remote.remote_url)}: ${has}`);
  }

  /** URL plus credential environment for talking to the source's remote. */
  private remoteAccess(source: RemoteSpec): RemoteAccess {
    const url = source.remote_url;
    const access: RemoteAccess = { url, env: {}, config: [], secrets: [] };
    if (!source.credentials_secret_id) return access;
    const secret = this.readTenantSecret(source.tenant_id, source.credentials_secret_id);
    if (secret === undefined) {
      this.core.logger.warn('git credentials secret not found or unreadable; fetching anonymously', { sourceId: source.id, secretId: source.credentials_secret_id });
      return access;
    }
    // "user:password" when it contains a colon and no whitespace, else a token (GitHub-style user).
    const colon = secret.indexOf(':');
    const [user, pass] = colon > 0 && !/\s/.test(secret) ? [secret.slice(0, colon), secret.slice(colon + 1)] : ['x-access-token', secret.trim()];
    const c = credentialEnv(user, pass);
    return { url, env: c.env, config: c.config, secrets: [pass, secret] };
  }

  /** The value of the tenant-scoped secret `name`; undefined when absent or unreadable. */
  private readTenantSecret(tenantId: string, name: string): string | undefined {
    const row = this.core.db
      .prepare("SELECT ciphertext FROM secrets WHERE tenant_id = ? AND scope = 'SECRET_SCOPE_TENANT' AND session_id = '' AND name = ?")
      .get(tenantId, name) as { ciphertext: Buffer } | undefined;
    if (!row) return undefined;
    try {
      return openSecret(this.core.secretKey, { tenantId, scope: 'SECRET_SCOPE_TENANT', sessionId: '', name }, row.ciphertext);
    } catch {
      return undefined;
    }
  }

  /** Fetch branches and tags (and, when needed, the exact ref) of the remote into the mirror. */
  private async fetch(source: SourceRow, gitDir: string, ref: string): Promise<void> {
    const refused = await this.remoteProblem(source.remote_url, source.tenant_id);
    if (refused) throw new JobError('REMOTE_NOT_ALLOWED', `the remote ${redact(source.remote_url)} ${refused}`);
    const a = this.remoteAccess(source);
    const opts = { cwd: gitDir, env: a.env, config: a.config, secrets: a.secrets, signal: this.shutdown.signal };
    const specs = ['+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'];
    if (ref === 'HEAD') specs.push('+HEAD:refs/aether/remote/HEAD');
    else if (ref.startsWith('refs/') && !ref.startsWith('refs/heads/') && !ref.startsWith('refs/tags/')) specs.push(`+${ref}:refs/aether/remote/${ref.slice(5)}`);
    try {
      await runGit(['fetch', '--prune', '--quiet', '--no-recurse-submodules', a.url, ...specs], opts);
    } catch (err) {
      if (this.shutdown.signal.aborted) throw err;
      throw new JobError('GIT_FETCH_FAILED', `fetching ${redact(source.remote_url)} failed: ${gitMessage(err, a.secrets)}`);
    }
    if (SHA1_RE.test(ref) && !(await this.commitExists(gitDir, ref))) {
      // Not reachable from any branch or tag: ask for the object itself (servers may refuse).
      await runGit(['fetch', '--quiet', '--no-recurse-submodules', a.url, ref], opts).catch(() => undefined);
    }
  }

  private async commitExists(gitDir: string, rev: string): Promise<boolean> {
    return (await this.revParse(gitDir, rev)) !== undefined;
  }

  /** Resolve an import ref (short branch/tag name, full ref, HEAD or commit id) to a commit id. */
  private async resolve(gitDir: string, ref: string): Promise<string> {
    let candidates: string[];
    if (SHA1_RE.test(ref)) candidates = [ref];
    else if (ref === 'HEAD') candidates = ['refs/aether/remote/HEAD'];
    else if (ref.startsWith('refs/heads/')) candidates = ['refs/remotes/origin/' + ref.slice('refs/heads/'.length)];
    else if (ref.startsWith('refs/tags/')) candidates = [ref];
    else if (ref.startsWith('refs/')) candidates = ['refs/aether/remote/' + ref.slice(5)];
    else candidates = ['refs/remotes/origin/' + ref, 'refs/tags/' + ref];
    for (const c of candidates) {
      const commit = await this.revParse(gitDir, c);
      if (commit) return commit;
    }
    throw new JobError('REF_NOT_FOUND', `ref ${JSON.stringify(ref)} was not found in the remote (as a branch, tag or commit)`);
  }

  /**
   * Push `commit` to the source's remote as refs/heads/<branch>. A rejected non-fast-forward is
   * ABORTED (10); a refusal by the remote is FAILED_PRECONDITION (9); an unreachable remote is
   * UNAVAILABLE (14). Messages carry git's reason with URLs redacted.
   */
  private async push(source: SourceRow, gitDir: string, commit: string, branch: string): Promise<void> {
    const refused = await this.remoteProblem(source.remote_url, source.tenant_id);
    if (refused) throw new ApiError(RpcCode.PERMISSION_DENIED, `refusing to push: the source's remote ${redact(source.remote_url)} ${refused}`);
    const a = this.remoteAccess(source);
    try {
      await runGit(['push', '--porcelain', '--quiet', a.url, `${commit}:refs/heads/${branch}`], {
        cwd: gitDir,
        env: a.env,
        config: a.config,
        secrets: a.secrets,
        signal: this.shutdown.signal,
      });
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      const porcelain = redact(err.stdout.toString('utf8'), a.secrets);
      const line = porcelain.split('\n').find((l) => l.startsWith('!')) ?? '';
      const reason = /\[(?:remote )?rejected\]\s*\(?([^)]*)\)?/.exec(line)?.[1]?.trim() ?? '';
      if (line.includes('[rejected]')) {
        throw new ApiError(RpcCode.ABORTED, `push of ${commit} to branch ${branch} was rejected (${reason || 'non-fast-forward'}): the branch has commits that are not in this session's history; start a new session from the updated source (source refresh, then session create) and redo the change there, or commit to a new branch`);
      }
      if (line.includes('[remote rejected]')) {
        throw new ApiError(RpcCode.FAILED_PRECONDITION, `the remote refused branch ${branch}: ${reason || 'remote rejected'}`);
      }
      throw new ApiError(RpcCode.UNAVAILABLE, `pushing to ${redact(source.remote_url)} failed: ${gitMessage(err, a.secrets)}`);
    }
  }

  // ---- commit -------------------------------------------------------------------------------------

  /**
   * Commit tree `root` in the source's mirror and push it to the remote as refs/heads/<branch>.
   * The parent is the last commit this session pushed to that branch (so committing a session twice
   * to one branch makes a linear history), else `parent` (the session's base revision commit).
   * Untracked files matched by the tree's .gitignore rules are left out unless `includeIgnored`.
   * A tree equal to the parent's creates nothing (unless `allowEmpty`): `created` is false and
   * `commitId` is the parent. `dryRun` builds the commit and its diff but neither keeps nor pushes it.
   */
  async commitSession(opts: {
    source: SourceRow;
    sessionId: string;
    root: string;
    parent: string;
    author: GitIdentity;
    committer: GitIdentity;
    message: string;
    branch: string;
    includeIgnored?: boolean;
    allowEmpty?: boolean;
    dryRun?: boolean;
    statWidth?: number;
  }): Promise<SessionCommitResult> {
    return this.withMirror(opts.source.id, async (gitDir) => {
      const sessionRef = `refs/aether/sessions/${opts.sessionId}/heads/${opts.branch}`;
      const parent = await this.usableParent(opts.source, gitDir, (await this.revParse(gitDir, sessionRef)) ?? opts.parent);
      const ref = `refs/aether/${opts.dryRun ? 'dryrun' : 'commits'}/${newId('c', opts.committer.when)}`;
      const written = await this.write(gitDir, opts.root, parent, ref, opts.includeIgnored, { author: opts.author, committer: opts.committer, message: opts.message });
      try {
        const unchanged = (await this.treeOf(gitDir, written.commit)) === (parent ? await this.treeOf(gitDir, parent) : EMPTY_TREE);
        const diff = await diffCommits(gitDir, parent || EMPTY_TREE, written.commit, { statWidth: opts.statWidth, signal: this.shutdown.signal });
        const base = { parentId: parent, diff, ignored: written.ignored, unchanged, files: written.files, bytes: written.bytes };
        if (opts.dryRun) return { ...base, commitId: '', created: false };
        if (unchanged && !opts.allowEmpty) {
          await this.dropRef(gitDir, ref);
          return { ...base, commitId: parent, created: false };
        }
        await this.push(opts.source, gitDir, written.commit, opts.branch);
        await runGit(['update-ref', sessionRef, written.commit], { cwd: gitDir, signal: this.shutdown.signal });
        return { ...base, commitId: written.commit, created: true };
      } catch (err) {
        await this.dropRef(gitDir, ref);
        throw err;
      } finally {
        if (opts.dryRun) await this.dropRef(gitDir, ref);
      }
    });
  }

  /**
   * Diff of a session tree against the commit it started from (`parent`), or against another
   * tree of the session (`againstRoot`, a checkpoint), with the same .gitignore filtering a
   * commit applies. Nothing is kept in the mirror.
   */
  async diffSession(opts: { source: SourceRow; root: string; parent: string; againstRoot?: string; paths?: string[]; includeIgnored?: boolean; statWidth?: number }): Promise<{ from: string; diff: DiffResult; ignored: IgnoredSummary }> {
    return this.withMirror(opts.source.id, async (gitDir) => {
      const parent = await this.usableParent(opts.source, gitDir, opts.parent);
      const who: GitIdentity = { name: 'aether', email: 'aether@aether.local', when: this.core.clock.now() };
      const meta = { author: who, committer: who, message: 'aether diff\n' };
      const refs: string[] = [];
      const temp = async (root: string) => {
        const ref = `refs/aether/dryrun/${newId('d', who.when)}`;
        refs.push(ref);
        return this.write(gitDir, root, parent, ref, opts.includeIgnored, meta);
      };
      try {
        const head = await temp(opts.root);
        const from = opts.againstRoot ? (await temp(opts.againstRoot)).commit : parent || EMPTY_TREE;
        const diff = await diffCommits(gitDir, from, head.commit, { paths: opts.paths, statWidth: opts.statWidth, signal: this.shutdown.signal });
        return { from: opts.againstRoot ? '' : parent, diff, ignored: head.ignored };
      } finally {
        for (const r of refs) await this.dropRef(gitDir, r);
      }
    });
  }

  /** `parent` if the mirror has it (fetching once when it does not); "" stays "". */
  private async usableParent(source: SourceRow, gitDir: string, parent: string): Promise<string> {
    if (parent && !(await this.commitExists(gitDir, parent))) {
      // The mirror lost it (data dir copied without git/): fetch, then it must be there.
      await this.fetch(source, gitDir, parent).catch(() => undefined);
      if (!(await this.commitExists(gitDir, parent))) {
        throw new ApiError(RpcCode.FAILED_PRECONDITION, `the session's base commit ${parent} is no longer available in the source mirror`);
      }
    }
    return parent;
  }

  /** fast-import `root` as a commit on `ref`, filtering ignored files against `parent`'s tree. */
  private async write(gitDir: string, root: string, parent: string, ref: string, includeIgnored: boolean | undefined, meta: { author: GitIdentity; committer: GitIdentity; message: string }) {
    const tracked = includeIgnored ? undefined : await this.trackedPaths(gitDir, parent);
    try {
      return await writeCommit({
        core: this.core,
        repo: this.repo,
        gitDir,
        root,
        parent: parent || undefined,
        ...meta,
        ref,
        ...(tracked ? { ignore: { tracked } } : {}),
        signal: this.shutdown.signal,
      });
    } catch (err) {
      if (err instanceof GitError) throw new ApiError(RpcCode.INTERNAL, `writing the commit failed: ${err.message}`);
      throw err;
    }
  }

  /** Every path (files, symlinks, gitlinks) in `commit`'s tree; empty for "". */
  private async trackedPaths(gitDir: string, commit: string): Promise<Set<string>> {
    if (!commit) return new Set();
    const out = await runGit(['ls-tree', '-r', '-z', '--name-only', '--full-tree', commit], { cwd: gitDir, signal: this.shutdown.signal });
    return new Set(out.stdout.toString('utf8').split('\0').filter(Boolean));
  }

  private async treeOf(gitDir: string, commit: string): Promise<string> {
    const out = await runGit(['rev-parse', '--verify', `${commit}^{tree}`], { cwd: gitDir, signal: this.shutdown.signal });
    return out.stdout.toString('utf8').trim();
  }

  private async dropRef(gitDir: string, ref: string): Promise<void> {
    await runGit(['update-ref', '-d', ref], { cwd: gitDir }).catch(() => undefined);
  }

  /** The commit a ref points to in the mirror, or undefined. */
  private async revParse(gitDir: string, ref: string): Promise<string | undefined> {
    try {
      const out = await runGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: gitDir, signal: this.shutdown.signal });
      return out.stdout.toString('utf8').trim();
    } catch {
      return undefined;
    }
  }

  // ---- jobs ---------------------------------------------------------------------------------------

  /** Insert a QUEUED job row and schedule it; returns the row. */
  createJob(source: SourceRow, kind: JobRow['kind'], params: JobParams): JobRow {
    const now = this.core.clock.now();
    const id = newId('job', now);
    this.core.db
      .prepare('INSERT INTO jobs (id, source_id, kind, state, params, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, source.id, kind, JOB_QUEUED, JSON.stringify(params), now);
    this.schedule(id, source.id);
    return this.repo.loadJob(id)!;
  }

  /** Resolves when job `jobId` has finished (or immediately when it is not scheduled here). */
  whenDone(jobId: string): Promise<void> {
    return this.completions.get(jobId) ?? Promise.resolve();
  }

  /** Re-queue jobs left QUEUED or RUNNING by a previous gateway on this data dir. */
  resume(): void {
    const rows = this.core.db
      .prepare('SELECT id, source_id FROM jobs WHERE state IN (?, ?) ORDER BY created_at, rowid')
      .all(JOB_QUEUED, JOB_RUNNING) as Array<{ id: string; source_id: string }>;
    for (const r of rows) {
      this.core.db.prepare('UPDATE jobs SET state = ?, started_at = NULL WHERE id = ?').run(JOB_QUEUED, r.id);
      this.schedule(r.id, r.source_id);
    }
  }

  private schedule(jobId: string, sourceId: string): void {
    if (this.closed) return;
    const prev = this.jobChains.get(sourceId) ?? Promise.resolve();
    const run = prev.then(() => this.runJob(jobId));
    this.jobChains.set(sourceId, run);
    this.completions.set(jobId, run);
    void run.finally(() => {
      this.completions.delete(jobId);
      if (this.jobChains.get(sourceId) === run) this.jobChains.delete(sourceId);
    });
  }

  private async close(): Promise<void> {
    this.closed = true;
    this.shutdown.abort();
    await Promise.allSettled([...this.jobChains.values()]);
  }

  private update(jobId: string, p: ImportProgress): void {
    this.core.db.prepare('UPDATE jobs SET files_processed = ?, bytes_processed = ? WHERE id = ?').run(p.files, p.bytes, jobId);
  }

  /** Run one job to completion; never throws (failures are recorded on the row). */
  private async runJob(jobId: string): Promise<void> {
    if (this.shutdown.signal.aborted) return;
    const job = this.repo.loadJob(jobId);
    if (!job || job.state !== JOB_QUEUED) return;
    const source = this.repo.loadSource(job.source_id);
    if (!source) return;
    const db = this.core.db;
    const started = this.core.clock.now();
    db.prepare('UPDATE jobs SET state = ?, started_at = ?, files_processed = 0, bytes_processed = 0 WHERE id = ?').run(JOB_RUNNING, started, jobId);
    if (!source.latest_revision_id && source.status !== 'UNDERLAY_SOURCE_STATUS_IMPORTING') {
      db.prepare('UPDATE sources SET status = ?, updated_at = ? WHERE id = ?').run('UNDERLAY_SOURCE_STATUS_IMPORTING', started, source.id);
    }
    const params = JSON.parse(job.params) as JobParams;
    try {
      const out = job.kind === 'promote' ? await this.promote(job, source, params) : await this.importRef(job, source, params.gitRef || source.default_ref);
      const now = this.core.clock.now();
      db.transaction(() => {
        db.prepare("UPDATE sources SET latest_revision_id = ?, status = 'UNDERLAY_SOURCE_STATUS_READY', updated_at = ? WHERE id = ?").run(out.revisionId, now, source.id);
        db.prepare('UPDATE jobs SET state = ?, revision_id = ?, completed_at = ?, files_processed = ?, bytes_processed = ? WHERE id = ?').run(
          JOB_SUCCEEDED,
          out.revisionId,
          now,
          out.files,
          out.bytes,
          jobId,
        );
      })();
      this.core.logger.info('source job succeeded', { jobId, sourceId: source.id, kind: job.kind, revisionId: out.revisionId, files: out.files, ms: now - started });
    } catch (err) {
      if (this.shutdown.signal.aborted) {
        // Interrupted by shutdown: leave it for the next gateway on this data dir.
        db.prepare('UPDATE jobs SET state = ?, started_at = NULL, files_processed = 0, bytes_processed = 0 WHERE id = ?').run(JOB_QUEUED, jobId);
        return;
      }
      const code = err instanceof JobError ? err.errorCode : err instanceof GitError ? 'GIT_READ_FAILED' : 'INTERNAL';
      const message = err instanceof JobError || err instanceof GitError ? err.message : 'internal error; see the gateway log';
      if (code === 'INTERNAL') this.core.logger.error('source job crashed', { jobId, error: String((err as Error)?.stack ?? err) });
      const now = this.core.clock.now();
      db.transaction(() => {
        db.prepare('UPDATE jobs SET state = ?, completed_at = ?, error_code = ?, error_message = ? WHERE id = ?').run(JOB_FAILED, now, code, redact(message), jobId);
        const cur = this.repo.loadSource(source.id)!;
        if (!cur.latest_revision_id) db.prepare("UPDATE sources SET status = 'UNDERLAY_SOURCE_STATUS_FAILED', updated_at = ? WHERE id = ?").run(now, source.id);
      })();
      this.core.logger.warn('source job failed', { jobId, sourceId: source.id, kind: job.kind, errorCode: code, error: redact(message) });
    }
  }

  /** Import/refresh: fetch, resolve, build (or reuse) the revision. */
  private async importRef(job: JobRow, source: SourceRow, ref: string): Promise<{ revisionId: string; files: number; bytes: number }> {
    const problem = ref === '' ? 'is empty' : SHA1_RE.test(ref) || ref === 'HEAD' ? undefined : refFormatProblem(ref);
    if (problem) throw new JobError('INVALID_REF', `git ref ${JSON.stringify(ref)} ${problem}`);
    return this.withMirror(source.id, async (gitDir) => {
      await this.fetch(source, gitDir, ref);
      const commit = await this.resolve(gitDir, ref);
      const existing = this.repo.findImportRevision(source.id, commit);
      if (existing) {
        // Already imported (a revision is immutable): report its counts, read nothing again.
        const totals = { files: 0, bytes: 0 };
        for (const { entry } of this.core.trees.walk(existing.root, '/')) {
          if (entry.t === 'f') {
            totals.files++;
            totals.bytes += entry.s ?? 0;
          } else if (entry.t === 'l') {
            totals.files++;
            totals.bytes += Buffer.byteLength(entry.tg ?? '');
          }
        }
        this.update(job.id, totals);
        return { revisionId: existing.id, ...totals };
      }
      const prevRoot = this.latestRoot(source);
      const result = await importCommit({
        core: this.core,
        repo: this.repo,
        tenantId: source.tenant_id,
        gitDir,
        commit,
        reuse: prevRoot ? reusableContent(this.core, this.repo, prevRoot) : undefined,
        signal: this.shutdown.signal,
        onProgress: (p) => this.update(job.id, p),
      }).catch((err: unknown) => {
        if (err instanceof GitError) throw new JobError('GIT_READ_FAILED', `reading commit ${commit} failed: ${err.message}`);
        throw err;
      });
      const now = this.core.clock.now();
      const revisionId = newId('rev', now);
      const gitRef = SHA1_RE.test(ref) || ref.startsWith('refs/') || ref === 'HEAD' ? ref : await this.fullRefName(gitDir, ref);
      this.core.db
        .prepare('INSERT INTO revisions (id, source_id, commit_sha, root, git_ref, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(revisionId, source.id, commit, result.root, gitRef, '', now);
      return { revisionId, files: result.files, bytes: result.bytes };
    });
  }

  private latestRoot(source: SourceRow): string | undefined {
    const cur = this.repo.loadSource(source.id);
    if (!cur?.latest_revision_id) return undefined;
    return this.repo.getRevision(source.id, cur.latest_revision_id)?.root;
  }

  /** "main" → "refs/heads/main" (or refs/tags/… when it is a tag). */
  private async fullRefName(gitDir: string, ref: string): Promise<string> {
    try {
      await runGit(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${ref}`], { cwd: gitDir, signal: this.shutdown.signal });
      return `refs/heads/${ref}`;
    } catch {
      return `refs/tags/${ref}`;
    }
  }

  /** Promote: commit the captured session root into the mirror and make it a labelled revision. */
  private async promote(job: JobRow, source: SourceRow, params: JobParams): Promise<{ revisionId: string; files: number; bytes: number }> {
    const root = params.root!;
    const label = params.revisionLabel ?? '';
    const branchPart = label && !refFormatProblem(`aether/promote/${label}`) ? label : job.id;
    const ref = `refs/heads/aether/promote/${branchPart}`;
    return this.withMirror(source.id, async (gitDir) => {
      const cur = this.repo.loadSource(source.id)!;
      const session = params.sessionId ? (this.core.db.prepare('SELECT source_id, revision_id FROM sessions WHERE id = ?').get(params.sessionId) as { source_id: string | null; revision_id: string | null } | undefined) : undefined;
      // Parent: the revision the session started from when it came from this source, else the
      // source's latest revision, else none (a root commit).
      const base =
        (session?.source_id === source.id && session.revision_id ? this.repo.getRevision(source.id, session.revision_id) : undefined) ??
        (cur.latest_revision_id ? this.repo.getRevision(source.id, cur.latest_revision_id) : undefined);
      let parent = base?.commit_sha;
      if (parent && !(await this.commitExists(gitDir, parent))) parent = undefined;
      const principal = params.principalId || 'aether';
      const now = this.core.clock.now();
      const who: GitIdentity = { name: principal, email: principal.includes('@') ? principal : `${principal}@aether.local`, when: now };
      const written = await writeCommit({
        core: this.core,
        repo: this.repo,
        gitDir,
        root,
        parent,
        author: who,
        committer: who,
        message: `Promote session ${params.sessionId ?? ''}${label ? ` as ${label}` : ''}\n`,
        ref,
        force: true,
        signal: this.shutdown.signal,
        onProgress: (p) => this.update(job.id, p),
      }).catch((err: unknown) => {
        if (err instanceof GitError) throw new JobError('GIT_WRITE_FAILED', err.message);
        throw err;
      });
      const revisionId = newId('rev', now);
      this.core.db
        .prepare('INSERT INTO revisions (id, source_id, commit_sha, root, git_ref, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(revisionId, source.id, written.commit, root, ref, label, now);
      return { revisionId, files: written.files, bytes: written.bytes };
    });
  }
}

/** The useful part of a git failure, redacted. */
function gitMessage(err: unknown, secrets: string[]): string {
  if (err instanceof GitError) return redact(err.stderr.trim().split('\n').filter(Boolean).slice(-4).join('; ') || err.message, secrets);
  return redact(String((err as Error)?.message ?? err), secrets);
}
