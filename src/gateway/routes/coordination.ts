// Route family: session cache, bus and event log (seed §10, §11, §30).
//
//   PUT    /v1/sessions/{sessionId}/cache/{key}      set (value base64 ≤ 1 MiB, ttlSeconds ≥ 0)
//   GET    /v1/sessions/{sessionId}/cache/{key}      {value, found}; a miss/expiry is 200 found:false
//   DELETE /v1/sessions/{sessionId}/cache/{key}      Aether extension; idempotent
//   POST   /v1/sessions/{sessionId}/bus:publish      store in bus_messages, then fan out live
//   GET    /v1/sessions/{sessionId}/bus              NDJSON stream: replay, then live messages
//   GET    /v1/sessions/{sessionId}/events           paginated audit log (+ extensions eventType,
//                                                    afterEventId, waitSeconds long-poll)
//
// Invariants:
//  - Every route resolves the session through SessionRepo.get first, so another tenant's session
//    is NOT_FOUND, exactly like a missing one.
//  - Cache expiry uses core.clock; expired rows answer found:false and are deleted lazily (on the
//    read that finds them, and per session on every write).
//  - A bus subscriber registers with the in-process hub BEFORE reading replay rows and dedupes by
//    bus_messages.seq, so no message published around the switch from replay to live is lost or
//    duplicated. Live messages are written in publish order.
//  - Event pages are ordered by seq (insertion order); the page token is the last seq returned.
// Owned tables: cache_entries, bus_messages (events are written by every family through
// core.events.record and only read here).
import type { Router, RequestContext } from '../http/router.js';
import { STREAMED } from '../http/router.js';
import type { GatewayCore, SessionRow } from '../core.js';
import { ApiError, invalidArgument, notFound } from '../http/api-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import {
  decodePageToken,
  encodePageToken,
  formatTimestamp,
  parseBytes,
  parseInt64,
  parsePageSize,
  parseTimestamp,
} from '../http/validate.js';
import { BusHub, type BusRecord } from '../coord/bus-hub.js';
import type {
  BusStreamItem,
  DeleteCacheEntryResponse,
  GetCacheEntryResponse,
  ListEventsResponse,
  Message,
  PublishResponse,
  SessionEvent,
  SetCacheEntryResponse,
} from '../../protocol/types.js';

/** Largest cache value (decoded bytes). */
export const MAX_CACHE_VALUE_BYTES = 1024 * 1024;
/** Longest cache key, in characters. */
export const MAX_CACHE_KEY_CHARS = 512;
/** Longest bus topic, in characters. */
export const MAX_TOPIC_CHARS = 256;
/** Largest bus payload (decoded bytes). */
export const MAX_BUS_PAYLOAD_BYTES = 1024 * 1024;
/** Most topics one subscription may name. */
const MAX_TOPICS = 256;
/** Replay rows read per query (replay is streamed in batches, honouring backpressure). */
const REPLAY_BATCH = 500;
/**
 * A live subscriber whose unsent output exceeds this is cut off with a RESOURCE_EXHAUSTED error
 * line: the gateway must not buffer without bound for a client that stopped reading.
 */
const MAX_SUBSCRIBER_BACKLOG_BYTES = 16 * 1024 * 1024;
/** Longest long-poll of GET /events (extension `waitSeconds`). */
export const MAX_EVENT_WAIT_SECONDS = 30;
const INT32_MAX = 2 ** 31 - 1;

const hubs = new WeakMap<GatewayCore, BusHub>();

/** The bus hub of a running gateway (tests use it to check subscriber cleanup). */
export function busHubOf(core: GatewayCore): BusHub | undefined {
  return hubs.get(core);
}

function hasControlChar(s: string): boolean {
  return /[\u0000-\u001f\u007f]/.test(s);
}

/** Cache keys: 1..512 characters, no "/" and no control characters. */
function validateCacheKey(key: string | undefined): string {
  if (key === undefined || key.length === 0) throw invalidArgument('key is required');
  if (key.length > MAX_CACHE_KEY_CHARS) throw invalidArgument(`key is longer than ${MAX_CACHE_KEY_CHARS} characters`);
  if (key.includes('/')) throw invalidArgument('key must not contain "/"');
  if (hasControlChar(key)) throw invalidArgument('key must not contain control characters');
  return key;
}

function validateTopic(v: unknown, field: string): string {
  if (v === undefined || v === null || v === '') throw invalidArgument(`${field} is required`);
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  if (v.length > MAX_TOPIC_CHARS) throw invalidArgument(`${field} is longer than ${MAX_TOPIC_CHARS} characters`);
  if (hasControlChar(v)) throw invalidArgument(`${field} must not contain control characters`);
  return v;
}

/** A query parameter that may appear at most once. */
function single(ctx: RequestContext, name: string): string | undefined {
  const all = ctx.query.getAll(name);
  if (all.length > 1) throw invalidArgument(`${name} must be given at most once`);
  return all[0];
}

interface BusRow {
  seq: number;
  id: string;
  session_id: string;
  topic: string;
  payload: Buffer;
  sender_id: string;
  published_at: number;
}

function rowToRecord(r: BusRow): BusRecord {
  return { seq: r.seq, id: r.id, sessionId: r.session_id, topic: r.topic, payload: r.payload, senderId: r.sender_id, publishedAt: r.published_at };
}

function toMessage(m: BusRecord): Message {
  return {
    messageId: m.id,
    sessionId: m.sessionId,
    topic: m.topic,
    payload: m.payload.toString('base64'),
    senderId: m.senderId,
    publishedAt: formatTimestamp(m.publishedAt),
  };
}

interface EventRow {
  seq: number;
  id: string;
  timestamp: number;
  event_type: string;
  details: string;
}

function toEvent(r: EventRow): SessionEvent {
  let details: Record<string, string> = {};
  try {
    const parsed = JSON.parse(r.details) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) details = parsed as Record<string, string>;
  } catch {
    // Stored by EventLog.record as JSON; an unreadable row still lists, with empty details.
  }
  return { eventId: r.id, timestamp: formatTimestamp(r.timestamp), eventType: r.event_type as SessionEvent['eventType'], details };
}

export function registerCoordinationRoutes(router: Router, core: GatewayCore): void {
  const db = core.db;
  const last = db.prepare('SELECT id FROM bus_messages ORDER BY seq DESC LIMIT 1').get() as { id: string } | undefined;
  const hub = new BusHub(last?.id);
  hubs.set(core, hub);

  // ---- cache --------------------------------------------------------------------------------
  const cacheGet = db.prepare('SELECT value, expires_at FROM cache_entries WHERE session_id = ? AND key = ?');
  const cachePut = db.prepare('INSERT OR REPLACE INTO cache_entries (session_id, key, value, expires_at) VALUES (?, ?, ?, ?)');
  const cacheDel = db.prepare('DELETE FROM cache_entries WHERE session_id = ? AND key = ?');
  const cachePurge = db.prepare('DELETE FROM cache_entries WHERE session_id = ? AND expires_at IS NOT NULL AND expires_at <= ?');

  router.put('/v1/sessions/{sessionId}/cache/{key}', (ctx): SetCacheEntryResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const key = validateCacheKey(ctx.params.key);
    const body = ctx.body;
    if (body.value === undefined || body.value === null) throw invalidArgument('value is required');
    const value = parseBytes(body.value, 'value');
    if (value.length > MAX_CACHE_VALUE_BYTES) throw invalidArgument(`value is larger than ${MAX_CACHE_VALUE_BYTES} bytes`);
    const ttl = parseInt64(body.ttlSeconds, 'ttlSeconds', 0, { min: 0 });
    const now = core.clock.now();
    // ttl is a safe integer but ttl*1000 need not be; such an entry effectively never expires.
    const expiresAt = ttl === 0 ? null : Math.min(now + ttl * 1000, Number.MAX_SAFE_INTEGER);
    db.transaction(() => {
      cachePurge.run(s.id, now);
      cachePut.run(s.id, key, value, expiresAt);
    })();
    core.sessions.touch(s.id);
    return {};
  });

  router.get('/v1/sessions/{sessionId}/cache/{key}', (ctx): GetCacheEntryResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const key = validateCacheKey(ctx.params.key);
    const row = cacheGet.get(s.id, key) as { value: Buffer; expires_at: number | null } | undefined;
    core.sessions.touch(s.id);
    if (!row) return { value: '', found: false };
    if (row.expires_at !== null && row.expires_at <= core.clock.now()) {
      cacheDel.run(s.id, key);
      return { value: '', found: false };
    }
    return { value: row.value.toString('base64'), found: true };
  });

  router.delete('/v1/sessions/{sessionId}/cache/{key}', (ctx): DeleteCacheEntryResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const key = validateCacheKey(ctx.params.key);
    db.transaction(() => {
      cacheDel.run(s.id, key);
      cachePurge.run(s.id, core.clock.now());
    })();
    core.sessions.touch(s.id);
    return {};
  });

  // ---- bus ----------------------------------------------------------------------------------
  const busInsert = db.prepare(
    'INSERT INTO bus_messages (id, session_id, topic, payload, sender_id, published_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const busById = db.prepare('SELECT seq FROM bus_messages WHERE id = ? AND session_id = ?');

  router.post('/v1/sessions/{sessionId}/bus:publish', (ctx): PublishResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const topic = validateTopic(ctx.body.topic, 'topic');
    const payload = parseBytes(ctx.body.payload, 'payload');
    if (payload.length > MAX_BUS_PAYLOAD_BYTES) throw invalidArgument(`payload is larger than ${MAX_BUS_PAYLOAD_BYTES} bytes`);
    const now = core.clock.now();
    const id = hub.nextId(now);
    const info = busInsert.run(id, s.id, topic, payload, ctx.principal.principalId, now);
    core.sessions.touch(s.id);
    hub.publish({ seq: Number(info.lastInsertRowid), id, sessionId: s.id, topic, payload, senderId: ctx.principal.principalId, publishedAt: now });
    return {};
  });

  router.get('/v1/sessions/{sessionId}/bus', async (ctx) => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const topicList = ctx.query.getAll('topics');
    if (topicList.length > MAX_TOPICS) throw invalidArgument(`at most ${MAX_TOPICS} topics may be given`);
    const topics = new Set(topicList.map((t) => validateTopic(t, 'topics')));
    const scope = single(ctx, 'scope');
    if (scope !== undefined && scope !== '' && scope !== 'SESSION_ONLY' && scope !== 'BUS_SCOPE_SESSION_ONLY') {
      throw invalidArgument('scope must be one of BUS_SCOPE_SESSION_ONLY, SESSION_ONLY');
    }
    const replayLimit = parseInt64(single(ctx, 'replayLimit'), 'replayLimit', 0, { min: 0, max: INT32_MAX });
    const afterId = single(ctx, 'replayAfterMessageId');
    let afterSeq: number | undefined;
    if (afterId !== undefined && afterId !== '') {
      const row = busById.get(afterId, s.id) as { seq: number } | undefined;
      if (!row) throw notFound(`message ${afterId} not found in session ${s.id}`);
      afterSeq = row.seq;
    }
    return streamBus(ctx, s, topics, replayLimit, afterSeq);
  });

  /** Topic condition shared by the replay queries ("" when every topic matches). */
  function topicSql(topics: Set<string>): string {
    return topics.size ? ` AND topic IN (${[...topics].map(() => '?').join(', ')})` : '';
  }

  async function streamBus(ctx: RequestContext, s: SessionRow, topics: Set<string>, replayLimit: number, afterSeq: number | undefined): Promise<typeof STREAMED> {
    const { res, signal } = ctx;
    const matches = (m: BusRecord) => topics.size === 0 || topics.has(m.topic);
    const tArgs = [...topics];
    let lastSent = 0;
    let live = false;
    let ended = false;
    const pending: BusRecord[] = [];
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));

    const end = (err?: ApiError) => {
      if (ended) return;
      ended = true;
      if (err && !res.destroyed) res.end(JSON.stringify({ error: { code: err.rpcCode, message: err.message, details: [] } } satisfies BusStreamItem) + '\n');
      else if (!res.destroyed) res.end();
      finish();
    };
    const write = (m: BusRecord): boolean => {
      lastSent = m.seq;
      return res.write(JSON.stringify({ result: toMessage(m) } satisfies BusStreamItem) + '\n');
    };

    // Subscribe before reading the replay rows: anything published from here on is either in
    // the rows read below or arrives here (or both; seq dedupes).
    const unsubscribe = hub.subscribe(s.id, (m) => {
      if (ended || !matches(m)) return;
      if (!live) {
        pending.push(m);
        return;
      }
      if (m.seq <= lastSent) return;
      write(m);
      if (res.writableLength > MAX_SUBSCRIBER_BACKLOG_BYTES) {
        end(new ApiError(RpcCode.RESOURCE_EXHAUSTED, 'subscriber is not reading fast enough; resubscribe with replayAfterMessageId to catch up'));
      }
    });
    const onAbort = () => end();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) end();

    try {
      // Where replay starts: after a given message, or so that the last `replayLimit` matching
      // messages are included, or nowhere (live only).
      let cursor: number | undefined = afterSeq;
      if (cursor === undefined && replayLimit > 0) {
        const row = db
          .prepare(`SELECT seq FROM bus_messages WHERE session_id = ?${topicSql(topics)} ORDER BY seq DESC LIMIT 1 OFFSET ?`)
          .get(s.id, ...tArgs, replayLimit - 1) as { seq: number } | undefined;
        cursor = row ? row.seq - 1 : 0;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
      res.flushHeaders();
      if (cursor !== undefined) {
        const page = db.prepare(`SELECT * FROM bus_messages WHERE session_id = ? AND seq > ?${topicSql(topics)} ORDER BY seq LIMIT ${REPLAY_BATCH}`);
        for (;;) {
          if (ended) break;
          const rows = page.all(s.id, cursor, ...tArgs) as BusRow[];
          let ok = true;
          for (const r of rows) ok = write(rowToRecord(r)) && ok;
          if (rows.length) cursor = rows[rows.length - 1]!.seq;
          if (rows.length < REPLAY_BATCH) break;
          if (!ok) await drained(res, signal);
        }
      }
      // Switch to live delivery synchronously after the last replay query: nothing can slip in.
      if (!ended) {
        for (const m of pending) if (m.seq > lastSent) write(m);
        pending.length = 0;
        live = true;
      }
    } catch (err) {
      core.logger.error('bus stream failed', { sessionId: s.id, error: String((err as Error)?.stack ?? err) });
      if (!res.headersSent) {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
        throw err;
      }
      end(new ApiError(RpcCode.INTERNAL, 'bus stream failed; see the gateway log'));
    }
    try {
      await done;
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    }
    return STREAMED;
  }

  // ---- event log ----------------------------------------------------------------------------
  const eventById = db.prepare('SELECT seq FROM events WHERE id = ? AND session_id = ?');

  router.get('/v1/sessions/{sessionId}/events', async (ctx): Promise<ListEventsResponse> => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const start = parseTimestamp(single(ctx, 'startTime'), 'startTime');
    const end = parseTimestamp(single(ctx, 'endTime'), 'endTime');
    if (start !== undefined && end !== undefined && end < start) throw invalidArgument('endTime must not be before startTime');
    const pageSize = parsePageSize(single(ctx, 'pageSize'), 100, 1000);
    const token = decodePageToken<{ s: number }>(single(ctx, 'pageToken'), (t) => Number.isSafeInteger(t.s) && (t.s as number) >= 0);
    const types = ctx.query.getAll('eventType');
    if (types.length > 100) throw invalidArgument('at most 100 eventType values may be given');
    for (const t of types) if (t === '' || t.length > 256) throw invalidArgument('eventType must be a non-empty event type name');
    const waitSeconds = parseInt64(single(ctx, 'waitSeconds'), 'waitSeconds', 0, { min: 0, max: MAX_EVENT_WAIT_SECONDS });
    let cursor = token?.s ?? 0;
    const afterEventId = single(ctx, 'afterEventId');
    if (afterEventId !== undefined && afterEventId !== '') {
      const row = eventById.get(afterEventId, s.id) as { seq: number } | undefined;
      if (!row) throw notFound(`event ${afterEventId} not found in session ${s.id}`);
      cursor = Math.max(cursor, row.seq);
    }

    let sql = 'SELECT seq, id, timestamp, event_type, details FROM events WHERE session_id = ? AND seq > ?';
    const args: unknown[] = [s.id, cursor];
    if (start !== undefined) {
      sql += ' AND timestamp >= ?';
      args.push(start);
    }
    if (end !== undefined) {
      sql += ' AND timestamp < ?';
      args.push(end);
    }
    if (types.length) {
      sql += ` AND event_type IN (${types.map(() => '?').join(', ')})`;
      args.push(...types);
    }
    sql += ' ORDER BY seq LIMIT ?';
    args.push(pageSize + 1);
    const stmt = db.prepare(sql);
    const query = () => stmt.all(...args) as EventRow[];

    let rows = query();
    // Waiting is pointless when the window has already closed (events are stamped with clock.now()).
    const windowOpen = end === undefined || end > core.clock.now();
    if (rows.length === 0 && waitSeconds > 0 && windowOpen && !ctx.signal.aborted) {
      await waitForEvent(ctx, s.id, waitSeconds, () => stmt.all(...args).length > 0);
      rows = query();
    }
    const more = rows.length > pageSize;
    const page = more ? rows.slice(0, pageSize) : rows;
    return {
      events: page.map(toEvent),
      nextPageToken: more ? encodePageToken({ s: page[page.length - 1]!.seq }) : '',
    };
  });

  /**
   * Resolve when `ready()` turns true after an event of `sessionId` is recorded, when
   * `seconds` pass (wall time: a long poll is about real latency), or when the client leaves.
   */
  function waitForEvent(ctx: RequestContext, sessionId: string, seconds: number, ready: () => boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      let scheduled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unsubscribe();
        ctx.signal.removeEventListener('abort', finish);
        resolve();
      };
      // record() may run inside another family's transaction: look at the table only after it
      // has returned (setImmediate), never from inside the listener.
      const unsubscribe = core.events.subscribe((sid) => {
        if (sid !== sessionId || settled || scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          if (settled) return;
          try {
            if (ready()) finish();
          } catch {
            finish();
          }
        });
      });
      const timer = setTimeout(finish, seconds * 1000);
      ctx.signal.addEventListener('abort', finish, { once: true });
    });
  }
}

/** Resolve once `res` drains (or the client goes away). */
function drained(res: RequestContext['res'], signal: AbortSignal): Promise<void> {
  if (signal.aborted || res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
