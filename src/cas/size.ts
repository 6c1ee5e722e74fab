// Human byte sizes for the cache budget ("10G", "512M", "1.5GiB") and their display.
//
// Owns: parseSize/formatBytes. Units are binary (K = 1024) whatever the suffix spelling: "1KB",
// "1K" and "1KiB" are all 1024 bytes, because a cache budget is about disk blocks, not marketing.
// Invariant: parseSize returns a non-negative safe integer or throws AETHER_BAD_SIZE (kind usage).
//
// Callers: config/ and cli/ (flags, conf file), cas/ tests.

import { UserError } from '../shared/errors.js';

/** Error code of {@link parseSize} for input it cannot read. */
export const BAD_SIZE_CODE = 'AETHER_BAD_SIZE';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

// number, optional space, then: a unit letter with optional "i"/"iB"/"B", or a lone "B", or nothing.
const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgtp])(?:ib?|b)?|b)?$/i;

/**
 * Parses a byte size: a plain byte count ("1048576"), or a number with a K/M/G/T/P unit and an
 * optional "B", "i" or "iB" suffix ("512M", "10G", "1.5GiB", "64kb", "2Gi"), case-insensitive, binary units.
 * Fractions are allowed with a unit and rounded down to whole bytes. A number is accepted as is
 * if it is a non-negative safe integer.
 * @throws UserError code `AETHER_BAD_SIZE` (kind 'usage') for anything else, including negative,
 *   fractional byte counts and results above Number.MAX_SAFE_INTEGER.
 */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return input;
    throw badSize(String(input));
  }
  if (typeof input !== 'string') throw badSize(String(input));
  const s = input.trim();
  const m = SIZE_RE.exec(s);
  if (!m) throw badSize(input);
  const [, num, unitLetter] = m;
  const mult = UNITS[(unitLetter ?? '').toLowerCase()]!;
  if (mult === 1 && num!.includes('.')) throw badSize(input, 'a byte count must be a whole number');
  const bytes = Math.floor(Number(num) * mult);
  if (!Number.isSafeInteger(bytes)) throw badSize(input, 'too large');
  return bytes;
}

function badSize(input: string, why?: string): UserError {
  return new UserError(BAD_SIZE_CODE, `invalid size ${JSON.stringify(input)}${why ? `: ${why}` : ''}`, {
    hint: 'use a byte count or a number with a unit, e.g. 1048576, 512M, 10G, 1.5GiB',
  });
}

const FORMAT_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * Formats a byte count for people: "0 B", "1023 B", "1.5 KiB", "10 GiB" (one decimal at most,
 * dropped when zero). The output is accepted by {@link parseSize} (up to rounding).
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < FORMAT_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${sign}${Math.round(v)} B`;
  // Round first, so 1023.96 KiB prints as "1 MiB" rather than "1024 KiB".
  let r = Math.round(v * 10) / 10;
  if (r >= 1024 && i < FORMAT_UNITS.length - 1) {
    r = Math.round((v / 1024) * 10) / 10;
    i++;
  }
  const text = Number.isInteger(r) ? String(r) : r.toFixed(1);
  return `${sign}${text} ${FORMAT_UNITS[i]}`;
}
