// `aether commit -m MSG`: sync the mount (when run inside one), then commit the session tree as a
// real git commit (POST /v1/sessions/{id}/commit) and print the commitId.
// While an approval is pending the gateway answers FAILED_PRECONDITION (code 9); the command turns
// that into a clear "approval pending" message naming the approval, exit 4.
// Callers: cli/commands/index.ts.
import { isGatewayError } from '../../client/index.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import type { CommitAuthor } from '../../protocol/types.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { syncIfMounted } from '../sync.js';

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
    'working directory and the mount is synced first. Refused (exit 4) while an approval is pending.',
  examples: [
    'aether commit -m "Fix login validation" --branch fix/login-validation --author "Alice Example <alice@example.com>"',
    'COMMIT=$(aether commit -m "wip" --session sess_1234abcd)',
    'aether commit -m "release" --json | jq -r .commitId',
  ],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .requiredOption('-m, --message <msg>', 'commit message')
      .option('--branch <name>', 'target branch on the source remote (default: aether/<session-id>)')
      .option('--author <"Name <email>">', 'commit author (default: $GIT_AUTHOR_NAME/$GIT_AUTHOR_EMAIL, else the gateway principal)'),
  parse: (_ops, o) => {
    const message = String(o.message ?? '');
    if (!message.trim()) throw new UserError('AETHER_BAD_ARGUMENT', 'the commit message (-m) must not be empty');
    return { message, branch: o.branch as string | undefined, author: o.author !== undefined ? parseAuthor(String(o.author)) : undefined, session: o.session as string | undefined };
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
    let commitId: string;
    try {
      ({ commitId } = await client.commit(id, {
        message: args.message,
        ...(author ? { author } : {}),
        gitBranch: { branchName: branch },
      }));
    } catch (err) {
      if (isGatewayError(err) && err.rpcCode === RpcCode.FAILED_PRECONDITION) {
        const explained = await pendingApprovalError(ctx, id, err);
        if (explained) throw explained;
      }
      throw err;
    }
    ctx.out.result({ sessionId: id, commitId, branch }, () => {
      ctx.out.line(commitId);
      ctx.out.note(`committed session ${id} to branch ${branch}`);
    });
  },
});
