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

/** proto3 JSON: int64 as strings. */
function gcJson(r: GcReport): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === 'number' ? String(v) : v;
  return out;
}

export function registerStorageRoutes(router: Router, core: GatewayCore): void {
  const admin = (ctx: RequestContext) => {
    if (ctx.principal.tenantName !== 'default') throw permissionDenied('storage administration needs a token of the default tenant');
  };

  router.post('/v1/admin/gc', async (ctx) => {
    admin(ctx);
    const dryRun = parseBool(ctx.body.dryRun, 'dryRun');
    const graceSeconds = parseInt64(ctx.body.graceSeconds, 'graceSeconds', DEFAULT_GRACE_MS / 1000, { min: 0, max: 7 * 24 * 3600 });
    return gcJson(await core.gc.run({ dryRun, graceMs: graceSeconds * 1000 }));
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
      gc: gcJson(r),
    };
  });
}
