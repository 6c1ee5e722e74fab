// Content-defined chunking (a gear rolling hash with normalized chunking, in the manner of FastCDC).
// Boundaries depend only on nearby bytes, so an edit in the middle of a large file changes only the
// chunks around it; every chunk becomes one CAS blob. Average ~1 MiB, min 256 KiB, max 4 MiB.
import { createHash } from 'node:crypto';

export interface ChunkerConfig {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export const DEFAULT_CHUNKER: ChunkerConfig = { minSize: 256 * 1024, avgSize: 1024 * 1024, maxSize: 4 * 1024 * 1024 };

/** 256 pseudo-random 32-bit values derived from sha256, so boundaries are stable across releases. */
const GEAR: Uint32Array = (() => {
  const g = new Uint32Array(256);
  for (let i = 0; i < 256; i++) g[i] = createHash('sha256').update(`aether-gear-${i}`).digest().readUInt32BE(0);
  return g;
})();

function topBitsMask(bits: number): number {
  return bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Cut `data` into content-defined chunks. Returns the chunk end offsets (exclusive); the last one
 * is `data.length`. Empty input yields no chunks.
 */
export function chunkBoundaries(data: Uint8Array, cfg: ChunkerConfig = DEFAULT_CHUNKER): number[] {
  const out: number[] = [];
  const n = data.length;
  const bits = Math.round(Math.log2(cfg.avgSize));
  const maskS = topBitsMask(bits + 2); // harder to match before the average: fewer tiny chunks
  const maskL = topBitsMask(bits - 2); // easier after it: fewer giant chunks
  let start = 0;
  while (start < n) {
    const remaining = n - start;
    if (remaining <= cfg.minSize) {
      out.push(n);
      break;
    }
    const hardEnd = start + Math.min(remaining, cfg.maxSize);
    const normal = Math.min(start + cfg.avgSize, hardEnd);
    let h = 0;
    let i = start + cfg.minSize;
    let cut = hardEnd;
    for (; i < normal; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      if ((h & maskS) === 0) {
        cut = i + 1;
        break;
      }
    }
    if (cut === hardEnd) {
      for (; i < hardEnd; i++) {
        h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
        if ((h & maskL) === 0) {
          cut = i + 1;
          break;
        }
      }
    }
    out.push(cut);
    start = cut;
  }
  return out;
}

/** Split `data` into chunk views (no copies). */
export function chunk(data: Buffer, cfg: ChunkerConfig = DEFAULT_CHUNKER): Buffer[] {
  const ends = chunkBoundaries(data, cfg);
  const parts: Buffer[] = [];
  let s = 0;
  for (const e of ends) {
    parts.push(data.subarray(s, e));
    s = e;
  }
  return parts;
}
