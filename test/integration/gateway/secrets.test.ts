// Secrets against a real gateway (seed §31): scopes, encryption at rest, no leaks.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

/** A new empty session of the caller's tenant, via POST /v1/sessions. */
async function createSession(token?: string): Promise<string> {
  const r = await t.call('POST', '/v1/sessions', {}, token);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as string;
}

const SEED_VALUE = 'npm_xxxxxxxxxxxxxxxxx';
/** A value that is easy to search for in raw bytes and could not occur by chance. */
const CANARY = 'canary-7f3a9c1e-very-secret-value-5d2b';

let t: TestGateway;
let sid: string;
const call = async (method: string, p: string, body?: unknown, token?: string | null) => {
  const { status, body: b } = await t.call(method, p, body, token);
  return { status, body: b };
};
beforeAll(async () => {
  t = await startTestGateway();
  sid = await createSession();
});
afterAll(async () => {
  await t?.close();
});

describe('secrets (seed §31)', () => {
  it('sets a secret with the seed body', async () => {
    const r = await call('PUT', `/v1/sessions/${sid}/secrets/NPM_TOKEN`, { secretValue: SEED_VALUE, scope: 'SECRET_SCOPE_SESSION' });
    expect(r).toEqual({ status: 200, body: { secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' } });
  });

  it('gets it back with the seed request', async () => {
    const r = await call('GET', `/v1/sessions/${sid}/secrets/NPM_TOKEN`);
    expect(r).toEqual({ status: 200, body: { secretName: 'NPM_TOKEN', secretValue: SEED_VALUE } });
  });

  it('lists names and scopes only, never values (seed request)', async () => {
    const put = await call('PUT', `/v1/sessions/${sid}/secrets/OPENAI_API_KEY`, { secretValue: CANARY });
    expect(put.body).toEqual({ secretName: 'OPENAI_API_KEY', scope: 'SECRET_SCOPE_SESSION' }); // default scope
    const r = await call('GET', `/v1/sessions/${sid}/secrets?scope=SECRET_SCOPE_SESSION`);
    expect(r).toEqual({
      status: 200,
      body: {
        secrets: [
          { secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' },
          { secretName: 'OPENAI_API_KEY', scope: 'SECRET_SCOPE_SESSION' },
        ],
      },
    });
    expect(JSON.stringify(r.body)).not.toContain(SEED_VALUE);
    expect(JSON.stringify(r.body)).not.toContain(CANARY);
  });

  it('overwrites a value in place', async () => {
    await call('PUT', `/v1/sessions/${sid}/secrets/ROTATED`, { secretValue: 'v1' });
    await call('PUT', `/v1/sessions/${sid}/secrets/ROTATED`, { secretValue: 'v2' });
    expect((await call('GET', `/v1/sessions/${sid}/secrets/ROTATED`)).body).toEqual({ secretName: 'ROTATED', secretValue: 'v2' });
    expect((await call('DELETE', `/v1/sessions/${sid}/secrets/ROTATED`)).status).toBe(200);
  });

  it('tenant scope is visible from every session of the tenant; the session scope shadows it', async () => {
    const put = await call('PUT', `/v1/sessions/${sid}/secrets/DEPLOY_KEY`, { secretValue: 'tenant-wide', scope: 'SECRET_SCOPE_TENANT' });
    expect(put.body).toEqual({ secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_TENANT' });
    const s2 = await createSession();
    expect((await call('GET', `/v1/sessions/${s2}/secrets/DEPLOY_KEY`)).body).toEqual({ secretName: 'DEPLOY_KEY', secretValue: 'tenant-wide' });
    // Session secrets of sid are not visible from s2.
    expect((await call('GET', `/v1/sessions/${s2}/secrets/NPM_TOKEN`)).body.code).toBe(5);
    expect((await call('GET', `/v1/sessions/${s2}/secrets`)).body).toEqual({ secrets: [{ secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_TENANT' }] });
    // Default listing = both scopes, session first.
    expect((await call('GET', `/v1/sessions/${sid}/secrets`)).body).toEqual({
      secrets: [
        { secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' },
        { secretName: 'OPENAI_API_KEY', scope: 'SECRET_SCOPE_SESSION' },
        { secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_TENANT' },
      ],
    });
    expect((await call('GET', `/v1/sessions/${sid}/secrets?scope=SECRET_SCOPE_TENANT`)).body).toEqual({ secrets: [{ secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_TENANT' }] });
    // A session secret of the same name shadows the tenant one unless the scope is given.
    await call('PUT', `/v1/sessions/${s2}/secrets/DEPLOY_KEY`, { secretValue: 'session-only' });
    expect((await call('GET', `/v1/sessions/${s2}/secrets/DEPLOY_KEY`)).body.secretValue).toBe('session-only');
    expect((await call('GET', `/v1/sessions/${s2}/secrets/DEPLOY_KEY?scope=SECRET_SCOPE_TENANT`)).body.secretValue).toBe('tenant-wide');
    expect((await call('GET', `/v1/sessions/${sid}/secrets/DEPLOY_KEY?scope=SECRET_SCOPE_SESSION`)).body.code).toBe(5);
    // Delete defaults to the session scope and leaves the tenant secret alone.
    expect((await call('DELETE', `/v1/sessions/${s2}/secrets/DEPLOY_KEY`)).body).toEqual({ secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_SESSION' });
    expect((await call('GET', `/v1/sessions/${s2}/secrets/DEPLOY_KEY`)).body.secretValue).toBe('tenant-wide');
    expect((await call('DELETE', `/v1/sessions/${s2}/secrets/DEPLOY_KEY?scope=SECRET_SCOPE_TENANT`)).body).toEqual({ secretName: 'DEPLOY_KEY', scope: 'SECRET_SCOPE_TENANT' });
    expect((await call('GET', `/v1/sessions/${sid}/secrets/DEPLOY_KEY`)).body.code).toBe(5);
  });

  it('another tenant gets 404 for the session on every secrets route, and sees none of its tenant secrets', async () => {
    await call('PUT', `/v1/sessions/${sid}/secrets/SHARED`, { secretValue: CANARY, scope: 'SECRET_SCOPE_TENANT' });
    const tok = await t.tokenFor('tenant-b');
    for (const [m, p, b] of [
      ['GET', `/v1/sessions/${sid}/secrets`, undefined],
      ['GET', `/v1/sessions/${sid}/secrets/NPM_TOKEN`, undefined],
      ['PUT', `/v1/sessions/${sid}/secrets/NPM_TOKEN`, { secretValue: 'hijack' }],
      ['DELETE', `/v1/sessions/${sid}/secrets/NPM_TOKEN`, undefined],
    ] as const) {
      const r = await call(m, p, b, tok);
      expect(r.status, `${m} ${p}`).toBe(404);
      expect(r.body.code).toBe(5);
      expect(JSON.stringify(r.body)).not.toContain(SEED_VALUE);
    }
    const own = await createSession(tok);
    expect((await call('GET', `/v1/sessions/${own}/secrets`, undefined, tok)).body).toEqual({ secrets: [] });
    expect((await call('GET', `/v1/sessions/${own}/secrets/SHARED`, undefined, tok)).body.code).toBe(5);
    expect((await call('GET', `/v1/sessions/${sid}/secrets/NPM_TOKEN`)).body.secretValue).toBe(SEED_VALUE);
  });

  it('deletes with the seed request; a missing secret is 5', async () => {
    const r = await call('DELETE', `/v1/sessions/${sid}/secrets/NPM_TOKEN?scope=SECRET_SCOPE_SESSION`);
    expect(r).toEqual({ status: 200, body: { secretName: 'NPM_TOKEN', scope: 'SECRET_SCOPE_SESSION' } });
    const again = await call('DELETE', `/v1/sessions/${sid}/secrets/NPM_TOKEN?scope=SECRET_SCOPE_SESSION`);
    expect(again.status).toBe(404);
    expect(again.body.code).toBe(5);
    const get = await call('GET', `/v1/sessions/${sid}/secrets/NPM_TOKEN`);
    expect(get.status).toBe(404);
    expect(get.body.code).toBe(5);
  });

  it('validates names, values and scopes (code 3)', async () => {
    for (const name of ['1ABC', 'has space', 'semi;colon', 'x'.repeat(129), '-dash', 'a/b']) {
      const r = await call('PUT', `/v1/sessions/${sid}/secrets/${encodeURIComponent(name)}`, { secretValue: 'v' });
      expect(r.status, name).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain('secretName');
      expect((await call('GET', `/v1/sessions/${sid}/secrets/${encodeURIComponent(name)}`)).body.code).toBe(3);
    }
    for (const name of ['_x', 'A', 'a.b-c_D9', 'x'.repeat(128)]) {
      expect((await call('PUT', `/v1/sessions/${sid}/secrets/${name}`, { secretValue: 'v' })).status, name).toBe(200);
      await call('DELETE', `/v1/sessions/${sid}/secrets/${name}`);
    }
    const cases: Array<[object, string]> = [
      [{}, 'secretValue'],
      [{ secretValue: '' }, 'secretValue'],
      [{ secretValue: 42 }, 'secretValue'],
      [{ secretValue: 'v', scope: 'GLOBAL' }, 'scope'],
      [{ secretValue: 'x'.repeat(64 * 1024 + 1) }, 'secretValue'],
    ];
    for (const [body, field] of cases) {
      const r = await call('PUT', `/v1/sessions/${sid}/secrets/OK_NAME`, body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(3);
      expect(r.body.message).toContain(field);
      expect(r.body.message).not.toContain('x'.repeat(100));
    }
    expect((await call('GET', `/v1/sessions/${sid}/secrets?scope=nope`)).body.code).toBe(3);
    expect((await call('GET', `/v1/sessions/${sid}/secrets/OPENAI_API_KEY?scope=nope`)).body.code).toBe(3);
    expect((await call('DELETE', `/v1/sessions/${sid}/secrets/OPENAI_API_KEY?scope=nope`)).body.code).toBe(3);
  });

  it('never stores the plaintext: not in gateway.db, its -wal file, events or the file tree', async () => {
    await call('PUT', `/v1/sessions/${sid}/secrets/CANARY_SECRET`, { secretValue: CANARY });
    expect((await call('GET', `/v1/sessions/${sid}/secrets/CANARY_SECRET`)).body.secretValue).toBe(CANARY);
    const files = (await fs.readdir(t.dataDir)).filter((f) => f.startsWith('gateway.db'));
    expect(files).toContain('gateway.db');
    let sawName = false;
    for (const f of files) {
      const bytes = await fs.readFile(path.join(t.dataDir, f));
      // The row itself is on disk (its name is stored in clear), so the scan looks where writes go.
      if (bytes.includes(Buffer.from('CANARY_SECRET'))) sawName = true;
      expect(bytes.includes(Buffer.from(CANARY)), f).toBe(false);
      expect(bytes.includes(Buffer.from(SEED_VALUE)), f).toBe(false);
      expect(bytes.includes(Buffer.from(Buffer.from(CANARY).toString('base64'))), f).toBe(false);
    }
    expect(sawName).toBe(true);
    const row = t.gw.core.db.prepare("SELECT ciphertext FROM secrets WHERE name = 'CANARY_SECRET'").get() as { ciphertext: Buffer };
    expect(row.ciphertext.length).toBe(12 + 16 + Buffer.byteLength(CANARY));
    const evs = t.gw.core.db.prepare("SELECT event_type, details FROM events WHERE event_type LIKE 'v1.SecretService.%'").all() as Array<{ event_type: string; details: string }>;
    expect(evs.length).toBeGreaterThan(0);
    for (const e of evs) {
      expect(Object.keys(JSON.parse(e.details)).sort()).toEqual(['scope', 'secretName']);
      expect(e.details).not.toContain(CANARY);
    }
    expect(evs.filter((e) => e.event_type === 'v1.SecretService.SetSecret' && JSON.parse(e.details).secretName === 'CANARY_SECRET')).toHaveLength(1);
    expect(evs.some((e) => e.event_type === 'v1.SecretService.DeleteSecret')).toBe(true);
    const root = (t.gw.core.db.prepare('SELECT root FROM sessions WHERE id = ?').get(sid) as { root: string }).root;
    expect(root).toBe(t.gw.core.trees.emptyTree);
  });

  it('a ciphertext copied to another session or name does not decrypt (AAD binds the row)', async () => {
    const s2 = await createSession();
    const db = t.gw.core.db;
    const src = db.prepare("SELECT * FROM secrets WHERE session_id = ? AND name = 'CANARY_SECRET'").get(sid) as Record<string, unknown>;
    db.prepare('INSERT INTO secrets (tenant_id, scope, session_id, name, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      src.tenant_id, src.scope, s2, src.name, src.ciphertext, src.created_at, src.updated_at,
    );
    db.prepare('INSERT INTO secrets (tenant_id, scope, session_id, name, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      src.tenant_id, src.scope, sid, 'RENAMED', src.ciphertext, src.created_at, src.updated_at,
    );
    for (const [s, name] of [
      [s2, 'CANARY_SECRET'],
      [sid, 'RENAMED'],
    ]) {
      const r = await call('GET', `/v1/sessions/${s}/secrets/${name}`);
      expect(r.status).toBe(500);
      expect(r.body.code).toBe(15);
      expect(JSON.stringify(r.body)).not.toContain(CANARY);
    }
    expect((await call('GET', `/v1/sessions/${sid}/secrets/CANARY_SECRET`)).body.secretValue).toBe(CANARY);
  });

  it('GET on a missing session is 5', async () => {
    const r = await call('GET', '/v1/sessions/sess_missing/secrets');
    expect(r.status).toBe(404);
    expect(r.body.code).toBe(5);
  });
});
