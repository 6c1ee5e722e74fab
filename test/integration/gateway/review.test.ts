// Annotations and approvals against a real gateway (seeds §6, §7, §8, §32).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { sha256 } from '../../../src/shared/digest.js';

/** A new empty session of the caller's tenant, via POST /v1/sessions. */
async function createSession(token?: string): Promise<string> {
  const r = await call('POST', '/v1/sessions', {}, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as string;
}

/** Write files through the batch route; returns each file's content hash. */
async function writeFiles(sessionId: string, files: Record<string, string>): Promise<Record<string, string>> {
  const operations = Object.entries(files).map(([path, text]) => ({ write: { path, content: Buffer.from(text).toString('base64') } }));
  const r = await call('POST', `/v1/sessions/${sessionId}/batch`, { operations });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return Object.fromEntries(Object.entries(files).map(([p, text]) => [p, sha256(Buffer.from(text))]));
}

/** Session status as GET /v1/sessions/{id} reports it. */
async function sessionStatus(sessionId: string): Promise<string> {
  const r = await call('GET', `/v1/sessions/${sessionId}`);
  expect(r.status).toBe(200);
  return r.body.status;
}

function events(sessionId: string): Array<{ type: string; details: Record<string, string> }> {
  return (t.gw.core.db.prepare('SELECT event_type, details FROM events WHERE session_id = ? ORDER BY seq').all(sessionId) as Array<{ event_type: string; details: string }>).map(
    (e) => ({ type: e.event_type, details: JSON.parse(e.details) }),
  );
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SEED_HASH = 'sha256:0c9c7ca53c8f7d8b1efb62fdb5879f7ff6b6e2d9f0b3f0173d9d68c8a1d62d7d';
const SEED_COMMENT = 'This branch adds the null-check, but the error path still needs coverage.';
const MAIN_TS = 'export function main(x?: string) {\n  if (x == null) return;\n}\n';

let t: TestGateway;
/** t.call without the headers, so whole responses compare with toEqual. */
const call = async (method: string, path: string, body?: unknown, token?: string | null) => {
  const { status, body: b } = await t.call(method, path, body, token);
  return { status, body: b };
};
let sid: string;
let hashes: Record<string, string>;
beforeAll(async () => {
  t = await startTestGateway();
  sid = await createSession();
  hashes = await writeFiles(sid, { '/src/main.ts': MAIN_TS, '/tests/main.test.ts': 'test\n', '/src/other.ts': 'other\n' });
});
afterAll(async () => {
  await t?.close();
});

describe('annotations (seed §6)', () => {
  let annotationId: string;
  let createdAt: string;

  it('adds an annotation with the seed body (expectedContentHash = the real hash)', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/annotations`, {
      filePath: '/src/main.ts',
      lineNumber: 42,
      expectedContentHash: hashes['/src/main.ts'],
      comment: SEED_COMMENT,
    });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['annotation']);
    const a = r.body.annotation;
    expect(Object.keys(a).sort()).toEqual(['comment', 'contentHash', 'createdAt', 'filePath', 'id', 'lineNumber', 'reviewerId', 'sessionId', 'status'].sort());
    expect(a.id).toMatch(/^ann_[0-9A-Z]{26}$/);
    expect(a.sessionId).toBe(sid);
    expect(a.filePath).toBe('/src/main.ts');
    expect(a.lineNumber).toBe(42);
    expect(a.contentHash).toBe(hashes['/src/main.ts']);
    expect(a.comment).toBe(SEED_COMMENT);
    expect(a.reviewerId).toBe('admin');
    expect(a.status).toBe('ANNOTATION_STATUS_OPEN');
    expect(a.createdAt).toMatch(RFC3339);
    annotationId = a.id;
    createdAt = a.createdAt;
  });

  it('refuses stale content: the seed hash is not the current hash → 9', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/main.ts', lineNumber: 42, expectedContentHash: SEED_HASH, comment: SEED_COMMENT });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(9);
    expect(r.body.message).toContain('stale');
    expect(r.body.details).toEqual([]);
  });

  it('without expectedContentHash, stores the current hash', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/other.ts', comment: 'whole file', expectedContentHash: '' });
    expect(r.status).toBe(200);
    expect(r.body.annotation).toMatchObject({ filePath: '/src/other.ts', lineNumber: 0, contentHash: hashes['/src/other.ts'], status: 'ANNOTATION_STATUS_OPEN' });
  });

  it('lists annotations for one file (seed request) and for the whole session, in creation order', async () => {
    const r = await call('GET', `/v1/sessions/${sid}/annotations?filePath=/src/main.ts`);
    expect(r).toEqual({
      status: 200,
      body: {
        annotations: [
          {
            id: annotationId,
            sessionId: sid,
            filePath: '/src/main.ts',
            lineNumber: 42,
            contentHash: hashes['/src/main.ts'],
            comment: SEED_COMMENT,
            reviewerId: 'admin',
            status: 'ANNOTATION_STATUS_OPEN',
            createdAt,
          },
        ],
      },
    });
    const all = await call('GET', `/v1/sessions/${sid}/annotations`);
    expect(all.body.annotations.map((a: any) => a.filePath)).toEqual(['/src/main.ts', '/src/other.ts']);
    const none = await call('GET', `/v1/sessions/${sid}/annotations?filePath=/src/nothing.ts`);
    expect(none.body).toEqual({ annotations: [] });
    const bad = await call('GET', `/v1/sessions/${sid}/annotations?filePath=src/main.ts`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe(3);
    expect(bad.body.message).toContain('filePath');
  });

  it('resolves with the seed PATCH body and returns the full annotation', async () => {
    const r = await call('PATCH', `/v1/sessions/${sid}/annotations/${annotationId}`, { newStatus: 'ANNOTATION_STATUS_RESOLVED' });
    expect(r).toEqual({
      status: 200,
      body: {
        annotation: {
          id: annotationId,
          sessionId: sid,
          filePath: '/src/main.ts',
          lineNumber: 42,
          contentHash: hashes['/src/main.ts'],
          comment: SEED_COMMENT,
          reviewerId: 'admin',
          status: 'ANNOTATION_STATUS_RESOLVED',
          createdAt,
        },
      },
    });
    const listed = await call('GET', `/v1/sessions/${sid}/annotations?filePath=/src/main.ts`);
    expect(listed.body.annotations[0].status).toBe('ANNOTATION_STATUS_RESOLVED');
    const reopen = await call('PATCH', `/v1/sessions/${sid}/annotations/${annotationId}`, { newStatus: 'ANNOTATION_STATUS_OPEN' });
    expect(reopen.body.annotation.status).toBe('ANNOTATION_STATUS_OPEN');
  });

  it('answers 5 for an unknown annotation, a missing file, another session or tenant', async () => {
    const unknown = await call('PATCH', `/v1/sessions/${sid}/annotations/ann_missing`, { newStatus: 'ANNOTATION_STATUS_RESOLVED' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe(5);
    const missing = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/nope.ts', comment: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe(5);
    const other = await createSession();
    const cross = await call('PATCH', `/v1/sessions/${other}/annotations/${annotationId}`, { newStatus: 'ANNOTATION_STATUS_RESOLVED' });
    expect(cross.body.code).toBe(5);
    expect((await call('GET', `/v1/sessions/${other}/annotations`)).body).toEqual({ annotations: [] });
    const tok = await t.tokenFor('someone-else');
    for (const [m, p, b] of [
      ['GET', `/v1/sessions/${sid}/annotations`, undefined],
      ['POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/main.ts', comment: 'x' }],
      ['PATCH', `/v1/sessions/${sid}/annotations/${annotationId}`, { newStatus: 'ANNOTATION_STATUS_RESOLVED' }],
    ] as const) {
      const r = await call(m, p, b, tok);
      expect(r.status, `${m} ${p}`).toBe(404);
      expect(r.body.code).toBe(5);
    }
  });

  it('validates fields (code 3) and refuses non-files (code 9)', async () => {
    const base = { filePath: '/src/main.ts', lineNumber: 1, comment: 'c' };
    const cases: Array<[object, string]> = [
      [{ ...base, filePath: undefined }, 'filePath'],
      [{ ...base, filePath: '/src/' }, 'filePath'],
      [{ ...base, filePath: '/' }, 'filePath'],
      [{ ...base, lineNumber: -1 }, 'lineNumber'],
      [{ ...base, lineNumber: 1.5 }, 'lineNumber'],
      [{ ...base, lineNumber: 2 ** 31 }, 'lineNumber'],
      [{ ...base, comment: undefined }, 'comment'],
      [{ ...base, comment: '' }, 'comment'],
      [{ ...base, comment: 7 }, 'comment'],
      [{ ...base, expectedContentHash: 'md5:abc' }, 'expectedContentHash'],
    ];
    for (const [body, field] of cases) {
      const r = await call('POST', `/v1/sessions/${sid}/annotations`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain(field);
    }
    const dir = await call('POST', `/v1/sessions/${sid}/annotations`, { ...base, filePath: '/src' });
    expect(dir.status).toBe(400);
    expect(dir.body.code).toBe(9);
    for (const newStatus of [undefined, 'RESOLVED', 'ANNOTATION_STATUS_UNSPECIFIED']) {
      const r = await call('PATCH', `/v1/sessions/${sid}/annotations/${annotationId}`, { newStatus });
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain('newStatus');
    }
  });

  it('a comment made against old content is refused after the file changes', async () => {
    const before = hashes['/src/other.ts'];
    const next = await writeFiles(sid, { '/src/other.ts': 'other v2\n' });
    const r = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/other.ts', expectedContentHash: before, comment: 'late' });
    expect(r.body.code).toBe(9);
    const ok = await call('POST', `/v1/sessions/${sid}/annotations`, { filePath: '/src/other.ts', expectedContentHash: next['/src/other.ts'], comment: 'fresh' });
    expect(ok.body.annotation.contentHash).toBe(next['/src/other.ts']);
  });

  it('records AddAnnotation and UpdateAnnotation events', () => {
    const ev = events(sid).filter((e) => e.type.startsWith('v1.AnnotationService.'));
    expect(ev[0]).toEqual({ type: 'v1.AnnotationService.AddAnnotation', details: { filePath: '/src/main.ts', annotationId } });
    expect(ev).toContainEqual({ type: 'v1.AnnotationService.UpdateAnnotation', details: { annotationId, status: 'ANNOTATION_STATUS_RESOLVED' } });
  });
});

describe('approvals (seeds §7, §8, §32)', () => {
  const SEED_REQUEST = {
    reason: 'COMMIT_TO_MAIN',
    details: { summary: 'Applies the login validation fix and updates related tests.', changedFiles: ['/src/main.ts', '/tests/main.test.ts'] },
  };
  let approvalId: string;

  it('requests approval with the seed body; the session becomes PENDING_APPROVAL', async () => {
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_ACTIVE');
    const r = await call('POST', `/v1/sessions/${sid}/request-approval`, SEED_REQUEST);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['approvalId']);
    expect(r.body.approvalId).toMatch(/^appr_[0-9A-Z]{26}$/);
    approvalId = r.body.approvalId;
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_PENDING_APPROVAL');
  });

  it('commit is refused while the approval is pending (9, naming the approval)', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/commit`, { message: 'Fix login validation', author: { name: 'Alice Example', email: 'alice@example.com' }, gitBranch: { branchName: 'fix/login-validation' } });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(9);
    expect(r.body.message).toContain(approvalId);
  });

  it('refuses a second request while one is pending (9)', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/request-approval`, SEED_REQUEST);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(9);
    expect(r.body.message).toContain(approvalId);
  });

  it('reads the pending approval (extension routes)', async () => {
    const one = await call('GET', `/v1/sessions/${sid}/approvals/${approvalId}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      approvalId,
      sessionId: sid,
      reason: 'COMMIT_TO_MAIN',
      summary: 'Applies the login validation fix and updates related tests.',
      changedFiles: ['/src/main.ts', '/tests/main.test.ts'],
      state: 'APPROVAL_STATE_PENDING',
      feedback: '',
      requestedAt: one.body.requestedAt,
      resolvedAt: '',
    });
    expect(one.body.requestedAt).toMatch(RFC3339);
    const list = await call('GET', `/v1/sessions/${sid}/approvals`);
    expect(list.body).toEqual({ approvals: [one.body] });
  });

  it('grants with the seed body ({} → {}); the session returns to ACTIVE', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/approvals/${approvalId}/grant`, {});
    expect(r).toEqual({ status: 200, body: {} });
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_ACTIVE');
    const one = await call('GET', `/v1/sessions/${sid}/approvals/${approvalId}`);
    expect(one.body.state).toBe('APPROVAL_STATE_GRANTED');
    expect(one.body.resolvedAt).toMatch(RFC3339);
    expect(one.body.feedback).toBe('');
  });

  it('§32.1: granting (or denying) an approval that is already resolved → 9 with the seed message', async () => {
    const r = await call('POST', `/v1/sessions/${sid}/approvals/${approvalId}/grant`, {});
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ code: 9, message: `approval ${approvalId} is no longer pending`, details: [] });
    const d = await call('POST', `/v1/sessions/${sid}/approvals/${approvalId}/deny`, { feedback: 'too late' });
    expect(d.body).toEqual({ code: 9, message: `approval ${approvalId} is no longer pending`, details: [] });
  });

  it('§8/§32.2: deny with the seed feedback keeps it; the session returns to ACTIVE; a new request is allowed', async () => {
    const req = await call('POST', `/v1/sessions/${sid}/request-approval`, SEED_REQUEST);
    const id2 = req.body.approvalId;
    expect(id2).not.toBe(approvalId);
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_PENDING_APPROVAL');
    const feedback = 'Split the generated changes into smaller checkpoints and rerun tests before requesting approval again.';
    const r = await call('POST', `/v1/sessions/${sid}/approvals/${id2}/deny`, { feedback });
    expect(r).toEqual({ status: 200, body: {} });
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_ACTIVE');
    const one = await call('GET', `/v1/sessions/${sid}/approvals/${id2}`);
    expect(one.body).toMatchObject({ approvalId: id2, state: 'APPROVAL_STATE_DENIED', feedback });
    expect(one.body.resolvedAt).toMatch(RFC3339);
    // §8's deny body on a third request.
    const id3 = (await call('POST', `/v1/sessions/${sid}/request-approval`, SEED_REQUEST)).body.approvalId;
    const d3 = await call('POST', `/v1/sessions/${sid}/approvals/${id3}/deny`, { feedback: 'Split the large change into two commits before retrying.' });
    expect(d3).toEqual({ status: 200, body: {} });
    const list = await call('GET', `/v1/sessions/${sid}/approvals`);
    expect(list.body.approvals.map((a: any) => [a.approvalId, a.state])).toEqual([
      [approvalId, 'APPROVAL_STATE_GRANTED'],
      [id2, 'APPROVAL_STATE_DENIED'],
      [id3, 'APPROVAL_STATE_DENIED'],
    ]);
  });

  it('§32.3: unknown approval id → 5 with the seed message shape', async () => {
    for (const verb of ['grant', 'deny']) {
      const r = await call('POST', `/v1/sessions/${sid}/approvals/appr_missing/${verb}`, {});
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ code: 5, message: `approval appr_missing was not found for session ${sid}`, details: [] });
    }
    const g = await call('GET', `/v1/sessions/${sid}/approvals/appr_missing`);
    expect(g.body).toEqual({ code: 5, message: `approval appr_missing was not found for session ${sid}`, details: [] });
  });

  it("another session's approval is not found; another tenant cannot see the session", async () => {
    const other = await createSession();
    const req = await call('POST', `/v1/sessions/${other}/request-approval`, { reason: 'R' });
    const otherId = req.body.approvalId;
    const cross = await call('POST', `/v1/sessions/${sid}/approvals/${otherId}/grant`, {});
    expect(cross.body).toEqual({ code: 5, message: `approval ${otherId} was not found for session ${sid}`, details: [] });
    // Still pending in its own session.
    expect((await call('GET', `/v1/sessions/${other}/approvals/${otherId}`)).body.state).toBe('APPROVAL_STATE_PENDING');
    expect(await sessionStatus(other)).toBe('SESSION_STATUS_PENDING_APPROVAL');
    expect(await sessionStatus(sid)).toBe('SESSION_STATUS_ACTIVE');
    const tok = await t.tokenFor('tenant-b');
    for (const [m, p] of [
      ['POST', `/v1/sessions/${other}/request-approval`],
      ['POST', `/v1/sessions/${other}/approvals/${otherId}/grant`],
      ['POST', `/v1/sessions/${other}/approvals/${otherId}/deny`],
      ['GET', `/v1/sessions/${other}/approvals`],
      ['GET', `/v1/sessions/${other}/approvals/${otherId}`],
    ] as const) {
      const r = await call(m, p, m === 'POST' ? { reason: 'x' } : undefined, tok);
      expect(r.status, `${m} ${p}`).toBe(404);
      expect(r.body.code).toBe(5);
    }
    expect((await call('GET', `/v1/sessions/${other}/approvals/${otherId}`)).body.state).toBe('APPROVAL_STATE_PENDING');
  });

  it('validates the request (code 3)', async () => {
    const s2 = await createSession();
    const cases: Array<[object, string]> = [
      [{}, 'reason'],
      [{ reason: '' }, 'reason'],
      [{ reason: 5 }, 'reason'],
      [{ reason: 'R', details: 'x' }, 'details'],
      [{ reason: 'R', details: { summary: 3 } }, 'details.summary'],
      [{ reason: 'R', details: { changedFiles: '/a' } }, 'details.changedFiles'],
      [{ reason: 'R', details: { changedFiles: ['/ok', 'relative'] } }, 'details.changedFiles[1]'],
      [{ reason: 'R', details: { changedFiles: ['/a/../b'] } }, 'details.changedFiles[0]'],
    ];
    for (const [body, field] of cases) {
      const r = await call('POST', `/v1/sessions/${s2}/request-approval`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain(field);
    }
    expect(await sessionStatus(s2)).toBe('SESSION_STATUS_ACTIVE');
    const badFeedback = await call('POST', `/v1/sessions/${s2}/approvals/appr_x/deny`, { feedback: 12 });
    expect(badFeedback.body.code).toBe(3);
    const noSession = await call('POST', '/v1/sessions/sess_nope/request-approval', { reason: 'R' });
    expect(noSession.body.code).toBe(5);
  });

  it('records RequestApproval, GrantApproval and DenyApproval events', () => {
    const ev = events(sid).filter((e) => e.type.startsWith('v1.ApprovalService.'));
    expect(ev.map((e) => e.type)).toEqual([
      'v1.ApprovalService.RequestApproval',
      'v1.ApprovalService.GrantApproval',
      'v1.ApprovalService.RequestApproval',
      'v1.ApprovalService.DenyApproval',
      'v1.ApprovalService.RequestApproval',
      'v1.ApprovalService.DenyApproval',
    ]);
    expect(ev[0]!.details).toEqual({ approvalId, reason: 'COMMIT_TO_MAIN' });
    expect(ev[1]!.details).toEqual({ approvalId });
  });
});
