// Garbage collection against real gateways (issue 15): storage after deleting sessions comes back
// to what a fresh gateway holding only the survivors uses (on disk: database file + blob files);
// per-tenant live vs reclaimable bytes; reader leases keep what a reader was handed even with
// `graceSeconds: 0`; an old database without incremental vacuum is converted by `vacuum`; the git
// mirrors' garbage (dry runs, deleted sessions' refs) goes, and everything a ref reaches stays.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { startGateway } from '../../../src/gateway/server.js';
import { callerFor, newSession, startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { git, makeRemote } from '../../helpers/git-fixtures.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

function dirBytes(dir: string): number {
  let total = 0;
  const stack = [dir];
  for (let guard = 0; stack.length && guard < 100_000; guard++) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  }
  return total;
}

/** Bytes on disk of a gateway's storage: database file (WAL checkpointed) + blob files. */
function onDisk(tg: TestGateway): number {
  tg.gw.core.db.pragma('wal_checkpoint(TRUNCATE)');
  const dbFile = fs.statSync(path.join(tg.dataDir, 'gateway.db')).size;
  const blobs = fs.existsSync(path.join(tg.dataDir, 'blobs')) ? dirBytes(path.join(tg.dataDir, 'blobs')) : 0;
  return dbFile + blobs;
}

async function ok(tg: { call: TestGateway['call'] }, method: string, p: string, body?: unknown) {
  const r = await tg.call(method, p, body);
  if (r.status !== 200) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Three directories of 300 files (every 50th over 64 KiB: a file blob), then 60 rewrites. */
async function fill(tg: TestGateway, sid: string, tag: string) {
  for (let b = 0; b < 3; b++) {
    const ops = Array.from({ length: 300 }, (_, k) => ({ write: { path: `/${tag}/d${b}/f${k}`, content: b64(`${tag} ${b} ${k}\n`.repeat(k % 50 === 0 ? 5000 : 4)) } }));
    await ok(tg, 'POST', `/v1/sessions/${sid}/batch`, { operations: ops });
  }
  for (let i = 0; i < 60; i++) await ok(tg, 'POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/${tag}/d0/f${i}`, content: b64(`${tag} rewrite ${i}\n`) } }] });
  await ok(tg, 'POST', `/v1/sessions/${sid}/checkpoints`, { label: `cp-${tag}` });
}

describe('garbage collection (issue 15)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  });
  const gateway = async () => {
    const tg = await startTestGateway({ gcIntervalMs: 0 });
    cleanups.push(() => tg.close());
    return tg;
  };

  it('after deleting sessions and GC, storage on disk is within 10% of a fresh gateway holding the survivors', async () => {
    const t = await gateway();
    const live = await newSession(t.call);
    await fill(t, live, 'keep');
    for (let i = 0; i < 3; i++) {
      const sid = await newSession(t.call);
      await fill(t, sid, `gone${i}`);
      await ok(t, 'DELETE', `/v1/sessions/${sid}`);
    }
    const before = onDisk(t);
    const r = await ok(t, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    expect(Number(r.purgedSessions)).toBe(3);
    const fresh = await gateway();
    await fill(fresh, await newSession(fresh.call), 'keep');
    await ok(fresh, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    const a = onDisk(t);
    const b = onDisk(fresh);
    expect(a).toBeLessThan(before / 2); // three of four sessions' storage went back to the filesystem
    expect(Math.abs(a - b) / b).toBeLessThan(0.1);
    const st = await ok(t, 'GET', '/v1/admin/storage');
    expect(Number(st.reclaimableBytes)).toBe(0);
    expect(st.autoVacuum).toBe('incremental');
    expect(Number(st.databaseFreeBytes)).toBe(0);
    // The survivor reads as before, checkpoint included.
    const m = await ok(t, 'GET', `/v1/sessions/${live}/manifest?pathPrefix=%2Fkeep%2Fd1&pageSize=1000`);
    expect(m.nodes.length).toBe(301);
    expect((await t.call('POST', `/v1/sessions/${live}/restore`, { label: 'cp-keep' })).status).toBe(200);
  });

  it('per tenant: /v1/metrics/cas and the storage report show live vs reclaimable bytes', async () => {
    const t = await gateway();
    const acme = await t.tokenFor('acme');
    const asAcme = (m: string, p: string, body?: unknown) => t.call(m, p, body, acme);
    const sid = (await asAcme('POST', '/v1/sessions', {})).body.id as string;
    const big = Buffer.alloc(100_000, 7); // one file blob of exactly 100,000 bytes
    expect((await asAcme('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/big', content: b64(big) } }] })).status).toBe(200);
    const metrics = async () => (await asAcme('GET', '/v1/metrics/cas')).body;
    const m1 = await metrics();
    expect(m1.liveBytes).toBe('100000');
    expect(m1.reclaimableBytes).toBe('0');
    // Replacing the file makes the old blob reclaimable for this tenant.
    expect((await asAcme('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/big', content: b64('small now') } }] })).status).toBe(200);
    let m2 = await metrics();
    for (let i = 0; i < 40 && m2.reclaimableBytes !== '100000'; i++) {
      await new Promise((r) => setTimeout(r, 100)); // figures are at most a second stale while writes go on
      m2 = await metrics();
    }
    expect(m2.reclaimableBytes).toBe('100000');
    expect(m2.liveBytes).toBe('9');
    // The default tenant sees nothing of acme's in its own figures, and acme's in the admin report.
    expect((await ok(t, 'GET', '/v1/metrics/cas')).liveBytes).toBe('0');
    const st = await ok(t, 'GET', '/v1/admin/storage');
    const row = st.tenants.find((x: any) => x.tenantName === 'acme');
    expect(row).toMatchObject({ liveBlobBytes: '9', reclaimableBlobBytes: '100000' });
    // After GC (no grace) it is gone.
    await ok(t, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    let m3 = await metrics();
    for (let i = 0; i < 40 && m3.reclaimableBytes !== '0'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      m3 = await metrics();
    }
    expect(m3).toMatchObject({ liveBytes: '9', reclaimableBytes: '0' });
  });

  it('a reader lease keeps a replaced version a reader was handed, even with graceSeconds 0', async () => {
    const t = await gateway();
    const sid = await newSession(t.call);
    const v = (n: number) => `version ${n} `.repeat(10_000);
    await ok(t, 'POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f', content: b64(v(0)) } }] });
    // A reader takes the extents of v0 …
    const held = (await ok(t, 'POST', `/v1/sessions/${sid}:getCasExtents`, { path: '/f' })).extents;
    // … v1 and v2 replace it; nobody was handed v1's extents.
    await ok(t, 'POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f', content: b64(v(1)) } }] });
    await ok(t, 'POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f', content: b64(v(2)) } }] });
    const r = await ok(t, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    expect(Number(r.removedBlobs)).toBe(1); // v1 only
    const parts: Buffer[] = [];
    for (const x of held) {
      const res = await fetch(`${t.url}/v1/sessions/${sid}/blobs/${x.hash}`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(res.status).toBe(200);
      parts.push(Buffer.from(await res.arrayBuffer()));
    }
    expect(Buffer.concat(parts).toString()).toBe(v(0));
  });

  it('converts an old database (no auto_vacuum) with vacuum: true, then frees pages incrementally', async () => {
    const { dir, cleanup } = await makeTempDir('aether-vacuum-');
    cleanups.push(cleanup);
    // An "old" database: created, then switched to auto_vacuum=NONE as pre-v3 gateways made them.
    let gw = await startGateway({ dataDir: dir, port: 0, gcIntervalMs: 0 });
    await gw.close();
    const raw = new Database(path.join(dir, 'gateway.db'));
    raw.pragma('auto_vacuum = NONE');
    raw.exec('VACUUM');
    expect(raw.pragma('auto_vacuum', { simple: true })).toBe(0);
    raw.close();
    gw = await startGateway({ dataDir: dir, port: 0, gcIntervalMs: 0 });
    cleanups.push(() => gw.close());
    const call = callerFor(gw);
    const tg = { call };
    const fillOne = async () => {
      const sid = await newSession(call);
      const ops = Array.from({ length: 400 }, (_, k) => ({ write: { path: `/d/f${k}`, content: b64(`${sid} ${k} `.repeat(200)) } }));
      await ok(tg, 'POST', `/v1/sessions/${sid}/batch`, { operations: ops });
      return sid;
    };
    const sids = [await fillOne(), await fillOne(), await fillOne()];
    for (const sid of sids) await ok(tg, 'DELETE', `/v1/sessions/${sid}`);
    const r1 = await ok(tg, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    expect(r1.vacuumed).toBe(false);
    const st1 = await ok(tg, 'GET', '/v1/admin/storage');
    expect(st1.autoVacuum).toBe('none');
    expect(Number(st1.databaseFreeBytes)).toBeGreaterThan(500_000); // freed, but kept by the file
    const r2 = await ok(tg, 'POST', '/v1/admin/gc', { graceSeconds: '0', vacuum: true });
    expect(r2.vacuumed).toBe(true);
    expect(Number(r2.databaseBytesAfter)).toBeLessThan(Number(r2.databaseBytesBefore) - 500_000);
    const st2 = await ok(tg, 'GET', '/v1/admin/storage');
    expect(st2.autoVacuum).toBe('incremental');
    // From now on an ordinary GC gives pages back.
    const again = await fillOne();
    await ok(tg, 'DELETE', `/v1/sessions/${again}`);
    const r3 = await ok(tg, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    expect(r3.vacuumed).toBe(false);
    expect(Number((await ok(tg, 'GET', '/v1/admin/storage')).databaseFreeBytes)).toBe(0);
    expect(Number(r3.databaseBytesAfter)).toBeLessThan(Number(r3.databaseBytesBefore));
  });

  it("git mirrors: dry runs' objects and deleted sessions' refs go; refs, revisions and pushed commits stay, fsck-clean", async () => {
    const t = await gateway();
    const remote = await makeRemote({ 'README.md': 'hello\n', 'src/a.ts': 'export const a = 1;\n' });
    cleanups.push(remote.cleanup);
    const src = await ok(t, 'POST', '/v1/sources', { displayName: 'm', gitRemote: { remoteUrl: remote.url, defaultRef: 'main' } });
    const mirror = path.join(t.dataDir, 'git', `${src.sourceId}.git`);
    const revCommit = (await git(remote.bare, 'rev-parse', 'main')).trim();
    const mk = async () => (await ok(t, 'POST', '/v1/sessions', { sourceRef: { sourceId: src.sourceId } })).id as string;
    const keep = await mk();
    const gone = await mk();
    for (const [sid, tag] of [[keep, 'keep'], [gone, 'gone']] as const) {
      const ops = Array.from({ length: 50 }, (_, k) => ({ write: { path: `/${tag}/f${k}`, content: b64(`${tag} ${k} `.repeat(2000)) } }));
      await ok(t, 'POST', `/v1/sessions/${sid}/batch`, { operations: ops });
      await ok(t, 'POST', `/v1/sessions/${sid}/commit`, { message: tag, gitBranch: { branchName: `b-${tag}` } });
    }
    // Dry runs and diffs write commits the mirror then drops: garbage.
    for (let i = 0; i < 5; i++) {
      await ok(t, 'POST', `/v1/sessions/${keep}/batch`, { operations: [{ write: { path: `/dry${i}`, content: b64(`dry ${i} `.repeat(5000)) } }] });
      await ok(t, 'POST', `/v1/sessions/${keep}/commit`, { message: 'dry', gitBranch: { branchName: 'b-keep' }, dryRun: true });
    }
    const keepHead = (await git(mirror, 'rev-parse', `refs/aether/sessions/${keep}/heads/b-keep`)).trim();
    await ok(t, 'DELETE', `/v1/sessions/${gone}`);
    const dry = await ok(t, 'POST', '/v1/admin/gc', { graceSeconds: '0', dryRun: true });
    expect(dry.mirrors).toHaveLength(1);
    expect(dry.mirrors[0]).toMatchObject({ sourceId: src.sourceId, ran: false, droppedRefs: '1' });
    const r = await ok(t, 'POST', '/v1/admin/gc', { graceSeconds: '0' });
    const m = r.mirrors[0];
    expect(m.ran).toBe(true);
    expect(Number(m.bytesAfter)).toBeLessThan(Number(m.bytesBefore));
    expect(Number(m.pinnedRevisions)).toBeGreaterThanOrEqual(1);
    await git(mirror, 'fsck', '--full', '--no-dangling');
    const refs = await git(mirror, 'for-each-ref', '--format=%(refname) %(objectname)');
    expect(refs).not.toContain(`refs/aether/sessions/${gone}/`);
    expect(refs).toContain(`refs/aether/sessions/${keep}/heads/b-keep ${keepHead}`);
    expect(refs).toMatch(new RegExp(`refs/aether/revisions/\\S+ ${revCommit}`));
    // No unreachable objects are left (the dry runs' commits and trees are gone).
    const unreachable = (await git(mirror, 'fsck', '--unreachable', '--no-reflogs')).trim();
    expect(unreachable).toBe('');
    // The live session still commits on top of its head.
    const c = await ok(t, 'POST', `/v1/sessions/${keep}/commit`, { message: 'after gc', gitBranch: { branchName: 'b-keep' } });
    expect(c.parentId).toBe(keepHead);
    await git(remote.bare, 'fsck', '--full', '--strict');
  });
});
