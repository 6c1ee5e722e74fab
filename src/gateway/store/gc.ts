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
// (a mount reading a cold file) is covered by the grace period. Pauses are bounded: marking and
// sweeping run in slices of SLICE items with an event-loop turn between them; each sweep slice is
// one small transaction, so a kill -9 mid-GC leaves a consistent database (rows of unreachable
// content gone or not; a blob file is removed only after its rows are committed gone).
// Callers: routes/sessions.ts (admin routes), server.ts (periodic run).
import type { Db } from '../db/database.js';
import type { TreeStore, TreeEntry } from './tree-store.js';
import type { ContentStore } from './content.js';

export const DEFAULT_GRACE_MS = 10 * 60_000;
const SLICE = 500;

export interface GcOptions {
  dryRun?: boolean;
  graceMs?: number;
  now?: number;
}

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
}

const turn = () => new Promise<void>((r) => setImmediate(r));

export class GarbageCollector {
  private running: Promise<GcReport> | undefined;

  constructor(private db: Db, private trees: TreeStore, private content: ContentStore) {}

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

    // Roots, in one read snapshot.
    const roots = this.db.transaction(() => {
      const out = new Set<string>();
      const add = (rows: Array<{ r: string }>) => rows.forEach(({ r }) => r && out.add(r));
      add(this.db.prepare('SELECT root AS r FROM sessions WHERE deleted_at IS NULL UNION SELECT base_root FROM sessions WHERE deleted_at IS NULL').all() as Array<{ r: string }>);
      add(this.db.prepare('SELECT c.root AS r FROM checkpoints c JOIN sessions s ON s.id = c.session_id WHERE s.deleted_at IS NULL').all() as Array<{ r: string }>);
      add(this.db.prepare('SELECT root AS r FROM revisions').all() as Array<{ r: string }>);
      out.add(this.trees.emptyTree);
      return out;
    })();

    // Mark.
    const liveTrees = new Set<string>();
    const liveBlobs = new Set<string>();
    // Nodes written (or reused by dedupe) within the grace period are roots too: a request that
    // committed after the snapshot reaches its blobs through them.
    const stack = [...roots, ...this.trees.recentlyPut(cutoff)];
    let n = 0;
    while (stack.length) {
      const h = stack.pop()!;
      if (liveTrees.has(h)) continue;
      liveTrees.add(h);
      let kids: string[];
      try {
        kids = this.trees.children(h);
        for (const [, e] of this.trees.pageEntries(h)) markBlobs(e, liveBlobs);
      } catch {
        continue; // a missing node is reported by readers (DATA_LOSS); nothing to mark under it
      }
      for (const k of kids) if (!liveTrees.has(k)) stack.push(k);
      if (++n % SLICE === 0) await yieldNow();
    }

    // Sweep trees.
    const recentTrees = this.trees.recentlyPut(cutoff);
    const treeRows = this.db.prepare('SELECT hash, length(body) AS n FROM trees').all() as Array<{ hash: string; n: number }>;
    await yieldNow();
    const report: GcReport = {
      dryRun,
      roots: roots.size,
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
    const recentBlobs = this.content.recentlyPut(cutoff);
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
        const part = deadBlobs.slice(i, i + SLICE).filter((b) => !again.has(b.hash));
        // Rows first (one transaction), then inline data / files: a crash in between leaves only
        // orphan bytes, which a later put of the same content simply reuses.
        this.db.transaction(() => part.forEach((b) => void (delBlob.run(b.hash), delRefs.run(b.hash))))();
        for (const b of part) if (await this.content.removeBlob(b.hash, cutoff)) report.removedBlobs++;
        await yieldNow();
      }
      // Return free pages to the filesystem when the database was created with incremental vacuum.
      if (Number(this.db.pragma('auto_vacuum', { simple: true })) === 2) this.db.pragma('incremental_vacuum');
      this.db.pragma('wal_checkpoint(PASSIVE)');
    }
    maxPause = Math.max(maxPause, Date.now() - sliceStart);
    report.durationMs = Date.now() - started;
    report.maxPauseMs = maxPause;
    return report;
  }
}

function markBlobs(e: TreeEntry, out: Set<string>): void {
  if (e.t !== 'f' || !e.x) return;
  for (const x of e.x) if (x.h) out.add(x.h);
}
