// `aether cache stats|verify|gc|clear`: the local CAS cache shared by every mount
// (<AETHER_HOME>/cache/cas, or AETHER_CACHE_DIR; budget AETHER_CACHE_SIZE / profile cacheSize).
// Safe while mounts run: blobs pinned by a live mount are never removed (DiskCas invariants).
// Callers: cli/commands/index.ts.
import { DiskCas } from '../../cas/disk-cas.js';
import { formatBytes, parseSize } from '../../cas/size.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';

async function openCache(ctx: CommandContext): Promise<DiskCas> {
  const { config } = ctx.config();
  return DiskCas.open({ dir: config.cacheDir, maxBytes: parseSize(config.cacheSize), logger: ctx.logger });
}

async function withCache<T>(ctx: CommandContext, fn: (cas: DiskCas) => Promise<T>): Promise<T> {
  const cas = await openCache(ctx);
  try {
    return await fn(cas);
  } finally {
    await cas.close();
  }
}

export const cacheStats = defineCommand<Record<string, never>>({
  name: 'stats',
  summary: 'show the cache size, entry count and budget',
  examples: ['aether cache stats', 'aether cache stats --json'],
  json: true,
  parse: () => ({}),
  handler: async (_a, ctx) =>
    withCache(ctx, async (cas) => {
      const s = cas.stats();
      const data = { dir: cas.dir, entries: s.entries, bytes: s.bytes, maxBytes: s.maxBytes };
      ctx.out.result(data, () =>
        ctx.out.keyValues([
          ['dir', cas.dir],
          ['entries', String(s.entries)],
          ['size', `${formatBytes(s.bytes)} of ${formatBytes(s.maxBytes)} (${s.maxBytes ? Math.round((100 * s.bytes) / s.maxBytes) : 0}%)`],
        ]),
      );
    }),
});

export const cacheVerify = defineCommand<Record<string, never>>({
  name: 'verify',
  summary: 'hash every cached blob and delete corrupt ones (exit 1 if any)',
  examples: ['aether cache verify'],
  json: true,
  parse: () => ({}),
  handler: async (_a, ctx) =>
    withCache(ctx, async (cas) => {
      const r = await cas.verify();
      ctx.out.result({ checked: r.checked, corrupt: r.corrupt }, () => {
        ctx.out.line(`checked ${r.checked} blobs; ${r.corrupt.length} corrupt${r.corrupt.length ? ' (deleted; they are fetched again on demand)' : ''}`);
        for (const h of r.corrupt) ctx.out.line(`  ${h}`);
      });
      return r.corrupt.length ? 1 : 0;
    }),
});

export const cacheGc = defineCommand<{ target?: number }>({
  name: 'gc',
  summary: 'evict least-recently-used blobs down to the budget (or --target SIZE)',
  examples: ['aether cache gc', 'aether cache gc --target 2G'],
  json: true,
  configure: (cmd) => cmd.option('--target <size>', 'evict down to this size (e.g. 2G; default: the budget)'),
  parse: (_ops, o) => ({ target: o.target !== undefined ? parseSize(String(o.target)) : undefined }),
  handler: async (args, ctx) =>
    withCache(ctx, async (cas) => {
      const r = await cas.gc(args.target);
      ctx.out.result(r, () => ctx.out.line(`evicted ${r.evicted} blobs, freed ${formatBytes(r.freedBytes)}`));
    }),
});

export const cacheClear = defineCommand<Record<string, never>>({
  name: 'clear',
  summary: 'remove every cached blob not pinned by a live mount',
  examples: ['aether cache clear'],
  json: true,
  parse: () => ({}),
  handler: async (_a, ctx) =>
    withCache(ctx, async (cas) => {
      const before = cas.stats();
      await cas.clear();
      const after = cas.stats();
      ctx.out.result({ removed: before.entries - after.entries, freedBytes: before.bytes - after.bytes }, () =>
        ctx.out.line(`removed ${before.entries - after.entries} blobs (${formatBytes(before.bytes - after.bytes)})`),
      );
    }),
});

export const cacheGroup = defineCommand({
  name: 'cache',
  summary: 'inspect and maintain the local CAS cache',
  examples: ['aether cache stats', 'aether cache verify', 'aether cache gc --target 1G', 'aether cache clear'],
  subcommands: [cacheStats, cacheVerify, cacheGc, cacheClear],
});
