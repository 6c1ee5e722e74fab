// The gateway's data directory is private to its user whatever the umask and whatever an earlier
// run (or another tool) left behind: a real gateway on 127.0.0.1:0 started on a pre-existing,
// world-readable --data directory must leave nothing with a group/other permission bit, and what
// it creates afterwards (blobs, fan-out dirs, WAL) must be private too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway } from '../../../src/gateway/server.js';
import { privatizeTree } from '../../../src/gateway/data-dir.js';
import { callerFor, newSession } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

/** Every path under `root` (root included, symlinks skipped) whose mode grants group/other anything. */
function leaky(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (st.mode & 0o077) out.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n));
  };
  walk(root);
  return out;
}

describe('gateway data directory permissions', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let oldUmask: number;
  beforeEach(async () => {
    oldUmask = process.umask(0o022);
    ({ dir, cleanup } = await makeTempDir('aether-datadir-'));
  });
  afterEach(async () => {
    process.umask(oldUmask);
    await cleanup();
  });

  it('makes a pre-existing world-readable data dir private at start, and keeps new files private', async () => {
    // First run with the old, permissive layout: open everything up as an older version or a
    // careless `cp -r` would have left it.
    const first = await startGateway({ dataDir: dir, port: 0 });
    const call1 = callerFor(first);
    const sid = await newSession(call1);
    expect((await call1('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/a', content: Buffer.from('secret-a').toString('base64') } }] })).status).toBe(200);
    await first.close();
    fs.mkdirSync(path.join(dir, 'git', 'src_x.git', 'objects'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'git', 'src_x.git', 'config'), '[core]\n', { mode: 0o644 });
    fs.symlinkSync('/etc/hostname', path.join(dir, 'git', 'link'));
    const opened: string[] = [];
    const openUp = (p: string) => {
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) return;
      fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
      opened.push(p);
      if (st.isDirectory()) for (const n of fs.readdirSync(p)) openUp(path.join(p, n));
    };
    openUp(dir);
    expect(opened.length).toBeGreaterThan(8);
    expect(leaky(dir).length).toBe(opened.length);

    const gw = await startGateway({ dataDir: dir, port: 0 });
    try {
      expect(leaky(dir)).toEqual([]);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of ['gateway.db', 'admin-token', 'secret.key']) expect(fs.statSync(path.join(dir, f)).mode & 0o777, f).toBe(0o600);
      // The symlink's target was not touched.
      expect(fs.statSync('/etc/hostname').mode & 0o044).not.toBe(0);

      // New content (new blob fan-out directory, blob file, WAL growth) is created private too.
      const call = callerFor(gw);
      const sid2 = await newSession(call);
      for (let i = 0; i < 20; i++) {
        const r = await call('POST', `/v1/sessions/${sid2}/batch`, { operations: [{ write: { path: `/n${i}`, content: Buffer.from(`new-${i}-${Math.random()}`).toString('base64') } }] });
        expect(r.status).toBe(200);
      }
      expect(leaky(dir)).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('creates a fresh data dir private under a permissive umask', async () => {
    process.umask(0o000);
    const fresh = path.join(dir, 'nested', 'data');
    const gw = await startGateway({ dataDir: fresh, port: 0 });
    try {
      const call = callerFor(gw);
      const sid = await newSession(call);
      expect((await call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/f', content: Buffer.from('x').toString('base64') } }] })).status).toBe(200);
      expect(leaky(fresh)).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('privatizeTree reports how many entries it changed and leaves private ones alone', async () => {
    fs.mkdirSync(path.join(dir, 'd'), { mode: 0o777 });
    fs.chmodSync(path.join(dir, 'd'), 0o777);
    fs.writeFileSync(path.join(dir, 'd', 'f'), 'x');
    fs.chmodSync(path.join(dir, 'd', 'f'), 0o640);
    fs.writeFileSync(path.join(dir, 'ok'), 'x');
    fs.chmodSync(path.join(dir, 'ok'), 0o600);
    fs.chmodSync(dir, 0o700);
    expect(await privatizeTree(dir)).toBe(2);
    expect(fs.statSync(path.join(dir, 'd')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'd', 'f')).mode & 0o777).toBe(0o600);
    expect(await privatizeTree(dir)).toBe(0);
  });
});
