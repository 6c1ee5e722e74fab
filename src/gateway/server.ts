// The local AetherFS gateway: an HTTP server implementing the public contract in openapi.yaml,
// backed by SQLite (metadata) and an on-disk CAS (content). `startGateway()` is what the CLI's
// `aether gateway serve`, the embedded default and the tests all call.
import * as http from 'node:http';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { openDatabase, type Db } from './db/database.js';
import { Auth, type Principal } from './auth.js';
import { Router, STREAMED, type RequestContext } from './http/router.js';
import { ApiError } from './http/api-error.js';
import { RpcCode } from '../protocol/rpc-status.js';
import { DiskBlobStore, type BlobStore } from './store/blob-store.js';
import { TreeStore } from './store/tree-store.js';
import { ContentStore } from './store/content.js';
import { Counters } from './counters.js';
import { EventLog, SessionRepo, requestScope, type GatewayCore } from './core.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { nullLogger, type Logger } from '../shared/log.js';
import { registerAllRoutes } from './routes/index.js';

export const GATEWAY_VERSION = '0.1.0';

/** Largest JSON request body accepted (batch writes carry base64 content). */
const MAX_BODY = 512 * 1024 * 1024;

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

/** Write a file readable only by its owner, atomically. */
async function writePrivate(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, content, { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

async function loadOrCreate(file: string, make: () => string | Buffer): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch {
    await writePrivate(file, make());
    return fsp.readFile(file);
  }
}

/** Open (or initialise) a data directory: database, blob store and keys. Used by serve and `token create`. */
export async function openGatewayData(dataDir: string, clock: Clock = systemClock): Promise<{ db: Db; auth: Auth; adminToken: string; secretKey: Buffer }> {
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path.join(dataDir, 'gateway.db'));
  const auth = new Auth(db, () => clock.now());
  auth.ensureTenant('default');
  const tokenFile = path.join(dataDir, 'admin-token');
  let adminToken = (await loadOrCreate(tokenFile, () => auth.createToken('default', 'admin'))).toString('utf8').trim();
  if (!auth.isValid(adminToken)) {
    adminToken = auth.createToken('default', 'admin');
    await writePrivate(tokenFile, adminToken);
  }
  const secretKey = await loadOrCreate(path.join(dataDir, 'secret.key'), () => randomBytes(32));
  return { db, auth, adminToken, secretKey: secretKey.subarray(0, 32) };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
  res.end(data);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of req) {
    total += (c as Buffer).length;
    if (total > MAX_BODY) throw new ApiError(RpcCode.RESOURCE_EXHAUSTED, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? nullLogger;
  const { db, auth, adminToken, secretKey } = await openGatewayData(opts.dataDir, clock);
  let blobs = opts.blobStore;
  if (!blobs) {
    const disk = new DiskBlobStore(opts.dataDir);
    await disk.init();
    blobs = disk;
  }
  const counters = new Counters();
  const totals = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM blobs').get() as { n: number; b: number };
  counters.blobsStored = totals.n;
  counters.bytesStored = totals.b;
  const trees = new TreeStore(db);
  const closers: Array<() => Promise<void> | void> = [];
  const core: GatewayCore = {
    db,
    auth,
    trees,
    content: new ContentStore(db, blobs, counters, () => clock.now()),
    counters,
    clock,
    logger,
    events: new EventLog(db, clock),
    sessions: new SessionRepo(db, trees, clock),
    dataDir: opts.dataDir,
    ...(opts.allowLocalRemotes ? { allowLocalRemotes: opts.allowLocalRemotes } : {}),
    secretKey,
    onClose: (fn) => void closers.push(fn),
  };
  const router = new Router();
  router.get('/v1/healthz', () => ({ status: 'SERVING', version: GATEWAY_VERSION }), { public: true });
  registerAllRoutes(router, core);

  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const raw = req.headers['x-aether-client-id'];
    const clientId = typeof raw === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(raw) ? raw : undefined;
    void requestScope.run({ clientId }, () => handle(req, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // blocking lock waits and bus streams are long-lived by design

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const started = clock.now();
    let status = 200;
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      const method = (req.method ?? 'GET').toUpperCase();
      const m = router.match(method, url.pathname);
      if (!m) throw new ApiError(RpcCode.NOT_FOUND, `no route for ${method} ${url.pathname}`);
      if ('allowed' in m) throw new ApiError(RpcCode.UNIMPLEMENTED, `${method} is not supported on ${url.pathname} (allowed: ${[...new Set(m.allowed)].join(', ')})`);
      let principal: Principal = { tenantId: '', tenantName: '', principalId: 'anonymous' };
      if (!m.opts.public) principal = auth.authenticate(req.headers.authorization);
      let body: Record<string, unknown> = {};
      if (!m.opts.rawBody && method !== 'GET' && method !== 'HEAD') {
        const raw = await readBody(req);
        if (raw.length) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw.toString('utf8'));
          } catch {
            throw new ApiError(RpcCode.INVALID_ARGUMENT, 'request body is not valid JSON');
          }
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
            throw new ApiError(RpcCode.INVALID_ARGUMENT, 'request body must be a JSON object');
          }
          body = parsed as Record<string, unknown>;
        }
      }
      const ctx: RequestContext = { method, route: m.pattern, params: m.params, query: url.searchParams, body, principal, req, res, signal: abort.signal };
      const out = await m.handler(ctx);
      if (out === STREAMED) return;
      sendJson(res, 200, out ?? {});
    } catch (err) {
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(RpcCode.INTERNAL, 'internal error; see the gateway log');
      status = e.httpStatus;
      if (!(err instanceof ApiError)) logger.error('unhandled error', { method: req.method, path: req.url?.split('?')[0], error: String((err as Error)?.stack ?? err) });
      if (!res.headersSent) sendJson(res, status, e.toStatus());
      else res.destroy();
    } finally {
      logger.debug('request', { method: req.method, path: req.url?.split('?')[0], status, ms: clock.now() - started });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
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
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      for (const fn of closers) await fn();
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

