// POSIX timestamp rules pjdfstest checks, on a real mount in both bindings: link, symlink and
// rmdir update the parent directory's mtime and ctime (as create, mkdir, unlink and rename did
// already), and unlinking one name of a hard-linked file updates the file's ctime as seen through
// its remaining name; the link count and bytes agree through every name of a hard-linked file.
// Mounts unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const bindings = ['fuse-native', ...(fs.existsSync(FUSE3_ADDON_PATH) ? ['fuse3'] : [])];
const tick = () => new Promise((r) => setTimeout(r, 30));

describe.skipIf(!hasFuse).each(bindings)('parent and link-count timestamps (%s)', (binding) => {
  let env: MountEnv;
  let m: MountProc;
  const p = (...xs: string[]) => path.join(m.mountpoint, ...xs);

  beforeAll(async () => {
    env = await createMountEnv();
    m = await env.mount(await env.createSession(), 'mnt', { binding });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  /** Run op and check that dir's mtime and ctime moved forward. */
  const bumps = async (dir: string, op: () => void) => {
    const before = fs.statSync(dir);
    await tick();
    op();
    const after = fs.statSync(dir);
    expect(after.mtimeMs).toBeGreaterThan(before.mtimeMs);
    expect(after.ctimeMs).toBeGreaterThan(before.ctimeMs);
  };

  it('link, symlink and rmdir update the parent mtime/ctime', async () => {
    fs.mkdirSync(p('a'));
    fs.mkdirSync(p('b'));
    fs.writeFileSync(p('a', 'f'), 'x');
    await bumps(p('b'), () => fs.linkSync(p('a', 'f'), p('b', 'g')));
    await bumps(p('b'), () => fs.symlinkSync('f', p('b', 's')));
    fs.mkdirSync(p('b', 'sub'));
    await bumps(p('b'), () => fs.rmdirSync(p('b', 'sub')));
  });

  it('unlinking one name of a hard link updates the ctime seen through the other', async () => {
    fs.writeFileSync(p('one'), 'data');
    fs.linkSync(p('one'), p('two'));
    const before = fs.statSync(p('one'));
    await tick();
    fs.unlinkSync(p('two'));
    const after = fs.statSync(p('one'));
    expect(after.nlink).toBe(1);
    expect(after.ctimeMs).toBeGreaterThan(before.ctimeMs);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('link count and bytes agree through every name of a hard link (link f g; link g h)', () => {
    fs.writeFileSync(p('f'), 'v1');
    fs.linkSync(p('f'), p('g'));
    for (const n of ['f', 'g']) expect(fs.lstatSync(p(n)).nlink).toBe(2);
    fs.linkSync(p('g'), p('h'));
    for (const n of ['f', 'g', 'h']) expect(fs.lstatSync(p(n)).nlink, n).toBe(3);
    fs.writeFileSync(p('h'), 'version two');
    for (const n of ['f', 'g', 'h']) {
      expect(fs.readFileSync(p(n), 'utf8'), n).toBe('version two');
      expect(fs.statSync(p(n)).size, n).toBe(11);
    }
    fs.unlinkSync(p('g'));
    for (const n of ['f', 'h']) expect(fs.lstatSync(p(n)).nlink, n).toBe(2);
  });
});
