// `git diff` between two commits of a mirror, as structured data plus git's own `--stat` text —
// what `aether diff` and `aether commit --dry-run` show (and the stat printed after a commit).
// Rename detection is git's default for `git diff` (on). The stat text is byte-for-byte what
// `git diff --stat=<width> FROM TO` prints, so it can be compared with real git.
//
// Callers: git/git-service.ts.
import { runGit } from './git-runner.js';

/** git's id of the empty tree (the base of a commit without a parent). */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface DiffFile {
  path: string;
  /** Renames and copies: the path in FROM. */
  oldPath?: string;
  /** git's status letter: A, M, D, R, C or T (type change). */
  status: string;
  additions: number;
  deletions: number;
  binary: boolean;
}

export interface DiffResult {
  files: DiffFile[];
  additions: number;
  deletions: number;
  /** `git diff --stat` output ("" when nothing changed). */
  stat: string;
}

/** Diff `from` → `to` (commits or trees) in `gitDir`, limited to `paths` when given. */
export async function diffCommits(gitDir: string, from: string, to: string, opts: { paths?: string[]; statWidth?: number; signal?: AbortSignal } = {}): Promise<DiffResult> {
  const tail = ['--', ...(opts.paths ?? [])];
  const run = (args: string[]) => runGit(['diff', '--no-color', '--no-ext-diff', ...args, from, to, ...tail], { cwd: gitDir, signal: opts.signal });
  const width = Math.max(40, Math.min(opts.statWidth ?? 80, 1000));
  const [ns, num, stat] = await Promise.all([run(['--name-status', '-z']), run(['--numstat', '-z']), run([`--stat=${width}`])]);

  // --name-status -z: "S\0path\0" or "R100\0old\0new\0".
  const files: DiffFile[] = [];
  const f = ns.stdout.toString('utf8').split('\0');
  for (let i = 0; i < f.length - 1; ) {
    const status = f[i++]!;
    if (!status) continue;
    const letter = status[0]!;
    if (letter === 'R' || letter === 'C') {
      const oldPath = f[i++]!;
      files.push({ path: f[i++]!, oldPath, status: letter, additions: 0, deletions: 0, binary: false });
    } else files.push({ path: f[i++]!, status: letter, additions: 0, deletions: 0, binary: false });
  }
  // --numstat -z: "a\td\tpath\0" or, for renames, "a\td\t\0old\0new\0"; same order as above.
  const n = num.stdout.toString('utf8').split('\0');
  let k = 0;
  for (let i = 0; i < n.length - 1 && k < files.length; k++) {
    const rec = n[i++]!;
    const [a, d, p] = rec.split('\t');
    if (p === '') i += 2; // rename: two more fields
    const file = files[k]!;
    if (a === '-' && d === '-') file.binary = true;
    else {
      file.additions = Number(a) || 0;
      file.deletions = Number(d) || 0;
    }
  }
  return {
    files,
    additions: files.reduce((s, x) => s + x.additions, 0),
    deletions: files.reduce((s, x) => s + x.deletions, 0),
    stat: stat.stdout.toString('utf8'),
  };
}
