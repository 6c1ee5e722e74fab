import { describe, it, expect } from 'vitest';
import { AetherError } from '../../../src/shared/errors.js';
import { BAD_SIZE_CODE, formatBytes, parseSize } from '../../../src/cas/size.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['1048576', 1048576],
    ['100B', 100],
    ['100 b', 100],
    ['1K', KiB],
    ['1k', KiB],
    ['1KB', KiB],
    ['1KiB', KiB],
    ['64kb', 64 * KiB],
    ['512M', 512 * MiB],
    ['512MiB', 512 * MiB],
    ['10G', 10 * GiB],
    ['10g', 10 * GiB],
    ['10GB', 10 * GiB],
    ['10 GiB', 10 * GiB],
    ['2Gi', 2 * GiB],
    ['1.5GiB', 1.5 * GiB],
    ['1.5gib', 1.5 * GiB],
    ['.5G', 0.5 * GiB],
    ['2T', 2 * TiB],
    ['  3M  ', 3 * MiB],
    ['1.0001K', 1024], // rounded down to whole bytes
  ])('%j → %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it('accepts a non-negative safe integer number as is', () => {
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize(0)).toBe(0);
  });

  it.each([
    [''],
    ['   '],
    ['abc'],
    ['-1'],
    ['-1G'],
    ['1.5'],
    ['1.5B'],
    ['10X'],
    ['10GG'],
    ['10 G B'],
    ['1e3'],
    ['Infinity'],
    ['NaN'],
    ['0x10'],
    ['G'],
    ['1,000'],
    ['99999999999P'],
    ['9007199254740993'],
  ])('rejects %j with AETHER_BAD_SIZE (usage)', (input) => {
    let err: unknown;
    try {
      parseSize(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AetherError);
    expect((err as AetherError).code).toBe(BAD_SIZE_CODE);
    expect((err as AetherError).code).toBe('AETHER_BAD_SIZE');
    expect((err as AetherError).kind).toBe('usage');
    expect((err as AetherError).message).toContain(JSON.stringify(input));
    expect((err as AetherError).hint).toMatch(/512M/);
  });

  it.each([[-1], [1.5], [Number.NaN], [Number.POSITIVE_INFINITY]])('rejects the number %d', (n) => {
    expect(() => parseSize(n)).toThrow(expect.objectContaining({ code: 'AETHER_BAD_SIZE' }));
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [MiB - 1, '1 MiB'],
    [512 * MiB, '512 MiB'],
    [1.5 * GiB, '1.5 GiB'],
    [10 * GiB, '10 GiB'],
    [3 * TiB, '3 TiB'],
    [-2048, '-2 KiB'],
  ])('%d → %j', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('round-trips through parseSize for exact values', () => {
    for (const n of [0, 1, 1023, KiB, 1.5 * KiB, 512 * MiB, 1.5 * GiB, 10 * GiB, 2 * TiB]) {
      expect(parseSize(formatBytes(n))).toBe(n);
    }
  });
});
