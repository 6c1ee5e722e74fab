// Long paths on a real mount, in both bindings: what Linux accepts is accepted. A session path far
// past 4,096 bytes (reached with relative, dir_fd-based calls as pjdfstest does from a deep
// working directory) can be created, written, closed without error, renamed and read back, also
// after a remount and as the gateway stores it; a 255-byte name is fine and a 256-byte one is
// ENAMETOOLONG. Past the gateway's (much larger) limit on a whole session path, creating a name
// answers ENAMETOOLONG at once instead of losing the data at close. Mounts unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';
import { MAX_SESSION_PATH_BYTES } from '../../src/shared/path-limits.js';

const execFileP = promisify(execFile);
const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import os'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const bindings = ['fuse-native', ...(fs.existsSync(FUSE3_ADDON_PATH) ? ['fuse3'] : [])];

const py = async (script: string) => (await execFileP('python3', ['-c', script], { timeout: 60_000, encoding: 'utf8' })).stdout.trim();

/** Python prelude: walk (creating when asked) `depth` directories named `seg` under root, by dir_fd. */
const walk = (root: string, seg: string, depth: number, create: boolean) =>
  [
    'import os, errno',
    `fd = os.open(${JSON.stringify(root)}, os.O_RDONLY | os.O_DIRECTORY)`,
    `for i in range(${depth}):`,
    ...(create ? [`    os.mkdir(${JSON.stringify(seg)} + str(i % 10), 0o755, dir_fd=fd)`] : []),
    `    nfd = os.open(${JSON.stringify(seg)} + str(i % 10), os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)`,
    '    os.close(fd)',
    '    fd = nfd',
  ].join('\n');

describe.skipIf(!hasFuse || !hasPython).each(bindings)('long paths (%s)', (binding) => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  const seg = 'd'.repeat(249); // + one digit = 250-byte names
  const depth = 24; // ~6,000-byte session paths
  const sessionDir = '/' + Array.from({ length: depth }, (_, i) => seg + String(i % 10)).join('/');

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    m = await env.mount(sid, 'mnt', { binding });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('creates, writes, closes and renames a file whose session path is ~6,000 bytes', async () => {
    const name = 'f'.repeat(255);
    const out = await py(
      [
        walk(m.mountpoint, seg, depth, true),
        `w = os.open(${JSON.stringify(name)}, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)`,
        "os.write(w, b'deep bytes\\n')",
        'os.fsync(w)',
        'os.close(w)', // used to fail with EINVAL, the bytes refused
        `os.rename(${JSON.stringify(name)}, 'g' * 255, src_dir_fd=fd, dst_dir_fd=fd)`,
        "r = os.open('g' * 255, os.O_RDONLY, dir_fd=fd)",
        'print(os.read(r, 100).decode().strip())',
        'os.close(r)',
        "try:\n    os.open('h' * 256, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)\nexcept OSError as e:\n    print(errno.errorcode[e.errno])",
      ].join('\n'),
    );
    expect(out).toBe('deep bytes\nENAMETOOLONG');
    const p = `${sessionDir}/${'g'.repeat(255)}`;
    expect(Buffer.byteLength(p)).toBeGreaterThan(6000);
    expect((await env.bytes(sid, p)).toString()).toBe('deep bytes\n');
  });

  it('the deep file reads back after a remount', async () => {
    await m.stop();
    m = await env.mount(sid, 'mnt', { binding });
    const out = await py([walk(m.mountpoint, seg, depth, false), "r = os.open('g' * 255, os.O_RDONLY, dir_fd=fd)", 'print(os.read(r, 100).decode().strip())'].join('\n'));
    expect(out).toBe('deep bytes');
  }, 120_000);

  it('past the gateway limit on a whole session path: ENAMETOOLONG at create, not data loss at close', async () => {
    // A directory just under the limit, made through the API (one request), then reached by dir_fd.
    const extra: string[] = [];
    let len = Buffer.byteLength(sessionDir);
    while (len + 251 <= MAX_SESSION_PATH_BYTES - 64) {
      extra.push(seg + String(extra.length % 10));
      len += 251;
    }
    const deep = `${sessionDir}/${extra.join('/')}`;
    // Two requests: a remote `mkdir -p` only invalidates the new leaf's parent in the mount, so the
    // first new level is created on its own (its parent, listed before, is then relisted).
    await env.call('POST', `/v1/sessions/${sid}/dirs`, { path: `${sessionDir}/${extra[0]}` });
    await env.call('POST', `/v1/sessions/${sid}/dirs`, { path: deep });
    const room = MAX_SESSION_PATH_BYTES - len - 1; // bytes a new name may still have
    expect(room).toBeGreaterThan(10);
    expect(room).toBeLessThan(255);
    const out = await py(
      [
        walk(m.mountpoint, seg, depth, false),
        'import time',
        'deadline = time.time() + 15', // the remote mkdir reaches the mount through the watcher
        `for name in ${JSON.stringify(extra)}:`,
        '    while True:',
        '        try:',
        '            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)',
        '            break',
        '        except FileNotFoundError:',
        '            if time.time() > deadline: raise',
        '            time.sleep(0.1)',
        '    os.close(fd)',
        '    fd = nfd',
        `w = os.open('k' * ${room}, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)`,
        "os.write(w, b'at the limit')",
        'os.close(w)',
        'try:',
        `    os.open('k' * ${room + 1}, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)`,
        "    print('created')",
        'except OSError as e:',
        '    print(errno.errorcode[e.errno])',
      ].join('\n'),
    );
    expect(out).toBe('ENAMETOOLONG');
    expect((await env.bytes(sid, `${deep}/${'k'.repeat(room)}`)).toString()).toBe('at the limit');
  }, 120_000);
});
