// Collaboration file locks: `aether lock PATH [--ttl S]`, `aether lock --force PATH --reason R`,
// `aether unlock PATH [--lock-id ID]`, `aether locks [PREFIX]` (/v1/sessions/{id}/files/lock,
// …/force-unlock, …/unlock, …/list-locks). These locks are advisory (docs/API.md).
// Callers: cli/commands/index.ts.
import { isGatewayError } from '../../client/index.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import type { FileLock } from '../../protocol/types.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { defineCommand, parseDurationSeconds } from '../command.js';
import { toSessionPath } from '../mount-context.js';

export interface LockArgs {
  path: string;
  ttl?: number;
  force: boolean;
  reason?: string;
  session?: string;
}

export const lock = defineCommand<LockArgs>({
  name: 'lock <path>',
  summary: 'take a collaboration lock on a path (or break one with --force)',
  description:
    'Lock a path for collaborators (POST /v1/sessions/{id}/files/lock), for --ttl (default: the\n' +
    'gateway\'s). With --force, first break whatever lock is held (POST …/files/force-unlock, --reason\n' +
    'required; the broken lock is reported), then take the lock.',
  examples: ['aether lock /src/main.ts --ttl 5m', 'aether lock --force /src/main.ts --reason "client crashed during review handoff" --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--ttl <duration>', 'lock lifetime: seconds or 90s/15m/2h').option('--force', 'break the current holder\'s lock first').option('--reason <text>', 'why the lock is broken (with --force)'),
  parse: ([p], o) => {
    const force = Boolean(o.force);
    const reason = o.reason as string | undefined;
    if (force && !reason?.trim()) throw new UserError('AETHER_BAD_ARGUMENT', '--force requires --reason');
    if (!force && reason) throw new UserError('AETHER_BAD_ARGUMENT', '--reason only applies with --force');
    const ttl = o.ttl !== undefined ? parseDurationSeconds(String(o.ttl), '--ttl') : undefined;
    if (ttl !== undefined && (ttl < 1 || ttl > 2 ** 31 - 1)) throw new UserError('AETHER_BAD_ARGUMENT', '--ttl must be between 1 second and 68 years');
    return { path: p!, ttl, force, reason, session: o.session as string | undefined };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const path = toSessionPath(args.path, ctx.io.cwd, await ctx.mount());
    const client = await ctx.client();
    let broken: { lockId: string; ownerId: string } | undefined;
    if (args.force) {
      try {
        broken = await client.forceUnlock(id, { path, reason: args.reason ?? '' });
      } catch (err) {
        // Nothing to break is fine: we only want the lock.
        if (!(isGatewayError(err) && err.rpcCode === RpcCode.NOT_FOUND)) throw err;
      }
    }
    const res = await client.lockFile(id, { path, ...(args.ttl !== undefined ? { timeoutSeconds: args.ttl } : {}) });
    ctx.out.result({ sessionId: id, path, lockId: res.lockId, ...(broken ? { brokenLock: broken } : {}) }, () => {
      if (broken) ctx.out.note(`broke lock ${broken.lockId} held by ${broken.ownerId}`);
      ctx.out.line(res.lockId);
    });
  },
});

export const unlock = defineCommand<{ path: string; lockId?: string; session?: string }>({
  name: 'unlock <path>',
  summary: 'release a collaboration lock',
  description: 'Release the lock on PATH (POST /v1/sessions/{id}/files/unlock). Without --lock-id, the lock currently held on PATH is looked up first.',
  examples: ['aether unlock /src/main.ts', 'aether unlock /src/main.ts --lock-id lock_01HRJ8KXQMA75VPYF1E56DHQ0N'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--lock-id <id>', 'the lock to release (default: the one held on PATH)'),
  parse: ([p], o) => ({ path: p!, lockId: o.lockId as string | undefined, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const path = toSessionPath(args.path, ctx.io.cwd, await ctx.mount());
    const client = await ctx.client();
    let lockId = args.lockId;
    if (!lockId) {
      const held = ((await client.listLocks(id, { pathPrefix: path })).locks ?? []).find((l) => l.path === path);
      if (!held) throw new AetherError('AETHER_LOCK_NOT_FOUND', `no lock is held on ${path}`, { kind: 'not_found', hint: 'see aether locks' });
      lockId = held.lockId;
    }
    await client.unlockFile(id, { path, lockId });
    ctx.out.result({ sessionId: id, path, lockId, unlocked: true }, () => ctx.out.line(`unlocked ${path} (${lockId})`));
  },
});

export const locks = defineCommand<{ prefix?: string; session?: string }>({
  name: 'locks [prefix]',
  summary: 'list active collaboration locks',
  description: 'List active locks (POST /v1/sessions/{id}/files/list-locks), optionally under PREFIX.',
  examples: ['aether locks', 'aether locks /src --json'],
  json: true,
  session: true,
  parse: ([prefix], o) => ({ prefix, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const prefix = args.prefix ? toSessionPath(args.prefix, ctx.io.cwd, await ctx.mount()) : undefined;
    const res = await (await ctx.client()).listLocks(id, prefix && prefix !== '/' ? { pathPrefix: prefix } : {});
    const list = res.locks ?? [];
    ctx.out.result({ locks: list }, () =>
      ctx.out.table(
        [
          { header: 'PATH', value: (l: FileLock) => l.path },
          { header: 'LOCK ID', value: (l) => l.lockId },
          { header: 'OWNER', value: (l) => l.ownerId },
          { header: 'TTL', value: (l) => (l.remainingTtlSeconds ? `${l.remainingTtlSeconds}s` : ''), align: 'right' },
        ],
        list,
        'no locks',
      ),
    );
  },
});
