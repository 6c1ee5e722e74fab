// GatewayClient: the typed seam between Aether and an AetherFS gateway, one method per public route
// (seed contract + Aether extensions in openapi.yaml).
//
// Owns: the client-facing shapes of requests and responses. They are the wire types of
// src/protocol/types.ts with two conveniences:
//   - byte fields (batch write content, segment data, cache values, bus payloads, xattr values,
//     health report content) are Buffers here and base64 only on the wire;
//   - int64 fields in requests accept numbers (or bigints) as well as decimal strings.
// Responses keep the wire encoding otherwise (int64 as decimal strings; use `int64ToNumber`).
// Invariants:
//   - Every failure is a GatewayError (see gateway-error.ts): implementations never throw raw
//     transport errors, and never put the token in a message.
//   - Methods that can wait indefinitely (setPosixLockBlocking, flock with blocking, busSubscribe,
//     listEvents with waitSeconds, getBlob) accept an AbortSignal; an aborted call rejects with a
//     GatewayError of rpcCode 1 CANCELLED.
// Callers: fs/ (the filesystem core, written against this interface only), cli/ commands,
// test doubles (FaultyGatewayClient here, FakeGatewayClient in test/helpers).
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
  FlockRequest,
  ForceUnlockRequest,
  ForceUnlockResponse,
  ForkSessionRequest,
  FunlockRequest,
  GetCasExtentsResponse,
  GetHealthResponse,
  GetManifestResponse,
  GetPosixLockResponse,
  GetSecretResponse,
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
  LockRequest,
  LockResponse,
  ManifestNode,
  Message,
  PatchSegmentsResponse,
  PosixLockKind,
  PosixLockOwner,
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
  SecretScope,
  SegmentConflictPolicy,
  Session,
  SessionAnalytics,
  SessionEventType,
  SetSecretRequest,
  SetSecretResponse,
  Source,
  StartImportRequest,
  TenantUsage,
  UnlinkRequest,
  UnlockRequest,
  UpdateAnnotationRequest,
  UpdateAnnotationResponse,
  BusScope,
} from '../protocol/types.js';

// ---------------------------------------------------------------------------------------------
// Common shapes
// ---------------------------------------------------------------------------------------------

/** An int64 value in a request: a number, a bigint or a decimal string (the wire form). */
export type Int64Like = number | bigint | string;

/** Options every call accepts. */
export interface CallOptions {
  /** Abort the call; it then rejects with a GatewayError (rpcCode 1 CANCELLED). */
  signal?: AbortSignal;
  /**
   * `x-aether-request-id` (marked extension): a mutation whose id the gateway already applied
   * answers with the recorded outcome instead of applying again, so a call that carries one is
   * safe to retry after an unknown outcome. 1–128 of `[A-Za-z0-9_.:-]`; reuse it for every retry.
   */
  requestId?: string;
  /** Extra request headers for this call (never authorization). */
  headers?: Record<string, string>;
}

/** Shape of a valid `x-aether-request-id` (the gateway ignores anything else). */
export const REQUEST_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Query of `diffSession`. */
export interface SessionDiffOptions extends CallOptions {
  /** Absolute session path to limit the diff to. */
  path?: string;
  checkpointLabel?: string;
  checkpointId?: string;
  includeIgnored?: boolean;
  /** Width of the `--stat` text (40–1000; default 80). */
  statWidth?: number;
}

/** Paging parameters shared by list routes. */
export interface PageOptions extends CallOptions {
  pageSize?: number;
  pageToken?: string;
}

// ---------------------------------------------------------------------------------------------
// Sessions, manifest, checkpoints
// ---------------------------------------------------------------------------------------------

/** Query for `GET /v1/sessions` (extension). */
export interface ListSessionsOptions extends PageOptions {
  /** `key=value` tag filters; all must match. */
  tag?: string[];
}

/** Query for `GET /v1/sessions/{id}/manifest`. */
export interface GetManifestOptions extends PageOptions {
  /** Only nodes at or below this absolute path. */
  pathPrefix?: string;
  /** Include `casExtents` on file nodes. */
  includeCasExtents?: boolean;
  /** Extension: depth below `pathPrefix` to include (1 = the prefix's direct children). */
  maxDepth?: number;
}

/** Restore target: exactly one of a checkpoint id or (extension) a checkpoint label. */
export type RestoreTarget = { checkpointId: string; label?: never } | { label: string; checkpointId?: never };

// ---------------------------------------------------------------------------------------------
// Review, commit
// ---------------------------------------------------------------------------------------------

export interface ListAnnotationsOptions extends CallOptions {
  filePath?: string;
}

export interface DenyApprovalInput {
  feedback?: string;
}

// ---------------------------------------------------------------------------------------------
// Cache and bus
// ---------------------------------------------------------------------------------------------

export interface CacheSetOptions extends CallOptions {
  /** Time to live; absent or 0 = no expiry. */
  ttlSeconds?: Int64Like;
}

/** A cache lookup: `found: false` (and an empty value) for a missing or expired key. */
export interface CacheEntry {
  found: boolean;
  value: Buffer;
}

export interface BusPublishInput {
  topic: string;
  /** Message bytes (a string is sent as its UTF-8 bytes). */
  payload?: Buffer | Uint8Array | string;
}

/** A bus message with its payload decoded. */
export type BusMessage = Omit<Message, 'payload'> & { payload: Buffer };

export interface BusSubscribeOptions extends CallOptions {
  /** Topics to receive; absent = all. */
  topics?: string[];
  scope?: BusScope;
  /** Stored messages to replay before live delivery. */
  replayLimit?: number;
  /** Replay only messages published after this one. */
  replayAfterMessageId?: string;
}

// ---------------------------------------------------------------------------------------------
// Filesystem mutations
// ---------------------------------------------------------------------------------------------

export interface PathInput {
  path: string;
}

export interface DeleteFileInput {
  path: string;
  /** Optimistic-concurrency guard: current contentHash of the path ("" = unconditional). */
  expectedHash?: string;
}

/** A segment of a segment mutation; byte content is a Buffer. */
export type SegmentInput =
  | { data: { offset: Int64Like; content: Buffer | Uint8Array } }
  | { hole: { offset: Int64Like; length: Int64Like } }
  | { borrowed: { offset: Int64Like; length: Int64Like; hash: string; casOffset?: Int64Like } };

/** A sparse/partial write of one file. */
export interface SegmentMutationInput {
  path: string;
  segments?: SegmentInput[];
  /** File size after the mutation. */
  logicalSize?: Int64Like;
  expectedHash?: string;
  mode?: number;
}

/** A whole-file write in a batch. */
export interface WriteOperationInput {
  path: string;
  content?: Buffer | Uint8Array;
  expectedHash?: string;
  mode?: number;
}

/** One batch operation: exactly one of write, delete, segmentWrite. */
export type BatchOperationInput =
  | { write: WriteOperationInput; delete?: never; segmentWrite?: never }
  | { delete: DeleteFileInput; write?: never; segmentWrite?: never }
  | { segmentWrite: SegmentMutationInput; write?: never; delete?: never };

export interface BatchInput {
  operations: BatchOperationInput[];
}

export interface PatchSegmentsInput {
  mutations: SegmentMutationInput[];
  conflictPolicy?: SegmentConflictPolicy;
}

export interface ListSymlinksOptions extends PageOptions {
  pathPrefix?: string;
}

// ---------------------------------------------------------------------------------------------
// Xattrs, POSIX locks, file locks
// ---------------------------------------------------------------------------------------------

export interface XattrInput {
  path: string;
  name: string;
}

export interface SetXattrInput extends XattrInput {
  value: Buffer | Uint8Array;
}

export interface PosixLockRangeInput {
  start?: Int64Like;
  /** 0 = to end of file. */
  length?: Int64Like;
}

export interface PosixLockInput {
  path: string;
  kind: PosixLockKind;
  range?: PosixLockRangeInput;
  owner: PosixLockOwner;
  isFlock?: boolean;
}

export interface SetPosixLockBlockingInput extends PosixLockInput {
  /** Extension: give up after this long (the gateway answers DEADLINE_EXCEEDED). 0/absent = wait forever. */
  timeoutMs?: number;
}

/** `:flock` body; extensions: `timeoutMs` for blocking waits and mode `POSIX_FLOCK_MODE_UNLOCK`. */
export interface FlockInput extends Omit<FlockRequest, 'mode'> {
  mode: FlockRequest['mode'] | 'POSIX_FLOCK_MODE_UNLOCK';
  /** Extension: with `blocking`, give up after this long (DEADLINE_EXCEEDED). */
  timeoutMs?: number;
}

export interface FunlockInput extends Omit<FunlockRequest, 'range'> {
  range?: PosixLockRangeInput;
}

/**
 * Extension: drop every POSIX/flock lock (and cancel every pending wait) of one client — e.g. a
 * mount that is going away — optionally only those of one `ownerId`.
 */
export interface ReleasePosixLocksInput {
  owner: { clientId: string; ownerId?: string };
}

/** Response of `:releasePosixLocks`. */
export interface ReleasePosixLocksResponse {
  releasedLocks?: number;
  cancelledWaits?: number;
}

export interface ListLocksInput {
  pathPrefix?: string;
}

// ---------------------------------------------------------------------------------------------
// Health, analytics, sources, events, secrets, blobs
// ---------------------------------------------------------------------------------------------

export interface ReportHealthInput {
  /** "junit-xml/v1". */
  reportFormat: string;
  /** The report document: bytes, or a string sent as UTF-8. */
  reportContent: Buffer | Uint8Array | string;
}

export interface GetUsageOptions extends CallOptions {
  windowStart?: string;
  windowEnd?: string;
  granularity?: string;
}

export interface ListSourcesOptions extends PageOptions {
  filter?: string;
}

export interface ListEventsOptions extends PageOptions {
  /** RFC 3339; events at or after. */
  startTime?: string;
  /** RFC 3339; events before. */
  endTime?: string;
  /** Extension: only events of this type (several = any of them). */
  eventType?: SessionEventType | SessionEventType[];
  /** Extension: only events recorded after this event id (a cursor for long-polling). */
  afterEventId?: string;
  /**
   * Extension: long-poll. When no event matches yet, the gateway holds the request up to this
   * many seconds. The client applies no body timeout to such calls; use `signal` to stop early.
   */
  waitSeconds?: number;
}

export interface SecretScopeOptions extends CallOptions {
  scope?: SecretScope;
}

export interface GetBlobOptions extends CallOptions {
  /** First byte to read (default 0). */
  offset?: number;
  /** Bytes to read (default: to the end of the blob). */
  length?: number;
}

// ---------------------------------------------------------------------------------------------
// The interface
// ---------------------------------------------------------------------------------------------

/**
 * One method per public gateway route. Implementations: HttpGatewayClient (real HTTP),
 * FaultyGatewayClient (failure injection around any client), test/helpers FakeGatewayClient.
 *
 * Every method rejects with a GatewayError on failure.
 */
export interface GatewayClient {
  // ---- sessions ----
  /** `POST /v1/sessions`. */
  createSession(req?: CreateSessionRequest, opts?: CallOptions): Promise<Session>;
  /** `GET /v1/sessions/{sessionId}`. */
  getSession(sessionId: string, opts?: CallOptions): Promise<Session>;
  /** `GET /v1/sessions` (extension). */
  listSessions(opts?: ListSessionsOptions): Promise<ListSessionsResponse>;
  /** `POST /v1/sessions/{sessionId}/fork`. */
  forkSession(sessionId: string, req?: ForkSessionRequest, opts?: CallOptions): Promise<Session>;

  // ---- manifest ----
  /** `GET /v1/sessions/{sessionId}/manifest`: one page. */
  getManifest(sessionId: string, opts?: GetManifestOptions): Promise<GetManifestResponse>;
  /** Every node of the manifest across pages (follows nextPageToken; `pageToken` is the start). */
  iterateManifest(sessionId: string, opts?: GetManifestOptions): AsyncIterableIterator<ManifestNode>;

  // ---- checkpoints ----
  /** `POST /v1/sessions/{sessionId}/checkpoints`. */
  createCheckpoint(sessionId: string, req?: CreateCheckpointRequest, opts?: CallOptions): Promise<Checkpoint>;
  /** `GET /v1/sessions/{sessionId}/checkpoints` (extension). */
  listCheckpoints(sessionId: string, opts?: CallOptions): Promise<ListCheckpointsResponse>;
  /** `POST /v1/sessions/{sessionId}/restore` by checkpoint id or (extension) label. */
  restore(sessionId: string, target: RestoreTarget, opts?: CallOptions): Promise<RestoreResponse>;

  // ---- annotations ----
  /** `POST /v1/sessions/{sessionId}/annotations`. */
  addAnnotation(sessionId: string, req: AddAnnotationRequest, opts?: CallOptions): Promise<AddAnnotationResponse>;
  /** `GET /v1/sessions/{sessionId}/annotations`. */
  listAnnotations(sessionId: string, opts?: ListAnnotationsOptions): Promise<ListAnnotationsResponse>;
  /** `PATCH /v1/sessions/{sessionId}/annotations/{annotationId}`. */
  updateAnnotation(sessionId: string, annotationId: string, req: UpdateAnnotationRequest, opts?: CallOptions): Promise<UpdateAnnotationResponse>;

  // ---- approvals ----
  /** `POST /v1/sessions/{sessionId}/request-approval`. */
  requestApproval(sessionId: string, req?: RequestApprovalRequest, opts?: CallOptions): Promise<RequestApprovalResponse>;
  /** `POST /v1/sessions/{sessionId}/approvals/{approvalId}/grant`. Never retried. */
  grantApproval(sessionId: string, approvalId: string, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}/approvals/{approvalId}/deny`. Never retried. */
  denyApproval(sessionId: string, approvalId: string, req?: DenyApprovalInput, opts?: CallOptions): Promise<void>;
  /** `GET /v1/sessions/{sessionId}/approvals` (extension). */
  listApprovals(sessionId: string, opts?: CallOptions): Promise<ListApprovalsResponse>;
  /** `GET /v1/sessions/{sessionId}/approvals/{approvalId}` (extension). */
  getApproval(sessionId: string, approvalId: string, opts?: CallOptions): Promise<Approval>;

  // ---- commit ----
  /** `POST /v1/sessions/{sessionId}/commit`. */
  commit(sessionId: string, req: CommitRequest, opts?: CallOptions): Promise<CommitResponse>;
  /** `GET /v1/sessions/{sessionId}/diff` (extension): the session against its base or a checkpoint. */
  diffSession(sessionId: string, opts?: SessionDiffOptions): Promise<SessionDiffResponse>;

  // ---- cache ----
  /** `PUT /v1/sessions/{sessionId}/cache/{key}`. */
  cacheSet(sessionId: string, key: string, value: Buffer | Uint8Array | string, opts?: CacheSetOptions): Promise<void>;
  /** `GET /v1/sessions/{sessionId}/cache/{key}`; a missing key is `{found: false}`, not an error. */
  cacheGet(sessionId: string, key: string, opts?: CallOptions): Promise<CacheEntry>;
  /** `DELETE /v1/sessions/{sessionId}/cache/{key}` (extension); missing keys are fine. */
  cacheDelete(sessionId: string, key: string, opts?: CallOptions): Promise<void>;

  // ---- bus ----
  /** `POST /v1/sessions/{sessionId}/bus:publish`. */
  busPublish(sessionId: string, req: BusPublishInput, opts?: CallOptions): Promise<void>;
  /**
   * `GET /v1/sessions/{sessionId}/bus`: an NDJSON stream. Yields messages until the server ends
   * the stream or `signal` aborts (then the iterator simply finishes). A `{"error": …}` line
   * rejects the iteration with a GatewayError. Breaking out of the loop closes the connection.
   */
  busSubscribe(sessionId: string, opts?: BusSubscribeOptions): AsyncIterable<BusMessage>;

  // ---- filesystem ----
  /** `POST /v1/sessions/{sessionId}/dirs`. */
  createDir(sessionId: string, req: CreateDirectoryRequest, opts?: CallOptions): Promise<void>;
  /** `DELETE /v1/sessions/{sessionId}/dirs?path=` (empty directories only). */
  removeDir(sessionId: string, req: PathInput, opts?: CallOptions): Promise<void>;
  /** `DELETE /v1/sessions/{sessionId}/files?path=&expectedHash=`. */
  deleteFile(sessionId: string, req: DeleteFileInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:rename`. */
  rename(sessionId: string, req: RenameRequest, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}/batch`: atomic. */
  batch(sessionId: string, req: BatchInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}/patchSegments`. */
  patchSegments(sessionId: string, req: PatchSegmentsInput, opts?: CallOptions): Promise<PatchSegmentsResponse>;
  /** `POST /v1/sessions/{sessionId}/symlinks`. */
  createSymlink(sessionId: string, req: CreateSymlinkRequest, opts?: CallOptions): Promise<void>;
  /** `GET /v1/sessions/{sessionId}/symlinks`. */
  listSymlinks(sessionId: string, opts?: ListSymlinksOptions): Promise<ListSymlinksResponse>;
  /** `GET /v1/sessions/{sessionId}/readSymlink?path=`. */
  readSymlink(sessionId: string, req: PathInput, opts?: CallOptions): Promise<ReadSymlinkResponse>;
  /** `POST /v1/sessions/{sessionId}:link` (hard link). */
  link(sessionId: string, req: LinkRequest, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:unlink`. */
  unlink(sessionId: string, req: UnlinkRequest, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:getCasExtents` (a read; retried). */
  getCasExtents(sessionId: string, req: PathInput, opts?: CallOptions): Promise<GetCasExtentsResponse>;

  // ---- xattrs ----
  /** `POST /v1/sessions/{sessionId}:setXattr`. */
  setXattr(sessionId: string, req: SetXattrInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:getXattr`: the value bytes. */
  getXattr(sessionId: string, req: XattrInput, opts?: CallOptions): Promise<Buffer>;
  /** `POST /v1/sessions/{sessionId}:listXattrs`: attribute names. */
  listXattrs(sessionId: string, req: PathInput, opts?: CallOptions): Promise<string[]>;
  /** `POST /v1/sessions/{sessionId}:removeXattr`. */
  removeXattr(sessionId: string, req: XattrInput, opts?: CallOptions): Promise<void>;

  // ---- POSIX locks ----
  /** `POST /v1/sessions/{sessionId}:getPosixLock` (F_GETLK; a read). */
  getPosixLock(sessionId: string, req: PosixLockInput, opts?: CallOptions): Promise<GetPosixLockResponse>;
  /** `POST /v1/sessions/{sessionId}:setPosixLock` (F_SETLK; fails on conflict). */
  setPosixLock(sessionId: string, req: PosixLockInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:setPosixLockBlocking` (F_SETLKW): no timeout; honours `signal`. */
  setPosixLockBlocking(sessionId: string, req: SetPosixLockBlockingInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:flock`; with `blocking: true` it may wait (no timeout; honours `signal`). */
  flock(sessionId: string, req: FlockInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:funlock`. */
  funlock(sessionId: string, req: FunlockInput, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}:releasePosixLocks` (extension). */
  releasePosixLocks(sessionId: string, req: ReleasePosixLocksInput, opts?: CallOptions): Promise<ReleasePosixLocksResponse>;

  // ---- collaboration file locks ----
  /** `POST /v1/sessions/{sessionId}/files/lock`. */
  lockFile(sessionId: string, req: LockRequest, opts?: CallOptions): Promise<LockResponse>;
  /** `POST /v1/sessions/{sessionId}/files/renew-lock`. */
  renewLock(sessionId: string, req: RenewLockRequest, opts?: CallOptions): Promise<RenewLockResponse>;
  /** `POST /v1/sessions/{sessionId}/files/list-locks` (a read; retried). */
  listLocks(sessionId: string, req?: ListLocksInput, opts?: CallOptions): Promise<ListLocksResponse>;
  /** `POST /v1/sessions/{sessionId}/files/unlock`. */
  unlockFile(sessionId: string, req: UnlockRequest, opts?: CallOptions): Promise<void>;
  /** `POST /v1/sessions/{sessionId}/files/force-unlock`. */
  forceUnlock(sessionId: string, req: ForceUnlockRequest, opts?: CallOptions): Promise<ForceUnlockResponse>;

  // ---- health, analytics, usage ----
  /** `GET /v1/sessions/{sessionId}/health`. */
  getHealth(sessionId: string, opts?: CallOptions): Promise<GetHealthResponse>;
  /** `POST /v1/sessions/{sessionId}/health/report`. */
  reportHealth(sessionId: string, req: ReportHealthInput, opts?: CallOptions): Promise<ReportTestResultsResponse>;
  /** `GET /v1/sessions/{sessionId}/analytics`. */
  getAnalytics(sessionId: string, opts?: CallOptions): Promise<SessionAnalytics>;
  /** `GET /v1/usage`. */
  getUsage(opts?: GetUsageOptions): Promise<TenantUsage>;
  /** `GET /v1/metrics/cas` (extension). */
  getCasMetrics(opts?: CallOptions): Promise<CasMetrics>;
  /** `POST /v1/admin/gc` (extension; default-tenant token). */
  runGc(req: { dryRun?: boolean; graceSeconds?: number; vacuum?: boolean }, opts?: CallOptions): Promise<GcReportJson>;
  /** `GET /v1/admin/storage` (extension; default-tenant token). */
  getStorage(opts?: CallOptions): Promise<StorageReportJson>;
  /** `DELETE /v1/sessions/{sessionId}` (extension). */
  deleteSession(sessionId: string, opts?: CallOptions): Promise<void>;

  // ---- sources ----
  /** `POST /v1/sources`. */
  createSource(req: CreateSourceRequest, opts?: CallOptions): Promise<Source>;
  /** `GET /v1/sources`. */
  listSources(opts?: ListSourcesOptions): Promise<ListSourcesResponse>;
  /** `GET /v1/sources/{sourceId}`. */
  getSource(sourceId: string, opts?: CallOptions): Promise<Source>;
  /** `POST /v1/sources/{sourceId}/startImport`. */
  startImport(sourceId: string, req?: StartImportRequest, opts?: CallOptions): Promise<ImportJob>;
  /** `POST /v1/sources/{sourceId}/refresh`. */
  refreshSource(sourceId: string, req?: RefreshSourceRequest, opts?: CallOptions): Promise<ImportJob>;
  /** `POST /v1/sources/{sourceId}/promoteSession`. */
  promoteSession(sourceId: string, req: PromoteSessionRequest, opts?: CallOptions): Promise<ImportJob>;
  /** `GET /v1/sources/{sourceId}/jobs/{jobId}`. */
  getJob(sourceId: string, jobId: string, opts?: CallOptions): Promise<ImportJob>;

  // ---- events ----
  /** `GET /v1/sessions/{sessionId}/events` (with `waitSeconds`: a long-poll, no body timeout). */
  listEvents(sessionId: string, opts?: ListEventsOptions): Promise<ListEventsResponse>;

  // ---- secrets ----
  /** `GET /v1/sessions/{sessionId}/secrets`. */
  listSecrets(sessionId: string, opts?: SecretScopeOptions): Promise<ListSecretsResponse>;
  /** `PUT /v1/sessions/{sessionId}/secrets/{secretName}`. */
  setSecret(sessionId: string, secretName: string, req: SetSecretRequest, opts?: CallOptions): Promise<SetSecretResponse>;
  /** `GET /v1/sessions/{sessionId}/secrets/{secretName}`. The value is never logged. */
  getSecret(sessionId: string, secretName: string, opts?: SecretScopeOptions): Promise<GetSecretResponse>;
  /** `DELETE /v1/sessions/{sessionId}/secrets/{secretName}`. */
  deleteSecret(sessionId: string, secretName: string, opts?: SecretScopeOptions): Promise<DeleteSecretResponse>;

  // ---- gateway ----
  /** `GET /v1/healthz` (extension; no auth). */
  health(opts?: CallOptions): Promise<HealthzResponse>;

  // ---- blobs ----
  /**
   * `GET /v1/sessions/{sessionId}/blobs/{hash}` (extension) with a `Range` header for partial
   * reads. A whole-blob read is verified against `hash`; a mismatch is a GatewayError with
   * rpcCode 15 DATA_LOSS. Reads past the end return the bytes that exist (possibly none).
   */
  getBlob(sessionId: string, hash: string, opts?: GetBlobOptions): Promise<Buffer>;

  /** Release connections. Calls after close() fail. */
  close(): Promise<void>;
}

/** Names of every GatewayClient method. */
/** The gateway's GC report (int64 counters as strings, proto3 JSON). */
export type GcReportJson = Record<string, string | boolean> & {
  /** Per tenant (v1TenantStorage) and per git mirror (v1MirrorGcReport). */
  tenants?: TenantStorageJson[];
  mirrors?: Array<Record<string, string | boolean>>;
};
/** One tenant's live vs reclaimable blob bytes (int64 as strings). */
export interface TenantStorageJson {
  tenantId?: string;
  tenantName?: string;
  liveBlobs?: string;
  liveBlobBytes?: string;
  reclaimableBlobs?: string;
  reclaimableBlobBytes?: string;
}
/** Live vs reclaimable storage. */
export interface StorageReportJson {
  liveBytes: string;
  reclaimableBytes: string;
  databaseBytes: string;
  databaseFreeBytes: string;
  autoVacuum?: string;
  tenants?: TenantStorageJson[];
  gc: GcReportJson;
}

export type GatewayMethod = {
  [K in keyof GatewayClient]: GatewayClient[K] extends (...args: never[]) => unknown ? K : never;
}[keyof GatewayClient];

/**
 * Parse an int64 wire value ("1284") to a number. Throws RangeError above 2^53 (file sizes and
 * offsets never get there in practice, but silently losing precision would corrupt data).
 */
export function int64ToNumber(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value out of safe range: ${String(v)}`);
  return n;
}

/** Encode an int64 request value for the wire (decimal string). */
export function int64ToWire(v: Int64Like): string {
  if (typeof v === 'string') {
    if (!/^-?\d+$/.test(v)) throw new RangeError(`not an int64: ${JSON.stringify(v)}`);
    return v;
  }
  if (typeof v === 'bigint') return v.toString(10);
  if (!Number.isInteger(v)) throw new RangeError(`not an integer: ${v}`);
  return String(v);
}

/**
 * Walk manifest pages with `getPage`, yielding every node. Shared by GatewayClient
 * implementations for `iterateManifest`. A server repeating a page token is a BAD_RESPONSE-style
 * error (thrown by `onLoop`) rather than an endless loop.
 */
export async function* paginateManifest(
  getPage: (opts: GetManifestOptions) => Promise<GetManifestResponse>,
  opts: GetManifestOptions = {},
  onLoop: (token: string) => Error = (t) => new Error(`manifest page token repeated: ${t}`),
): AsyncGenerator<ManifestNode> {
  const seen = new Set<string>();
  let pageToken = opts.pageToken;
  for (;;) {
    const page = await getPage({ ...opts, pageToken });
    for (const n of page.nodes ?? []) yield n;
    const next = page.nextPageToken;
    if (!next) return;
    if (seen.has(next)) throw onLoop(next);
    seen.add(next);
    pageToken = next;
  }
}
