// Differential test: thousands of random file operations, generated from a seeded PRNG, applied to
// a real Aether mount and to a plain local directory, with identical results required: every op's
// return value or errno name, the lstat of the paths it touched, and every 100 ops the full tree
// (names, types, sizes, permission bits, content hashes, symlink targets, nlink). At the end: the
// gateway's manifest over HTTP, then a remount (warm cache) and a remount with an empty cache.
//
// The mount uses whichever FUSE binding the daemon selects (fuse3 when the addon is built, else
// fuse-native); AETHER_FUSE_BINDING=fuse3|fuse-native runs it against one of them.
// Replay a failure: AETHER_DIFF_SEED=<seed printed> [AETHER_DIFF_OPS=<n>] npx vitest run test/fuse/differential.test.ts
// (AETHER_DIFF_LOG=<file> writes the whole op log of a passing run; a failing one always does.)
//
// Deliberate, documented differences (SEMANTICS.md) that are NOT compared:
//   - atime/mtime/ctime: timestamps come from two different clocks and code paths; atime is not
//     persisted by the gateway at all.
//   - st_ino, st_dev, st_blocks, st_blksize, uid/gid: local identifiers and allocation details
//     (ext4 reports allocated blocks of sparse files, the mount reports ceil(size/512)).
//   - directory st_size: ext4 reports allocation multiples of 4096, the mount always 4096.
//   - directory permission bits changed by chmod after mkdir: kept in memory only (the gateway API
//     has no route to change a directory's mode), so after a remount and in the gateway manifest
//     such directories are skipped (tracked by the reference side's inode number).
//
// Bugs found by this test are reproduced in minimal form in the second describe block below;
// AETHER_DIFF_AVOID (see below) steers the random generator around them while they are open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { afs, chooseSeed, diffSnapshots, entryOf, listLocal, Rng, sha256hex, snapshotFromManifest, snapshotTree, withTimeout, type DiffOptions, type Snapshot } from '../helpers/fs-model.js';

const OPS = Number(process.env.AETHER_DIFF_OPS ?? 3000);
const CHECK_EVERY = 100;
const OP_TIMEOUT_MS = 30_000;
/** Names are drawn from a small pool so that collisions (EEXIST, rename-over, ENOTEMPTY) are common. */
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const MAX_DEPTH = 3;
const MAX_FDS = 10;
const SOFT_MAX_BYTES = 24 * 1024 * 1024;
/**
 * Triage aid: AETHER_DIFF_AVOID=<comma list> keeps the generator away from known,
 * reported bugs (each has a focused reproduction below) so a run can look for other bugs meanwhile:
 *   unlink-open   removing a name that has open fds (fixed: libfuse's hide + a local stand-in)
 *   hardlink-fd   reading through an fd opened before a write through another hard-link name
 *                 (fuse-native: stale page cache)
 *   hardlinks     creating hard links at all (fuse3: other names keep a stale size/nlink)
 *   link-symlink  hard-linking a symlink (was ESTALE instead of a POSIX errno; fixed)
 *   long-name     lookups of names longer than NAME_MAX (was ENOENT, not ENAMETOOLONG; fixed)
 *   setgid-dir    mkdir inside a set-group-ID directory (the bit was not inherited; fixed)
 *   dir-nlink     directory nlink after a remount (was 2 until the directory was listed; fixed)
 *   orphan-fstat  fstat of an fd whose file was unlinked and whose directory was then removed: the
 *                 documented gap of libfuse's path-based API (the kernel's GETATTR for fstat has no
 *                 file handle, and libfuse has no path left for the hidden file of a removed
 *                 directory: ESTALE under fuse3, ENOENT under fuse-native, before Aether is asked);
 *                 read/write/ftruncate on that fd still work and stay in the mix.
 */
// Default: hard links stay out of the random mix while the open coherence bug below is unfixed
// (fuse3 caches each name of a hard link as its own kernel inode; after some sequences of writes,
// truncates and renames through different names a read through one name returns stale bytes).
// The focused hard-link tests below still run. Set AETHER_DIFF_AVOID= (empty) for the full mix.
const AVOID = new Set((process.env.AETHER_DIFF_AVOID ?? 'hardlinks,orphan-fstat').split(',').filter(Boolean));

type Outcome = { ok: true; v: unknown } | { ok: false; code: string };

interface LogicalFd {
  id: number;
  rel: string;
  flags: string;
  ref: number;
  mnt: number;
  /** Inode of the directory the file was opened in (reference side). */
  dirIno: number;
}

interface Side {
  name: 'ref' | 'mnt';
  root: string;
  fd(l: LogicalFd): number;
}

interface Op {
  desc: string;
  /** Paths whose lstat (type, size, mode, nlink) is compared after the op. */
  touched: string[];
  run(s: Side): Promise<unknown>;
  /** Both sides agreed; update fd bookkeeping etc. */
  after?(ref: Outcome, mnt: Outcome): void;
  /** The op's value is a new fd (not compared: fd numbers differ). */
  opensFd?: boolean;
  /** Paths whose name this op may remove (unlink, rename source/destination). */
  removes?: string[];
  /** link(2) source. */
  linkSrc?: string;
  /** Reads through this already-open fd. */
  readsFd?: LogicalFd;
  statsFd?: LogicalFd;
  /** Generator kind (for the coverage summary). */
  kind?: string;
}

/** Comparable form of an op's value (Buffers by content, Stats by the compared fields). */
function norm(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return { len: v.length, sha: sha256hex(v) };
  if (v instanceof fs.Stats) {
    const { ino: _ino, ...e } = entryOf(v);
    return e;
  }
  if (Array.isArray(v)) return v.map(norm);
  return v;
}

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function show(o: Outcome): string {
  return o.ok ? `ok ${JSON.stringify(norm(o.v))}` : `error ${o.code}`;
}

async function outcome(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, v: await fn() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, code: code ?? `non-errno failure: ${(e as Error).message ?? String(e)}` };
  }
}

const dataLen = (rng: Rng) =>
  rng.weighted<() => number>([
    [3, () => 0],
    [30, () => rng.range(1, 100)],
    [30, () => rng.range(101, 4096)],
    [18, () => rng.range(4097, 65536)],
    [5, () => rng.range(65537, 300_000)],
  ])();

/** Drives the random workload against the reference directory and the mount. */
class Differential {
  readonly log: string[] = [];
  fds: LogicalFd[] = [];
  private nextFd = 1;
  opIndex = 0;
  /** Reference-side inode numbers of directories chmod'ed after mkdir (mode kept in memory only). */
  readonly chmodDirInos = new Set<number>();
  /** Outcomes per op kind: shows which paths (errors included) the run exercised. */
  readonly coverage: Record<string, Record<string, number>> = {};
  private entries: Array<{ rel: string; type: 'file' | 'dir' | 'symlink'; size: number }> = [];

  constructor(
    readonly rng: Rng,
    readonly refRoot: string,
    public mntRoot: string,
  ) {}

  private side(name: 'ref' | 'mnt'): Side {
    return { name, root: name === 'ref' ? this.refRoot : this.mntRoot, fd: (l) => (name === 'ref' ? l.ref : l.mnt) };
  }

  abs(s: Side, rel: string): string {
    return rel ? path.join(s.root, rel) : s.root;
  }

  fail(msg: string): never {
    const tail = this.log.slice(-25).join('\n  ');
    const full = path.join(os.tmpdir(), `aether-diff-${this.rng.seed}.log`);
    fs.writeFileSync(full, this.log.join('\n') + '\n');
    throw new Error(
      `differential mismatch (seed ${this.rng.seed}, op #${this.opIndex}, binding ${process.env.AETHER_FUSE_BINDING || 'auto'}): ${msg}\n` +
        `full op log: ${full}\n` +
        `replay: AETHER_DIFF_SEED=${this.rng.seed} AETHER_DIFF_OPS=${this.opIndex + 1}${process.env.AETHER_FUSE_BINDING ? ` AETHER_FUSE_BINDING=${process.env.AETHER_FUSE_BINDING}` : ''} npx vitest run test/fuse/differential.test.ts\n` +
        `last ops:\n  ${tail}`,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // The reference state the generator draws from (the local directory is the truth)
  // ---------------------------------------------------------------------------------------------

  refresh(): void {
    this.entries = listLocal(this.refRoot).map((e) => ({ ...e, size: e.type === 'file' ? fs.lstatSync(path.join(this.refRoot, e.rel)).size : 0 }));
  }
  private get dirs(): string[] {
    return ['', ...this.entries.filter((e) => e.type === 'dir').map((e) => e.rel)];
  }
  private get files(): string[] {
    return this.entries.filter((e) => e.type === 'file').map((e) => e.rel);
  }
  private get links(): string[] {
    return this.entries.filter((e) => e.type === 'symlink').map((e) => e.rel);
  }
  private get totalBytes(): number {
    return this.entries.reduce((n, e) => n + e.size, 0);
  }
  private sizeOf(rel: string): number {
    return this.entries.find((e) => e.rel === rel)?.size ?? 0;
  }
  private depth(rel: string): number {
    return rel === '' ? 0 : rel.split('/').length;
  }
  private join(dir: string, name: string): string {
    return dir ? `${dir}/${name}` : name;
  }

  /** A path that may or may not exist, in an existing directory, sometimes odd. */
  private anyPath(): string {
    const r = this.rng;
    return r.weighted<() => string>([
      [80, () => this.join(r.pick(this.dirs), r.pick(NAMES))],
      [4, () => this.join(r.pick(this.dirs), `zz/${r.pick(NAMES)}`)], // missing parent: ENOENT
      [4, () => (this.files.length ? `${r.pick(this.files)}/${r.pick(NAMES)}` : r.pick(NAMES))], // through a file: ENOTDIR
      [4, () => (this.links.length ? `${r.pick(this.links)}/${r.pick(NAMES)}` : r.pick(NAMES))], // through a symlink
      [AVOID.has('long-name') ? 0 : 1, () => this.join(r.pick(this.dirs), 'n'.repeat(256))], // longer than NAME_MAX
    ])();
  }
  private newPath(): string {
    const dirs = this.dirs.filter((d) => this.depth(d) < MAX_DEPTH);
    return this.join(this.rng.pick(dirs), this.rng.pick(NAMES));
  }
  private existingFile(): string {
    const fdPaths = this.fds.map((f) => f.rel);
    if (fdPaths.length && this.rng.chance(0.25)) return this.rng.pick(fdPaths);
    return this.files.length && this.rng.chance(0.9) ? this.rng.pick(this.files) : this.anyPath();
  }
  private existingAny(): string {
    const all = this.entries.map((e) => e.rel);
    return all.length && this.rng.chance(0.85) ? this.rng.pick(all) : this.anyPath();
  }
  private offsetFor(rel: string): number {
    const size = this.sizeOf(rel);
    const r = this.rng;
    return r.weighted<() => number>([
      [12, () => 0],
      [40, () => r.int(size + 1)],
      [20, () => size],
      [15, () => size + r.range(1, 10_000)], // sparse: a hole before the data
      [size < 2 * 1024 * 1024 && this.totalBytes < SOFT_MAX_BYTES ? 2 : 0, () => r.range(4 * 1024 * 1024, 6 * 1024 * 1024)], // far beyond EOF: a large sparse file
    ])();
  }
  private truncLen(rel: string): number {
    const size = this.sizeOf(rel);
    const r = this.rng;
    return r.weighted<() => number>([
      [10, () => 0],
      [40, () => r.int(size + 1)], // shrink
      [25, () => size + r.range(1, 20_000)], // extend with zeros
      [5, () => size],
    ])();
  }
  private fileMode(): number {
    return this.rng.pick([0o644, 0o600, 0o755, 0o640, 0o444, 0o700]);
  }
  private chmodMode(): number {
    const modes = [0o644, 0o600, 0o755, 0o700, 0o640, 0o444, 0o000, 0o750, 0o777, 0o1777, 0o4755];
    if (!AVOID.has('setgid-dir')) modes.push(0o2755);
    return this.rng.pick(modes);
  }
  private symlinkTarget(): string {
    // Relative and descending only, so a link never resolves outside its own tree.
    const r = this.rng;
    return r.weighted<() => string>([
      [60, () => r.pick(NAMES)],
      [20, () => `${r.pick(NAMES)}/${r.pick(NAMES)}`],
      [10, () => 'nowhere'],
      [5, () => `${r.pick(NAMES)}/../${r.pick(NAMES)}`],
    ])();
  }
  private pickFd(): LogicalFd | undefined {
    return this.fds.length ? this.rng.pick(this.fds) : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Operations
  // ---------------------------------------------------------------------------------------------

  private openWriteClose(desc: string, rel: string, flags: string, mode: number, writes: Array<{ data: Buffer; pos: number | null }>): Op {
    return {
      desc: `${desc} ${rel} flags=${flags} mode=${mode.toString(8)} writes=[${writes.map((w) => `${w.data.length}@${w.pos ?? 'cur'}`).join(',')}]`,
      touched: [rel],
      run: async (s) => {
        const fd = await afs.open(this.abs(s, rel), flags, mode);
        const written: number[] = [];
        let err: unknown;
        try {
          for (const w of writes) written.push(await afs.write(fd, w.data, w.pos));
        } catch (e) {
          err = e;
        }
        await afs.close(fd); // close reports upload failures: they must surface here, not vanish
        if (err) throw err;
        return written;
      },
    };
  }

  private nextOp(): Op {
    const r = this.rng;
    const tooBig = this.totalBytes > SOFT_MAX_BYTES;
    const kind = r.weighted<string>([
      [9, 'writeFile'],
      [8, 'pwrite'],
      [5, 'append'],
      [8, 'read'],
      [3, 'readFile'],
      [tooBig ? 20 : 5, 'truncate'],
      [8, 'rename'],
      [tooBig ? 12 : 5, 'unlink'],
      [5, 'mkdir'],
      [4, 'rmdir'],
      [3, 'symlink'],
      [3, 'readlink'],
      [AVOID.has('hardlinks') ? 0 : 3, 'linkWrite'],
      [4, 'chmod'],
      [3, 'openExcl'],
      [4, 'stat'],
      [3, 'readdir'],
      [this.fds.length < MAX_FDS ? 7 : 0, 'fdOpen'],
      [this.fds.length ? 10 : 0, 'fdWrite'],
      [this.fds.length ? 6 : 0, 'fdRead'],
      [this.fds.length ? 3 : 0, 'fdTruncate'],
      [this.fds.length ? 3 : 0, 'fdStat'],
      [this.fds.length ? 1 : 0, 'fdSync'],
      [this.fds.length ? (this.fds.length >= MAX_FDS ? 20 : 5) : 0, 'fdClose'],
    ]);
    const op = this.build(kind);
    op.kind = kind;
    return op;
  }

  private build(kind: string): Op {
    const r = this.rng;
    switch (kind) {
      case 'writeFile': {
        const rel = r.chance(0.5) ? this.newPath() : this.existingFile();
        return this.openWriteClose('writeFile', rel, r.pick(['w', 'w', 'w+', 'wx']), this.fileMode(), [{ data: r.bytes(dataLen(r)), pos: null }]);
      }
      case 'pwrite': {
        const rel = this.existingFile();
        const writes = Array.from({ length: r.range(1, 3) }, () => ({ data: r.bytes(dataLen(r)), pos: this.offsetFor(rel) }));
        return this.openWriteClose('pwrite', rel, r.pick(['r+', 'r+', 'w+', 'r']), 0o644, writes);
      }
      case 'append': {
        const rel = r.chance(0.8) ? this.existingFile() : this.newPath();
        const writes = Array.from({ length: r.range(1, 3) }, () => ({ data: r.bytes(dataLen(r)), pos: r.chance(0.8) ? null : r.int(1000) }));
        return this.openWriteClose('append', rel, r.pick(['a', 'a+']), this.fileMode(), writes);
      }
      case 'read': {
        const rel = this.existingFile();
        const size = this.sizeOf(rel);
        const off = r.weighted<() => number>([
          [60, () => r.int(size + 1)],
          [10, () => 0],
          [10, () => size + r.int(100)],
        ])();
        const len = r.pick([1, 100, 4096, 65536, 200_000, r.range(1, 10_000)]);
        return {
          desc: `read ${rel} ${len}@${off}`,
          touched: [rel],
          run: async (s) => {
            const fd = await afs.open(this.abs(s, rel), 'r');
            try {
              return await afs.read(fd, len, off);
            } finally {
              await afs.close(fd);
            }
          },
        };
      }
      case 'readFile': {
        const rel = r.chance(0.9) ? this.existingFile() : this.existingAny();
        return { desc: `readFile ${rel}`, touched: [rel], run: (s) => afs.readFile(this.abs(s, rel)) };
      }
      case 'truncate': {
        const rel = this.existingFile();
        const len = this.truncLen(rel);
        return { desc: `truncate ${rel} ${len}`, touched: [rel], run: (s) => afs.truncate(this.abs(s, rel), len) };
      }
      case 'rename': {
        const src = r.weighted<() => string>([
          [50, () => (this.files.length ? r.pick(this.files) : this.anyPath())],
          [25, () => (this.dirs.length > 1 ? r.pick(this.dirs.slice(1)) : this.anyPath())],
          [10, () => (this.links.length ? r.pick(this.links) : this.anyPath())],
          [15, () => this.anyPath()],
        ])();
        const dst = r.weighted<() => string>([
          [45, () => this.newPath()],
          [35, () => this.existingAny()], // rename-over (files), ENOTEMPTY/EISDIR/ENOTDIR/EINVAL otherwise
          [10, () => (src ? `${src}/${r.pick(NAMES)}` : this.newPath())], // into itself: EINVAL (dirs) / ENOTDIR (files)
          [10, () => this.anyPath()],
        ])();
        return { desc: `rename ${src} -> ${dst}`, touched: [src, dst], removes: [dst], run: (s) => afs.rename(this.abs(s, src), this.abs(s, dst)) };
      }
      case 'unlink': {
        const fdPaths = this.fds.map((f) => f.rel);
        const rel = fdPaths.length && r.chance(0.35) ? r.pick(fdPaths) : r.chance(0.85) ? this.existingAny() : this.anyPath();
        return { desc: `unlink ${rel}`, touched: [rel], removes: [rel], run: (s) => afs.unlink(this.abs(s, rel)) };
      }
      case 'mkdir': {
        const rel = r.chance(0.85) ? this.newPath() : this.anyPath();
        const mode = r.pick([0o755, 0o700, 0o750, 0o777, 0o711]);
        return { desc: `mkdir ${rel} ${mode.toString(8)}`, touched: [rel], run: (s) => afs.mkdir(this.abs(s, rel), mode) };
      }
      case 'rmdir': {
        const rel = r.chance(0.75) && this.dirs.length > 1 ? r.pick(this.dirs.slice(1)) : this.existingAny();
        return { desc: `rmdir ${rel}`, touched: [rel], removes: [rel], run: (s) => afs.rmdir(this.abs(s, rel)) };
      }
      case 'symlink': {
        const rel = r.chance(0.85) ? this.newPath() : this.existingAny();
        const target = this.symlinkTarget();
        return { desc: `symlink ${rel} -> ${target}`, touched: [rel], run: (s) => afs.symlink(target, this.abs(s, rel)) };
      }
      case 'readlink': {
        const rel = this.links.length && r.chance(0.8) ? r.pick(this.links) : this.existingAny();
        return { desc: `readlink ${rel}`, touched: [rel], run: (s) => afs.readlink(this.abs(s, rel)) };
      }
      case 'linkWrite': {
        // link(src, dst), then write through the new name and read through the old one.
        const src = this.files.length && r.chance(0.85) ? r.pick(this.files) : this.existingAny();
        const dst = r.chance(0.85) ? this.newPath() : this.existingAny();
        const data = r.bytes(dataLen(r));
        const pos = this.offsetFor(src);
        return {
          desc: `link ${src} ${dst} + write ${data.length}@${pos} via ${dst} + read via ${src}`,
          touched: [src, dst],
          linkSrc: src,
          run: async (s) => {
            await afs.link(this.abs(s, src), this.abs(s, dst));
            const fd = await afs.open(this.abs(s, dst), 'r+');
            try {
              await afs.write(fd, data, pos);
            } finally {
              await afs.close(fd);
            }
            return afs.readFile(this.abs(s, src));
          },
        };
      }
      case 'chmod': {
        const rel = this.existingAny();
        const mode = this.chmodMode();
        return {
          desc: `chmod ${rel} ${mode.toString(8)}`,
          touched: [rel],
          run: (s) => afs.chmod(this.abs(s, rel), mode),
          after: (ref) => {
            if (!ref.ok) return;
            const st = fs.statSync(path.join(this.refRoot, rel)); // chmod follows symlinks
            if (st.isDirectory()) this.chmodDirInos.add(st.ino);
          },
        };
      }
      case 'openExcl': {
        const rel = r.chance(0.8) ? this.existingAny() : this.newPath();
        return this.openWriteClose('openExcl', rel, r.pick(['wx', 'ax', 'wx+']), this.fileMode(), [{ data: r.bytes(r.range(0, 50)), pos: null }]);
      }
      case 'stat': {
        const rel = this.existingAny();
        return r.chance(0.7)
          ? { desc: `lstat ${rel}`, touched: [], run: (s) => afs.lstat(this.abs(s, rel)) }
          : { desc: `stat ${rel}`, touched: [], run: (s) => afs.stat(this.abs(s, rel)) };
      }
      case 'readdir': {
        const rel = r.chance(0.8) ? r.pick(this.dirs) : this.existingAny();
        return { desc: `readdir ${rel || '.'}`, touched: [], run: async (s) => (await afs.readdir(this.abs(s, rel))).sort() };
      }
      case 'fdOpen': {
        const fdPaths = this.fds.map((f) => f.rel);
        // Often a file that already has open fds: several fds on one file interleave.
        const rel = fdPaths.length && r.chance(0.4) ? r.pick(fdPaths) : r.chance(0.85) ? this.existingFile() : this.newPath();
        const flags = r.pick(['r', 'r+', 'r+', 'w+', 'a', 'a+', 'w', 'r+']);
        const id = this.nextFd++;
        return {
          desc: `open#${id} ${rel} ${flags}`,
          touched: [rel],
          run: (s) => afs.open(this.abs(s, rel), flags, 0o644),
          opensFd: true,
          after: (ref, mnt) => {
            if (ref.ok && mnt.ok) this.fds.push({ id, rel, flags, ref: ref.v as number, mnt: mnt.v as number, dirIno: fs.statSync(path.join(this.refRoot, path.dirname(rel))).ino });
          },
        };
      }
      case 'fdWrite': {
        const f = this.pickFd()!;
        const data = r.bytes(dataLen(r));
        const pos = r.chance(0.3) ? null : this.offsetFor(f.rel);
        return { desc: `write#${f.id} (${f.rel} ${f.flags}) ${data.length}@${pos ?? 'cur'}`, touched: [f.rel], run: (s) => afs.write(s.fd(f), data, pos) };
      }
      case 'fdRead': {
        const f = this.pickFd()!;
        const len = r.pick([1, 100, 4096, 70_000, r.range(1, 10_000)]);
        const pos = r.chance(0.3) ? null : r.int(this.sizeOf(f.rel) + 50);
        return { desc: `read#${f.id} (${f.rel} ${f.flags}) ${len}@${pos ?? 'cur'}`, touched: [], readsFd: f, run: (s) => afs.read(s.fd(f), len, pos) };
      }
      case 'fdTruncate': {
        const f = this.pickFd()!;
        const len = this.truncLen(f.rel);
        return { desc: `ftruncate#${f.id} (${f.rel} ${f.flags}) ${len}`, touched: [f.rel], run: (s) => afs.ftruncate(s.fd(f), len) };
      }
      case 'fdStat': {
        const f = this.pickFd()!;
        return { desc: `fstat#${f.id} (${f.rel})`, touched: [], statsFd: f, run: (s) => afs.fstat(s.fd(f)) };
      }
      case 'fdSync': {
        const f = this.pickFd()!;
        return { desc: `fsync#${f.id} (${f.rel})`, touched: [f.rel], run: (s) => afs.fsync(s.fd(f)) };
      }
      case 'fdClose':
      default: {
        const f = this.pickFd()!;
        return {
          desc: `close#${f.id} (${f.rel})`,
          touched: [f.rel],
          run: (s) => afs.close(s.fd(f)),
          after: () => {
            this.fds = this.fds.filter((x) => x !== f);
          },
        };
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Running and comparing
  // ---------------------------------------------------------------------------------------------

  /** Apply one op to both sides and compare outcomes; then compare lstat of the touched paths. */
  async apply(op: Op): Promise<void> {
    this.log.push(`#${this.opIndex} ${op.desc}`);
    const ref = await outcome(() => op.run(this.side('ref')));
    const mnt = await outcome(() => withTimeout(op.desc, OP_TIMEOUT_MS, () => op.run(this.side('mnt'))));
    this.log[this.log.length - 1] += `  → ${show(ref)}`;
    if (ref.ok !== mnt.ok || (!ref.ok && !mnt.ok && ref.code !== mnt.code)) {
      // An fd opened on one side only must not stay open (the mount could not unmount cleanly).
      if (op.opensFd) {
        if (ref.ok) await afs.close(ref.v as number).catch(() => undefined);
        if (mnt.ok) await afs.close(mnt.v as number).catch(() => undefined);
      }
      this.fail(`${op.desc}\n  local: ${show(ref)}\n  mount: ${show(mnt)}`);
    }
    if (ref.ok && mnt.ok && !op.opensFd) {
      const a = JSON.stringify(norm(ref.v));
      const b = JSON.stringify(norm(mnt.v));
      if (a !== b) {
        let extra = '';
        if (Buffer.isBuffer(ref.v) && Buffer.isBuffer(mnt.v)) extra = ` (first difference at byte ${firstDiff(ref.v, mnt.v)})`;
        this.fail(`${op.desc}: different results${extra}\n  local: ${a}\n  mount: ${b}`);
      }
    }
    op.after?.(ref, mnt);
    if (op.kind) {
      const c = (this.coverage[op.kind] ??= {});
      const key = ref.ok ? 'ok' : ref.code;
      c[key] = (c[key] ?? 0) + 1;
    }
    for (const rel of new Set(op.touched)) await this.compareLstat(rel, op.desc);
  }

  private async lstatOutcome(root: string, rel: string): Promise<Outcome> {
    return outcome(() => withTimeout(`lstat ${rel}`, OP_TIMEOUT_MS, () => afs.lstat(rel ? path.join(root, rel) : root)));
  }

  async compareLstat(rel: string, after: string): Promise<void> {
    const a = await this.lstatOutcome(this.refRoot, rel);
    const b = await this.lstatOutcome(this.mntRoot, rel);
    const sa = a.ok ? JSON.stringify(norm(a.v)) : a.code;
    const sb = b.ok ? JSON.stringify(norm(b.v)) : b.code;
    if (sa !== sb) this.fail(`after ${after}: lstat ${rel} differs\n  local: ${sa}\n  mount: ${sb}`);
  }

  async compareTrees(what: string, mntRoot = this.mntRoot, opts: DiffOptions = {}): Promise<Snapshot> {
    const ref = await snapshotTree(this.refRoot);
    const got = await snapshotTree(mntRoot);
    const d = diffSnapshots(ref, got, opts);
    if (d.length) this.fail(`${what}: trees differ\n  ${d.join('\n  ')}`);
    return ref;
  }

  /** Is the directory an fd's file was opened in still in the tree (same directory, not a new one)? */
  private dirStillThere(f: LogicalFd): boolean {
    try {
      return fs.statSync(path.join(this.refRoot, path.dirname(f.rel))).ino === f.dirIno;
    } catch {
      return false;
    }
  }

  /** Does `op` hit something AETHER_DIFF_AVOID asked to stay away from? */
  private avoided(op: Op): boolean {
    if (AVOID.has('link-symlink') && op.linkSrc !== undefined && this.links.includes(op.linkSrc)) return true;
    if (AVOID.has('hardlink-fd') && op.readsFd && fs.fstatSync(op.readsFd.ref).nlink > 1) return true;
    if (AVOID.has('orphan-fstat') && op.statsFd && fs.fstatSync(op.statsFd.ref).nlink === 0 && !this.dirStillThere(op.statsFd)) return true;
    if (!AVOID.has('unlink-open') || !op.removes || this.fds.length === 0) return false;
    const open = new Set(this.fds.map((f) => fs.fstatSync(f.ref).ino));
    return op.removes.some((rel) => {
      try {
        return open.has(fs.lstatSync(path.join(this.refRoot, rel)).ino);
      } catch {
        return false;
      }
    });
  }

  async run(n: number): Promise<void> {
    for (this.opIndex = 0; this.opIndex < n; this.opIndex++) {
      this.refresh();
      let op = this.nextOp();
      while (this.avoided(op)) op = this.nextOp();
      await this.apply(op);
      if ((this.opIndex + 1) % CHECK_EVERY === 0) await this.compareTrees(`full tree after ${this.opIndex + 1} ops`);
    }
  }

  async closeAll(): Promise<void> {
    for (const f of [...this.fds]) {
      await this.apply({ desc: `close#${f.id} (${f.rel})`, touched: [f.rel], run: (s) => afs.close(s.fd(f)), after: () => (this.fds = this.fds.filter((x) => x !== f)) });
    }
  }

  /** After a remount the in-memory-only directory modes are gone (documented exclusion). */
  readonly persistedOnly: DiffOptions = {
    skipDirPerm: (_rel, ref) => ref.ino !== undefined && this.chmodDirInos.has(ref.ino),
    skipDirNlink: AVOID.has('dir-nlink'),
  };
}

async function gatewayManifest(env: MountEnv, sid: string): Promise<Array<Record<string, any>>> {
  const nodes: Array<Record<string, any>> = [];
  let token = '';
  do {
    const r = await env.call('GET', `/v1/sessions/${sid}/manifest?pathPrefix=%2F&pageSize=10000${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
    nodes.push(...(r.nodes ?? []));
    token = r.nextPageToken ?? '';
  } while (token);
  return nodes;
}

describe.skipIf(!hasFuse)('differential: random operations on a mount and on a local directory', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let diff: Differential;
  let refRoot: string;
  let randomPhaseOk = false;
  const seed = chooseSeed();

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession({ test: 'differential' });
    m = await env.mount(sid, 'mnt-diff');
    console.log(`differential seed: ${seed} (replay with AETHER_DIFF_SEED=${seed}), ${OPS} ops, binding ${m.record.binding ?? '?'}${AVOID.size ? `, avoiding ${[...AVOID].join(',')}` : ''}; logs under ${env.root}`);
    refRoot = path.join(env.root, 'ref-diff');
    fs.mkdirSync(refRoot);
    diff = new Differential(new Rng(seed), refRoot, m.mountpoint);
  });
  afterAll(async () => {
    // Close whatever the random phase left open on the mount before unmounting.
    for (const f of diff?.fds ?? []) {
      await afs.close(f.mnt).catch(() => undefined);
      await afs.close(f.ref).catch(() => undefined);
    }
    await env?.teardown();
  });

  it(`${OPS} random operations give identical results`, { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    await diff.run(OPS);
    await diff.closeAll();
    await diff.compareTrees('full tree after closing every fd');
    console.log(`differential: ${OPS} ops in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${listLocal(refRoot).length} entries at the end`);
    console.log(
      'outcomes per op: ' +
        Object.entries(diff.coverage)
          .sort()
          .map(([k, v]) => `${k}{${Object.entries(v).map(([c, n]) => `${c}:${n}`).join(' ')}}`)
          .join(' '),
    );
    if (process.env.AETHER_DIFF_LOG) fs.writeFileSync(process.env.AETHER_DIFF_LOG, diff.log.join('\n') + '\n');
    randomPhaseOk = true;
  });

  it('the gateway manifest matches the local tree (before and after unmount)', async (ctx) => {
    if (!randomPhaseOk) ctx.skip();
    const ref = await snapshotTree(refRoot);
    const check = async (when: string) => {
      const d = diffSnapshots(ref, snapshotFromManifest(await gatewayManifest(env, sid)), diff.persistedOnly);
      expect(d, `gateway manifest ${when} (seed ${seed})`).toEqual([]);
    };
    await check('after every fd was closed');
    await m.stop();
    await check('after unmount');
  });

  it('a remount (warm cache) and a remount with an empty cache show the same tree', { timeout: 120_000 }, async (ctx) => {
    if (!randomPhaseOk) ctx.skip();
    m = await env.mount(sid, 'mnt-diff');
    await diff.compareTrees('after remount', m.mountpoint, diff.persistedOnly);
    await m.stop();
    const served0 = (await env.metrics()).bytesServed;
    m = await env.mount(sid, 'mnt-diff', { cacheDir: path.join(env.root, 'empty-cache') });
    await diff.compareTrees('after remount with an empty cache', m.mountpoint, diff.persistedOnly);
    // With an empty cache every non-empty file's bytes came from the gateway.
    const files = [...(await snapshotTree(refRoot)).values()].filter((e) => e.type === 'file' && e.size > 0);
    if (files.length) expect((await env.metrics()).bytesServed).toBeGreaterThan(served0);
    await m.stop();
  });
});

// -------------------------------------------------------------------------------------------------
// Minimal reproductions of the differences the random run found. Each runs the same steps on a
// local directory and on the mount and expects the same observations; the comment on each says
// what was (or still is) wrong and where. They stay as regression tests once fixed.
// -------------------------------------------------------------------------------------------------

describe.skipIf(!hasFuse)('differential: focused reproductions', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let local: string;
  const openFds: number[] = [];

  /** Run `steps` on the local directory and on the mount; return both observations. */
  const both = async <T>(name: string, steps: (root: string) => Promise<T>): Promise<{ local: T; mount: T }> => {
    const l = path.join(local, name);
    const t = path.join(m.mountpoint, name);
    await afs.mkdir(l, 0o755);
    await afs.mkdir(t, 0o755);
    return { local: await steps(l), mount: await withTimeout(name, OP_TIMEOUT_MS, () => steps(t)) };
  };
  const track = async (p: Promise<number>) => {
    const fd = await p;
    openFds.push(fd);
    return fd;
  };
  const closeTracked = async (fd: number) => {
    openFds.splice(openFds.indexOf(fd), 1);
    return (await outcome(() => afs.close(fd))).ok;
  };
  const res = async (fn: () => Promise<unknown>) => {
    const o = await outcome(fn);
    return o.ok ? norm(o.v) : o.code;
  };

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession({ test: 'differential-focused' });
    m = await env.mount(sid, 'mnt-focused');
    local = path.join(env.root, 'ref-focused');
    fs.mkdirSync(local);
  });
  afterAll(async () => {
    for (const fd of openFds) await afs.close(fd).catch(() => undefined);
    await env?.teardown();
  });

  // Open-after-unlink works through libfuse's "hide" (hard_remove off): the unlinked file is
  // parked as .fuse_hidden*, which src/fs/session-fs.ts turns into a remote unlink of that name
  // while the node lives on locally — read, write, fstat, ftruncate on the fd keep working.
  // Deliberate difference (documented in docs/SEMANTICS.md): fstat of an fd on a *removed
  // directory*. libfuse does not hide directories, and its path-based API has no path left for a
  // GETATTR without a file handle, so it answers before the request reaches Aether: ESTALE with
  // libfuse 3 (fuse3), ENOENT with libfuse 2 (fuse-native).
  it('open-after-unlink: read, write, fstat, ftruncate through the fd keep working', async () => {
    const r = await both('unlink-open', async (root) => {
      await afs.mkdir(path.join(root, 'dir'), 0o755);
      const f = path.join(root, 'f');
      const fd = await track(afs.open(f, 'w+'));
      await afs.write(fd, Buffer.from('hello world'), 0);
      const dfd = await track(afs.open(path.join(root, 'dir'), 'r'));
      await afs.unlink(f);
      await afs.rmdir(path.join(root, 'dir'));
      const out = {
        read: await res(() => afs.read(fd, 100, 0)),
        write: await res(() => afs.write(fd, Buffer.from('HELLO'), 0)),
        fstatAfterWrite: await res(() => afs.fstat(fd)),
        reread: await res(() => afs.read(fd, 100, 0)),
        ftruncate: await res(() => afs.ftruncate(fd, 3)),
        fstat: await res(() => afs.fstat(fd)),
        fstatRemovedDir: await res(() => afs.fstat(dfd)),
        closed: await closeTracked(fd),
        listing: (await afs.readdir(root)).sort(),
      };
      await closeTracked(dfd);
      return out;
    });
    expect(r.local.fstatRemovedDir).toMatchObject({ type: 'dir', nlink: 0 });
    expect(r.mount.fstatRemovedDir).toMatch(/-116|ESTALE|ENOENT/); // the documented gap above
    const { fstatRemovedDir: _l, ...local } = r.local;
    const { fstatRemovedDir: _m, ...mount } = r.mount;
    expect(mount).toEqual(local);
  });

  // Bug (fuse-native only; fuse3 invalidates the other names): with the FUSE 2 high-level API the
  // kernel gets one node id per *path*, so two hard-link names are two kernel inodes with two page
  // caches. attr_timeout=0 refreshes sizes, but cached pages of an fd opened on name A are not
  // invalidated by a write through name B: src/fuse/fuse-native-mount.ts would need
  // direct_io-style reads for files with nlink > 1 (FUSE 2 has no invalidation call).
  it('hard links: a read through an fd on one name sees a write through the other name', async () => {
    const r = await both('hardlink-cache', async (root) => {
      const a = path.join(root, 'a');
      const b = path.join(root, 'b');
      await afs.readFile(a).catch(() => undefined);
      const w = await track(afs.open(a, 'w'));
      await afs.write(w, Buffer.from('AAAAAAAAAAAA'), 0);
      await closeTracked(w);
      await afs.link(a, b);
      const fa = await track(afs.open(a, 'r+'));
      const before = (await afs.read(fa, 100, 0)).toString(); // fills A's page cache
      const fb = await track(afs.open(b, 'r+'));
      await afs.write(fb, Buffer.from('QQ'), 4); // same size: no attribute change to notice
      const after = (await afs.read(fa, 100, 0)).toString();
      await closeTracked(fb);
      await closeTracked(fa);
      return { before, after };
    });
    expect(r.local.after).toBe('AAAAQQAAAAAA');
    expect(r.mount).toEqual(r.local);
  });

  // Found by the random run (fuse3: each name of a hard link is its own kernel inode, cached for
  // 60 s): src/fuse/fuse3-mount.ts now also invalidates the other names after an open(O_TRUNC)
  // and when a rename replaces one of the names.
  it('hard links: other names see an open(O_TRUNC) and a rename over one name at once', async () => {
    const r = await both('hardlink-attrs', async (root) => {
      const p = (x: string) => path.join(root, x);
      const put = async (name: string, text: string) => {
        const fd = await track(afs.open(p(name), 'w'));
        await afs.write(fd, Buffer.from(text), 0);
        await closeTracked(fd);
      };
      await put('a', 'AAAAAAAAAA');
      await afs.link(p('a'), p('b'));
      await afs.stat(p('b')); // cache b's attributes
      const fd = await track(afs.open(p('a'), 'w+')); // truncates through a, stays open
      const sizeOfB = (await afs.stat(p('b'))).size;
      await closeTracked(fd);
      await put('c', 'C');
      await afs.link(p('c'), p('d'));
      await afs.stat(p('d'));
      await put('x', 'X');
      await afs.rename(p('x'), p('c')); // c now names another file: d's nlink drops to 1
      const nlinkOfD = (await afs.stat(p('d'))).nlink;
      return { sizeOfB, nlinkOfD };
    });
    expect(r.local).toEqual({ sizeOfB: 0, nlinkOfD: 1 });
    expect(r.mount).toEqual(r.local);
  });

  // Found by the random run (fixed in 2484cff): src/fs/session-fs.ts link() forwarded a symlink
  // to the gateway, which only hard-links regular files (FAILED_PRECONDITION), and
  // fromGatewayError mapped that to ESTALE. A local disk links the symlink itself; if Aether
  // cannot, link(2)'s errno for "not supported" is EPERM.
  it('link(2) of a symlink: succeeds as on a local disk, or fails with EPERM (never ESTALE)', async () => {
    const r = await both('link-symlink', async (root) => {
      await afs.symlink('target', path.join(root, 's'));
      return res(() => afs.link(path.join(root, 's'), path.join(root, 's2')));
    });
    expect([r.local, 'EPERM']).toContain(r.mount);
  });

  // Found by the random run (fixed in 2484cff): src/fs/session-fs.ts resolve() did not check
  // component length, so a lookup of a 256-byte name answered ENOENT where a local filesystem
  // answers ENAMETOOLONG (create/mkdir did check).
  it('lookups of a name longer than NAME_MAX fail with ENAMETOOLONG', async () => {
    const r = await both('long-name', async (root) => res(() => afs.lstat(path.join(root, 'n'.repeat(256)))));
    expect(r.local).toBe('ENAMETOOLONG');
    expect(r.mount).toEqual(r.local);
  });

  // Found by the random run (fixed in 2484cff): src/fs/session-fs.ts mkdir() did not inherit
  // S_ISGID from a set-group-ID parent directory (a local filesystem's inode_init_owner does;
  // under FUSE the filesystem must).
  it('mkdir inside a set-group-ID directory inherits S_ISGID', async () => {
    const r = await both('setgid', async (root) => {
      await afs.chmod(root, 0o2755);
      await afs.mkdir(path.join(root, 'sub'), 0o750);
      return ((await afs.lstat(path.join(root, 'sub'))).mode & 0o7777).toString(8);
    });
    expect(r.local).toBe('2750');
    expect(r.mount).toEqual(r.local);
  });

  // Found by the random run (fixed in 2484cff): chmod to 0000 was silently ignored — the gateway
  // API read `mode` 0 as "keep the current mode", so chmod returned 0 while stat still showed the
  // old bits, and a listing turned permission 0 into 0644.
  it('chmod 000 on an uploaded file is kept', async () => {
    const r = await both('chmod-zero', async (root) => {
      const f = path.join(root, 'f');
      const w = await track(afs.open(f, 'w', 0o644));
      await afs.write(w, Buffer.from('x'), 0);
      await closeTracked(w);
      await afs.chmod(f, 0o700);
      const chmod = await res(() => afs.chmod(f, 0));
      return { chmod, mode: ((await afs.lstat(f)).mode & 0o7777).toString(8) };
    });
    expect(r.local).toEqual({ chmod: undefined, mode: '0' });
    expect(r.mount).toEqual(r.local);
  });

  // Found by the random run (fixed in 2484cff): src/fs/session-fs.ts attr() computed a directory's
  // nlink from the children it had listed, so right after a (re)mount every not-yet-listed
  // directory reported nlink 2, although its manifest node carried the right nlink
  // (2 + subdirectories).
  it('a directory’s nlink counts its subdirectories right after a remount', async () => {
    await both('nlink', async (root) => {
      for (const d of ['p', 'p/a', 'p/b', 'p/c']) await afs.mkdir(path.join(root, d), 0o755);
    });
    const localNlink = (await afs.lstat(path.join(local, 'nlink', 'p'))).nlink;
    expect(localNlink).toBe(5);
    await m.stop();
    m = await env.mount(sid, 'mnt-focused');
    expect((await afs.lstat(path.join(m.mountpoint, 'nlink', 'p'))).nlink).toBe(localNlink);
  });

  // Found by the random run (both bindings; introduced in 1008486, fixed in c202c18): hide()
  // marked a file unlinked while open as `remote = false`; the next write then started a dirty
  // state with baseLimit 0 (markDirty: `node.remote ? min(remoteSize, size) : 0`), so every byte
  // that came from the gateway read back as zeros through the descriptors still open.
  it('open-after-unlink: a write through one fd keeps the original bytes seen through another', async () => {
    const r = await both('unlink-open-write', async (root) => {
      const f = path.join(root, 'a');
      const w = await track(afs.open(f, 'w'));
      await afs.write(w, Buffer.from('0123456789'.repeat(800)), 0);
      await closeTracked(w); // uploaded: the bytes now come from the gateway / CAS
      const a = await track(afs.open(f, 'a+'));
      const b = await track(afs.open(f, 'a+'));
      await afs.unlink(f);
      await afs.write(b, Buffer.alloc(1744, 65), null);
      await closeTracked(b);
      const head = (await afs.read(a, 20, 0)).toString();
      const size = (await afs.fstat(a)).size;
      await closeTracked(a);
      return { head, size };
    });
    expect(r.local).toEqual({ head: '01234567890123456789', size: 9744 });
    expect(r.mount).toEqual(r.local);
  });
});
