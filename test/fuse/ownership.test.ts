// Ownership for the lifetime of a fuse3 mount (pjdfstest's largest group after allow_other): a
// file, directory or symlink belongs to the process that created it, chown/lchown change the
// owner seen by stat (also through another hard-link name), the kernel enforces the recorded
// owner (a file chowned away from nobody is no longer writable by it; nobody cannot chown), and a
// name created in a set-group-ID directory takes the directory's group (a new directory keeps the
// bit). Mounted as root with allow_other; unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function asNobody(script: string): { code: number | null; err: string } {
  const r = spawnSync('sh', ['-c', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  return { code: r.status, err: r.stderr ?? '' };
}

describe.skipIf(!hasFuse || !isRoot || !fs.existsSync(FUSE3_ADDON_PATH))('ownership (fuse3)', () => {
  let env: MountEnv;
  let m: MountProc;
  const p = (...xs: string[]) => path.join(m.mountpoint, ...xs);

  beforeAll(async () => {
    env = await createMountEnv();
    fs.chmodSync(env.root, 0o755);
    m = await env.mount(await env.createSession(), 'mnt', { binding: 'fuse3' });
    fs.mkdirSync(p('pub'));
    fs.chmodSync(p('pub'), 0o777);
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('new names belong to the creating process; root’s stay root’s', () => {
    const r = asNobody(`cd "${p('pub')}" && echo mine > f && mkdir d && ln -s f s && echo more >> f`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    for (const n of ['f', 'd']) expect([fs.statSync(p('pub', n)).uid, fs.statSync(p('pub', n)).gid], n).toEqual([NOBODY, NOBODY]);
    expect(fs.lstatSync(p('pub', 's')).uid).toBe(NOBODY);
    fs.writeFileSync(p('pub', 'rootfile'), 'r');
    expect(fs.statSync(p('pub', 'rootfile')).uid).toBe(0);
    expect(fs.readFileSync(p('pub', 'f'), 'utf8')).toBe('mine\nmore\n');
  });

  it('chown changes the owner (through every hard-link name) and the ctime; the kernel enforces it', async () => {
    fs.writeFileSync(p('pub', 'given'), 'x');
    fs.chmodSync(p('pub', 'given'), 0o644);
    fs.linkSync(p('pub', 'given'), p('pub', 'given2'));
    expect(asNobody(`echo no >> "${p('pub', 'given')}"`).code).not.toBe(0);
    const before = fs.statSync(p('pub', 'given'));
    await new Promise((r) => setTimeout(r, 20));
    fs.chownSync(p('pub', 'given'), NOBODY, 4321);
    expect(fs.statSync(p('pub', 'given')).ctimeMs).toBeGreaterThan(before.ctimeMs); // chown updates ctime
    expect(fs.statSync(p('pub', 'given')).mtimeMs).toBe(before.mtimeMs);
    expect([fs.statSync(p('pub', 'given')).uid, fs.statSync(p('pub', 'given')).gid]).toEqual([NOBODY, 4321]);
    expect(fs.statSync(p('pub', 'given2')).uid).toBe(NOBODY);
    expect(asNobody(`echo yes >> "${p('pub', 'given')}"`).code).toBe(0);
    fs.chownSync(p('pub', 'given'), 1000, -1 as unknown as number);
    expect([fs.statSync(p('pub', 'given')).uid, fs.statSync(p('pub', 'given')).gid]).toEqual([1000, 4321]);
    const w = asNobody(`echo again >> "${p('pub', 'given')}"`);
    expect(w.err).toMatch(/Permission denied/);
    const c = asNobody(`chown 65534 "${p('pub', 'given')}"`);
    expect(c.code).not.toBe(0);
    expect(c.err).toMatch(/Operation not permitted/);
    fs.lchownSync(p('pub', 's'), 0, 0);
    expect(fs.lstatSync(p('pub', 's')).uid).toBe(0);
    expect(fs.statSync(p('pub', 'f')).uid).toBe(NOBODY); // lchown did not follow the link
  });

  it('set-group-ID directory: new names take its group, new directories keep the bit', () => {
    fs.mkdirSync(p('sgid'));
    fs.chownSync(p('sgid'), 0, 1234);
    fs.chmodSync(p('sgid'), 0o2777);
    expect(fs.statSync(p('sgid')).mode & 0o7777).toBe(0o2777);
    const r = asNobody(`cd "${p('sgid')}" && touch file && mkdir sub`);
    expect(r.err).toBe('');
    expect([fs.statSync(p('sgid', 'file')).uid, fs.statSync(p('sgid', 'file')).gid]).toEqual([NOBODY, 1234]);
    expect(fs.statSync(p('sgid', 'sub')).gid).toBe(1234);
    expect(fs.statSync(p('sgid', 'sub')).mode & 0o2000).toBe(0o2000);
  });
});
