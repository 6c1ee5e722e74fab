// RecentlyTouched: when each content address (tree node or blob) was last written, deduplicated or
// borrowed in this process, oldest first. GC treats everything touched within its grace period as
// live whatever the roots say, so a request that is still building a tree never loses its parts.
// Entries older than an hour (well over any grace period) are dropped as new ones arrive.
// Callers: store/tree-store.ts, store/content.ts (stamp), store/gc.ts (since).
const KEEP_MS = 3600_000;

export class RecentlyTouched {
  private readonly at = new Map<string, number>();

  stamp(hash: string): void {
    const now = Date.now();
    this.at.delete(hash);
    this.at.set(hash, now);
    for (const [h, t] of this.at) {
      if (t >= now - KEEP_MS) break;
      this.at.delete(h);
    }
  }

  /** True when `hash` was touched at or after `since` (epoch ms). */
  touchedSince(hash: string, since: number): boolean {
    const t = this.at.get(hash);
    return t !== undefined && t >= since;
  }

  /** Addresses touched at or after `since` (epoch ms). */
  since(since: number): Set<string> {
    const out = new Set<string>();
    for (const [h, t] of this.at) if (t >= since) out.add(h);
    return out;
  }
}
