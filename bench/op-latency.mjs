#!/usr/bin/env node
// Per-operation latency probe, run as its own process against one directory (native, passthrough
// or an Aether mount): prints one JSON line {op: microseconds per call}. Synchronous calls on
// purpose (one syscall at a time, no thread-pool queueing); this process never serves a mount.
//   node bench/op-latency.mjs <dir> [scale]
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = process.argv[2];
const scale = Number(process.argv[3] ?? 1);
if (!dir) {
  process.stderr.write('usage: op-latency.mjs <dir> [scale]\n');
  process.exit(2);
}
const root = path.join(dir, `ops-${process.pid}`);
fs.mkdirSync(root);
const n = (k) => Math.max(10, Math.round(k * scale));
const out = {};
const time = (name, count, fn) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) fn(i);
  out[name] = Number(process.hrtime.bigint() - t0) / 1e3 / count;
};
const data = Buffer.alloc(4096, 7);
const files = n(300);
time('create+write 4 KiB+close', files, (i) => fs.writeFileSync(path.join(root, `f${i}`), data));
time('stat', n(2000), (i) => fs.statSync(path.join(root, `f${i % files}`)));
time('stat (missing name)', n(1000), (i) => fs.existsSync(path.join(root, `missing${i}`)));
time('open+close', n(500), (i) => fs.closeSync(fs.openSync(path.join(root, `f${i % files}`), 'r')));
time('open+read 4 KiB+close', n(500), (i) => fs.readFileSync(path.join(root, `f${i % files}`)));
const buf = Buffer.alloc(4096);
const fd = fs.openSync(path.join(root, 'f0'), 'r+');
time('pwrite 4 KiB (open fd)', n(1000), () => fs.writeSync(fd, data, 0, data.length, 0));
time('pread 4 KiB (open fd)', n(1000), () => fs.readSync(fd, buf, 0, buf.length, 0));
fs.closeSync(fd);
time('rename', files, (i) => fs.renameSync(path.join(root, `f${i}`), path.join(root, `g${i}`)));
time('mkdir', n(100), (i) => fs.mkdirSync(path.join(root, `d${i}`)));
time('rmdir', n(100), (i) => fs.rmdirSync(path.join(root, `d${i}`)));
time('unlink', files, (i) => fs.unlinkSync(path.join(root, `g${i}`)));
fs.rmSync(root, { recursive: true, force: true });
process.stdout.write(JSON.stringify(out) + '\n');
