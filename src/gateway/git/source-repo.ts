// Rows of the sources family (sources, revisions, jobs, git_blob_ids) and their public JSON shapes
// (v1Source, v1ImportJob). Shared by the source routes, the job runner, session creation (a
// session starts from a revision) and commit (a commit's parent is the session's revision).
//
// Invariant: a source is visible only to its tenant; getSource() answers NOT_FOUND otherwise, never
// revealing that the id exists.
import type { Db } from '../db/database.js';
import type { Principal } from '../auth.js';
import { notFound } from '../http/api-error.js';
import { formatTimestamp } from '../http/validate.js';
import type { ImportJob, Source, UnderlayImportJobState, UnderlaySourceStatus } from '../../protocol/types.js';

export interface SourceRow {
  id: string;
  tenant_id: string;
  display_name: string;
  kind: string;
  status: UnderlaySourceStatus;
  remote_url: string;
  default_ref: string;
  credentials_secret_id: string;
  labels: string;
  latest_revision_id: string;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export interface RevisionRow {
  id: string;
  source_id: string;
  commit_sha: string;
  root: string;
  git_ref: string;
  label: string;
  created_at: number;
}

export type JobKind = 'import' | 'refresh' | 'promote';

export interface JobRow {
  id: string;
  source_id: string;
  kind: JobKind;
  state: UnderlayImportJobState;
  params: string;
  revision_id: string;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  error_code: string;
  error_message: string;
  bytes_processed: number;
  files_processed: number;
}

/** JSON parameters stored with a job. */
export interface JobParams {
  /** import/refresh: the ref to import ("" = the source's default ref). */
  gitRef?: string;
  /** promote: the session, its root captured when the promotion was requested, and the label. */
  sessionId?: string;
  root?: string;
  revisionLabel?: string;
  /** promote: who asked (commit author). */
  principalId?: string;
}

export const JOB_QUEUED: UnderlayImportJobState = 'UNDERLAY_IMPORT_JOB_STATE_QUEUED';
export const JOB_RUNNING: UnderlayImportJobState = 'UNDERLAY_IMPORT_JOB_STATE_RUNNING';
export const JOB_SUCCEEDED: UnderlayImportJobState = 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED';
export const JOB_FAILED: UnderlayImportJobState = 'UNDERLAY_IMPORT_JOB_STATE_FAILED';

/** SQL access for sources, revisions, jobs and git blob ids (prepared once). */
export class SourceRepo {
  private readonly sourceById;
  private readonly revisionById;
  private readonly jobById;

  constructor(private db: Db) {
    this.sourceById = db.prepare('SELECT * FROM sources WHERE id = ?');
    this.revisionById = db.prepare('SELECT * FROM revisions WHERE id = ?');
    this.jobById = db.prepare('SELECT * FROM jobs WHERE id = ?');
  }

  /** The source if it belongs to the caller's tenant; NOT_FOUND otherwise. */
  getSource(principal: Principal, sourceId: string): SourceRow {
    const row = this.sourceById.get(sourceId) as SourceRow | undefined;
    if (!row || row.tenant_id !== principal.tenantId) throw notFound(`source ${sourceId} not found`);
    return row;
  }

  /** By id, no tenant check (background work on an already-checked source). */
  loadSource(sourceId: string): SourceRow | undefined {
    return this.sourceById.get(sourceId) as SourceRow | undefined;
  }

  /** A revision of `sourceId`, or undefined. */
  getRevision(sourceId: string, revisionId: string): RevisionRow | undefined {
    const row = this.revisionById.get(revisionId) as RevisionRow | undefined;
    return row && row.source_id === sourceId ? row : undefined;
  }

  /** The newest plain import (no label) of `commitSha` in `sourceId`, for reuse on re-import. */
  findImportRevision(sourceId: string, commitSha: string): RevisionRow | undefined {
    return this.db
      .prepare("SELECT * FROM revisions WHERE source_id = ? AND commit_sha = ? AND label = '' ORDER BY created_at DESC, rowid DESC LIMIT 1")
      .get(sourceId, commitSha) as RevisionRow | undefined;
  }

  getJob(sourceId: string, jobId: string): JobRow | undefined {
    const row = this.jobById.get(jobId) as JobRow | undefined;
    return row && row.source_id === sourceId ? row : undefined;
  }

  /** The newest job of a source, if any. */
  latestJob(sourceId: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE source_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(sourceId) as JobRow | undefined;
  }

  /** A QUEUED or RUNNING import/refresh job of `sourceId` for `ref` (as stored: "" = default). */
  activeImport(source: SourceRow, ref: string): JobRow | undefined {
    const rows = this.db
      .prepare("SELECT * FROM jobs WHERE source_id = ? AND kind IN ('import', 'refresh') AND state IN (?, ?) ORDER BY created_at, rowid")
      .all(source.id, JOB_QUEUED, JOB_RUNNING) as JobRow[];
    const effective = (r: string) => r || source.default_ref;
    return rows.find((j) => effective((JSON.parse(j.params) as JobParams).gitRef ?? '') === effective(ref));
  }

  loadJob(jobId: string): JobRow | undefined {
    return this.jobById.get(jobId) as JobRow | undefined;
  }

  /** Git blob id of a content hash, if some import or commit recorded it. */
  gitBlobId(contentHash: string): string | undefined {
    return (this.db.prepare('SELECT git_sha FROM git_blob_ids WHERE content_hash = ?').get(contentHash) as { git_sha: string } | undefined)?.git_sha;
  }

  /** Record content hash → git blob id pairs (idempotent). */
  recordGitBlobIds(pairs: Iterable<[string, string]>): void {
    const ins = this.db.prepare('INSERT OR IGNORE INTO git_blob_ids (content_hash, git_sha) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const [h, g] of pairs) ins.run(h, g);
    })();
  }
}

/** v1Source for a row; `lastJob` (Aether extension) is the source's newest job. */
export function sourceJson(row: SourceRow, lastJob?: JobRow): Source {
  return {
    sourceId: row.id,
    displayName: row.display_name,
    kind: row.kind as Source['kind'],
    status: row.status,
    latestRevisionId: row.latest_revision_id,
    createdAt: formatTimestamp(row.created_at),
    updatedAt: formatTimestamp(row.updated_at),
    createdByPrincipal: row.created_by,
    labels: JSON.parse(row.labels) as Record<string, string>,
    ...(lastJob ? { lastJob: jobJson(lastJob) } : {}),
  };
}

/** v1ImportJob for a row ("" for times not reached yet; int64 counters as strings). */
export function jobJson(row: JobRow): ImportJob {
  return {
    jobId: row.id,
    sourceId: row.source_id,
    state: row.state,
    revisionId: row.revision_id,
    createdAt: formatTimestamp(row.created_at),
    startedAt: row.started_at === null ? '' : formatTimestamp(row.started_at),
    completedAt: row.completed_at === null ? '' : formatTimestamp(row.completed_at),
    errorCode: row.error_code,
    errorMessage: row.error_message,
    bytesProcessed: String(row.bytes_processed),
    filesProcessed: String(row.files_processed),
  };
}
