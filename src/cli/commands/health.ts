// `aether health`, `aether health report FILE.xml`, `aether analytics`, `aether usage`: operational
// views (GET/POST /v1/sessions/{id}/health[/report], …/analytics, GET /v1/usage).
// Callers: cli/commands/index.ts.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AetherError, UserError } from '../../shared/errors.js';
import { defineCommand, parseTime } from '../command.js';
import { renderHealth, safeInt } from '../render.js';

export const healthReport = defineCommand<{ file: string; format: string; session?: string }>({
  name: 'report <file>',
  summary: 'report a junit XML test run and update the session health',
  description: 'Upload test results (POST /v1/sessions/{id}/health/report, reportFormat junit-xml/v1) and print the new health.',
  examples: ['aether health report build/test-results/junit.xml', 'aether health report junit.xml --json | jq -r .newHealthStatus.status'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--format <format>', 'report format', 'junit-xml/v1'),
  parse: ([file], o) => ({ file: file!, format: String(o.format), session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    let content: Buffer;
    try {
      content = await fsp.readFile(path.resolve(ctx.io.cwd, args.file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new AetherError('AETHER_FILE_UNREADABLE', `cannot read ${args.file}: ${code ?? (err as Error).message}`, { kind: code === 'ENOENT' ? 'not_found' : 'usage', cause: err });
    }
    const res = await (await ctx.client()).reportHealth(id, { reportFormat: args.format, reportContent: content });
    ctx.out.result(res, () => renderHealth(ctx.out, res.newHealthStatus));
  },
});

export const health = defineCommand<{ session?: string }>({
  name: 'health',
  summary: "show the session's last reported test health",
  description: 'Show the health snapshot (GET /v1/sessions/{id}/health). `aether health report FILE` updates it.',
  examples: ['aether health', 'aether health --json', 'aether health report junit.xml'],
  json: true,
  session: true,
  parse: (_ops, o) => ({ session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).getHealth(id);
    ctx.out.result(res, () => renderHealth(ctx.out, res.health));
  },
  subcommands: [healthReport],
});

export const analytics = defineCommand<{ session?: string }>({
  name: 'analytics',
  summary: 'show session analytics (mutations, checkpoints, time to first write)',
  examples: ['aether analytics', 'aether analytics --session sess_1234abcd --json'],
  json: true,
  session: true,
  parse: (_ops, o) => ({ session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const a = await (await ctx.client()).getAnalytics(id);
    ctx.out.result(a, () =>
      ctx.out.keyValues([
        ['sessionId', a.sessionId],
        ['timeToFirstWriteMs', a.timeToFirstWriteMs && a.timeToFirstWriteMs !== '0' ? a.timeToFirstWriteMs : '(no writes yet)'],
        ['totalFileMutations', String(safeInt(a.totalFileMutations))],
        ['checkpointCount', String(safeInt(a.checkpointCount))],
        ['restoreCount', String(safeInt(a.restoreCount))],
        ['lastReportedHealth', a.lastReportedHealth ? `${a.lastReportedHealth.status} (${a.lastReportedHealth.testsPassed ?? 0} passed, ${a.lastReportedHealth.testsFailed ?? 0} failed)` : undefined],
        ['completionTime', a.completionTime || undefined],
      ]),
    );
  },
});

/** At most 4 significant digits for display (the JSON keeps full precision). */
function roundForHumans(v: number | undefined): string {
  if (!v) return '0';
  return Math.abs(v) >= 1000 ? v.toFixed(0) : String(Number(v.toPrecision(4)));
}

const GRANULARITIES = ['hour', 'day', 'week', 'month'];

export const usage = defineCommand<{ from?: string; to?: string; granularity?: string }>({
  name: 'usage',
  summary: 'show tenant usage (session hours, storage, egress)',
  description: 'Tenant usage over a window (GET /v1/usage). Default window: the last 30 days.',
  examples: ['aether usage', 'aether usage --from 2026-03-01 --to 2026-03-31T23:59:59Z --granularity day --json'],
  json: true,
  configure: (cmd) =>
    cmd
      .option('--from <time>', 'window start (RFC 3339, YYYY-MM-DD or an age like 30d; default 30d)')
      .option('--to <time>', 'window end (default now)')
      .option('--granularity <g>', `aggregation granularity (${GRANULARITIES.join(', ')})`),
  parse: (_ops, o) => {
    const g = o.granularity as string | undefined;
    if (g && !GRANULARITIES.includes(g)) throw new UserError('AETHER_BAD_ARGUMENT', `--granularity must be one of ${GRANULARITIES.join(', ')}`);
    return {
      from: parseTime(String(o.from ?? '30d'), '--from'),
      to: parseTime(String(o.to ?? 'now'), '--to'),
      granularity: g,
    };
  },
  handler: async (args, ctx) => {
    const u = await (await ctx.client()).getUsage({ windowStart: args.from, windowEnd: args.to, ...(args.granularity ? { granularity: args.granularity } : {}) });
    ctx.out.result(u, () =>
      ctx.out.keyValues([
        ['tenantId', u.tenantId],
        ['window', `${u.windowStart ?? args.from} → ${u.windowEnd ?? args.to}`],
        ['granularity', u.granularity || undefined],
        ['sessionHours', roundForHumans(u.sessionHours)],
        ['storageGbMonth', roundForHumans(u.storageGbMonth)],
        ['egressGb', roundForHumans(u.egressGb)],
        ['aggregationVersion', u.aggregationVersion !== undefined ? String(u.aggregationVersion) : undefined],
      ]),
    );
  },
});
