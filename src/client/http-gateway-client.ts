// HttpGatewayClient: the GatewayClient that speaks the AetherFS public HTTP API over undici.
//
// Owns: URL building, JSON/base64/int64 wire encoding, bearer auth, timeouts, retries, stream
// handling (bus NDJSON, blob ranges) and the request counters behind `stats()`.
// Invariants:
//   - One client = one base URL = one connection pool for ordinary calls (bounded `connections`,
//     keep-alive, pipelining 1) plus one lazily created unbounded pool for long-lived calls
//     (blocking locks, blocking flock, bus streams, event long-polls). Why two: a long-lived call
//     holds its connection for as long as it waits; if it shared the bounded pool, enough waiters
//     would starve the very unlock/publish requests they are waiting for (a deadlock).
//   - Ordinary calls get `timeoutMs` for headers and between body chunks; long-lived calls get no
//     timeout and stop only on their AbortSignal (or close()).
//   - Retries follow retry.ts: reads retry on transport failures and 503; mutations only when
//     the request provably never left (ECONNREFUSED). Approval grant/deny are never repeated.
//   - The token is sent only in the Authorization header and never appears in errors or logs.
//   - Every failure surfaces as a GatewayError.
// Callers: cli/ (composition root: mount, control-plane commands), integration tests.
import type { GcReportJson, StorageReportJson } from './gateway-client.js';
import { REQUEST_ID_RE } from './gateway-client.js';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { RpcCode } from '../protocol/rpc-status.js';
import type {
  AddAnnotationRequest,
  AddAnnotationResponse,
  Approval,
  CasMetrics,
  Checkpoint,
  CommitRequest,
  CommitResponse,
  SessionDiffResponse,
  CreateCheckpointRequest,
  CreateDirectoryRequest,
  CreateSessionRequest,
  CreateSourceRequest,
  CreateSymlinkRequest,
  DeleteSecretResponse,
  ForceUnlockRequest,
  ForceUnlockResponse,
  ForkSessionRequest,
  GetCacheEntryResponse,
  GetCasExtentsResponse,
  GetHealthResponse,
  GetManifestResponse,
  GetPosixLockResponse,
  GetSecretResponse,
  GetXattrResponse,
  HealthzResponse,
  ImportJob,
  LinkRequest,
  ListAnnotationsResponse,
  ListApprovalsResponse,
  ListCheckpointsResponse,
  ListEventsResponse,
  ListLocksResponse,
  ListSecretsResponse,
  ListSessionsResponse,
  ListSourcesResponse,
  ListSymlinksResponse,
  ListXattrsResponse,
  LockRequest,
  LockResponse,
  ManifestNode,
  PatchSegmentsResponse,
  PromoteSessionRequest,
  ReadSymlinkResponse,
  RefreshSourceRequest,
  RenameRequest,
  RenewLockRequest,
  RenewLockResponse,
  ReportTestResultsResponse,
  RequestApprovalRequest,
  RequestApprovalResponse,
  RestoreResponse,
  Session,
  SessionAnalytics,
  SetSecretRequest,
  SetSecretResponse,
  Source,
  StartImportRequest,
  TenantUsage,
  UnlinkRequest,
  UnlockRequest,
  UpdateAnnotationRequest,
  UpdateAnnotationResponse,
} from '../protocol/types.js';
import { createContentHasher, HASH_PREFIX } from '../shared/digest.js';
import { UserError } from '../shared/errors.js';
import { nullLogger, type Logger } from '../shared/log.js';
import {
  int64ToWire,
  paginateManifest,
  type BatchInput,
  type BatchOperationInput,
  type BusMessage,
  type BusPublishInput,
  type BusSubscribeOptions,
  type CacheEntry,
  type CacheSetOptions,
  type CallOptions,
  type SessionDiffOptions,
  type DeleteFileInput,
  type DenyApprovalInput,
  type FlockInput,
  type FunlockInput,
  type GatewayClient,
  type Int64Like,
  type GetBlobOptions,
  type GetManifestOptions,
  type GetUsageOptions,
  type ListAnnotationsOptions,
  type ListEventsOptions,
  type ListLocksInput,
  type ListSessionsOptions,
  type ListSourcesOptions,
  type ListSymlinksOptions,
  type PatchSegmentsInput,
  type PathInput,
  type PosixLockInput,
  type PosixLockRangeInput,
  type ReleasePosixLocksInput,
  type ReleasePosixLocksResponse,
  type ReportHealthInput,
  type RestoreTarget,
  type SecretScopeOptions,
  type SegmentInput,
  type SegmentMutationInput,
  type SetPosixLockBlockingInput,
  type SetXattrInput,
  type XattrInput,
} from './gateway-client.js';
import { GatewayError, GatewayErrorCode } from './gateway-error.js';
import { parseBusStream } from './ndjson.js';
import { DEFAULT_RETRY_POLICY, parseRetryAfter, withRetry, type RetryPolicy } from './retry.js';

/** Client version reported in the default User-Agent. */
export const CLIENT_VERSION = '0.1.0';

/** Construction options for HttpGatewayClient. */
export interface HttpGatewayClientConfig {
  /** Gateway base URL, e.g. "http://127.0.0.1:8080" (a path prefix is kept). */
  baseUrl: string;
  /** Bearer token; omitted only for unauthenticated probes (health()). */
  token?: string;
  /** Per-call timeout for response headers and between body chunks (default 30 s). Long-lived calls have none. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures (default 3; 0 disables retries). */
  retries?: number;
  /** Backoff tuning (tests shorten it). */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Max concurrent connections for ordinary calls (default 16). */
  connections?: number;
  /** Idle keep-alive time for pooled connections (default 30 s). */
  keepAliveTimeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
  /**
   * Sent as `x-aether-client-id` on every request; the gateway records it in the details of the
   * events this client causes (an Aether extension), so a mount can skip its own changes.
   * 1–128 characters of [A-Za-z0-9_.:-].
   */
  clientId?: string;
}

/** Counters since the client was created. */
export interface GatewayClientStats {
  /** HTTP requests sent (every attempt, including retries). */
  requests: number;
  /** Request body bytes sent. */
  bytesSent: number;
  /** Response body bytes received (all routes, including blobs and streams). */
  bytesReceived: number;
  /** Blob bytes returned by getBlob. */
  blobBytesFetched: number;
  /** Calls that failed (after retries). */
  errors: number;
  /** Attempts that were retried. */
  retries: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type QueryValue = string | number | boolean | string[] | undefined;

/** The per-call parts of CallOptions a RequestSpec carries. */
function callOpts(opts: CallOptions): Pick<RequestSpec, 'signal' | 'callHeaders' | 'requestId'> {
  if (opts.requestId !== undefined && !REQUEST_ID_RE.test(opts.requestId)) {
    throw new GatewayError(`invalid request id ${JSON.stringify(opts.requestId.slice(0, 40))}: 1-128 of [A-Za-z0-9_.:-]`, { rpcCode: RpcCode.INVALID_ARGUMENT, code: GatewayErrorCode.INVALID_ARGUMENT, operation: 'request id' });
  }
  return { signal: opts.signal, ...(opts.headers ? { callHeaders: opts.headers } : {}), ...(opts.requestId ? { requestId: opts.requestId } : {}) };
}

interface RequestSpec {
  method: Method;
  /** Route path, already percent-encoded, starting with "/v1". */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Safe to repeat after it may have reached the server (default: method is GET). */
  idempotent?: boolean;
  /** No timeouts; runs on the long-lived pool. */
  longLived?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Per-call headers from CallOptions (merged over `headers`). */
  callHeaders?: Record<string, string>;
  /** `x-aether-request-id`: makes a mutation safe to retry (see CallOptions.requestId). */
  requestId?: string;
  /** Send the bearer token (default true). */
  auth?: boolean;
  /** Extra statuses that are not errors (e.g. 416 for blob reads). */
  okStatuses?: number[];
}

interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const enc = encodeURIComponent;
const sess = (id: string) => `/v1/sessions/${enc(id)}`;

function toBytes(v: Buffer | Uint8Array | string | undefined): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
const b64 = (v: Buffer | Uint8Array | string | undefined) => toBytes(v).toString('base64');
/** int64 request value → wire string; a bad value is an INVALID_ARGUMENT GatewayError. */
function wireInt64(v: Int64Like): string {
  try {
    return int64ToWire(v);
  } catch (e) {
    throw new GatewayError((e as Error).message, { rpcCode: RpcCode.INVALID_ARGUMENT, cause: e });
  }
}
const optInt64 = (v: Int64Like | undefined) => (v === undefined ? undefined : wireInt64(v));

function encodeSegment(s: SegmentInput): unknown {
  if ('data' in s) return { data: { offset: wireInt64(s.data.offset), content: b64(s.data.content) } };
  if ('hole' in s) return { hole: { offset: wireInt64(s.hole.offset), length: wireInt64(s.hole.length) } };
  return {
    borrowed: {
      offset: wireInt64(s.borrowed.offset),
      length: wireInt64(s.borrowed.length),
      hash: s.borrowed.hash,
      casOffset: optInt64(s.borrowed.casOffset),
    },
  };
}

function encodeMutation(m: SegmentMutationInput): unknown {
  return {
    path: m.path,
    segments: (m.segments ?? []).map(encodeSegment),
    logicalSize: optInt64(m.logicalSize),
    expectedHash: m.expectedHash,
    mode: m.mode,
  };
}

function encodeBatchOp(op: BatchOperationInput): unknown {
  if (op.write) return { write: { path: op.write.path, content: b64(op.write.content), expectedHash: op.write.expectedHash, mode: op.write.mode } };
  if (op.delete) return { delete: { path: op.delete.path, expectedHash: op.delete.expectedHash } };
  if (op.segmentWrite) return { segmentWrite: encodeMutation(op.segmentWrite) };
  throw new GatewayError('batch operation must have one of write, delete, segmentWrite', { rpcCode: RpcCode.INVALID_ARGUMENT });
}

function encodeRange(r: PosixLockRangeInput | undefined): unknown {
  if (!r) return undefined;
  return { start: optInt64(r.start), length: optInt64(r.length) };
}

function encodePosixLock(req: PosixLockInput): Record<string, unknown> {
  return { path: req.path, kind: req.kind, range: encodeRange(req.range), owner: req.owner, isFlock: req.isFlock };
}

/** Human description of a transport error code. */
function describeTransport(code: string | undefined, timeoutMs: number): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response within ${timeoutMs} ms`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `response stalled for ${timeoutMs} ms`;
    case 'EPIPE':
      return 'connection closed while sending';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'response ended early';
    default:
      return code ? `network error ${code}` : 'network error';
  }
}

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof o.code === 'string') return o.code;
  // Node may report a failed multi-address connect as an AggregateError.
  if (Array.isArray(o.errors) && o.errors.length) return errorCode(o.errors[0]);
  if (o.cause) return errorCode(o.cause);
  return undefined;
}

const TRANSPORT_CODE = /^(E[A-Z]+|UND_ERR_(SOCKET|CONNECT_TIMEOUT|HEADERS_TIMEOUT|BODY_TIMEOUT|RES_CONTENT_LENGTH_MISMATCH|CLOSED|DESTROYED|INFO))$/;

function parseContentRange(v: string | string[] | undefined): { start: number; end: number; total: number | undefined } | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  const m = s ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(s.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** GatewayClient over HTTP/1.1 with undici. Create one per gateway; call close() when done. */
export class HttpGatewayClient implements GatewayClient {
  private readonly origin: string;
  private readonly prefix: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly userAgent: string;
  private readonly clientId?: string;
  private readonly logger: Logger;
  private readonly pool: Pool;
  private readonly keepAliveTimeoutMs: number;
  private longPool?: Pool;
  /** Aborted by close(), to end long-lived calls that would otherwise keep the pool open. */
  private readonly closing = new AbortController();
  private closed = false;
  private readonly counters: GatewayClientStats = { requests: 0, bytesSent: 0, bytesReceived: 0, blobBytesFetched: 0, errors: 0, retries: 0 };

  constructor(config: HttpGatewayClientConfig) {
    let url: URL;
    try {
      url = new URL(config.baseUrl);
    } catch {
      throw new UserError('AETHER_GATEWAY_BAD_URL', `invalid gateway URL: ${JSON.stringify(config.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UserError('AETHER_GATEWAY_BAD_URL', `gateway URL must be http(s): ${url.origin}`);
    }
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.token = config.token;
    this.timeoutMs = config.timeoutMs ?? 30_000;
    this.policy = {
      retries: config.retries ?? DEFAULT_RETRY_POLICY.retries,
      baseDelayMs: config.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: config.retryMaxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    };
    this.userAgent = config.userAgent ?? `aether/${CLIENT_VERSION} node/${process.versions.node}`;
    // The gateway ignores ids outside this alphabet; fail loudly instead of silently losing them.
    if (config.clientId !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(config.clientId)) {
      throw new UserError('AETHER_GATEWAY_BAD_CLIENT_ID', `invalid client id ${JSON.stringify(config.clientId)}: use 1-128 of [A-Za-z0-9_.:-]`);
    }
    this.clientId = config.clientId;
    this.logger = config.logger ?? nullLogger;
    this.keepAliveTimeoutMs = config.keepAliveTimeoutMs ?? 30_000;
    this.pool = new Pool(this.origin, {
      connections: config.connections ?? 16,
      keepAliveTimeout: this.keepAliveTimeoutMs,
      pipelining: 1,
    });
  }

  /** The gateway origin this client talks to (no credentials, no path). */
  get url(): string {
    return this.origin + this.prefix;
  }

  /** A snapshot of the request counters. */
  stats(): GatewayClientStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await Promise.all([this.pool.close(), this.longPool?.close()]);
  }

  // -------------------------------------------------------------------------------------------
  // transport
  // -------------------------------------------------------------------------------------------

  private getLongPool(): Pool {
    this.longPool ??= new Pool(this.origin, { connections: null, keepAliveTimeout: this.keepAliveTimeoutMs, pipelining: 1 });
    return this.longPool;
  }

  private buildPath(spec: RequestSpec): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) qs.append(k, item);
      else qs.append(k, String(v));
    }
    const q = qs.toString();
    return this.prefix + spec.path + (q ? `?${q}` : '');
  }

  private toGatewayError(e: unknown, op: string, signal?: AbortSignal): GatewayError {
    if (e instanceof GatewayError) return e;
    if (signal?.aborted) return GatewayError.cancelled(op, signal.reason);
    if (this.closed) {
      return new GatewayError(`gateway client is closed (${op})`, { rpcCode: RpcCode.CANCELLED, code: GatewayErrorCode.CLIENT_CLOSED, operation: op, cause: e });
    }
    const code = errorCode(e);
    if (code && TRANSPORT_CODE.test(code)) {
      return GatewayError.unreachable(`cannot reach the gateway at ${this.origin}: ${describeTransport(code, this.timeoutMs)} (${op})`, {
        cause: e,
        operation: op,
        transportCode: code,
      });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new GatewayError(`gateway request failed: ${msg} (${op})`, { rpcCode: RpcCode.INTERNAL, operation: op, cause: e });
  }

  /** One HTTP exchange: returns the response with an unread body, or throws for error statuses. */
  private async exchange(spec: RequestSpec, op: string, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json', ...spec.headers };
    for (const [k, v] of Object.entries(spec.callHeaders ?? {})) if (k.toLowerCase() !== 'authorization') headers[k.toLowerCase()] = v;
    if (spec.requestId) headers['x-aether-request-id'] = spec.requestId;
    if (spec.auth !== false && this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.clientId) headers['x-aether-client-id'] = this.clientId;
    let body: Buffer | undefined;
    if (spec.body !== undefined) {
      body = Buffer.from(JSON.stringify(spec.body), 'utf8');
      headers['content-type'] = 'application/json';
    }
    const pool = spec.longLived ? this.getLongPool() : this.pool;
    const started = Date.now();
    this.counters.requests++;
    this.counters.bytesSent += body?.length ?? 0;
    const res = await pool.request({
      origin: this.origin,
      path: this.buildPath(spec),
      method: spec.method,
      headers,
      body,
      signal,
      headersTimeout: spec.longLived ? 0 : this.timeoutMs,
      bodyTimeout: spec.longLived ? 0 : this.timeoutMs,
      // Long waits must not hold up pipelined requests queued behind them on the same socket.
      blocking: true,
    });
    this.logger.debug('gateway request', { method: spec.method, path: spec.path, status: res.statusCode, ms: Date.now() - started });
    if (res.statusCode >= 400 && !spec.okStatuses?.includes(res.statusCode)) {
      const errBody = await this.readBody(res);
      throw GatewayError.fromResponse(res.statusCode, errBody, op, res.statusCode === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined);
    }
    return res;
  }

  private async readBody(res: Dispatcher.ResponseData): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of res.body) {
      const b = c as Buffer;
      this.counters.bytesReceived += b.length;
      chunks.push(b);
    }
    return Buffer.concat(chunks);
  }

  /** Combine the caller's signal with close(). */
  private signalFor(spec: RequestSpec): AbortSignal | undefined {
    if (!spec.longLived) return spec.signal;
    return spec.signal ? AbortSignal.any([spec.signal, this.closing.signal]) : this.closing.signal;
  }

  private guardOpen(op: string): void {
    if (this.closed) {
      throw new GatewayError(`gateway client is closed (${op})`, { rpcCode: RpcCode.CANCELLED, code: GatewayErrorCode.CLIENT_CLOSED, operation: op });
    }
  }

  /** Run a request with retries and read its whole body. */
  private async send(spec: RequestSpec): Promise<BufferedResponse> {
    const op = `${spec.method} ${spec.path}`;
    const signal = this.signalFor(spec);
    try {
      this.guardOpen(op);
      return await withRetry(
        async () => {
          try {
            const res = await this.exchange(spec, op, signal);
            const body = await this.readBody(res);
            return { status: res.statusCode, headers: res.headers, body };
          } catch (e) {
            throw this.toGatewayError(e, op, signal);
          }
        },
        {
          policy: this.policy,
          // A request id makes a repeated mutation answer with its first outcome: safe to retry.
          idempotent: spec.idempotent ?? (spec.method === 'GET' || !!spec.requestId),
          signal,
          onRetry: (err, attempt, delayMs) => {
            this.counters.retries++;
            this.logger.debug('gateway retry', { op, attempt, delayMs, code: err.code, rpcCode: err.rpcCode });
          },
        },
      );
    } catch (e) {
      this.counters.errors++;
      throw this.toGatewayError(e, op, signal);
    }
  }

  /** Run a request and parse a JSON response body (empty body = `{}`). */
  private async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.send(spec);
    if (!res.body.length) return {} as T;
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch (e) {
      this.counters.errors++;
      throw GatewayError.badResponse(`gateway answered HTTP ${res.status} with a body that is not JSON`, `${spec.method} ${spec.path}`, e);
    }
  }

  private async none(spec: RequestSpec): Promise<void> {
    await this.send(spec);
  }

  // -------------------------------------------------------------------------------------------
  // sessions, manifest, checkpoints
  // -------------------------------------------------------------------------------------------

  async createSession(req: CreateSessionRequest = {}, opts: CallOptions = {}): Promise<Session> {
    return this.json({ method: 'POST', path: '/v1/sessions', body: req, ...callOpts(opts) });
  }

  async getSession(sessionId: string, opts: CallOptions = {}): Promise<Session> {
    return this.json({ method: 'GET', path: sess(sessionId), ...callOpts(opts) });
  }

  async listSessions(opts: ListSessionsOptions = {}): Promise<ListSessionsResponse> {
    return this.json({ method: 'GET', path: '/v1/sessions', query: { pageSize: opts.pageSize, pageToken: opts.pageToken, tag: opts.tag }, ...callOpts(opts) });
  }

  async forkSession(sessionId: string, req: ForkSessionRequest = {}, opts: CallOptions = {}): Promise<Session> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/fork`, body: req, ...callOpts(opts) });
  }

  async getManifest(sessionId: string, opts: GetManifestOptions = {}): Promise<GetManifestResponse> {
    return this.json({
      method: 'GET',
      path: `${sess(sessionId)}/manifest`,
      query: {
        pathPrefix: opts.pathPrefix,
        pageSize: opts.pageSize,
        pageToken: opts.pageToken || undefined,
        includeCasExtents: opts.includeCasExtents,
        maxDepth: opts.maxDepth,
      },
      ...callOpts(opts),
    });
  }

  iterateManifest(sessionId: string, opts: GetManifestOptions = {}): AsyncIterableIterator<ManifestNode> {
    return paginateManifest((o) => this.getManifest(sessionId, o), opts, (t) =>
      GatewayError.badResponse(`manifest page token repeated (${t})`, `GET ${sess(sessionId)}/manifest`),
    );
  }

  async createCheckpoint(sessionId: string, req: CreateCheckpointRequest = {}, opts: CallOptions = {}): Promise<Checkpoint> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/checkpoints`, body: req, ...callOpts(opts) });
  }

  async listCheckpoints(sessionId: string, opts: CallOptions = {}): Promise<ListCheckpointsResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/checkpoints`, ...callOpts(opts) });
  }

  async restore(sessionId: string, target: RestoreTarget, opts: CallOptions = {}): Promise<RestoreResponse> {
    const body = target.checkpointId !== undefined ? { checkpointId: target.checkpointId } : { label: target.label };
    return this.json({ method: 'POST', path: `${sess(sessionId)}/restore`, body, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // annotations, approvals, commit
  // -------------------------------------------------------------------------------------------

  async addAnnotation(sessionId: string, req: AddAnnotationRequest, opts: CallOptions = {}): Promise<AddAnnotationResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/annotations`, body: req, ...callOpts(opts) });
  }

  async listAnnotations(sessionId: string, opts: ListAnnotationsOptions = {}): Promise<ListAnnotationsResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/annotations`, query: { filePath: opts.filePath }, ...callOpts(opts) });
  }

  async updateAnnotation(sessionId: string, annotationId: string, req: UpdateAnnotationRequest, opts: CallOptions = {}): Promise<UpdateAnnotationResponse> {
    return this.json({ method: 'PATCH', path: `${sess(sessionId)}/annotations/${enc(annotationId)}`, body: req, ...callOpts(opts) });
  }

  async requestApproval(sessionId: string, req: RequestApprovalRequest = {}, opts: CallOptions = {}): Promise<RequestApprovalResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/request-approval`, body: req, ...callOpts(opts) });
  }

  async grantApproval(sessionId: string, approvalId: string, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/approvals/${enc(approvalId)}/grant`, body: {}, ...callOpts(opts) });
  }

  async denyApproval(sessionId: string, approvalId: string, req: DenyApprovalInput = {}, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/approvals/${enc(approvalId)}/deny`, body: req, ...callOpts(opts) });
  }

  async listApprovals(sessionId: string, opts: CallOptions = {}): Promise<ListApprovalsResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/approvals`, ...callOpts(opts) });
  }

  async getApproval(sessionId: string, approvalId: string, opts: CallOptions = {}): Promise<Approval> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/approvals/${enc(approvalId)}`, ...callOpts(opts) });
  }

  async commit(sessionId: string, req: CommitRequest, opts: CallOptions = {}): Promise<CommitResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/commit`, body: req, ...callOpts(opts) });
  }

  async diffSession(sessionId: string, opts: SessionDiffOptions = {}): Promise<SessionDiffResponse> {
    return this.json({
      method: 'GET',
      path: `${sess(sessionId)}/diff`,
      query: {
        path: opts.path,
        checkpointLabel: opts.checkpointLabel,
        checkpointId: opts.checkpointId,
        includeIgnored: opts.includeIgnored ? 'true' : undefined,
        statWidth: opts.statWidth,
      },
      ...callOpts(opts),
    });
  }

  // -------------------------------------------------------------------------------------------
  // cache, bus
  // -------------------------------------------------------------------------------------------

  async cacheSet(sessionId: string, key: string, value: Buffer | Uint8Array | string, opts: CacheSetOptions = {}): Promise<void> {
    return this.none({
      method: 'PUT',
      path: `${sess(sessionId)}/cache/${enc(key)}`,
      body: { value: b64(value), ttlSeconds: optInt64(opts.ttlSeconds) },
      ...callOpts(opts),
    });
  }

  async cacheGet(sessionId: string, key: string, opts: CallOptions = {}): Promise<CacheEntry> {
    const r = await this.json<GetCacheEntryResponse>({ method: 'GET', path: `${sess(sessionId)}/cache/${enc(key)}`, ...callOpts(opts) });
    return { found: r.found === true, value: Buffer.from(r.value ?? '', 'base64') };
  }

  async cacheDelete(sessionId: string, key: string, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'DELETE', path: `${sess(sessionId)}/cache/${enc(key)}`, ...callOpts(opts) });
  }

  async busPublish(sessionId: string, req: BusPublishInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/bus:publish`, body: { topic: req.topic, payload: b64(req.payload) }, ...callOpts(opts) });
  }

  busSubscribe(sessionId: string, opts: BusSubscribeOptions = {}): AsyncIterable<BusMessage> {
    const spec: RequestSpec = {
      method: 'GET',
      path: `${sess(sessionId)}/bus`,
      query: {
        topics: opts.topics,
        scope: opts.scope,
        replayLimit: opts.replayLimit,
        replayAfterMessageId: opts.replayAfterMessageId,
      },
      headers: { accept: 'application/x-ndjson' },
      longLived: true,
      ...callOpts(opts),
    };
    return { [Symbol.asyncIterator]: () => this.streamBus(spec) };
  }

  private async *streamBus(spec: RequestSpec): AsyncGenerator<BusMessage> {
    const op = `${spec.method} ${spec.path}`;
    const signal = this.signalFor(spec);
    let res: Dispatcher.ResponseData;
    try {
      this.guardOpen(op);
      // Opening the stream is a read: retry transport failures and 503 before any byte arrived.
      res = await withRetry(
        async () => {
          try {
            return await this.exchange(spec, op, signal);
          } catch (e) {
            throw this.toGatewayError(e, op, signal);
          }
        },
        { policy: this.policy, idempotent: true, signal, onRetry: () => void this.counters.retries++ },
      );
    } catch (e) {
      const err = this.toGatewayError(e, op, signal);
      if (signal?.aborted) return; // the caller stopped before the stream opened
      this.counters.errors++;
      throw err;
    }
    const counters = this.counters;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const c of res.body) {
        counters.bytesReceived += (c as Buffer).length;
        yield c as Buffer;
      }
    }
    try {
      yield* parseBusStream(counted(), { operation: op });
    } catch (e) {
      if (signal?.aborted) return; // an abort ends the iteration quietly
      this.counters.errors++;
      throw this.toGatewayError(e, op, signal);
    } finally {
      // Breaking out of the loop (or an error) must release the connection.
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  // -------------------------------------------------------------------------------------------
  // filesystem
  // -------------------------------------------------------------------------------------------

  async createDir(sessionId: string, req: CreateDirectoryRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/dirs`, body: req, ...callOpts(opts) });
  }

  async removeDir(sessionId: string, req: PathInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'DELETE', path: `${sess(sessionId)}/dirs`, query: { path: req.path }, ...callOpts(opts) });
  }

  async deleteFile(sessionId: string, req: DeleteFileInput, opts: CallOptions = {}): Promise<void> {
    return this.none({
      method: 'DELETE',
      path: `${sess(sessionId)}/files`,
      query: { path: req.path, expectedHash: req.expectedHash || undefined },
      ...callOpts(opts),
    });
  }

  async rename(sessionId: string, req: RenameRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:rename`, body: req, ...callOpts(opts) });
  }

  async batch(sessionId: string, req: BatchInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/batch`, body: { operations: req.operations.map(encodeBatchOp) }, ...callOpts(opts) });
  }

  async patchSegments(sessionId: string, req: PatchSegmentsInput, opts: CallOptions = {}): Promise<PatchSegmentsResponse> {
    return this.json({
      method: 'POST',
      path: `${sess(sessionId)}/patchSegments`,
      body: { mutations: req.mutations.map(encodeMutation), conflictPolicy: req.conflictPolicy },
      ...callOpts(opts),
    });
  }

  async createSymlink(sessionId: string, req: CreateSymlinkRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/symlinks`, body: req, ...callOpts(opts) });
  }

  async listSymlinks(sessionId: string, opts: ListSymlinksOptions = {}): Promise<ListSymlinksResponse> {
    return this.json({
      method: 'GET',
      path: `${sess(sessionId)}/symlinks`,
      query: { pathPrefix: opts.pathPrefix, pageSize: opts.pageSize, pageToken: opts.pageToken || undefined },
      ...callOpts(opts),
    });
  }

  async readSymlink(sessionId: string, req: PathInput, opts: CallOptions = {}): Promise<ReadSymlinkResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/readSymlink`, query: { path: req.path }, ...callOpts(opts) });
  }

  async link(sessionId: string, req: LinkRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:link`, body: req, ...callOpts(opts) });
  }

  async unlink(sessionId: string, req: UnlinkRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:unlink`, body: req, ...callOpts(opts) });
  }

  async getCasExtents(sessionId: string, req: PathInput, opts: CallOptions = {}): Promise<GetCasExtentsResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}:getCasExtents`, body: { path: req.path }, idempotent: true, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // xattrs
  // -------------------------------------------------------------------------------------------

  async setXattr(sessionId: string, req: SetXattrInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:setXattr`, body: { path: req.path, name: req.name, value: b64(req.value) }, ...callOpts(opts) });
  }

  async getXattr(sessionId: string, req: XattrInput, opts: CallOptions = {}): Promise<Buffer> {
    const r = await this.json<GetXattrResponse>({
      method: 'POST',
      path: `${sess(sessionId)}:getXattr`,
      body: { path: req.path, name: req.name },
      idempotent: true,
      ...callOpts(opts),
    });
    return Buffer.from(r.value ?? '', 'base64');
  }

  async listXattrs(sessionId: string, req: PathInput, opts: CallOptions = {}): Promise<string[]> {
    const r = await this.json<ListXattrsResponse>({ method: 'POST', path: `${sess(sessionId)}:listXattrs`, body: { path: req.path }, idempotent: true, ...callOpts(opts) });
    return r.names ?? [];
  }

  async removeXattr(sessionId: string, req: XattrInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:removeXattr`, body: { path: req.path, name: req.name }, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // POSIX locks
  // -------------------------------------------------------------------------------------------

  async getPosixLock(sessionId: string, req: PosixLockInput, opts: CallOptions = {}): Promise<GetPosixLockResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}:getPosixLock`, body: encodePosixLock(req), idempotent: true, ...callOpts(opts) });
  }

  async setPosixLock(sessionId: string, req: PosixLockInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:setPosixLock`, body: encodePosixLock(req), ...callOpts(opts) });
  }

  async setPosixLockBlocking(sessionId: string, req: SetPosixLockBlockingInput, opts: CallOptions = {}): Promise<void> {
    return this.none({
      method: 'POST',
      path: `${sess(sessionId)}:setPosixLockBlocking`,
      body: { ...encodePosixLock(req), timeoutMs: req.timeoutMs },
      longLived: true,
      ...callOpts(opts),
    });
  }

  async flock(sessionId: string, req: FlockInput, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}:flock`, body: req, longLived: req.blocking === true, ...callOpts(opts) });
  }

  async funlock(sessionId: string, req: FunlockInput, opts: CallOptions = {}): Promise<void> {
    return this.none({
      method: 'POST',
      path: `${sess(sessionId)}:funlock`,
      body: { path: req.path, owner: req.owner, range: encodeRange(req.range), isFlock: req.isFlock },
      ...callOpts(opts),
    });
  }

  async releasePosixLocks(sessionId: string, req: ReleasePosixLocksInput, opts: CallOptions = {}): Promise<ReleasePosixLocksResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}:releasePosixLocks`, body: { owner: req.owner }, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // file locks
  // -------------------------------------------------------------------------------------------

  async lockFile(sessionId: string, req: LockRequest, opts: CallOptions = {}): Promise<LockResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/files/lock`, body: req, ...callOpts(opts) });
  }

  async renewLock(sessionId: string, req: RenewLockRequest, opts: CallOptions = {}): Promise<RenewLockResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/files/renew-lock`, body: req, ...callOpts(opts) });
  }

  async listLocks(sessionId: string, req: ListLocksInput = {}, opts: CallOptions = {}): Promise<ListLocksResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/files/list-locks`, body: req, idempotent: true, ...callOpts(opts) });
  }

  async unlockFile(sessionId: string, req: UnlockRequest, opts: CallOptions = {}): Promise<void> {
    return this.none({ method: 'POST', path: `${sess(sessionId)}/files/unlock`, body: req, ...callOpts(opts) });
  }

  async forceUnlock(sessionId: string, req: ForceUnlockRequest, opts: CallOptions = {}): Promise<ForceUnlockResponse> {
    return this.json({ method: 'POST', path: `${sess(sessionId)}/files/force-unlock`, body: req, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // health, analytics, usage
  // -------------------------------------------------------------------------------------------

  async getHealth(sessionId: string, opts: CallOptions = {}): Promise<GetHealthResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/health`, ...callOpts(opts) });
  }

  async reportHealth(sessionId: string, req: ReportHealthInput, opts: CallOptions = {}): Promise<ReportTestResultsResponse> {
    return this.json({
      method: 'POST',
      path: `${sess(sessionId)}/health/report`,
      body: { reportFormat: req.reportFormat, reportContent: b64(req.reportContent) },
      ...callOpts(opts),
    });
  }

  async getAnalytics(sessionId: string, opts: CallOptions = {}): Promise<SessionAnalytics> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/analytics`, ...callOpts(opts) });
  }

  async getUsage(opts: GetUsageOptions = {}): Promise<TenantUsage> {
    return this.json({
      method: 'GET',
      path: '/v1/usage',
      query: { windowStart: opts.windowStart, windowEnd: opts.windowEnd, granularity: opts.granularity },
      ...callOpts(opts),
    });
  }

  async getCasMetrics(opts: CallOptions = {}): Promise<CasMetrics> {
    return this.json({ method: 'GET', path: '/v1/metrics/cas', ...callOpts(opts) });
  }

  async runGc(req: { dryRun?: boolean; graceSeconds?: number; vacuum?: boolean }, opts: CallOptions = {}): Promise<GcReportJson> {
    const body: Record<string, unknown> = { dryRun: !!req.dryRun };
    if (req.graceSeconds !== undefined) body.graceSeconds = String(req.graceSeconds);
    if (req.vacuum) body.vacuum = true;
    return this.json({ method: 'POST', path: '/v1/admin/gc', body, ...callOpts(opts) });
  }

  async getStorage(opts: CallOptions = {}): Promise<StorageReportJson> {
    return this.json({ method: 'GET', path: '/v1/admin/storage', ...callOpts(opts) });
  }

  async deleteSession(sessionId: string, opts: CallOptions = {}): Promise<void> {
    await this.json({ method: 'DELETE', path: `/v1/sessions/${encodeURIComponent(sessionId)}`, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // sources
  // -------------------------------------------------------------------------------------------

  async createSource(req: CreateSourceRequest, opts: CallOptions = {}): Promise<Source> {
    return this.json({ method: 'POST', path: '/v1/sources', body: req, ...callOpts(opts) });
  }

  async listSources(opts: ListSourcesOptions = {}): Promise<ListSourcesResponse> {
    return this.json({
      method: 'GET',
      path: '/v1/sources',
      query: { filter: opts.filter, pageSize: opts.pageSize, pageToken: opts.pageToken || undefined },
      ...callOpts(opts),
    });
  }

  async getSource(sourceId: string, opts: CallOptions = {}): Promise<Source> {
    return this.json({ method: 'GET', path: `/v1/sources/${enc(sourceId)}`, ...callOpts(opts) });
  }

  async startImport(sourceId: string, req: StartImportRequest = {}, opts: CallOptions = {}): Promise<ImportJob> {
    return this.json({ method: 'POST', path: `/v1/sources/${enc(sourceId)}/startImport`, body: req, ...callOpts(opts) });
  }

  async refreshSource(sourceId: string, req: RefreshSourceRequest = {}, opts: CallOptions = {}): Promise<ImportJob> {
    return this.json({ method: 'POST', path: `/v1/sources/${enc(sourceId)}/refresh`, body: req, ...callOpts(opts) });
  }

  async promoteSession(sourceId: string, req: PromoteSessionRequest, opts: CallOptions = {}): Promise<ImportJob> {
    return this.json({ method: 'POST', path: `/v1/sources/${enc(sourceId)}/promoteSession`, body: req, ...callOpts(opts) });
  }

  async getJob(sourceId: string, jobId: string, opts: CallOptions = {}): Promise<ImportJob> {
    return this.json({ method: 'GET', path: `/v1/sources/${enc(sourceId)}/jobs/${enc(jobId)}`, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // events, secrets, gateway
  // -------------------------------------------------------------------------------------------

  async listEvents(sessionId: string, opts: ListEventsOptions = {}): Promise<ListEventsResponse> {
    return this.json({
      method: 'GET',
      path: `${sess(sessionId)}/events`,
      query: {
        startTime: opts.startTime,
        endTime: opts.endTime,
        pageSize: opts.pageSize,
        pageToken: opts.pageToken || undefined,
        eventType: opts.eventType,
        afterEventId: opts.afterEventId,
        waitSeconds: opts.waitSeconds,
      },
      longLived: (opts.waitSeconds ?? 0) > 0,
      ...callOpts(opts),
    });
  }

  async listSecrets(sessionId: string, opts: SecretScopeOptions = {}): Promise<ListSecretsResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/secrets`, query: { scope: opts.scope }, ...callOpts(opts) });
  }

  async setSecret(sessionId: string, secretName: string, req: SetSecretRequest, opts: CallOptions = {}): Promise<SetSecretResponse> {
    return this.json({ method: 'PUT', path: `${sess(sessionId)}/secrets/${enc(secretName)}`, body: req, ...callOpts(opts) });
  }

  async getSecret(sessionId: string, secretName: string, opts: SecretScopeOptions = {}): Promise<GetSecretResponse> {
    return this.json({ method: 'GET', path: `${sess(sessionId)}/secrets/${enc(secretName)}`, query: { scope: opts.scope }, ...callOpts(opts) });
  }

  async deleteSecret(sessionId: string, secretName: string, opts: SecretScopeOptions = {}): Promise<DeleteSecretResponse> {
    return this.json({ method: 'DELETE', path: `${sess(sessionId)}/secrets/${enc(secretName)}`, query: { scope: opts.scope }, ...callOpts(opts) });
  }

  async health(opts: CallOptions = {}): Promise<HealthzResponse> {
    return this.json({ method: 'GET', path: '/v1/healthz', auth: false, ...callOpts(opts) });
  }

  // -------------------------------------------------------------------------------------------
  // blobs
  // -------------------------------------------------------------------------------------------

  async getBlob(sessionId: string, hash: string, opts: GetBlobOptions = {}): Promise<Buffer> {
    const offset = opts.offset ?? 0;
    const length = opts.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw new GatewayError(`invalid blob range offset=${offset} length=${length}`, { rpcCode: RpcCode.INVALID_ARGUMENT });
    }
    if (length === 0) return Buffer.alloc(0);
    const ranged = offset > 0 || length !== undefined;
    const headers: Record<string, string> = { accept: 'application/octet-stream' };
    if (ranged) headers.range = `bytes=${offset}-${length !== undefined ? offset + length - 1 : ''}`;
    const path = `${sess(sessionId)}/blobs/${enc(hash)}`;
    const op = `GET ${path}`;
    const res = await this.send({ method: 'GET', path, headers, ...callOpts(opts), okStatuses: [416] });
    try {
      let data: Buffer;
      let whole: boolean;
      if (res.status === 416) {
        return Buffer.alloc(0); // the range starts at or past the end of the blob
      } else if (res.status === 206) {
        const cr = parseContentRange(res.headers['content-range']);
        if (!cr || cr.start !== offset) throw GatewayError.badResponse(`blob range answer does not start at ${offset}`, op);
        if (cr.end - cr.start + 1 !== res.body.length) {
          throw new GatewayError(`blob ${hash}: got ${res.body.length} bytes, Content-Range promised ${cr.end - cr.start + 1}`, { rpcCode: RpcCode.DATA_LOSS, operation: op });
        }
        if (length !== undefined && res.body.length > length) throw GatewayError.badResponse(`blob range answer longer than requested`, op);
        data = res.body;
        whole = cr.start === 0 && cr.total !== undefined && cr.end + 1 === cr.total;
      } else {
        // 200: the whole blob (no Range sent, or the server ignored it): verify, then slice.
        whole = true;
        data = res.body;
      }
      if (whole) this.verifyBlob(hash, data, op);
      if (res.status === 200 && ranged) data = data.subarray(offset, length !== undefined ? offset + length : undefined);
      this.counters.blobBytesFetched += data.length;
      return data;
    } catch (e) {
      this.counters.errors++;
      throw e;
    }
  }

  private verifyBlob(hash: string, data: Buffer, op: string): void {
    if (!hash.startsWith(HASH_PREFIX)) return; // unknown algorithm: nothing to check against
    const h = createContentHasher();
    h.update(data);
    const got = h.digest();
    if (got !== hash) {
      throw new GatewayError(`blob content does not match its hash: expected ${hash}, got ${got}`, { rpcCode: RpcCode.DATA_LOSS, operation: op });
    }
  }
}
