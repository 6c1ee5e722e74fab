// The git repository the gitrepo and treeread scenarios clone: the one given (--repo PATH or
// AETHER_BENCH_REPO), else the largest bare repository under /work/.mirror (the `fetch` tool's
// mirrors: <owner>+<name>/repo) with at least 4,000 files at HEAD, else a synthetic 5,000-file repo
// built here with two commits that differ in every file. Also picks the "distant" revision for
// `git checkout` (--repo-from REV, else HEAD~2000 on the first-parent line, bounded by history).
// Callers: bench/scenarios/{gitrepo,treeread}.mjs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTree, sh } from '../lib.mjs';

export const GIT = 'git -c user.name=bench -c user.email=bench@example.invalid -c gc.auto=0 -c advice.detachedHead=false';
const MIRRORS = '/work/.mirror';
const MIN_FILES = 4000;

const out = async (cmd, cwd) => (await sh(cmd, { cwd })).out.trim();
const fileCount = async (repo, rev = 'HEAD') => Number(await out(`git --git-dir=${repo} ls-tree -r --name-only ${rev} | wc -l`));

async function findMirror() {
  let best;
  let names = [];
  try {
    names = fs.readdirSync(MIRRORS);
  } catch {
    return undefined;
  }
  for (const n of names) {
    const repo = path.join(MIRRORS, n, 'repo');
    if (!fs.existsSync(path.join(repo, 'HEAD'))) continue;
    const files = await fileCount(repo).catch(() => 0);
    if (files >= MIN_FILES && (!best || files > best.files)) best = { repo, files };
  }
  return best?.repo;
}

async function synthetic(root, files) {
  const repo = path.join(root, 'synthetic-origin');
  await makeTree(repo, files, 7);
  await sh(`${GIT} init -q -b main && ${GIT} add -A && ${GIT} commit -q -m one`, { cwd: repo });
  await makeTree(repo, files, 8); // same paths, every file's content different
  await sh(`${GIT} add -A && ${GIT} commit -q -m two && ${GIT} gc -q`, { cwd: repo });
  return path.join(repo, '.git');
}

/** {repo (git dir or work tree to clone), label, from (distant rev), branch, files, changed}. */
export async function pickRepo(env, { repo, repoFrom, quick }) {
  let kind = 'given';
  if (!repo && !quick) {
    repo = await findMirror();
    kind = 'mirror';
  }
  if (!repo) {
    repo = await synthetic(env.root, quick ? 500 : 5000);
    kind = 'synthetic';
  }
  const gitDir = await out(`git -C ${repo} rev-parse --absolute-git-dir`);
  const g = `git --git-dir=${gitDir}`;
  const branch = await out(`${g} symbolic-ref --short HEAD`);
  let from = repoFrom;
  if (!from) {
    const depth = Number(await out(`${g} rev-list --first-parent --count HEAD`));
    from = `HEAD~${Math.min(2000, Math.max(1, depth - 1))}`;
  }
  const fromSha = await out(`${g} rev-parse --verify ${from}^{commit}`);
  const files = await fileCount(gitDir);
  const changed = Number(await out(`${g} diff --no-renames --name-only ${fromSha} HEAD | wc -l`));
  const packBytes = Number(await out(`du -sb ${gitDir} | cut -f1`));
  const name = kind === 'synthetic' ? 'synthetic repo' : path.basename(gitDir) === 'repo' ? path.basename(path.dirname(gitDir)).replace('+', '/') : path.basename(repo);
  return { repo: gitDir, kind, name, branch, from, fromSha, files, changed, gitBytes: packBytes };
}
