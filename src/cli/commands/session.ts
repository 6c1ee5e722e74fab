// `aether session create|show|list` and `aether fork`: session lifecycle over the HTTP API
// (POST/GET /v1/sessions, GET /v1/sessions (extension), POST /v1/sessions/{id}/fork).
// Callers: cli/commands/index.ts.
import type { CreateSessionRequest, Session } from '../../protocol/types.js';
import { UserError } from '../../shared/errors.js';
import { collect, defineCommand, intOption, parseKeyValues, type Opts } from '../command.js';
import type { CommandContext } from '../context.js';
import { renderSession, shortEnum } from '../render.js';
import { syncIfMounted } from '../sync.js';
import { formatMap } from '../ui/table.js';

// ---- session create ----------------------------------------------------------------------------

export interface SessionCreateArgs {
  source?: string;
  revision?: string;
  tags?: Record<string, string>;
}

export const sessionCreate = defineCommand<SessionCreateArgs>({
  name: 'create',
  summary: 'create a session, empty or from a source revision',
  description:
    'Create a session (POST /v1/sessions). With --source, the session starts from a source revision\n' +
    '(--revision, default: the source\'s latest revision); without it, the session starts empty.',
  examples: [
    'aether session create',
    'aether session create --source src_webapp --revision rev_2026_03_10 --tag task=bugfix-123 --tag owner=alice',
    'SESSION=$(aether session create --json | jq -r .id)',
  ],
  json: true,
  configure: (cmd) =>
    cmd
      .option('--source <id>', 'source to start from')
      .option('--revision <rev>', 'source revision (requires --source; default: latest)')
      .option('--tag <key=value>', 'tag the session (repeatable)', collect),
  parse: (_ops, o: Opts) => {
    if (o.revision && !o.source) throw new UserError('AETHER_BAD_ARGUMENT', '--revision requires --source');
    return { source: o.source as string | undefined, revision: o.revision as string | undefined, tags: parseKeyValues(o.tag as string[], '--tag') };
  },
  handler: async (args, ctx) => {
    const client = await ctx.client();
    const req: CreateSessionRequest = {};
    if (args.source) {
      let revision = args.revision;
      if (!revision) {
        const src = await client.getSource(args.source);
        revision = src.latestRevisionId || undefined;
        if (!revision) {
          throw new UserError('AETHER_SOURCE_NOT_IMPORTED', `source ${args.source} has no revision yet`, {
            kind: 'conflict',
            hint: `import it first: aether source import ${args.source} --wait`,
          });
        }
      }
      req.sourceRef = { sourceId: args.source, revisionId: revision };
    }
    if (args.tags) req.initialTags = args.tags;
    const s = await client.createSession(req);
    ctx.out.result(s, () => renderSession(ctx.out, s));
  },
});

// ---- session show --------------------------------------------------------------------------------

export const sessionShow = defineCommand<{ id?: string }>({
  name: 'show [id]',
  summary: 'show a session (status, tags, capabilities)',
  description: 'Show one session (GET /v1/sessions/{id}). Without ID: --session, $AETHER_SESSION, or the current mount.',
  examples: ['aether session show sess_1234abcd', 'aether session show --json'],
  json: true,
  session: true,
  parse: ([id], o) => ({ id: id ?? (o.session as string | undefined) }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.id);
    const s = await (await ctx.client()).getSession(id);
    ctx.out.result(s, () => renderSession(ctx.out, s));
  },
});

// ---- session list --------------------------------------------------------------------------------

export interface SessionListArgs {
  tags?: string[];
  limit: number;
}

export const sessionList = defineCommand<SessionListArgs>({
  name: 'list',
  aliases: ['ls'],
  summary: "list the tenant's sessions",
  description: "List the tenant's sessions (GET /v1/sessions, an Aether extension), newest last, optionally filtered by tags.",
  examples: ['aether session list', 'aether session list --tag task=bugfix-123 --json'],
  json: true,
  configure: (cmd) =>
    cmd.option('--tag <key=value>', 'only sessions with this tag (repeatable; all must match)', collect).option('--limit <n>', 'at most this many sessions', intOption('--limit', 1), 500),
  parse: (_ops, o) => {
    parseKeyValues(o.tag as string[] | undefined, '--tag');
    return { tags: o.tag as string[] | undefined, limit: o.limit as number };
  },
  handler: async (args, ctx) => {
    const client = await ctx.client();
    const sessions: Session[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.listSessions({ tag: args.tags, pageToken, pageSize: Math.min(200, args.limit - sessions.length) });
      sessions.push(...(page.sessions ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken && sessions.length < args.limit);
    const shown = sessions.slice(0, args.limit);
    ctx.out.result({ sessions: shown }, () =>
      ctx.out.table(
        [
          { header: 'ID', value: (s: Session) => s.id },
          { header: 'STATUS', value: (s) => shortEnum(s.status, 'SESSION_STATUS_') },
          { header: 'CREATED', value: (s) => s.createdAt },
          { header: 'LAST ACTIVITY', value: (s) => s.lastActivityAt },
          { header: 'TAGS', value: (s) => formatMap(s.tags) },
        ],
        shown,
        'no sessions',
      ),
    );
  },
});

export const sessionGroup = defineCommand({
  name: 'session',
  summary: 'create, show and list sessions',
  examples: ['aether session create --tag task=demo', 'aether session show sess_1234abcd', 'aether session list'],
  subcommands: [sessionCreate, sessionShow, sessionList],
});

// ---- fork ------------------------------------------------------------------------------------------

export interface ForkArgs {
  session?: string;
  checkpoint?: string;
  tags?: Record<string, string>;
}

export const fork = defineCommand<ForkArgs>({
  name: 'fork [session]',
  summary: 'fork a session (optionally from a checkpoint label) into a new one',
  description:
    'Fork a session (POST /v1/sessions/{id}/fork): an O(1) copy of its tree, or of a checkpoint with\n' +
    '--checkpoint LABEL. The fork keeps the parent tags, overlaid with --tag values. Inside a mount\n' +
    'the mount is synced first.',
  examples: ['aether fork sess_1234abcd', 'aether fork sess_1234abcd --checkpoint before-review --tag review-track=proposal-b --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--checkpoint <label>', 'fork from the most recent checkpoint with this label').option('--tag <key=value>', 'tag to set on the fork (repeatable)', collect),
  parse: ([session], o) => ({ session: session ?? (o.session as string | undefined), checkpoint: o.checkpoint as string | undefined, tags: parseKeyValues(o.tag as string[], '--tag') }),
  handler: async (args, ctx: CommandContext) => {
    const id = await ctx.sessionId(args.session);
    if (!args.checkpoint) await syncIfMounted(ctx, id);
    const s = await (await ctx.client()).forkSession(id, {
      ...(args.checkpoint ? { sourceCheckpointLabel: args.checkpoint } : {}),
      ...(args.tags ? { newTags: args.tags } : {}),
    });
    ctx.out.result(s, () => renderSession(ctx.out, s));
  },
});
