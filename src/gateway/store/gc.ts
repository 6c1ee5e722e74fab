// Online garbage collection of trees and blobs (issue 15): mark-and-sweep with a grace period.
//
// Roots: the root and base root of every live (not deleted) session, every checkpoint of a live
// session, every source revision. Marking walks tree nodes (TreeStore.children) and collects the
// blobs their file extents name; sweeping deletes unmarked tree rows and unmarked blobs (inline
// rows, files, tenant references) that are older than the grace period and were not put or
// deduplicated in-process within it.
//
// Why this is safe while requests run: nodes and blobs are immutable and content-addressed; the
// roots are read in one snapshot; every node or blob a later request writes *or reuses by
// dedupe* is stamped recent (TreeStore.recentlyPut, ContentStore.recentlyPut) and so survives,
// and every node a later root shares with an older one was reachable from that older root, which
// was marked or is itself recent. A reader holding extents of a version that was just replaced
// (a mount reading a cold file) is covered by its reader lease (ContentStore.lease: extents
// handed out or blobs served in the last 10 minutes are kept whatever the grace period). Pauses are bounded: marking and
// sweeping run in slices of SLICE items with an event-loop turn between them; each sweep slice is
// one small transaction, so a kill -9 mid-GC leaves a consistent database (rows of unreachable
// content gone or not; a blob file is removed only after its rows are committed gone).
//
// Per tenant: roots are marked tenant by tenant (a session, its checkpoints and a source's
// revisions belong to their tenant), so the report says, for each tenant, the bytes of blobs it
// still reaches (live) and of blobs it references (tenant_blobs) but no longer reaches
// (reclaimable; freed unless another tenant still reaches them). /v1/metrics/cas serves the
// latest figures (tenantStorage).
//
// Phases: other stores register a phase (addPhase) that runs after the sweep with the same
// options — the git mirrors' GC (git/mirror-gc.ts) — each out of the request path, in child
// processes. Vacuum (`vacuum: true`): free database pages go back to the filesystem; a database
// created before auto_vacuum=INCREMENTAL was set (fresh databases get it, db/database.ts) is
// converted once with a full VACUUM, which blocks the gateway for its duration (seconds per GB).
// Callers: routes/storage.ts (admin routes), routes/blobs.ts (metrics), server.ts (periodic run).
import type { Db } from '../db/database.js';
import type { TreeStore, TreeEntry } from './tree-store.js';
import type { ContentStore } from './content.js';

export const DEFAULT_GRACE_MS = 10 * 60_000;
const SLICE = 500;
/** Per-session rows removed with a deleted session (table, condition on the session id). */
const PURGE: Array<[string, string]> = [
  ['events', 'session_id = ?'],
  ['checkpoints', 'session_id = ?'],
  ['annotations', 'session_id = ?'],
  ['approvals', 'session_id = ?'],
  ['cache_entries', 'session_id = ?'],
  ['bus_messages', 'session_id = ?'],
  ['file_locks', 'session_id = ?'],
  ['health', 'session_id = ?'],
  ['secrets', "scope = 'SECRET_SCOPE_SESSION' AND session_id = ?"],
];
/** Free pages returned per incremental-vacuum step (4 MiB at 4 KiB pages). */
const VACUUM_STEP = 1024;

export interface GcOptions {
  dryRun?: boolean;
  graceMs?: number;
  now?: number;
  /** Return free database pages to the filesystem (converting an old database once: VACUUM). */
  vacuum?: boolean;
  /** Set by the periodic run: phases may skip work below their thresholds. */
  periodic?: boolean;
}

/** What one tenant's roots reach, and what it references but no longer reaches (blob bytes). */
export interface TenantStorage {
  tenantId: string;
  liveBlobs: number;
  liveBlobBytes: number;
  reclaimableBlobs: number;
  reclaimableBlobBytes: number;
}

/** Another store's collection, run after the sweep (e.g. git mirrors). */
export type GcPhase = (opts: GcOptions & { graceMs: number; dryRun: boolean }) => Promise<Record<string, unknown>[]>;

export interface GcReport {
  dryRun: boolean;
  roots: number;
  liveTrees: number;
  liveTreeBytes: number;
  liveBlobs: number;
  liveBlobBytes: number;
  reclaimableTrees: number;
  reclaimableTreeBytes: number;
  reclaimableBlobs: number;
  reclaimableBlobBytes: number;
  /** What was removed (0 for a dry run). */
  removedTrees: number;
  removedBlobs: number;
  durationMs: number;
  /** Longest stretch without an event-loop turn. */
  maxPauseMs: number;
  /** Per tenant (see the module comment). */
  tenants: TenantStorage[];
  /** Git mirrors examined (git/mirror-gc.ts). */
  mirrors: Record<string, unknown>[];
  /** Database file bytes (page_count × page_size) before and after; freed pages go back with vacuum. */
  databaseBytesBefore: number;
  databaseBytesAfter: number;
  /** Whether a full VACUUM converted the database to incremental vacuum in this run. */
  vacuumed: boolean;
  /** Deleted sessions whose rows (events, checkpoints, review, coordination, health) were removed. */
  purgedSessions: number;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

export class GarbageCollector {
  private running: Promise<GcReport> | undefined;
  private phases: GcPhase[] = [];
  private last: { at: number; changes: number; tenants: Map<string, TenantStorage> } | undefined;
  private readonly totalChanges;

  constructor(private db: Db, private trees: TreeStore, private content: ContentStore) {
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
  }

  private changes(): number {
    return this.totalChanges.get() as number;
  }

  /** Register a collection phase run after the sweep (see the module comment). */
  addPhase(phase: GcPhase): void {
    this.phases.push(phase);
  }

  /**
   * A tenant's figures from the latest collection, running a dry one first when there is none,
   * when the database changed since and it is over `minAgeMs` old (so a busy gateway marks at
   * most once a second for metrics), or when it is over `maxAgeMs` old.
   */
  async tenantStorage(tenantId: string, minAgeMs = 1000, maxAgeMs = 60_000): Promise<TenantStorage> {
    const age = this.last ? Date.now() - this.last.at : Infinity;
    if (age > maxAgeMs || (age > minAgeMs && this.changes() !== this.last!.changes) || !this.last) await this.run({ dryRun: true, periodic: true });
    return this.last!.tenants.get(tenantId) ?? { tenantId, liveBlobs: 0, liveBlobBytes: 0, reclaimableBlobs: 0, reclaimableBlobBytes: 0 };
  }

  /** Run one collection (concurrent calls share the run in flight). */
  run(opts: GcOptions = {}): Promise<GcReport> {
    if (this.running) return this.running;
    this.running = this.collect(opts).finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(opts: GcOptions): Promise<GcReport> {
    const started = Date.now();
    let sliceStart = Date.now();
    let maxPause = 0;
    const yieldNow = async () => {
      maxPause = Math.max(maxPause, Date.now() - sliceStart);
      await turn();
      sliceStart = Date.now();
    };
    const dryRun = !!opts.dryRun;
    const now = opts.now ?? Date.now();
    const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    const cutoff = now - graceMs;

    const dbBytes = () => Number(this.db.pragma('page_count', { simple: true })) * Number(this.db.pragma('page_size', { simple: true }));
    const databaseBytesBefore = dbBytes();
    // Rows still held in memory are written first, so the snapshot below sees them.
    this.content.flushPending();

    // Roots by tenant, in one read snapshot ('' = not a tenant's: the empty tree).
    const { roots, refs } = this.db.transaction(() => {
      const byTenant = new Map<string, Set<string>>();
      const add = (rows: Array<{ t: string; r: string }>) => {
        for (const { t, r } of rows) {
          if (!r) continue;
          let set = byTenant.get(t);
          if (!set) byTenant.set(t, (set = new Set()));
          set.add(r);
        }
      };
      add(this.db.prepare('SELECT tenant_id AS t, root AS r FROM sessions WHERE deleted_at IS NULL UNION SELECT tenant_id, base_root FROM sessions WHERE deleted_at IS NULL').all() as Array<{ t: string; r: string }>);
      add(this.db.prepare('SELECT s.tenant_id AS t, c.root AS r FROM checkpoints c JOIN sessions s ON s.id = c.session_id WHERE s.deleted_at IS NULL').all() as Array<{ t: string; r: string }>);
      add(this.db.prepare('SELECT s.tenant_id AS t, v.root AS r FROM revisions v JOIN sources s ON s.id = v.source_id').all() as Array<{ t: string; r: string }>);
      // A revision whose source row is gone still counts (as no tenant's).
      add(this.db.prepare("SELECT '' AS t, root AS r FROM revisions WHERE source_id NOT IN (SELECT id FROM sources)").all() as Array<{ t: string; r: string }>);
      add([{ t: '', r: this.trees.emptyTree }]);
      const refs = this.db.prepare('SELECT t.tenant_id AS t, t.hash AS h, b.size AS n FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash').all() as Array<{ t: string; h: string; n: number }>;
      return { roots: byTenant, refs };
    })();
    let rootCount = 0;
    for (const set of roots.values()) rootCount += set.size;

    const report0 = { purgedSessions: 0 };
    // Mark, tenant by tenant. Nodes written (or reused by dedupe) within the grace period are
    // roots too (as no tenant's): a request that committed after the snapshot reaches its blobs
    // through them.
    const liveTrees = new Set<string>();
    const liveBlobs = new Set<string>();
    const recentRoots = [...this.trees.recentlyPut(cutoff)];
    const tenantBlobs = new Map<string, Set<string>>();
    let n = 0;
    for (const [tenant, set] of [...roots, ['', new Set(recentRoots)] as [string, Set<string>]]) {
      const seen = new Set<string>();
      const blobs = tenantBlobs.get(tenant) ?? new Set<string>();
      tenantBlobs.set(tenant, blobs);
      const stack = [...set];
      while (stack.length) {
        const h = stack.pop()!;
        if (seen.has(h)) continue;
        seen.add(h);
        liveTrees.add(h);
        let kids: string[];
        try {
          kids = this.trees.children(h);
          for (const [, e] of this.trees.pageEntries(h)) markBlobs(e, blobs);
        } catch {
          continue; // a missing node is reported by readers (DATA_LOSS); nothing to mark under it
        }
        for (const k of kids) if (!seen.has(k)) stack.push(k);
        if (++n % SLICE === 0) await yieldNow();
      }
      for (const b of blobs) liveBlobs.add(b);
    }
    const tenants = new Map<string, TenantStorage>();
    for (const r of refs) {
      let ts = tenants.get(r.t);
      if (!ts) tenants.set(r.t, (ts = { tenantId: r.t, liveBlobs: 0, liveBlobBytes: 0, reclaimableBlobs: 0, reclaimableBlobBytes: 0 }));
      if (tenantBlobs.get(r.t)?.has(r.h)) {
        ts.liveBlobs++;
        ts.liveBlobBytes += r.n;
      } else {
        ts.reclaimableBlobs++;
        ts.reclaimableBlobBytes += r.n;
      }
    }
    await yieldNow();

    // Rows of sessions deleted before the cutoff: their events, checkpoints, review, coordination
    // and health rows, then the tombstone itself (storage returns to what the survivors need).
    if (!dryRun) report0.purgedSessions = await this.purgeDeletedSessions(cutoff, yieldNow);

    // Sweep trees.
    const recentTrees = this.trees.recentlyPut(cutoff);
    const treeRows = this.db.prepare('SELECT hash, length(body) AS n FROM trees').all() as Array<{ hash: string; n: number }>;
    await yieldNow();
    const report: GcReport = {
      purgedSessions: report0.purgedSessions,
      dryRun,
      roots: rootCount,
      liveTrees: 0,
      liveTreeBytes: 0,
      liveBlobs: 0,
      liveBlobBytes: 0,
      reclaimableTrees: 0,
      reclaimableTreeBytes: 0,
      reclaimableBlobs: 0,
      reclaimableBlobBytes: 0,
      removedTrees: 0,
      removedBlobs: 0,
      durationMs: 0,
      maxPauseMs: 0,
      tenants: [...tenants.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1)),
      mirrors: [],
      databaseBytesBefore,
      databaseBytesAfter: databaseBytesBefore,
      vacuumed: false,
    };
    const deadTrees: string[] = [];
    for (const r of treeRows) {
      if (liveTrees.has(r.hash) || recentTrees.has(r.hash)) {
        report.liveTrees++;
        report.liveTreeBytes += r.n;
      } else {
        report.reclaimableTrees++;
        report.reclaimableTreeBytes += r.n;
        deadTrees.push(r.hash);
      }
    }
    if (!dryRun) {
      const del = this.db.prepare('DELETE FROM trees WHERE hash = ?');
      for (let i = 0; i < deadTrees.length; i += SLICE) {
        // Re-checked synchronously right before deleting: a node re-put since marking survives.
        const again = this.trees.recentlyPut(cutoff);
        const part = deadTrees.slice(i, i + SLICE).filter((h) => !again.has(h));
        this.db.transaction(() => part.forEach((h) => (report.removedTrees += del.run(h).changes)))();
        this.trees.forget(part);
        await yieldNow();
      }
    }

    // Sweep blobs.
    // Reader leases hold whatever the grace period (ContentStore.lease).
    const recentBlobs = this.content.recentlyPut(cutoff);
    for (const h of this.content.leased()) recentBlobs.add(h);
    const blobRows = this.db.prepare('SELECT hash, size, created_at AS t FROM blobs').all() as Array<{ hash: string; size: number; t: number }>;
    await yieldNow();
    const deadBlobs: Array<{ hash: string; size: number }> = [];
    for (const b of blobRows) {
      if (liveBlobs.has(b.hash) || recentBlobs.has(b.hash) || b.t >= cutoff) {
        report.liveBlobs++;
        report.liveBlobBytes += b.size;
      } else {
        report.reclaimableBlobs++;
        report.reclaimableBlobBytes += b.size;
        deadBlobs.push(b);
      }
    }
    if (!dryRun) {
      const delBlob = this.db.prepare('DELETE FROM blobs WHERE hash = ?');
      const delRefs = this.db.prepare('DELETE FROM tenant_blobs WHERE hash = ?');
      for (let i = 0; i < deadBlobs.length; i += SLICE) {
        const again = this.content.recentlyPut(cutoff);
        for (const h of this.content.leased()) again.add(h);
        const part = deadBlobs.slice(i, i + SLICE).filter((b) => !again.has(b.hash));
        // Rows first (one transaction), then inline data / files: a crash in between leaves only
        // orphan bytes, which a later put of the same content simply reuses.
        this.db.transaction(() => part.forEach((b) => void (delBlob.run(b.hash), delRefs.run(b.hash))))();
        for (const b of part) if (await this.content.removeBlob(b.hash, cutoff)) report.removedBlobs++;
        await yieldNow();
      }
      // Return free pages to the filesystem: incrementally when the database has incremental
      // vacuum (every database created since v3), by one full VACUUM on request otherwise.
      const mode = Number(this.db.pragma('auto_vacuum', { simple: true }));
      if (mode === 2) await this.incrementalVacuum(yieldNow);
      else if (opts.vacuum) {
        await yieldNow();
        this.db.pragma('auto_vacuum = INCREMENTAL');
        this.db.exec('VACUUM'); // blocks for its duration; explicit only (`aether gateway gc --vacuum`)
        report.vacuumed = true;
        sliceStart = Date.now(); // reported separately: not a pause of online GC
      }
      this.db.pragma('wal_checkpoint(PASSIVE)');
    }
    maxPause = Math.max(maxPause, Date.now() - sliceStart);
    for (const phase of this.phases) {
      try {
        report.mirrors.push(...(await phase({ ...opts, dryRun, graceMs })));
      } catch (err) {
        report.mirrors.push({ error: String((err as Error)?.message ?? err) });
      }
    }
    sliceStart = Date.now();
    report.databaseBytesAfter = dbBytes();
    // Figures were taken before the sweep: after one that removed something they are stale.
    this.last = !dryRun && (report.removedBlobs > 0 || report.removedTrees > 0 || report.purgedSessions > 0) ? undefined : { at: Date.now(), changes: this.changes(), tenants };
    report.durationMs = Date.now() - started;
    report.maxPauseMs = maxPause;
    return report;
  }

  /** Remove every row of sessions deleted before `cutoff`, one session per transaction. */
  private async purgeDeletedSessions(cutoff: number, yieldNow: () => Promise<void>): Promise<number> {
    const ids = this.db.prepare('SELECT id FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at < ?').pluck().all(cutoff) as string[];
    const tables = new Set((this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]));
    const stmts = PURGE.filter(([t]) => tables.has(t)).map(([t, where]) => this.db.prepare(`DELETE FROM ${t} WHERE ${where}`));
    const dropSession = this.db.prepare('DELETE FROM sessions WHERE id = ? AND deleted_at IS NOT NULL');
    let n = 0;
    for (const id of ids) {
      try {
        this.db.transaction(() => {
          for (const st of stmts) st.run(id);
          dropSession.run(id);
        })();
        n++;
      } catch {
        // A table this GC does not know still references the session: keep the tombstone.
      }
      if (n % 50 === 0) await yieldNow();
    }
    return n;
  }

  /** incremental_vacuum in steps of VACUUM_STEP pages, with event-loop turns between them. */
  private async incrementalVacuum(yieldNow: () => Promise<void>): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      const free = Number(this.db.pragma('freelist_count', { simple: true }));
      if (free === 0) return;
      this.db.pragma(`incremental_vacuum(${VACUUM_STEP})`);
      await yieldNow();
    }
  }
}

function markBlobs(e: TreeEntry, out: Set<string>): void {
  if (e.t !== 'f' || !e.x) return;
  for (const x of e.x) if (x.h) out.add(x.h);
}
