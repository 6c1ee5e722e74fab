// Garbage collection of the gateway's git mirrors (issue 15), a phase of the gateway GC
// (store/gc.ts addPhase). The mirrors collect garbage of their own: every dry run and diff writes
// a commit (fast-import pack) that is dropped afterwards, and refs of deleted sessions keep their
// commits alive. Per mirror, holding its lock (so no import, commit or diff runs meanwhile):
//
//  1. refs: drop refs/aether/sessions/<id>/… of sessions that are deleted or gone and every
//     leftover refs/aether/dryrun/* (temporary; only a crash leaves one); pin every source
//     revision's commit as refs/aether/revisions/<revision id> (an upstream force-push would
//     otherwise leave a revision's commit unreachable) and drop pins of revisions that are gone;
//  2. `git gc --prune=<grace>`: repack what refs reach and delete unreachable objects older than
//     the grace period — everything reachable from a ref (remote branches and tags, pushed
//     commits, live sessions' heads, revisions) stays.
//
// Bounded: it runs in git child processes (never on the event loop), one mirror at a time, and a
// periodic run skips a mirror below the thresholds (few packs, few loose objects, no refs to
// drop); on-demand runs (`aether gateway gc`) always collect. A dry run only reports sizes and
// the refs it would drop. Callers: git-service.ts registers it.
import * as fs from 'node:fs';
import type { GatewayCore } from '../core.js';
import type { GcOptions } from '../store/gc.js';
import { runGit } from './git-runner.js';

/** A periodic run collects a mirror only past one of these. */
const PERIODIC_MIN_PACKS = 4;
const PERIODIC_MIN_LOOSE = 500;

export interface MirrorGcReport {
  sourceId: string;
  ran: boolean;
  droppedRefs: number;
  pinnedRevisions: number;
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

/** What the mirror phase needs of GitService. */
export interface MirrorAccess {
  mirrorPath(sourceId: string): string;
  withMirror<T>(sourceId: string, fn: (gitDir: string) => Promise<T>): Promise<T>;
}

interface ObjectCounts {
  loose: number;
  packs: number;
  bytes: number;
}

async function countObjects(gitDir: string): Promise<ObjectCounts> {
  const out = (await runGit(['count-objects', '-v'], { cwd: gitDir })).stdout.toString('utf8');
  const v = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
  return { loose: v('count'), packs: v('packs'), bytes: (v('size') + v('size-pack') + v('size-garbage')) * 1024 };
}

/** Collect every source's mirror (see the module comment). */
export async function collectMirrors(core: GatewayCore, git: MirrorAccess, opts: GcOptions & { graceMs: number; dryRun: boolean }): Promise<MirrorGcReport[]> {
  const sources = core.db.prepare('SELECT id FROM sources ORDER BY id').pluck().all() as string[];
  const out: MirrorGcReport[] = [];
  for (const id of sources) {
    if (!fs.existsSync(`${git.mirrorPath(id)}/HEAD`)) continue; // never create a mirror to collect it
    out.push(await git.withMirror(id, (gitDir) => collectMirror(core, id, gitDir, opts)));
  }
  return out;
}

async function collectMirror(core: GatewayCore, sourceId: string, gitDir: string, opts: GcOptions & { graceMs: number; dryRun: boolean }): Promise<MirrorGcReport> {
  const started = Date.now();
  const before = await countObjects(gitDir);
  const refs = (await runGit(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/aether/'], { cwd: gitDir })).stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string]);
  const live = new Set(core.db.prepare('SELECT id FROM sessions WHERE deleted_at IS NULL').pluck().all() as string[]);
  const revisions = core.db.prepare('SELECT id, commit_sha FROM revisions WHERE source_id = ?').all(sourceId) as Array<{ id: string; commit_sha: string }>;
  const revIds = new Set(revisions.map((r) => r.id));
  const have = new Map(refs);
  const drop: string[] = [];
  for (const [ref] of refs) {
    const session = /^refs\/aether\/sessions\/([^/]+)\//.exec(ref)?.[1];
    if (session !== undefined && !live.has(session)) drop.push(ref);
    else if (ref.startsWith('refs/aether/dryrun/')) drop.push(ref);
    else if (ref.startsWith('refs/aether/revisions/') && !revIds.has(ref.slice('refs/aether/revisions/'.length))) drop.push(ref);
  }
  // Pin revisions whose commit the mirror has (a missing one is refetched on use, git-service.ts).
  const pins: Array<[string, string]> = [];
  const candidates = revisions.filter((r) => /^[0-9a-f]{40}$/.test(r.commit_sha) && have.get(`refs/aether/revisions/${r.id}`) !== r.commit_sha);
  if (candidates.length) {
    const check = await runGit(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { cwd: gitDir, input: candidates.map((r) => r.commit_sha).join('\n') + '\n' });
    const present = new Set(
      check.stdout
        .toString('utf8')
        .split('\n')
        .filter((l) => l.endsWith(' commit'))
        .map((l) => l.slice(0, 40)),
    );
    for (const r of candidates) if (present.has(r.commit_sha)) pins.push([`refs/aether/revisions/${r.id}`, r.commit_sha]);
  }
  const report: MirrorGcReport = { sourceId, ran: false, droppedRefs: drop.length, pinnedRevisions: pins.length, bytesBefore: before.bytes, bytesAfter: before.bytes, durationMs: 0 };
  const idle = opts.periodic && drop.length === 0 && before.packs < PERIODIC_MIN_PACKS && before.loose < PERIODIC_MIN_LOOSE;
  if (opts.dryRun || idle) {
    report.durationMs = Date.now() - started;
    return report;
  }
  // Pins first, in one transaction of ref updates, so nothing a revision needs is ever unreferenced.
  const lines = [...pins.map(([ref, sha]) => `update ${ref} ${sha}`), ...drop.map((ref) => `delete ${ref}`)];
  if (lines.length) await runGit(['update-ref', '--stdin'], { cwd: gitDir, input: lines.join('\n') + '\n' });
  const prune = opts.graceMs <= 0 ? 'now' : `${Math.ceil(opts.graceMs / 1000)}.seconds.ago`;
  await runGit(['gc', '--quiet', `--prune=${prune}`], { cwd: gitDir, config: ['gc.auto=0', 'gc.reflogExpire=now', 'gc.reflogExpireUnreachable=now'] });
  report.ran = true;
  report.bytesAfter = (await countObjects(gitDir)).bytes;
  report.durationMs = Date.now() - started;
  return report;
}
