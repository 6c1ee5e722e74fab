// Route family: session health, session analytics and tenant usage (seed §24–§27).
//
//   GET  /v1/sessions/{sessionId}/health              last reported test health (UNKNOWN before any)
//   POST /v1/sessions/{sessionId}/health/report       JUnit XML report → new health
//   POST /v1/sessions/{sessionId}/health:testResults  alias of health/report
//   GET  /v1/sessions/{sessionId}/analytics           per-session metrics from the sessions row
//   GET  /v1/usage                                    the caller tenant's usage over a window
//
// Invariants:
//  - Reports are parsed by coord/junit.ts; any malformed report is INVALID_ARGUMENT, never 500.
//  - Health status: FAILING when any test failed (failures + errors), PASSING when none failed
//    and the report counted at least one test, UNKNOWN for a report with no tests.
//  - Analytics reads columns other families maintain (mutation_count, first_write_at,
//    checkpoint_count, restore_count, completed_at); nothing here writes them.
//  - Usage is computed on demand from sessions, tenant_blobs ⋈ blobs and usage_egress; GB is
//    10^9 bytes and a month is 30 days.
// Owned table: health.
import type { Router, RequestContext } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { invalidArgument } from '../http/api-error.js';
import { formatTimestamp, parseBytes, parseTimestamp, requireString } from '../http/validate.js';
import { JunitParseError, parseJunitReport } from '../coord/junit.js';
import type {
  GetHealthResponse,
  HealthStatus,
  HealthState,
  ReportTestResultsResponse,
  SessionAnalytics,
  TenantUsage,
} from '../../protocol/types.js';

/** The only accepted `reportFormat`. */
export const JUNIT_FORMAT = 'junit-xml/v1';
/** Largest accepted report (decoded bytes). */
export const MAX_REPORT_BYTES = 32 * 1024 * 1024;
/** Version of the usage aggregation below; bump when the formulas change. */
export const USAGE_AGGREGATION_VERSION = 1;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Storage is billed in 30-day months. */
const MONTH_MS = 30 * DAY_MS;
const GB = 1e9;
const GRANULARITIES = ['day', 'hour', 'month'] as const;

interface HealthRow {
  status: string;
  tests_passed: number;
  tests_failed: number;
  tests_skipped: number;
  last_updated_at: number;
}

/** Health as the API shows it; `lastUpdatedAt` is absent before the first report (openapi.yaml). */
function toHealth(row: HealthRow | undefined): HealthStatus {
  if (!row) return { status: 'STATUS_UNKNOWN', testsPassed: 0, testsFailed: 0, testsSkipped: 0 };
  return {
    status: row.status as HealthState,
    testsPassed: row.tests_passed,
    testsFailed: row.tests_failed,
    testsSkipped: row.tests_skipped,
    lastUpdatedAt: formatTimestamp(row.last_updated_at),
  };
}

/** First instant of the UTC month containing `ms`, shifted by `addMonths`. */
function monthStart(ms: number, addMonths = 0): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + addMonths, 1);
}

export function registerHealthRoutes(router: Router, core: GatewayCore): void {
  const db = core.db;
  const healthGet = db.prepare('SELECT status, tests_passed, tests_failed, tests_skipped, last_updated_at FROM health WHERE session_id = ?');
  const healthPut = db.prepare(
    'INSERT OR REPLACE INTO health (session_id, status, tests_passed, tests_failed, tests_skipped, last_updated_at) VALUES (?, ?, ?, ?, ?, ?)',
  );

  router.get('/v1/sessions/{sessionId}/health', (ctx): GetHealthResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    return { health: toHealth(healthGet.get(s.id) as HealthRow | undefined) };
  });

  const report = (ctx: RequestContext): ReportTestResultsResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const format = requireString(ctx.body.reportFormat, 'reportFormat');
    if (format !== JUNIT_FORMAT) throw invalidArgument(`reportFormat must be "${JUNIT_FORMAT}" (got ${JSON.stringify(format.slice(0, 64))})`);
    if (ctx.body.reportContent === undefined || ctx.body.reportContent === null || ctx.body.reportContent === '') {
      throw invalidArgument('reportContent is required');
    }
    const content = parseBytes(ctx.body.reportContent, 'reportContent');
    if (content.length > MAX_REPORT_BYTES) throw invalidArgument(`reportContent is larger than ${MAX_REPORT_BYTES} bytes`);
    let summary;
    try {
      summary = parseJunitReport(content);
    } catch (err) {
      if (err instanceof JunitParseError) throw invalidArgument(`reportContent: ${err.message}`);
      throw err;
    }
    const status: HealthState = summary.failed > 0 ? 'STATUS_FAILING' : summary.tests > 0 ? 'STATUS_PASSING' : 'STATUS_UNKNOWN';
    const now = core.clock.now();
    db.transaction(() => {
      healthPut.run(s.id, status, summary.passed, summary.failed, summary.skipped, now);
      core.events.record(s.id, 'v1.HealthService.ReportTestResults', {
        status,
        testsPassed: String(summary.passed),
        testsFailed: String(summary.failed),
        testsSkipped: String(summary.skipped),
      });
    })();
    core.sessions.touch(s.id);
    return { newHealthStatus: toHealth(healthGet.get(s.id) as HealthRow) };
  };
  router.post('/v1/sessions/{sessionId}/health/report', report);
  router.post('/v1/sessions/{sessionId}/health:testResults', report);

  router.get('/v1/sessions/{sessionId}/analytics', (ctx): SessionAnalytics => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const health = healthGet.get(s.id) as HealthRow | undefined;
    const out: SessionAnalytics = {
      sessionId: s.id,
      timeToFirstWriteMs: String(s.first_write_at === null ? 0 : Math.max(0, s.first_write_at - s.created_at)),
      totalFileMutations: String(s.mutation_count),
      checkpointCount: String(s.checkpoint_count),
      restoreCount: String(s.restore_count),
    };
    if (health) out.lastReportedHealth = toHealth(health);
    if (s.completed_at !== null) out.completionTime = formatTimestamp(s.completed_at);
    return out;
  });

  const sessionMs = db.prepare(
    `SELECT COALESCE(SUM(MAX(0, MIN(@end, COALESCE(completed_at, @now)) - MAX(@start, created_at))), 0) AS ms
       FROM sessions WHERE tenant_id = @tenant AND created_at < @end AND COALESCE(completed_at, @now) > @start`,
  );
  const storedBytes = db.prepare(
    'SELECT COALESCE(SUM(b.size), 0) AS bytes FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash WHERE t.tenant_id = ?',
  );
  const egressBytes = db.prepare('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM usage_egress WHERE tenant_id = ? AND day >= ? AND day <= ?');

  router.get('/v1/usage', (ctx): TenantUsage => {
    const q = ctx.query;
    for (const name of ['windowStart', 'windowEnd', 'granularity']) {
      if (q.getAll(name).length > 1) throw invalidArgument(`${name} must be given at most once`);
    }
    const now = core.clock.now();
    // Defaults: the current UTC month; an end alone keeps the current month's start, a start
    // alone runs to the end of its own month.
    const start = parseTimestamp(q.get('windowStart') ?? undefined, 'windowStart') ?? monthStart(now);
    const end = parseTimestamp(q.get('windowEnd') ?? undefined, 'windowEnd') ?? monthStart(start, 1);
    if (end < start) throw invalidArgument('windowEnd must not be before windowStart');
    const gRaw = q.get('granularity');
    const granularity = gRaw === null || gRaw === '' ? 'day' : gRaw;
    if (!(GRANULARITIES as readonly string[]).includes(granularity)) throw invalidArgument(`granularity must be one of ${GRANULARITIES.join(', ')}`);

    const tenant = ctx.principal.tenantId;
    const { ms } = sessionMs.get({ tenant, start, end, now }) as { ms: number };
    const { bytes: stored } = storedBytes.get(tenant) as { bytes: number };
    // Days (UTC, YYYY-MM-DD) that overlap [start, end).
    let egress = 0;
    if (end > start) {
      const firstDay = new Date(start).toISOString().slice(0, 10);
      const lastDay = new Date(end - 1).toISOString().slice(0, 10);
      egress = (egressBytes.get(tenant, firstDay, lastDay) as { bytes: number }).bytes;
    }
    return {
      tenantId: tenant,
      windowStart: formatTimestamp(start),
      windowEnd: formatTimestamp(end),
      granularity,
      aggregationVersion: USAGE_AGGREGATION_VERSION,
      sessionHours: ms / HOUR_MS,
      storageGbMonth: (stored / GB) * ((end - start) / MONTH_MS),
      egressGb: egress / GB,
    };
  });
}
