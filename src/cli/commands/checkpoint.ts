// `aether checkpoint [LABEL]`, `aether checkpoints`, `aether restore CHECKPOINT|--label L`: the
// checkpoint-before-a-risky-change workflow (POST/GET /v1/sessions/{id}/checkpoints, POST …/restore).
// Callers: cli/commands/index.ts.
import type { Checkpoint } from '../../protocol/types.js';
import { UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import { syncIfMounted } from '../sync.js';

export const checkpoint = defineCommand<{ label?: string; session?: string }>({
  name: 'checkpoint [label]',
  summary: 'checkpoint the session (before a risky change)',
  description: 'Create a checkpoint of the session tree (POST /v1/sessions/{id}/checkpoints). Inside a mount the mount is synced first.',
  examples: ['aether checkpoint before-large-refactor', 'aether checkpoint --session sess_1234abcd --json'],
  json: true,
  session: true,
  parse: ([label], o) => ({ label, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    await syncIfMounted(ctx, id);
    const cp = await (await ctx.client()).createCheckpoint(id, args.label ? { label: args.label } : {});
    ctx.out.result(cp, () =>
      ctx.out.keyValues([
        ['id', ctx.out.colors.bold(cp.id)],
        ['sessionId', cp.sessionId],
        ['label', cp.label || undefined],
        ['createdAt', cp.createdAt],
      ]),
    );
  },
});

export const checkpoints = defineCommand<{ session?: string }>({
  name: 'checkpoints',
  summary: "list the session's checkpoints",
  description: 'List checkpoints of the session (GET /v1/sessions/{id}/checkpoints, an Aether extension).',
  examples: ['aether checkpoints', 'aether checkpoints --session sess_1234abcd --json'],
  json: true,
  session: true,
  parse: (_o, o) => ({ session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).listCheckpoints(id);
    const list = res.checkpoints ?? [];
    ctx.out.result({ checkpoints: list }, () =>
      ctx.out.table(
        [
          { header: 'ID', value: (c: Checkpoint) => c.id },
          { header: 'LABEL', value: (c) => c.label ?? '' },
          { header: 'CREATED', value: (c) => c.createdAt },
        ],
        list,
        'no checkpoints',
      ),
    );
  },
});

export const restore = defineCommand<{ checkpointId?: string; label?: string; session?: string }>({
  name: 'restore [checkpoint]',
  summary: 'restore the session to a checkpoint (by id or --label)',
  description:
    'Replace the session tree with a checkpoint (POST /v1/sessions/{id}/restore). Name it by id, or by\n' +
    'label with --label (the most recent checkpoint with that label). Checkpoints are kept.',
  examples: ['aether restore cp_5678efgh', 'aether restore --label before-large-refactor --session sess_1234abcd'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--label <label>', 'restore the most recent checkpoint with this label'),
  parse: ([cp], o) => {
    const label = o.label as string | undefined;
    if (!cp && !label) throw new UserError('AETHER_BAD_ARGUMENT', 'name the checkpoint: restore CHECKPOINT_ID or restore --label LABEL');
    if (cp && label) throw new UserError('AETHER_BAD_ARGUMENT', 'give a checkpoint id or --label, not both');
    return { checkpointId: cp, label, session: o.session as string | undefined };
  },
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const client = await ctx.client();
    const res = await client.restore(id, args.checkpointId ? { checkpointId: args.checkpointId } : { label: args.label! });
    const mount = await ctx.mount();
    if (mount?.sessionId === id) ctx.out.note(`the mount at ${mount.mountPoint} shows the restored tree within a few seconds`);
    ctx.out.result({ sessionId: id, checkpointId: res.checkpointId }, () => ctx.out.line(`restored ${id} to checkpoint ${res.checkpointId}`));
  },
});
