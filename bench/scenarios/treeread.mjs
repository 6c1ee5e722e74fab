// Scenario "treeread" (the read side, issue 11): a clone of the real repository (repo.mjs; its
// work tree and .git) is put on each system once (native and the sftp peers: cloned straight
// into the backing dir; Aether: cloned through a mount, then unmounted), then, medians of `reps`:
//   cold      `tar cf - . | wc -c` on a fresh mount with an empty local cache (Aether: new CAS
//             dir; rclone: VFS cache emptied; sshfs keeps none), page cache dropped
//   warm      the same after a remount that keeps the local cache, page cache dropped
//   find      `find . | wc -l` right after a remount (cache kept, page cache dropped)
//   git status `git status --porcelain` right after a remount (likewise)
// Native drops the page cache before each. For Aether the daemon's counters after the step
// (directory listings and blobs fetched from the gateway) go in the notes: issue 11's "requests
// per remount" figure.
import * as path from 'node:path';
import { dropCaches, sh, fmtBytes, fmtMs } from '../lib.mjs';
import { makeTargets } from '../targets.mjs';
import { startTargets, runComparison } from '../compare.mjs';
import { GIT, pickRepo } from './repo.mjs';

export async function treereadScenario(env, opts, report) {
  const { log } = opts;
  const r = await pickRepo(env, opts);
  const label = ` (clone of ${r.kind === 'synthetic' ? 'synthetic repo' : r.name}, ${r.files} files + .git)`;
  const git = (t) => `${GIT} ${t.gitConfig ?? ''}`;
  const targets = await startTargets(env, makeTargets(env, 'treeread', opts.peers), 'treeread', report, log);
  try {
    for (const t of targets) {
      // Setup (untimed for the table): the clone lands where each system keeps its data.
      const where = t.backing ?? t.dir;
      const s = await sh(`${git(t)} clone -q --no-hardlinks ${r.repo} repo`, { cwd: where });
      log(`  treeread: setup: clone into ${t.name}${t.backing ? ' (backing dir)' : ''}: ${fmtMs(s.ms)}`);
      await t.remount({ cold: true });
      // One git status through the system first: the index then holds this system's stat data.
      await sh(`${git(t)} status --porcelain > /dev/null`, { cwd: path.join(t.dir, 'repo') });
    }
    const bytes = Number((await sh(`du -sb repo | cut -f1`, { cwd: targets[0].dir })).out.trim());
    report.note(`treeread: ${r.name}'s clone: ${fmtBytes(bytes)} with .git; Aether's copy was written through a mount, the peers' straight into their backing dirs`);
    const fresh = (cold) => async (t) => {
      await t.remount({ cold });
      await dropCaches();
    };
    const counters = async (t) => {
      const s = await t.stats();
      return s ? `listings ${s.listings}, blobs fetched ${s.blobsFetched} (${fmtBytes(s.bytesFetched)})` : undefined;
    };
    const inRepo = (t) => path.join(t.dir, 'repo');
    await runComparison({
      scenario: 'treeread',
      targets,
      reps: opts.reps,
      report,
      log,
      label,
      steps: [
        { name: 'cold read: tar cf - . | wc -c', prepare: fresh(true), run: (t) => sh('tar cf - . | wc -c > /dev/null', { cwd: inRepo(t) }), after: counters },
        { name: 'warm read (remount, cache kept)', prepare: fresh(false), run: (t) => sh('tar cf - . | wc -c > /dev/null', { cwd: inRepo(t) }), after: counters },
        { name: 'find . | wc -l after remount', prepare: fresh(false), run: (t) => sh('find . | wc -l > /dev/null', { cwd: inRepo(t) }), after: counters },
        { name: 'git status after remount', prepare: fresh(false), run: (t) => sh(`${git(t)} status --porcelain > /dev/null`, { cwd: inRepo(t) }), after: counters },
      ],
    });
  } finally {
    for (const t of targets) await t.stop().catch((e) => log(`  ${t.name}: stop failed: ${e.message}`));
  }
}
