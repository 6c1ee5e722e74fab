// The git repository the gitrepo and treeread scenarios clone: the one given (--repo PATH or
// AETHER_BENCH_REPO), else the largest bare repository under /work/.mirror (the `fetch` tool's
// mirrors: <owner>+<name>/repo) with at least 4,000 files at HEAD, else a synthetic 5,000-file repo
// built here with two commits that differ in every file. Also picks the "distant" revision for
// `git checkout` (--repo-from REV, else HEAD~2000 on the first-parent line, bounded by history).
// A real repository is cloned from a shallow two-commit copy made here unless --full-history.
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

/**
 * {repo (git dir to clone), kind, name, history, from (distant rev), fromSha, branch, files,
 * changed, gitBytes}. A real repository is cloned from a shallow copy with just HEAD and the
 * distant commit unless `fullHistory`.
 */
export async function pickRepo(env, { repo, repoFrom, quick, fullHistory = false }) {
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
  let fromSha = await out(`${g} rev-parse --verify ${from}^{commit}`);
  let source = gitDir;
  let history = 'full history';
  if (!fullHistory && kind !== 'synthetic') {
    // A shallow copy holding just the two commits: the same work tree and checkout, without
    // copying hundreds of MB of history on every clone (through sshfs on a loaded 2-core machine
    // that alone took more than 10 minutes).
    source = path.join(env.root, 'shallow-source.git');
    const headSha = await out(`${g} rev-parse --verify HEAD^{commit}`);
    await sh(`git init -q --bare ${source}`);
    await sh(`git fetch -q --depth 1 --upload-pack='git -c uploadpack.allowAnySHA1InWant=true upload-pack' file://${gitDir} ${headSha} ${fromSha}`, { cwd: source });
    // A clone from a shallow repository goes through upload-pack (like a network clone), which
    // sends only what refs reach: a tag keeps the distant commit in every clone.
    await sh(`git update-ref refs/heads/${branch} ${headSha} && git update-ref refs/tags/bench-distant ${fromSha} && git symbolic-ref HEAD refs/heads/${branch}`, { cwd: source });
    history = `shallow copy: HEAD and ${from} only (--full-history clones the whole repository)`;
    fromSha = await out(`git --git-dir=${source} rev-parse --verify ${fromSha}^{commit}`);
  }
  const files = await fileCount(source);
  const changed = Number(await out(`${g} diff --no-renames --name-only ${fromSha} HEAD | wc -l`));
  const packBytes = Number(await out(`du -sb ${source} | cut -f1`));
  const name = kind === 'synthetic' ? 'synthetic repo' : path.basename(gitDir) === 'repo' ? path.basename(path.dirname(gitDir)).replace('+', '/') : path.basename(repo);
  return { repo: source, kind, name, history, branch, from, fromSha, files, changed, gitBytes: packBytes };
}
