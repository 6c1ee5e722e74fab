// A tour of everyday tools on a real mount, then unmount → check the gateway over HTTP → remount
// → verify everything is still there, and that rereading costs no blob downloads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';

function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(p, r);
      } else out[r] = `file:${(st.mode & 0o777).toString(8)}:${st.size}:${sha(fs.readFileSync(p))}`;
    }
  };
  walk(dir, '');
  return out;
}

describe.skipIf(!hasFuse)('real mount: round trip through the gateway', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let dir: string;
  const big = randomBytes(100 * 1024 * 1024);
  let before: Record<string, string>;

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    m = await env.mount(sid);
    dir = m.mountpoint;
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('supports cp -r, mv of directories, rm -r, hard links, xattrs, chmod +x, sparse files and a 100 MiB file', async () => {
    const src = path.join(env.root, 'src-tree');
    for (let i = 0; i < 40; i++) {
      fs.mkdirSync(path.join(src, `d${i % 5}`, `sub${i % 3}`), { recursive: true });
      fs.writeFileSync(path.join(src, `d${i % 5}`, `sub${i % 3}`, `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
    }
    execSync(`cp -r ${src} ${dir}/tree`);
    execSync(`mv ${dir}/tree/d0 ${dir}/tree/moved`);
    execSync(`rm -r ${dir}/tree/d1`);
    expect(fs.existsSync(path.join(dir, 'tree/d1'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'tree/moved/sub0/f0.txt'), 'utf8')).toBe('file 0\n');

    fs.writeFileSync(path.join(dir, 'script.sh'), '#!/bin/sh\necho hi\n');
    execSync(`chmod +x ${dir}/script.sh`);
    expect(execSync(`${dir}/script.sh`).toString()).toBe('hi\n');

    fs.writeFileSync(path.join(dir, 'orig.txt'), 'shared content');
    fs.linkSync(path.join(dir, 'orig.txt'), path.join(dir, 'hard.txt'));
    expect(fs.statSync(path.join(dir, 'orig.txt')).nlink).toBe(2);
    fs.appendFileSync(path.join(dir, 'hard.txt'), ' + more');
    expect(fs.readFileSync(path.join(dir, 'orig.txt'), 'utf8')).toBe('shared content + more');

    execSync(`setfattr -n user.review.status -v needs-attention ${dir}/orig.txt 2>/dev/null || python3 -c "import os; os.setxattr('${dir}/orig.txt', 'user.review.status', b'needs-attention')"`);
    const xv = execSync(`python3 -c "import os; print(os.getxattr('${dir}/orig.txt', 'user.review.status').decode())"`).toString().trim();
    expect(xv).toBe('needs-attention');
    const hashAttr = execSync(`python3 -c "import os; print(os.getxattr('${dir}/orig.txt', 'user.aether.sha256').decode())"`).toString().trim();
    expect(hashAttr).toBe(sha('shared content + more'));

    // Sparse: write 4 bytes at 10 MiB into a new file.
    const fd = fs.openSync(path.join(dir, 'sparse.bin'), 'w');
    fs.writeSync(fd, Buffer.from('tail'), 0, 4, 10 * 1024 * 1024);
    fs.closeSync(fd);
    const sparse = fs.readFileSync(path.join(dir, 'sparse.bin'));
    expect(sparse.length).toBe(10 * 1024 * 1024 + 4);
    expect(sparse.subarray(0, 10 * 1024 * 1024).every((b) => b === 0)).toBe(true);
    expect(sparse.subarray(-4).toString()).toBe('tail');

    fs.writeFileSync(path.join(dir, 'big.bin'), big);
    expect(sha(fs.readFileSync(path.join(dir, 'big.bin')))).toBe(sha(big));
    before = treeDigest(dir);
  });

  it('the gateway holds exactly what the mount showed', async () => {
    expect((await env.node(sid, '/big.bin')).contentHash).toBe(sha(big));
    expect(sha(await env.bytes(sid, '/big.bin'))).toBe(sha(big));
    expect((await env.node(sid, '/script.sh')).mode & 0o777).toBe(0o755);
    expect((await env.node(sid, '/hard.txt')).contentHash).toBe(sha('shared content + more'));
    expect((await env.bytes(sid, '/sparse.bin')).subarray(-4).toString()).toBe('tail');
    expect(await env.node(sid, '/tree/d1')).toBeUndefined();
    expect((await env.node(sid, '/tree/moved/sub0/f0.txt')).contentHash).toBe(sha('file 0\n'));
  });

  it('after a remount everything is identical and rereading downloads no blob bytes', async () => {
    await m.stop();
    const served0 = (await env.metrics()).bytesServed;
    m = await env.mount(sid);
    expect(treeDigest(m.mountpoint)).toEqual(before);
    const served1 = (await env.metrics()).bytesServed;
    expect(served1).toBe(served0);
  });

  it('a fork reads the same bytes from the local cache', async () => {
    const fork = await env.call('POST', `/v1/sessions/${sid}/fork`, { newTags: { track: 'b' } });
    const served0 = (await env.metrics()).bytesServed;
    const fm = await env.mount(fork.id, 'fork');
    expect(sha(fs.readFileSync(path.join(fm.mountpoint, 'big.bin')))).toBe(sha(big));
    expect(treeDigest(fm.mountpoint)).toEqual(before);
    expect((await env.metrics()).bytesServed).toBe(served0);
    await fm.stop();
  });

  it('a one-byte edit in the 100 MiB file uploads less than 2 MiB', async () => {
    const rec0 = (await env.metrics()).bytesReceived;
    const fd = fs.openSync(path.join(m.mountpoint, 'big.bin'), 'r+');
    fs.writeSync(fd, Buffer.from([big[50 * 1024 * 1024]! ^ 0xff]), 0, 1, 50 * 1024 * 1024);
    fs.closeSync(fd);
    const rec1 = (await env.metrics()).bytesReceived;
    expect(rec1 - rec0).toBeLessThan(2 * 1024 * 1024);
    const expected = Buffer.from(big);
    expected[50 * 1024 * 1024] ^= 0xff;
    expect((await env.node(sid, '/big.bin')).contentHash).toBe(sha(expected));
  });
});
