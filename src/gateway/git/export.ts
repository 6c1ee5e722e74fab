// Merkle tree → git commit, through ONE `git fast-import` process: blobs the repository does not
// have yet are streamed (with marks, hashed on the way so their git ids can be remembered), blobs
// it already has are referenced by id, and a single commit with `deleteall` + one `M` line per
// file describes the whole tree. Used by commit (then pushed) and by promote (kept in the mirror).
//
// Mapping: regular files → 100755 when any execute bit is set, else 100644; symlinks → 120000
// with the target as blob content; gitlink directories (git/gitlink.ts) → 160000 with their
// commit id, contents never descended into; directories are implied by paths (empty ones cannot
// exist in git); xattrs and hard-link identity are not representable and are dropped.
// With `ignore` (commit), untracked files matched by the tree's .gitignore rules are left out
// (git/ignore.ts); promote keeps everything. Entries named `.git`
// (any case) are skipped: git refuses them in trees (fsck `hasDotgit`).
import { createHash } from 'node:crypto';
import type { GatewayCore } from '../core.js';
import type { TreeEntry } from '../store/tree-store.js';
import { GitError, runGit, spawnGit, writeAll } from './git-runner.js';
import type { SourceRepo } from './source-repo.js';
import { SHA1_RE } from './refs.js';
import { gitlinkOf } from './gitlink.js';
import { IgnoreMatcher, parseIgnore } from './ignore.js';

/** Who and when, for the author/committer lines. */
export interface GitIdentity {
  name: string;
  email: string;
  /** Epoch ms. */
  when: number;
}

export interface WriteCommitResult {
  commit: string;
  /** Files, symlinks and gitlinks in the commit. */
  files: number;
  /** Their total size. */
  bytes: number;
  /** Blobs that had to be written (not already in the repository). */
  blobsWritten: number;
  /** Paths left out (".git" entries). */
  skipped: string[];
  /** Untracked files left out because .gitignore rules match them (see `ignore`). */
  ignored: IgnoredSummary;
}

/** What the .gitignore filter left out: a count and the outermost ignored paths (capped). */
export interface IgnoredSummary {
  files: number;
  /** Outermost ignored paths ("node_modules/" for a directory), at most MAX_IGNORED_LISTED. */
  paths: string[];
}

const MAX_IGNORED_LISTED = 50;
/** .gitignore files larger than this are not read (git has a similar limit of 100 MiB). */
const MAX_GITIGNORE = 1 << 20;

/** Quote a path for fast-import when it needs it (C-style, like git itself). */
export function quotePath(p: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/^"|[\n\\\x00-\x1f\x7f]/.test(p)) return p;
  let out = '"';
  for (const b of Buffer.from(p, 'utf8')) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x09) out += '\\t';
    else if (b < 0x20 || b === 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  // Non-ASCII bytes were emitted one char per byte above; re-encode them as latin1 → raw bytes.
  return Buffer.from(out + '"', 'latin1').toString('utf8');
}

function identityLine(kind: 'author' | 'committer', id: GitIdentity): string {
  return `${kind} ${id.name} <${id.email}> ${Math.floor(id.when / 1000)} +0000\n`;
}

interface Item {
  path: string;
  mode: '100644' | '100755' | '120000' | '160000';
  entry: TreeEntry;
  size: number;
  /** 160000 only: the submodule commit. */
  gitlink?: string;
}

/** Everything of `root` git can hold, plus the .gitignore files by directory ("" = top). */
function collect(core: GatewayCore, root: string): { items: Item[]; skipped: string[]; gitignores: Map<string, TreeEntry> } {
  const items: Item[] = [];
  const skipped: string[] = [];
  const gitignores = new Map<string, TreeEntry>();
  let prune: string | undefined;
  for (const { path, entry } of core.trees.walk(root, '/')) {
    if (path === '/') continue;
    if (prune !== undefined && path.startsWith(prune)) continue;
    prune = undefined;
    if (path.split('/').some((c) => c.toLowerCase() === '.git')) {
      if (!skipped.some((s) => path.startsWith(s + '/'))) skipped.push(path);
      continue;
    }
    const rel = path.slice(1);
    const sub = gitlinkOf(entry);
    if (sub) {
      items.push({ path: rel, mode: '160000', entry, size: 0, gitlink: sub });
      prune = path + '/';
    } else if (entry.t === 'f') {
      items.push({ path: rel, mode: entry.m & 0o111 ? '100755' : '100644', entry, size: entry.s ?? 0 });
      const slash = rel.lastIndexOf('/');
      if (rel.slice(slash + 1) === '.gitignore') gitignores.set(slash < 0 ? '' : rel.slice(0, slash), entry);
    } else if (entry.t === 'l') items.push({ path: rel, mode: '120000', entry, size: Buffer.byteLength(entry.tg ?? '') });
  }
  return { items, skipped, gitignores };
}

/**
 * Drop untracked items that the tree's .gitignore files (and `extra` patterns) ignore. A
 * .gitignore inside an ignored directory is never read, as in git.
 */
async function dropIgnored(core: GatewayCore, items: Item[], gitignores: Map<string, TreeEntry>, tracked: ReadonlySet<string>, extra: string): Promise<{ kept: Item[]; ignored: IgnoredSummary }> {
  const texts = new Map<string, string>();
  const matcher = new IgnoreMatcher((dir) => texts.get(dir), extra ? parseIgnore(extra) : []);
  const dirs = [...gitignores.keys()].sort((a, b) => (a === '' ? 0 : a.split('/').length) - (b === '' ? 0 : b.split('/').length));
  for (const dir of dirs) {
    // Shallower files are loaded already, so this verdict is final.
    if (dir !== '' && matcher.ignored(dir, true)) continue;
    const e = gitignores.get(dir)!;
    if ((e.s ?? 0) > MAX_GITIGNORE) continue;
    texts.set(dir, (await core.content.readAll(e.x ?? [])).toString('utf8'));
  }
  const kept: Item[] = [];
  const ignored: IgnoredSummary = { files: 0, paths: [] };
  let lastTop = '';
  for (const it of items) {
    if (tracked.has(it.path) || !matcher.ignored(it.path, it.mode === '160000')) {
      kept.push(it);
      continue;
    }
    ignored.files++;
    // Report the outermost ignored directory once (items come in walk order, so they are adjacent).
    const parts = it.path.split('/');
    let top = it.path;
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (matcher.ignored(d, true)) {
        top = d + '/';
        break;
      }
    }
    if (top !== lastTop && ignored.paths.length < MAX_IGNORED_LISTED) ignored.paths.push(top);
    lastTop = top;
  }
  return { kept, ignored };
}

/**
 * Write a commit of tree `root` into the repository at `gitDir` and point `ref` at it.
 * `parent` (40-hex) must exist in the repository. `force` lets `ref` move non-fast-forward.
 * With `ignore`, untracked files (paths not in `ignore.tracked`, normally the parent's tree)
 * matching the tree's .gitignore rules are left out.
 */
export async function writeCommit(opts: {
  core: GatewayCore;
  repo: SourceRepo;
  gitDir: string;
  root: string;
  parent?: string;
  author: GitIdentity;
  committer: GitIdentity;
  message: string;
  ref: string;
  force?: boolean;
  ignore?: { tracked: ReadonlySet<string>; extraPatterns?: string };
  signal?: AbortSignal;
  onProgress?: (p: { files: number; bytes: number }) => void;
  progressEvery?: number;
}): Promise<WriteCommitResult> {
  const { core, repo, gitDir, signal } = opts;
  const collected = collect(core, opts.root);
  const skipped = collected.skipped;
  let items = collected.items;
  let ignored: IgnoredSummary = { files: 0, paths: [] };
  if (opts.ignore) ({ kept: items, ignored } = await dropIgnored(core, items, collected.gitignores, opts.ignore.tracked, opts.ignore.extraPatterns ?? ''));

  // Blobs the repository already has (known git id for the content hash, and present) are not resent.
  const known = new Map<string, string>();
  for (const it of items) {
    if (it.entry.t !== 'f' || !it.entry.h || known.has(it.entry.h)) continue;
    const sha = repo.gitBlobId(it.entry.h);
    if (sha) known.set(it.entry.h, sha);
  }
  const present = new Set<string>();
  if (known.size) {
    const shas = [...new Set(known.values())];
    const out = await runGit(['cat-file', '--batch-check'], { cwd: gitDir, input: shas.join('\n') + '\n', signal });
    for (const line of out.stdout.toString('utf8').split('\n')) {
      const [sha, type] = line.split(' ');
      if (sha && type === 'blob') present.add(sha);
    }
  }

  const args = ['fast-import', '--quiet', '--done'];
  if (opts.force) args.push('--force');
  const child = spawnGit(args, { cwd: gitDir, signal });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 16384) stderr += b.toString('utf8');
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  child.stdin.on('error', () => {
    /* fast-import died: its exit status and stderr explain why */
  });

  const newIds = new Map<string, string>();
  let blobsWritten = 0;
  try {
    const stdin = child.stdin;
    const marks = new Map<string, number>();
    let nextMark = 1;
    const refOf = new Map<Item, string>();
    const progress = { files: 0, bytes: 0 };
    const every = opts.progressEvery ?? 200;
    for (const it of items) {
      if (signal?.aborted) throw new Error('cancelled');
      const e = it.entry;
      if (it.gitlink) refOf.set(it, it.gitlink);
      else if (e.t === 'l') {
        const key = 'l:' + (e.tg ?? '');
        let mark = marks.get(key);
        if (mark === undefined) {
          mark = nextMark++;
          marks.set(key, mark);
          const data = Buffer.from(e.tg ?? '', 'utf8');
          await writeAll(stdin, `blob\nmark :${mark}\ndata ${data.length}\n`);
          await writeAll(stdin, Buffer.concat([data, Buffer.from('\n')]));
          blobsWritten++;
        }
        refOf.set(it, `:${mark}`);
      } else {
        const h = e.h ?? '';
        const sha = known.get(h);
        if (sha && present.has(sha)) refOf.set(it, sha);
        else {
          const key = 'f:' + h;
          let mark = marks.get(key);
          if (mark === undefined) {
            mark = nextMark++;
            marks.set(key, mark);
            const extents = e.x ?? [];
            const size = extents.reduce((a, x) => a + x.n, 0);
            const git = createHash('sha1').update(`blob ${size}\0`);
            await writeAll(stdin, `blob\nmark :${mark}\ndata ${size}\n`);
            await core.content.forEachPiece(extents, async (b) => {
              git.update(b);
              await writeAll(stdin, b);
            });
            await writeAll(stdin, '\n');
            if (h) newIds.set(h, git.digest('hex'));
            blobsWritten++;
          }
          refOf.set(it, `:${mark}`);
        }
      }
      progress.files++;
      progress.bytes += it.size;
      if (progress.files % every === 0) opts.onProgress?.({ ...progress });
    }
    let msg = opts.message;
    if (!msg.endsWith('\n')) msg += '\n';
    let head = `commit ${opts.ref}\n` + identityLine('author', opts.author) + identityLine('committer', opts.committer);
    head += `data ${Buffer.byteLength(msg)}\n${msg}`;
    if (opts.parent) {
      if (!SHA1_RE.test(opts.parent)) throw new Error(`parent ${opts.parent} is not a commit id`);
      head += `from ${opts.parent}\n`;
    }
    head += 'deleteall\n';
    await writeAll(stdin, head);
    let batch = '';
    for (const it of items) {
      batch += `M ${it.mode} ${refOf.get(it)!} ${quotePath(it.path)}\n`;
      if (batch.length > 1 << 16) {
        await writeAll(stdin, batch);
        batch = '';
      }
    }
    await writeAll(stdin, batch + '\ndone\n');
    stdin.end();
    opts.onProgress?.({ ...progress });
  } catch (err) {
    child.stdin.destroy();
    const code = await exited;
    if (signal?.aborted) throw err;
    throw code !== 0 && stderr ? new GitError('fast-import', code, stderr) : err;
  }
  const code = await exited;
  if (code !== 0) throw new GitError('fast-import', code, stderr);
  const rev = await runGit(['rev-parse', '--verify', `${opts.ref}^{commit}`], { cwd: gitDir, signal });
  const commit = rev.stdout.toString('utf8').trim();
  repo.recordGitBlobIds(newIds);
  return { commit, files: items.length, bytes: items.reduce((a, i) => a + i.size, 0), blobsWritten, skipped, ignored };
}
