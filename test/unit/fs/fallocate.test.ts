// fallocate mode logic over an in-memory file: sizes, zeroed bytes, writes only inside the file,
// and the errno of every refused call.
import { describe, expect, it } from 'vitest';
import { fallocate, FALLOC_FL_KEEP_SIZE as KEEP, FALLOC_FL_PUNCH_HOLE as PUNCH, FALLOC_FL_ZERO_RANGE as ZERO, FALLOC_FL_COLLAPSE_RANGE, type FallocateTarget } from '../../../src/fs/fallocate.js';
import { FsError } from '../../../src/fs/fs-error.js';

function memFile(text: string, isFile = true) {
  let buf = Buffer.from(text, 'latin1');
  const writes: Array<[number, number]> = [];
  const t: FallocateTarget = {
    stat: async () => ({ size: buf.length, isFile }),
    setSize: async (_fh, size) => {
      const n = Buffer.alloc(size);
      buf.copy(n, 0, 0, Math.min(size, buf.length));
      buf = n;
    },
    writeAt: async (_fh, data, pos) => {
      writes.push([pos, data.length]);
      if (pos + data.length > buf.length) await t.setSize(1, pos + data.length);
      data.copy(buf, pos);
    },
  };
  return { t, text: () => buf.toString('latin1'), writes };
}

const errnoOf = async (p: Promise<unknown>) => p.then(() => 0, (e) => (e instanceof FsError ? e.errno : -1));

describe('fallocate', () => {
  it('mode 0 grows, never shrinks; KEEP_SIZE changes nothing', async () => {
    const f = memFile('abc');
    await fallocate(f.t, 1, 0, 0, 6);
    expect(f.text()).toBe('abc\0\0\0');
    await fallocate(f.t, 1, 0, 0, 2);
    await fallocate(f.t, 1, KEEP, 0, 100);
    expect(f.text()).toBe('abc\0\0\0');
    expect(f.writes).toEqual([]);
  });

  it('punch and zero write zeros only inside the file, in bounded chunks', async () => {
    const f = memFile('abcdefgh');
    await fallocate(f.t, 1, PUNCH | KEEP, 6, 1000);
    expect(f.text()).toBe('abcdef\0\0');
    expect(f.writes).toEqual([[6, 2]]);
    await fallocate(f.t, 1, ZERO, 1, 9);
    expect(f.text()).toBe('a' + '\0'.repeat(9));
    const big = memFile('x'.repeat(3 * 1024 * 1024 + 5));
    await fallocate(big.t, 1, PUNCH | KEEP, 1, 3 * 1024 * 1024);
    expect(big.writes.every(([, n]) => n <= 1 << 20)).toBe(true);
    expect(big.text()).toBe('x' + '\0'.repeat(3 * 1024 * 1024) + 'xxxx');
  });

  it('refuses what Linux refuses', async () => {
    const f = memFile('abcdefgh');
    expect(await errnoOf(fallocate(f.t, 1, FALLOC_FL_COLLAPSE_RANGE, 0, 4))).toBe(95);
    expect(await errnoOf(fallocate(f.t, 1, PUNCH, 0, 4))).toBe(95);
    expect(await errnoOf(fallocate(f.t, 1, PUNCH | ZERO | KEEP, 0, 4))).toBe(95);
    expect(await errnoOf(fallocate(f.t, 1, 0, -1, 4))).toBe(22);
    expect(await errnoOf(fallocate(f.t, 1, 0, 0, 0))).toBe(22);
    expect(await errnoOf(fallocate(f.t, 1, 0, 2 ** 53, 1))).toBe(27);
    expect(await errnoOf(fallocate(f.t, 1, 0, 2 ** 52, 2 ** 52))).toBe(27);
    expect(await errnoOf(fallocate(memFile('', false).t, 1, 0, 0, 1))).toBe(19);
    expect(f.text()).toBe('abcdefgh');
  });
});
