// `aether prefetch [PATH]`: warm the local CAS cache with every blob under a session path, so a
// later mount (or a mount that is running now) reads those files without touching the network —
// before going offline, or before a build that reads the whole tree. Blobs already cached are
// skipped; each fetched blob is verified against its hash by the client before it is stored.
// Shows an ink progress bar on a terminal, plain lines otherwise.
// Callers: cli/commands/index.ts.
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { DiskCas } from '../../cas/disk-cas.js';
import { formatBytes, parseSize } from '../../cas/size.js';
import { toSessionPath } from '../mount-context.js';

interface PrefetchArgs {
  path?: string;
  session?: string;
  concurrency: number;
}

interface Progress {
  files: number;
  blobs: number;
  cached: number;
  fetched: number;
  bytesFetched: number;
  totalBytes: number;
}

async function progressView(ctx: CommandContext) {
  const { columns = 0, rows = 0 } = ctx.io.stdout as { columns?: number; rows?: number };
  if (!ctx.io.isTTY || ctx.out.json || columns < 40 || rows < 2) return undefined;
  const [{ createElement }, { Box, Text }, { ProgressBar }, { startLiveView }] = await Promise.all([
    import('react'),
    import('ink'),
    import('../ui/progress-bar.js'),
    import('../ui/live.js'),
  ]);
  const el = (p: Progress, tick: number) =>
    createElement(
      Box,
      { gap: 1 },
      createElement(Text, null, 'prefetch'),
      createElement(ProgressBar, { value: p.cached + p.fetched, total: p.blobs || undefined, tick, width: 24 }),
      createElement(Text, null, `${p.fetched} fetched, ${p.cached} already cached of ${p.blobs} blobs (${p.files} files), ${formatBytes(p.bytesFetched)}`),
    );
  let tick = 0;
  const live = startLiveView(ctx.io, el({ files: 0, blobs: 0, cached: 0, fetched: 0, bytesFetched: 0, totalBytes: 0 }, 0));
  return { update: (p: Progress) => live.update(el(p, ++tick)), done: () => live.done() };
}

export const prefetch = defineCommand<PrefetchArgs>({
  name: 'prefetch [path]',
  summary: 'download every blob under a session path into the local cache',
  description:
    'Walk the manifest under PATH (default: the whole session, or the current directory inside a mount) and fetch every blob not already in the local CAS cache. Later reads through any mount of the session, or of its forks, then cost no network.',
  examples: ['aether prefetch --session sess_01HX…', 'aether prefetch src   # inside a mount', 'aether prefetch / --json'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--concurrency <n>', 'blobs fetched in parallel (default 8)'),
  parse: (operands, opts) => ({
    path: operands[0],
    session: opts.session as string | undefined,
    concurrency: Math.max(1, Math.min(64, Number(opts.concurrency ?? 8) || 8)),
  }),
  handler: async (a, ctx) => {
    const sessionId = await ctx.sessionId(a.session);
    const mount = await ctx.mount();
    const prefix = a.path !== undefined ? toSessionPath(a.path, ctx.io.cwd, mount) : mount?.sessionId === sessionId ? mount.sessionPath : '/';
    const client = await ctx.client();
    const { config } = ctx.config();
    const cas = await DiskCas.open({ dir: config.cacheDir, maxBytes: parseSize(config.cacheSize), logger: ctx.logger });
    const signal = ctx.interruptSignal();
    const p: Progress = { files: 0, blobs: 0, cached: 0, fetched: 0, bytesFetched: 0, totalBytes: 0 };
    const view = await progressView(ctx);
    const seen = new Set<string>();
    const queue: string[] = [];
    try {
      for await (const n of client.iterateManifest(sessionId, { pathPrefix: prefix, includeCasExtents: true, pageSize: 5000, signal })) {
        if (n.fileType !== 'VFS_FILE_TYPE_FILE') continue;
        p.files++;
        for (const x of n.casExtents ?? []) {
          if (!x.hash || seen.has(x.hash)) continue;
          seen.add(x.hash);
          p.blobs++;
          queue.push(x.hash);
        }
      }
      let next = 0;
      const worker = async () => {
        while (next < queue.length && !signal.aborted) {
          const hash = queue[next++]!;
          if (await cas.has(hash)) {
            p.cached++;
          } else {
            const data = await client.getBlob(sessionId, hash, { signal });
            await cas.put(data, hash);
            p.fetched++;
            p.bytesFetched += data.length;
          }
          view?.update(p);
        }
      };
      await Promise.all(Array.from({ length: a.concurrency }, worker));
    } finally {
      view?.done();
      await cas.close();
    }
    const result = { sessionId, path: prefix, files: p.files, blobs: p.blobs, alreadyCached: p.cached, fetched: p.fetched, bytesFetched: p.bytesFetched, interrupted: signal.aborted };
    ctx.out.result(result, () =>
      ctx.out.line(
        `${signal.aborted ? 'interrupted: ' : ''}${p.files} files, ${p.blobs} blobs: ${p.fetched} fetched (${formatBytes(p.bytesFetched)}), ${p.cached} already cached`,
      ),
    );
    return signal.aborted ? 130 : 0;
  },
});
