// The CasStore seam: the local content-addressed blob cache the mount reads through.
//
// Owns: the CasStore interface, its result types, the `sha256:<64 hex>` hash format
// (parseCasHash/isCasHash/casHashOf), CasError and its codes, and the shared tunables (CasConfig).
//
// Invariants every implementation keeps:
//   - A blob is keyed by the sha256 of its bytes. get/read never return bytes whose hash differs
//     from the key: a corrupt or truncated blob is discarded and reported as a miss.
//   - put is idempotent and atomic: a reader sees either no blob or the whole blob.
//   - A pinned blob (pin count > 0) is never evicted by gc, clear or background eviction.
//   - Background eviction never rejects into a caller; it is serialized per store.
//
// Callers: fs/ (through this interface only), cli/ (composition: constructs DiskCas), tests.
// Implementations: DiskCas (disk-cas.ts), MemoryCas (memory-cas.ts), FaultyCas (faulty-cas.ts).

import { createHash } from 'node:crypto';
import { AetherError, type AetherErrorOptions } from '../shared/errors.js';

/** Prefix of every CAS key. Only sha256 is supported. */
export const CAS_HASH_PREFIX = 'sha256:';

const CAS_HASH_RE = /^sha256:[0-9a-f]{64}$/;
const CAS_HASH_LOOSE_RE = /^sha256:[0-9a-fA-F]{64}$/;

/** Stable error codes raised by the CAS. Match on these, never on message text. */
export const CasErrorCode = {
  /** put() was given an expectedHash that the bytes do not hash to. */
  HASH_MISMATCH: 'AETHER_CAS_HASH_MISMATCH',
  /** A string that is not `sha256:<64 hex>` was used as a key. */
  BAD_HASH: 'AETHER_CAS_BAD_HASH',
  /** offset/length of a range read are not non-negative safe integers. */
  BAD_RANGE: 'AETHER_CAS_BAD_RANGE',
  /** The filesystem under the cache failed (other than "not found", which is a miss). */
  IO: 'AETHER_CAS_IO',
  /** The cache volume is full (ENOSPC/EDQUOT); the caller may serve the blob uncached. */
  NO_SPACE: 'AETHER_CAS_NO_SPACE',
  /** The store was used after close(). */
  CLOSED: 'AETHER_CAS_CLOSED',
  /** A failure injected by FaultyCas. */
  INJECTED: 'AETHER_CAS_INJECTED',
} as const;
export type CasErrorCode = (typeof CasErrorCode)[keyof typeof CasErrorCode];

/** Error raised by CAS implementations; `code` is one of {@link CasErrorCode}. */
export class CasError extends AetherError {
  declare readonly code: CasErrorCode;
  constructor(code: CasErrorCode, message: string, opts: AetherErrorOptions = {}) {
    super(code, message, opts);
  }
}

/** True if `e` is a CasError, optionally with the given code. */
export function isCasError(e: unknown, code?: CasErrorCode): e is CasError {
  return e instanceof CasError && (code === undefined || e.code === code);
}

/** True if `s` is a canonical CAS key: `sha256:` followed by 64 lowercase hex digits. */
export function isCasHash(s: unknown): s is string {
  return typeof s === 'string' && CAS_HASH_RE.test(s);
}

/** A validated CAS key split into parts. */
export interface ParsedCasHash {
  /** Canonical key, `sha256:<64 lowercase hex>`. */
  hash: string;
  /** Always 'sha256'. */
  algorithm: 'sha256';
  /** The 64 lowercase hex digits. */
  hex: string;
}

/**
 * Validates a CAS key and returns its canonical form. Upper-case hex is accepted and lower-cased.
 * @throws CasError `AETHER_CAS_BAD_HASH` for anything else.
 */
export function parseCasHash(s: string): ParsedCasHash {
  if (typeof s !== 'string' || !CAS_HASH_LOOSE_RE.test(s)) {
    const shown = typeof s === 'string' ? JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s) : typeof s;
    throw new CasError(CasErrorCode.BAD_HASH, `not a CAS hash (want sha256:<64 hex>): ${shown}`);
  }
  const hex = s.slice(CAS_HASH_PREFIX.length).toLowerCase();
  return { hash: CAS_HASH_PREFIX + hex, algorithm: 'sha256', hex };
}

/** The CAS key of `data`: `sha256:` + hex sha256 of its bytes. */
export function casHashOf(data: Uint8Array): string {
  return CAS_HASH_PREFIX + createHash('sha256').update(data).digest('hex');
}

/** Counters and sizes of a store. A snapshot; DiskCas reports its in-process view of the directory. */
export interface CasStats {
  /** Blobs currently known to be cached. */
  entries: number;
  /** Sum of their sizes in bytes. */
  bytes: number;
  /** get/read calls answered from the cache. */
  hits: number;
  /** get/read calls that found nothing usable (absent, vanished, or corrupt). */
  misses: number;
  /** Blobs removed by gc or background eviction (not by clear, nor corruption). */
  evictions: number;
  /** Corrupt or truncated blobs detected and deleted. */
  corruptions: number;
  /** Distinct blobs pinned by this store instance. */
  pinned: number;
  /** The byte budget. */
  maxBytes: number;
}

/** Result of {@link CasStore.verify}. */
export interface CasVerifyResult {
  /** Blobs whose bytes were hashed. */
  checked: number;
  /** Keys of blobs found corrupt and deleted. */
  corrupt: string[];
}

/** Result of {@link CasStore.gc}. */
export interface CasGcResult {
  evicted: number;
  freedBytes: number;
}

/** Options of {@link CasStore.put}. */
export interface CasPutOptions {
  /**
   * Pin the blob (as by pin()) before it becomes visible to eviction, so a blob fetched for an
   * open file cannot be evicted between put() and pin(). The caller must unpin() it later.
   * If put() rejects, no pin is left behind.
   */
  pin?: boolean;
}

/**
 * Minimal logger the CAS writes to. Structurally compatible with the project Logger; every method
 * is optional so any object with the levels it has will do.
 */
export interface CasLogger {
  debug?(msg: string, fields?: Record<string, unknown>): void;
  info?(msg: string, fields?: Record<string, unknown>): void;
  warn?(msg: string, fields?: Record<string, unknown>): void;
  error?(msg: string, fields?: Record<string, unknown>): void;
}

/** Tunables shared by every CasStore implementation. */
export interface CasConfig {
  /** Byte budget of the cache. */
  maxBytes: number;
  /**
   * Background eviction, once triggered by going over maxBytes, evicts down to
   * `maxBytes * lowWatermark`. Why: hysteresis; evicting only to exactly maxBytes would trigger a
   * (directory-scanning) eviction pass on nearly every put once the cache is full.
   */
  lowWatermark: number;
  /**
   * Minimum interval between two on-disk access-time updates of one blob (DiskCas). Why: reads are
   * hot (every FUSE read), an mtime write per read would double the syscalls; LRU needs only
   * coarse recency across processes.
   */
  touchIntervalMs: number;
}

/** Defaults for {@link CasConfig}: 10 GiB, evict to 90%, touch at most once a minute. */
export const CAS_CONFIG_DEFAULTS: Readonly<CasConfig> = Object.freeze({
  maxBytes: 10 * 1024 ** 3,
  lowWatermark: 0.9,
  touchIntervalMs: 60_000,
});

/**
 * The local content-addressed blob cache. Every method that takes a hash validates it
 * (CasError `AETHER_CAS_BAD_HASH`) and accepts upper-case hex; after close() every method
 * except stats/pinCount/close rejects with `AETHER_CAS_CLOSED`.
 */
export interface CasStore {
  /** True if the blob is present. Cheap: does not verify the bytes, does not count a hit or miss. */
  has(hash: string): Promise<boolean>;

  /**
   * The whole blob, hashed and checked against its key on every call (the bytes are all in memory
   * anyway); undefined on a miss (absent or corrupt). Counts a hit or miss.
   */
  get(hash: string): Promise<Buffer | undefined>;

  /**
   * Up to `length` bytes starting at `offset` of a verified blob (fewer at the end of the blob; an
   * empty buffer at or past the end); undefined on a miss. The whole blob is verified on the first
   * read in this process (a put does not count: damage after the write is still caught) and the
   * result remembered, so later range reads cost one small read. A change of file identity or size
   * (another process replaced or truncated it) triggers re-verification.
   * Counts a hit or miss.
   */
  read(hash: string, offset: number, length: number): Promise<Buffer | undefined>;

  /**
   * Stores `data` and returns its key. Idempotent; atomic (temp file, fsync, rename).
   * @throws CasError `AETHER_CAS_HASH_MISMATCH` if expectedHash is given and differs (nothing stored).
   */
  put(data: Uint8Array, expectedHash?: string, opts?: CasPutOptions): Promise<string>;

  /** Adds one reference; a pinned blob is never evicted. The blob need not be present yet. */
  pin(hash: string): Promise<void>;

  /** Drops one reference. Unpinning a blob that is not pinned is a no-op. */
  unpin(hash: string): Promise<void>;

  /** This store's current pin count for `hash` (0 if not pinned). */
  pinCount(hash: string): number;

  /** Counters and sizes; see {@link CasStats}. */
  stats(): CasStats;

  /** Hashes every blob, deleting corrupt ones. */
  verify(): Promise<CasVerifyResult>;

  /**
   * Evicts least-recently-used unpinned blobs until the cache holds at most `targetBytes`
   * (default maxBytes). Stops early if only pinned blobs remain.
   */
  gc(targetBytes?: number): Promise<CasGcResult>;

  /** Removes every unpinned blob. */
  clear(): Promise<void>;

  /** Resolves when background work (eviction scheduled by put) has finished. Never rejects. */
  idle(): Promise<void>;

  /** Waits for background work, releases this store's pins, and refuses further use. Idempotent. */
  close(): Promise<void>;
}

/** Validates a range-read request. @internal shared by implementations. */
export function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new CasError(CasErrorCode.BAD_RANGE, `bad range: offset=${offset} length=${length}`);
  }
}

/** Validates a byte count (maxBytes, gc target). @internal shared by implementations. */
export function checkByteCount(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CasError(CasErrorCode.BAD_RANGE, `${name} must be a non-negative integer, got ${n}`, { kind: 'usage' });
  }
  return n;
}

/** Resolves CasConfig from partial options. @internal */
export function resolveCasConfig(opts: Partial<CasConfig>): CasConfig {
  const maxBytes = checkByteCount('maxBytes', opts.maxBytes ?? CAS_CONFIG_DEFAULTS.maxBytes);
  const lowWatermark = opts.lowWatermark ?? CAS_CONFIG_DEFAULTS.lowWatermark;
  if (!(lowWatermark > 0 && lowWatermark <= 1)) {
    throw new CasError(CasErrorCode.BAD_RANGE, `lowWatermark must be in (0, 1], got ${lowWatermark}`, { kind: 'usage' });
  }
  const touchIntervalMs = opts.touchIntervalMs ?? CAS_CONFIG_DEFAULTS.touchIntervalMs;
  if (!(touchIntervalMs >= 0)) {
    throw new CasError(CasErrorCode.BAD_RANGE, `touchIntervalMs must be >= 0, got ${touchIntervalMs}`, { kind: 'usage' });
  }
  return { maxBytes, lowWatermark, touchIntervalMs };
}
