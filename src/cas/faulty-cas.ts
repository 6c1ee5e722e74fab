// FaultyCas: a CasStore wrapper that injects failures, for testing how callers (the fs core, the
// mount) cope with a cache that breaks: full disks, I/O errors, corruption, slowness.
//
// Owns: only the fault switches and their counters; every call that is not faulted is delegated
// unchanged to the wrapped store. Faults can be changed at any time (setFaults/updateFaults/
// clearFaults) and apply to calls started afterwards.
// Invariant: with no faults set, FaultyCas is observably identical to the wrapped store.
//
// Callers: tests only.

import {
  CasError,
  CasErrorCode,
  type CasGcResult,
  type CasPutOptions,
  type CasStats,
  type CasStore,
  type CasVerifyResult,
} from './cas-store.js';

/** Faults FaultyCas can inject. All off by default. */
export interface CasFaults {
  /** Let this many puts through (counted from when the faults were set), then fail every later put. */
  failPutsAfter?: number;
  /** The error failing puts reject with; default a CasError `AETHER_CAS_INJECTED`. */
  failPutsWith?: Error;
  /** has/get/read reject with this error. */
  failReadsWith?: Error;
  /**
   * get/read report a miss, as a store does when it finds the blob corrupt (the wrapped store is
   * still called, so recency and counters move; the wrapper's stats() count these as misses).
   */
  corruptReads?: boolean;
  /**
   * get/read return the blob with one byte inverted. This breaks the CasStore contract on purpose,
   * to test a caller's own end-to-end checks.
   */
  garbleReads?: boolean;
  /** Delay every call (except stats/pinCount) by this many milliseconds first. */
  delayMs?: number;
}

/** How many faults FaultyCas has injected, by kind. */
export interface CasFaultCounts {
  failedPuts: number;
  failedReads: number;
  corruptReads: number;
  garbledReads: number;
}

/** {@link CasStore} wrapper that injects {@link CasFaults}. */
export class FaultyCas implements CasStore {
  readonly inner: CasStore;
  #faults: CasFaults;
  #putsSinceSet = 0;
  readonly #counts: CasFaultCounts = { failedPuts: 0, failedReads: 0, corruptReads: 0, garbledReads: 0 };

  constructor(inner: CasStore, faults: CasFaults = {}) {
    this.inner = inner;
    this.#faults = { ...faults };
  }

  /** The faults now in force. */
  get faults(): Readonly<CasFaults> {
    return { ...this.#faults };
  }

  /** Injected-fault counters. */
  get injected(): Readonly<CasFaultCounts> {
    return { ...this.#counts };
  }

  /** Replaces all faults; restarts the failPutsAfter count. */
  setFaults(faults: CasFaults): void {
    this.#faults = { ...faults };
    this.#putsSinceSet = 0;
  }

  /** Changes some faults, keeping the others; restarts the failPutsAfter count if it is given. */
  updateFaults(faults: Partial<CasFaults>): void {
    this.#faults = { ...this.#faults, ...faults };
    if ('failPutsAfter' in faults) this.#putsSinceSet = 0;
  }

  /** Turns every fault off. */
  clearFaults(): void {
    this.setFaults({});
  }

  async has(hash: string): Promise<boolean> {
    await this.#beforeRead();
    return this.inner.has(hash);
  }

  async get(hash: string): Promise<Buffer | undefined> {
    await this.#beforeRead();
    return this.#afterRead(await this.inner.get(hash));
  }

  async read(hash: string, offset: number, length: number): Promise<Buffer | undefined> {
    await this.#beforeRead();
    return this.#afterRead(await this.inner.read(hash, offset, length));
  }

  async put(data: Uint8Array, expectedHash?: string, opts?: CasPutOptions): Promise<string> {
    await this.#delay();
    const { failPutsAfter, failPutsWith } = this.#faults;
    this.#putsSinceSet++;
    if (failPutsAfter !== undefined && this.#putsSinceSet > failPutsAfter) {
      this.#counts.failedPuts++;
      throw failPutsWith ?? new CasError(CasErrorCode.INJECTED, `injected put failure (after ${failPutsAfter} puts)`);
    }
    return this.inner.put(data, expectedHash, opts);
  }

  async pin(hash: string): Promise<void> {
    await this.#delay();
    return this.inner.pin(hash);
  }

  async unpin(hash: string): Promise<void> {
    await this.#delay();
    return this.inner.unpin(hash);
  }

  pinCount(hash: string): number {
    return this.inner.pinCount(hash);
  }

  /** The wrapped store's stats, with reads turned into misses by `corruptReads` counted as misses. */
  stats(): CasStats {
    const s = this.inner.stats();
    const n = this.#counts.corruptReads;
    return { ...s, hits: s.hits - n, misses: s.misses + n };
  }

  async verify(): Promise<CasVerifyResult> {
    await this.#delay();
    return this.inner.verify();
  }

  async gc(targetBytes?: number): Promise<CasGcResult> {
    await this.#delay();
    return this.inner.gc(targetBytes);
  }

  async clear(): Promise<void> {
    await this.#delay();
    return this.inner.clear();
  }

  idle(): Promise<void> {
    return this.inner.idle();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #delay(): Promise<void> {
    const ms = this.#faults.delayMs;
    if (ms && ms > 0) await new Promise((r) => setTimeout(r, ms));
  }

  async #beforeRead(): Promise<void> {
    await this.#delay();
    const err = this.#faults.failReadsWith;
    if (err) {
      this.#counts.failedReads++;
      throw err;
    }
  }

  #afterRead(buf: Buffer | undefined): Buffer | undefined {
    if (buf === undefined) return undefined;
    if (this.#faults.corruptReads) {
      this.#counts.corruptReads++;
      return undefined;
    }
    if (this.#faults.garbleReads && buf.length > 0) {
      this.#counts.garbledReads++;
      const out = Buffer.from(buf);
      out[out.length >> 1]! ^= 0xff;
      return out;
    }
    return buf;
  }
}
