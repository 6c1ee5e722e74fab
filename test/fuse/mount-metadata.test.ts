// Metadata cost and read-only mounts: a burst of lookups in one directory is one listing,
// negative lookups in a directory this mount created never reach the gateway, `user.aether.sha256`
// exposes content hashes, and --read-only refuses writes with EROFS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { DIST, hasFuse } from '../helpers/processes.js';

const { controlCall } = await import(path.join(DIST, 'control', 'control-client.js'));

describe.skipIf(!hasFuse)('real mount: metadata cost and read-only mounts', () => {
  let env: MountEnv;
  let sid: string;
  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    const ops = [];
    for (let i = 0; i < 300; i++) ops.push({ write: { path: `/d/file${i}.txt`, content: Buffer.from(`content ${i}`).toString('base64') } });
    await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: ops });
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a burst of lookups in one directory costs one listing; negative lookups in a new directory cost none', async () => {
    const m = await env.mount(sid);
    const status = () => controlCall(m.record.socketPath, 'status');
    for (let i = 0; i < 300; i++) expect(fs.statSync(path.join(m.mountpoint, 'd', `file${i}.txt`)).size).toBe(`content ${i}`.length);
    const after = await status();
    expect(after.listings).toBe(2); // "/" and "/d"
    fs.mkdirSync(path.join(m.mountpoint, 'fresh'));
    for (let i = 0; i < 200; i++) expect(fs.existsSync(path.join(m.mountpoint, 'fresh', `missing${i}`))).toBe(false);
    expect((await status()).listings).toBe(2);
    expect((await status()).ops.getattr).toBeGreaterThan(0);
    const h = execSync(`python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.aether.sha256').decode())" ${path.join(m.mountpoint, 'd', 'file7.txt')}`).toString().trim();
    expect(h).toBe(sha('content 7'));
    await m.stop();
  });

  it('a read-only mount serves reads and refuses writes with EROFS', async () => {
    const m = await env.mount(sid, 'ro', { readOnly: true });
    expect(fs.readFileSync(path.join(m.mountpoint, 'd', 'file1.txt'), 'utf8')).toBe('content 1');
    const errs: string[] = [];
    for (const fn of [
      () => fs.writeFileSync(path.join(m.mountpoint, 'new.txt'), 'x'),
      () => fs.mkdirSync(path.join(m.mountpoint, 'nd')),
      () => fs.unlinkSync(path.join(m.mountpoint, 'd', 'file1.txt')),
      () => fs.renameSync(path.join(m.mountpoint, 'd'), path.join(m.mountpoint, 'e')),
    ]) {
      try {
        fn();
        errs.push('none');
      } catch (e) {
        errs.push((e as NodeJS.ErrnoException).code!);
      }
    }
    expect(errs).toEqual(['EROFS', 'EROFS', 'EROFS', 'EROFS']);
    expect(await env.node(sid, '/d/file1.txt')).toBeDefined();
    await m.stop();
  });
});
