// HttpGatewayClient against the real gateway: annotations, approvals and their edge cases.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { sha256 } from '../../../src/shared/digest.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let client: HttpGatewayClient;
let sid: string;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token });
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

beforeEach(async () => {
  sid = (await client.createSession()).id;
  await client.batch(sid, { operations: [{ write: { path: '/src/main.ts', content: Buffer.from('main\n') } }] });
});

describe('annotations', () => {
  it('add, list (by file and all), resolve', async () => {
    const { annotation } = await client.addAnnotation(sid, {
      filePath: '/src/main.ts',
      lineNumber: 42,
      expectedContentHash: sha256('main\n'),
      comment: 'This branch adds the null-check.',
    });
    expect(annotation.id).toMatch(/^ann_/);
    expect(annotation).toMatchObject({ sessionId: sid, filePath: '/src/main.ts', lineNumber: 42, status: 'ANNOTATION_STATUS_OPEN', contentHash: sha256('main\n') });
    expect((await client.listAnnotations(sid, { filePath: '/src/main.ts' })).annotations?.map((a) => a.id)).toEqual([annotation.id]);
    expect((await client.listAnnotations(sid, { filePath: '/other.ts' })).annotations ?? []).toEqual([]);
    expect((await client.listAnnotations(sid)).annotations).toHaveLength(1);
    const upd = await client.updateAnnotation(sid, annotation.id, { newStatus: 'ANNOTATION_STATUS_RESOLVED' });
    expect(upd.annotation.status).toBe('ANNOTATION_STATUS_RESOLVED');
  });

  it('a stale expectedContentHash is rejected', async () => {
    const err = await client.addAnnotation(sid, { filePath: '/src/main.ts', expectedContentHash: sha256('old'), comment: 'x' }).catch((e) => e);
    expect(err.kind).toBe('conflict');
  });

  it('unknown annotation → NOT_FOUND', async () => {
    await expect(client.updateAnnotation(sid, 'ann_missing', { newStatus: 'ANNOTATION_STATUS_RESOLVED' })).rejects.toMatchObject({ rpcCode: RpcCode.NOT_FOUND });
  });
});

describe('approvals', () => {
  it('request → pending session → grant; granting again is FAILED_PRECONDITION', async () => {
    const { approvalId } = await client.requestApproval(sid, { reason: 'COMMIT_TO_MAIN', details: { summary: 'Fix login', changedFiles: ['/src/main.ts'] } });
    expect(approvalId).toMatch(/^appr_/);
    expect((await client.getSession(sid)).status).toBe('SESSION_STATUS_PENDING_APPROVAL');
    const a = await client.getApproval(sid, approvalId);
    expect(a).toMatchObject({ approvalId, sessionId: sid, state: 'APPROVAL_STATE_PENDING', reason: 'COMMIT_TO_MAIN', changedFiles: ['/src/main.ts'] });
    expect((await client.listApprovals(sid)).approvals?.map((x) => x.approvalId)).toEqual([approvalId]);
    await client.grantApproval(sid, approvalId);
    expect((await client.getApproval(sid, approvalId)).state).toBe('APPROVAL_STATE_GRANTED');
    expect((await client.getSession(sid)).status).toBe('SESSION_STATUS_ACTIVE');
    const again = await client.grantApproval(sid, approvalId).catch((e) => e);
    expect(again).toMatchObject({ rpcCode: RpcCode.FAILED_PRECONDITION, code: 'AETHER_GATEWAY_FAILED_PRECONDITION', kind: 'conflict' });
    expect(again.message).toContain('no longer pending');
  });

  it('deny keeps the feedback and reactivates the session', async () => {
    const { approvalId } = await client.requestApproval(sid, { reason: 'COMMIT_TO_MAIN', details: { summary: 's' } });
    await client.denyApproval(sid, approvalId, { feedback: 'Split the large change into two commits.' });
    const a = await client.getApproval(sid, approvalId);
    expect(a.state).toBe('APPROVAL_STATE_DENIED');
    expect(a.feedback).toBe('Split the large change into two commits.');
    expect((await client.getSession(sid)).status).toBe('SESSION_STATUS_ACTIVE');
  });

  it('unknown approval → NOT_FOUND', async () => {
    await expect(client.grantApproval(sid, 'appr_missing')).rejects.toMatchObject({ rpcCode: RpcCode.NOT_FOUND, kind: 'not_found' });
    await expect(client.getApproval(sid, 'appr_missing')).rejects.toMatchObject({ kind: 'not_found' });
  });
});
