// `aether secret list|set|get|rm`: session- and tenant-scoped secrets
// (/v1/sessions/{id}/secrets[/{name}]).
// Invariants: a value is read from stdin, or from a no-echo prompt on a terminal; it is never an
// argument (shell history), never echoed, never logged. `get` prints the value alone on stdout.
// Callers: cli/commands/index.ts.
import type { SecretMetadata, SecretScope } from '../../protocol/types.js';
import { UserError } from '../../shared/errors.js';
import { defineCommand } from '../command.js';
import { readAll } from '../io.js';
import { promptHidden } from '../prompt.js';
import { shortEnum } from '../render.js';

function parseScope(v: unknown): SecretScope {
  const s = String(v ?? 'session').toLowerCase();
  if (s === 'session' || s === 'secret_scope_session') return 'SECRET_SCOPE_SESSION';
  if (s === 'tenant' || s === 'secret_scope_tenant') return 'SECRET_SCOPE_TENANT';
  throw new UserError('AETHER_BAD_ARGUMENT', '--scope must be session or tenant');
}

const scopeOption = ['--scope <scope>', 'session or tenant', 'session'] as const;

export const secretList = defineCommand<{ scope: SecretScope; session?: string }>({
  name: 'list',
  aliases: ['ls'],
  summary: 'list secret names (never values)',
  examples: ['aether secret list', 'aether secret list --scope tenant --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option(...scopeOption),
  parse: (_ops, o) => ({ scope: parseScope(o.scope), session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).listSecrets(id, { scope: args.scope });
    const list = res.secrets ?? [];
    ctx.out.result({ secrets: list }, () =>
      ctx.out.table(
        [
          { header: 'NAME', value: (s: SecretMetadata) => s.secretName },
          { header: 'SCOPE', value: (s) => shortEnum(s.scope, 'SECRET_SCOPE_') },
        ],
        list,
        'no secrets',
      ),
    );
  },
});

export const secretSet = defineCommand<{ name: string; scope: SecretScope; session?: string }>({
  name: 'set <name>',
  summary: 'store a secret (value from stdin, or a hidden prompt)',
  description: 'Set a secret (PUT /v1/sessions/{id}/secrets/{name}). The value comes from stdin (one trailing newline is dropped) or, on a terminal, from a prompt that does not echo.',
  examples: ['aether secret set NPM_TOKEN            # prompts without echo', 'printf %s "$TOKEN" | aether secret set NPM_TOKEN --scope tenant'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option(...scopeOption),
  parse: ([name], o) => ({ name: name!, scope: parseScope(o.scope), session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    let value: string;
    if (ctx.io.stdinIsTTY) value = await promptHidden(ctx.io, `value for ${args.name}: `);
    else value = (await readAll(ctx.io.stdin)).toString('utf8').replace(/\r?\n$/, '');
    if (value === '') throw new UserError('AETHER_BAD_ARGUMENT', 'the secret value is empty', { hint: 'pipe the value on stdin, e.g. printf %s "$VALUE" | aether secret set NAME' });
    ctx.secrets.push(value);
    const res = await (await ctx.client()).setSecret(id, args.name, { secretValue: value, scope: args.scope });
    ctx.out.result(res, () => ctx.out.line(`stored ${res.secretName} (${shortEnum(res.scope ?? args.scope, 'SECRET_SCOPE_').toLowerCase()})`));
  },
});

export const secretGet = defineCommand<{ name: string; session?: string }>({
  name: 'get <name>',
  summary: 'print a secret value on stdout (and nothing else)',
  examples: ['NPM_TOKEN=$(aether secret get NPM_TOKEN)'],
  json: true,
  session: true,
  parse: ([name], o) => ({ name: name!, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).getSecret(id, args.name);
    ctx.out.result(res, () => {
      ctx.out.raw(res.secretValue);
      if (ctx.io.isTTY) ctx.out.raw('\n');
    });
  },
});

export const secretRm = defineCommand<{ name: string; scope: SecretScope; session?: string }>({
  name: 'rm <name>',
  aliases: ['delete'],
  summary: 'delete a secret',
  examples: ['aether secret rm NPM_TOKEN'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option(...scopeOption),
  parse: ([name], o) => ({ name: name!, scope: parseScope(o.scope), session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const res = await (await ctx.client()).deleteSecret(id, args.name, { scope: args.scope });
    ctx.out.result(res, () => ctx.out.line(`deleted ${res.secretName}`));
  },
});

export const secretGroup = defineCommand({
  name: 'secret',
  summary: 'list, set, get and delete secrets',
  examples: ['aether secret set NPM_TOKEN < token.txt', 'aether secret list', 'aether secret get NPM_TOKEN'],
  subcommands: [secretList, secretSet, secretGet, secretRm],
});
