// Route family: git commits of a session (POST /v1/sessions/{sessionId}/commit).
//
// The session tree becomes one real git commit in its source's mirror (fast-import; see
// git/export.ts) whose parent is the commit of the revision the session started from
// (baseFingerprint) — or, when this session already pushed to that branch, its previous commit
// there — authored as given (default: the caller's principal); it is then pushed to the
// source's remote as refs/heads/<branchName> with a normal (non-force) push.
//
// Refusals: INVALID_ARGUMENT for a missing message, a bad author or a branch name git would reject;
// FAILED_PRECONDITION while an approval is pending and for sessions without a git source;
// ABORTED when the remote branch moved elsewhere (non-fast-forward push).
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { failedPrecondition, invalidArgument } from '../http/api-error.js';
import { optionalString, parseObject, requireString } from '../http/validate.js';
import { gitService } from '../git/git-service.js';
import { identityProblem, parseBranchName } from '../git/refs.js';
import type { GitIdentity } from '../git/export.js';
import { assertNoPendingApproval } from './sessions.js';
import type { CommitResponse } from '../../protocol/types.js';

const MAX_MESSAGE = 64 * 1024;

export function registerCommitRoutes(router: Router, core: GatewayCore): void {
  const git = gitService(core);

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
    const commitId = await git.commitAndPush({ source, sessionId: s.id, root, parent, author: who, committer: who, message, branch: parsed.branch });
    const now = core.clock.now();
    core.db.prepare('UPDATE sessions SET completed_at = ?, last_activity_at = ? WHERE id = ?').run(now, now, s.id);
    core.events.record(s.id, 'v1.SessionService.Commit', { commitId, branchName: parsed.branch });
    const res: CommitResponse = { commitId };
    return res;
  });
}
