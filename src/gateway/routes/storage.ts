// Route family (Aether extensions, issue 15): storage administration of the local gateway —
// garbage collection on demand and live vs reclaimable bytes. Gateway-wide, so only principals of
// the default tenant (the gateway's own admin token) may call them; others get PERMISSION_DENIED.
// The GC itself is store/gc.ts; session deletion, which makes storage reclaimable, is in
// routes/sessions.ts. Callers: `aether gateway gc`, `aether gateway status`.
import type { Router, RequestContext } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { permissionDenied } from '../http/api-error.js';
import { parseBool, parseInt64 } from '../http/validate.js';
import { DEFAULT_GRACE_MS, type GcReport } from '../store/gc.js';

/** proto3 JSON: int64 as strings, at every level. */
function int64s(v: unknown): unknown {
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(int64s);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, int64s(x)]));
  return v;
}

export function gcJson(r: GcReport): Record<string, unknown> {
  return int64s(r) as Record<string, unknown>;
}

/** Per-tenant figures with tenant names (admin view). */
async function tenantsWithNames(core: GatewayCore, tenants: GcReport['tenants']) {
  const name = core.db.prepare('SELECT name FROM tenants WHERE id = ?').pluck();
  return tenants.map((t) => ({ tenantName: (name.get(t.tenantId) as string | undefined) ?? '', ...(int64s(t) as Record<string, string>) }));
}

export function registerStorageRoutes(router: Router, core: GatewayCore): void {
  const admin = (ctx: RequestContext) => {
    if (ctx.principal.tenantName !== 'default') throw permissionDenied('storage administration needs a token of the default tenant');
  };

  router.post('/v1/admin/gc', async (ctx) => {
    admin(ctx);
    const dryRun = parseBool(ctx.body.dryRun, 'dryRun');
    const vacuum = parseBool(ctx.body.vacuum, 'vacuum');
    const graceSeconds = parseInt64(ctx.body.graceSeconds, 'graceSeconds', DEFAULT_GRACE_MS / 1000, { min: 0, max: 7 * 24 * 3600 });
    return gcJson(await core.gc.run({ dryRun, vacuum, graceMs: graceSeconds * 1000 }));
  });

  router.get('/v1/admin/storage', async (ctx) => {
    admin(ctx);
    const r = await core.gc.run({ dryRun: true });
    const page = Number(core.db.pragma('page_size', { simple: true }));
    const pages = Number(core.db.pragma('page_count', { simple: true }));
    const free = Number(core.db.pragma('freelist_count', { simple: true }));
    return {
      liveBytes: String(r.liveTreeBytes + r.liveBlobBytes),
      reclaimableBytes: String(r.reclaimableTreeBytes + r.reclaimableBlobBytes),
      databaseBytes: String(page * pages),
      databaseFreeBytes: String(page * free),
      autoVacuum: ['none', 'full', 'incremental'][Number(core.db.pragma('auto_vacuum', { simple: true }))] ?? 'none',
      tenants: await tenantsWithNames(core, r.tenants),
      gc: gcJson(r),
    };
  });
}
