// Scenario "gitrepo": a real repository (bench/scenarios/repo.mjs picks it; e.g. git/git, ~4.8k
// files; by default a shallow copy with HEAD and the distant commit, ~16 MB of pack) — `git clone
// --no-hardlinks` (a local clone that copies the pack, as a clone over the network would write it), `git checkout` of a distant revision and back, `git
// status`, `rm -rf` — on native disk, sshfs, rclone and Aether, medians of `reps`. After each
// write step the shipping lag (see targets.mjs).
import { sh, fmtBytes } from '../lib.mjs';
import { makeTargets } from '../targets.mjs';
import { startTargets, runComparison } from '../compare.mjs';
import { GIT, pickRepo } from './repo.mjs';

export async function gitrepoScenario(env, opts, report) {
  const { log } = opts;
  const r = await pickRepo(env, opts);
  log(`  gitrepo: ${r.kind} ${r.name} (${r.repo}): ${r.files} files, .git ${fmtBytes(r.gitBytes)}; distant ${r.from} (${r.fromSha.slice(0, 10)}, ${r.changed} files differ)`);
  const label = ` (${r.kind === 'synthetic' ? 'synthetic' : r.name}, ${r.files} files)`;
  report.note(`gitrepo: ${r.kind} repository ${r.name} (${r.history ?? 'full history'}) — ${r.files} files at HEAD, .git ${fmtBytes(r.gitBytes)}; distant revision ${r.from} = ${r.fromSha.slice(0, 10)} (${r.changed} files differ from HEAD)`);
  const git = (t) => `${GIT} ${t.gitConfig ?? ''}`;
  const warmPack = () => sh(`cat ${r.repo}/objects/pack/* > /dev/null`);
  const targets = await startTargets(env, makeTargets(env, 'gitrepo', opts.peers), 'gitrepo', report, log);
  try {
    await runComparison({
      scenario: 'gitrepo',
      targets,
      reps: opts.reps,
      report,
      log,
      label,
      steps: [
        { name: 'git clone', prepare: warmPack, run: (t) => sh(`${git(t)} clone -q --no-hardlinks ${r.repo} repo`, { cwd: t.dir }), expect: 'repo' },
        { name: `git checkout ${r.from}`, run: (t) => sh(`${git(t)} checkout -q ${r.fromSha}`, { cwd: `${t.dir}/repo` }), expect: 'repo' },
        { name: `git checkout ${r.branch} (back)`, run: (t) => sh(`${git(t)} checkout -q ${r.branch}`, { cwd: `${t.dir}/repo` }), expect: 'repo' },
        { name: 'git status', run: (t) => sh(`${git(t)} status --porcelain > /dev/null`, { cwd: `${t.dir}/repo` }) },
        { name: 'rm -rf', run: (t) => sh('rm -rf repo', { cwd: t.dir }), expect: 'repo' },
      ],
      reset: (t) => sh('rm -rf repo', { cwd: t.dir }),
    });
  } finally {
    for (const t of targets) await t.stop().catch((e) => log(`  ${t.name}: stop failed: ${e.message}`));
  }
}
