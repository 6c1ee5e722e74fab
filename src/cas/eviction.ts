// LRU eviction planning shared by DiskCas and MemoryCas, so both stores pick victims the same way.
//
// Owns: the victim order (least recently used first, pinned blobs excluded) and the arithmetic of
// "how much must go". Pure functions, no I/O: the stores do the deleting.
//
// Invariants: a pinned entry is never returned; ties in recency are broken by key so the order is
// deterministic.
//
// Callers: disk-cas.ts, memory-cas.ts only.

/** What eviction needs to know about one cached blob. */
export interface EvictionEntry {
  hash: string;
  size: number;
  /** Recency, larger = used more recently (ms since epoch, or any monotonic stamp). */
  lastUsed: number;
}

/**
 * Unpinned entries, least recently used first. Callers walk this list and delete until the cache
 * is under target; the list may contain more than needed because a store (DiskCas) can find that a
 * candidate vanished or was used meanwhile and must skip it.
 */
export function evictionOrder<E extends EvictionEntry>(entries: Iterable<E>, isPinned: (hash: string) => boolean): E[] {
  const out: E[] = [];
  for (const e of entries) if (!isPinned(e.hash)) out.push(e);
  out.sort((a, b) => a.lastUsed - b.lastUsed || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  return out;
}

/**
 * The prefix of `ordered` to delete so that `currentBytes` drops to at most `targetBytes`.
 * Returns every candidate if even that is not enough (the rest of the bytes are pinned).
 */
export function planEviction<E extends EvictionEntry>(ordered: readonly E[], currentBytes: number, targetBytes: number): E[] {
  const victims: E[] = [];
  let bytes = currentBytes;
  for (const e of ordered) {
    if (bytes <= targetBytes) break;
    victims.push(e);
    bytes -= e.size;
  }
  return victims;
}

/**
 * A strictly increasing recency stamp near `now`. Why: several accesses within one clock
 * millisecond must still be ordered, or LRU would evict a just-read blob on a tie.
 */
export class RecencyClock {
  #last = -Infinity;
  constructor(private readonly now: () => number = Date.now) {}
  /** Next stamp: max(now, previous + 1µs). */
  next(): number {
    const t = Math.max(this.now(), this.#last + 0.001);
    this.#last = t;
    return t;
  }
}
