// Human renderings of API objects shared by several commands (sessions, jobs, health). JSON mode
// never uses these: it prints the API objects with their wire field names.
// Callers: cli/commands/*.
import { int64ToNumber } from '../client/index.js';
import type { HealthStatus, ImportJob, Session, Source } from '../protocol/types.js';
import type { Output } from './output.js';
import { formatMap } from './ui/table.js';
import { formatBytes } from '../cas/size.js';

/** Drop the enum prefix: SESSION_STATUS_ACTIVE → ACTIVE. */
export function shortEnum(v: string | undefined, prefix: string): string {
  if (!v) return '';
  return v.startsWith(prefix) ? v.slice(prefix.length) : v;
}

export function renderSession(out: Output, s: Session): void {
  const c = out.colors;
  const status = shortEnum(s.status, 'SESSION_STATUS_');
  const caps = s.capabilities
    ? Object.entries(s.capabilities)
        .filter(([, v]) => v)
        .map(([k]) => k)
        .join(',')
    : undefined;
  out.keyValues([
    ['id', c.bold(s.id)],
    ['status', status === 'ACTIVE' ? c.green(status) : c.yellow(status)],
    ['tags', s.tags && Object.keys(s.tags).length ? formatMap(s.tags) : undefined],
    ['baseFingerprint', s.baseFingerprint || undefined],
    ['createdAt', s.createdAt],
    ['lastActivityAt', s.lastActivityAt],
    ['capabilities', caps || undefined],
  ]);
}

export function renderSource(out: Output, s: Source): void {
  out.keyValues([
    ['sourceId', out.colors.bold(s.sourceId)],
    ['displayName', s.displayName],
    ['kind', shortEnum(s.kind, 'UNDERLAY_SOURCE_KIND_')],
    ['status', shortEnum(s.status, 'UNDERLAY_SOURCE_STATUS_')],
    ['latestRevisionId', s.latestRevisionId || '(none yet)'],
    ['labels', s.labels && Object.keys(s.labels).length ? formatMap(s.labels) : undefined],
    ['createdAt', s.createdAt],
    ['updatedAt', s.updatedAt],
    ['createdByPrincipal', s.createdByPrincipal],
    ...lastJobPairs(out, s.lastJob),
  ]);
}

/** `lastJob` and, for a failed job, `error` lines of a source (the Aether `lastJob` extension). */
function lastJobPairs(out: Output, job: ImportJob | undefined): Array<readonly [string, string | undefined]> {
  if (!job) return [];
  const state = shortEnum(job.state, 'UNDERLAY_IMPORT_JOB_STATE_');
  const pairs: Array<readonly [string, string | undefined]> = [['lastJob', `${job.jobId} ${state} ${jobCounts(job)}`]];
  if (job.errorCode || job.errorMessage) pairs.push(['error', out.colors.red(`${job.errorCode ? `${job.errorCode}: ` : ''}${job.errorMessage ?? ''}`)]);
  return pairs;
}

/** `1,234 files, 14.1 MiB`. */
export function jobCounts(job: ImportJob): string {
  const files = safeInt(job.filesProcessed);
  const bytes = safeInt(job.bytesProcessed);
  return `${files.toLocaleString('en-US')} files, ${formatBytes(bytes)}`;
}

export function renderJob(out: Output, job: ImportJob): void {
  const c = out.colors;
  const state = shortEnum(job.state, 'UNDERLAY_IMPORT_JOB_STATE_');
  const colored = state === 'SUCCEEDED' ? c.green(state) : state === 'FAILED' ? c.red(state) : c.yellow(state);
  out.keyValues([
    ['jobId', c.bold(job.jobId)],
    ['sourceId', job.sourceId],
    ['state', colored],
    ['revisionId', job.revisionId || undefined],
    ['processed', jobCounts(job)],
    ['createdAt', job.createdAt],
    ['startedAt', job.startedAt || undefined],
    ['completedAt', job.completedAt || undefined],
    ['error', job.errorCode || job.errorMessage ? `${job.errorCode}${job.errorCode && job.errorMessage ? ': ' : ''}${job.errorMessage ?? ''}` : undefined],
  ]);
}

export function renderHealth(out: Output, h: HealthStatus): void {
  const c = out.colors;
  const st = shortEnum(h.status, 'STATUS_');
  out.keyValues([
    ['status', st === 'PASSING' ? c.green(st) : st === 'FAILING' ? c.red(st) : st],
    ['testsPassed', String(h.testsPassed ?? 0)],
    ['testsFailed', String(h.testsFailed ?? 0)],
    ['testsSkipped', String(h.testsSkipped ?? 0)],
    ['lastUpdatedAt', h.lastUpdatedAt || '(never)'],
  ]);
}

/** int64 wire value to number, tolerating absent and oversize values (display only). */
export function safeInt(v: string | number | undefined): number {
  try {
    return int64ToNumber(v);
  } catch {
    return Number(v) || 0;
  }
}
