// Tenants and bearer tokens. Tokens are random, shown once, and stored only as sha256 hashes.
// Every route except the public ones resolves its caller to a Principal here.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db/database.js';
import { unauthenticated } from './http/api-error.js';
import { newId } from '../shared/digest.js';

export interface Principal {
  tenantId: string;
  tenantName: string;
  /** Who is acting: recorded as createdByPrincipal, reviewerId, lock ownerId, senderId. */
  principalId: string;
}

/** The tenant every data dir starts with, and the principal of its `<data>/admin-token`. */
export const DEFAULT_TENANT = 'default';
export const ADMIN_PRINCIPAL = 'admin';

/**
 * The gateway administrator: whoever holds `<data>/admin-token` (tenant "default", principal
 * "admin"). `token create` never mints that principal, so no other token is one.
 */
export function isGatewayAdmin(p: Principal): boolean {
  return p.tenantName === DEFAULT_TENANT && p.principalId === ADMIN_PRINCIPAL;
}

const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');

export class Auth {
  constructor(private db: Db, private now: () => number) {}

  /** Find or create the tenant called `name`; returns its id. */
  ensureTenant(name: string): string {
    const row = this.db.prepare('SELECT id FROM tenants WHERE name = ?').get(name) as { id: string } | undefined;
    if (row) return row.id;
    const id = newId('tenant');
    this.db.prepare('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)').run(id, name, this.now());
    return id;
  }

  /** Mint a new token for `tenantName` (created if missing). The token is returned once, never stored. */
  createToken(tenantName: string, principal = tenantName): string {
    const tenantId = this.ensureTenant(tenantName);
    const token = 'aet_' + randomBytes(32).toString('base64url');
    this.db
      .prepare('INSERT INTO tokens (token_hash, tenant_id, principal, created_at) VALUES (?, ?, ?, ?)')
      .run(hashToken(token), tenantId, principal, this.now());
    return token;
  }

  /** True when `token` is a valid token (used to check a persisted admin token still works). */
  isValid(token: string): boolean {
    return this.db.prepare('SELECT 1 FROM tokens WHERE token_hash = ?').get(hashToken(token)) !== undefined;
  }

  /** Resolve an Authorization header to a principal, or throw UNAUTHENTICATED. */
  authenticate(header: string | undefined): Principal {
    if (!header) throw unauthenticated('missing bearer token: send "Authorization: Bearer <token>"');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw unauthenticated('malformed Authorization header: expected "Bearer <token>"');
    const row = this.db
      .prepare(
        'SELECT t.tenant_id AS tenantId, n.name AS tenantName, t.principal AS principalId FROM tokens t JOIN tenants n ON n.id = t.tenant_id WHERE t.token_hash = ?',
      )
      .get(hashToken(m[1]!)) as Principal | undefined;
    if (!row) throw unauthenticated('invalid bearer token');
    return row;
  }
}
