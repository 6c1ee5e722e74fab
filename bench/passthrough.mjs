#!/usr/bin/env node
// A plain FUSE passthrough on the same binding Aether uses (fuse-native, libfuse 2 high-level API,
// the same mount options as src/fuse/fuse-native-mount.ts): every op forwards to a backing
// directory with async node:fs. It is the benchmarks' reference for the binding itself: what any
// Node/fuse-native filesystem pays per kernel request (plus one real syscall per op), so the
// figures can separate the binding's cost from Aether's own (gateway round trips, CAS, staging).
//
//   node bench/passthrough.mjs <backing dir> <mountpoint>
// Prints one line {"ready":true} once mounted; unmounts on SIGTERM/SIGINT. Never blocks: the
// serving process uses only async I/O (sync I/O here would stall every kernel request).
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const Fuse = require('fuse-native');

const [backing, mountpoint] = process.argv.slice(2);
if (!backing || !mountpoint) {
  process.stderr.write('usage: passthrough.mjs <backing dir> <mountpoint>\n');
  process.exit(2);
}
const real = (p) => path.join(backing, p);
const errno = (e) => (e && typeof e.errno === 'number' ? (e.errno < 0 ? e.errno : -e.errno) : Fuse.EIO);
const done = (cb) => (err) => cb(err ? errno(err) : 0);
const withValue = (cb) => (err, v) => (err ? cb(errno(err)) : cb(0, v));

class PassthroughFuse extends Fuse {
  _fuseOptions() {
    // Same as Aether's adapter, so the floor measures the same kernel/binding behaviour.
    const o = ['hard_remove', 'use_ino', 'big_writes', 'max_write=131072', 'max_read=131072', 'attr_timeout=0', 'entry_timeout=1', 'negative_timeout=0', 'fsname=passthrough', 'subtype=passthrough', 'default_permissions'];
    return '-o' + o.join(',');
  }
}

const ops = {
  init: (cb) => cb(0),
  statfs: (_p, cb) =>
    fs.statfs(backing, (err, s) =>
      err ? cb(errno(err)) : cb(0, { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, namemax: 255 }),
    ),
  access: (p, mode, cb) => fs.access(real(p), mode, done(cb)),
  getattr: (p, cb) => fs.lstat(real(p), withValue(cb)),
  readdir: (p, cb) => fs.readdir(real(p), withValue(cb)),
  readlink: (p, cb) => fs.readlink(real(p), withValue(cb)),
  open: (p, flags, cb) => fs.open(real(p), flags, withValue(cb)),
  create: (p, mode, cb) => fs.open(real(p), fs.constants.O_CREAT | fs.constants.O_RDWR, mode, withValue(cb)),
  read: (_p, fd, buf, len, pos, cb) => fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? errno(err) : n)),
  write: (_p, fd, buf, len, pos, cb) => fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? errno(err) : n)),
  flush: (_p, _fd, cb) => cb(0),
  fsync: (_p, _datasync, fd, cb) => fs.fsync(fd, done(cb)),
  release: (_p, fd, cb) => fs.close(fd, done(cb)),
  truncate: (p, size, cb) => fs.truncate(real(p), size, done(cb)),
  ftruncate: (_p, fd, size, cb) => fs.ftruncate(fd, size, done(cb)),
  chmod: (p, mode, cb) => fs.chmod(real(p), mode, done(cb)),
  chown: (p, uid, gid, cb) => fs.lchown(real(p), uid, gid, done(cb)),
  utimens: (p, atime, mtime, cb) => fs.utimes(real(p), new Date(Number(atime)), new Date(Number(mtime)), done(cb)),
  unlink: (p, cb) => fs.unlink(real(p), done(cb)),
  rename: (a, b, cb) => fs.rename(real(a), real(b), done(cb)),
  link: (a, b, cb) => fs.link(real(a), real(b), done(cb)),
  symlink: (target, p, cb) => fs.symlink(target, real(p), done(cb)),
  mkdir: (p, mode, cb) => fs.mkdir(real(p), { mode }, done(cb)),
  rmdir: (p, cb) => fs.rmdir(real(p), done(cb)),
};

const fuse = new PassthroughFuse(mountpoint, ops, { timeout: false, force: true, mkdir: true });
fuse.mount((err) => {
  if (err) {
    process.stdout.write(JSON.stringify({ ready: false, error: String(err) }) + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
