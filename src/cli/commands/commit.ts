// `aether commit -m MSG`: sync the mount (when run inside one), then commit the session tree as a
// real git commit (POST /v1/sessions/{id}/commit) and print the commitId, then (on stderr) git's
// --stat of it. `--dry-run` prints the stat only; an unchanged session commits nothing (exit 1,
// like git); a live busy view runs on a TTY while the gateway builds and pushes.
// A push refused because the branch moved (ABORTED, code 10) says how to proceed (exit 4).
// While an approval is pending the gateway answers FAILED_PRECONDITION (code 9); the command turns
// that into a clear "approval pending" message naming the approval, exit 4.
// Callers: cli/commands/index.ts.
import { isGatewayError } from '../../client/index.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import type { CommitAuthor, CommitResponse } from '../../protocol/types.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { syncIfMounted } from '../sync.js';
import { withBusyView } from '../busy.js';
import { ignoredNote, printDiff, statWidth } from './diff.js';

/** `Name <email>`, `<email>`, `email@x` or a bare name. */
export function parseAuthor(s: string): CommitAuthor {
  const t = s.trim();
  const m = /^(.*?)\s*<([^<>\s]+)>$/.exec(t);
  if (m) return { ...(m[1] ? { name: m[1] } : {}), email: m[2]! };
  if (/^[^\s@]+@[^\s@]+$/.test(t)) return { email: t };
  if (!t) throw new UserError('AETHER_BAD_ARGUMENT', '--author must not be empty');
  return { name: t };
}

export interface CommitArgs {
  message: string;
  branch?: string;
  author?: CommitAuthor;
  session?: string;
  dryRun: boolean;
  includeIgnored: boolean;
  allowEmpty: boolean;
}

/** Explain a refused commit when the cause is a pending approval; undefined otherwise. */
async function pendingApprovalError(ctx: CommandContext, sessionId: string, cause: unknown): Promise<AetherError | undefined> {
  const client = await ctx.client();
  try {
    const approvals = (await client.listApprovals(sessionId)).approvals ?? [];
    const pending = approvals.filter((a) => a.state === 'APPROVAL_STATE_PENDING');
    if (pending.length === 0) {
      const s = await client.getSession(sessionId);
      if (s.status !== 'SESSION_STATUS_PENDING_APPROVAL') return undefined;
    }
    const ids = pending.map((a) => a.approvalId);
    return new AetherError('AETHER_APPROVAL_PENDING', `commit refused: session ${sessionId} is waiting for approval${ids.length ? ` (${ids.join(', ')})` : ''}`, {
      kind: 'conflict',
      cause,
      hint: ids.length
        ? `a reviewer must grant or deny it first: aether approval grant ${ids[0]} --session ${sessionId}`
        : `see aether approval list --session ${sessionId}`,
    });
  } catch {
    // Could not inspect approvals (older gateway without the extension): fall back to the status check.
    try {
      const s = await client.getSession(sessionId);
      if (s.status === 'SESSION_STATUS_PENDING_APPROVAL') {
        return new AetherError('AETHER_APPROVAL_PENDING', `commit refused: session ${sessionId} is waiting for approval`, { kind: 'conflict', cause, hint: 'a reviewer must grant or deny the pending approval first' });
      }
    } catch {
      // Report the original error.
    }
    return undefined;
  }
}

export const commit = defineCommand<CommitArgs>({
  name: 'commit',
  summary: 'commit the session as a git commit and print the commitId',
  description:
    'Commit the session tree (POST /v1/sessions/{id}/commit) as a git commit on the source\'s remote\n' +
    '(branch --branch, default aether/<session-id>). Inside a mount, the session comes from the\n' +
    'working directory and the mount is synced first. Untracked files matched by the tree\'s\n' +
    '.gitignore are left out (--include-ignored adds them); tracked files always stay. A session\n' +
    'without changes commits nothing and exits 1, like git (--allow-empty commits anyway).\n' +
    '--dry-run shows the stat and commits nothing. Refused (exit 4) while an approval is pending, and\n' +
    'when the branch moved on the remote (non-fast-forward).',
  examples: [
    'aether commit -m "Fix login validation" --branch fix/login-validation --author "Alice Example <alice@example.com>"',
    'aether commit -m "wip" --dry-run',
    'COMMIT=$(aether commit -m "wip" --session sess_1234abcd)',
    'aether commit -m "release" --json | jq -r .commitId',
  ],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .requiredOption('-m, --message <msg>', 'commit message')
      .option('--branch <name>', 'target branch on the source remote (default: aether/<session-id>)')
      .option('--author <"Name <email>">', 'commit author (default: $GIT_AUTHOR_NAME/$GIT_AUTHOR_EMAIL, else the gateway principal)')
      .option('--dry-run', 'show what would be committed (git diff --stat) without committing')
      .option('--include-ignored', 'also commit untracked files that .gitignore matches')
      .option('--allow-empty', 'commit even when nothing changed'),
  parse: (_ops, o) => {
    const message = String(o.message ?? '');
    if (!message.trim()) throw new UserError('AETHER_BAD_ARGUMENT', 'the commit message (-m) must not be empty');
    return {
      message,
      branch: o.branch as string | undefined,
      author: o.author !== undefined ? parseAuthor(String(o.author)) : undefined,
      session: o.session as string | undefined,
      dryRun: Boolean(o.dryRun),
      includeIgnored: Boolean(o.includeIgnored),
      allowEmpty: Boolean(o.allowEmpty),
    };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    await syncIfMounted(ctx, id);
    let author = args.author;
    if (!author && (ctx.io.env.GIT_AUTHOR_NAME || ctx.io.env.GIT_AUTHOR_EMAIL)) {
      author = { ...(ctx.io.env.GIT_AUTHOR_NAME ? { name: ctx.io.env.GIT_AUTHOR_NAME } : {}), ...(ctx.io.env.GIT_AUTHOR_EMAIL ? { email: ctx.io.env.GIT_AUTHOR_EMAIL } : {}) };
    }
    // The gateway needs a branch; default to one per session so a commit never lands on a shared
    // branch by accident.
    const branch = args.branch ?? `aether/${id}`;
    const client = await ctx.client();
    let res: CommitResponse;
    try {
      res = await withBusyView(ctx, args.dryRun ? `checking what would be committed to ${branch}` : `building and pushing the commit to ${branch}`, () =>
        client.commit(id, {
          message: args.message,
          ...(author ? { author } : {}),
          gitBranch: { branchName: branch },
          ...(args.dryRun ? { dryRun: true } : {}),
          ...(args.includeIgnored ? { includeIgnored: true } : {}),
          ...(args.allowEmpty ? { allowEmpty: true } : {}),
          statWidth: statWidth(ctx),
        }),
      );
    } catch (err) {
      if (isGatewayError(err) && err.rpcCode === RpcCode.FAILED_PRECONDITION) {
        const explained = await pendingApprovalError(ctx, id, err);
        if (explained) throw explained;
      }
      if (isGatewayError(err) && err.rpcCode === RpcCode.ABORTED) {
        throw new AetherError('AETHER_PUSH_REJECTED', `commit refused: branch ${branch} moved on the remote since this session started (non-fast-forward)`, {
          kind: 'conflict',
          cause: err,
          hint: `start a new session from the updated source (aether source refresh <source-id> --wait, then aether session create --source <source-id>) and redo the change there, or commit to a new --branch`,
        });
      }
      throw err;
    }
    const d = res.diff ?? {};
    const created = res.created ?? true; // an older gateway without the extension always creates
    const data = { sessionId: id, commitId: res.commitId, branch, created, parentId: res.parentId ?? '', dryRun: args.dryRun, diff: d };
    if (args.dryRun) {
      ctx.out.result(data, () => {
        printDiff(d, 'stat', (l) => ctx.out.line(l));
        ctx.out.note(d.files?.length ? `dry run: nothing was committed (${d.files.length} file${d.files.length === 1 ? '' : 's'} would change on branch ${branch})` : `dry run: nothing to commit, session ${id} has no changes`);
        ignoredNote(ctx.out, d);
      });
      return 0;
    }
    if (!created) {
      ctx.out.result(data, () => {
        ctx.out.note(`nothing to commit: session ${id} has no changes against ${res.parentId ? res.parentId.slice(0, 12) : 'its base'} (use --allow-empty to commit anyway)`);
        ignoredNote(ctx.out, d);
      });
      return 1;
    }
    ctx.out.result(data, () => {
      ctx.out.line(res.commitId);
      ctx.out.note(`committed session ${id} to branch ${branch}`);
      printDiff(d, 'stat', (l) => ctx.out.note(l));
      ignoredNote(ctx.out, d);
    });
    return 0;
  },
});
