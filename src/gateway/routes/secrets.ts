// Route family: secrets (seed §31). Two scopes: SECRET_SCOPE_SESSION (visible to one session) and
// SECRET_SCOPE_TENANT (visible to every session of the tenant); both are reached through a session
// route, so the session's tenant check is the authorization.
//
// Invariants:
// - Values are encrypted at rest with AES-256-GCM under `core.secretKey` (a fresh 12-byte IV per
//   write; stored as iv || tag || ciphertext). The additional authenticated data binds tenant,
//   scope, session and name, so a row copied to another tenant/session/name fails to decrypt.
// - Values are returned only by GET .../secrets/{name}; they never appear in listings, events,
//   logs, error messages or the file tree. Session-scoped secrets are not inherited by forks.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { ApiError, invalidArgument, notFound } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { parseEnum, requireString } from '../http/validate.js';
import type { DeleteSecretResponse, GetSecretResponse, ListSecretsResponse, SecretScope, SetSecretResponse } from '../../protocol/types.js';

const SCOPES = ['SECRET_SCOPE_SESSION', 'SECRET_SCOPE_TENANT'] as const satisfies readonly SecretScope[];
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
/** Largest secret value accepted, in bytes of UTF-8. */
export const MAX_SECRET_BYTES = 64 * 1024;

interface SecretKeyRef {
  tenantId: string;
  scope: SecretScope;
  /** '' for tenant scope. */
  sessionId: string;
  name: string;
}

function aad(k: SecretKeyRef): Buffer {
  return Buffer.from(['aether-secret-v1', k.tenantId, k.scope, k.sessionId, k.name].join('\0'), 'utf8');
}

/** AES-256-GCM: iv(12) || tag(16) || ciphertext, authenticated against the row's identity. */
export function sealSecret(key: Buffer, ref: SecretKeyRef, value: string): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad(ref));
  const data = Buffer.concat([c.update(value, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), data]);
}

/** Inverse of sealSecret; throws if the blob was tampered with, moved, or sealed under another key. */
export function openSecret(key: Buffer, ref: SecretKeyRef, blob: Buffer): string {
  if (blob.length < 28) throw new Error('sealed secret is truncated');
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  d.setAAD(aad(ref));
  d.setAuthTag(blob.subarray(12, 28));
  return Buffer.concat([d.update(blob.subarray(28)), d.final()]).toString('utf8');
}

function parseName(v: string | undefined): string {
  if (v === undefined || !NAME_RE.test(v)) {
    throw invalidArgument('secretName must start with a letter or "_" and contain only letters, digits, "_", "." or "-" (at most 128 characters)');
  }
  return v;
}

function parseScope(v: unknown, dflt?: SecretScope): SecretScope | undefined {
  if (v === null || v === undefined || v === '') return dflt;
  return parseEnum(v, 'scope', SCOPES);
}

export function registerSecretRoutes(router: Router, core: GatewayCore): void {
  const db = core.db;
  const q = {
    list: db.prepare(
      `SELECT name, scope FROM secrets WHERE tenant_id = ? AND ((scope = 'SECRET_SCOPE_SESSION' AND session_id = ?) OR scope = 'SECRET_SCOPE_TENANT')
       ORDER BY CASE scope WHEN 'SECRET_SCOPE_SESSION' THEN 0 ELSE 1 END, name`,
    ),
    get: db.prepare('SELECT ciphertext FROM secrets WHERE tenant_id = ? AND scope = ? AND session_id = ? AND name = ?'),
    upsert: db.prepare(
      `INSERT INTO secrets (tenant_id, scope, session_id, name, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, scope, session_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
    ),
    delete: db.prepare('DELETE FROM secrets WHERE tenant_id = ? AND scope = ? AND session_id = ? AND name = ?'),
  };
  const ref = (tenantId: string, sessionId: string, scope: SecretScope, name: string): SecretKeyRef => ({
    tenantId,
    scope,
    sessionId: scope === 'SECRET_SCOPE_SESSION' ? sessionId : '',
    name,
  });

  router.get('/v1/sessions/{sessionId}/secrets', (ctx): ListSecretsResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const scope = parseScope(ctx.query.get('scope'));
    const rows = q.list.all(s.tenant_id, s.id) as Array<{ name: string; scope: SecretScope }>;
    return { secrets: rows.filter((r) => !scope || r.scope === scope).map((r) => ({ secretName: r.name, scope: r.scope })) };
  });

  router.put('/v1/sessions/{sessionId}/secrets/{secretName}', (ctx): SetSecretResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const name = parseName(ctx.params.secretName);
    const v = ctx.body.secretValue;
    if (v === undefined || v === null || v === '') throw invalidArgument('secretValue is required');
    if (typeof v !== 'string') throw invalidArgument('secretValue must be a string');
    if (Buffer.byteLength(v, 'utf8') > MAX_SECRET_BYTES) throw invalidArgument(`secretValue is larger than ${MAX_SECRET_BYTES} bytes`);
    const scope = parseScope(ctx.body.scope, 'SECRET_SCOPE_SESSION')!;
    const r = ref(s.tenant_id, s.id, scope, name);
    const now = core.clock.now();
    q.upsert.run(r.tenantId, r.scope, r.sessionId, r.name, sealSecret(core.secretKey, r, v), now, now);
    core.events.record(s.id, 'v1.SecretService.SetSecret', { secretName: name, scope });
    core.sessions.touch(s.id);
    return { secretName: name, scope };
  });

  router.get('/v1/sessions/{sessionId}/secrets/{secretName}', (ctx): GetSecretResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const name = parseName(ctx.params.secretName);
    const scope = parseScope(ctx.query.get('scope'));
    // Without a scope, the session's own secret shadows a tenant secret of the same name.
    for (const sc of scope ? [scope] : SCOPES) {
      const r = ref(s.tenant_id, s.id, sc, name);
      const row = q.get.get(r.tenantId, r.scope, r.sessionId, r.name) as { ciphertext: Buffer } | undefined;
      if (!row) continue;
      let value: string;
      try {
        value = openSecret(core.secretKey, r, row.ciphertext);
      } catch {
        core.logger.error('secret failed to decrypt', { sessionId: s.id, secretName: name, scope: sc });
        throw new ApiError(RpcCode.DATA_LOSS, `secret ${name} (${sc}) cannot be decrypted with this gateway's key`);
      }
      return { secretName: name, secretValue: value };
    }
    throw notFound(`secret ${name} not found${scope ? ` in scope ${scope}` : ''} for session ${s.id}`);
  });

  router.delete('/v1/sessions/{sessionId}/secrets/{secretName}', (ctx): DeleteSecretResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const name = parseName(ctx.params.secretName);
    // Deleting defaults to the session scope (like setting): it never removes a tenant secret by accident.
    const scope = parseScope(ctx.query.get('scope'), 'SECRET_SCOPE_SESSION')!;
    const r = ref(s.tenant_id, s.id, scope, name);
    const info = q.delete.run(r.tenantId, r.scope, r.sessionId, r.name);
    if (info.changes === 0) throw notFound(`secret ${name} not found in scope ${scope} for session ${s.id}`);
    core.events.record(s.id, 'v1.SecretService.DeleteSecret', { secretName: name, scope });
    core.sessions.touch(s.id);
    return { secretName: name, scope };
  });
}
