// Both FUSE bindings on real mounts: the same basic scenarios run with AETHER_FUSE_BINDING=fuse3
// (our libfuse3 addon) and =fuse-native (FUSE 2), then fuse3's kernel caching is measured: an
// unchanged file is read from the page cache (the daemon's `read` counter does not move), a change
// through the HTTP API is visible right after its invalidation arrives, and unchanged files keep
// their cache through it. Every mount is unmounted in teardown, also on failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, execSync } from 'node:child_process';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { controlCall } from '../../src/control/control-client.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const hasFuse3 = hasFuse && fs.existsSync(FUSE3_ADDON_PATH);

interface Status {
  binding: string;
  kernelLocks: boolean;
  ops: Record<string, number>;
  remoteInvalidations: number;
}
const status = (m: MountProc) => controlCall<Status>(m.record.socketPath, 'status', {}, 10_000);

/** Mount with a given binding (the daemon reads AETHER_FUSE_BINDING from its environment). */
async function mountWith(env: MountEnv, sid: string, name: string, binding: string): Promise<MountProc> {
  const prev = process.env.AETHER_FUSE_BINDING;
  process.env.AETHER_FUSE_BINDING = binding;
  try {
    return await env.mount(sid, name);
  } finally {
    if (prev === undefined) delete process.env.AETHER_FUSE_BINDING;
    else process.env.AETHER_FUSE_BINDING = prev;
  }
}

async function until<T>(fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  let v = await fn();
  while (!ok(v) && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 20));
    v = await fn();
  }
  return v;
}

const pyXattr = (op: string) => execFileSync('python3', ['-c', op]).toString().trim();

for (const binding of ['fuse3', 'fuse-native'] as const) {
  describe.skipIf(binding === 'fuse3' ? !hasFuse3 : !hasFuse)(`real mount, ${binding} binding: basic operations`, () => {
    let env: MountEnv;
    let sid: string;
    let m: MountProc;
    let dir: string;
    beforeAll(async () => {
      env = await createMountEnv();
      sid = await env.createSession({ test: `basic-${binding}` });
      m = await mountWith(env, sid, 'mnt', binding);
      dir = m.mountpoint;
    });
    afterAll(async () => {
      await env?.teardown();
    });

    it('runs on the requested binding', async () => {
      const s = await status(m);
      expect(s.binding).toBe(binding === 'fuse3' ? 'aether-fuse3' : 'fuse-native');
      expect(s.kernelLocks).toBe(binding === 'fuse3');
    });

    it('writes, reads, lists, renames and deletes', async () => {
      fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello world\n');
      expect(fs.readFileSync(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello world\n');
      expect((await env.node(sid, '/hello.txt')).contentHash).toBe(sha('hello world\n'));
      fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'a/b/c/f.txt'), 'x');
      expect(fs.readdirSync(path.join(dir, 'a/b')).sort()).toEqual(['c']);
      fs.renameSync(path.join(dir, 'a'), path.join(dir, 'z'));
      expect(fs.readFileSync(path.join(dir, 'z/b/c/f.txt'), 'utf8')).toBe('x');
      expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
      expect((await env.node(sid, '/z/b/c/f.txt')).contentHash).toBe(sha('x'));
      fs.rmSync(path.join(dir, 'z'), { recursive: true });
      expect(fs.existsSync(path.join(dir, 'z'))).toBe(false);
      expect(await env.node(sid, '/z')).toBeUndefined();
    });

    it('handles the editor save pattern, sed -i, symlinks, hard links, chmod and truncate', async () => {
      const f = path.join(dir, 'conf.ini');
      fs.writeFileSync(f, 'a=1\nb=2\n');
      fs.writeFileSync(f + '.tmp', 'a=1\nb=3\n');
      fs.renameSync(f + '.tmp', f);
      expect(fs.readFileSync(f, 'utf8')).toBe('a=1\nb=3\n');
      execSync(`sed -i 's/b=3/b=4/' ${JSON.stringify(f)}`);
      expect(fs.readFileSync(f, 'utf8')).toBe('a=1\nb=4\n');
      expect((await env.bytes(sid, '/conf.ini')).toString()).toBe('a=1\nb=4\n');

      fs.symlinkSync('conf.ini', path.join(dir, 'link'));
      expect(fs.readlinkSync(path.join(dir, 'link'))).toBe('conf.ini');
      expect(fs.readFileSync(path.join(dir, 'link'), 'utf8')).toBe('a=1\nb=4\n');

      fs.writeFileSync(path.join(dir, 'orig.txt'), 'shared');
      fs.linkSync(path.join(dir, 'orig.txt'), path.join(dir, 'hard.txt'));
      expect(fs.statSync(path.join(dir, 'orig.txt')).nlink).toBe(2);
      expect(fs.statSync(path.join(dir, 'hard.txt')).ino).toBe(fs.statSync(path.join(dir, 'orig.txt')).ino);
      fs.appendFileSync(path.join(dir, 'hard.txt'), ' + more');
      expect(fs.readFileSync(path.join(dir, 'orig.txt'), 'utf8')).toBe('shared + more');
      expect(fs.statSync(path.join(dir, 'orig.txt')).size).toBe(13);

      fs.chmodSync(f, 0o755);
      expect(fs.statSync(f).mode & 0o777).toBe(0o755);
      expect((await env.node(sid, '/conf.ini')).mode & 0o777).toBe(0o755);
      fs.truncateSync(f, 3);
      expect(fs.readFileSync(f, 'utf8')).toBe('a=1');
      expect(fs.statSync(f).size).toBe(3);
      expect((await env.bytes(sid, '/conf.ini')).toString()).toBe('a=1');
    });

    it('supports xattrs (size-query protocol), O_EXCL, append and sparse writes', async () => {
      const f = path.join(dir, 'x.txt');
      fs.writeFileSync(f, 'data');
      pyXattr(`import os; os.setxattr(${JSON.stringify(f)}, 'user.review', b'ok')`);
      expect(pyXattr(`import os; print(os.getxattr(${JSON.stringify(f)}, 'user.review').decode())`)).toBe('ok');
      expect(pyXattr(`import os; print(sorted(os.listxattr(${JSON.stringify(f)})))`)).toContain('user.review');
      expect(pyXattr(`import os; print(os.getxattr(${JSON.stringify(f)}, 'user.aether.sha256').decode())`)).toBe(sha('data'));
      // fuse-native ignores the setxattr flags (XATTR_CREATE/XATTR_REPLACE); fuse3 honours them.
      if (binding === 'fuse3') expect(pyXattr(`import os\ntry:\n  os.setxattr(${JSON.stringify(f)}, 'user.review', b'x', os.XATTR_CREATE)\n  print('set')\nexcept FileExistsError:\n  print('EEXIST')`)).toBe('EEXIST');
      pyXattr(`import os; os.removexattr(${JSON.stringify(f)}, 'user.review')`);
      expect(pyXattr(`import os; print('user.review' in os.listxattr(${JSON.stringify(f)}))`)).toBe('False');

      expect(() => fs.openSync(f, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY)).toThrow(/EEXIST/);
      const fd = fs.openSync(f, 'a');
      fs.writeSync(fd, '+tail');
      fs.closeSync(fd);
      expect(fs.readFileSync(f, 'utf8')).toBe('data+tail');

      const s = path.join(dir, 'sparse.bin');
      const sfd = fs.openSync(s, 'w');
      fs.writeSync(sfd, Buffer.from('end'), 0, 3, 3 * 1024 * 1024);
      fs.closeSync(sfd);
      const got = fs.readFileSync(s);
      expect(got.length).toBe(3 * 1024 * 1024 + 3);
      expect(got.subarray(0, 3 * 1024 * 1024).every((b) => b === 0)).toBe(true);
      expect((await env.bytes(sid, '/sparse.bin')).subarray(-3).toString()).toBe('end');
    });

    it('writes a 32 MiB file in large requests and reads it back', async () => {
      const big = Buffer.alloc(32 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
      const before = (await status(m)).ops.write ?? 0;
      fs.writeFileSync(path.join(dir, 'big.bin'), big);
      const writes = ((await status(m)).ops.write ?? 0) - before;
      // fuse3 takes 1 MiB writes, fuse-native 128 KiB.
      expect(writes).toBeLessThanOrEqual(binding === 'fuse3' ? 40 : 300);
      expect(sha(fs.readFileSync(path.join(dir, 'big.bin')))).toBe(sha(big));
      expect((await env.node(sid, '/big.bin')).contentHash).toBe(sha(big));
    });
  });
}

describe.skipIf(!hasFuse3)('real mount, fuse3 binding: kernel cache and exact invalidation', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let dir: string;
  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession({ test: 'fuse3-cache' });
    m = await mountWith(env, sid, 'mnt', 'fuse3');
    dir = m.mountpoint;
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('serves repeated reads of an unchanged file from the page cache', async () => {
    const f = path.join(dir, 'stable.bin');
    const content = Buffer.alloc(2 * 1024 * 1024, 7);
    fs.writeFileSync(f, content);
    expect(fs.readFileSync(f).equals(content)).toBe(true);
    const reads0 = (await status(m)).ops.read ?? 0;
    for (let i = 0; i < 20; i++) expect(fs.readFileSync(f).equals(content)).toBe(true);
    const reads1 = (await status(m)).ops.read ?? 0;
    expect(reads1 - reads0).toBe(0);
  });

  it('shows a change made through the HTTP API as soon as its invalidation arrives, and keeps other files cached', async () => {
    const cfg = path.join(dir, 'cfg.txt');
    const stable = path.join(dir, 'stable.bin');
    fs.writeFileSync(cfg, 'old');
    expect(fs.readFileSync(cfg, 'utf8')).toBe('old');
    expect(fs.readFileSync(cfg, 'utf8')).toBe('old');
    fs.readFileSync(stable);
    const s0 = await status(m);
    await env.call('POST', `/v1/sessions/${sid}/batch`, {
      operations: [{ write: { path: '/cfg.txt', content: Buffer.from('new content').toString('base64'), expectedHash: sha('old') } }],
    });
    // Wait for the daemon to receive the event and drop the kernel's cache for it…
    const s1 = await until(() => status(m), (s) => (s.ops.invalidated ?? 0) > (s0.ops.invalidated ?? 0));
    expect(s1.ops.invalidated ?? 0).toBeGreaterThan(s0.ops.invalidated ?? 0);
    // …then the very next read (and stat) shows the new bytes: no polling.
    expect(fs.statSync(cfg).size).toBe('new content'.length);
    expect(fs.readFileSync(cfg, 'utf8')).toBe('new content');
    // The unchanged file was not touched by that invalidation: still no reads reach the daemon.
    const r0 = (await status(m)).ops.read ?? 0;
    for (let i = 0; i < 10; i++) fs.readFileSync(stable);
    expect(((await status(m)).ops.read ?? 0) - r0).toBe(0);
  });

  it('drops a name deleted or renamed through the API, and the name can be created again at once', async () => {
    const f = path.join(dir, 'gone.txt');
    fs.writeFileSync(f, 'v1');
    expect(fs.statSync(f).size).toBe(2); // the kernel now caches this name for 60 s
    const s0 = await status(m);
    await env.call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent('/gone.txt')}`);
    await until(() => status(m), (s) => (s.ops.invalidations ?? 0) > (s0.ops.invalidations ?? 0));
    expect(fs.existsSync(f)).toBe(false);
    expect(fs.readdirSync(dir)).not.toContain('gone.txt');
    fs.writeFileSync(f, 'v2'); // O_CREAT over the stale name: the kernel revalidates (ESTALE) and creates
    expect(fs.readFileSync(f, 'utf8')).toBe('v2');
    expect((await env.node(sid, '/gone.txt')).contentHash).toBe(sha('v2'));

    const g = path.join(dir, 'moved-away.txt');
    fs.writeFileSync(g, 'payload');
    expect(fs.readFileSync(g, 'utf8')).toBe('payload');
    const s1 = await status(m);
    await env.call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: '/moved-away.txt', destinationPath: '/moved-here.txt' });
    await until(() => status(m), (s) => (s.ops.invalidations ?? 0) > (s1.ops.invalidations ?? 0));
    expect(fs.existsSync(g)).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'moved-here.txt'), 'utf8')).toBe('payload');
    fs.mkdirSync(path.join(dir, 'moved-away.txt')); // mkdir over the stale name revalidates too
    expect(fs.statSync(path.join(dir, 'moved-away.txt')).isDirectory()).toBe(true);

    // rename(2) onto a name another client removed.
    const t = path.join(dir, 'target.txt');
    fs.writeFileSync(t, 'old target');
    expect(fs.readFileSync(t, 'utf8')).toBe('old target');
    const s2 = await status(m);
    await env.call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent('/target.txt')}`);
    await until(() => status(m), (s) => (s.ops.invalidations ?? 0) > (s2.ops.invalidations ?? 0));
    fs.writeFileSync(path.join(dir, 'incoming.txt'), 'new target');
    fs.renameSync(path.join(dir, 'incoming.txt'), t);
    expect(fs.readFileSync(t, 'utf8')).toBe('new target');
    expect((await env.node(sid, '/target.txt')).contentHash).toBe(sha('new target'));
  });

  it('a name another client replaced with a directory resolves to the directory', async () => {
    const p = path.join(dir, 'shape');
    fs.writeFileSync(p, 'file');
    expect(fs.statSync(p).isFile()).toBe(true);
    const s0 = await status(m);
    await env.call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent('/shape')}`);
    await until(() => status(m), (s) => (s.ops.invalidations ?? 0) > (s0.ops.invalidations ?? 0));
    const s1 = await status(m);
    await env.call('POST', `/v1/sessions/${sid}/dirs`, { path: '/shape' });
    await until(() => status(m), (s) => (s.ops.invalidations ?? 0) > (s1.ops.invalidations ?? 0));
    let first: string;
    try {
      first = fs.statSync(p).isDirectory() ? 'dir' : 'file';
    } catch (e) {
      first = (e as NodeJS.ErrnoException).code ?? 'error';
    }
    expect(['dir', 'EIO', 'ENOENT']).toContain(first);
    expect(await until(() => { try { return fs.statSync(p).isDirectory(); } catch { return false; } }, (v) => v, 3000)).toBe(true);
  });

  it('a second mount sees writes after their invalidation, and rereads cost no daemon reads', async () => {
    const b = await mountWith(env, sid, 'second', 'fuse3');
    const fa = path.join(dir, 'shared.txt');
    const fb = path.join(b.mountpoint, 'shared.txt');
    fs.writeFileSync(fa, 'A1');
    expect(await until(() => (fs.existsSync(fb) ? fs.readFileSync(fb, 'utf8') : ''), (v) => v === 'A1')).toBe('A1');
    const rb0 = (await status(b)).ops.read ?? 0;
    for (let i = 0; i < 5; i++) expect(fs.readFileSync(fb, 'utf8')).toBe('A1');
    expect(((await status(b)).ops.read ?? 0) - rb0).toBe(0);
    const s0 = await status(b);
    fs.writeFileSync(fa, 'A2 longer');
    await until(() => status(b), (s) => (s.ops.invalidated ?? 0) > (s0.ops.invalidated ?? 0));
    expect(fs.readFileSync(fb, 'utf8')).toBe('A2 longer');
    await b.stop();
  });
});
