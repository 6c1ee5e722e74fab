// allow_other + default_permissions on a real mount, in both bindings: when root mounts, another
// uid (nobody, 65534) can use the mount, and the kernel enforces modes and the sticky bit for it
// (EACCES in a 0700 directory and on a 0644 file of root's, EPERM removing root's file from a
// sticky 1777 directory, while its own work in a 0777 directory succeeds). A mount with
// allowOther=false refuses that uid everything. Every mount is unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Run a shell snippet as uid/gid 65534 (never inside the serving process: the daemon is separate). */
function asNobody(script: string): { code: number | null; err: string; out: string } {
  const r = spawnSync('sh', ['-c', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  return { code: r.status, err: r.stderr ?? '', out: r.stdout ?? '' };
}

const bindings = ['fuse-native', ...(fs.existsSync(FUSE3_ADDON_PATH) ? ['fuse3'] : [])];

describe.skipIf(!hasFuse || !isRoot).each(bindings)('allow_other with default_permissions (%s)', (binding) => {
  let env: MountEnv;
  let mnt: string;
  let closed: string;

  beforeAll(async () => {
    env = await createMountEnv();
    fs.chmodSync(env.root, 0o755); // nobody must reach the mountpoints
    const sid = await env.createSession();
    mnt = (await env.mount(sid, 'open', { binding })).mountpoint;
    closed = (await env.mount(await env.createSession(), 'closed', { binding, allowOther: false })).mountpoint;
    fs.mkdirSync(path.join(mnt, 'shared'));
    fs.chmodSync(path.join(mnt, 'shared'), 0o777);
    fs.mkdirSync(path.join(mnt, 'private'));
    fs.chmodSync(path.join(mnt, 'private'), 0o700);
    fs.writeFileSync(path.join(mnt, 'private', 'secret'), 'root only\n');
    fs.writeFileSync(path.join(mnt, 'rootfile'), 'read me\n');
    fs.chmodSync(path.join(mnt, 'rootfile'), 0o644);
    fs.mkdirSync(path.join(mnt, 'sticky'));
    fs.chmodSync(path.join(mnt, 'sticky'), 0o1777);
    fs.writeFileSync(path.join(mnt, 'sticky', 'roots'), 'x');
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('another uid can list, read world-readable files and work in a 0777 directory', () => {
    const r = asNobody(`ls "${mnt}" && cat "${mnt}/rootfile" && echo made > "${mnt}/shared/mine" && cat "${mnt}/shared/mine" && mkdir "${mnt}/shared/d" && rmdir "${mnt}/shared/d"`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('rootfile');
    expect(r.out).toContain('read me\nmade\n');
  });

  it('the kernel enforces modes: EACCES in a 0700 directory and writing a 0644 file of root', () => {
    const a = asNobody(`cat "${mnt}/private/secret"`);
    expect(a.code).not.toBe(0);
    expect(a.err).toMatch(/Permission denied/);
    const b = asNobody(`echo no >> "${mnt}/rootfile"`);
    expect(b.code).not.toBe(0);
    expect(b.err).toMatch(/Permission denied/);
    const c = asNobody(`touch "${mnt}/newfile"`); // the mount root is 0755 root
    expect(c.code).not.toBe(0);
    expect(c.err).toMatch(/Permission denied/);
    expect(fs.readFileSync(path.join(mnt, 'rootfile'), 'utf8')).toBe('read me\n');
    expect(fs.existsSync(path.join(mnt, 'newfile'))).toBe(false);
  });

  it('the sticky bit: another uid cannot remove or rename root’s file in a 1777 directory', () => {
    const r = asNobody(`rm -f "${mnt}/sticky/roots"`);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Operation not permitted/);
    const m = asNobody(`mv "${mnt}/sticky/roots" "${mnt}/sticky/moved"`);
    expect(m.code).not.toBe(0);
    expect(fs.readFileSync(path.join(mnt, 'sticky', 'roots'), 'utf8')).toBe('x');
  });

  it('without allow_other another uid is refused even on the mount root', () => {
    expect(fs.readdirSync(closed)).toEqual([]); // root (the mounter) is served
    const r = asNobody(`ls "${closed}"`);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Permission denied/);
  });
});
