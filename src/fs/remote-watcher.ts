// RemoteWatcher: follows the session's event log so changes made by other clients (another mount,
// the HTTP API) invalidate what this mount cached. Events caused by this mount (details.clientId
// equal to ours) are skipped. It long-polls the events route (`waitSeconds`) when the gateway
// supports it and otherwise polls every `intervalMs`, so remote changes show up within ~1 s.
import type { GatewayClient } from '../client/gateway-client.js';
import type { Logger } from '../shared/log.js';
import { nullLogger } from '../shared/log.js';

export interface ChangeSink {
  /** Paths changed remotely; empty array = anything may have changed. Returns paths touched. */
  invalidate(paths: string[]): string[];
}

export interface RemoteWatcherOptions {
  client: GatewayClient;
  sessionId: string;
  clientId: string;
  sink: ChangeSink;
  /** Called after each invalidation with the touched paths (kernel cache notifications). */
  onInvalidated?: (paths: string[]) => void;
  intervalMs?: number;
  waitSeconds?: number;
  logger?: Logger;
  /** Start following from this time (ms); default now. */
  since?: number;
}

const PATH_KEYS = ['path', 'sourcePath', 'destinationPath', 'linkPath', 'srcPath', 'dstPath'];
const FS_PREFIX = 'v1.FileSystemService.';

/** Paths an event says changed; undefined = cannot tell (invalidate everything). */
export function changedPaths(eventType: string, details: Record<string, string> | undefined): string[] | undefined | null {
  const d = details ?? {};
  if (eventType === 'v1.SessionService.RestoreCheckpoint') return undefined;
  if (!eventType.startsWith(FS_PREFIX)) return null; // not a filesystem change
  const out: string[] = [];
  for (const k of PATH_KEYS) if (d[k]) out.push(d[k]!);
  if (d.paths !== undefined) {
    if (d.pathsTruncated === 'true') return undefined;
    for (const p of d.paths.split(',')) if (p) out.push(p);
  } else if (eventType.endsWith('.Batch') || eventType.endsWith('.PatchSegments')) {
    return out.length ? out : undefined;
  }
  return out;
}

export class RemoteWatcher {
  private running = false;
  private abort = new AbortController();
  private seen = new Set<string>();
  private loop: Promise<void> | undefined;
  private readonly log: Logger;
  lastError: string | undefined;
  eventsApplied = 0;

  constructor(private opts: RemoteWatcherOptions) {
    this.log = opts.logger ?? nullLogger;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  private async run(): Promise<void> {
    const interval = this.opts.intervalMs ?? 500;
    const startTime = new Date((this.opts.since ?? Date.now()) - 2000).toISOString();
    let pageToken: string | undefined;
    let afterEventId: string | undefined;
    let failures = 0;
    while (this.running) {
      try {
        const res = await this.opts.client.listEvents(this.opts.sessionId, {
          ...(pageToken ? { pageToken } : afterEventId ? { afterEventId } : { startTime }),
          pageSize: 500,
          waitSeconds: this.opts.waitSeconds ?? 5,
          signal: this.abort.signal,
        });
        failures = 0;
        this.lastError = undefined;
        let fresh = 0;
        let all = false;
        const paths = new Set<string>();
        for (const ev of res.events ?? []) {
          if (!ev.eventId || this.seen.has(ev.eventId)) continue;
          this.seen.add(ev.eventId);
          fresh++;
          afterEventId = ev.eventId;
          const details = ev.details as Record<string, string> | undefined;
          if (details?.clientId === this.opts.clientId) continue;
          const ps = changedPaths(ev.eventType ?? '', details);
          if (ps === null) continue;
          if (ps === undefined) all = true;
          else for (const p of ps) paths.add(p);
        }
        if (this.seen.size > 50_000) this.seen = new Set([...this.seen].slice(-10_000));
        if (all || paths.size) {
          this.eventsApplied++;
          const touched = this.opts.sink.invalidate(all ? [] : [...paths]);
          this.opts.onInvalidated?.(touched);
        }
        pageToken = res.nextPageToken || undefined;
        if (!pageToken && fresh === 0) await this.sleep(interval);
      } catch (e) {
        if (!this.running) return;
        failures++;
        this.lastError = e instanceof Error ? e.message : String(e);
        if (failures === 1) this.log.warn('following remote changes failed; retrying', { error: this.lastError });
        pageToken = undefined;
        await this.sleep(Math.min(10_000, interval * 2 ** Math.min(failures, 5)));
      }
    }
  }
}
