// SQLite in WAL mode on a real mount, in both bindings (issue 13 item 1): F_GETLK on a file just
// created with O_CREAT and not closed yet answers "unlocked" (it used to be ENOENT under fuse3:
// the lock probe asked the gateway about a path that only reached it on close, and SQLite does
// exactly that on `<db>-shm`); `journal_mode=wal` sticks; a writer process and a reader process
// run at the same time (the reader never sees a count go backwards); `integrity_check` is ok, and
// the database opens and checks ok again after a remount. Processes are bounded by timeouts;
// every mount is unmounted in teardown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const execFileP = promisify(execFile);
const hasTools = (() => {
  try {
    execFileSync('python3', ['-c', 'import sqlite3, fcntl'], { stdio: 'ignore' });
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const bindings = ['fuse-native', ...(fs.existsSync(FUSE3_ADDON_PATH) ? ['fuse3'] : [])];

const py = async (script: string, timeout = 60_000) => (await execFileP('python3', ['-c', script], { timeout, encoding: 'utf8' })).stdout.trim();
const sql = async (db: string, ...stmts: string[]) => (await execFileP('sqlite3', [db, ...stmts], { timeout: 30_000, encoding: 'utf8' })).stdout.trim();

describe.skipIf(!hasFuse || !hasTools).each(bindings)('SQLite WAL on a mount (%s)', (binding) => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    m = await env.mount(sid, 'mnt', { binding });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('F_GETLK on a file created with O_CREAT and still open answers F_UNLCK', async () => {
    const f = path.join(m.mountpoint, 'fresh-shm');
    const out = await py(
      [
        'import os, fcntl, struct',
        `fd = os.open(${JSON.stringify(f)}, os.O_RDWR | os.O_CREAT, 0o644)`,
        "r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))",
        "t = struct.unpack('hhqqi', r)[0]",
        "fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 1, 0))",
        "r2 = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))",
        "print(t == fcntl.F_UNLCK, struct.unpack('hhqqi', r2)[0] == fcntl.F_UNLCK)", // own locks never conflict
        'os.close(fd)',
      ].join('\n'),
    );
    expect(out).toBe('True True');
  });

  it('journal_mode=wal, a concurrent writer and reader, integrity_check ok', async () => {
    const db = path.join(m.mountpoint, 'w.db');
    expect(await sql(db, 'pragma journal_mode=wal;', 'create table x(a integer primary key, b text);')).toBe('wal');
    const N = 150;
    const writer = py(
      [
        'import sqlite3',
        `c = sqlite3.connect(${JSON.stringify(db)}, timeout=30)`,
        `for i in range(${N}):`,
        "    c.execute('insert into x(b) values (?)', ('row %d' % i,))",
        '    c.commit()',
        'c.close()',
        "print('wrote')",
      ].join('\n'),
      120_000,
    );
    const reader = py(
      [
        'import sqlite3, time',
        `c = sqlite3.connect(${JSON.stringify(db)}, timeout=30)`,
        'last, reads, t0 = -1, 0, time.time()',
        `while last < ${N} and time.time() - t0 < 100:`,
        "    n = c.execute('select count(*) from x').fetchone()[0]",
        "    assert n >= last, 'count went back from %d to %d' % (last, n)",
        '    last, reads = n, reads + 1',
        'print(last, reads > 1)',
      ].join('\n'),
      120_000,
    );
    const [w, r] = await Promise.all([writer, reader]);
    expect(w).toBe('wrote');
    expect(r).toBe(`${N} True`);
    expect(await sql(db, 'pragma integrity_check;')).toBe('ok');
    expect(await sql(db, 'select count(*), max(b) from x;')).toBe(`${N}|row 99`);
  }, 180_000);

  it('after a remount the WAL database opens, is still WAL and checks ok', async () => {
    const db = path.join(m.mountpoint, 'w.db');
    await m.stop();
    m = await env.mount(sid, 'mnt', { binding });
    expect(await sql(db, 'pragma journal_mode;')).toBe('wal');
    expect(await sql(db, 'pragma integrity_check;')).toBe('ok');
    expect(await sql(db, 'select count(*) from x;')).toBe('150');
    expect(await sql(db, "insert into x(b) values ('after');", 'select count(*) from x;')).toBe('151');
  }, 120_000);
});
