// Content hashing conventions: every content hash in Aether is "sha256:<64 lowercase hex>".
import { createHash, randomBytes } from 'node:crypto';

export const HASH_PREFIX = 'sha256:';
const HASH_RE = /^sha256:[0-9a-f]{64}$/;

export function sha256(data: Buffer | Uint8Array | string): string {
  return HASH_PREFIX + createHash('sha256').update(data).digest('hex');
}

export function isContentHash(s: unknown): s is string {
  return typeof s === 'string' && HASH_RE.test(s);
}

/** sha256 of the empty string, the content hash of an empty file. */
export const EMPTY_HASH = sha256(Buffer.alloc(0));

/** Incremental hasher producing the same "sha256:" form. */
export function createContentHasher(): { update(b: Buffer | Uint8Array): void; digest(): string } {
  const h = createHash('sha256');
  return { update: (b) => void h.update(b), digest: () => HASH_PREFIX + h.digest('hex') };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Time-ordered unique id (ULID layout: 48-bit ms time + 80 random bits), Crockford base32. */
export function ulid(now = Date.now()): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[rnd[i]! % 32];
  return time + rand;
}

/** "prefix_ULID" identifiers, as the public API shows them (sess_…, cp_…, ann_…). */
export function newId(prefix: string, now?: number): string {
  return `${prefix}_${ulid(now)}`;
}
