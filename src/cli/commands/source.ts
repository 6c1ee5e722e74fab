// `aether source create|list|show|import|refresh|promote|job`: reusable baselines and their
// asynchronous jobs (POST/GET /v1/sources, …/startImport, …/refresh, …/promoteSession,
// …/jobs/{jobId}). `--wait` polls the job to completion with a progress view (see cli/jobs.ts).
// Callers: cli/commands/index.ts.
import type { ImportJob, Source } from '../../protocol/types.js';
import { AetherError } from '../../shared/errors.js';
import { collect, defineCommand, intOption, parseKeyValues, type Opts } from '../command.js';
import type { CommandContext } from '../context.js';
import { EXIT_INTERRUPTED } from '../handle-error.js';
import { TERMINAL_JOB_STATES, waitForJob } from '../jobs.js';
import { renderJob, renderSource, shortEnum } from '../render.js';
import { formatMap } from '../ui/table.js';

// ---- create / list / show ---------------------------------------------------------------------------

export interface SourceCreateArgs {
  name: string;
  gitRemote: string;
  ref?: string;
  labels?: Record<string, string>;
  credentialsSecret?: string;
  wait: boolean;
}

export const sourceCreate = defineCommand<SourceCreateArgs>({
  name: 'create',
  summary: 'register a git remote as a source and import its ref',
  description:
    'Create a source (POST /v1/sources) backed by a git remote (https, ssh, file:// or a local path).\n' +
    'The gateway checks the remote and the ref first (`git ls-remote`): an unknown --ref exits 3, an\n' +
    'unreadable remote exits 4, nothing is created. It then imports the ref; this command waits for\n' +
    'that import with a progress view (--no-wait returns at once: follow it with `source job`).\n' +
    'There is no need to run `source import` afterwards.',
  examples: [
    'aether source create --name webapp-main --git-remote https://github.com/acme/webapp.git --ref main --label team=web',
    'aether source create --name local --git-remote /srv/git/app.git --json',
  ],
  json: true,
  configure: (cmd) =>
    cmd
      .requiredOption('--name <name>', 'display name')
      .requiredOption('--git-remote <url>', 'clone URL')
      .option('--ref <ref>', 'default ref to import (e.g. main)')
      .option('--label <key=value>', 'label (repeatable; filterable with `source list --filter`)', collect)
      .option('--credentials-secret <id>', 'secret holding the remote credentials')
      .option('--no-wait', 'return once the source is registered, without waiting for the import'),
  parse: (_ops, o: Opts) => ({
    name: o.name as string,
    gitRemote: o.gitRemote as string,
    ref: o.ref as string | undefined,
    labels: parseKeyValues(o.label as string[], '--label'),
    credentialsSecret: o.credentialsSecret as string | undefined,
    wait: o.wait !== false,
  }),
  handler: async (args, ctx) => {
    const client = await ctx.client();
    ctx.out.note(`checking ${args.gitRemote} and importing ${args.ref ?? 'main'}…`);
    let src = await client.createSource({
      displayName: args.name,
      gitRemote: {
        remoteUrl: args.gitRemote,
        ...(args.ref ? { defaultRef: args.ref } : {}),
        ...(args.credentialsSecret ? { credentialsSecretId: args.credentialsSecret } : {}),
      },
      ...(args.labels ? { labels: args.labels } : {}),
    });
    let interrupted = false;
    if (args.wait && src.lastJob && !TERMINAL_JOB_STATES.has(src.lastJob.state)) {
      ({ interrupted } = await waitForJob(ctx, src.lastJob, 'import'));
      src = await client.getSource(src.sourceId);
    }
    ctx.out.result(src, () => renderSource(ctx.out, src));
    if (interrupted) {
      ctx.out.note(`stopped waiting; the import keeps running. Check it with: aether source show ${src.sourceId}`);
      return EXIT_INTERRUPTED;
    }
    if (src.status === 'UNDERLAY_SOURCE_STATUS_FAILED') {
      const job = src.lastJob;
      throw new AetherError('AETHER_JOB_FAILED', `the import of source ${src.sourceId} failed${job?.errorCode ? ` (${job.errorCode})` : ''}${job?.errorMessage ? `: ${job.errorMessage}` : ''}`, {
        kind: 'internal',
        hint: `fix the cause, then: aether source import ${src.sourceId} --wait`,
      });
    }
    if (!args.wait && src.lastJob && !TERMINAL_JOB_STATES.has(src.lastJob.state)) ctx.out.note(`importing; follow it with: aether source job ${src.sourceId} ${src.lastJob.jobId} --wait`);
    return 0;
  },
});

export const sourceList = defineCommand<{ filter?: string; limit: number }>({
  name: 'list',
  aliases: ['ls'],
  summary: 'list sources',
  description: 'List sources (GET /v1/sources), optionally filtered by label (`--filter team=web`).',
  examples: ['aether source list', 'aether source list --filter team=web --json'],
  json: true,
  configure: (cmd) => cmd.option('--filter <expr>', 'filter expression, e.g. team=web').option('--limit <n>', 'at most this many sources', intOption('--limit', 1), 500),
  parse: (_ops, o) => ({ filter: o.filter as string | undefined, limit: o.limit as number }),
  handler: async (args, ctx) => {
    const client = await ctx.client();
    const sources: Source[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.listSources({ filter: args.filter, pageToken, pageSize: Math.min(100, args.limit - sources.length) });
      sources.push(...(page.sources ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken && sources.length < args.limit);
    const shown = sources.slice(0, args.limit);
    ctx.out.result({ sources: shown }, () =>
      ctx.out.table(
        [
          { header: 'ID', value: (s: Source) => s.sourceId },
          { header: 'NAME', value: (s) => s.displayName ?? '' },
          { header: 'STATUS', value: (s) => shortEnum(s.status, 'UNDERLAY_SOURCE_STATUS_') },
          { header: 'LATEST REVISION', value: (s) => s.latestRevisionId ?? '' },
          { header: 'LABELS', value: (s) => formatMap(s.labels) },
        ],
        shown,
        'no sources',
      ),
    );
  },
});

export const sourceShow = defineCommand<{ id: string }>({
  name: 'show <source-id>',
  summary: 'show one source',
  examples: ['aether source show src_webapp', 'aether source show src_webapp --json | jq -r .latestRevisionId'],
  json: true,
  parse: ([id]) => ({ id: id! }),
  handler: async (args, ctx) => {
    const src = await (await ctx.client()).getSource(args.id);
    ctx.out.result(src, () => renderSource(ctx.out, src));
  },
});

// ---- jobs -------------------------------------------------------------------------------------------

/** Print a job, or wait for it first; a FAILED job exits 1, an interrupted wait 130. */
async function finishJob(ctx: CommandContext, job: ImportJob, action: string, wait: boolean): Promise<number> {
  let interrupted = false;
  if (wait) ({ job, interrupted } = await waitForJob(ctx, job, action));
  ctx.out.result(job, () => renderJob(ctx.out, job));
  if (interrupted) {
    ctx.out.note(`stopped waiting; the job keeps running. Check it with: aether source job ${job.sourceId} ${job.jobId}`);
    return EXIT_INTERRUPTED;
  }
  if (wait && job.state === 'UNDERLAY_IMPORT_JOB_STATE_FAILED') {
    throw new AetherError('AETHER_JOB_FAILED', `${action} job ${job.jobId} failed${job.errorCode ? ` (${job.errorCode})` : ''}${job.errorMessage ? `: ${job.errorMessage}` : ''}`, {
      kind: 'internal',
      hint: `see aether source show ${job.sourceId}`,
    });
  }
  if (!wait) ctx.out.note(`follow it with: aether source job ${job.sourceId} ${job.jobId} --wait`);
  return 0;
}

const waitOption = '--wait';
const waitHelp = 'poll the job until it finishes, with a progress view';

export const sourceImport = defineCommand<{ id: string; ref?: string; wait: boolean }>({
  name: 'import <source-id>',
  summary: 'import a ref of the source (async job)',
  description:
    'Start an import (POST /v1/sources/{id}/startImport) of --ref (default: the source\'s default ref).\n' +
    'An identical import that is still queued or running is joined instead of started again, and a\n' +
    'commit imported before is reused without reading its files again.',
  examples: ['aether source import src_webapp --ref refs/heads/main --wait', 'aether source import src_webapp --json | jq -r .jobId'],
  json: true,
  configure: (cmd) => cmd.option('--ref <ref>', 'git ref to import').option(waitOption, waitHelp),
  parse: ([id], o) => ({ id: id!, ref: o.ref as string | undefined, wait: Boolean(o.wait) }),
  handler: async (args, ctx) => {
    const job = await (await ctx.client()).startImport(args.id, args.ref ? { git: { gitRef: args.ref } } : {});
    return finishJob(ctx, job, 'import', args.wait);
  },
});

export const sourceRefresh = defineCommand<{ id: string; ref?: string; wait: boolean }>({
  name: 'refresh <source-id>',
  summary: 'refresh the source from its remote (async job)',
  description: 'Refresh a source (POST /v1/sources/{id}/refresh) from --ref (default: the source\'s default ref).',
  examples: ['aether source refresh src_webapp --ref refs/heads/release/2026.03 --wait'],
  json: true,
  configure: (cmd) => cmd.option('--ref <ref>', 'git ref to import').option(waitOption, waitHelp),
  parse: ([id], o) => ({ id: id!, ref: o.ref as string | undefined, wait: Boolean(o.wait) }),
  handler: async (args, ctx) => {
    const job = await (await ctx.client()).refreshSource(args.id, args.ref ? { gitRef: args.ref } : {});
    return finishJob(ctx, job, 'refresh', args.wait);
  },
});

export const sourcePromote = defineCommand<{ id: string; session: string; label?: string; wait: boolean }>({
  name: 'promote <source-id>',
  summary: "promote a session's tree into a new source revision (async job)",
  description: 'Promote a session (POST /v1/sources/{id}/promoteSession); on success the source\'s latestRevisionId moves to the new revision.',
  examples: ['aether source promote src_webapp --session sess_1234abcd --label release-candidate-7 --wait'],
  json: true,
  configure: (cmd) => cmd.option('--session <id>', 'session to promote (default: $AETHER_SESSION or the current mount)').option('--label <label>', 'revision label').option(waitOption, waitHelp),
  parse: ([id], o) => ({ id: id!, session: o.session as string, label: o.label as string | undefined, wait: Boolean(o.wait) }),
  handler: async (args, ctx) => {
    const sessionId = await ctx.sessionId(args.session);
    const job = await (await ctx.client()).promoteSession(args.id, { sessionId, ...(args.label ? { revisionLabel: args.label } : {}) });
    return finishJob(ctx, job, 'promote', args.wait);
  },
});

export const sourceJob = defineCommand<{ id: string; job: string; wait: boolean }>({
  name: 'job <source-id> <job-id>',
  summary: 'show (or --wait for) a source job',
  description: 'Show a job (GET /v1/sources/{id}/jobs/{jobId}); with --wait, poll it to completion.',
  examples: ['aether source job src_webapp job_01HRJD8JAZM4H1JY70T6QW5C0V', 'aether source job src_webapp job_01HRJD8JAZM4H1JY70T6QW5C0V --wait --json'],
  json: true,
  configure: (cmd) => cmd.option(waitOption, waitHelp),
  parse: ([id, job], o) => ({ id: id!, job: job!, wait: Boolean(o.wait) }),
  handler: async (args, ctx) => {
    const job = await (await ctx.client()).getJob(args.id, args.job);
    return finishJob(ctx, job, 'job', args.wait);
  },
});

export const sourceGroup = defineCommand({
  name: 'source',
  summary: 'manage sources (git remotes) and their import jobs',
  examples: [
    'aether source create --name webapp --git-remote https://github.com/acme/webapp.git --ref main',
    'aether session create --source src_webapp',
    'aether source refresh src_webapp --wait',
  ],
  subcommands: [sourceCreate, sourceList, sourceShow, sourceImport, sourceRefresh, sourcePromote, sourceJob],
});
