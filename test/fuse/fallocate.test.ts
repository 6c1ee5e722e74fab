// fallocate(2) on a real mount. Under fuse3: mode 0 grows a file (zeros), KEEP_SIZE never changes
// the size, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE read as zeros afterwards (ZERO_RANGE without
// KEEP_SIZE grows), the bytes reach the gateway on close, and every errno path answers as Linux
// does (EOPNOTSUPP for COLLAPSE/INSERT/UNSHARE and for PUNCH_HOLE without KEEP_SIZE, EINVAL for a
// bad offset/length, EBADF on a read-only descriptor, EFBIG past the largest size). posix_fallocate
// works in both bindings (fuse-native has no fallocate op: glibc falls back to writing). Calls go
// through libc via Python ctypes in a child process; mounts are unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const execFileP = promisify(execFile);
const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', 'import ctypes'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const hasFuse3 = fs.existsSync(FUSE3_ADDON_PATH);

const KEEP = 0x01;
const PUNCH = 0x02;
const COLLAPSE = 0x08;
const ZERO = 0x10;
const INSERT = 0x20;
const UNSHARE = 0x40;

/**
 * fallocate(fd, mode, off, len) on a file opened with `flags` ('rw' | 'ro'): "0" or the errno name.
 */
async function falloc(file: string, mode: number, off: bigint | number, len: bigint | number, flags: 'rw' | 'ro' = 'rw'): Promise<string> {
  const script = [
    'import ctypes, os, errno, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]',
    `fd = os.open(${JSON.stringify(file)}, ${flags === 'rw' ? 'os.O_RDWR' : 'os.O_RDONLY'})`,
    `r = libc.fallocate(fd, ${mode}, ${off}, ${len})`,
    'e = ctypes.get_errno()',
    'os.close(fd)',
    "print('0' if r == 0 else 'EOPNOTSUPP' if e == errno.EOPNOTSUPP else errno.errorcode[e])", // ENOTSUP is the same number
  ].join('\n');
  return (await execFileP('python3', ['-c', script], { timeout: 30_000, encoding: 'utf8' })).stdout.trim();
}

const z = (n: number) => '\0'.repeat(n);

describe.skipIf(!hasFuse || !hasPython || !hasFuse3)('fallocate (fuse3)', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  const f = (name: string) => path.join(m.mountpoint, name);

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    m = await env.mount(sid, 'mnt', { binding: 'fuse3' });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('mode 0 grows a file with zeros and never shrinks it; KEEP_SIZE keeps the size', async () => {
    fs.writeFileSync(f('grow'), 'abc');
    expect(await falloc(f('grow'), 0, 0, 10)).toBe('0');
    expect(fs.statSync(f('grow')).size).toBe(10);
    expect(fs.readFileSync(f('grow'), 'latin1')).toBe('abc' + z(7));
    expect(await falloc(f('grow'), 0, 0, 5)).toBe('0');
    expect(fs.statSync(f('grow')).size).toBe(10);
    expect(await falloc(f('grow'), KEEP, 0, 1 << 20)).toBe('0');
    expect(fs.statSync(f('grow')).size).toBe(10);
    expect((await env.bytes(sid, '/grow')).toString('latin1')).toBe('abc' + z(7));
  });

  it('PUNCH_HOLE|KEEP_SIZE zeroes the range and keeps the size (also past EOF)', async () => {
    fs.writeFileSync(f('punch'), 'abcdefgh');
    expect(await falloc(f('punch'), PUNCH | KEEP, 2, 3)).toBe('0');
    expect(fs.statSync(f('punch')).size).toBe(8);
    expect(fs.readFileSync(f('punch'), 'latin1')).toBe('ab' + z(3) + 'fgh');
    expect(await falloc(f('punch'), PUNCH | KEEP, 6, 100)).toBe('0');
    expect(fs.statSync(f('punch')).size).toBe(8);
    expect(fs.readFileSync(f('punch'), 'latin1')).toBe('ab' + z(3) + 'f' + z(2));
    expect((await env.bytes(sid, '/punch')).toString('latin1')).toBe('ab' + z(3) + 'f' + z(2));
  });

  it('ZERO_RANGE zeroes and grows; with KEEP_SIZE it only zeroes', async () => {
    fs.writeFileSync(f('zero'), 'abcdefgh');
    expect(await falloc(f('zero'), ZERO, 6, 4)).toBe('0');
    expect(fs.readFileSync(f('zero'), 'latin1')).toBe('abcdef' + z(4));
    expect(await falloc(f('zero'), ZERO | KEEP, 1, 100)).toBe('0');
    expect(fs.statSync(f('zero')).size).toBe(10);
    expect(fs.readFileSync(f('zero'), 'latin1')).toBe('a' + z(9));
  });

  it('a punched range through an O_APPEND descriptor is punched where asked', async () => {
    fs.writeFileSync(f('append'), '0123456789');
    const script = [
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]',
      `fd = os.open(${JSON.stringify(f('append'))}, os.O_WRONLY | os.O_APPEND)`,
      `print(libc.fallocate(fd, ${PUNCH | KEEP}, 0, 2))`,
      "os.write(fd, b'X')",
      'os.close(fd)',
    ].join('\n');
    expect((await execFileP('python3', ['-c', script], { timeout: 30_000, encoding: 'utf8' })).stdout.trim()).toBe('0');
    expect(fs.readFileSync(f('append'), 'latin1')).toBe(z(2) + '23456789X');
  });

  it('errno paths as Linux answers them', async () => {
    fs.writeFileSync(f('err'), 'abcdefgh');
    expect(await falloc(f('err'), COLLAPSE, 0, 4096)).toBe('EOPNOTSUPP');
    expect(await falloc(f('err'), INSERT, 0, 4096)).toBe('EOPNOTSUPP');
    expect(await falloc(f('err'), UNSHARE, 0, 4)).toBe('EOPNOTSUPP');
    expect(await falloc(f('err'), PUNCH, 0, 4)).toBe('EOPNOTSUPP'); // PUNCH_HOLE needs KEEP_SIZE
    expect(await falloc(f('err'), PUNCH | ZERO | KEEP, 0, 4)).toBe('EOPNOTSUPP');
    expect(await falloc(f('err'), 0, 0, 0)).toBe('EINVAL');
    expect(await falloc(f('err'), 0, -1, 4)).toBe('EINVAL');
    expect(await falloc(f('err'), 0, 0, -4)).toBe('EINVAL');
    expect(await falloc(f('err'), 0, 0, 4, 'ro')).toBe('EBADF');
    expect(await falloc(f('err'), 0, 1n << 62n, 1n << 62n)).toBe('EFBIG'); // offset+len overflows
    expect(await falloc(f('err'), 0, 1n << 60n, 1)).toBe('EFBIG'); // past what the mount stores
    expect(fs.readFileSync(f('err'), 'latin1')).toBe('abcdefgh');
  });

  it('posix_fallocate grows the file; the bytes survive a remount', async () => {
    fs.writeFileSync(f('posix'), 'xy');
    const out = (await execFileP('python3', ['-c', `import os\nfd = os.open(${JSON.stringify(f('posix'))}, os.O_RDWR)\nos.posix_fallocate(fd, 0, 4096)\nos.close(fd)\nprint(os.stat(${JSON.stringify(f('posix'))}).st_size)`], { timeout: 30_000, encoding: 'utf8' })).stdout.trim();
    expect(out).toBe('4096');
    await m.stop();
    m = await env.mount(sid, 'mnt', { binding: 'fuse3' });
    expect(fs.readFileSync(f('posix'), 'latin1')).toBe('xy' + z(4094));
    expect(fs.readFileSync(f('punch'), 'latin1')).toBe('ab' + z(3) + 'f' + z(2));
  }, 120_000);
});

describe.skipIf(!hasFuse || !hasPython)('fallocate (fuse-native: no fallocate op)', () => {
  let env: MountEnv;
  let m: MountProc;

  beforeAll(async () => {
    env = await createMountEnv();
    m = await env.mount(await env.createSession(), 'mnt', { binding: 'fuse-native' });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('fallocate(2) is EOPNOTSUPP; posix_fallocate still works (glibc writes the range)', async () => {
    const file = path.join(m.mountpoint, 'p');
    fs.writeFileSync(file, 'xy');
    expect(await falloc(file, 0, 0, 10)).toBe('EOPNOTSUPP');
    const out = (await execFileP('python3', ['-c', `import os\nfd = os.open(${JSON.stringify(file)}, os.O_RDWR)\nos.posix_fallocate(fd, 0, 4096)\nos.close(fd)\nprint(os.stat(${JSON.stringify(file)}).st_size)`], { timeout: 30_000, encoding: 'utf8' })).stdout.trim();
    expect(out).toBe('4096');
    expect(fs.readFileSync(file, 'latin1')).toBe('xy' + z(4094));
  });
});
