// Shipper: the background engine of the local-first mount. It replays the overlay's ordered change
// queue (src/fs/overlay) onto the gateway: consecutive whole-file writes and deletes go together in
// one atomic `batch` request (bounded by ops and bytes), large edits through the source's
// patchSegments path, and the namespace routes (dirs, rename, symlinks, :link, xattrs) for what
// batch cannot say. Coalescing happens before an op is sent (in the filesystem, which knows the
// tree); the shipper only keeps order.
// Invariants: ops are applied in seq order (a batch is a run of consecutive ops); an op leaves the
// queue only once the gateway applied it, the outcome was reconciled (ALREADY_EXISTS of a mkdir,
// NOT_FOUND of a delete = done), or it can never apply (recorded as a failed op, listed in status).
// Transient failures (network, timeouts, 5xx) retry with backoff, forever; `flush()` is the
// barrier (fsync, sync, unmount): it resolves when every op enqueued before it has shipped.
// Callers: src/fs/session-fs.ts (owns one per overlay mount), tests.
import type { GatewayClient, BatchOperationInput } from '../../client/gateway-client.js';
import { isGatewayError } from '../../client/gateway-error.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import type { Logger } from '../../shared/log.js';
import { nullLogger } from '../../shared/log.js';
import type { OverlayStore, QueuedOp } from '../overlay/overlay-store.js';
import { FsError, Errno, fromGatewayError } from '../fs-error.js';
import { createHash } from 'node:crypto';

/** What a put ships as: a whole-file write (batchable) or a custom upload (patchSegments). */
export type PutPlan =
  | { kind: 'skip' }
  | { kind: 'whole'; path: string; content: Buffer; expectedHash: string; mode: number }
  | { kind: 'custom'; path: string; run: (requestId: string) => Promise<void> };

export interface ShipSource {
  /** Decide how to ship a put (reads the file's current local bytes). */
  preparePut(op: QueuedOp): Promise<PutPlan>;
  /** The gateway holds the put's bytes (whole: `content` sent). */
  putShipped(op: QueuedOp, plan: PutPlan): Promise<void>;
  /**
   * The gateway rejected the put's expectedHash: keep the local side as a conflict copy. Returns
   * true when the gateway already holds exactly our bytes (an earlier attempt succeeded).
   */
  putConflict(op: QueuedOp, plan: PutPlan, err: unknown): Promise<void>;
  /** A namespace op was applied (e.g. a mkdir: the directory is remote now). */
  opShipped(op: QueuedOp): void;
}

export interface ShipperOptions {
  client: GatewayClient;
  sessionId: string;
  store: OverlayStore;
  source: ShipSource;
  logger?: Logger;
  /** Wait this long after a change before shipping, to coalesce (default 50 ms; lag ≤ 1 s). */
  delayMs?: number;
  maxBatchOps?: number;
  maxBatchBytes?: number;
  /** Backoff bounds for transient failures. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface FailedOp {
  kind: string;
  path: string;
  error: string;
  at: number;
}

export interface ShipperStats {
  queuedOps: number;
  queuedBytes: number;
  oldestUnshippedMs: number;
  shippedOps: number;
  requests: number;
  retries: number;
  lastError: string | null;
  failedOps: FailedOp[];
}

function isTransient(e: unknown): boolean {
  if (!isGatewayError(e)) return !(e instanceof FsError);
  if (e.kind === 'network') return true;
  return ([RpcCode.UNAVAILABLE, RpcCode.DEADLINE_EXCEEDED, RpcCode.INTERNAL, RpcCode.UNKNOWN, RpcCode.RESOURCE_EXHAUSTED, RpcCode.CANCELLED] as number[]).includes(e.rpcCode);
}

/** Mode the gateway gives a directory it creates as a missing parent of a write. */
const IMPLICIT_DIR_MODE = 0o755;

const isCode = (e: unknown, ...codes: number[]) => isGatewayError(e) && codes.includes(e.rpcCode);

export class Shipper {
  private readonly log: Logger;
  private readonly delayMs: number;
  private readonly maxBatchOps: number;
  private readonly maxBatchBytes: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private urgent = false;
  /** The loop sleeps on an empty queue (notify() wakes it). */
  private idle = false;
  private failures = 0;
  /** Highest seq known shipped or removed, for barriers. */
  private waiters: Array<{ seq: number; resolve: () => void }> = [];
  /** Seqs currently being sent: coalescing must not touch them. */
  readonly inFlight = new Set<number>();
  readonly stats: ShipperStats = { queuedOps: 0, queuedBytes: 0, oldestUnshippedMs: 0, shippedOps: 0, requests: 0, retries: 0, lastError: null, failedOps: [] };

  constructor(private readonly o: ShipperOptions) {
    this.log = o.logger ?? nullLogger;
    this.delayMs = o.delayMs ?? 50;
    this.maxBatchOps = o.maxBatchOps ?? 256;
    this.maxBatchBytes = o.maxBatchBytes ?? 4 * 1024 * 1024;
    this.retryBaseMs = o.retryBaseMs ?? 200;
    this.retryMaxMs = o.retryMaxMs ?? 5000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop?.catch(() => undefined);
    this.loop = undefined;
  }

  /**
   * A change was queued. Wakes the loop only when it sleeps on an empty queue: during a burst's
   * coalescing window it wakes by itself (re-reading the queue on every change cost a query per op).
   */
  notify(): void {
    if (this.idle) this.wake?.();
  }

  /** Barrier: resolves once every op with seq ≤ the current last has left the queue. */
  flush(timeoutMs = 60_000): Promise<void> {
    const ops = this.o.store.pendingOps(1_000_000);
    if (ops.length === 0) return Promise.resolve();
    const seq = ops[ops.length - 1]!.seq;
    this.urgent = true;
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new FsError(Errno.EIO, `changes not on the gateway after ${Math.round(timeoutMs / 1000)} s: ${this.stats.lastError ?? 'still shipping'}`));
      }, timeoutMs);
      const waiter = { seq, resolve: () => { clearTimeout(t); resolve(); } };
      this.waiters.push(waiter);
      this.wake?.();
    });
  }

  private settleWaiters(): void {
    if (!this.waiters.length) return;
    const first = this.o.store.pendingOps(1)[0];
    const done = this.waiters.filter((w) => !first || first.seq > w.seq);
    if (!done.length) return;
    this.waiters = this.waiters.filter((w) => !done.includes(w));
    if (!this.waiters.length) this.urgent = false;
    for (const w of done) w.resolve();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  refreshStats(): void {
    const ops = this.o.store.pendingOps(1);
    this.stats.queuedOps = this.o.store.opCount();
    this.stats.oldestUnshippedMs = ops[0] ? Math.max(0, Date.now() - ops[0].enqueuedAt) : 0;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let ops: QueuedOp[];
      try {
        ops = this.o.store.pendingOps(this.maxBatchOps);
      } catch (e) {
        this.stats.lastError = String(e);
        await this.sleep(1000);
        continue;
      }
      if (ops.length === 0) {
        this.settleWaiters();
        this.idle = true;
        await this.sleep(60_000);
        this.idle = false;
        continue;
      }
      // Coalescing window: let a burst settle unless a barrier waits.
      const age = Date.now() - ops[ops.length - 1]!.enqueuedAt;
      if (!this.urgent && age < this.delayMs && Date.now() - ops[0]!.enqueuedAt < 1000) {
        await this.sleep(this.delayMs - age);
        continue;
      }
      try {
        await this.shipSome(ops);
        this.failures = 0;
        this.stats.lastError = null;
      } catch (e) {
        this.failures++;
        this.stats.retries++;
        this.stats.lastError = e instanceof Error ? e.message : String(e);
        if (this.failures === 1 || this.failures % 20 === 0) this.log.warn('shipping to the gateway failed; will retry', { error: this.stats.lastError, attempt: this.failures });
        const wait = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(this.failures - 1, 10));
        await this.sleep(this.urgent ? Math.min(wait, 500) : wait);
      } finally {
        this.inFlight.clear();
      }
      this.settleWaiters();
    }
  }

  /**
   * `x-aether-request-id` of one request: the overlay's nonce, the seqs it ships and a digest of
   * what it says. The same request retried (after a timeout, a lost connection, or a crash and
   * recovery) carries the same id, so the gateway answers an already applied one with its first
   * outcome; a request for the same seqs with other bytes (the file changed between attempts)
   * gets another id and is applied.
   */
  private requestId(seqs: number[], parts: Array<string | number | Buffer | undefined>): string {
    const h = createHash('sha256');
    for (const p of parts) {
      h.update(p === undefined ? '\u0000' : Buffer.isBuffer(p) ? p : String(p));
      h.update('\u0001');
    }
    return `ov.${this.o.store.nonce}.${seqs[0]}.${seqs.length}.${h.digest('hex').slice(0, 32)}`;
  }

  private done(seqs: number[]): void {
    this.log.debug('shipped', { seqs: seqs.join(',') });
    this.o.store.removeOps(seqs);
    this.stats.shippedOps += seqs.length;
  }

  private fail(op: QueuedOp, e: unknown): void {
    const error = e instanceof Error ? e.message : String(e);
    this.stats.failedOps.push({ kind: op.kind, path: op.path, error, at: Date.now() });
    if (this.stats.failedOps.length > 100) this.stats.failedOps.shift();
    this.log.error('a change cannot be applied on the gateway; dropped', { kind: op.kind, path: op.path, error });
    this.done([op.seq]);
  }

  /** Ship a prefix of `ops`: one batch of consecutive batchable ops, or one other op. */
  private async shipSome(ops: QueuedOp[]): Promise<void> {
    const group: Array<{ op: QueuedOp; plan?: PutPlan; wire: BatchOperationInput }> = [];
    /** mkdirs folded into this batch: a write below one creates it (as 0755) on the gateway. */
    const dirs: QueuedOp[] = [];
    let bytes = 0;
    for (const op of ops) {
      if (op.kind === 'mkdir' && (op.mode ?? 0o755) === IMPLICIT_DIR_MODE) {
        this.inFlight.add(op.seq);
        dirs.push(op);
        continue;
      }
      if (op.kind === 'unlink') {
        this.inFlight.add(op.seq);
        group.push({ op, wire: { delete: { path: op.path } } });
        continue;
      }
      if (op.kind !== 'put') break;
      this.inFlight.add(op.seq);
      const plan = await this.o.source.preparePut(op);
      if (plan.kind === 'skip') {
        if (group.length === 0 && dirs.length === 0) {
          this.done([op.seq]);
          return;
        }
        group.push({ op, plan, wire: undefined as unknown as BatchOperationInput });
        continue;
      }
      if (plan.kind === 'custom') {
        if (group.length || dirs.length) {
          this.inFlight.delete(op.seq);
          break;
        }
        await this.shipCustom(op, plan);
        return;
      }
      if (group.length && bytes + plan.content.length > this.maxBatchBytes) {
        this.inFlight.delete(op.seq);
        break;
      }
      bytes += plan.content.length;
      group.push({ op, plan, wire: { write: { path: plan.path, content: plan.content, expectedHash: plan.expectedHash, mode: plan.mode } } });
    }
    if (group.length || dirs.length) {
      if (group.length) await this.shipGroup(group);
      // Folded mkdirs no write landed under: create them now (nothing in the batch needed them).
      const written = group.filter((g) => g.plan && g.plan.kind !== 'skip').map((g) => (g.plan as { path: string }).path);
      for (const d of dirs) {
        const prefix = d.path.endsWith('/') ? d.path : d.path + '/';
        if (!written.some((p) => p.startsWith(prefix))) await this.shipOne(d);
        else {
          this.o.source.opShipped(d);
          this.done([d.seq]);
        }
      }
      return;
    }
    const op = ops[0]!;
    this.inFlight.add(op.seq);
    await this.shipOne(op);
  }

  private async shipGroup(group: Array<{ op: QueuedOp; plan?: PutPlan; wire: BatchOperationInput }>): Promise<void> {
    const real = group.filter((g) => g.wire);
    const skipped = group.filter((g) => !g.wire).map((g) => g.op.seq);
    if (real.length === 0) {
      this.done(skipped);
      return;
    }
    this.stats.requests++;
    this.log.debug('ship batch', { ops: real.map((g) => `${g.op.seq}:${g.op.kind}:${g.op.path}`).join(' ') });
    try {
      await this.o.client.batch(this.o.sessionId, { operations: real.map((g) => g.wire) }, { requestId: this.batchRequestId(real) });
    } catch (e) {
      if (isTransient(e)) throw e;
      // A conflict or a missing file in one op must not fail the others: one at a time.
      for (const g of real) await this.shipBatchOp(g);
      this.done(skipped);
      return;
    }
    for (const g of real) if (g.plan) await this.o.source.putShipped(g.op, g.plan);
    this.done(group.map((g) => g.op.seq));
  }

  private batchRequestId(group: Array<{ op: QueuedOp; wire: BatchOperationInput }>): string {
    const parts: Array<string | number | Buffer | undefined> = ['batch'];
    for (const { op, wire } of group) {
      parts.push(op.seq);
      if (wire.write) parts.push('w', wire.write.path, createHash('sha256').update(wire.write.content ?? Buffer.alloc(0)).digest('hex'), wire.write.expectedHash, wire.write.mode);
      else if (wire.delete) parts.push('d', wire.delete.path, wire.delete.expectedHash);
    }
    return this.requestId(group.map((g) => g.op.seq), parts);
  }

  private async shipBatchOp(g: { op: QueuedOp; plan?: PutPlan; wire: BatchOperationInput }): Promise<void> {
    this.stats.requests++;
    try {
      await this.o.client.batch(this.o.sessionId, { operations: [g.wire] }, { requestId: this.batchRequestId([g]) });
    } catch (e) {
      if (isTransient(e)) throw e;
      if (g.op.kind === 'unlink' && isCode(e, RpcCode.NOT_FOUND)) {
        this.done([g.op.seq]);
        return;
      }
      if (g.op.kind === 'put' && g.plan && isCode(e, RpcCode.ABORTED, RpcCode.FAILED_PRECONDITION)) {
        await this.o.source.putConflict(g.op, g.plan, e);
        this.done([g.op.seq]);
        return;
      }
      this.fail(g.op, e);
      return;
    }
    if (g.plan) await this.o.source.putShipped(g.op, g.plan);
    this.done([g.op.seq]);
  }

  private async shipCustom(op: QueuedOp, plan: Extract<PutPlan, { kind: 'custom' }>): Promise<void> {
    this.stats.requests++;
    try {
      await plan.run(this.requestId([op.seq], ['custom', op.seq, plan.path]));
    } catch (e) {
      if (isTransient(e)) throw e;
      if (isCode(e, RpcCode.ABORTED, RpcCode.FAILED_PRECONDITION)) {
        await this.o.source.putConflict(op, plan, e);
        this.done([op.seq]);
        return;
      }
      this.fail(op, e);
      return;
    }
    await this.o.source.putShipped(op, plan);
    this.done([op.seq]);
  }

  private async shipOne(op: QueuedOp): Promise<void> {
    const c = this.o.client;
    const sid = this.o.sessionId;
    this.stats.requests++;
    this.log.debug('ship op', { seq: op.seq, kind: op.kind, path: op.path, path2: op.path2 });
    const o = { requestId: this.requestId([op.seq], [op.kind, op.seq, op.path, op.path2, op.mode, op.name, op.value]) };
    try {
      switch (op.kind) {
        case 'mkdir':
          await c.createDir(sid, { path: op.path, mode: op.mode ?? 0o755 }, o).catch((e) => {
            if (!isCode(e, RpcCode.ALREADY_EXISTS)) throw e;
          });
          break;
        case 'rmdir':
          await c.removeDir(sid, { path: op.path }, o).catch((e) => {
            if (!isCode(e, RpcCode.NOT_FOUND)) throw e;
          });
          break;
        case 'rename':
          await c.rename(sid, { sourcePath: op.path, destinationPath: op.path2! }, o).catch(async (e) => {
            // Unknown outcome earlier (timeout) and applied after all: the source is gone, the
            // destination is there.
            if (!isCode(e, RpcCode.NOT_FOUND)) throw e;
            const dst = await c.getManifest(sid, { pathPrefix: op.path2!, pageSize: 1 }).catch(() => undefined);
            if (!dst?.nodes?.some((n) => n.path === op.path2)) throw e;
          });
          break;
        case 'symlink':
          await c.createSymlink(sid, { linkPath: op.path, target: op.path2! }, o).catch(async (e) => {
            if (!isCode(e, RpcCode.ALREADY_EXISTS)) throw e;
            const cur = await c.readSymlink(sid, { path: op.path }).catch(() => undefined);
            if (cur?.target !== op.path2) throw e;
          });
          break;
        case 'link':
          await c.link(sid, { srcPath: op.path, dstPath: op.path2! }, o).catch((e) => {
            if (!isCode(e, RpcCode.ALREADY_EXISTS)) throw e;
          });
          break;
        case 'setxattr':
          await c.setXattr(sid, { path: op.path, name: op.name!, value: op.value ?? Buffer.alloc(0) }, o);
          break;
        case 'removexattr':
          await c.removeXattr(sid, { path: op.path, name: op.name! }, o).catch((e) => {
            if (!isCode(e, RpcCode.NOT_FOUND)) throw e;
          });
          break;
        default:
          throw new Error(`unexpected op ${op.kind}`);
      }
    } catch (e) {
      if (isTransient(e)) throw e;
      this.fail(op, fromGatewayError(e));
      return;
    }
    this.o.source.opShipped(op);
    this.done([op.seq]);
  }
}
