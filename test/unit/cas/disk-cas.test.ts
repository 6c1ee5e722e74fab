// DiskCas specifics: on-disk layout, corruption of real files, persistence across instances,
// cross-process LRU via mtimes, several instances sharing one directory, pin markers.
import { describe, it, expect, afterEach } from 'vitest';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { casHashOf, type CasLogger } from '../../../src/cas/cas-store.js';
import { DiskCas, type DiskCasOptions } from '../../../src/cas/disk-cas.js';

const dirs: string[] = [];
const stores: DiskCas[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(join(tmpdir(), 'aether-disk-cas-'));
  dirs.push(d);
  return d;
}

function open(opts: DiskCasOptions): DiskCas {
  const c = new DiskCas(opts);
  stores.push(c);
  return c;
}

const blob = (n: number) => randomBytes(n);

async function setMtime(p: string, msAgo: number): Promise<void> {
  const t = (Date.now() - msAgo) / 1000;
  await fsp.utimes(p, t, t);
}

async function listFiles(d: string): Promise<string[]> {
  try {
    return (await fsp.readdir(d, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

function recordingLogger(): CasLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (msg) => warnings.push(msg) };
}

describe('DiskCas', () => {
  it('lays blobs out as blobs/<2 hex>/<62 hex> and leaves no temp files', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const data = blob(4096);
    const h = await cas.put(data);
    const hex = h.slice('sha256:'.length);
    const p = join(dir, 'blobs', hex.slice(0, 2), hex.slice(2));
    expect(cas.pathFor(h)).toBe(p);
    expect(await fsp.readFile(p)).toEqual(data);
    expect(await fsp.readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('an on-disk overwrite with other bytes is detected: miss, file deleted, warning logged', async () => {
    const dir = await tempDir();
    const logger = recordingLogger();
    const cas = open({ dir, logger });
    const data = blob(10_000);
    const h = await cas.put(data);
    await fsp.writeFile(cas.pathFor(h), blob(10_000)); // same size, other bytes
    expect(await cas.get(h)).toBeUndefined();
    await expect(fsp.stat(cas.pathFor(h))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cas.stats()).toMatchObject({ corruptions: 1, misses: 1, hits: 0 });
    expect(logger.warnings).toContain('cas: corrupt blob discarded');
  });

  it('a truncated file is detected by a range read even of the intact prefix', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const data = blob(10_000);
    const h = await cas.put(data);
    await fsp.truncate(cas.pathFor(h), 5000);
    expect(await cas.read(h, 0, 100)).toBeUndefined();
    await expect(fsp.stat(cas.pathFor(h))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('truncation after verification is caught by the next range read; in-place damage by verify()', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const a = blob(10_000);
    const b = blob(10_000);
    const ha = await cas.put(a);
    const hb = await cas.put(b);
    expect(await cas.read(ha, 0, 10)).toEqual(a.subarray(0, 10)); // verified now
    expect(await cas.read(hb, 0, 10)).toEqual(b.subarray(0, 10));
    await fsp.truncate(cas.pathFor(ha), 9000);
    expect(await cas.read(ha, 0, 10)).toBeUndefined(); // size changed → re-verified → corrupt
    // Same size, same inode: trusted by range reads (verified once per process)...
    const fd = await fsp.open(cas.pathFor(hb), 'r+');
    await fd.write(Buffer.from([b[9000]! ^ 0xff]), 0, 1, 9000);
    await fd.close();
    // ...but never by get(), which hashes every time, nor by verify().
    const r = await cas.verify();
    expect(r.corrupt).toEqual([hb]);
    expect(await cas.has(hb)).toBe(false);
  });

  it('get() always hashes, even after the blob was verified', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const a = blob(1000);
    const h = await cas.put(a);
    expect(await cas.get(h)).toEqual(a);
    const fd = await fsp.open(cas.pathFor(h), 'r+');
    await fd.write(Buffer.from([a[0]! ^ 1]), 0, 1, 0);
    await fd.close();
    expect(await cas.get(h)).toBeUndefined();
  });

  it('a different file under the name (replaced by another process) is re-verified', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const a = blob(2000);
    const h = await cas.put(a);
    expect(await cas.read(h, 0, 4)).toEqual(a.subarray(0, 4));
    // Replace with a new inode holding wrong bytes of the same size.
    const p = cas.pathFor(h);
    await fsp.writeFile(`${p}.x`, blob(2000));
    await fsp.rename(`${p}.x`, p);
    expect(await cas.read(h, 0, 4)).toBeUndefined();
  });

  it('persists: a new instance on the same dir sees the entries', async () => {
    const dir = await tempDir();
    const first = open({ dir });
    const blobs = [blob(100), blob(200), blob(300)];
    const hashes = await Promise.all(blobs.map((b) => first.put(b)));
    await first.close();

    const second = await DiskCas.open({ dir });
    stores.push(second);
    expect(second.stats()).toMatchObject({ entries: 3, bytes: 600 });
    for (const [i, h] of hashes.entries()) {
      expect(await second.has(h)).toBe(true);
      expect(await second.get(h)).toEqual(blobs[i]);
    }
  });

  it('ignores junk in the cache directory', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const h = await cas.put(blob(10));
    await fsp.mkdir(join(dir, 'blobs', 'zz'), { recursive: true });
    await fsp.writeFile(join(dir, 'blobs', 'zz', 'junk'), 'x');
    await fsp.writeFile(join(dir, 'blobs', h.slice(7, 9), 'short'), 'x');
    await fsp.writeFile(join(dir, 'blobs', 'README'), 'x');
    const again = await DiskCas.open({ dir });
    stores.push(again);
    expect(again.stats()).toMatchObject({ entries: 1, bytes: 10 });
    expect(await again.verify()).toEqual({ checked: 1, corrupt: [] });
  });

  it('LRU across processes: eviction follows file mtimes, and an access touches the mtime', async () => {
    const dir = await tempDir();
    const writer = open({ dir });
    const [a, b, c] = [blob(100), blob(100), blob(100)];
    const ha = await writer.put(a);
    const hb = await writer.put(b);
    const hc = await writer.put(c);
    await writer.close();
    // As if written (or last used) 3h, 2h and 1h ago.
    await setMtime(writer.pathFor(ha), 3 * 3600_000);
    await setMtime(writer.pathFor(hb), 2 * 3600_000);
    await setMtime(writer.pathFor(hc), 1 * 3600_000);

    const reader = open({ dir });
    expect(await reader.read(ha, 0, 1)).toEqual(a.subarray(0, 1)); // a becomes most recent
    await expect.poll(async () => (await fsp.stat(reader.pathFor(ha))).mtimeMs).toBeGreaterThan(Date.now() - 60_000);

    // A third, fresh instance knows nothing in-process: only mtimes tell it what was used.
    const other = open({ dir });
    expect(await other.gc(200)).toEqual({ evicted: 1, freedBytes: 100 });
    expect(await other.has(hb)).toBe(false);
    expect(await other.gc(100)).toEqual({ evicted: 1, freedBytes: 100 });
    expect(await other.has(hc)).toBe(false);
    expect(await other.has(ha)).toBe(true);
  });

  it('touches a blob mtime at most once per touch interval', async () => {
    const dir = await tempDir();
    const writer = open({ dir });
    const h = await writer.put(blob(100)); // the put itself counts as this process's touch
    const cas = open({ dir });
    const p = cas.pathFor(h);
    await setMtime(p, 3600_000);
    await cas.get(h);
    await expect.poll(async () => (await fsp.stat(p)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    await setMtime(p, 3600_000);
    await cas.get(h);
    await cas.read(h, 0, 1);
    await new Promise((r) => setTimeout(r, 50));
    expect((await fsp.stat(p)).mtimeMs).toBeLessThan(Date.now() - 3000_000); // not touched again

    const eager = open({ dir, touchIntervalMs: 0 });
    await eager.get(h);
    await expect.poll(async () => (await fsp.stat(p)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });

  it('tolerates files removed by someone else: ENOENT is a miss and the index follows', async () => {
    const dir = await tempDir();
    const cas = await DiskCas.open({ dir });
    stores.push(cas);
    const h = await cas.put(blob(100));
    const h2 = await cas.put(blob(100));
    await cas.idle();
    expect(cas.stats().entries).toBe(2);
    await fsp.unlink(cas.pathFor(h));
    expect(await cas.read(h, 0, 1)).toBeUndefined();
    expect(await cas.get(h)).toBeUndefined();
    expect(await cas.has(h)).toBe(false);
    expect(cas.stats()).toMatchObject({ entries: 1, bytes: 100, misses: 2, corruptions: 0 });
    await fsp.rm(join(dir, 'blobs'), { recursive: true });
    expect(await cas.get(h2)).toBeUndefined();
    // Puts recreate the directories.
    const h3 = await cas.put(Buffer.from('back'));
    expect((await cas.get(h3))!.toString()).toBe('back');
  });

  it('sees blobs put by another instance and accounts them', async () => {
    const dir = await tempDir();
    const a = await DiskCas.open({ dir });
    stores.push(a);
    const b = open({ dir });
    const data = blob(777);
    const h = await b.put(data);
    expect(await a.has(h)).toBe(true);
    expect(await a.get(h)).toEqual(data);
    expect(a.stats()).toMatchObject({ entries: 1, bytes: 777, hits: 1 });
  });

  it('two instances putting the same and different blobs concurrently corrupt nothing', async () => {
    const dir = await tempDir();
    const a = open({ dir });
    const b = open({ dir });
    const shared = Array.from({ length: 30 }, (_, i) => blob(1000 + i * 311));
    const onlyA = Array.from({ length: 15 }, () => blob(5000));
    const onlyB = Array.from({ length: 15 }, () => blob(5000));
    const ops: Promise<string>[] = [];
    for (let i = 0; i < shared.length; i++) {
      ops.push(a.put(shared[i]!), b.put(shared[i]!, casHashOf(shared[i]!)));
      if (i < 15) ops.push(a.put(onlyA[i]!), b.put(onlyB[i]!));
    }
    // Readers race the writers too.
    const readers = shared.map(async (s) => {
      const r = await b.get(casHashOf(s));
      if (r) expect(r).toEqual(s);
    });
    await Promise.all([...ops, ...readers]);
    await Promise.all([a.idle(), b.idle()]);
    for (const s of [...shared, ...onlyA, ...onlyB]) {
      expect(await a.get(casHashOf(s))).toEqual(s);
      expect(await b.get(casHashOf(s))).toEqual(s);
    }
    expect(await fsp.readdir(join(dir, 'tmp'))).toEqual([]);
    const fresh = open({ dir });
    expect(await fresh.verify()).toEqual({ checked: 60, corrupt: [] });
    expect(a.stats().corruptions + b.stats().corruptions).toBe(0);
  });

  it('two instances with small budgets evicting concurrently keep the cache consistent', async () => {
    const dir = await tempDir();
    const a = open({ dir, maxBytes: 20_000 });
    const b = open({ dir, maxBytes: 20_000 });
    const pinnedA = await a.put(blob(3000), undefined, { pin: true });
    const pinnedB = await b.put(blob(3000), undefined, { pin: true });
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      all.push(a.put(blob(1000)), b.put(blob(1000)));
      if (i % 10 === 0) all.push(a.gc(), b.gc());
    }
    await Promise.all(all);
    await Promise.all([a.idle(), b.idle()]);
    await a.gc();
    const files = await listFiles(join(dir, 'blobs'));
    let total = 0;
    for (const f of files) total += (await fsp.stat(f)).size;
    expect(total).toBeLessThanOrEqual(20_000);
    expect(await b.has(pinnedA)).toBe(true);
    expect(await a.has(pinnedB)).toBe(true);
    const fresh = open({ dir });
    expect((await fresh.verify()).corrupt).toEqual([]);
  });

  it('a blob pinned by another instance is never evicted; unpin and close release it', async () => {
    const dir = await tempDir();
    const holder = open({ dir });
    const sweeper = open({ dir });
    const h1 = await holder.put(blob(100));
    const h2 = await holder.put(blob(100));
    await holder.pin(h1);
    await holder.pin(h2);
    await sweeper.gc(0);
    await sweeper.clear();
    expect(await sweeper.has(h1)).toBe(true);
    expect(await sweeper.has(h2)).toBe(true);
    await holder.unpin(h1);
    await sweeper.gc(0);
    expect(await sweeper.has(h1)).toBe(false);
    expect(await sweeper.has(h2)).toBe(true);
    await holder.close();
    expect(await fsp.readdir(join(dir, 'pins'))).toEqual([]);
    await sweeper.gc(0);
    expect(await sweeper.has(h2)).toBe(false);
  });

  it('pin markers of dead processes are ignored and removed', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    const h = await cas.put(blob(100));
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    await fsp.mkdir(join(dir, 'pins'), { recursive: true });
    const marker = join(dir, 'pins', `${h.slice(7)}.${deadPid}.abcdef`);
    await fsp.writeFile(marker, '');
    // And a live one (this process, another instance id) for a second blob.
    const h2 = await cas.put(blob(100));
    await fsp.writeFile(join(dir, 'pins', `${h2.slice(7)}.${process.pid}.123456`), '');
    await cas.gc(0);
    expect(await cas.has(h)).toBe(false);
    expect(await cas.has(h2)).toBe(true);
    await expect(fsp.stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gc removes stale temp files of crashed writers but not fresh ones', async () => {
    const dir = await tempDir();
    const cas = open({ dir });
    await cas.put(blob(10));
    const stale = join(dir, 'tmp', 'stale.1.aaaa.tmp');
    const fresh = join(dir, 'tmp', 'fresh.1.bbbb.tmp');
    await fsp.writeFile(stale, 'x');
    await fsp.writeFile(fresh, 'x');
    await setMtime(stale, 2 * 3600_000);
    await cas.gc();
    expect(await fsp.readdir(join(dir, 'tmp'))).toEqual(['fresh.1.bbbb.tmp']);
  });

  it('background eviction keeps the directory within budget and never throws into put', async () => {
    const dir = await tempDir();
    const logger = recordingLogger();
    const cas = open({ dir, maxBytes: 10_000, logger });
    for (let i = 0; i < 50; i++) await cas.put(blob(1000));
    await cas.idle();
    const files = await listFiles(join(dir, 'blobs'));
    expect(files.length).toBeLessThanOrEqual(10);
    expect(files.length).toBeGreaterThanOrEqual(9);
    expect(cas.stats().evictions).toBe(50 - files.length);
    expect(logger.warnings).toEqual([]);
  });

  it('reports I/O failures as AETHER_CAS_IO', async () => {
    const dir = await tempDir();
    const file = join(dir, 'not-a-dir');
    await fsp.writeFile(file, 'x');
    const cas = open({ dir: file });
    await expect(cas.put(blob(10))).rejects.toMatchObject({ code: 'AETHER_CAS_IO', name: 'CasError' });
    expect(await cas.has(casHashOf(Buffer.from('x')))).toBe(false);
    // Background maintenance failures are logged, never thrown.
    await cas.idle();
  });

  it('rejects a missing dir option', () => {
    expect(() => new DiskCas({ dir: '' })).toThrow(expect.objectContaining({ code: 'AETHER_CAS_IO' }));
  });
});
