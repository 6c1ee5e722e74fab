// Extent splicing for partial file updates (patchSegments, segmentWrite). Pure functions over
// "pieces": a file is an ordered list of pieces that tile [0, size) exactly. A piece is a range of
// an already stored CAS blob, a hole (zeros, stored sparse), or new bytes still in memory (a data
// segment of the current request). Splicing never copies or reads stored bytes: untouched ranges
// stay references into their blobs (split with the in-blob offset), so applying a change costs
// O(changed bytes + number of extents), never O(file size).
//
// planStore() then decides what must be written to the CAS: every run of new bytes, plus runs of
// tiny adjacent pieces that are worth coalescing into one blob so that many small writes do not
// fragment a file into thousands of extents.
//
// Invariants: functions never mutate their inputs; normalize() output has no empty pieces, no two
// adjacent holes, and no two adjacent pieces that are contiguous ranges of the same source.
// Callers: src/gateway/fs/segments.ts (and unit tests).
import type { Extent } from '../store/tree-store.js';

/** A range of a stored blob: `n` bytes of blob `h` from offset `o`. */
export interface BlobPiece {
  kind: 'blob';
  h: string;
  o: number;
  n: number;
}

/** `n` zero bytes, stored sparse. */
export interface HolePiece {
  kind: 'hole';
  n: number;
}

/** `n` new bytes of `buf` from offset `o` (not stored yet). */
export interface DataPiece {
  kind: 'data';
  buf: Buffer;
  o: number;
  n: number;
}

export type Piece = BlobPiece | HolePiece | DataPiece;

/** Thresholds for coalescing runs of small pieces into one new blob. */
export interface CoalesceConfig {
  /** A piece (or run of new bytes) smaller than this is "tiny". */
  tinyBytes: number;
  /** A coalesced run stays strictly below this many bytes. */
  maxRunBytes: number;
  /** Coalesce only runs of at least this many tiny units (bounds rewrite amplification). */
  minRunCount: number;
}

/**
 * Defaults: pieces under 64 KiB are tiny; runs of 4+ tiny pieces totalling under 4 MiB become one
 * blob. Why 4 and not 2: coalescing rewrites the run's bytes, so merging on every small append would
 * rewrite up to 64 KiB per 1-byte write; waiting for 4 pieces divides that amplification by ~3
 * while still bounding a file to at most 3 tiny extents between two large ones.
 */
export const DEFAULT_COALESCE: CoalesceConfig = { tinyBytes: 64 * 1024, maxRunBytes: 4 * 1024 * 1024, minRunCount: 4 };

export const hole = (n: number): HolePiece => ({ kind: 'hole', n });
export const blob = (h: string, o: number, n: number): BlobPiece => ({ kind: 'blob', h, o, n });
export const data = (buf: Buffer, o = 0, n = buf.length - o): DataPiece => ({ kind: 'data', buf, o, n });

/** Stored extents → pieces (an extent with `h === ''` is a hole). */
export function fromExtents(extents: readonly Extent[]): Piece[] {
  return extents.map((x) => (x.h === '' ? hole(x.n) : blob(x.h, x.o, x.n)));
}

/** Pieces → stored extents. Throws if a data piece is left (it must be stored first). */
export function toExtents(pieces: readonly Piece[]): Extent[] {
  return pieces.map((p) => {
    if (p.kind === 'data') throw new Error('internal: toExtents() got unstored data');
    return p.kind === 'hole' ? { h: '', o: 0, n: p.n } : { h: p.h, o: p.o, n: p.n };
  });
}

export function sizeOf(pieces: readonly Piece[]): number {
  let n = 0;
  for (const p of pieces) n += p.n;
  return n;
}

/** The part of a piece from `skip` bytes in, `len` bytes long. */
function subPiece(p: Piece, skip: number, len: number): Piece {
  if (p.kind === 'hole') return hole(len);
  if (p.kind === 'blob') return blob(p.h, p.o + skip, len);
  return data(p.buf, p.o + skip, len);
}

/** Pieces covering [start, end) of the file (clamped to its size). */
export function slice(pieces: readonly Piece[], start: number, end: number): Piece[] {
  const out: Piece[] = [];
  let pos = 0;
  for (const p of pieces) {
    const pStart = pos;
    const pEnd = pos + p.n;
    pos = pEnd;
    if (pEnd <= start) continue;
    if (pStart >= end) break;
    const from = Math.max(start, pStart);
    const to = Math.min(end, pEnd);
    if (to > from) out.push(from === pStart && to === pEnd ? p : subPiece(p, from - pStart, to - from));
  }
  return out;
}

/**
 * Overwrite the file from `offset` with `insert` (later bytes win, as a write(2) at that offset).
 * Writing past the end first fills the gap with a hole; the file grows only if the insert ends
 * past the old end.
 */
export function splice(pieces: readonly Piece[], offset: number, insert: readonly Piece[]): Piece[] {
  const size = sizeOf(pieces);
  const len = sizeOf(insert);
  if (len === 0) return normalize(pieces);
  const head = slice(pieces, 0, Math.min(offset, size));
  const gap = offset > size ? [hole(offset - size)] : [];
  const tail = offset + len < size ? slice(pieces, offset + len, size) : [];
  return normalize([...head, ...gap, ...insert, ...tail]);
}

/** Truncate to `size`, or zero-extend with a hole (ftruncate semantics). */
export function resize(pieces: readonly Piece[], size: number): Piece[] {
  const cur = sizeOf(pieces);
  if (size === cur) return normalize(pieces);
  if (size < cur) return normalize(slice(pieces, 0, size));
  return normalize([...pieces, hole(size - cur)]);
}

/** Drop empty pieces; merge adjacent holes and contiguous ranges of the same blob or buffer. */
export function normalize(pieces: readonly Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    if (p.n <= 0) continue;
    const last = out[out.length - 1];
    if (last) {
      if (last.kind === 'hole' && p.kind === 'hole') {
        out[out.length - 1] = hole(last.n + p.n);
        continue;
      }
      if (last.kind === 'blob' && p.kind === 'blob' && last.h === p.h && last.o + last.n === p.o) {
        out[out.length - 1] = blob(last.h, last.o, last.n + p.n);
        continue;
      }
      if (last.kind === 'data' && p.kind === 'data' && last.buf === p.buf && last.o + last.n === p.o) {
        out[out.length - 1] = data(last.buf, last.o, last.n + p.n);
        continue;
      }
    }
    out.push(p);
  }
  return out;
}

/** One step of a store plan: keep a stored piece as is, or write these pieces' bytes as new blob(s). */
export type PlanStep = { keep: BlobPiece | HolePiece } | { store: Piece[]; coalesced: boolean };

/**
 * Decide what to write. Every maximal run of new data becomes one `store` step (chunked by the
 * caller), and runs of `minRunCount`+ adjacent tiny units (a unit is one stored piece, one hole or
 * one run of new data) whose total stays under `maxRunBytes` are merged into a single `store` step
 * (`coalesced: true`) so their old bytes are rewritten into one blob. Everything else is kept by
 * reference. The steps tile the file in order.
 */
export function planStore(pieces: readonly Piece[], cfg: CoalesceConfig = DEFAULT_COALESCE): PlanStep[] {
  // 1. Units: each stored piece alone, each maximal run of data pieces together.
  const units: Piece[][] = [];
  for (const p of normalize(pieces)) {
    const last = units[units.length - 1];
    if (p.kind === 'data' && last && last[0]!.kind === 'data') last.push(p);
    else units.push([p]);
  }
  const unitSize = (u: Piece[]) => sizeOf(u);
  const asStep = (u: Piece[]): PlanStep => (u[0]!.kind === 'data' ? { store: u, coalesced: false } : { keep: u[0] as BlobPiece | HolePiece });

  // 2. Greedy runs of tiny units, each under maxRunBytes.
  const steps: PlanStep[] = [];
  let run: Piece[][] = [];
  let runBytes = 0;
  const flush = () => {
    if (run.length >= Math.max(2, cfg.minRunCount)) steps.push({ store: run.flat(), coalesced: true });
    else for (const u of run) steps.push(asStep(u));
    run = [];
    runBytes = 0;
  };
  for (const u of units) {
    const n = unitSize(u);
    if (n < cfg.tinyBytes) {
      if (runBytes + n >= cfg.maxRunBytes) flush();
      run.push(u);
      runBytes += n;
    } else {
      flush();
      steps.push(asStep(u));
    }
  }
  flush();
  return steps;
}
