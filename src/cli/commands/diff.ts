// `aether diff [--stat|--name-status] [PATH] [--checkpoint LABEL]`: what a commit would change —
// the session tree (with the .gitignore filtering a commit applies) against the revision it came
// from, or against a checkpoint (GET /v1/sessions/{id}/diff). The stat is git's own
// `git diff --stat`, sized to the terminal like git (80 columns when not a terminal).
// Also exports the renderers `commit` uses for --dry-run and the stat after a commit.
// Callers: cli/commands/index.ts, cli/commands/commit.ts.
import * as path from 'node:path';
import type { SessionDiff } from '../../protocol/types.js';
import { UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import { syncIfMounted } from '../sync.js';

export type DiffFormat = 'stat' | 'name-status' | 'name-only';

/** `--stat` width: the terminal's columns on a TTY (as git does), else git's default 80. */
export function statWidth(ctx: CommandContext): number {
  const cols = (ctx.io.stdout as { columns?: number }).columns ?? 0;
  return ctx.io.isTTY && cols >= 40 ? Math.min(cols, 1000) : 80;
}

/** Print a diff as `git diff --stat` / `--name-status` / `--name-only` would (to `print`). */
export function printDiff(d: SessionDiff, format: DiffFormat, print: (line: string) => void): void {
  if (format === 'stat') {
    for (const l of (d.stat ?? '').replace(/\n$/, '').split('\n')) if (l) print(l);
    return;
  }
  for (const f of d.files ?? []) {
    if (format === 'name-only') print(f.path ?? '');
    else print(f.oldPath !== undefined ? `${f.status}\t${f.oldPath}\t${f.path}` : `${f.status}\t${f.path}`);
  }
}

/** One note about what .gitignore kept out, when anything was. */
export function ignoredNote(out: Output, d: SessionDiff): void {
  const n = d.ignoredFiles ?? 0;
  if (!n) return;
  const shown = (d.ignoredPaths ?? []).slice(0, 5).join(', ');
  out.note(`${n.toLocaleString('en-US')} untracked file${n === 1 ? '' : 's'} left out by .gitignore (${shown}${(d.ignoredPaths?.length ?? 0) > 5 ? ', …' : ''}); --include-ignored adds them`);
}

/**
 * The session path PATH names: inside a mount, relative to the working directory (and a host path
 * under the mount point is translated); elsewhere relative to the session root.
 */
async function sessionPath(ctx: CommandContext, p: string): Promise<string> {
  const m = await ctx.mount().catch(() => undefined);
  if (m && p.startsWith(m.mountPoint + '/')) return path.posix.normalize('/' + path.relative(m.mountPoint, p));
  if (p.startsWith('/')) return path.posix.normalize(p);
  const out = path.posix.normalize(path.posix.join(m?.sessionPath ?? '/', p));
  if (out.startsWith('/..')) throw new UserError('AETHER_BAD_ARGUMENT', `${p} is outside the session`);
  return out.length > 1 ? out.replace(/\/$/, '') : out;
}

export interface DiffArgs {
  path?: string;
  format: DiffFormat;
  checkpoint?: string;
  includeIgnored: boolean;
  session?: string;
}

export const diff = defineCommand<DiffArgs>({
  name: 'diff [path]',
  summary: 'show what a commit would change (vs the base revision or a checkpoint)',
  description:
    'Diff the session tree against the revision it came from (GET /v1/sessions/{id}/diff), or against\n' +
    'checkpoint --checkpoint LABEL, limited to PATH when given. Untracked files matched by .gitignore\n' +
    'are left out, as `aether commit` leaves them out (--include-ignored counts them). Default output\n' +
    'is `git diff --stat`; --name-status and --name-only list paths; --json gives everything.',
  examples: ['aether diff', 'aether diff --name-status src', 'aether diff --checkpoint before-refactor --stat', 'aether diff --json | jq .diff.files'],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .option('--stat', 'git diff --stat (the default)')
      .option('--name-status', 'one line per path: status letter and path')
      .option('--name-only', 'one line per changed path')
      .option('--checkpoint <label>', 'diff against the newest checkpoint with this label')
      .option('--include-ignored', 'count untracked files that .gitignore matches'),
  parse: ([p], o) => {
    const formats = (['stat', 'nameStatus', 'nameOnly'] as const).filter((k) => o[k]);
    if (formats.length > 1) throw new UserError('AETHER_BAD_ARGUMENT', 'use only one of --stat, --name-status and --name-only');
    const format: DiffFormat = formats[0] === 'nameStatus' ? 'name-status' : formats[0] === 'nameOnly' ? 'name-only' : 'stat';
    return { path: p, format, checkpoint: o.checkpoint as string | undefined, includeIgnored: Boolean(o.includeIgnored), session: o.session as string | undefined };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    await syncIfMounted(ctx, id);
    const p = args.path !== undefined ? await sessionPath(ctx, args.path) : undefined;
    const res = await (await ctx.client()).diffSession(id, {
      ...(p && p !== '/' ? { path: p } : {}),
      ...(args.checkpoint ? { checkpointLabel: args.checkpoint } : {}),
      includeIgnored: args.includeIgnored,
      statWidth: statWidth(ctx),
    });
    const d = res.diff ?? {};
    ctx.out.result({ sessionId: id, ...res }, () => {
      printDiff(d, args.format, (l) => ctx.out.line(l));
      if (!d.files?.length) ctx.out.note(`no changes against ${args.checkpoint ? `checkpoint ${args.checkpoint}` : `the base revision${res.baseCommitId ? ` (${res.baseCommitId.slice(0, 12)})` : ''}`}`);
      ignoredNote(ctx.out, d);
    });
  },
});
