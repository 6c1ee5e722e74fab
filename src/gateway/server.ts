// The local AetherFS gateway: an HTTP server implementing the public contract in openapi.yaml,
// backed by SQLite (metadata) and an on-disk CAS (content). `startGateway()` is what the CLI's
// `aether gateway serve`, the embedded default and the tests all call.
//
// Owns the request pipeline: target check → route match (HEAD runs the GET route, bodiless) →
// auth → body (http/request-io.ts) → handler → JSON or Status envelope. Invariants: bad input
// is a 4xx Status envelope, never a 5xx; only non-ApiError failures are logged at ERROR (a client
// leaving mid-body is one info line); transport limits (timeouts, connection cap) come from
// http/transport.ts; the data dir is private (data-dir.ts).
// Callers: cli/commands/gateway.ts (serve, token create), tests.
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Principal } from './auth.js';
import { openGatewayData } from './data-dir.js';
export { openGatewayData } from './data-dir.js';
import { WalDurability } from './db/database.js';
import { Router, STREAMED, type RequestContext } from './http/router.js';
import { ApiError, clip, quote } from './http/api-error.js';
import { checkRequestTarget, ClientGoneError, parseJsonBody, readBody, sendJson } from './http/request-io.js';
import { applyTransport, resolveLimits, serverOptions, type TransportLimits } from './http/transport.js';
import { RpcCode } from '../protocol/rpc-status.js';
import { DiskBlobStore, type BlobStore } from './store/blob-store.js';
import { TieredBlobStore } from './store/tiered-blobs.js';
import { TreeStore } from './store/tree-store.js';
import { ContentStore } from './store/content.js';
import { Counters } from './counters.js';
import { EventLog, SessionRepo, requestScope, type GatewayCore, type RequestScope } from './core.js';
import { REQUEST_ID_HEADER, ReplayedRequest, RequestLog } from './store/request-log.js';
import { GarbageCollector } from './store/gc.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { nullLogger, type Logger } from '../shared/log.js';
import { registerAllRoutes } from './routes/index.js';

export const GATEWAY_VERSION = '0.1.0';

/** Largest JSON request body accepted (batch writes carry base64 content). */
const MAX_BODY = 512 * 1024 * 1024;
/** Longest request path or method echoed in a log line. */
const LOG_ECHO = 200;

export interface GatewayOptions {
  /** Directory for gateway.db, blobs/, git/, and the admin token. Created if missing. */
  dataDir: string;
  host?: string;
  /** 0 = pick a free port. */
  port?: number;
  logger?: Logger;
  clock?: Clock;
  /** Roots under which local git remotes (paths, file://) are allowed; see git/local-remotes.ts. */
  allowLocalRemotes?: string[];
  /** Inject a blob store (tests use a faulty one); defaults to DiskBlobStore under dataDir. */
  blobStore?: BlobStore;
  /** Timeouts and the connection cap (http/transport.ts DEFAULT_LIMITS when omitted). */
  limits?: Partial<TransportLimits>;
  /** Periodic garbage collection (store/gc.ts), ms between runs; 0 = off. Default 15 minutes. */
  gcIntervalMs?: number;
  /** The WAL fsync of group commit (db/database.ts); tests inject a gated or failing one. Default fdatasync. */
  walSync?: (fd: number) => Promise<void>;
}

export interface RunningGateway {
  url: string;
  port: number;
  /** Token of the default tenant, persisted in `<data>/admin-token` (mode 0600). */
  token: string;
  core: GatewayCore;
  router: Router;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? nullLogger;
  const { db, auth, adminToken, secretKey } = await openGatewayData(opts.dataDir, clock);
  let blobs = opts.blobStore;
  if (!blobs) {
    const disk = new DiskBlobStore(opts.dataDir);
    await disk.init();
    blobs = new TieredBlobStore(db, disk);
  }
  const blobStore = blobs;
  // Group commit: blob files first, then the WAL (db/database.ts).
  const totalChanges = db.prepare('SELECT total_changes() AS n').pluck();
  const counters = new Counters();
  const totals = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM blobs').get() as { n: number; b: number };
  counters.blobsStored = totals.n;
  counters.bytesStored = totals.b;
  const trees = new TreeStore(db);
  const content = new ContentStore(db, blobs, counters, () => clock.now());
  const durability = new WalDurability(
    path.join(opts.dataDir, 'gateway.db-wal'),
    () => blobStore.flush(),
    // Anything unflushed (a blob file) makes the state differ from the last sync.
    () => (totalChanges.get() as number) + ((blobStore.unflushed?.() ?? 1) > 0 ? 0.5 : 0),
    () => flushDeferred(),
    opts.walSync,
  );
  // Rows held in memory until the next commit (store/content.ts, core.ts EventLog).
  const flushDeferred = () => {
    const a = content.flushPending();
    const b = events.flush();
    return () => {
      a();
      b();
    };
  };
  const events = new EventLog(db, clock);
  const closers: Array<() => Promise<void> | void> = [];
  const core: GatewayCore = {
    db,
    durability,
    requests: new RequestLog(db, () => clock.now()),
    auth,
    trees,
    content,
    gc: new GarbageCollector(db, trees, content),
    counters,
    clock,
    logger,
    events,
    sessions: new SessionRepo(db, trees, clock, flushDeferred),
    dataDir: opts.dataDir,
    ...(opts.allowLocalRemotes ? { allowLocalRemotes: opts.allowLocalRemotes } : {}),
    secretKey,
    onClose: (fn) => void closers.push(fn),
  };
  const router = new Router();
  router.get('/v1/healthz', () => ({ status: 'SERVING', version: GATEWAY_VERSION }), { public: true });
  registerAllRoutes(router, core);

  const limits = resolveLimits(opts.limits);
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer(serverOptions(limits), (req, res) => {
    const raw = req.headers['x-aether-client-id'];
    const clientId = typeof raw === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(raw) ? raw : undefined;
    const rawId = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof rawId === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(rawId) ? rawId : undefined;
    void requestScope.run({ clientId, requestId }, () => handle(req, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  applyTransport(server, limits, logger);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const started = clock.now();
    const logPath = clip((req.url ?? '/').split('?')[0]!, LOG_ECHO);
    let status = 200;
    try {
      const rawUrl = req.url ?? '/';
      checkRequestTarget(rawUrl);
      const url = new URL(rawUrl, 'http://gateway');
      const method = (req.method ?? 'GET').toUpperCase();
      // HEAD is GET without a body (Node drops the body of a HEAD response).
      const m = router.match(method === 'HEAD' ? 'GET' : method, url.pathname);
      if (!m) throw new ApiError(RpcCode.NOT_FOUND, `no route for ${clip(method, 20)} ${quote(url.pathname)}`);
      if ('allowed' in m) throw new ApiError(RpcCode.UNIMPLEMENTED, `${clip(method, 20)} is not supported on ${quote(url.pathname)} (allowed: ${[...new Set(m.allowed)].join(', ')})`);
      if ('malformed' in m) throw new ApiError(RpcCode.INVALID_ARGUMENT, `${m.malformed} in the request path has a malformed percent-escape or is not UTF-8 once decoded`);
      let principal: Principal = { tenantId: '', tenantName: '', principalId: 'anonymous' };
      if (!m.opts.public) principal = auth.authenticate(req.headers.authorization);
      let body: Record<string, unknown> = {};
      if (!m.opts.rawBody && method !== 'GET' && method !== 'HEAD') {
        body = parseJsonBody(await readBody(req, { maxBytes: MAX_BODY, idleMs: limits.bodyIdleTimeoutMs }));
      }
      const ctx: RequestContext = { method, route: m.pattern, params: m.params, query: url.searchParams, body, principal, req, res, signal: abort.signal };
      const scope = requestScope.getStore() as RequestScope | undefined;
      let out: unknown;
      if (scope?.requestId && method !== 'GET' && method !== 'HEAD') {
        // Idempotent retries (store/request-log.ts): an applied id answers with its recorded outcome.
        scope.tenantId = principal.tenantId;
        scope.route = `${method} ${m.pattern} ${JSON.stringify(m.params)}`;
        const prior = core.requests.lookup(scope.tenantId, scope.requestId, scope.route);
        if (prior) out = prior.response;
        else {
          try {
            out = await m.handler(ctx);
          } catch (err) {
            if (!(err instanceof ReplayedRequest)) throw err;
            out = err.response;
          }
          if (scope.recorded && out !== STREAMED) core.requests.complete(scope.tenantId, scope.requestId, out ?? {});
        }
      } else out = await m.handler(ctx);
      // Acknowledge a change only once it is durable (group commit; db/database.ts). A failed
      // fsync is UNAVAILABLE: the outcome is unknown, a retry with the same request id is safe.
      if (method !== 'GET' && method !== 'HEAD') {
        await durability.barrier().catch((err: unknown) => {
          logger.error('WAL fsync failed; request not acknowledged', { method: req.method, path: logPath, error: String(err) });
          throw new ApiError(RpcCode.UNAVAILABLE, 'the gateway could not make this change durable (fsync failed); retry with the same x-aether-request-id');
        });
      }
      if (out === STREAMED) return;
      sendJson(res, 200, out ?? {});
    } catch (err) {
      if (err instanceof ClientGoneError) {
        status = 499;
        logger.info('client went away before its request was read', { method: req.method, path: logPath });
        res.destroy();
        return;
      }
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(RpcCode.INTERNAL, 'internal error; see the gateway log');
      status = e.httpStatus;
      if (!(err instanceof ApiError)) logger.error('unhandled error', { method: req.method, path: logPath, error: String((err as Error)?.stack ?? err) });
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      // An unread body (stall, oversize) leaves the connection unusable: answer, then close it.
      const unread = !req.complete;
      sendJson(res, status, e.toStatus(), unread ? { connection: 'close' } : {});
      if (unread) res.once('finish', () => req.socket.destroySoon?.());
    } finally {
      logger.debug('request', { method: req.method, path: logPath, status, ms: clock.now() - started });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  const gcEvery = opts.gcIntervalMs ?? 15 * 60_000;
  const gcTimer =
    gcEvery > 0
      ? setInterval(() => {
          core.gc.run().then(
            (r) => logger.info('gc', { removedTrees: r.removedTrees, removedBlobs: r.removedBlobs, ms: r.durationMs, maxPauseMs: r.maxPauseMs }),
            (err: unknown) => logger.warn('gc failed', { error: String(err) }),
          );
        }, gcEvery)
      : undefined;
  gcTimer?.unref();
  let closed = false;
  return {
    url,
    port: addr.port,
    token: adminToken,
    core,
    router,
    async close() {
      if (closed) return;
      closed = true;
      if (gcTimer) clearInterval(gcTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      for (const fn of closers) await fn();
      await durability.barrier().catch(() => undefined);
      durability.close();
      db.close();
    },
  };
}

/** Create a token for `tenant` in an existing (or new) data dir, without a running server. */
export async function createTenantToken(dataDir: string, tenant: string): Promise<string> {
  const { db, auth } = await openGatewayData(dataDir);
  try {
    return auth.createToken(tenant);
  } finally {
    db.close();
  }
}

