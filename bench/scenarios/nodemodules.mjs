// Scenario "nodemodules": a real tree — the first N regular files (default 5,000, sorted by path)
// of this project's own node_modules, tarred once per run — unpacked with `tar x` and removed with
// `rm -rf`, on native disk, sshfs, rclone and Aether, medians of `reps` (default 3). Regular files
// only (node_modules/.bin symlinks left out; hard links stored as copies) so every system does the
// same work: rclone's mount has neither. After each step the shipping lag: how long until the far side (sftp backing
// dir, Aether gateway) holds exactly the native tree. Native runs without a final `sync`: every
// column is the time the user waits.
import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { ROOT, sh, fmtBytes } from '../lib.mjs';
import { makeTargets } from '../targets.mjs';
import { startTargets, runComparison } from '../compare.mjs';

export async function nodemodulesScenario(env, { files, reps, peers, log }, report) {
  const list = path.join(env.root, 'nodemodules.list');
  const tarball = path.join(env.root, 'nodemodules.tar');
  await sh(`find node_modules -type f | LC_ALL=C sort | head -n ${files} > ${list}`, { cwd: ROOT });
  const count = (await fsp.readFile(list, 'utf8')).split('\n').filter(Boolean).length;
  // --hard-dereference: node_modules holds hard links (better-sqlite3's build), rclone has none.
  await sh(`tar cf ${tarball} --hard-dereference -T ${list}`, { cwd: ROOT });
  const { size } = await fsp.stat(tarball);
  const label = ` (${count} files of node_modules, ${fmtBytes(size)} tar)`;
  const targets = await startTargets(env, makeTargets(env, 'nodemodules', peers), 'nodemodules', report, log);
  try {
    await runComparison({
      scenario: 'nodemodules',
      targets,
      reps,
      report,
      log,
      label,
      steps: [
        { name: 'tar x', prepare: () => sh(`cat ${tarball} > /dev/null`), run: (t) => sh(`mkdir nm && tar xf ${tarball} -C nm`, { cwd: t.dir }), expect: 'nm' },
        { name: 'rm -rf', run: (t) => sh('rm -rf nm', { cwd: t.dir }), expect: 'nm' },
      ],
      reset: (t) => sh('rm -rf nm', { cwd: t.dir }),
    });
  } finally {
    for (const t of targets) await t.stop().catch((e) => log(`  ${t.name}: stop failed: ${e.message}`));
  }
}
