// Route family: raw CAS blob bytes (GET /v1/sessions/{sessionId}/blobs/{hash}, an Aether extension
// a mount reads file content through) and the CAS counters (GET /v1/metrics/cas).
//
// Metrics are scoped to the caller: the top-level figures are its tenant's (blobs it references,
// traffic it caused since gateway start). Only the gateway administrator (the `<data>/admin-token`
// holder) also gets `gateway`, the same figures for the whole gateway. New figures are added as
// new optional fields, at both levels, so the shape stays extensible.
//
// A blob is served only if the caller's tenant references it (tenant_blobs); any other hash —
// unknown, another tenant's, or malformed — gets the same 404, so existence never leaks. Blobs are
// immutable, hence the strong ETag (the quoted hash), the year-long immutable Cache-Control, and
// If-None-Match → 304. One `Range: bytes=` range is honoured (206 / 416); multi-range and
// unparseable headers are ignored (200, whole blob), as RFC 9110 allows.
// Every byte sent is counted in counters.bytesServed and in the tenant's daily egress (usage_egress).
import type { Router } from '../http/router.js';
import { STREAMED } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { ApiError, notFound } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { isContentHash } from '../../shared/digest.js';
import type { CasCounters, CasMetrics } from '../../protocol/types.js';
import type { TrafficCounters } from '../counters.js';
import { isGatewayAdmin } from '../auth.js';

const CACHE_CONTROL = 'public, max-age=31536000, immutable';

/**
 * Parse a Range header against a blob of `size` bytes: [start, endInclusive], 'unsatisfiable',
 * or undefined when the header must be ignored (absent, malformed, multi-range, or not bytes).
 */
export function parseByteRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [a, b] = [m[1]!, m[2]!];
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return undefined; // invalid spec: ignore the header
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return [start, end];
}

/** If-None-Match: "*" or any listed tag equal to `etag` (weak comparison, RFC 9110 §13.1.2). */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

export function registerBlobRoutes(router: Router, core: GatewayCore): void {
  const addEgress = core.db.prepare(
    `INSERT INTO usage_egress (tenant_id, day, bytes) VALUES (?, ?, ?)
     ON CONFLICT (tenant_id, day) DO UPDATE SET bytes = bytes + excluded.bytes`,
  );

  router.get('/v1/sessions/{sessionId}/blobs/{hash}', async (ctx) => {
    core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const hash = ctx.params.hash!;
    const tenantId = ctx.principal.tenantId;
    if (!isContentHash(hash) || !core.content.tenantHas(tenantId, hash)) throw notFound(`blob ${hash} not found`);
    const size = await core.content.blobs.size(hash);
    if (size === undefined) throw new ApiError(RpcCode.DATA_LOSS, `blob ${hash} is referenced but missing from the store`);
    core.content.leaseBlob(hash); // a reader is fetching it: GC keeps it for the lease (store/content.ts)

    const res = ctx.res;
    const etag = `"${hash}"`;
    const common = { etag, 'cache-control': CACHE_CONTROL, 'accept-ranges': 'bytes' };
    if (noneMatch(ctx.req.headers['if-none-match'], etag)) {
      res.writeHead(304, common);
      res.end();
      return STREAMED;
    }

    // If-Range with another validator means "the whole thing"; ours never changes, so compare directly.
    const ifRange = ctx.req.headers['if-range'];
    const range = ifRange && ifRange !== etag ? undefined : parseByteRange(ctx.req.headers.range, size);
    if (range === 'unsatisfiable') {
      const body = Buffer.from(
        JSON.stringify({ code: RpcCode.OUT_OF_RANGE, message: `range ${ctx.req.headers.range} is not satisfiable for a blob of ${size} bytes`, details: [] }),
      );
      res.writeHead(416, { ...common, 'content-range': `bytes */${size}`, 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
      return STREAMED;
    }
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    const headers: Record<string, string | number> = { ...common, 'content-type': 'application/octet-stream', 'content-length': length };
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);

    let sent = 0;
    try {
      if (length > 0 && !ctx.signal.aborted && ctx.method !== 'HEAD') {
        const stream = core.content.blobs.stream(hash, start, end);
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            stream.destroy();
            resolve();
          };
          ctx.signal.addEventListener('abort', onAbort, { once: true });
          stream.on('data', (chunk: string | Buffer) => {
            sent += chunk.length;
            if (!res.write(chunk)) {
              stream.pause();
              res.once('drain', () => stream.resume());
            }
          });
          stream.on('end', () => {
            ctx.signal.removeEventListener('abort', onAbort);
            resolve();
          });
          stream.on('error', (err) => {
            ctx.signal.removeEventListener('abort', onAbort);
            reject(err);
          });
        });
      }
      res.end();
    } catch (err) {
      core.logger.error('blob stream failed', { hash, error: String(err) });
      res.destroy();
    } finally {
      core.counters.served(tenantId, sent);
      if (sent > 0) addEgress.run(tenantId, new Date(core.clock.now()).toISOString().slice(0, 10), sent);
    }
    return STREAMED;
  });

  const tenantStored = core.db.prepare(
    'SELECT COUNT(*) AS n, COALESCE(SUM(b.size), 0) AS bytes FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash WHERE t.tenant_id = ?',
  );
  const figures = (stored: { n: number; bytes: number }, t: TrafficCounters): CasCounters => ({
    blobsStored: String(stored.n),
    bytesStored: String(stored.bytes),
    blobsServed: String(t.blobsServed),
    bytesServed: String(t.bytesServed),
    bytesReceived: String(t.bytesReceived),
  });

  router.get('/v1/metrics/cas', async (ctx): Promise<CasMetrics> => {
    const tenantId = ctx.principal.tenantId;
    const out: CasMetrics = { tenantId, ...figures(tenantStored.get(tenantId) as { n: number; bytes: number }, core.counters.tenant(tenantId)) };
    // Live vs reclaimable (issue 15): from a collection at most a minute old (store/gc.ts).
    const st = await core.gc.tenantStorage(tenantId);
    out.liveBytes = String(st.liveBlobBytes);
    out.reclaimableBytes = String(st.reclaimableBlobBytes);
    if (isGatewayAdmin(ctx.principal)) {
      const c = core.counters;
      out.gateway = figures({ n: c.blobsStored, bytes: c.bytesStored }, c);
    }
    return out;
  });
}
