// Idempotent mutations (issue 12 item 4): the outcome of every mutation that carried an
// `x-aether-request-id` header (an Aether extension), so a client retrying after a timeout gets the
// recorded outcome instead of applying the change twice.
//
// Invariants: a request id is recorded in the same SQLite transaction as the mutation it names
// (fs/mutation.ts), so "applied" and "recorded" are one fact; the response body is filled in just
// after (server.ts) and may be NULL after a crash between the two, in which case a replay answers
// `{}`. Ids are per tenant and bound to the route + session they were first used with; reusing one
// for a different request is FAILED_PRECONDITION. Rows are kept for RETAIN_MS or the newest
// RETAIN_COUNT, whichever is fewer (pruned as new ones arrive). Callers: server.ts, fs/mutation.ts.
import type { Db } from '../db/database.js';
import { failedPrecondition } from '../http/api-error.js';

export const REQUEST_ID_HEADER = 'x-aether-request-id';
export const RETAIN_MS = 24 * 3600_000;
export const RETAIN_COUNT = 100_000;

/** A recorded outcome: the route it was applied to and the JSON response (undefined if not yet known). */
export interface RecordedOutcome {
  route: string;
  response: unknown;
}

/** Thrown inside a mutation when its request id was already applied; server.ts answers with `response`. */
export class ReplayedRequest extends Error {
  constructor(readonly response: unknown) {
    super('request already applied');
  }
}

export class RequestLog {
  private readonly getStmt;
  private readonly insStmt;
  private readonly doneStmt;
  private readonly pruneOld;
  private readonly pruneCount;
  private inserts = 0;

  constructor(private db: Db, private now: () => number) {
    this.getStmt = db.prepare('SELECT route, response FROM request_outcomes WHERE tenant_id = ? AND request_id = ?');
    this.insStmt = db.prepare('INSERT INTO request_outcomes (tenant_id, request_id, route, response, created_at) VALUES (?, ?, ?, NULL, ?)');
    this.doneStmt = db.prepare('UPDATE request_outcomes SET response = ? WHERE tenant_id = ? AND request_id = ?');
    this.pruneOld = db.prepare('DELETE FROM request_outcomes WHERE created_at < ?');
    this.pruneCount = db.prepare(
      'DELETE FROM request_outcomes WHERE created_at < (SELECT created_at FROM request_outcomes ORDER BY created_at DESC LIMIT 1 OFFSET ?)',
    );
  }

  /** The recorded outcome of `requestId`, checked against `route`; undefined if never applied. */
  lookup(tenantId: string, requestId: string, route: string): RecordedOutcome | undefined {
    const row = this.getStmt.get(tenantId, requestId) as { route: string; response: string | null } | undefined;
    if (!row) return undefined;
    if (row.route !== route) throw failedPrecondition(`request id ${requestId} was already used for a different request`);
    return { route: row.route, response: row.response === null ? {} : JSON.parse(row.response) };
  }

  /** Record that `requestId` was applied (call inside the mutation's transaction). */
  record(tenantId: string, requestId: string, route: string): void {
    this.insStmt.run(tenantId, requestId, route, this.now());
    if (++this.inserts % 1000 === 0) this.prune();
  }

  /** Store the response returned for an applied request. */
  complete(tenantId: string, requestId: string, response: unknown): void {
    this.doneStmt.run(JSON.stringify(response ?? {}), tenantId, requestId);
  }

  prune(): void {
    this.pruneOld.run(this.now() - RETAIN_MS);
    this.pruneCount.run(RETAIN_COUNT);
  }
}
