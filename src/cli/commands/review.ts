// Review commands: `annotate`, `annotations`, `annotation resolve|reopen`, and
// `approval request|grant|deny|list|show` (…/annotations, …/request-approval, …/approvals).
// `annotate` guards the comment with the file's current content hash (expectedContentHash), so a
// comment never lands on content the reviewer did not see.
// Callers: cli/commands/index.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import type { Annotation, Approval } from '../../protocol/types.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { collect, defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { toSessionPath } from '../mount-context.js';
import { shortEnum } from '../render.js';
import { syncIfMounted } from '../sync.js';

/** Split `PATH[:LINE]`; a trailing `:digits` is the line. */
export function parsePathLine(arg: string): { path: string; line?: number } {
  const m = /^(.*):(\d+)$/.exec(arg);
  if (m && m[1]) {
    const line = Number(m[2]);
    if (line < 1) throw new UserError('AETHER_BAD_ARGUMENT', `line numbers start at 1, got ${line}`);
    return { path: m[1], line };
  }
  return { path: arg };
}

/** The current content hash of a file in the session, from the manifest. */
const CONTENT_HASH_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * The content hash of `filePath` as the mount in the working directory has it (the sha256 of the
 * bytes a reader sees there, which is what the mount's `user.aether.sha256` xattr reports), or
 * undefined when not run inside a mount of this session or the file cannot be read there.
 */
async function mountedContentHash(ctx: CommandContext, sessionId: string, filePath: string): Promise<string | undefined> {
  const m = await ctx.mount().catch(() => undefined);
  if (!m || m.sessionId !== sessionId) return undefined;
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path.join(m.mountPoint, filePath))) hash.update(chunk as Buffer);
  } catch {
    return undefined;
  }
  return 'sha256:' + hash.digest('hex');
}

export async function currentContentHash(ctx: CommandContext, sessionId: string, filePath: string): Promise<string> {
  const client = await ctx.client();
  const page = await client.getManifest(sessionId, { pathPrefix: filePath, pageSize: 1, maxDepth: 1 });
  const node = (page.nodes ?? []).find((n) => n.path === filePath);
  if (!node) {
    throw new AetherError('AETHER_PATH_NOT_FOUND', `${filePath} does not exist in session ${sessionId}`, {
      kind: 'not_found',
      hint: 'paths are session paths (/src/main.ts); inside a mount they may be relative to the working directory',
    });
  }
  if (node.fileType !== 'VFS_FILE_TYPE_FILE') {
    throw new UserError('AETHER_NOT_A_FILE', `${filePath} is a ${shortEnum(node.fileType, 'VFS_FILE_TYPE_').toLowerCase()}, not a file`);
  }
  return node.contentHash ?? '';
}

// ---- annotate ------------------------------------------------------------------------------------

export interface AnnotateArgs {
  target: string;
  message: string;
  line?: number;
  /** `--expected-hash`: the content hash reviewed. */
  expectedHash?: string;
  session?: string;
}

export const annotate = defineCommand<AnnotateArgs>({
  name: 'annotate <path>',
  summary: 'attach a review comment to a file (PATH or PATH:LINE)',
  description:
    'Add an annotation (POST /v1/sessions/{id}/annotations) with expectedContentHash = the version you\n' +
    'reviewed: --expected-hash, else (inside a mount) the hash of the file as the mount has it, else the\n' +
    'gateway\'s current hash. If the file is no longer that version, the gateway refuses the comment\n' +
    '(exit 4) instead of attaching it to content you did not see.',
  examples: [
    'aether annotate /src/main.ts:42 -m "the error path still needs coverage"',
    'aether annotate src/main.ts --line 42 -m "nit: rename" --session sess_1234abcd --json',
  ],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .requiredOption('-m, --message <text>', 'the comment')
      .option('--line <n>', 'line number (alternative to PATH:LINE)')
      .option('--expected-hash <sha256:hex>', 'the content hash you reviewed (default: the file as the mount has it, else the gateway\'s current hash)'),
  parse: ([target], o) => {
    const message = String(o.message ?? '');
    if (!message.trim()) throw new UserError('AETHER_BAD_ARGUMENT', 'the comment (-m) must not be empty');
    const expectedHash = o.expectedHash === undefined ? undefined : String(o.expectedHash).trim().toLowerCase();
    if (expectedHash !== undefined && !CONTENT_HASH_RE.test(expectedHash)) throw new UserError('AETHER_BAD_ARGUMENT', '--expected-hash must look like sha256:<64 hex digits>');
    let line: number | undefined;
    if (o.line !== undefined) {
      line = Number(o.line);
      if (!Number.isInteger(line) || line < 1) throw new UserError('AETHER_BAD_ARGUMENT', '--line must be a positive integer');
    }
    return { target: target!, message, line, expectedHash, session: o.session as string | undefined };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const parsed = parsePathLine(args.target);
    const filePath = toSessionPath(parsed.path, ctx.io.cwd, await ctx.mount());
    const line = args.line ?? parsed.line;
    // What the reviewer saw: the given hash, else the file as the mount shows it (synced first so
    // the gateway has those bytes too), else the gateway's current version.
    let expectedContentHash = args.expectedHash;
    if (!expectedContentHash) {
      await syncIfMounted(ctx, id);
      expectedContentHash = (await mountedContentHash(ctx, id, filePath)) ?? (await currentContentHash(ctx, id, filePath));
    }
    const res = await (await ctx.client()).addAnnotation(id, {
      filePath,
      ...(line !== undefined ? { lineNumber: line } : {}),
      expectedContentHash,
      comment: args.message,
    });
    const a = res.annotation;
    ctx.out.result(res, () => ctx.out.line(`${a.id}  ${a.filePath}${a.lineNumber ? `:${a.lineNumber}` : ''}  ${shortEnum(a.status, 'ANNOTATION_STATUS_')}`));
  },
});

// ---- annotations -----------------------------------------------------------------------------------

export const annotations = defineCommand<{ path?: string; status?: string; session?: string }>({
  name: 'annotations [path]',
  summary: 'list annotations of the session or of one file',
  description: 'List annotations (GET /v1/sessions/{id}/annotations), all of them or those of PATH.',
  examples: ['aether annotations', 'aether annotations /src/main.ts --open', 'aether annotations --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--open', 'only open annotations').option('--resolved', 'only resolved annotations'),
  parse: ([p], o) => {
    if (o.open && o.resolved) throw new UserError('AETHER_BAD_ARGUMENT', '--open and --resolved exclude each other');
    return { path: p, status: o.open ? 'ANNOTATION_STATUS_OPEN' : o.resolved ? 'ANNOTATION_STATUS_RESOLVED' : undefined, session: o.session as string | undefined };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const filePath = args.path ? toSessionPath(parsePathLine(args.path).path, ctx.io.cwd, await ctx.mount()) : undefined;
    const res = await (await ctx.client()).listAnnotations(id, filePath ? { filePath } : {});
    const list = (res.annotations ?? []).filter((a) => !args.status || a.status === args.status);
    ctx.out.result({ annotations: list }, () =>
      ctx.out.table(
        [
          { header: 'ID', value: (a: Annotation) => a.id },
          { header: 'FILE', value: (a) => `${a.filePath}${a.lineNumber ? `:${a.lineNumber}` : ''}` },
          { header: 'STATUS', value: (a) => shortEnum(a.status, 'ANNOTATION_STATUS_') },
          { header: 'REVIEWER', value: (a) => a.reviewerId ?? '' },
          { header: 'COMMENT', value: (a) => truncate(a.comment ?? '', 60) },
        ],
        list,
        'no annotations',
      ),
    );
  },
});

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}

// ---- annotation resolve|reopen -------------------------------------------------------------------

function annotationStatusCommand(verb: 'resolve' | 'reopen') {
  const newStatus = verb === 'resolve' ? 'ANNOTATION_STATUS_RESOLVED' : 'ANNOTATION_STATUS_OPEN';
  return defineCommand<{ id: string; session?: string }>({
    name: `${verb} <id>`,
    summary: verb === 'resolve' ? 'mark an annotation resolved' : 'reopen a resolved annotation',
    description: `Set an annotation's status to ${shortEnum(newStatus, 'ANNOTATION_STATUS_')} (PATCH /v1/sessions/{id}/annotations/{annotationId}).`,
    examples: [`aether annotation ${verb} ann_01HRJ5Q8D3RMY8H7RWX7Y1AVRJ`],
    json: true,
    session: true,
    parse: ([id], o) => ({ id: id!, session: o.session as string | undefined }),
    handler: async (args, ctx) => {
      const sid = await ctx.sessionId(args.session);
      const res = await (await ctx.client()).updateAnnotation(sid, args.id, { newStatus });
      ctx.out.result(res, () => ctx.out.line(`${res.annotation.id}  ${shortEnum(res.annotation.status, 'ANNOTATION_STATUS_')}`));
    },
  });
}

export const annotationResolve = annotationStatusCommand('resolve');
export const annotationReopen = annotationStatusCommand('reopen');

export const annotationGroup = defineCommand({
  name: 'annotation',
  summary: 'resolve or reopen one annotation',
  examples: ['aether annotation resolve ann_01HRJ5Q8D3RMY8H7RWX7Y1AVRJ'],
  subcommands: [annotationResolve, annotationReopen],
});

// ---- approval ----------------------------------------------------------------------------------------

export interface ApprovalRequestArgs {
  reason: string;
  summary?: string;
  files?: string[];
  session?: string;
}

export const approvalRequest = defineCommand<ApprovalRequestArgs>({
  name: 'request',
  summary: 'ask for approval before commit (the session becomes PENDING_APPROVAL)',
  description: 'Request approval (POST /v1/sessions/{id}/request-approval). Commits are refused until it is granted or denied.',
  examples: ['aether approval request --reason COMMIT_TO_MAIN --summary "Fix login validation" --file /src/main.ts --file /tests/main.test.ts'],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .requiredOption('--reason <reason>', 'why approval is needed (e.g. COMMIT_TO_MAIN)')
      .option('--summary <text>', 'summary of the change for the reviewer')
      .option('--file <path>', 'changed file to list (repeatable)', collect),
  parse: (_ops, o) => ({ reason: o.reason as string, summary: o.summary as string | undefined, files: o.file as string[] | undefined, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const mount = await ctx.mount();
    const changedFiles = args.files?.map((f) => toSessionPath(f, ctx.io.cwd, mount));
    const res = await (await ctx.client()).requestApproval(id, {
      reason: args.reason,
      ...(args.summary || changedFiles ? { details: { ...(args.summary ? { summary: args.summary } : {}), ...(changedFiles ? { changedFiles } : {}) } } : {}),
    });
    ctx.out.result({ sessionId: id, approvalId: res.approvalId }, () => {
      ctx.out.line(res.approvalId);
      ctx.out.note(`approval requested; grant with: aether approval grant ${res.approvalId} --session ${id}`);
    });
  },
});

function approvalDecision(verb: 'grant' | 'deny') {
  return defineCommand<{ id: string; feedback?: string; session?: string }>({
    name: `${verb} <approval-id>`,
    summary: verb === 'grant' ? 'grant a pending approval (commit is allowed again)' : 'deny a pending approval, with feedback',
    description:
      verb === 'grant'
        ? 'Grant an approval (POST /v1/sessions/{id}/approvals/{approvalId}/grant). Never retried: a resolved approval answers exit 4.'
        : 'Deny an approval (POST /v1/sessions/{id}/approvals/{approvalId}/deny); the session returns to ACTIVE and keeps the feedback.',
    examples: [verb === 'grant' ? 'aether approval grant appr_01HRJ62B2S2H12XATB9TQX6W7R' : 'aether approval deny appr_01HRJ62B2S2H12XATB9TQX6W7R --feedback "split the change"'],
    json: true,
    session: true,
    configure: (cmd) => cmd.option('--feedback <text>', verb === 'deny' ? 'feedback for the requester' : 'accepted for symmetry; the gateway stores feedback for denials only'),
    parse: ([id], o) => ({ id: id!, feedback: o.feedback as string | undefined, session: o.session as string | undefined }),
    handler: async (args, ctx) => {
      const sid = await ctx.sessionId(args.session);
      const client = await ctx.client();
      if (verb === 'grant') {
        if (args.feedback) ctx.out.warn('--feedback is not stored for grants (the API keeps feedback for denials only)');
        await client.grantApproval(sid, args.id);
      } else {
        await client.denyApproval(sid, args.id, args.feedback ? { feedback: args.feedback } : {});
      }
      const state = verb === 'grant' ? 'APPROVAL_STATE_GRANTED' : 'APPROVAL_STATE_DENIED';
      ctx.out.result({ sessionId: sid, approvalId: args.id, state }, () => ctx.out.line(`${args.id}  ${shortEnum(state, 'APPROVAL_STATE_')}`));
    },
  });
}

export const approvalGrant = approvalDecision('grant');
export const approvalDeny = approvalDecision('deny');

const approvalColumns = [
  { header: 'ID', value: (a: Approval) => a.approvalId },
  { header: 'STATE', value: (a: Approval) => shortEnum(a.state, 'APPROVAL_STATE_') },
  { header: 'REASON', value: (a: Approval) => a.reason ?? '' },
  { header: 'REQUESTED', value: (a: Approval) => a.requestedAt },
  { header: 'FEEDBACK', value: (a: Approval) => truncate(a.feedback ?? '', 50) },
];

export const approvalList = defineCommand<{ session?: string; pending: boolean }>({
  name: 'list',
  aliases: ['ls'],
  summary: "list the session's approvals and their outcome",
  description: 'List approvals with state and feedback (GET /v1/sessions/{id}/approvals, an Aether extension).',
  examples: ['aether approval list', 'aether approval list --pending --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--pending', 'only pending approvals'),
  parse: (_ops, o) => ({ session: o.session as string | undefined, pending: Boolean(o.pending) }),
  handler: async (args, ctx) => {
    const sid = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).listApprovals(sid);
    const list = (res.approvals ?? []).filter((a) => !args.pending || a.state === 'APPROVAL_STATE_PENDING');
    ctx.out.result({ approvals: list }, () => ctx.out.table(approvalColumns, list, 'no approvals'));
  },
});

export const approvalShow = defineCommand<{ id: string; session?: string }>({
  name: 'show <approval-id>',
  summary: 'show one approval (state, summary, files, feedback)',
  examples: ['aether approval show appr_01HRJ62B2S2H12XATB9TQX6W7R'],
  json: true,
  session: true,
  parse: ([id], o) => ({ id: id!, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const sid = await ctx.sessionId(args.session);
    const a = await (await ctx.client()).getApproval(sid, args.id);
    ctx.out.result(a, () =>
      ctx.out.keyValues([
        ['approvalId', ctx.out.colors.bold(a.approvalId)],
        ['sessionId', a.sessionId],
        ['state', shortEnum(a.state, 'APPROVAL_STATE_')],
        ['reason', a.reason || undefined],
        ['summary', a.summary || undefined],
        ['changedFiles', a.changedFiles?.length ? a.changedFiles.join(', ') : undefined],
        ['feedback', a.feedback || undefined],
        ['requestedAt', a.requestedAt],
        ['resolvedAt', a.resolvedAt || undefined],
      ]),
    );
  },
});

export const approvalGroup = defineCommand({
  name: 'approval',
  summary: 'request, grant, deny and list approvals',
  examples: ['aether approval request --reason COMMIT_TO_MAIN --summary "Fix login"', 'aether approval grant appr_01HRJ62B2S2H12XATB9TQX6W7R', 'aether approval list'],
  subcommands: [approvalRequest, approvalGrant, approvalDeny, approvalList, approvalShow],
});
