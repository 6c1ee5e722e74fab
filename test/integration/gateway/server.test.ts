import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

describe('gateway server basics', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers healthz without a token', async () => {
    const r = await t.call('GET', '/v1/healthz', undefined, null);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('SERVING');
  });

  it('rejects missing and bad tokens with a 401 Status envelope', async () => {
    const missing = await t.call('GET', '/v1/sessions/sess_x', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ code: 16, details: [] });
    expect(typeof missing.body.message).toBe('string');
    const bad = await t.call('GET', '/v1/sessions/sess_x', undefined, 'aet_not-a-real-token');
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe(16);
  });

  it('answers unknown routes with a 404 Status envelope', async () => {
    const r = await t.call('GET', '/v1/nope');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 5, details: [] });
  });

  it('rejects a body that is not JSON with code 3', async () => {
    const r = await t.call('POST', '/v1/sessions', '{not json');
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(3);
  });

  it('keeps the admin token across restarts of the same data dir', async () => {
    const { startGateway } = await import('../../../src/gateway/server.js');
    const again = await startGateway({ dataDir: t.dataDir, port: 0 });
    try {
      expect(again.token).toBe(t.token);
    } finally {
      await again.close();
    }
  });
});
