// GatewayCore: the services every route family shares — database, auth, trees, content, counters,
// the event log and the session repository with its per-session mutation lock. Built once by
// server.ts and handed to each family's register function.
import type { Db, Durability } from './db/database.js';
import type { RequestLog } from './store/request-log.js';
import type { GarbageCollector } from './store/gc.js';
import type { Auth, Principal } from './auth.js';
import { TreeEditor, type TreeStore } from './store/tree-store.js';
import type { ContentStore } from './store/content.js';
import type { Counters } from './counters.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { newId } from '../shared/digest.js';
import { notFound } from './http/api-error.js';
import { formatTimestamp } from './http/validate.js';
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Per-request context: the `x-aether-client-id` header of the request being served. Events it
 * causes carry `details.clientId` (an Aether extension) so a mount can skip its own changes when
 * it follows the event log.
 */
export const requestScope = new AsyncLocalStorage<RequestScope>();

/** What a request carries through its handler (see requestScope). */
export interface RequestScope {
  clientId?: string;
  /** `x-aether-request-id` (store/request-log.ts) with the tenant and route it was matched to. */
  requestId?: string;
  tenantId?: string;
  route?: string;
  /** Set by a mutation that recorded the request id; server.ts then stores the response. */
  recorded?: boolean;
}

export interface SessionRow {
  id: string;
  tenant_id: string;
  root: string;
  base_root: string;
  status: string;
  tags: string;
  source_id: string | null;
  revision_id: string | null;
  base_fingerprint: string;
  parent_session_id: string | null;
  version: number;
  created_by: string;
  created_at: number;
  last_activity_at: number;
  first_write_at: number | null;
  completed_at: number | null;
  mutation_count: number;
  checkpoint_count: number;
  restore_count: number;
  /** Set when the session was deleted (a tombstone: storage is released by GC). */
  deleted_at?: number | null;
}

type EventListener = (sessionId: string, eventType: string, details: Record<string, string>) => void;

/**
 * Append-only audit trail of session changes (GET /v1/sessions/{id}/events).
 *
 * An event recorded outside a transaction (the common case: a route records after its mutation
 * committed) is not its own SQLite commit: it waits in memory and flush() inserts every waiting
 * event in one transaction — at the group commit before the request is acknowledged
 * (db/database.ts), inside the next SessionRepo.apply, or one event-loop turn later, whichever
 * comes first (issue 9: one commit per request). Listeners hear of an event once it is in the
 * table. An event recorded inside a transaction is inserted at once, so it rolls back with it.
 */
export class EventLog {
  private readonly insert;
  private listeners = new Set<EventListener>();
  private pending: Array<[string, string, number, string, string, Record<string, string>]> = [];
  private timer: NodeJS.Immediate | undefined;
  constructor(private db: Db, private clock: Clock) {
    this.insert = db.prepare('INSERT INTO events (id, session_id, timestamp, event_type, details) VALUES (?, ?, ?, ?, ?)');
  }
  /** Record an event such as "v1.FileSystemService.Rename" with string details. */
  record(sessionId: string, eventType: string, details: Record<string, string> = {}): void {
    const now = this.clock.now();
    const clientId = requestScope.getStore()?.clientId;
    if (clientId && details.clientId === undefined) details = { ...details, clientId };
    const row: [string, string, number, string, string, Record<string, string>] = [newId('evt', now), sessionId, now, eventType, JSON.stringify(details), details];
    if (this.db.inTransaction) {
      this.flush(); // keep seq order
      this.insert.run(row[0], row[1], row[2], row[3], row[4]);
      this.notify([row]);
      return;
    }
    this.pending.push(row);
    if (!this.timer) {
      this.timer = setImmediate(() => {
        this.timer = undefined;
        try {
          if (this.db.open) this.flush();
        } catch {
          /* put back by flush(); the next transaction or barrier retries */
        }
      });
      this.timer.unref();
    }
  }

  /**
   * Insert every waiting event (one transaction, nested in the caller's if any), then notify.
   * Returns a function that puts them back: call it if an enclosing transaction rolled back.
   */
  flush(): () => void {
    if (this.pending.length === 0) return () => undefined;
    const rows = this.pending;
    this.pending = [];
    const restore = () => void this.pending.unshift(...rows);
    try {
      this.db.transaction(() => {
        for (const r of rows) this.insert.run(r[0], r[1], r[2], r[3], r[4]);
      })();
    } catch (err) {
      restore();
      throw err;
    }
    this.notify(rows);
    return restore;
  }

  private notify(rows: Array<[string, string, number, string, string, Record<string, string>]>): void {
    for (const r of rows) for (const l of this.listeners) l(r[1], r[3], r[5]);
  }
  /** In-process subscription (used to wake long polls); returns an unsubscribe function. */
  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

export interface ApplyOptions {
  /** File mutations this change counts for in analytics (0 for metadata-only changes). */
  mutations?: number;
}

/** Sessions: tenant-checked lookup and serialized, atomic tree mutation. */
export class SessionRepo {
  private chains = new Map<string, Promise<unknown>>();
  private readonly byId;

  /** `preCommit` runs first inside every apply() transaction (deferred content rows, store/content.ts). */
  private readonly bump;
  private touchStmt: import('better-sqlite3').Statement | undefined;

  constructor(private db: Db, private trees: TreeStore, private clock: Clock, private preCommit: () => () => void = () => () => undefined) {
    this.byId = db.prepare('SELECT * FROM sessions WHERE id = ?');
    this.bump = db.prepare(
      `UPDATE sessions SET root = ?, version = version + 1, last_activity_at = ?, mutation_count = mutation_count + ?,
       first_write_at = COALESCE(first_write_at, CASE WHEN ? > 0 THEN ? END) WHERE id = ? RETURNING *`,
    );
  }

  /** The session if it exists and belongs to the caller's tenant; otherwise NOT_FOUND (never 403, no existence leak). */
  get(principal: Principal, sessionId: string): SessionRow {
    const row = this.byId.get(sessionId) as SessionRow | undefined;
    if (!row || row.tenant_id !== principal.tenantId || row.deleted_at != null) throw notFound(`session ${sessionId} not found`);
    return row;
  }

  /** Reload by id without a tenant check (after a lock was taken on an already-checked session). */
  reload(sessionId: string): SessionRow {
    const row = this.byId.get(sessionId) as SessionRow | undefined;
    if (!row) throw notFound(`session ${sessionId} not found`);
    return row;
  }

  /**
   * Run `fn` with the session's mutation lock held: mutations of one session never interleave, so
   * an async preparation phase (hashing, blob writes) sees the same tree the apply phase edits.
   */
  async withLock<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(sessionId) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => gate);
    this.chains.set(sessionId, chained);
    await prev.catch(() => undefined);
    try {
      return await fn();
    } finally {
      release();
      if (this.chains.get(sessionId) === chained) this.chains.delete(sessionId);
    }
  }

  /**
   * Apply `edit` to the session's current tree atomically (one SQLite transaction): either every
   * change lands and the root moves, or nothing does. Call inside withLock().
   */
  apply<T>(sessionId: string, edit: (ed: TreeEditor, session: SessionRow) => T, opts: ApplyOptions = {}): { result: T; root: string; session: SessionRow } {
    // Deferred rows of earlier work commit with this change; if it rolls back they go back to memory.
    let undo: () => void = () => undefined;
    try {
      return this.db.transaction(() => {
        undo = this.preCommit();
        return this.change(sessionId, edit, opts);
      })();
    } catch (err) {
      undo();
      throw err;
    }
  }

  private change<T>(sessionId: string, edit: (ed: TreeEditor, session: SessionRow) => T, opts: ApplyOptions): { result: T; root: string; session: SessionRow } {
    {
      const s = this.reload(sessionId);
      const ed = new TreeEditor(this.trees, s.root);
      const result = edit(ed, s);
      const root = ed.commit();
      const now = this.clock.now();
      const muts = opts.mutations ?? 1;
      const session = this.bump.get(root, now, muts, muts, now, sessionId) as SessionRow;
      return { result, root, session };
    }
  }

  /** Bump last_activity_at (reads and control-plane calls count as activity). */
  touch(sessionId: string): void {
    (this.touchStmt ??= this.db.prepare('UPDATE sessions SET last_activity_at = ? WHERE id = ?')).run(this.clock.now(), sessionId);
  }
}

export interface GatewayCore {
  db: Db;
  /** Group commit: a mutating request is acknowledged after `barrier()` (server.ts). */
  durability: Durability;
  /** Outcomes of mutations sent with x-aether-request-id (idempotent retries). */
  requests: RequestLog;
  /** Online GC of unreachable trees and blobs (store/gc.ts). */
  gc: GarbageCollector;
  auth: Auth;
  trees: TreeStore;
  content: ContentStore;
  counters: Counters;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  sessions: SessionRepo;
  /** The gateway's data directory (git mirrors live under it). */
  dataDir: string;
  /** Roots under which local git remotes are allowed (see git/local-remotes.ts); undefined = default policy. */
  allowLocalRemotes?: string[];
  /** 32-byte key for secrets at rest, loaded from `<data>/secret.key` (mode 0600). */
  secretKey: Buffer;
  /** Resolves when background work (jobs) is drained; families register their own closers. */
  onClose(fn: () => Promise<void> | void): void;
}

export { formatTimestamp };
