// The core side of the remote-change race (issue 10, "tenth case"): a directory listing that left
// for the gateway before a remote write, and comes back after the watcher's invalidation, must not
// answer a getattr made after that invalidation (the kernel would cache the old size for its
// attribute lifetime while reads fetch the new bytes: "new" of "new content"). Real gateway on
// 127.0.0.1:0, HTTP client, memory CAS; the listing's answer is held back by a gate in a client
// wrapper, so the interleaving is exact, not timing-dependent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, newSession, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import type { GatewayClient } from '../../../src/client/gateway-client.js';
import { MemoryCas } from '../../../src/cas/memory-cas.js';
import { SessionFilesystem } from '../../../src/fs/session-fs.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A client whose next manifest listing is read from the gateway at once but delivered on release(). */
function gatedClient(real: GatewayClient) {
  let armed: { taken: () => void; gate: Promise<void> } | undefined;
  const client = new Proxy(real, {
    get(target, prop) {
      if (prop === 'iterateManifest' && armed) {
        const a = armed;
        armed = undefined;
        return (sessionId: string, opts: any) => {
          const snapshot = (async () => {
            const out: unknown[] = [];
            for await (const n of target.iterateManifest(sessionId, opts)) out.push(n);
            a.taken();
            return out;
          })();
          return (async function* () {
            const items = await snapshot;
            await a.gate;
            yield* items as any[];
          })();
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as GatewayClient;
  return {
    client,
    /** Hold the next listing; resolves `taken` once its (old) snapshot is read. */
    arm() {
      let release!: () => void;
      let taken!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const takenP = new Promise<void>((r) => (taken = r));
      armed = { taken, gate };
      return { release, taken: takenP };
    },
  };
}

describe('core: a listing older than an invalidation never answers after it', () => {
  let t: TestGateway;
  let dir: { dir: string; cleanup: () => Promise<void> };
  let real: HttpGatewayClient;

  beforeAll(async () => {
    t = await startTestGateway();
    dir = await makeTempDir('aether-race-');
    real = new HttpGatewayClient({ baseUrl: t.url, token: t.token });
  });
  afterAll(async () => {
    await real?.close();
    await t?.close();
    await dir?.cleanup();
  });

  it('getattr after the invalidation reports the new size; read returns the whole new content', async () => {
    const sid = await newSession(t.call);
    const w = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/cfg.txt', content: b64('old'), expectedHash: '' } }] });
    expect(w.status).toBe(200);
    const g = gatedClient(real);
    const fs = new SessionFilesystem({ client: g.client, cas: new MemoryCas(), sessionId: sid, sessionStateDir: dir.dir, mountKey: 'race' });
    await fs.init();
    expect((await fs.getattr('/cfg.txt')).size).toBe(3);

    // Something else changed in / : a relisting of / starts, and its snapshot is taken (old).
    const held = g.arm();
    fs.invalidate(['/other.txt']);
    const early = fs.getattr('/cfg.txt');
    await held.taken;

    // The remote write lands and the watcher reports it while that listing is still on its way.
    const cur = await t.call('GET', `/v1/sessions/${sid}/manifest?pathPrefix=%2Fcfg.txt&maxDepth=0`);
    const hash = cur.body.nodes.find((n: any) => n.path === '/cfg.txt').contentHash;
    const w2 = await t.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/cfg.txt', content: b64('new content'), expectedHash: hash } }] });
    expect(w2.status).toBe(200);
    fs.invalidate(['/cfg.txt']);
    // The kernel's next GETATTR comes after its own invalidation.
    const late = fs.getattr('/cfg.txt');
    held.release();
    expect((await early).size).toBeOneOf([3, 11]);
    expect((await late).size).toBe(11);
    const fh = await fs.open('/cfg.txt', 0);
    expect((await fs.read(fh, 0, 4096)).toString()).toBe('new content');
    await fs.release(fh);
  });
});
