// Git commit → Merkle tree. Lists the commit with `git ls-tree -r -z -l`, reads blobs through one
// long-lived `git cat-file --batch` process (pipelined, a few in flight), stores each file's bytes
// in the tenant's CAS (content-defined chunks) and builds the tree bottom-up in one pass.
//
// Mapping: 100644 → regular 0644, 100755 → regular 0755, 120000 → symlink whose target is the blob,
// 160000 (submodule gitlinks) → an empty read-only directory carrying the submodule commit in the
// reserved xattr (see git/gitlink.ts), counted apart from files. Every entry's mtime is the commit
// time.
// Empty directories do not exist in git, so none are created.
//
// Invariant: files whose git blob id is in `reuse` (content already in this tenant's CAS from an
// earlier revision) are not read again, so a refresh costs O(changed files) CAS writes.
import type { GatewayCore } from '../core.js';
import { S_IFDIR, S_IFLNK, S_IFREG, type Extent, type TreeEntry } from '../store/tree-store.js';
import { sha256 } from '../../shared/digest.js';
import { CatFileBatch } from './cat-file.js';
import { runGit } from './git-runner.js';
import type { SourceRepo } from './source-repo.js';
import { gitlinkXattrs } from './gitlink.js';

/** Size, content hash and extents of a stored file. */
export interface FileContent {
  s: number;
  h: string;
  x: Extent[];
}

export interface ImportProgress {
  files: number;
  bytes: number;
}

export interface ImportResult extends ImportProgress {
  root: string;
  /** Submodule entries (kept as gitlink directories, not counted as files). */
  gitlinks: number;
  /** Commit time, epoch ms. */
  commitTime: number;
}

interface LsTreeEntry {
  mode: string;
  type: string;
  sha: string;
  size: number;
  path: string;
}

/** Parse `git ls-tree -r -z -l --full-tree` output. */
export function parseLsTree(out: Buffer): LsTreeEntry[] {
  const entries: LsTreeEntry[] = [];
  let off = 0;
  while (off < out.length) {
    const end = out.indexOf(0, off);
    const rec = out.subarray(off, end < 0 ? out.length : end);
    off = end < 0 ? out.length : end + 1;
    if (rec.length === 0) continue;
    const tab = rec.indexOf(9);
    if (tab < 0) throw new Error('malformed ls-tree output');
    const [mode, type, sha, size] = rec.subarray(0, tab).toString('utf8').trim().split(/\s+/);
    entries.push({ mode: mode!, type: type!, sha: sha!, size: size === '-' || size === undefined ? 0 : Number(size), path: rec.subarray(tab + 1).toString('utf8') });
  }
  return entries;
}

/** Commit time (ms) from a raw commit object's committer line. */
function commitTimeOf(raw: Buffer): number {
  const text = raw.toString('utf8');
  const m = /^committer .*> (\d+) [+-]\d{4}$/m.exec(text);
  return m ? Number(m[1]) * 1000 : 0;
}

/**
 * Map git blob id → stored content for every file of `root` whose git id is known: the files an
 * import can reuse without reading them again. `root` must belong to the importing tenant.
 */
export function reusableContent(core: GatewayCore, repo: SourceRepo, root: string): Map<string, FileContent> {
  const out = new Map<string, FileContent>();
  for (const { entry } of core.trees.walk(root, '/')) {
    if (entry.t !== 'f' || !entry.h) continue;
    const sha = repo.gitBlobId(entry.h);
    if (sha && !out.has(sha)) out.set(sha, { s: entry.s ?? 0, h: entry.h, x: entry.x ?? [] });
  }
  return out;
}

/** Number of blobs read and stored concurrently (reads are pipelined through one cat-file). */
const IN_FLIGHT = 8;
/** Progress is reported every this many files. */
export const PROGRESS_EVERY = 200;
/** …and at least this often (ms) while files are being read. */
const PROGRESS_MS = 500;

interface DirNode {
  kids: Map<string, DirNode | TreeEntry>;
}

const isDir = (n: DirNode | TreeEntry): n is DirNode => (n as DirNode).kids instanceof Map;

/**
 * Import `commit` (a 40-hex sha present in the repository at `gitDir`) for `tenantId`. Returns the
 * root tree hash and the counts; `onProgress` fires every PROGRESS_EVERY files and at the end.
 */
export async function importCommit(opts: {
  core: GatewayCore;
  repo: SourceRepo;
  tenantId: string;
  gitDir: string;
  commit: string;
  reuse?: Map<string, FileContent>;
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
}): Promise<ImportResult> {
  const { core, repo, tenantId, gitDir, commit, signal } = opts;
  const reuse = opts.reuse ?? new Map<string, FileContent>();
  const listing = await runGit(['ls-tree', '-r', '-z', '-l', '--full-tree', commit], { cwd: gitDir, signal });
  const all = parseLsTree(listing.stdout);
  const cat = new CatFileBatch(gitDir, signal);
  try {
    const commitTime = commitTimeOf((await cat.read(commit)).data);
    const entries: LsTreeEntry[] = [];
    const gitlinks: LsTreeEntry[] = [];
    for (const e of all) {
      if (e.type === 'commit' || e.mode === '160000') gitlinks.push(e);
      else if (e.type === 'blob') entries.push(e);
    }
    const files = new Map<string, Promise<FileContent>>();
    const links = new Map<string, Promise<string>>();
    const newIds = new Map<string, string>();
    const loadFile = (sha: string): Promise<FileContent> => {
      const known = reuse.get(sha);
      if (known) return Promise.resolve(known);
      let p = files.get(sha);
      if (!p) {
        p = (async () => {
          const obj = await cat.read(sha);
          const x = await core.content.putContent(tenantId, obj.data);
          const h = sha256(obj.data);
          newIds.set(h, sha);
          return { s: obj.data.length, h, x };
        })();
        files.set(sha, p);
      }
      return p;
    };
    const loadLink = (sha: string): Promise<string> => {
      let p = links.get(sha);
      if (!p) {
        p = cat.read(sha).then((o) => o.data.toString('utf8'));
        links.set(sha, p);
      }
      return p;
    };

    const results: TreeEntry[] = new Array(entries.length);
    const progress: ImportProgress = { files: 0, bytes: 0 };
    let lastReport = Date.now();
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (next < entries.length && !stop) {
        if (signal?.aborted) throw new Error('cancelled');
        const i = next++;
        const e = entries[i]!;
        if (e.mode === '120000') {
          results[i] = { t: 'l', m: S_IFLNK | 0o777, mt: commitTime, tg: await loadLink(e.sha) };
        } else {
          const c = await loadFile(e.sha);
          results[i] = { t: 'f', m: S_IFREG | (e.mode === '100755' ? 0o755 : 0o644), mt: commitTime, s: c.s, h: c.h, x: c.x };
        }
        progress.files++;
        progress.bytes += e.size;
        // Every PROGRESS_EVERY files, and at least every PROGRESS_MS (large files).
        const now = Date.now();
        if (progress.files % PROGRESS_EVERY === 0 || now - lastReport >= PROGRESS_MS) {
          lastReport = now;
          opts.onProgress?.({ ...progress });
        }
      }
    };
    const guarded = () =>
      worker().catch((err: unknown) => {
        stop = true;
        throw err;
      });
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, Math.max(1, entries.length)) }, guarded));

    // Build the tree bottom-up: one put per directory.
    const top: DirNode = { kids: new Map() };
    const place = (e: LsTreeEntry, entry: TreeEntry) => {
      const parts = e.path.split('/');
      let dir = top;
      for (const part of parts.slice(0, -1)) {
        let d = dir.kids.get(part);
        if (!d || !isDir(d)) {
          d = { kids: new Map() };
          dir.kids.set(part, d);
        }
        dir = d;
      }
      dir.kids.set(parts[parts.length - 1]!, entry);
    };
    entries.forEach((e, i) => place(e, results[i]!));
    for (const g of gitlinks) place(g, { t: 'd', m: S_IFDIR | 0o555, mt: commitTime, tr: core.trees.emptyTree, xa: gitlinkXattrs(g.sha) });
    const put = (node: DirNode): Array<[string, TreeEntry]> =>
      [...node.kids].map(([name, k]) => [name, isDir(k) ? { t: 'd', m: S_IFDIR | 0o755, mt: commitTime, tr: core.trees.put({ e: put(k) }) } : k]);
    // The content rows these trees reference commit with them (store/content.ts, deferred rows).
    const root = core.db.transaction(() => {
      core.content.flushPending();
      return core.trees.put({ e: put(top), root: { m: S_IFDIR | 0o755, mt: commitTime } });
    })();
    repo.recordGitBlobIds(newIds);
    opts.onProgress?.({ ...progress });
    return { root, ...progress, gitlinks: gitlinks.length, commitTime };
  } finally {
    cat.close();
  }
}
