// Reference-model helpers for the differential mount test (test/fuse/differential.test.ts): a
// seeded PRNG, a promise wrapper over node:fs with raw fds (async, so a hung mount cannot block the
// test process and teardown still runs), a normalized snapshot of a directory tree, a snapshot of
// the gateway's manifest in the same shape, and a diff of two snapshots.
//
// Invariants: nothing here touches a mount with synchronous I/O; snapshots compare only what both
// sides can be expected to agree on (see DiffOptions for the documented exclusions).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';

// -------------------------------------------------------------------------------------------------
// Seeded PRNG (sfc32, seeded through splitmix32): fast, good enough, reproducible across platforms.
// -------------------------------------------------------------------------------------------------

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Uniform in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }
  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }
  /** Pick by weight: [[weight, value], ...]. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of table) total += w;
    let r = this.int(total);
    for (const [w, v] of table) {
      if (r < w) return v;
      r -= w;
    }
    return table[table.length - 1]![1];
  }
  /** `n` pseudo-random bytes; mostly random, sometimes a repeated pattern (compressible, dedupable). */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    if (n > 0 && this.chance(0.2)) {
      out.fill(this.int(256));
      return out;
    }
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The seed to use: AETHER_DIFF_SEED (decimal or 0x hex) to replay, else a fresh random one. */
export function chooseSeed(env = process.env.AETHER_DIFF_SEED): number {
  if (env && env.trim() !== '') {
    const v = env.trim().startsWith('0x') ? parseInt(env.trim(), 16) : parseInt(env.trim(), 10);
    if (!Number.isFinite(v)) throw new Error(`AETHER_DIFF_SEED=${env} is not a number`);
    return v >>> 0;
  }
  return (Math.random() * 4294967296) >>> 0;
}

// -------------------------------------------------------------------------------------------------
// Async node:fs with raw fds. Every call resolves or rejects with the errno name in `code`.
// -------------------------------------------------------------------------------------------------

export const afs = {
  open: promisify(fs.open) as (p: string, flags: number | string, mode?: number) => Promise<number>,
  close: promisify(fs.close) as (fd: number) => Promise<void>,
  read: (fd: number, length: number, position: number | null): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const buf = Buffer.alloc(length);
      fs.read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n))));
    }),
  write: (fd: number, data: Buffer, position: number | null): Promise<number> =>
    new Promise((resolve, reject) => {
      fs.write(fd, data, 0, data.length, position, (err, n) => (err ? reject(err) : resolve(n)));
    }),
  ftruncate: promisify(fs.ftruncate) as (fd: number, len: number) => Promise<void>,
  fstat: promisify(fs.fstat) as (fd: number) => Promise<fs.Stats>,
  fsync: promisify(fs.fsync) as (fd: number) => Promise<void>,
  lstat: promisify(fs.lstat) as (p: string) => Promise<fs.Stats>,
  stat: promisify(fs.stat) as (p: string) => Promise<fs.Stats>,
  readdir: promisify(fs.readdir) as (p: string) => Promise<string[]>,
  readlink: promisify(fs.readlink) as (p: string) => Promise<string>,
  truncate: promisify(fs.truncate) as (p: string, len: number) => Promise<void>,
  rename: promisify(fs.rename) as (a: string, b: string) => Promise<void>,
  unlink: promisify(fs.unlink) as (p: string) => Promise<void>,
  mkdir: (p: string, mode: number): Promise<void> => new Promise((res, rej) => fs.mkdir(p, { mode }, (e) => (e ? rej(e) : res()))),
  rmdir: promisify(fs.rmdir) as (p: string) => Promise<void>,
  symlink: promisify(fs.symlink) as (target: string, p: string) => Promise<void>,
  link: promisify(fs.link) as (a: string, b: string) => Promise<void>,
  chmod: promisify(fs.chmod) as (p: string, mode: number) => Promise<void>,
  readFile: promisify(fs.readFile) as (p: string) => Promise<Buffer>,
};

/** Run `fn`; give up (reject) after `ms` so a hung mount fails the test instead of hanging it. */
export async function withTimeout<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (mount hung?)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// -------------------------------------------------------------------------------------------------
// Tree snapshots
// -------------------------------------------------------------------------------------------------

export interface SnapEntry {
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (mode & 0o7777). */
  perm: number;
  /** Files: byte size. Symlinks: target length. Directories: not compared (0). */
  size: number;
  /** Files: sha256 hex of the content. */
  sha?: string;
  /** Symlinks: target. */
  target?: string;
  /** Files and directories (directories: 2 + subdirectories). */
  nlink?: number;
  /** Inode number on the side the snapshot came from (not compared; used to key exclusions). */
  ino?: number;
}

export type Snapshot = Map<string, SnapEntry>;

/** Normalize one lstat result (plus content for files) into a SnapEntry. */
export function entryOf(st: fs.Stats, extra: { sha?: string; target?: string } = {}): SnapEntry {
  const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
  const e: SnapEntry = { type, perm: st.mode & 0o7777, size: type === 'dir' ? 0 : st.size, ino: st.ino };
  if (type !== 'symlink') e.nlink = st.nlink;
  if (extra.sha !== undefined) e.sha = extra.sha;
  if (extra.target !== undefined) e.target = extra.target;
  return e;
}

/** Walk `root` (never following symlinks), reading every file. Paths are relative, '/'-joined. */
export async function snapshotTree(root: string, timeoutMs = 60_000): Promise<Snapshot> {
  const out: Snapshot = new Map();
  const walk = async (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const names = (await withTimeout(`readdir ${abs}`, timeoutMs, () => afs.readdir(abs))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = await withTimeout(`lstat ${p}`, timeoutMs, () => afs.lstat(p));
      if (st.isSymbolicLink()) out.set(r, entryOf(st, { target: await withTimeout(`readlink ${p}`, timeoutMs, () => afs.readlink(p)) }));
      else if (st.isDirectory()) {
        out.set(r, entryOf(st));
        await walk(r);
      } else out.set(r, entryOf(st, { sha: sha256hex(await withTimeout(`read ${p}`, timeoutMs, () => afs.readFile(p))) }));
    }
  };
  await walk('');
  return out;
}

/** Synchronous listing of a LOCAL directory (never a mount): relative path → type. */
export function listLocal(root: string): Array<{ rel: string; type: 'file' | 'dir' | 'symlink' }> {
  const out: Array<{ rel: string; type: 'file' | 'dir' | 'symlink' }> = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(rel ? path.join(root, rel) : root, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      const type = d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'file';
      out.push({ rel: r, type });
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The gateway's manifest nodes (GET /v1/sessions/{id}/manifest, all pages) as a Snapshot. */
export function snapshotFromManifest(nodes: Array<Record<string, any>>): Snapshot {
  const out: Snapshot = new Map();
  for (const n of nodes) {
    if (n.path === '/' || !n.path) continue;
    const rel = String(n.path).replace(/^\//, '');
    const type = n.fileType === 'VFS_FILE_TYPE_DIRECTORY' ? 'dir' : n.fileType === 'VFS_FILE_TYPE_SYMLINK' ? 'symlink' : 'file';
    const e: SnapEntry = { type, perm: Number(n.mode ?? 0) & 0o7777, size: type === 'dir' ? 0 : Number(n.sizeBytes ?? 0) };
    if (type === 'file') e.sha = String(n.contentHash ?? '').replace(/^sha256:/, '');
    if (type === 'symlink') e.target = n.symlinkTarget ?? '';
    if (type !== 'symlink' && n.nlink !== undefined) e.nlink = Number(n.nlink);
    out.set(rel, e);
  }
  return out;
}

export interface DiffOptions {
  /** Skip the permission bits of these directories (keyed by the reference side's path). */
  skipDirPerm?: (rel: string, ref: SnapEntry) => boolean;
  /** Skip symlink permission bits (the gateway stores 0777 for every symlink; Linux too). */
  skipSymlinkPerm?: boolean;
  /** Skip nlink entirely (e.g. a source that does not report it). */
  skipNlink?: boolean;
  /** Skip directory nlink (only file nlink compared). */
  skipDirNlink?: boolean;
}

/** Human-readable differences between the reference snapshot and the one under test. */
export function diffSnapshots(ref: Snapshot, got: Snapshot, opts: DiffOptions = {}, max = 30): string[] {
  const out: string[] = [];
  const push = (s: string) => {
    if (out.length < max) out.push(s);
  };
  for (const [rel, r] of ref) {
    const g = got.get(rel);
    if (!g) {
      push(`missing: ${rel} (${r.type})`);
      continue;
    }
    if (g.type !== r.type) {
      push(`type of ${rel}: expected ${r.type}, got ${g.type}`);
      continue;
    }
    const skipPerm = (r.type === 'dir' && opts.skipDirPerm?.(rel, r)) || (r.type === 'symlink' && opts.skipSymlinkPerm);
    if (!skipPerm && g.perm !== r.perm) push(`mode of ${rel}: expected ${r.perm.toString(8)}, got ${g.perm.toString(8)}`);
    if (r.type !== 'dir' && g.size !== r.size) push(`size of ${rel}: expected ${r.size}, got ${g.size}`);
    if (r.type === 'file' && g.sha !== r.sha) push(`content of ${rel}: expected sha256 ${r.sha?.slice(0, 12)}, got ${g.sha?.slice(0, 12)}`);
    if (r.type === 'symlink' && g.target !== r.target) push(`target of ${rel}: expected ${r.target}, got ${g.target}`);
    const nlinkCompared = !opts.skipNlink && !(r.type === 'dir' && opts.skipDirNlink);
    if (nlinkCompared && r.nlink !== undefined && g.nlink !== undefined && g.nlink !== r.nlink) push(`nlink of ${rel}: expected ${r.nlink}, got ${g.nlink}`);
  }
  for (const [rel, g] of got) if (!ref.has(rel)) push(`unexpected: ${rel} (${g.type})`);
  return out;
}
