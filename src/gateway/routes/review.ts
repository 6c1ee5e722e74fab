// Route family: review — annotations (seed §6) and approvals (seeds §7, §8, §32).
//
// Annotations are comments pinned to one file version: adding one requires the file to exist as a
// regular file, and `expectedContentHash` (when set) must equal its current content hash, so a
// comment never lands on content the reviewer did not see (stale → 9). The stored contentHash is
// the file's hash at that moment. Annotations outlive later edits and deletions of their file.
//
// Approvals are a small state machine per session: request → PENDING (the session's status becomes
// SESSION_STATUS_PENDING_APPROVAL, which the commit route refuses), then grant → GRANTED or
// deny → DENIED (feedback kept), both returning the session to SESSION_STATUS_ACTIVE. At most one
// approval is pending per session; resolving is not idempotent (already resolved → 9). Every
// transition is one SQLite transaction. Extensions: GET .../approvals and GET .../approvals/{id}.
//
// Events: v1.AnnotationService.AddAnnotation/UpdateAnnotation, v1.ApprovalService.RequestApproval/
// GrantApproval/DenyApproval.
import type { Router } from '../http/router.js';
import type { GatewayCore, SessionRow } from '../core.js';
import { failedPrecondition, invalidArgument, notFound } from '../http/api-error.js';
import { formatTimestamp, normalizePath, parseArray, parseEnum, parseInt64, parseObject, requireString } from '../http/validate.js';
import { isContentHash, newId } from '../../shared/digest.js';
import type { Annotation, AnnotationStatus, Approval, ApprovalState } from '../../protocol/types.js';

const ANNOTATION_STATUSES = ['ANNOTATION_STATUS_OPEN', 'ANNOTATION_STATUS_RESOLVED'] as const satisfies readonly AnnotationStatus[];
const PENDING: ApprovalState = 'APPROVAL_STATE_PENDING';
const MAX_TEXT = 64 * 1024;
const MAX_CHANGED_FILES = 10_000;

interface AnnotationRow {
  id: string;
  session_id: string;
  file_path: string;
  line_number: number;
  content_hash: string;
  comment: string;
  reviewer_id: string;
  status: string;
  created_at: number;
  updated_at: number;
}

interface ApprovalRow {
  id: string;
  session_id: string;
  reason: string;
  summary: string;
  changed_files: string;
  state: string;
  feedback: string;
  requested_by: string;
  resolved_by: string;
  requested_at: number;
  resolved_at: number | null;
}

function wireAnnotation(r: AnnotationRow): Annotation {
  return {
    id: r.id,
    sessionId: r.session_id,
    filePath: r.file_path,
    lineNumber: r.line_number,
    contentHash: r.content_hash,
    comment: r.comment,
    reviewerId: r.reviewer_id,
    status: r.status as AnnotationStatus,
    createdAt: formatTimestamp(r.created_at),
  };
}

function wireApproval(r: ApprovalRow): Approval {
  return {
    approvalId: r.id,
    sessionId: r.session_id,
    reason: r.reason,
    summary: r.summary,
    changedFiles: JSON.parse(r.changed_files) as string[],
    state: r.state as ApprovalState,
    feedback: r.feedback,
    requestedAt: formatTimestamp(r.requested_at),
    resolvedAt: r.resolved_at === null ? '' : formatTimestamp(r.resolved_at),
  };
}

export function registerReviewRoutes(router: Router, core: GatewayCore): void {
  const db = core.db;
  const q = {
    insertAnnotation: db.prepare(
      `INSERT INTO annotations (id, session_id, file_path, line_number, content_hash, comment, reviewer_id, status, created_at, updated_at)
       VALUES (@id, @session_id, @file_path, @line_number, @content_hash, @comment, @reviewer_id, @status, @created_at, @updated_at)`,
    ),
    annotationById: db.prepare('SELECT * FROM annotations WHERE id = ? AND session_id = ?'),
    annotationsAll: db.prepare('SELECT * FROM annotations WHERE session_id = ? ORDER BY created_at, rowid'),
    annotationsForFile: db.prepare('SELECT * FROM annotations WHERE session_id = ? AND file_path = ? ORDER BY created_at, rowid'),
    updateAnnotation: db.prepare('UPDATE annotations SET status = ?, updated_at = ? WHERE id = ?'),
    pendingApproval: db.prepare(`SELECT id FROM approvals WHERE session_id = ? AND state = '${PENDING}' LIMIT 1`),
    insertApproval: db.prepare(
      `INSERT INTO approvals (id, session_id, reason, summary, changed_files, state, requested_by, requested_at)
       VALUES (@id, @session_id, @reason, @summary, @changed_files, '${PENDING}', @requested_by, @requested_at)`,
    ),
    approvalById: db.prepare('SELECT * FROM approvals WHERE id = ? AND session_id = ?'),
    approvalsAll: db.prepare('SELECT * FROM approvals WHERE session_id = ? ORDER BY requested_at, rowid'),
    resolveApproval: db.prepare('UPDATE approvals SET state = ?, feedback = ?, resolved_by = ?, resolved_at = ? WHERE id = ?'),
    setStatus: db.prepare('UPDATE sessions SET status = ?, last_activity_at = ? WHERE id = ?'),
    clearPending: db.prepare(`UPDATE sessions SET status = 'SESSION_STATUS_ACTIVE', last_activity_at = ? WHERE id = ? AND status = 'SESSION_STATUS_PENDING_APPROVAL'`),
  };

  // ---- annotations --------------------------------------------------------------------------------

  router.post('/v1/sessions/{sessionId}/annotations', (ctx): { annotation: Annotation } => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const b = ctx.body;
    const filePath = normalizePath(b.filePath, 'filePath', { allowRoot: false });
    const lineNumber = parseInt64(b.lineNumber, 'lineNumber', 0, { min: 0, max: 2 ** 31 - 1 });
    const comment = requireString(b.comment, 'comment', { maxLength: MAX_TEXT });
    const expected = b.expectedContentHash === undefined || b.expectedContentHash === null ? '' : requireString(b.expectedContentHash, 'expectedContentHash', { allowEmpty: true });
    if (expected && !isContentHash(expected)) throw invalidArgument('expectedContentHash must be "sha256:" followed by 64 lowercase hex digits');
    const entry = core.trees.lookup(s.root, filePath);
    if (!entry) throw notFound(`${filePath} does not exist in session ${s.id}`);
    if (entry.t !== 'f') throw failedPrecondition(`${filePath} is not a regular file`);
    const current = entry.h!;
    if (expected && expected !== current) {
      throw failedPrecondition(`stale content: ${filePath} has content hash ${current}, not the expectedContentHash ${expected}`);
    }
    const now = core.clock.now();
    const row: AnnotationRow = {
      id: newId('ann', now),
      session_id: s.id,
      file_path: filePath,
      line_number: lineNumber,
      content_hash: current,
      comment,
      reviewer_id: ctx.principal.principalId,
      status: 'ANNOTATION_STATUS_OPEN',
      created_at: now,
      updated_at: now,
    };
    q.insertAnnotation.run(row);
    core.events.record(s.id, 'v1.AnnotationService.AddAnnotation', { filePath, annotationId: row.id });
    core.sessions.touch(s.id);
    return { annotation: wireAnnotation(row) };
  });

  router.get('/v1/sessions/{sessionId}/annotations', (ctx): { annotations: Annotation[] } => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const fp = ctx.query.get('filePath');
    const rows = (fp === null || fp === '' ? q.annotationsAll.all(s.id) : q.annotationsForFile.all(s.id, normalizePath(fp, 'filePath'))) as AnnotationRow[];
    return { annotations: rows.map(wireAnnotation) };
  });

  router.patch('/v1/sessions/{sessionId}/annotations/{annotationId}', (ctx): { annotation: Annotation } => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const status = parseEnum(ctx.body.newStatus, 'newStatus', ANNOTATION_STATUSES);
    const id = ctx.params.annotationId!;
    const row = q.annotationById.get(id, s.id) as AnnotationRow | undefined;
    if (!row) throw notFound(`annotation ${id} was not found for session ${s.id}`);
    const now = core.clock.now();
    q.updateAnnotation.run(status, now, id);
    core.events.record(s.id, 'v1.AnnotationService.UpdateAnnotation', { annotationId: id, status });
    core.sessions.touch(s.id);
    return { annotation: wireAnnotation({ ...row, status, updated_at: now }) };
  });

  // ---- approvals ------------------------------------------------------------------------------------

  router.post('/v1/sessions/{sessionId}/request-approval', (ctx): { approvalId: string } => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const reason = requireString(ctx.body.reason, 'reason', { maxLength: 1024 });
    const details = parseObject(ctx.body.details, 'details');
    const summary = requireString(details.summary, 'details.summary', { allowEmpty: true, maxLength: MAX_TEXT });
    const files = parseArray(details.changedFiles, 'details.changedFiles');
    if (files.length > MAX_CHANGED_FILES) throw invalidArgument(`details.changedFiles has more than ${MAX_CHANGED_FILES} entries`);
    const changedFiles = files.map((p, i) => normalizePath(p, `details.changedFiles[${i}]`, { allowRoot: false }));
    const id = db.transaction(() => {
      const pending = q.pendingApproval.get(s.id) as { id: string } | undefined;
      if (pending) throw failedPrecondition(`session ${s.id} already has a pending approval ${pending.id}`);
      const now = core.clock.now();
      const approvalId = newId('appr', now);
      q.insertApproval.run({ id: approvalId, session_id: s.id, reason, summary, changed_files: JSON.stringify(changedFiles), requested_by: ctx.principal.principalId, requested_at: now });
      q.setStatus.run('SESSION_STATUS_PENDING_APPROVAL', now, s.id);
      return approvalId;
    })();
    core.events.record(s.id, 'v1.ApprovalService.RequestApproval', { approvalId: id, reason });
    return { approvalId: id };
  });

  /** Resolve a pending approval of session `s` (one transaction): unknown → 5, not pending → 9. */
  const resolve = (s: SessionRow, approvalId: string, state: ApprovalState, feedback: string, by: string): void => {
    db.transaction(() => {
      const row = q.approvalById.get(approvalId, s.id) as ApprovalRow | undefined;
      if (!row) throw notFound(`approval ${approvalId} was not found for session ${s.id}`);
      if (row.state !== PENDING) throw failedPrecondition(`approval ${approvalId} is no longer pending`);
      const now = core.clock.now();
      q.resolveApproval.run(state, feedback, by, now, approvalId);
      q.clearPending.run(now, s.id);
    })();
  };

  router.post('/v1/sessions/{sessionId}/approvals/{approvalId}/grant', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const id = ctx.params.approvalId!;
    resolve(s, id, 'APPROVAL_STATE_GRANTED', '', ctx.principal.principalId);
    core.events.record(s.id, 'v1.ApprovalService.GrantApproval', { approvalId: id });
    return {};
  });

  router.post('/v1/sessions/{sessionId}/approvals/{approvalId}/deny', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const id = ctx.params.approvalId!;
    const feedback = requireString(ctx.body.feedback, 'feedback', { allowEmpty: true, maxLength: MAX_TEXT });
    resolve(s, id, 'APPROVAL_STATE_DENIED', feedback, ctx.principal.principalId);
    core.events.record(s.id, 'v1.ApprovalService.DenyApproval', { approvalId: id, feedback });
    return {};
  });

  router.get('/v1/sessions/{sessionId}/approvals', (ctx): { approvals: Approval[] } => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    return { approvals: (q.approvalsAll.all(s.id) as ApprovalRow[]).map(wireApproval) };
  });

  router.get('/v1/sessions/{sessionId}/approvals/{approvalId}', (ctx): Approval => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const id = ctx.params.approvalId!;
    const row = q.approvalById.get(id, s.id) as ApprovalRow | undefined;
    if (!row) throw notFound(`approval ${id} was not found for session ${s.id}`);
    return wireApproval(row);
  });
}
