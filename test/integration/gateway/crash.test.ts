// kill -9 of a real gateway process (dist build) on the same data dir (issues 9 and 15): during a
// stream of acknowledged batches, every acknowledged batch is there after a restart, no batch is
// partly visible, and a commit made afterwards is `git fsck`-clean; during GC, nothing live is lost.
import { afterEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { startGatewayProcess, type GatewayProc } from '../../helpers/processes.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { git, makeRemote } from '../../helpers/git-fixtures.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function caller(gw: { url: string; token: string }) {
  return async (method: string, p: string, body?: unknown) => {
    const res = await fetch(gw.url + p, {
      method,
      headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${p} → ${res.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : {};
  };
}

async function allNodes(call: ReturnType<typeof caller>, sid: string): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  let pageToken = '';
  for (let i = 0; i < 1000; i++) {
    const r = await call('GET', `/v1/sessions/${sid}/manifest?pageSize=1000&includeCasExtents=true${pageToken ? `&pageToken=${pageToken}` : ''}`);
    for (const n of r.nodes) out.set(n.path, n);
    pageToken = r.nextPageToken;
    if (!pageToken) break;
  }
  return out;
}

function killNow(gw: GatewayProc): Promise<void> {
  return new Promise((resolve) => {
    if (gw.child.exitCode !== null || gw.child.signalCode !== null) return resolve();
    gw.child.once('exit', () => resolve());
    gw.child.kill('SIGKILL');
  });
}

describe('gateway kill -9', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  });

  async function setup() {
    const tmp = await makeTempDir('aether-crash-');
    cleanups.push(tmp.cleanup);
    const data = path.join(tmp.dir, 'data');
    const start = async () => {
      const gw = await startGatewayProcess(data);
      cleanups.push(() => gw.stop());
      return gw;
    };
    return { start };
  }

  it('every acknowledged batch survives, no batch is partly visible, a later commit is fsck-clean', async () => {
    const { start } = await setup();
    const remote = await makeRemote({ 'README.md': 'hello\n', 'src/a.ts': 'export const a = 1;\n' });
    cleanups.push(remote.cleanup);
    let gw = await start();
    let call = caller(gw);
    const src = await call('POST', '/v1/sources', { displayName: 'crash', gitRemote: { remoteUrl: remote.url, defaultRef: 'main' } });
    expect(src.status).toBe('UNDERLAY_SOURCE_STATUS_READY');
    const { id: sid } = await call('POST', '/v1/sessions', { sourceRef: { sourceId: src.sourceId } });
    const acked: number[] = [];
    const PER = 20;
    let stop = false;
    // Four writers stream batches of PER files (some large enough to be file blobs).
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; !stop && i < 10_000; i++) {
        const n = w * 100_000 + i;
        const ops = Array.from({ length: PER }, (_, k) => ({
          write: { path: `/b${n}/f${k}`, content: b64(k === 0 ? `${n}`.repeat(30_000) : `batch ${n} file ${k}\n`) },
        }));
        try {
          await call('POST', `/v1/sessions/${sid}/batch`, { operations: ops });
          acked.push(n);
        } catch {
          return; // the gateway died under us: this batch is unacknowledged
        }
      }
    });
    const deadline = Date.now() + 20_000;
    while (acked.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await killNow(gw);
    stop = true;
    await Promise.all(writers);
    expect(acked.length).toBeGreaterThan(0);

    gw = await start();
    call = caller(gw);
    const nodes = await allNodes(call, sid);
    const byBatch = new Map<string, number>();
    for (const p of nodes.keys()) {
      const m = /^\/b(\d+)\/f\d+$/.exec(p);
      if (m) byBatch.set(m[1]!, (byBatch.get(m[1]!) ?? 0) + 1);
    }
    for (const n of acked) expect(byBatch.get(String(n)), `acknowledged batch ${n}`).toBe(PER);
    for (const [n, count] of byBatch) expect(count, `batch ${n} is all or nothing`).toBe(PER);
    // The bytes are readable, large (file) blobs included.
    const n0 = acked[acked.length - 1]!;
    const big = nodes.get(`/b${n0}/f0`);
    expect(big.sizeBytes).toBe(String(`${n0}`.length * 30_000));
    for (const x of big.casExtents) {
      const res = await fetch(`${gw.url}/v1/sessions/${sid}/blobs/${x.hash}`, { headers: { authorization: `Bearer ${gw.token}` } });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(Number(x.length));
    }
    // A commit of everything that survived is a real, fsck-clean git commit holding every batch.
    const c = await call('POST', `/v1/sessions/${sid}/commit`, { message: 'after the crash', gitBranch: { branchName: 'after-crash' } });
    expect(c.commitId).toMatch(/^[0-9a-f]{40}$/);
    await git(remote.bare, 'fsck', '--full', '--strict');
    // …and so is the gateway's own mirror of the source, which the commit was built in.
    await git(path.join(gw.dataDir, 'git', `${src.sourceId}.git`), 'fsck', '--full');
    const files = (await git(remote.bare, 'ls-tree', '-r', '--name-only', c.commitId)).trim().split('\n');
    for (const n of acked) expect(files.filter((f) => f.startsWith(`b${n}/`)).length, `batch ${n} in the commit`).toBe(PER);
    expect(files).toContain('README.md');
  });

  it('kill -9 during GC loses nothing live', async () => {
    const { start } = await setup();
    let gw = await start();
    let call = caller(gw);
    const keep: string[] = [];
    const drop: string[] = [];
    for (let s = 0; s < 4; s++) {
      const { id } = await call('POST', '/v1/sessions', {});
      (s % 2 ? drop : keep).push(id);
      for (let b = 0; b < 3; b++) {
        const ops = Array.from({ length: 100 }, (_, k) => ({ write: { path: `/d${b}/f${k}`, content: b64(`${id} ${b} ${k} `.repeat(k === 0 ? 8000 : 3)) } }));
        await call('POST', `/v1/sessions/${id}/batch`, { operations: ops });
      }
    }
    const before = new Map<string, Map<string, any>>();
    for (const id of keep) before.set(id, await allNodes(call, id));
    for (const id of drop) await call('DELETE', `/v1/sessions/${id}`);
    // Start a GC that removes everything unreachable now, and kill the gateway while it runs.
    const gc = call('POST', '/v1/admin/gc', { graceSeconds: '0' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    await killNow(gw);
    await gc;

    gw = await start();
    call = caller(gw);
    for (const id of keep) {
      const nodes = await allNodes(call, id);
      expect([...nodes.keys()].sort()).toEqual([...before.get(id)!.keys()].sort());
      let i = 0;
      for (const [p, n] of nodes) {
        if (n.fileType !== 'VFS_FILE_TYPE_FILE' || i++ % 7 !== 0) continue;
        for (const x of n.casExtents) {
          const res = await fetch(`${gw.url}/v1/sessions/${id}/blobs/${x.hash}`, { headers: { authorization: `Bearer ${gw.token}` } });
          expect(res.status, p).toBe(200);
          await res.arrayBuffer();
        }
      }
    }
    for (const id of drop) await expect(call('GET', `/v1/sessions/${id}`)).rejects.toThrow(/404/);
    // A full GC after the restart completes and still keeps every live byte.
    const r = await call('POST', '/v1/admin/gc', { graceSeconds: '0' });
    expect(Number(r.liveBlobs)).toBeGreaterThan(0);
    for (const id of keep) expect((await allNodes(call, id)).size).toBe(before.get(id)!.size);
  });
});
