// In-process fan-out of session bus messages to live subscribers, plus the message-id generator.
//
// Invariants:
//  - `publish` is synchronous: the caller stores the message (bus_messages) first, then calls it;
//    every subscriber registered at that moment receives the message before `publish` returns.
//  - A subscriber registered before it reads the replay rows can therefore never miss a message
//    published in between: it sees it either in the replay rows or live (or both — callers dedupe
//    by `seq`, the bus_messages row id, which grows with publish order).
//  - Message ids are "msg_" + a ULID that strictly increases across the whole gateway (also within
//    one millisecond and when the clock stands still), so ids sort in publish order as the contract
//    promises.
// Callers: src/gateway/routes/coordination.ts.
import { ulid } from '../../shared/digest.js';

/** A stored bus message, as held in bus_messages. */
export interface BusRecord {
  seq: number;
  id: string;
  sessionId: string;
  topic: string;
  payload: Buffer;
  senderId: string;
  publishedAt: number;
}

export type BusListener = (msg: BusRecord) => void;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Add one to a Crockford base32 string (fixed width; wraps only at all-Z, which 80 random bits never reach). */
function incrementBase32(s: string): string {
  const chars = s.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const v = CROCKFORD.indexOf(chars[i]!);
    if (v < 31) {
      chars[i] = CROCKFORD[v + 1]!;
      return chars.join('');
    }
    chars[i] = '0';
  }
  return chars.join('');
}

/** Live subscribers by session, and strictly increasing message ids. */
export class BusHub {
  private subs = new Map<string, Set<BusListener>>();
  private lastUlid = '';

  /** @param lastId the highest message id already stored (so ids keep increasing across restarts). */
  constructor(lastId?: string) {
    if (lastId && lastId.startsWith('msg_')) this.lastUlid = lastId.slice(4);
  }

  /** A fresh message id greater than every id handed out before. */
  nextId(now: number): string {
    let u = ulid(now);
    if (u <= this.lastUlid) u = incrementBase32(this.lastUlid);
    this.lastUlid = u;
    return `msg_${u}`;
  }

  /** Register a listener for one session's messages; returns the unsubscribe function. */
  subscribe(sessionId: string, fn: BusListener): () => void {
    let set = this.subs.get(sessionId);
    if (!set) {
      set = new Set();
      this.subs.set(sessionId, set);
    }
    set.add(fn);
    return () => {
      const cur = this.subs.get(sessionId);
      if (!cur) return;
      cur.delete(fn);
      if (cur.size === 0) this.subs.delete(sessionId);
    };
  }

  /** Deliver a stored message to the session's live subscribers (a throwing listener is isolated). */
  publish(msg: BusRecord): void {
    const set = this.subs.get(msg.sessionId);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(msg);
      } catch {
        // A broken subscriber must not affect the publisher or the other subscribers.
      }
    }
  }

  /** Number of live subscribers (all sessions); for tests and diagnostics. */
  get subscriberCount(): number {
    let n = 0;
    for (const s of this.subs.values()) n += s.size;
    return n;
  }
}
