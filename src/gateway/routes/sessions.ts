// Route family: sessions (create, get, list), fork, checkpoints (create, list) and restore.
//
// A session, a checkpoint and a source revision are each a root tree hash, so create-from-source,
// fork, checkpoint and restore are O(1) pointer copies: no tree or blob row is written.
//
// Invariants:
// - Sessions are tenant-private: every route starts with core.sessions.get() (NOT_FOUND otherwise).
// - A fork keeps its parent's source, revision and baseFingerprint, so a commit from the fork has
//   the same git parent as one from the parent.
// - Checkpoint and restore run under the session's mutation lock, so they see (and replace) the
//   tree after every in-flight mutation has landed.
// - `status` is the `sessions.status` column (maintained by the approvals family), reported as
//   PENDING_APPROVAL also whenever an approval row of the session is still pending.
import type { Router } from '../http/router.js';
import type { GatewayCore, SessionRow } from '../core.js';
import type { Principal } from '../auth.js';
import { failedPrecondition, invalidArgument, notFound } from '../http/api-error.js';
import {
  decodePageToken,
  encodePageToken,
  formatTimestamp,
  optionalString,
  parseObject,
  parsePageSize,
  parseStringMap,
} from '../http/validate.js';
import { newId } from '../../shared/digest.js';
import { gitService } from '../git/git-service.js';
import type { Checkpoint, ListCheckpointsResponse, ListSessionsResponse, RestoreResponse, Session, SessionStatus } from '../../protocol/types.js';

/**
 * baseFingerprint of a session that starts empty: git's id of the empty tree, i.e. the 40-hex
 * digest a git checkout of an empty root would have.
 */
export const EMPTY_TREE_FINGERPRINT = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

const ACTIVE: SessionStatus = 'SESSION_STATUS_ACTIVE';
const PENDING: SessionStatus = 'SESSION_STATUS_PENDING_APPROVAL';
const MAX_LABEL = 256;

interface CheckpointRow {
  id: string;
  session_id: string;
  label: string;
  root: string;
  created_at: number;
}

/**
 * The pending approval of a session: its id, '' when only the status column says so, or
 * undefined when nothing is pending.
 */
export function pendingApprovalId(core: GatewayCore, row: SessionRow): string | undefined {
  const pending = core.db
    .prepare("SELECT id FROM approvals WHERE session_id = ? AND state = 'APPROVAL_STATE_PENDING' ORDER BY requested_at DESC LIMIT 1")
    .get(row.id) as { id: string } | undefined;
  if (pending) return pending.id;
  return row.status === PENDING ? '' : undefined;
}

/** FAILED_PRECONDITION while an approval of the session is pending (`action`: "commit", …). */
export function assertNoPendingApproval(core: GatewayCore, row: SessionRow, action: string): void {
  const id = pendingApprovalId(core, row);
  if (id === undefined) return;
  const what = id ? `approval ${id} is pending` : 'an approval is pending';
  throw failedPrecondition(`${what} for session ${row.id}; ${action} after it is granted`);
}

/** v1Session for a row. */
export function sessionJson(core: GatewayCore, row: SessionRow): Session {
  return {
    id: row.id,
    baseFingerprint: row.base_fingerprint,
    status: pendingApprovalId(core, row) !== undefined ? PENDING : ((row.status as SessionStatus) || ACTIVE),
    tags: JSON.parse(row.tags) as Record<string, string>,
    createdAt: formatTimestamp(row.created_at),
    lastActivityAt: formatTimestamp(row.last_activity_at),
    capabilities: { commit: row.source_id !== null && row.source_id !== '', approvals: true, annotations: true },
  };
}

function checkpointJson(row: CheckpointRow): Checkpoint {
  return { id: row.id, sessionId: row.session_id, label: row.label, createdAt: formatTimestamp(row.created_at) };
}

function parseTags(v: unknown, field: string): Record<string, string> {
  const tags = parseStringMap(v, field);
  for (const k of Object.keys(tags)) if (!k) throw invalidArgument(`${field} must not have an empty key`);
  return tags;
}

interface NewSession {
  principal: Principal;
  root: string;
  baseRoot: string;
  tags: Record<string, string>;
  sourceId: string | null;
  revisionId: string | null;
  baseFingerprint: string;
  parentSessionId: string | null;
}

function insertSession(core: GatewayCore, s: NewSession): SessionRow {
  const now = core.clock.now();
  const id = newId('sess', now);
  core.db
    .prepare(
      `INSERT INTO sessions (id, tenant_id, root, base_root, status, tags, source_id, revision_id, base_fingerprint, parent_session_id, version, created_by, created_at, last_activity_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
    )
    .run(id, s.principal.tenantId, s.root, s.baseRoot, ACTIVE, JSON.stringify(s.tags), s.sourceId, s.revisionId, s.baseFingerprint, s.parentSessionId, s.principal.principalId, now, now);
  return core.sessions.reload(id);
}

/** The most recent checkpoint of `sessionId` labelled `label`. */
function latestCheckpointByLabel(core: GatewayCore, sessionId: string, label: string): CheckpointRow | undefined {
  return core.db
    .prepare('SELECT * FROM checkpoints WHERE session_id = ? AND label = ? ORDER BY created_at DESC, rowid DESC LIMIT 1')
    .get(sessionId, label) as CheckpointRow | undefined;
}

export function registerSessionRoutes(router: Router, core: GatewayCore): void {
  const sources = gitService(core).repo;

  router.post('/v1/sessions', (ctx) => {
    const ref = parseObject(ctx.body.sourceRef, 'sourceRef');
    const sourceId = optionalString(ref.sourceId, 'sourceRef.sourceId');
    const revisionId = optionalString(ref.revisionId, 'sourceRef.revisionId');
    const tags = parseTags(ctx.body.initialTags, 'initialTags');
    let row: SessionRow;
    if (!sourceId) {
      if (revisionId) throw invalidArgument('sourceRef.sourceId is required when sourceRef.revisionId is set');
      row = insertSession(core, {
        principal: ctx.principal,
        root: core.trees.emptyTree,
        baseRoot: core.trees.emptyTree,
        tags,
        sourceId: null,
        revisionId: null,
        baseFingerprint: EMPTY_TREE_FINGERPRINT,
        parentSessionId: null,
      });
    } else {
      const source = sources.getSource(ctx.principal, sourceId);
      let revId = revisionId;
      if (!revId) {
        if (!source.latest_revision_id) {
          throw failedPrecondition(`source ${source.id} has no imported revision yet (status ${source.status}); wait for its import to succeed`);
        }
        revId = source.latest_revision_id;
      }
      const rev = sources.getRevision(source.id, revId);
      if (!rev) throw notFound(`revision ${revId} not found for source ${source.id}`);
      row = insertSession(core, {
        principal: ctx.principal,
        root: rev.root,
        baseRoot: rev.root,
        tags,
        sourceId: source.id,
        revisionId: rev.id,
        baseFingerprint: rev.commit_sha,
        parentSessionId: null,
      });
    }
    core.events.record(row.id, 'v1.SessionService.CreateSession', { sourceId: row.source_id ?? '', revisionId: row.revision_id ?? '' });
    return sessionJson(core, row);
  });

  router.get('/v1/sessions', (ctx) => {
    const pageSize = parsePageSize(ctx.query.get('pageSize'), 100, 1000);
    const token = decodePageToken<{ r: number }>(ctx.query.get('pageToken'), (t) => Number.isSafeInteger(t.r));
    const filters: Array<[string, string]> = [];
    for (const t of ctx.query.getAll('tag')) {
      const eq = t.indexOf('=');
      if (eq <= 0) throw invalidArgument(`tag filter ${JSON.stringify(t)} must look like key=value`);
      filters.push([t.slice(0, eq), t.slice(eq + 1)]);
    }
    const where = filters.map(() => ' AND EXISTS (SELECT 1 FROM json_each(sessions.tags) j WHERE j.key = ? AND j.value = ?)').join('');
    const rows = core.db
      .prepare(`SELECT rowid AS r, * FROM sessions WHERE tenant_id = ? AND deleted_at IS NULL AND rowid > ?${where} ORDER BY rowid LIMIT ?`)
      .all(ctx.principal.tenantId, token?.r ?? 0, ...filters.flat(), pageSize + 1) as Array<SessionRow & { r: number }>;
    const page = rows.slice(0, pageSize);
    const res: ListSessionsResponse = {
      sessions: page.map((r) => sessionJson(core, r)),
      nextPageToken: rows.length > pageSize ? encodePageToken({ r: page[page.length - 1]!.r }) : '',
    };
    return res;
  });

  router.get('/v1/sessions/{sessionId}', (ctx) => sessionJson(core, core.sessions.get(ctx.principal, ctx.params.sessionId!)));

  // Aether extension (issue 15): delete a session. Its row stays as a tombstone (ids are never
  // reused; every route answers NOT_FOUND); what hangs off it goes now, in one transaction; its
  // trees and blobs are released by the next GC unless a fork, checkpoint of another session or
  // revision still shares them.
  router.delete('/v1/sessions/{sessionId}', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    await core.sessions.withLock(s.id, async () => {
      core.db.transaction(() => {
        for (const table of ['checkpoints', 'annotations', 'approvals', 'events', 'cache_entries', 'bus_messages', 'file_locks', 'health']) {
          core.db.prepare(`DELETE FROM ${table} WHERE session_id = ?`).run(s.id);
        }
        core.db.prepare("DELETE FROM secrets WHERE session_id = ? AND scope = 'SECRET_SCOPE_SESSION'").run(s.id);
        core.db.prepare('UPDATE sessions SET deleted_at = ?, status = ? WHERE id = ?').run(core.clock.now(), s.status, s.id);
      })();
    });
    return {};
  });

  router.post('/v1/sessions/{sessionId}/fork', async (ctx) => {
    const parent = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const label = optionalString(ctx.body.sourceCheckpointLabel, 'sourceCheckpointLabel');
    const newTags = parseTags(ctx.body.newTags, 'newTags');
    const root = await core.sessions.withLock(parent.id, async () => {
      if (label === undefined) return core.sessions.reload(parent.id).root;
      const cp = latestCheckpointByLabel(core, parent.id, label);
      if (!cp) throw notFound(`checkpoint with label ${JSON.stringify(label)} not found for session ${parent.id}`);
      return cp.root;
    });
    const cur = core.sessions.reload(parent.id);
    const child = insertSession(core, {
      principal: ctx.principal,
      root,
      baseRoot: cur.base_root,
      tags: { ...(JSON.parse(cur.tags) as Record<string, string>), ...newTags },
      sourceId: cur.source_id,
      revisionId: cur.revision_id,
      baseFingerprint: cur.base_fingerprint,
      parentSessionId: cur.id,
    });
    core.sessions.touch(parent.id);
    core.events.record(parent.id, 'v1.SessionService.ForkSession', { forkSessionId: child.id, sourceCheckpointLabel: label ?? '' });
    core.events.record(child.id, 'v1.SessionService.CreateSession', {
      sourceId: child.source_id ?? '',
      revisionId: child.revision_id ?? '',
      forkedFromSessionId: parent.id,
      sourceCheckpointLabel: label ?? '',
    });
    return sessionJson(core, child);
  });

  router.post('/v1/sessions/{sessionId}/checkpoints', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const label = optionalString(ctx.body.label, 'label') ?? '';
    if (label.length > MAX_LABEL) throw invalidArgument(`label is longer than ${MAX_LABEL} characters`);
    const cp = await core.sessions.withLock(s.id, async () =>
      core.db.transaction(() => {
        const cur = core.sessions.reload(s.id);
        const now = core.clock.now();
        const row: CheckpointRow = { id: newId('cp', now), session_id: s.id, label, root: cur.root, created_at: now };
        core.db.prepare('INSERT INTO checkpoints (id, session_id, label, root, created_at) VALUES (?, ?, ?, ?, ?)').run(row.id, row.session_id, row.label, row.root, row.created_at);
        core.db.prepare('UPDATE sessions SET checkpoint_count = checkpoint_count + 1, last_activity_at = ? WHERE id = ?').run(now, s.id);
        return row;
      })(),
    );
    core.events.record(s.id, 'v1.SessionService.CreateCheckpoint', { checkpointId: cp.id, label: cp.label });
    return checkpointJson(cp);
  });

  router.get('/v1/sessions/{sessionId}/checkpoints', (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const rows = core.db.prepare('SELECT * FROM checkpoints WHERE session_id = ? ORDER BY created_at, rowid').all(s.id) as CheckpointRow[];
    const res: ListCheckpointsResponse = { checkpoints: rows.map(checkpointJson) };
    return res;
  });

  router.post('/v1/sessions/{sessionId}/restore', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const checkpointId = optionalString(ctx.body.checkpointId, 'checkpointId');
    const label = optionalString(ctx.body.label, 'label');
    if (checkpointId === undefined && label === undefined) throw invalidArgument('set one of checkpointId or label');
    if (checkpointId !== undefined && label !== undefined) throw invalidArgument('set only one of checkpointId or label');
    const cp = await core.sessions.withLock(s.id, async () => {
      const found =
        checkpointId !== undefined
          ? (core.db.prepare('SELECT * FROM checkpoints WHERE id = ? AND session_id = ?').get(checkpointId, s.id) as CheckpointRow | undefined)
          : latestCheckpointByLabel(core, s.id, label!);
      if (!found) {
        throw notFound(checkpointId !== undefined ? `checkpoint ${checkpointId} not found for session ${s.id}` : `checkpoint with label ${JSON.stringify(label)} not found for session ${s.id}`);
      }
      core.db
        .prepare('UPDATE sessions SET root = ?, version = version + 1, restore_count = restore_count + 1, last_activity_at = ? WHERE id = ?')
        .run(found.root, core.clock.now(), s.id);
      return found;
    });
    core.events.record(s.id, 'v1.SessionService.RestoreCheckpoint', { checkpointId: cp.id, label: cp.label });
    const res: RestoreResponse = { checkpointId: cp.id };
    return res;
  });
}
