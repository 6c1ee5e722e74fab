// `aether kv get|set|rm KEY`: the session cache (PUT/GET/DELETE /v1/sessions/{id}/cache/{key}) for
// derived tool output and small workflow state. Values are bytes: `set` takes VALUE or stdin,
// `get` writes the bytes back unchanged (JSON mode: base64 `value` plus `text` when UTF-8).
// Callers: cli/commands/index.ts.
import { AetherError, UserError } from '../../shared/errors.js';
import { defineCommand, parseDurationSeconds } from '../command.js';
import { readAll } from '../io.js';

/** The bytes as text when they are valid UTF-8, else undefined. */
export function utf8OrUndefined(b: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

export const kvGet = defineCommand<{ key: string; session?: string }>({
  name: 'get <key>',
  summary: 'print a cache value (exit 3 when missing or expired)',
  examples: ['aether kv get analysis.summary', 'aether kv get analysis.summary --json | jq -r .text'],
  json: true,
  session: true,
  parse: ([key], o) => ({ key: key!, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const entry = await (await ctx.client()).cacheGet(id, args.key);
    if (!entry.found) {
      if (ctx.out.json) ctx.out.result({ key: args.key, found: false }, () => undefined);
      throw new AetherError('AETHER_KEY_NOT_FOUND', `no cache entry ${JSON.stringify(args.key)} in session ${id} (missing or expired)`, { kind: 'not_found' });
    }
    const text = utf8OrUndefined(entry.value);
    ctx.out.result({ key: args.key, found: true, value: entry.value.toString('base64'), ...(text !== undefined ? { text } : {}) }, () => {
      ctx.out.raw(entry.value);
      if (ctx.io.isTTY && text !== undefined && !text.endsWith('\n')) ctx.out.raw('\n');
    });
  },
});

export const kvSet = defineCommand<{ key: string; value?: string; ttl?: number; session?: string }>({
  name: 'set <key> [value]',
  summary: 'store a cache value (VALUE, or stdin when omitted)',
  description: 'Set a cache entry (PUT /v1/sessions/{id}/cache/{key}). Without VALUE the bytes are read from stdin.',
  examples: ['aether kv set analysis.summary \'{"status":"ready-for-review"}\' --ttl 1h', 'jq -c . report.json | aether kv set analysis.report'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--ttl <duration>', 'expire after this long (seconds or 90s/15m/2h/1d)'),
  parse: ([key, value], o) => ({ key: key!, value, ttl: o.ttl !== undefined ? parseDurationSeconds(String(o.ttl), '--ttl') : undefined, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    let bytes: Buffer;
    if (args.value !== undefined) bytes = Buffer.from(args.value, 'utf8');
    else {
      if (ctx.io.stdinIsTTY) throw new UserError('AETHER_BAD_ARGUMENT', 'give VALUE or pipe the value on stdin');
      bytes = await readAll(ctx.io.stdin);
    }
    await (await ctx.client()).cacheSet(id, args.key, bytes, args.ttl !== undefined ? { ttlSeconds: args.ttl } : {});
    ctx.out.result({ key: args.key, bytes: bytes.length, ...(args.ttl !== undefined ? { ttlSeconds: args.ttl } : {}) }, () =>
      ctx.out.line(`set ${args.key} (${bytes.length} bytes${args.ttl !== undefined ? `, expires in ${args.ttl}s` : ''})`),
    );
  },
});

export const kvRm = defineCommand<{ key: string; session?: string }>({
  name: 'rm <key>',
  aliases: ['delete'],
  summary: 'delete a cache value (missing keys are fine)',
  examples: ['aether kv rm analysis.summary'],
  json: true,
  session: true,
  parse: ([key], o) => ({ key: key!, session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    await (await ctx.client()).cacheDelete(id, args.key);
    ctx.out.result({ key: args.key, deleted: true }, () => ctx.out.line(`deleted ${args.key}`));
  },
});

export const kvGroup = defineCommand({
  name: 'kv',
  summary: 'get, set and delete session cache entries',
  examples: ['aether kv set build.status ok --ttl 1h', 'aether kv get build.status', 'aether kv rm build.status'],
  subcommands: [kvGet, kvSet, kvRm],
});
