// Route family: git commits of a session (POST /v1/sessions/{sessionId}/commit) and what they
// would change (GET /v1/sessions/{sessionId}/diff, an Aether extension).
//
// The session tree becomes one real git commit in its source's mirror (fast-import; see
// git/export.ts) whose parent is the commit of the revision the session started from
// (baseFingerprint) — or, when this session already pushed to that branch, its previous commit
// there — authored as given (default: the caller's principal); it is then pushed to the
// source's remote as refs/heads/<branchName> with a normal (non-force) push. Untracked files the
// tree's .gitignore matches are left out unless `includeIgnored`; a tree equal to the parent's is
// a no-op (`created: false`) unless `allowEmpty`; `dryRun` builds and diffs but keeps nothing.
// The diff route builds the same filtered tree and diffs it against the base revision or a
// checkpoint; both answer git's own `--stat` text.
//
// Refusals: INVALID_ARGUMENT for a missing message, a bad author or a branch name git would reject;
// FAILED_PRECONDITION while an approval is pending and for sessions without a git source;
// ABORTED when the remote branch moved elsewhere (non-fast-forward push); PERMISSION_DENIED when
// the source's local remote is not allowed (git/local-remotes.ts).
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { failedPrecondition, invalidArgument, notFound } from '../http/api-error.js';
import { optionalString, parseObject, requireString, normalizePath, parseBool } from '../http/validate.js';
import type { DiffResult } from '../git/diff.js';
import type { IgnoredSummary } from '../git/export.js';
import { gitService } from '../git/git-service.js';
import { identityProblem, parseBranchName } from '../git/refs.js';
import type { GitIdentity } from '../git/export.js';
import { assertNoPendingApproval } from './sessions.js';
import type { CommitResponse, SessionDiff, SessionDiffResponse } from '../../protocol/types.js';

const MAX_MESSAGE = 64 * 1024;

/** An optional boolean body field (JSON true/false only). */
function flag(v: unknown, field: string): boolean {
  if (v !== undefined && v !== null && typeof v !== 'boolean') throw invalidArgument(`${field} must be true or false`);
  return v === true;
}

/** `--stat` width: 40..1000 columns, default 80 (git's default without a terminal). */
function statWidthOf(v: unknown): number {
  if (v === undefined || v === null || v === '') return 80;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,4}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 40 || n > 1000) throw invalidArgument('statWidth must be an integer between 40 and 1000');
  return n;
}

/** v1SessionDiff (Aether extension) for a diff and what the .gitignore filter left out. */
export function diffJson(d: DiffResult, ignored: IgnoredSummary): SessionDiff {
  return {
    files: d.files.map((f) => ({
      path: f.path,
      ...(f.oldPath !== undefined ? { oldPath: f.oldPath } : {}),
      status: f.status,
      additions: f.additions,
      deletions: f.deletions,
      binary: f.binary,
    })),
    filesChanged: d.files.length,
    additions: d.additions,
    deletions: d.deletions,
    stat: d.stat,
    ignoredFiles: ignored.files,
    ignoredPaths: ignored.paths,
  };
}

export function registerCommitRoutes(router: Router, core: GatewayCore): void {
  const git = gitService(core);

  router.get('/v1/sessions/{sessionId}/diff', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    if (!s.source_id) throw failedPrecondition(`session ${s.id} has no git source: there is no revision to diff against`);
    const source = git.repo.loadSource(s.source_id);
    if (!source) throw failedPrecondition(`the source ${s.source_id} of session ${s.id} no longer exists`);
    const revision = s.revision_id ? git.repo.getRevision(source.id, s.revision_id) : undefined;
    const parent = revision?.commit_sha ?? s.base_fingerprint;
    const q = ctx.query;
    const label = q.get('checkpointLabel') ?? '';
    const checkpointId = q.get('checkpointId') ?? '';
    let againstRoot: string | undefined;
    if (label || checkpointId) {
      const row = (checkpointId
        ? core.db.prepare('SELECT root FROM checkpoints WHERE id = ? AND session_id = ?').get(checkpointId, s.id)
        : core.db.prepare('SELECT root FROM checkpoints WHERE session_id = ? AND label = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(s.id, label)) as { root: string } | undefined;
      if (!row) throw notFound(`checkpoint ${checkpointId || JSON.stringify(label)} not found in session ${s.id}`);
      againstRoot = row.root;
    }
    const raw = q.get('path') ?? '';
    let paths: string[] | undefined;
    if (raw && raw !== '/') {
      const p = normalizePath(raw, 'path');
      paths = [`:(literal)${p.slice(1)}`];
    }
    const root = await core.sessions.withLock(s.id, async () => core.sessions.reload(s.id).root);
    const out = await git.diffSession({ source, root, parent, againstRoot, paths, includeIgnored: parseBool(q.get('includeIgnored'), 'includeIgnored'), statWidth: statWidthOf(q.get('statWidth') ?? undefined) });
    const res: SessionDiffResponse = { baseCommitId: out.from, ...(againstRoot ? { checkpointRoot: againstRoot } : {}), diff: diffJson(out.diff, out.ignored) };
    return res;
  });

  router.post('/v1/sessions/{sessionId}/commit', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const message = requireString(ctx.body.message, 'message', { maxLength: MAX_MESSAGE });
    if (message.trim() === '') throw invalidArgument('message must not be blank');
    if (message.includes('\0')) throw invalidArgument('message must not contain NUL bytes');
    const author = parseObject(ctx.body.author, 'author');
    const principal = ctx.principal.principalId;
    const name = optionalString(author.name, 'author.name') ?? principal;
    const email = optionalString(author.email, 'author.email') ?? (principal.includes('@') ? principal : `${principal}@aether.local`);
    for (const [field, v] of [['author.name', name], ['author.email', email]] as const) {
      const p = identityProblem(v);
      if (p) throw invalidArgument(`${field} ${p}`);
    }
    const target = parseObject(ctx.body.gitBranch, 'gitBranch');
    const branchName = requireString(target.branchName, 'gitBranch.branchName');
    const parsed = parseBranchName(branchName);
    if ('problem' in parsed) throw invalidArgument(`gitBranch.branchName ${JSON.stringify(branchName)} is not a valid git branch name: it ${parsed.problem}`);

    assertNoPendingApproval(core, s, 'commit');
    if (!s.source_id) {
      throw failedPrecondition(`session ${s.id} has no git source (capabilities.commit is false): create the session from a source to commit it`);
    }
    const source = git.repo.loadSource(s.source_id);
    if (!source) throw failedPrecondition(`the source ${s.source_id} of session ${s.id} no longer exists`);
    const revision = s.revision_id ? git.repo.getRevision(source.id, s.revision_id) : undefined;
    const parent = revision?.commit_sha ?? s.base_fingerprint;

    // The tree after every in-flight mutation has landed; re-check approval under the lock.
    const root = await core.sessions.withLock(s.id, async () => {
      const cur = core.sessions.reload(s.id);
      assertNoPendingApproval(core, cur, 'commit');
      return cur.root;
    });
    const when = core.clock.now();
    const who: GitIdentity = { name, email, when };
    const out = await git.commitSession({
      source,
      sessionId: s.id,
      root,
      parent,
      author: who,
      committer: who,
      message,
      branch: parsed.branch,
      includeIgnored: flag(ctx.body.includeIgnored, 'includeIgnored'),
      allowEmpty: flag(ctx.body.allowEmpty, 'allowEmpty'),
      dryRun: flag(ctx.body.dryRun, 'dryRun'),
      statWidth: statWidthOf(ctx.body.statWidth),
    });
    if (out.created) {
      const now = core.clock.now();
      core.db.prepare('UPDATE sessions SET completed_at = ?, last_activity_at = ? WHERE id = ?').run(now, now, s.id);
      core.events.record(s.id, 'v1.SessionService.Commit', { commitId: out.commitId, branchName: parsed.branch });
    }
    const res: CommitResponse = {
      commitId: out.commitId,
      created: out.created,
      parentId: out.parentId,
      diff: diffJson(out.diff, out.ignored),
    };
    return res;
  });
}
