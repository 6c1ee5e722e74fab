// One scenario suite, run against every CasStore backend: DiskCas, MemoryCas, and FaultyCas with
// no faults set (which must be indistinguishable from what it wraps).
import { describe, it, expect, afterEach } from 'vitest';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AetherError } from '../../../src/shared/errors.js';
import { CasError, casHashOf, type CasConfig, type CasStore } from '../../../src/cas/cas-store.js';
import { DiskCas } from '../../../src/cas/disk-cas.js';
import { MemoryCas } from '../../../src/cas/memory-cas.js';
import { FaultyCas } from '../../../src/cas/faulty-cas.js';

type Corruption = 'flip' | 'truncate';

interface Harness {
  cas: CasStore;
  /** Damage the stored blob as a bad disk would. */
  corrupt(hash: string, how: Corruption): Promise<void>;
}

interface Backend {
  name: string;
  create(opts?: Partial<CasConfig>): Promise<Harness>;
  cleanup(): Promise<void>;
}

function diskBackend(): Backend {
  const dirs: string[] = [];
  const stores: CasStore[] = [];
  return {
    name: 'DiskCas',
    async create(opts = {}) {
      const dir = await fsp.mkdtemp(join(tmpdir(), 'aether-cas-contract-'));
      dirs.push(dir);
      const cas = new DiskCas({ dir, ...opts });
      stores.push(cas);
      return {
        cas,
        async corrupt(hash, how) {
          const p = cas.pathFor(hash);
          const data = await fsp.readFile(p);
          if (how === 'truncate') await fsp.truncate(p, Math.floor(data.length / 2));
          else {
            data[data.length >> 1]! ^= 0xff;
            await fsp.writeFile(p, data);
          }
        },
      };
    },
    async cleanup() {
      await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
      await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
    },
  };
}

function memoryBackend(): Backend {
  return {
    name: 'MemoryCas',
    async create(opts = {}) {
      const cas = new MemoryCas(opts);
      return {
        cas,
        async corrupt(hash, how) {
          cas.corruptForTest(hash, how);
        },
      };
    },
    async cleanup() {},
  };
}

function faultyBackend(): Backend {
  return {
    name: 'FaultyCas(MemoryCas) without faults',
    async create(opts = {}) {
      const inner = new MemoryCas(opts);
      return {
        cas: new FaultyCas(inner),
        async corrupt(hash, how) {
          inner.corruptForTest(hash, how);
        },
      };
    },
    async cleanup() {},
  };
}

function blob(n: number, seed = randomBytes(4).readUInt32LE()): Buffer {
  const b = Buffer.alloc(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function rejection(p: Promise<unknown>): Promise<AetherError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AetherError);
    return e as AetherError;
  }
  throw new Error('expected a rejection');
}

for (const make of [diskBackend, memoryBackend, faultyBackend]) {
  const backend = make();
  describe(`CasStore contract: ${backend.name}`, () => {
    afterEach(() => backend.cleanup());

    it('put returns the sha256 key; get returns the bytes; has reports presence', async () => {
      const { cas } = await backend.create();
      const data = blob(5000);
      const h = await cas.put(data);
      expect(h).toBe(casHashOf(data));
      expect(await cas.has(h)).toBe(true);
      expect(await cas.get(h)).toEqual(data);
      const absent = casHashOf(Buffer.from('absent'));
      expect(await cas.has(absent)).toBe(false);
      expect(await cas.get(absent)).toBeUndefined();
      expect(await cas.read(absent, 0, 10)).toBeUndefined();
      await cas.idle(); // DiskCas: stats reflect its index, which the first put loads in the background
      const s = cas.stats();
      expect(s).toMatchObject({ entries: 1, bytes: 5000, hits: 1, misses: 2, evictions: 0, corruptions: 0 });
    });

    it('range reads', async () => {
      const { cas } = await backend.create();
      const data = blob(10_000);
      const h = await cas.put(data);
      expect(await cas.read(h, 0, 5)).toEqual(data.subarray(0, 5));
      expect(await cas.read(h, 4096, 1000)).toEqual(data.subarray(4096, 5096));
      expect(await cas.read(h, 9000, 5000)).toEqual(data.subarray(9000)); // short at the end
      expect(await cas.read(h, 0, 10_000)).toEqual(data);
      expect((await cas.read(h, 10_000, 10))!.length).toBe(0);
      expect((await cas.read(h, 20_000, 10))!.length).toBe(0);
      expect((await cas.read(h, 5, 0))!.length).toBe(0);
      for (const [o, l] of [[-1, 1], [0, -1], [1.5, 1], [0, Number.NaN]] as const) {
        expect((await rejection(cas.read(h, o, l))).code).toBe('AETHER_CAS_BAD_RANGE');
      }
      expect(cas.stats().hits).toBe(7);
    });

    it('stores the empty blob', async () => {
      const { cas } = await backend.create();
      const h = await cas.put(Buffer.alloc(0));
      expect(h).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(await cas.get(h)).toEqual(Buffer.alloc(0));
      expect(await cas.read(h, 0, 10)).toEqual(Buffer.alloc(0));
    });

    it('put with a matching expectedHash succeeds; a different one is rejected and stores nothing', async () => {
      const { cas } = await backend.create();
      const data = blob(100);
      const good = casHashOf(data);
      expect(await cas.put(data, good.toUpperCase().replace('SHA256:', 'sha256:'))).toBe(good);
      const other = blob(100);
      const err = await rejection(cas.put(other, casHashOf(Buffer.from('something else'))));
      expect(err).toBeInstanceOf(CasError);
      expect(err.code).toBe('AETHER_CAS_HASH_MISMATCH');
      expect(await cas.has(casHashOf(other))).toBe(false);
      await cas.idle();
      expect(cas.stats().entries).toBe(1);
    });

    it('rejects malformed keys', async () => {
      const { cas } = await backend.create();
      for (const call of [
        (): Promise<unknown> => cas.has('nope'),
        () => cas.get('sha256:1234'),
        () => cas.read('md5:x', 0, 1),
        () => cas.pin(''),
        () => cas.put(Buffer.from('x'), 'sha256:zz'),
      ]) {
        expect((await rejection(Promise.resolve().then<unknown>(call))).code).toBe('AETHER_CAS_BAD_HASH');
      }
    });

    it('put is idempotent', async () => {
      const { cas } = await backend.create();
      const data = blob(1234);
      const [a, b] = await Promise.all([cas.put(data), cas.put(data)]);
      const c = await cas.put(Buffer.from(data));
      expect(a).toBe(b);
      expect(b).toBe(c);
      await cas.idle();
      expect(cas.stats()).toMatchObject({ entries: 1, bytes: 1234 });
      expect(await cas.get(a)).toEqual(data);
    });

    it('neither the input nor a returned buffer aliases the cache', async () => {
      const { cas } = await backend.create();
      const data = blob(64);
      const copy = Buffer.from(data);
      const h = await cas.put(data);
      data.fill(0);
      const got = (await cas.get(h))!;
      expect(got).toEqual(copy);
      got.fill(1);
      const part = (await cas.read(h, 0, 8))!;
      part.fill(2);
      expect(await cas.get(h)).toEqual(copy);
    });

    for (const how of ['flip', 'truncate'] as const) {
      it(`a ${how === 'flip' ? 'corrupt' : 'truncated'} blob is detected, deleted and reported as a miss (get and read)`, async () => {
        const { cas, corrupt } = await backend.create();
        const a = blob(3000);
        const b = blob(3000);
        const ha = await cas.put(a);
        const hb = await cas.put(b);
        // A fresh store must not trust the put-time bytes blindly: damage before the first read.
        await corrupt(ha, how);
        await corrupt(hb, how);
        const before = cas.stats();
        expect(await cas.get(ha)).toBeUndefined();
        expect(await cas.read(hb, 10, 10)).toBeUndefined();
        expect(await cas.has(ha)).toBe(false);
        expect(await cas.has(hb)).toBe(false);
        const after = cas.stats();
        expect(after.misses - before.misses).toBe(2);
        expect(after.hits).toBe(before.hits);
        expect(after.corruptions).toBe(2);
        expect(after.entries).toBe(0);
        // A fresh put repairs it.
        expect(await cas.put(a)).toBe(ha);
        expect(await cas.get(ha)).toEqual(a);
      });
    }

    it('evicts least recently used first', async () => {
      const { cas } = await backend.create({ maxBytes: 1_000_000 });
      const [a, b, c, d] = [blob(100), blob(100), blob(100), blob(100)];
      const ha = await cas.put(a);
      const hb = await cas.put(b);
      const hc = await cas.put(c);
      const hd = await cas.put(d);
      await cas.idle();
      expect(await cas.get(ha)).toEqual(a); // a is now the most recent
      expect(await cas.read(hc, 0, 1)).toBeDefined(); // then c
      // Recency order now (old → new): b, d, a, c.
      expect(await cas.gc(300)).toEqual({ evicted: 1, freedBytes: 100 });
      expect(await cas.has(hb)).toBe(false);
      expect(await cas.gc(200)).toEqual({ evicted: 1, freedBytes: 100 });
      expect(await cas.has(hd)).toBe(false);
      expect(await cas.has(ha)).toBe(true);
      expect(await cas.has(hc)).toBe(true);
      expect(cas.stats()).toMatchObject({ entries: 2, bytes: 200, evictions: 2 });
      expect(await cas.gc()).toEqual({ evicted: 0, freedBytes: 0 }); // under maxBytes
    });

    it('pinned blobs survive eviction; pins are reference counted', async () => {
      const { cas } = await backend.create({ maxBytes: 1_000_000 });
      const ha = await cas.put(blob(100));
      const hb = await cas.put(blob(100));
      await cas.pin(ha);
      await cas.pin(ha);
      expect(cas.pinCount(ha)).toBe(2);
      expect(cas.stats().pinned).toBe(1);
      expect(await cas.gc(0)).toEqual({ evicted: 1, freedBytes: 100 });
      expect(await cas.has(ha)).toBe(true);
      expect(await cas.has(hb)).toBe(false);
      await cas.unpin(ha);
      expect(cas.pinCount(ha)).toBe(1);
      await cas.gc(0);
      expect(await cas.has(ha)).toBe(true);
      await cas.unpin(ha);
      await cas.unpin(ha); // extra unpin is a no-op
      expect(cas.pinCount(ha)).toBe(0);
      await cas.gc(0);
      expect(await cas.has(ha)).toBe(false);
    });

    it('a blob may be pinned before it is stored', async () => {
      const { cas } = await backend.create({ maxBytes: 1_000_000 });
      const data = blob(100);
      const h = casHashOf(data);
      await cas.pin(h);
      await cas.put(data);
      await cas.gc(0);
      expect(await cas.get(h)).toEqual(data);
    });

    it('background eviction after put keeps the cache within budget, newest and pinned kept', async () => {
      const { cas } = await backend.create({ maxBytes: 1000, lowWatermark: 0.5 });
      const pinned = await cas.put(blob(150), undefined, { pin: true });
      expect(cas.pinCount(pinned)).toBe(1);
      const hashes: string[] = [];
      for (let i = 0; i < 10; i++) {
        hashes.push(await cas.put(blob(150)));
        await cas.idle();
        expect(cas.stats().bytes).toBeLessThanOrEqual(1000);
      }
      expect(await cas.has(pinned)).toBe(true);
      expect(await cas.has(hashes[9]!)).toBe(true);
      expect(await cas.has(hashes[0]!)).toBe(false);
      expect(cas.stats().evictions).toBeGreaterThan(0);
    });

    it('a blob larger than maxBytes is stored, then evicted unless pinned', async () => {
      const { cas } = await backend.create({ maxBytes: 500 });
      const big = blob(2000);
      const h = await cas.put(big);
      expect(h).toBe(casHashOf(big));
      await cas.idle();
      expect(await cas.has(h)).toBe(false);
      const big2 = blob(2000);
      const h2 = await cas.put(big2, undefined, { pin: true });
      await cas.idle();
      expect(await cas.get(h2)).toEqual(big2);
      expect(cas.stats().bytes).toBe(2000);
    });

    it('clear removes every unpinned blob', async () => {
      const { cas } = await backend.create();
      const ha = await cas.put(blob(10));
      const hb = await cas.put(blob(20));
      const hc = await cas.put(blob(30));
      await cas.pin(hb);
      await cas.clear();
      expect(await cas.has(ha)).toBe(false);
      expect(await cas.has(hb)).toBe(true);
      expect(await cas.has(hc)).toBe(false);
      expect(cas.stats()).toMatchObject({ entries: 1, bytes: 20, evictions: 0 });
    });

    it('verify hashes everything and deletes corrupt blobs', async () => {
      const { cas, corrupt } = await backend.create();
      const hashes = [];
      for (let i = 0; i < 6; i++) hashes.push(await cas.put(blob(500 + i)));
      expect(await cas.verify()).toEqual({ checked: 6, corrupt: [] });
      await corrupt(hashes[1]!, 'flip');
      await corrupt(hashes[4]!, 'truncate');
      const r = await cas.verify();
      expect(r.checked).toBe(6);
      expect(r.corrupt).toEqual([hashes[1], hashes[4]].sort());
      expect(await cas.has(hashes[1]!)).toBe(false);
      expect(await cas.has(hashes[4]!)).toBe(false);
      expect(cas.stats().entries).toBe(4);
      expect(await cas.verify()).toEqual({ checked: 4, corrupt: [] });
    });

    it('many concurrent puts and reads of overlapping blobs', async () => {
      const { cas } = await backend.create();
      const blobs = Array.from({ length: 20 }, (_, i) => blob(1000 + i * 37, i + 1));
      const hashes = await Promise.all(blobs.flatMap((b) => [cas.put(b), cas.put(b)]));
      const reads = await Promise.all(hashes.map((h, i) => cas.read(h, 100, 200).then((r) => [r, blobs[i >> 1]!] as const)));
      for (const [r, b] of reads) expect(r).toEqual(b.subarray(100, 300));
      await cas.idle();
      expect(cas.stats()).toMatchObject({ entries: 20, corruptions: 0 });
      expect(await cas.verify()).toEqual({ checked: 20, corrupt: [] });
    });

    it('close is idempotent and refuses further use', async () => {
      const { cas } = await backend.create();
      const h = await cas.put(blob(10));
      await cas.pin(h);
      await cas.close();
      await cas.close();
      for (const call of [(): Promise<unknown> => cas.get(h), () => cas.put(blob(1)), () => cas.has(h), () => cas.gc(), () => cas.pin(h)]) {
        expect((await rejection(Promise.resolve().then<unknown>(call))).code).toBe('AETHER_CAS_CLOSED');
      }
      expect(cas.stats().maxBytes).toBeGreaterThan(0);
    });
  });
}
