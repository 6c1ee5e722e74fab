// Flush a live mount before a control-plane action (commit, checkpoint, fork) so the gateway sees
// every write made so far, as `aether sync` would. A no-op outside a mount, and when the working
// directory's mount holds a different session than the one acted on.
// Callers: cli/commands/{commit,checkpoint,session}.ts.
import type { CommandContext } from './context.js';
import { syncMountForCwd } from './mount-context.js';

export async function syncIfMounted(ctx: CommandContext, sessionId: string): Promise<void> {
  const mount = await ctx.mount();
  if (!mount || mount.sessionId !== sessionId) return;
  ctx.out.note(`syncing the mount at ${mount.mountPoint} …`);
  const res = await syncMountForCwd(ctx.io.cwd, { home: ctx.config().config.home, env: ctx.io.env, signal: ctx.io.signal });
  if (res?.conflicts.length) ctx.out.warn(`${res.conflicts.length} conflict copies were created while syncing; see \`aether status\``);
}
