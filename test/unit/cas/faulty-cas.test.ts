import { describe, it, expect } from 'vitest';
import { CasError, casHashOf } from '../../../src/cas/cas-store.js';
import { FaultyCas } from '../../../src/cas/faulty-cas.js';
import { MemoryCas } from '../../../src/cas/memory-cas.js';

const data = (s: string) => Buffer.from(s);

describe('FaultyCas', () => {
  it('fails puts after the given count, with an injected CasError by default', async () => {
    const inner = new MemoryCas();
    const cas = new FaultyCas(inner, { failPutsAfter: 2 });
    await cas.put(data('a'));
    await cas.put(data('b'));
    const err = await cas.put(data('c')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CasError);
    expect((err as CasError).code).toBe('AETHER_CAS_INJECTED');
    expect(await inner.has(casHashOf(data('c')))).toBe(false);
    expect(cas.injected.failedPuts).toBe(1);
  });

  it('fails puts with a given error, e.g. a full disk', async () => {
    const noSpace = new CasError('AETHER_CAS_NO_SPACE', 'disk full');
    const cas = new FaultyCas(new MemoryCas(), { failPutsAfter: 0, failPutsWith: noSpace });
    await expect(cas.put(data('x'))).rejects.toBe(noSpace);
  });

  it('fails reads with a given error', async () => {
    const inner = new MemoryCas();
    const h = await inner.put(data('x'));
    const boom = new Error('EIO');
    const cas = new FaultyCas(inner, { failReadsWith: boom });
    await expect(cas.get(h)).rejects.toBe(boom);
    await expect(cas.read(h, 0, 1)).rejects.toBe(boom);
    await expect(cas.has(h)).rejects.toBe(boom);
    expect(cas.injected.failedReads).toBe(3);
    await cas.put(data('puts still work'));
  });

  it('corruptReads turns hits into misses, counted as misses', async () => {
    const inner = new MemoryCas();
    const h = await inner.put(data('hello'));
    const cas = new FaultyCas(inner, { corruptReads: true });
    expect(await cas.get(h)).toBeUndefined();
    expect(await cas.read(h, 0, 2)).toBeUndefined();
    expect(cas.stats()).toMatchObject({ hits: 0, misses: 2 });
    expect(cas.injected.corruptReads).toBe(2);
    cas.clearFaults();
    expect(await cas.get(h)).toEqual(data('hello'));
  });

  it('garbleReads returns wrong bytes (contract violation on purpose)', async () => {
    const inner = new MemoryCas();
    const h = await inner.put(data('hello'));
    const cas = new FaultyCas(inner, { garbleReads: true });
    const got = (await cas.get(h))!;
    expect(got.length).toBe(5);
    expect(got).not.toEqual(data('hello'));
    expect(casHashOf(got)).not.toBe(h);
    expect(await inner.get(h)).toEqual(data('hello')); // the store itself is untouched
  });

  it('faults can be toggled at runtime', async () => {
    const cas = new FaultyCas(new MemoryCas());
    const h = await cas.put(data('a'));
    cas.setFaults({ failPutsAfter: 0 });
    await expect(cas.put(data('b'))).rejects.toBeInstanceOf(CasError);
    cas.updateFaults({ corruptReads: true });
    expect(cas.faults).toEqual({ failPutsAfter: 0, corruptReads: true });
    expect(await cas.get(h)).toBeUndefined();
    await expect(cas.put(data('b'))).rejects.toBeInstanceOf(CasError);
    cas.updateFaults({ failPutsAfter: 1 }); // restarts the count
    await cas.put(data('b'));
    await expect(cas.put(data('c'))).rejects.toBeInstanceOf(CasError);
    cas.clearFaults();
    expect(cas.faults).toEqual({});
    await cas.put(data('c'));
    expect(await cas.get(h)).toEqual(data('a'));
  });

  it('delays calls', async () => {
    const cas = new FaultyCas(new MemoryCas(), { delayMs: 30 });
    const t0 = Date.now();
    await cas.put(data('a'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('delegates pins, gc, clear, verify and close', async () => {
    const inner = new MemoryCas({ maxBytes: 1000 });
    const cas = new FaultyCas(inner);
    const h = await cas.put(data('pinned'));
    await cas.put(data('loose'));
    await cas.pin(h);
    expect(inner.pinCount(h)).toBe(1);
    expect(cas.pinCount(h)).toBe(1);
    expect(await cas.gc(0)).toEqual({ evicted: 1, freedBytes: 5 });
    expect(await cas.verify()).toEqual({ checked: 1, corrupt: [] });
    await cas.unpin(h);
    await cas.clear();
    expect(inner.stats().entries).toBe(0);
    await cas.close();
    await expect(inner.get(h)).rejects.toMatchObject({ code: 'AETHER_CAS_CLOSED' });
  });
});
