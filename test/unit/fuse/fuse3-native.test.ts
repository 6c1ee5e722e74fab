// The libfuse3 addon on its own (no Aether core): a tiny in-memory filesystem served by this test
// process through native.mount(), driven by real syscalls from child processes. Checks the
// protocol between the C side and JS: stat/readdir fields and use_ino, one-copy writes, reads,
// the xattr size-query protocol (size 0 → length, short buffer → ERANGE), UTIME_OMIT, interrupts
// of a pending request, kernel cache invalidation, and unmount (clean, and with a file still open).
// This process serves the mount, so it never blocks: only async fs calls and spawned children.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { FUSE3_ADDON_PATH, loadFuse3Native, type Fuse3Native } from '../../../src/fuse/fuse3-mount.js';

const canRun = fs.existsSync('/dev/fuse') && fs.existsSync(FUSE3_ADDON_PATH);

interface Node {
  ino: number;
  mode: number;
  data: Buffer;
  xattrs: Map<string, Buffer>;
  mtime: number;
  atime: number;
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ code: number | null; signal: string | null; out: string; child: ReturnType<typeof spawn> }> {
  const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, child })));
}

describe.skipIf(!canRun)('aether_fuse3 addon (raw protocol)', () => {
  let native: Fuse3Native;
  let root: string;
  let mp: string;
  let handle: unknown;
  const files = new Map<string, Node>();
  const calls: Record<string, number> = {};
  const writes: Buffer[] = [];
  const pendingLocks = new Set<number>();
  let interrupts = 0;
  let mounted!: (n: number) => void;
  let stopped!: (n: number) => void;
  const invalDone = new Map<number, (n: number) => void>();
  let nextIno = 10;

  const now = Date.now();
  const stat = (n: Node) => Float64Array.of(n.ino, n.mode, 1, 0, 0, n.data.length, Math.ceil(n.data.length / 512), 4096, n.atime, n.mtime, n.mtime);
  const dirStat = Float64Array.of(1, 0o40755, 2, 0, 0, 4096, 8, 4096, now, now, now);

  beforeAll(async () => {
    native = loadFuse3Native();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'aether-fuse3-raw-'));
    mp = path.join(root, 'mnt');
    fs.mkdirSync(mp);
    files.set('/hello.txt', { ino: 5, mode: 0o100644, data: Buffer.from('hello\n'), xattrs: new Map([['user.k', Buffer.from('value-123')]]), mtime: now, atime: now });
    const O = native.ops;
    const E = native.events;
    const reply = (id: number, r: number, p?: unknown) => native.reply(handle, id, r, p);
    handle = native.mount(mp, ['-o', 'fsname=rawtest,subtype=rawtest'], { attrTimeout: 60, entryTimeout: 60, kernelLocks: 1, unmountTimeoutMs: 800 }, (kind, id, ...rest) => {
      if (kind === E.mounted) return mounted(rest[0] as number);
      if (kind === E.stopped) return stopped(rest[0] as number);
      if (kind === E.invalidated) return invalDone.get(id)?.(rest[0] as number);
      if (kind === E.interrupt) {
        interrupts++;
        if (pendingLocks.delete(id)) reply(id, -4);
        return;
      }
      const [op, p, p2, , a, b, , , data] = rest as [number, string | null, string | null, number, number, number, number, string | null, Buffer | null];
      const name = Object.entries(O).find(([, v]) => v === op)?.[0] ?? String(op);
      calls[name] = (calls[name] ?? 0) + 1;
      const n = p ? files.get(p) : undefined;
      switch (op) {
        case O.getattr:
          if (p === '/') return reply(id, 0, dirStat);
          return n ? reply(id, 0, stat(n)) : reply(id, -2);
        case O.readdir: {
          const names = [...files.keys()].map((k) => k.slice(1));
          const st = new Float64Array(names.length * 11);
          [...files.values()].forEach((f, i) => st.set(stat(f), i * 11));
          return reply(id, 0, [names, st]);
        }
        case O.access:
          return reply(id, p === '/' || n ? 0 : -2);
        case O.open:
          return n ? reply(id, 100 + n.ino) : reply(id, -2);
        case O.create:
          files.set(p!, { ino: nextIno++, mode: 0o100000 | a, data: Buffer.alloc(0), xattrs: new Map(), mtime: Date.now(), atime: Date.now() });
          return reply(id, 100 + files.get(p!)!.ino);
        case O.read: {
          if (!n) return reply(id, -2);
          const buf = n.data.subarray(b, b + a);
          return reply(id, buf.length, buf);
        }
        case O.write: {
          if (!n || !data) return reply(id, -2);
          writes.push(data);
          const end = b + data.length;
          if (end > n.data.length) n.data = Buffer.concat([n.data, Buffer.alloc(end - n.data.length)]);
          data.copy(n.data, b);
          return reply(id, data.length);
        }
        case O.truncate:
          if (n) n.data = n.data.subarray(0, a);
          return reply(id, n ? 0 : -2);
        case O.utimens:
          if (!n) return reply(id, -2);
          if (!Number.isNaN(a)) n.atime = a;
          if (!Number.isNaN(b)) n.mtime = b;
          calls[Number.isNaN(a) ? 'utimens-omit-atime' : 'utimens-atime'] = 1;
          return reply(id, 0);
        case O.getxattr: {
          const v = n?.xattrs.get(p2!);
          return v ? reply(id, 0, v) : reply(id, -61);
        }
        case O.listxattr:
          return n ? reply(id, 0, Buffer.from([...n.xattrs.keys()].map((k) => `${k}\0`).join(''))) : reply(id, -2);
        case O.statfs:
          return reply(id, 0, Float64Array.of(4096, 4096, 1000, 500, 400, 100, 50, 50, 255));
        case O.lock:
          if (a === 2) {
            pendingLocks.add(id); // F_SETLKW: never granted; only an interrupt ends it
            return;
          }
          return reply(id, 0, [2]);
        case O.flush:
        case O.release:
        case O.fsync:
        case O.chmod:
          return reply(id, 0);
        default:
          return reply(id, -38);
      }
    });
    expect(await new Promise<number>((r) => (mounted = r))).toBe(0);
  });

  afterAll(async () => {
    if (handle !== undefined) {
      native.unmount(handle);
      await new Promise<number>((r) => (stopped = r));
      native.release(handle);
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('exports its op table and the libfuse it was built against', () => {
    expect(native.libfuseVersion).toMatch(/^3\./);
    expect(Object.keys(native.ops)).toEqual(expect.arrayContaining(['getattr', 'readdir', 'read', 'write', 'lock', 'flock', 'getxattr', 'listxattr']));
  });

  it('stat and readdir carry every field, with our inode numbers', async () => {
    const st = await fsp.stat(path.join(mp, 'hello.txt'));
    expect(st.ino).toBe(5);
    expect(st.size).toBe(6);
    expect(st.mode).toBe(0o100644);
    expect(Math.abs(st.mtimeMs - now)).toBeLessThan(2);
    const ents = await fsp.readdir(mp, { withFileTypes: true });
    expect(ents.map((e) => [e.name, e.isFile()])).toEqual([['hello.txt', true]]);
    const sfs = await fsp.statfs(mp);
    expect(sfs.bsize).toBe(4096);
    expect(sfs.blocks).toBe(1000);
    expect(sfs.bavail).toBe(400);
  });

  it('writes arrive as one Buffer per request; reads come back; a second read is served by the page cache', async () => {
    const f = path.join(mp, 'new.bin');
    const payload = Buffer.alloc(300 * 1024, 0x5a);
    await fsp.writeFile(f, payload);
    expect(Buffer.concat(writes).equals(payload)).toBe(true);
    expect(writes.length).toBeLessThanOrEqual(2);
    const before = calls.read ?? 0;
    expect((await fsp.readFile(f)).equals(payload)).toBe(true);
    const afterFirst = calls.read ?? 0;
    expect((await fsp.readFile(f)).equals(payload)).toBe(true);
    expect(calls.read ?? 0).toBe(afterFirst); // kernel_cache: pages kept across opens
    expect(afterFirst).toBeGreaterThanOrEqual(before);
  });

  it('invalidate() drops the kernel cache of exactly that path', async () => {
    const f = path.join(mp, 'hello.txt');
    expect(await fsp.readFile(f, 'utf8')).toBe('hello\n');
    const r0 = calls.read ?? 0;
    // Same size and mtime: nothing the kernel could notice by itself (after a read it refreshes
    // the attributes for atime, but keeps pages whose size and mtime did not change).
    files.get('/hello.txt')!.data = Buffer.from('HELLO\n');
    expect(await fsp.readFile(f, 'utf8')).toBe('hello\n');
    expect(calls.read ?? 0).toBe(r0);
    const done = await new Promise<number>((resolve) => {
      invalDone.set(1, resolve);
      expect(native.invalidate(handle, 1, ['/hello.txt', '/never-seen'])).toBe(true);
    });
    expect(done).toBe(1); // /never-seen was not in the kernel's cache
    expect(await fsp.readFile(f, 'utf8')).toBe('HELLO\n');
    expect(calls.read ?? 0).toBe(r0 + 1);
  });

  it('getxattr and listxattr follow the size-query protocol (size 0 → length, short buffer → ERANGE)', async () => {
    const f = path.join(mp, 'hello.txt');
    const py = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
p = ${JSON.stringify(f)}.encode()
n = libc.getxattr(p, b'user.k', None, 0)
buf = ctypes.create_string_buffer(4)
short = libc.getxattr(p, b'user.k', buf, 4)
e = ctypes.get_errno()
buf = ctypes.create_string_buffer(64)
full = libc.getxattr(p, b'user.k', buf, 64)
ln = libc.listxattr(p, None, 0)
print(n, short, e == 34, full, buf.raw[:full].decode(), ln, os.listxattr(${JSON.stringify(f)}))
`;
    const r = await run('python3', ['-c', py]);
    expect(r.out.trim()).toBe("9 -1 True 9 value-123 7 ['user.k']");
  });

  it('passes UTIME_OMIT through as "keep" (touch -m leaves atime alone)', async () => {
    const r = await run('touch', ['-m', path.join(mp, 'hello.txt')]);
    expect(r.code).toBe(0);
    expect(calls['utimens-omit-atime']).toBe(1);
  });

  it('tells JS when the kernel interrupts a pending request (Ctrl-C on F_SETLKW) and the process gets EINTR', async () => {
    const f = path.join(mp, 'hello.txt');
    const waiter = spawn('python3', ['-c', `import fcntl\nf=open(${JSON.stringify(f)},'r')\nprint('waiting', flush=True)\ntry:\n  fcntl.lockf(f, fcntl.LOCK_SH)\nexcept KeyboardInterrupt:\n  print('interrupted', flush=True)`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    waiter.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => waiter.on('exit', r));
    while (!out.includes('waiting') || pendingLocks.size === 0) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    waiter.kill('SIGINT');
    await exited;
    expect(out).toContain('interrupted');
    expect(interrupts).toBe(1);
    expect(pendingLocks.size).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('unmount with a file still open detaches lazily and reports the mount as busy', async () => {
    // A second mount served by this process: one file, held open by a child while we unmount.
    const mp2 = path.join(root, 'mnt2');
    fs.mkdirSync(mp2);
    let h2: unknown;
    let m2!: (n: number) => void;
    let s2!: (n: number) => void;
    const reply2 = (id: number, r: number, p?: unknown) => native.reply(h2, id, r, p);
    h2 = native.mount(mp2, ['-o', 'fsname=rawtest2'], { unmountTimeoutMs: 500 }, (kind, id, op, p) => {
      if (kind === native.events.mounted) return m2(op as number);
      if (kind === native.events.stopped) return s2(op as number);
      if (kind !== native.events.request) return;
      if (op === native.ops.getattr) return p === '/' ? reply2(id, 0, dirStat) : p === '/f' ? reply2(id, 0, Float64Array.of(3, 0o100644, 1, 0, 0, 0, 0, 4096, now, now, now)) : reply2(id, -2);
      if (op === native.ops.open) return reply2(id, 1);
      return reply2(id, 0);
    });
    expect(await new Promise<number>((r) => (m2 = r))).toBe(0);
    const holder = spawn('sh', ['-c', `exec 3<${JSON.stringify(path.join(mp2, 'f'))}; echo open; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((r) => holder.stdout.once('data', () => r()));
    const t0 = Date.now();
    native.unmount(h2);
    const status = await new Promise<number>((r) => (s2 = r));
    expect(status).toBe(-16); // EBUSY: detached, but the open file keeps the connection
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${mp2} `);
    native.release(h2);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('exit', r));
  });
});
