import { describe, expect, it } from 'vitest';
import {
  blob,
  data,
  fromExtents,
  hole,
  normalize,
  planStore,
  resize,
  sizeOf,
  slice,
  splice,
  toExtents,
  DEFAULT_COALESCE,
  type Piece,
} from '../../../src/gateway/fs/extents.js';
import { compareBytes } from '../../../src/gateway/fs/walk.js';
import { manifestHashOf } from '../../../src/gateway/fs/render.js';

const H1 = 'sha256:' + '1'.repeat(64);
const H2 = 'sha256:' + '2'.repeat(64);

/** Reference model: materialize pieces with fake blob contents (blob byte i = (seed + i) & 255). */
const blobBytes = (h: string, o: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (h.charCodeAt(7) + o + i) & 255));
function bytesOf(pieces: Piece[]): Buffer {
  return Buffer.concat(
    pieces.map((p) => (p.kind === 'hole' ? Buffer.alloc(p.n) : p.kind === 'blob' ? blobBytes(p.h, p.o, p.n) : p.buf.subarray(p.o, p.o + p.n))),
  );
}
/** Reference write: overwrite at offset, zero-filling a gap. */
function refWrite(buf: Buffer, offset: number, ins: Buffer): Buffer {
  const size = Math.max(buf.length, offset + ins.length);
  const out = Buffer.alloc(size);
  buf.copy(out, 0);
  ins.copy(out, offset);
  return out;
}

describe('extent splicing', () => {
  it('converts between stored extents and pieces (holes have hash "")', () => {
    const x = [{ h: H1, o: 10, n: 5 }, { h: '', o: 0, n: 7 }];
    const p = fromExtents(x);
    expect(p).toEqual([blob(H1, 10, 5), hole(7)]);
    expect(toExtents(p)).toEqual(x);
    expect(() => toExtents([data(Buffer.from('x'))])).toThrow();
  });

  it('slices with in-blob offsets', () => {
    const p = [blob(H1, 0, 10), hole(5), blob(H2, 100, 10)];
    expect(slice(p, 3, 18)).toEqual([blob(H1, 3, 7), hole(5), blob(H2, 100, 3)]);
    expect(slice(p, 0, 25)).toEqual(p);
    expect(slice(p, 12, 14)).toEqual([hole(2)]);
    expect(slice(p, 30, 40)).toEqual([]);
  });

  it('splices a write into the middle, keeping both sides by reference', () => {
    const p = [blob(H1, 0, 100)];
    const ins = Buffer.from('XY');
    const out = splice(p, 50, [data(ins)]);
    expect(out).toEqual([blob(H1, 0, 50), data(ins), blob(H1, 52, 48)]);
    expect(sizeOf(out)).toBe(100);
    expect(bytesOf(out)).toEqual(refWrite(bytesOf(p), 50, ins));
  });

  it('writing past EOF fills the gap with a hole; writing at EOF appends', () => {
    const p = [blob(H1, 0, 10)];
    const out = splice(p, 20, [data(Buffer.from('abc'))]);
    expect(out).toEqual([blob(H1, 0, 10), hole(10), data(Buffer.from('abc'))]);
    expect(splice(p, 10, [data(Buffer.from('z'))])).toEqual([blob(H1, 0, 10), data(Buffer.from('z'))]);
    expect(splice([], 4, [data(Buffer.from('z'))])).toEqual([hole(4), data(Buffer.from('z'))]);
  });

  it('an empty insert changes nothing', () => {
    expect(splice([blob(H1, 0, 10)], 50, [])).toEqual([blob(H1, 0, 10)]);
  });

  it('merges adjacent holes and contiguous ranges of one blob', () => {
    expect(normalize([hole(3), hole(4), blob(H1, 0, 5), blob(H1, 5, 5), blob(H1, 20, 1), hole(0)])).toEqual([hole(7), blob(H1, 0, 10), blob(H1, 20, 1)]);
    // A hole written over a hole region merges with its neighbours.
    expect(splice([hole(10), blob(H1, 0, 10), hole(10)], 10, [hole(10)])).toEqual([hole(30)]);
    // Rewriting bytes with a borrowed range of the same blob re-joins the extent.
    expect(splice([blob(H1, 0, 10)], 4, [blob(H1, 4, 2)])).toEqual([blob(H1, 0, 10)]);
  });

  it('resize truncates and zero-extends', () => {
    const p = [blob(H1, 0, 10), blob(H2, 0, 10)];
    expect(resize(p, 15)).toEqual([blob(H1, 0, 10), blob(H2, 0, 5)]);
    expect(resize(p, 0)).toEqual([]);
    expect(resize(p, 25)).toEqual([...p, hole(5)]);
    expect(resize([hole(5)], 8)).toEqual([hole(8)]);
  });

  it('matches a byte-level reference model over random writes, holes and truncations', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let pieces: Piece[] = [blob(H1, 0, 200), blob(H2, 7, 100)];
    let ref = bytesOf(pieces);
    for (let i = 0; i < 500; i++) {
      const op = rnd(4);
      const off = rnd(400);
      if (op === 0) {
        const buf = Buffer.from(Array.from({ length: rnd(30) + 1 }, () => rnd(256)));
        pieces = splice(pieces, off, [data(buf)]);
        ref = refWrite(ref, off, buf);
      } else if (op === 1) {
        const n = rnd(40) + 1;
        pieces = splice(pieces, off, [hole(n)]);
        ref = refWrite(ref, off, Buffer.alloc(n));
      } else if (op === 2) {
        const n = rnd(40) + 1;
        const o = rnd(100);
        pieces = splice(pieces, off, [blob(H2, o, n)]);
        ref = refWrite(ref, off, blobBytes(H2, o, n));
      } else {
        const size = rnd(450);
        pieces = resize(pieces, size);
        const next = Buffer.alloc(size);
        ref.copy(next, 0, 0, Math.min(size, ref.length));
        ref = next;
      }
      expect(sizeOf(pieces)).toBe(ref.length);
      expect(bytesOf(pieces)).toEqual(ref);
      // Normalized: no empty pieces, no adjacent holes.
      for (let j = 0; j < pieces.length; j++) {
        expect(pieces[j]!.n).toBeGreaterThan(0);
        if (j > 0) expect(pieces[j]!.kind === 'hole' && pieces[j - 1]!.kind === 'hole').toBe(false);
      }
    }
  });
});

describe('store planning (what gets written to the CAS)', () => {
  const KiB = 1024;
  const MiB = 1024 * KiB;

  it('stores only new data and keeps large stored extents by reference', () => {
    const buf = Buffer.from('x');
    const plan = planStore([blob(H1, 0, 2 * MiB), data(buf), blob(H1, 2 * MiB + 1, 2 * MiB)]);
    expect(plan).toEqual([{ keep: blob(H1, 0, 2 * MiB) }, { store: [data(buf)], coalesced: false }, { keep: blob(H1, 2 * MiB + 1, 2 * MiB) }]);
  });

  it('stores one run of adjacent new data as one step', () => {
    const a = Buffer.alloc(100 * KiB, 1);
    const b = Buffer.alloc(100 * KiB, 2);
    const plan = planStore([data(a), data(b), hole(MiB)]);
    expect(plan).toEqual([{ store: [data(a), data(b)], coalesced: false }, { keep: hole(MiB) }]);
  });

  it('coalesces a run of tiny extents into one blob, but leaves short runs alone', () => {
    const tiny = (i: number) => blob(i % 2 ? H1 : H2, i * 10, 4 * KiB);
    const many = [blob(H1, 0, MiB), tiny(1), tiny(2), tiny(3), tiny(4), tiny(5), blob(H2, 5 * MiB, MiB)];
    const plan = planStore(many);
    expect(plan).toHaveLength(3);
    expect(plan[1]).toEqual({ store: [tiny(1), tiny(2), tiny(3), tiny(4), tiny(5)], coalesced: true });
    const few = [blob(H1, 0, MiB), tiny(1), data(Buffer.from('z')), blob(H2, 5 * MiB, MiB)];
    expect(planStore(few).filter((s) => 'store' in s && s.coalesced)).toEqual([]);
  });

  it('never coalesces past the run size limit', () => {
    const tiny = Array.from({ length: 200 }, (_, i) => blob(i % 2 ? H1 : H2, i * 100 * KiB, 60 * KiB));
    const plan = planStore(tiny);
    for (const step of plan) {
      if ('store' in step) expect(sizeOf(step.store)).toBeLessThan(DEFAULT_COALESCE.maxRunBytes);
    }
    expect(sizeOf(plan.flatMap((s) => ('keep' in s ? [s.keep] : s.store)))).toBe(200 * 60 * KiB);
  });

  it('plan steps tile the file in order', () => {
    const pieces = [hole(10), blob(H1, 0, 5), data(Buffer.from('abc')), blob(H2, 0, 3), hole(2), blob(H1, 9, 1)];
    const flat = planStore(pieces).flatMap((s) => ('keep' in s ? [s.keep] : s.store));
    expect(bytesOf(flat)).toEqual(bytesOf(pieces));
  });
});

describe('path byte order and manifest hashes', () => {
  it('orders paths by UTF-8 bytes', () => {
    const paths = ['/a/c', '/a-b', '/a', '/a/b', '/b', '/\u{1F600}', '/\uFFFD', '/A'];
    const sorted = [...paths].sort(compareBytes);
    const byBytes = [...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(sorted).toEqual(byBytes);
    expect(sorted.slice(0, 5)).toEqual(['/A', '/a', '/a-b', '/a/b', '/a/c']);
  });

  it('manifest hashes are stable per root and look like mf_<26 base32>', () => {
    const a = manifestHashOf('sha256:' + 'a'.repeat(64));
    expect(a).toMatch(/^mf_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(manifestHashOf('sha256:' + 'a'.repeat(64))).toBe(a);
    expect(manifestHashOf('sha256:' + 'b'.repeat(64))).not.toBe(a);
  });
});
