// The fuse-native (FUSE 2) binding: the only module that imports fuse-native. It adapts the
// binding's callback ops to SessionFilesystem calls through bridge(), and mounts with the options
// a serious mount needs (use_ino for stable inodes,
// big_writes, short kernel attribute/entry timeouts so other clients' changes show up quickly).
// fuse-native has no lock/flock ops: the kernel keeps locks local to this mount.
import { createRequire } from 'node:module';
import type { SessionFilesystem } from '../fs/session-fs.js';
import type { Logger } from '../shared/log.js';
import { bridge, toStat, type OpCounters } from './path-ops.js';

const require = createRequire(import.meta.url);

export interface FuseMountOptions {
  mountpoint: string;
  fsname: string;
  readOnly?: boolean;
  /**
   * Let every user use the mount (FUSE allow_other; needs root or user_allow_other in
   * /etc/fuse.conf). default_permissions is always on, so the kernel checks modes and owners.
   */
  allowOther?: boolean;
  /**
   * Kernel cache lifetime for attributes, seconds. Default 0: FUSE 2 gives us no way to tell the
   * kernel that an attribute changed (a hard link written through its other name, a remote
   * change), so attributes are always asked for (they are answered from memory).
   */
  attrTimeout?: number;
  /** Kernel cache lifetime for name lookups, seconds (default 1). */
  entryTimeout?: number;
  debug?: boolean;
  logger: Logger;
}

export interface MountHandle {
  mountpoint: string;
  binding: 'fuse-native' | 'aether-fuse3';
  counters: OpCounters;
  /** Unmount (the kernel detaches; pending requests are answered first). */
  unmount(): Promise<void>;
  /** Kernel lock requests reach the gateway (fuse3 + LockBridge); false = locks are local to this mount. */
  kernelLocks?: boolean;
  /**
   * Drop the kernel's cached attributes and pages of these paths (remote changes). Only bindings
   * with exact invalidation have it; the others rely on short cache timeouts.
   */
  invalidate?(paths: string[]): Promise<number>;
}

type Cb = (...args: any[]) => void;

export async function mountWithFuseNative(fs: SessionFilesystem, opts: FuseMountOptions): Promise<MountHandle> {
  const Fuse: new (...args: any[]) => any = require('fuse-native');
  const log = opts.logger;
  const counters: OpCounters = { ops: {}, errors: {} };
  const attrTimeout = opts.attrTimeout ?? 0;
  const entryTimeout = opts.entryTimeout ?? 1;

  // Subclass: pass fd to fgetattr (upstream drops it) and add mount options upstream lacks.
  class AetherFuse extends Fuse {
    _fuseOptions(): string {
      const o = [
        'use_ino',
        'big_writes',
        'max_write=131072',
        'max_read=131072',
        `attr_timeout=${attrTimeout}`,
        `entry_timeout=${entryTimeout}`,
        'negative_timeout=0',
        `fsname=${opts.fsname.replace(/[,\s]/g, '_')}`,
        'subtype=aether',
        'default_permissions',
      ];
      if (opts.readOnly) o.push('ro');
      if (opts.allowOther) o.push('allow_other');
      if (opts.debug) o.push('debug');
      return '-o' + o.join(',');
    }
    _op_fgetattr(signal: Cb, path: string, fd: number): void {
      (this as any).ops.fgetattr(path, fd, (err: number, stat: unknown) => {
        if (err) return signal(err);
        return signal(0, getStatArrayCompat(stat));
      });
    }
  }

  // fuse-native keeps getStatArray private; rebuild the 18-int layout it expects.
  function getStatArrayCompat(stat: any): Uint32Array {
    const ints = new Uint32Array(18);
    const setDouble = (i: number, n: number) => {
      ints[i] = n % 4294967296;
      ints[i + 1] = (n - ints[i]!) / 4294967296;
    };
    ints[0] = stat.mode;
    ints[1] = stat.uid;
    ints[2] = stat.gid;
    setDouble(3, stat.size);
    ints[6] = stat.nlink;
    ints[7] = stat.ino;
    ints[9] = stat.blksize;
    setDouble(10, stat.blocks);
    setDouble(12, stat.atime.getTime());
    setDouble(14, stat.mtime.getTime());
    setDouble(16, stat.ctime.getTime());
    return ints;
  }

  const run = <T>(name: string, fields: Record<string, unknown>, fn: () => Promise<T>, done: (r: { ok: true; value: T } | { ok: false; errno: number }) => void) => {
    void bridge(name, log, counters, fields, fn).then(done);
  };
  const simple = (name: string, cb: Cb, fields: Record<string, unknown>, fn: () => Promise<unknown>) =>
    run(name, fields, fn, (r) => cb(r.ok ? 0 : r.errno));

  const ops = {
    init: (cb: Cb) => cb(0),
    statfs: (_p: string, cb: Cb) => cb(0, fs.statfs()),
    access: (path: string, mode: number, cb: Cb) => simple('access', cb, { path, mode }, () => fs.access(path)),
    getattr: (path: string, cb: Cb) => run('getattr', { path }, () => fs.getattr(path), (r) => (r.ok ? cb(0, toStat(r.value)) : cb(r.errno))),
    fgetattr: (path: string, fd: number, cb: Cb) =>
      run('fgetattr', { path, fd }, () => (fd ? fs.fgetattr(fd) : fs.getattr(path)), (r) => (r.ok ? cb(0, toStat(r.value)) : cb(r.errno))),
    readdir: (path: string, cb: Cb) =>
      run('readdir', { path }, () => fs.readdir(path), (r) => (r.ok ? cb(0, r.value.map((e) => e.name), r.value.map((e) => toStat(e.attr))) : cb(r.errno))),
    opendir: (path: string, _flags: number, cb: Cb) => run('opendir', { path }, () => fs.getattr(path), (r) => (r.ok ? cb(0, 0) : cb(r.errno))),
    releasedir: (_path: string, _fd: number, cb: Cb) => cb(0),
    readlink: (path: string, cb: Cb) => run('readlink', { path }, () => fs.readlink(path), (r) => (r.ok ? cb(0, r.value) : cb(r.errno))),
    open: (path: string, flags: number, cb: Cb) => run('open', { path, flags }, () => fs.open(path, flags), (r) => (r.ok ? cb(0, r.value) : cb(r.errno))),
    create: (path: string, mode: number, cb: Cb) =>
      // fuse-native passes no open flags to create; O_EXCL is checked by the kernel's lookup first.
      run('create', { path, mode }, () => fs.create(path, mode, 0o2), (r) => (r.ok ? cb(0, r.value.fh) : cb(r.errno))),
    read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
      run('read', { path, fd, len, pos }, () => fs.read(fd, pos, len), (r) => {
        if (!r.ok) return cb(r.errno);
        r.value.copy(buf);
        cb(r.value.length);
      }),
    write: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
      // The buffer belongs to the binding: copy before the next tick reuses it.
      run('write', { path, fd, len, pos }, () => fs.write(fd, Buffer.from(buf.subarray(0, len)), pos), (r) => cb(r.ok ? r.value : r.errno)),
    flush: (path: string, fd: number, cb: Cb) => simple('flush', cb, { path, fd }, () => fs.flush(fd)),
    fsync: (path: string, _datasync: boolean, fd: number, cb: Cb) => simple('fsync', cb, { path, fd }, () => fs.fsync(fd)),
    fsyncdir: (_path: string, _datasync: boolean, _fd: number, cb: Cb) => cb(0),
    release: (path: string, fd: number, cb: Cb) => simple('release', cb, { path, fd }, () => fs.release(fd)),
    truncate: (path: string, size: number, cb: Cb) => simple('truncate', cb, { path, size }, () => fs.truncate(path, size)),
    ftruncate: (path: string, fd: number, size: number, cb: Cb) => simple('ftruncate', cb, { path, fd, size }, () => fs.ftruncate(fd, size)),
    chmod: (path: string, mode: number, cb: Cb) => simple('chmod', cb, { path, mode }, () => fs.chmod(path, mode)),
    chown: (_path: string, _uid: number, _gid: number, cb: Cb) => cb(0),
    utimens: (path: string, atime: number, mtime: number, cb: Cb) => simple('utimens', cb, { path }, () => fs.utimens(path, Number(atime), Number(mtime))),
    unlink: (path: string, cb: Cb) => simple('unlink', cb, { path }, () => fs.unlink(path)),
    rename: (src: string, dest: string, cb: Cb) => simple('rename', cb, { src, dest }, () => fs.rename(src, dest)),
    link: (src: string, dest: string, cb: Cb) => simple('link', cb, { src, dest }, () => fs.link(src, dest)),
    symlink: (target: string, path: string, cb: Cb) => simple('symlink', cb, { target, path }, () => fs.symlink(target, path)),
    mkdir: (path: string, mode: number, cb: Cb) => simple('mkdir', cb, { path, mode }, () => fs.mkdir(path, mode)),
    rmdir: (path: string, cb: Cb) => simple('rmdir', cb, { path }, () => fs.rmdir(path)),
    mknod: (_path: string, _mode: number, _dev: number, cb: Cb) => cb(-38),
    setxattr: (path: string, name: string, value: Buffer, _pos: number, _flags: number, cb: Cb) =>
      simple('setxattr', cb, { path, name }, () => fs.setxattr(path, name, Buffer.from(value))),
    getxattr: (path: string, name: string, _pos: number, cb: Cb) =>
      run('getxattr', { path, name }, () => fs.getxattr(path, name), (r) => (r.ok ? cb(0, r.value) : cb(r.errno))),
    listxattr: (path: string, cb: Cb) => run('listxattr', { path }, () => fs.listxattr(path), (r) => (r.ok ? cb(0, r.value) : cb(r.errno))),
    removexattr: (path: string, name: string, cb: Cb) => simple('removexattr', cb, { path, name }, () => fs.removexattr(path, name)),
  };

  const fuse = new AetherFuse(opts.mountpoint, ops, { timeout: false, force: true, mkdir: true });
  await new Promise<void>((resolve, reject) => fuse.mount((err: Error | null) => (err ? reject(err) : resolve())));
  let unmounted = false;
  return {
    mountpoint: opts.mountpoint,
    binding: 'fuse-native',
    counters,
    kernelLocks: false,
    async unmount() {
      if (unmounted) return;
      unmounted = true;
      await new Promise<void>((resolve, reject) => fuse.unmount((err: Error | null) => (err ? reject(err) : resolve())));
    },
  };
}
