import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { AetherError } from '../../../src/shared/errors.js';
import {
  CAS_CONFIG_DEFAULTS,
  CasError,
  CasErrorCode,
  casHashOf,
  isCasError,
  isCasHash,
  parseCasHash,
  resolveCasConfig,
} from '../../../src/cas/cas-store.js';
import { evictionOrder, planEviction, RecencyClock } from '../../../src/cas/eviction.js';

const HEX = 'ab'.repeat(32);

describe('CAS hashes', () => {
  it('casHashOf is sha256 of the bytes with a sha256: prefix', () => {
    const data = Buffer.from('hello world');
    expect(casHashOf(data)).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(casHashOf(new Uint8Array(0))).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('isCasHash accepts only the canonical form', () => {
    expect(isCasHash(`sha256:${HEX}`)).toBe(true);
    expect(isCasHash(`sha256:${HEX.toUpperCase()}`)).toBe(false);
    expect(isCasHash(HEX)).toBe(false);
    expect(isCasHash(`sha256:${HEX}0`)).toBe(false);
    expect(isCasHash(`sha256:${HEX.slice(1)}`)).toBe(false);
    expect(isCasHash(`sha512:${HEX}`)).toBe(false);
    expect(isCasHash(`sha256:${HEX.slice(1)}g`)).toBe(false);
    expect(isCasHash(42)).toBe(false);
    expect(isCasHash(undefined)).toBe(false);
  });

  it('parseCasHash canonicalizes and splits', () => {
    expect(parseCasHash(`sha256:${HEX.toUpperCase()}`)).toEqual({ hash: `sha256:${HEX}`, algorithm: 'sha256', hex: HEX });
  });

  it.each([[''], [HEX], ['sha256:'], [`sha256:${HEX} `], [`SHA256:${HEX}`], ['x'.repeat(500)]])(
    'parseCasHash rejects %j with AETHER_CAS_BAD_HASH',
    (s) => {
      let err: unknown;
      try {
        parseCasHash(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CasError);
      expect(err).toBeInstanceOf(AetherError);
      expect((err as CasError).code).toBe('AETHER_CAS_BAD_HASH');
      expect((err as CasError).message.length).toBeLessThan(200);
    },
  );
});

describe('CasError', () => {
  it('carries a stable code, kind, name and cause', () => {
    const cause = new Error('disk on fire');
    const e = new CasError(CasErrorCode.IO, 'boom', { cause });
    expect(e.code).toBe('AETHER_CAS_IO');
    expect(e.kind).toBe('internal');
    expect(e.name).toBe('CasError');
    expect(e.cause).toBe(cause);
    expect(isCasError(e)).toBe(true);
    expect(isCasError(e, CasErrorCode.IO)).toBe(true);
    expect(isCasError(e, CasErrorCode.HASH_MISMATCH)).toBe(false);
    expect(isCasError(new Error('x'))).toBe(false);
  });

  it('has the documented codes', () => {
    expect(CasErrorCode.HASH_MISMATCH).toBe('AETHER_CAS_HASH_MISMATCH');
    expect(new Set(Object.values(CasErrorCode)).size).toBe(Object.values(CasErrorCode).length);
    for (const c of Object.values(CasErrorCode)) expect(c).toMatch(/^AETHER_CAS_[A-Z_]+$/);
  });
});

describe('resolveCasConfig', () => {
  it('defaults to 10 GiB', () => {
    expect(resolveCasConfig({})).toEqual(CAS_CONFIG_DEFAULTS);
    expect(CAS_CONFIG_DEFAULTS.maxBytes).toBe(10 * 1024 ** 3);
  });
  it.each([[{ maxBytes: -1 }], [{ maxBytes: 1.5 }], [{ lowWatermark: 0 }], [{ lowWatermark: 2 }], [{ touchIntervalMs: -5 }]])(
    'rejects %j',
    (opts) => {
      expect(() => resolveCasConfig(opts)).toThrow(CasError);
    },
  );
});

describe('eviction planning', () => {
  const e = (hash: string, size: number, lastUsed: number) => ({ hash, size, lastUsed });

  it('orders least recently used first, excluding pinned, ties by hash', () => {
    const order = evictionOrder([e('c', 1, 3), e('a', 1, 1), e('p', 1, 0), e('b', 1, 1)], (h) => h === 'p');
    expect(order.map((x) => x.hash)).toEqual(['a', 'b', 'c']);
  });

  it('plans just enough victims', () => {
    const order = [e('a', 10, 1), e('b', 20, 2), e('c', 30, 3)];
    expect(planEviction(order, 60, 60)).toEqual([]);
    expect(planEviction(order, 60, 55).map((x) => x.hash)).toEqual(['a']);
    expect(planEviction(order, 60, 30).map((x) => x.hash)).toEqual(['a', 'b']);
    expect(planEviction(order, 100, 0).map((x) => x.hash)).toEqual(['a', 'b', 'c']);
  });

  it('RecencyClock is strictly increasing even when the clock stands still', () => {
    const c = new RecencyClock(() => 1000);
    const a = c.next();
    const b = c.next();
    expect(a).toBe(1000);
    expect(b).toBeGreaterThan(a);
  });
});
