// Kernel locks through the libfuse3 binding: flock(1) and Python fcntl.lockf in one mount are seen
// by a second mount of the same session and by HTTP clients (and the other way round), blocking
// waits are granted across mounts, a Ctrl-C on a blocked F_SETLKW returns at once and leaves no
// lock behind, EDEADLK is detected across mounts, and a crashed mount's locks are dropped when it
// is mounted again. Every lock holder runs as a separate process (its own process group, killed in
// teardown); both mounts are unmounted in teardown, also on failure.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { detach, hasFuse, type MountProc } from '../helpers/processes.js';
import { controlCall } from '../../src/control/control-client.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const hasFuse3 = hasFuse && fs.existsSync(FUSE3_ADDON_PATH);
const hasTools = (() => {
  try {
    execFileSync('flock', ['--version'], { stdio: 'ignore' });
    execFileSync('python3', ['-c', 'import fcntl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Proc {
  child: ChildProcess;
  out(): string;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const procs: Proc[] = [];

/** Start a process in its own process group (so teardown can kill it and its children). */
function start(cmd: string, args: string[], cwd?: string): Proc {
  const child = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += d.toString()));
  child.stderr!.on('data', (d) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const p: Proc = {
    child,
    out: () => out,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    async waitFor(text, timeoutMs = 10_000) {
      const t0 = Date.now();
      while (!out.includes(text)) {
        if (!p.running()) throw new Error(`${cmd} exited before printing "${text}": ${out}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`${cmd} did not print "${text}" within ${timeoutMs} ms: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  procs.push(p);
  return p;
}

function killGroup(p: Proc, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-p.child.pid!, sig);
  } catch {
    /* gone */
  }
}

/** A flock(1) holder: the lock stays with flock itself (-o), the command just waits. */
const flockHolder = (file: string, mode: '-x' | '-s' = '-x') => start('flock', ['-o', mode, file, 'sh', '-c', 'echo locked; exec sleep 120']);

/** A Python holder of an fcntl (lockf) lock on [start, start+len) (len 0 = to EOF). */
const lockfHolder = (file: string, len = 0, startAt = 0) =>
  start('python3', ['-c', `import fcntl,sys,time\nf=open(${JSON.stringify(file)},'r+')\nfcntl.lockf(f, fcntl.LOCK_EX, ${len}, ${startAt}, 0)\nprint('locked', flush=True)\ntime.sleep(120)`]);

/** flock -n: 0 = got it, 1 = refused. */
const flockNow = (file: string, mode: '-x' | '-s' = '-x'): number => {
  try {
    execFileSync('flock', ['-n', mode, file, 'true'], { stdio: 'ignore', timeout: 10_000 });
    return 0;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
};

/** Non-blocking lockf: 'ok' or 'refused'. */
const lockfNow = (file: string, len = 0, startAt = 0): string =>
  execFileSync(
    'python3',
    ['-c', `import fcntl\nf=open(${JSON.stringify(file)},'r+')\ntry:\n  fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, ${len}, ${startAt}, 0)\n  print('ok')\nexcept (BlockingIOError, PermissionError):\n  print('refused')`],
    { timeout: 10_000 },
  )
    .toString()
    .trim();

async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  let v = await fn();
  while (!ok(v) && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

describe.skipIf(!hasFuse3 || !hasTools)('kernel locks across mounts (fuse3 binding)', () => {
  let env: MountEnv;
  let sid: string;
  let a: MountProc;
  let b: MountProc;
  let fa: string;
  let fb: string;
  const prevBinding = process.env.AETHER_FUSE_BINDING;

  const lockQuery = (isFlock: boolean, start = 0, length = 0) =>
    env.call('POST', `/v1/sessions/${sid}:getPosixLock`, {
      path: '/lock.txt',
      kind: 'POSIX_LOCK_KIND_EXCLUSIVE',
      range: { start: String(start), length: String(length) },
      owner: { ownerId: '4242', clientId: '99', pid: 1 },
      isFlock,
    });

  beforeAll(async () => {
    process.env.AETHER_FUSE_BINDING = 'fuse3';
    env = await createMountEnv();
    sid = await env.createSession({ test: 'locks' });
    a = await env.mount(sid, 'a');
    b = await env.mount(sid, 'b');
    fa = path.join(a.mountpoint, 'lock.txt');
    fb = path.join(b.mountpoint, 'lock.txt');
    fs.writeFileSync(fa, 'x'.repeat(1000));
    await until(() => fs.existsSync(fb), (v) => v);
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      killGroup(p);
      await p.exited;
    }
  });
  afterAll(async () => {
    for (const p of procs.splice(0)) killGroup(p);
    await env?.teardown();
    if (prevBinding === undefined) delete process.env.AETHER_FUSE_BINDING;
    else process.env.AETHER_FUSE_BINDING = prevBinding;
  });

  it('mounts with kernel locks on', async () => {
    const s = await controlCall<{ binding: string; kernelLocks: boolean }>(a.record.socketPath, 'status');
    expect(s.binding).toBe('aether-fuse3');
    expect(s.kernelLocks).toBe(true);
  });

  it('flock -n from the other mount and from an HTTP client is refused while a process holds the lock, and succeeds after it exits', async () => {
    const holder = flockHolder(fa);
    await holder.waitFor('locked');
    expect(flockNow(fb)).toBe(1); // the other mount
    expect(flockNow(fb, '-s')).toBe(1);
    expect(flockNow(fa)).toBe(1); // another process in the same mount
    const q = await lockQuery(true);
    expect(q.hasConflict).toBe(true);
    expect(q.conflict.isFlock).toBe(true);
    // An HTTP client asking for the flock is refused too (code 10 ABORTED → 409).
    await expect(
      env.call('POST', `/v1/sessions/${sid}:flock`, { path: '/lock.txt', mode: 'POSIX_FLOCK_MODE_SHARED', owner: { ownerId: '7', clientId: '99' }, blocking: false }),
    ).rejects.toThrow(/409/);
    // fcntl locks are a separate namespace: a record lock is still available.
    expect(lockfNow(fb)).toBe('ok');

    killGroup(holder, 'SIGTERM');
    await holder.exited;
    expect(await until(() => flockNow(fb), (rc) => rc === 0)).toBe(0);
    // (flock(1)'s own lock goes with its last close, which the kernel reports asynchronously.)
    expect((await until(() => lockQuery(true), (q) => !q.hasConflict)).hasConflict).toBe(false);
  });

  it('Python fcntl.lockf from the other mount (and :getPosixLock over HTTP) is refused while a process holds the range, and succeeds after it exits', async () => {
    const holder = lockfHolder(fa, 100, 0); // bytes 0..99
    await holder.waitFor('locked');
    expect(lockfNow(fb)).toBe('refused'); // whole file overlaps
    expect(lockfNow(fb, 100, 50)).toBe('refused'); // 50..149 overlaps
    expect(lockfNow(fb, 100, 100)).toBe('ok'); // 100..199 does not
    const q = await lockQuery(false, 0, 10);
    expect(q.hasConflict).toBe(true);
    expect(q.conflict.kind).toBe('POSIX_LOCK_KIND_EXCLUSIVE');
    expect(q.conflict.range).toEqual({ start: '0', length: '100' });
    expect(q.conflict.owner.pid).toBe(holder.child.pid);
    expect((await lockQuery(false, 100, 10)).hasConflict).toBe(false);
    // F_GETLK in the other mount reports the holder.
    const getlk = execFileSync('python3', [
      '-c',
      `import fcntl,struct\nf=open(${JSON.stringify(fb)},'r+')\nr=fcntl.fcntl(f, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))\nt,w,s,l,p=struct.unpack('hhqqi', r)\nprint(t==fcntl.F_WRLCK, s, l, p)`,
    ])
      .toString()
      .trim();
    expect(getlk).toBe(`True 0 100 ${holder.child.pid}`);

    killGroup(holder, 'SIGTERM');
    await holder.exited;
    expect(await until(() => lockfNow(fb), (v) => v === 'ok')).toBe('ok');
    expect((await lockQuery(false)).hasConflict).toBe(false);
  });

  it('a lock held by an HTTP client is respected by both mounts until it is released', async () => {
    const owner = { ownerId: '77', clientId: '12345', pid: 1 };
    await env.call('POST', `/v1/sessions/${sid}:setPosixLock`, { path: '/lock.txt', kind: 'POSIX_LOCK_KIND_SHARED', range: { start: '0', length: '0' }, owner });
    expect(lockfNow(fa)).toBe('refused');
    expect(lockfNow(fb)).toBe('refused');
    await env.call('POST', `/v1/sessions/${sid}:funlock`, { path: '/lock.txt', owner, range: { start: '0', length: '0' } });
    expect(lockfNow(fa)).toBe('ok');
    expect(lockfNow(fb)).toBe('ok');
  });

  it('a blocking flock in the other mount is granted when the holder exits', async () => {
    const holder = flockHolder(fa);
    await holder.waitFor('locked');
    const waiter = start('flock', ['-x', fb, 'sh', '-c', 'echo granted']);
    await new Promise((r) => setTimeout(r, 800));
    expect(waiter.running()).toBe(true);
    expect(waiter.out()).toBe('');
    killGroup(holder, 'SIGTERM');
    const t0 = Date.now();
    const res = await waiter.exited;
    expect(res.code).toBe(0);
    expect(waiter.out()).toContain('granted');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('Ctrl-C on a process blocked in F_SETLKW (or flock) returns promptly and leaves no lock', async () => {
    const holder = lockfHolder(fa);
    await holder.waitFor('locked');
    const fholder = flockHolder(fa);
    await fholder.waitFor('locked');
    // Python handles SIGINT (KeyboardInterrupt): the kernel interrupts the request, we answer EINTR.
    const waiter = start('python3', [
      '-c',
      `import fcntl,time\nf=open(${JSON.stringify(fb)},'r+')\nprint('waiting', flush=True)\ntry:\n  fcntl.lockf(f, fcntl.LOCK_EX)\n  print('granted', flush=True)\nexcept KeyboardInterrupt:\n  print('interrupted', flush=True)`,
    ]);
    await waiter.waitFor('waiting');
    // flock(1) does not handle SIGINT: the signal is fatal, the process must still go away at once.
    const fwaiter = start('flock', ['-x', fb, 'sh', '-c', 'echo granted']);
    await new Promise((r) => setTimeout(r, 800));
    expect(waiter.running()).toBe(true);
    expect(fwaiter.running()).toBe(true);

    let t0 = Date.now();
    waiter.child.kill('SIGINT');
    const r1 = await waiter.exited;
    const pyMs = Date.now() - t0;
    expect(waiter.out()).toContain('interrupted');
    expect(r1.code).toBe(0);
    expect(pyMs).toBeLessThan(1500);

    t0 = Date.now();
    fwaiter.child.kill('SIGINT');
    const r2 = await fwaiter.exited;
    expect(r2.signal).toBe('SIGINT');
    expect(Date.now() - t0).toBeLessThan(1500);

    // Release the holders. Had a waiter's gateway wait survived, it would be granted now.
    killGroup(holder, 'SIGTERM');
    killGroup(fholder, 'SIGTERM');
    await holder.exited;
    await fholder.exited;
    await new Promise((r) => setTimeout(r, 300));
    expect(await until(() => lockQuery(false), (q) => !q.hasConflict).then((q) => q.hasConflict)).toBe(false);
    expect(await until(() => lockQuery(true), (q) => !q.hasConflict).then((q) => q.hasConflict)).toBe(false);
    expect(lockfNow(fa)).toBe('ok');
    expect(flockNow(fa)).toBe(0);
    const s = await controlCall<{ ops: Record<string, number>; locks: { interrupted: number } }>(b.record.socketPath, 'status');
    expect(s.ops.interrupted ?? 0).toBeGreaterThanOrEqual(1);
    expect(s.locks.interrupted).toBeGreaterThanOrEqual(1);
  });

  it('detects a deadlock between processes in two mounts (EDEADLK)', async () => {
    const script = (file: string, mine: number, theirs: number, tag: string) =>
      `import fcntl,sys,errno\nf=open(${JSON.stringify(file)},'r+')\nfcntl.lockf(f, fcntl.LOCK_EX, 10, ${mine}, 0)\nprint('${tag}1', flush=True)\nsys.stdin.readline()\ntry:\n  fcntl.lockf(f, fcntl.LOCK_EX, 10, ${theirs}, 0)\n  print('${tag}-granted', flush=True)\nexcept OSError as e:\n  print('${tag}-' + ('EDEADLK' if e.errno == errno.EDEADLK else errno.errorcode[e.errno]), flush=True)\n`;
    const pa = start('python3', ['-c', script(fa, 0, 10, 'a')]);
    const pb = start('python3', ['-c', script(fb, 10, 0, 'b')]);
    await pa.waitFor('a1');
    await pb.waitFor('b1');
    pa.child.stdin!.write('\n'); // A now waits for B's range
    await new Promise((r) => setTimeout(r, 500));
    pb.child.stdin!.write('\n'); // B asking for A's range would close the cycle
    await pb.waitFor('b-');
    expect(pb.out()).toContain('b-EDEADLK');
    await pb.exited; // B exits: its range is released, A gets it
    await pa.waitFor('a-');
    expect(pa.out()).toContain('a-granted');
  });

  it('drops the locks of a crashed mount when that mount starts again', async () => {
    const c = await env.mount(sid, 'c');
    const fc = path.join(c.mountpoint, 'lock.txt');
    const holder = flockHolder(fc);
    await holder.waitFor('locked');
    expect(flockNow(fb)).toBe(1);
    await c.kill9();
    killGroup(holder);
    await holder.exited;
    detach(c.mountpoint);
    // The daemon died without releasing anything: the gateway still holds its lock.
    expect(flockNow(fb)).toBe(1);
    const c2 = await env.mount(sid, 'c'); // same mountpoint and session → same lock client id
    expect(flockNow(fb)).toBe(0);
    await c2.stop();
  });
});
