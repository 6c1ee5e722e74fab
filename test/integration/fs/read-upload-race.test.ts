// A read that is in progress when an upload of the same file finishes (fsync/close on another fd)
// must return the bytes that were there when it began: SQLite in WAL mode on a fuse-native mount
// hit this ("database disk image is malformed", committed rows gone after a remount) — the
// upload closed and deleted the staging file under the read, and the read re-created it empty
// and returned zeros for the staged range. Also: a metadata refresh (remote invalidation) that
// is still out when a local write + upload lands must not put the older size back.
// Real gateway on 127.0.0.1:0, HTTP client, memory CAS; the interleavings are forced with gates
// in a client wrapper, not timing.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, newSession, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import type { GatewayClient } from '../../../src/client/gateway-client.js';
import { MemoryCas } from '../../../src/cas/memory-cas.js';
import { SessionFilesystem } from '../../../src/fs/session-fs.js';

const O_RDWR = 2;

/** A client where the next call of `method` is made at once but its answer is held until release(). */
function gated(real: GatewayClient) {
  const armed = new Map<string, { taken: () => void; gate: Promise<void> }>();
  const done = new Map<string, () => void>();
  const client = new Proxy(real, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      const name = String(prop);
      if (!armed.has(name) && !done.has(name)) return v.bind(target);
      return async (...args: unknown[]) => {
        const a = armed.get(name);
        if (a) armed.delete(name);
        const r = await v.apply(target, args);
        if (a) {
          a.taken();
          await a.gate;
        }
        done.get(name)?.();
        return r;
      };
    },
  }) as GatewayClient;
  return {
    client,
    arm(method: string) {
      let release!: () => void;
      let taken!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const takenP = new Promise<void>((r) => (taken = r));
      armed.set(method, { taken, gate });
      return { release, taken: takenP };
    },
    /** Resolves after the next answer of `method` was delivered. */
    after(method: string) {
      return new Promise<void>((r) => done.set(method, () => (done.delete(method), r())));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('core: reads and metadata refreshes racing an upload', () => {
  let t: TestGateway;
  let dir: { dir: string; cleanup: () => Promise<void> };
  let real: HttpGatewayClient;

  beforeAll(async () => {
    t = await startTestGateway();
    dir = await makeTempDir('aether-rur-');
    real = new HttpGatewayClient({ baseUrl: t.url, token: t.token });
  });
  afterAll(async () => {
    await real?.close();
    await t?.close();
    await dir?.cleanup();
  });

  it('a read that began before an upload finished returns the staged bytes, not zeros', async () => {
    const sid = await newSession(t.call);
    const base = Buffer.alloc(64 * 1024, 'A');
    const w = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/wal', content: base.toString('base64'), expectedHash: '' } }] });
    expect(w.status).toBe(200);
    const g = gated(real);
    // The base bytes are in the local cache; the read's first cache lookup is held at a gate.
    const cas = new MemoryCas();
    await cas.put(base, 'sha256:' + createHash('sha256').update(base).digest('hex'));
    const c = gated(cas as unknown as GatewayClient);
    const fs = new SessionFilesystem({ client: g.client, cas: c.client as unknown as MemoryCas, sessionId: sid, sessionStateDir: dir.dir, mountKey: 'rur1' });
    await fs.init();
    const fh = await fs.open('/wal', O_RDWR);
    await fs.write(fh, Buffer.alloc(16, 'B'), 60_000);

    // A read of the whole file starts: its first piece (remote base) waits in the cache.
    const held = c.arm('read');
    const reading = fs.read(fh, 0, base.length);
    await held.taken;
    // Meanwhile fsync uploads the staged range and finishes.
    const patched = g.after('patchSegments');
    const syncing = fs.fsync(fh);
    await patched;
    await Promise.race([syncing, sleep(300)]);
    held.release();
    const [got] = await Promise.all([reading, syncing]);
    const want = Buffer.from(base);
    want.fill('B', 60_000, 60_016);
    expect(got.length).toBe(want.length);
    expect(got.subarray(60_000, 60_016).toString()).toBe('B'.repeat(16));
    expect(got.equals(want)).toBe(true);
    // And the file reads the same afterwards, through the mount and at the gateway.
    expect((await fs.read(fh, 0, base.length)).equals(want)).toBe(true);
    await fs.release(fh);
    await fs.close();
  });

  it('a refresh that left before a local write + upload does not bring the old size back', async () => {
    const sid = await newSession(t.call);
    const w = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f', content: Buffer.from('old').toString('base64'), expectedHash: '' } }] });
    expect(w.status).toBe(200);
    const g = gated(real);
    const fs = new SessionFilesystem({ client: g.client, cas: new MemoryCas(), sessionId: sid, sessionStateDir: dir.dir, mountKey: 'rur2' });
    await fs.init();
    expect((await fs.getattr('/f')).size).toBe(3);
    const fh = await fs.open('/f', O_RDWR);
    // A remote change is reported: the next fstat refreshes the file, and its answer (size 3) is held.
    fs.invalidate(['/f']);
    const held = g.arm('getManifest');
    const early = fs.fgetattr(fh);
    await held.taken;
    // A local append + fsync lands meanwhile.
    const writing = (async () => {
      await fs.write(fh, Buffer.from(' and more'), 3);
      await fs.fsync(fh);
    })();
    await sleep(100);
    held.release();
    await Promise.all([early, writing]);
    // Through the open file (no relisting of the parent on this path):
    expect((await fs.fgetattr(fh)).size).toBe(12);
    expect((await fs.read(fh, 0, 100)).toString()).toBe('old and more');
    expect((await fs.getattr('/f')).size).toBe(12);
    await fs.release(fh);
    await fs.close();
  });
});
