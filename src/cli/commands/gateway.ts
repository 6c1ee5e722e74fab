// `aether gateway serve|token create|status|stop|gc`: run the local AetherFS gateway in the
// foreground, mint tenant tokens, inspect or stop the embedded background gateway, and run its
// garbage collection (`gc`, through POST /v1/admin/gc; status shows live vs reclaimable bytes).
// Invariants:
//   - `serve --json` prints exactly one line `{"url","token"}` on stdout once the server accepts
//     connections, and nothing else on stdout (logs go to stderr, level from AETHER_LOG).
//   - SIGINT/SIGTERM close the server cleanly (exit 0).
//   - `status` never prints the token.
// Callers: cli/commands/index.ts; the embedded gateway spawns `gateway serve` (embedded-gateway.ts).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { createLogger, parseLogLevel } from '../../shared/log.js';
import { UserError } from '../../shared/errors.js';
import { defineCommand, intOption } from '../command.js';
import type { CommandContext } from '../context.js';
import { embeddedGatewayLogFile, liveEmbeddedState, probeGateway, readEmbeddedState, stopEmbeddedGateway } from '../embedded-gateway.js';

function dataDirOf(ctx: CommandContext, given: unknown): string {
  return given ? path.resolve(ctx.io.cwd, String(given)) : ctx.config().paths.gatewayDataDir;
}

// ---- serve ------------------------------------------------------------------------------------------

export interface ServeArgs {
  data?: string;
  port: number;
  host: string;
  /** Roots for local git remotes (every tenant); see gateway/git/local-remotes.ts. */
  allowLocalRemotes?: string[];
}

export const gatewayServe = defineCommand<ServeArgs>({
  name: 'serve',
  summary: 'run the local gateway in the foreground',
  description:
    'Serve the AetherFS API from a local data directory (SQLite metadata + on-disk CAS). With --json,\n' +
    'print one line {"url","token"} on stdout once it accepts connections. Logs go to stderr\n' +
    '(AETHER_LOG=debug|info|warn|error). Ctrl-C or SIGTERM stop it cleanly.',
  examples: ['aether gateway serve --data ./aether-data --port 8080', 'aether gateway serve --data /tmp/gw --port 0 --json'],
  json: true,
  configure: (cmd) =>
    cmd
      .option('--data <dir>', 'data directory (default: <AETHER_HOME>/gateway/data)')
      .option('--port <n>', 'TCP port (0 = any free port)', intOption('--port'), 0)
      .option('--host <addr>', 'listen address', '127.0.0.1')
      .option(
        '--allow-local-remotes <dir[,dir]>',
        'directories under which local git remotes (paths, file://) are allowed for every tenant; without it only the default tenant may use local remotes (never inside --data)',
      ),
  parse: (_ops, o) => {
    const port = o.port as number;
    if (port > 65535) throw new UserError('AETHER_BAD_ARGUMENT', '--port must be between 0 and 65535');
    let allowLocalRemotes: string[] | undefined;
    if (o.allowLocalRemotes !== undefined) {
      allowLocalRemotes = String(o.allowLocalRemotes).split(',').map((d) => d.trim()).filter(Boolean);
      for (const d of allowLocalRemotes) if (!path.isAbsolute(d)) throw new UserError('AETHER_BAD_ARGUMENT', `--allow-local-remotes: ${JSON.stringify(d)} is not an absolute path`);
    }
    return { data: o.data as string | undefined, port, host: String(o.host), allowLocalRemotes };
  },
  handler: async (args, ctx) => {
    const dataDir = dataDirOf(ctx, args.data);
    // Everything the gateway process creates — including git's files in mirrors — is private to
    // this user whatever the caller's umask (the data dir's policy, gateway/data-dir.ts).
    if (isMainThread) process.umask(0o077);
    const logger = createLogger((l) => ctx.io.stderr.write(l), parseLogLevel(ctx.io.env.AETHER_LOG, 'info'));
    const signal = ctx.interruptSignal();
    // Loaded lazily: the gateway pulls in SQLite, which other commands never need.
    const { startGateway, GATEWAY_VERSION } = await import('../../gateway/server.js');
    const gw = await startGateway({ dataDir, port: args.port, host: args.host, logger, ...(args.allowLocalRemotes ? { allowLocalRemotes: args.allowLocalRemotes } : {}) });
    ctx.secrets.push(gw.token);
    if (ctx.out.json) ctx.out.jsonLine({ url: gw.url, token: gw.token });
    else {
      ctx.out.line(`AetherFS gateway ${GATEWAY_VERSION} listening on ${gw.url}`);
      ctx.out.line(`data: ${dataDir}`);
      ctx.out.line(`admin token: in ${path.join(dataDir, 'admin-token')} (mode 0600)`);
    }
    logger.info('gateway listening', { url: gw.url, dataDir, pid: process.pid });
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info('shutting down');
    await gw.close();
    logger.info('stopped');
    return 0;
  },
});

// ---- token create -----------------------------------------------------------------------------------

export const gatewayTokenCreate = defineCommand<{ data?: string; tenant: string }>({
  name: 'create',
  summary: 'create a bearer token for a tenant',
  description: 'Create a token for TENANT (created if new) in a gateway data directory. The token is printed once; store it safely.',
  examples: ['aether gateway token create --data ./aether-data --tenant acme --json'],
  json: true,
  configure: (cmd) => cmd.option('--data <dir>', 'data directory (default: <AETHER_HOME>/gateway/data)').requiredOption('--tenant <name>', 'tenant name'),
  parse: (_ops, o) => {
    const tenant = String(o.tenant ?? '').trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(tenant)) throw new UserError('AETHER_BAD_ARGUMENT', '--tenant must be 1-64 letters, digits, ".", "_" or "-"');
    return { data: o.data as string | undefined, tenant };
  },
  handler: async (args, ctx) => {
    const { createTenantToken } = await import('../../gateway/server.js');
    const token = await createTenantToken(dataDirOf(ctx, args.data), args.tenant);
    ctx.out.result({ token, tenant: args.tenant }, () => ctx.out.raw(token + '\n'));
  },
});

export const gatewayToken = defineCommand({
  name: 'token',
  summary: 'manage gateway tokens',
  examples: ['aether gateway token create --data ./aether-data --tenant acme'],
  subcommands: [gatewayTokenCreate],
});

// ---- status -----------------------------------------------------------------------------------------

export interface GatewayStatus {
  mode: 'embedded' | 'remote';
  /** Where the URL came from (flag, env, profile) or "embedded". */
  origin: string;
  running: boolean;
  url?: string;
  version?: string;
  pid?: number;
  dataDir?: string;
  logFile?: string;
  startedAt?: string;
  /** Sessions visible to the token; absent when the gateway is down or the token is rejected. */
  sessions?: number;
  /** Why `sessions` is missing while running (e.g. the auth error). */
  error?: string;
  /** Bytes of trees + blobs still reachable, and reclaimable by the next GC (admin token only). */
  liveBytes?: number;
  reclaimableBytes?: number;
  /** Per tenant: blob bytes its sessions, checkpoints and revisions reach, and bytes it no longer reaches. */
  tenants?: Array<{ tenant: string; liveBytes: number; reclaimableBytes: number }>;
}

/** Live vs reclaimable storage, when the token may see it (default tenant); {} otherwise. */
async function storageOf(ctx: CommandContext, target?: { url: string; token: string }): Promise<Pick<GatewayStatus, 'liveBytes' | 'reclaimableBytes' | 'tenants'>> {
  const own = target ? ctx.newClient({ ...target, retries: 0 }) : undefined;
  try {
    const client = own ?? (await ctx.client());
    const r = await client.getStorage();
    const tenants = (r.tenants ?? []).map((t) => ({
      tenant: t.tenantName || t.tenantId || '',
      liveBytes: Number(t.liveBlobBytes ?? 0),
      reclaimableBytes: Number(t.reclaimableBlobBytes ?? 0),
    }));
    return { liveBytes: Number(r.liveBytes), reclaimableBytes: Number(r.reclaimableBytes), tenants };
  } catch {
    return {};
  } finally {
    await own?.close().catch(() => undefined);
  }
}

async function countSessions(ctx: CommandContext, target?: { url: string; token: string }): Promise<{ sessions?: number; error?: string }> {
  const own = target ? ctx.newClient({ ...target, retries: 0 }) : undefined;
  try {
    const client = own ?? (await ctx.client());
    let n = 0;
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await client.listSessions({ pageSize: 500, pageToken });
      n += page.sessions?.length ?? 0;
      pageToken = page.nextPageToken || undefined;
    } while (pageToken && ++pages < 100);
    return { sessions: n };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await own?.close().catch(() => undefined);
  }
}

export const gatewayStatus = defineCommand<Record<string, never>>({
  name: 'status',
  summary: 'show the selected gateway: running?, url, pid, data dir, sessions',
  description:
    'Describe the gateway commands would use. Without a configured URL that is the embedded gateway\n' +
    '(pid, data dir, log file). This never starts it. Exit 0 whether or not it is running.',
  examples: ['aether gateway status', 'aether gateway status --json | jq .running'],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const { config, origin, paths } = ctx.config();
    let st: GatewayStatus;
    if (config.url) {
      const probe = await probeGateway(config.url);
      st = { mode: 'remote', origin: origin.url ?? 'flag', running: Boolean(probe), url: config.url, version: probe?.version };
    } else {
      const recorded = await readEmbeddedState(config.home);
      const live = recorded ? await liveEmbeddedState(config.home) : undefined;
      st = {
        mode: 'embedded',
        origin: 'embedded',
        running: Boolean(live),
        ...(live ? { url: live.url, version: live.version, pid: live.pid, startedAt: live.startedAt } : {}),
        dataDir: paths.gatewayDataDir,
        logFile: embeddedGatewayLogFile(config.home),
      };
    }
    if (st.running && st.mode === 'remote') Object.assign(st, await countSessions(ctx), await storageOf(ctx));
    if (st.running && st.mode === 'embedded') {
      // Talk to the live gateway directly: status must never start one (ctx.client() would).
      const token = await fsp.readFile(path.join(paths.gatewayDataDir, 'admin-token'), 'utf8').then((t) => t.trim(), () => '');
      if (token) ctx.secrets.push(token);
      Object.assign(st, token ? await countSessions(ctx, { url: st.url!, token }) : { error: 'admin-token missing' });
      if (token) Object.assign(st, await storageOf(ctx, { url: st.url!, token }));
    }
    const c = ctx.out.colors;
    ctx.out.result(st, () =>
      ctx.out.keyValues([
        ['gateway', `${st.mode}${st.mode === 'remote' ? ` (from ${st.origin})` : ''}`],
        ['running', st.running ? c.green('yes') : c.yellow(st.mode === 'embedded' ? 'no (starts on first use)' : 'no (unreachable)')],
        ['url', st.url ?? (st.mode === 'remote' ? config.url : undefined)],
        ['version', st.version || undefined],
        ['pid', st.pid !== undefined ? String(st.pid) : undefined],
        ['dataDir', st.dataDir],
        ['logFile', st.logFile],
        ['sessions', st.sessions !== undefined ? String(st.sessions) : undefined],
        ['live', st.liveBytes !== undefined ? `${st.liveBytes} bytes` : undefined],
        ['reclaimable', st.reclaimableBytes !== undefined ? `${st.reclaimableBytes} bytes (aether gateway gc)` : undefined],
        ...(st.tenants ?? []).map((t): [string, string] => [`tenant ${t.tenant}`, `${t.liveBytes} bytes live, ${t.reclaimableBytes} bytes reclaimable (blobs)`]),
        ['error', st.error],
      ]),
    );
  },
});

// ---- stop -------------------------------------------------------------------------------------------

export const gatewayStop = defineCommand<Record<string, never>>({
  name: 'stop',
  summary: 'stop the embedded background gateway',
  description: 'Stop the embedded gateway of this AETHER_HOME (SIGTERM, wait, then SIGKILL after 10 s) and remove its state file. Its data is kept.',
  examples: ['aether gateway stop'],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const res = await stopEmbeddedGateway(ctx.config().config.home);
    ctx.out.result(res, () => {
      if (res.stopped) ctx.out.line(`stopped the embedded gateway (pid ${res.pid})`);
      else if (res.reason === 'stale-state') ctx.out.line(`the embedded gateway was not running (removed stale state for pid ${res.pid})`);
      else ctx.out.line('the embedded gateway is not running');
    });
  },
});

// ---- gc ---------------------------------------------------------------------------------------------

export const gatewayGc = defineCommand<{ dryRun: boolean; vacuum: boolean }>({
  name: 'gc',
  summary: 'collect unreachable trees and blobs now',
  description:
    'Run the gateway\'s garbage collection now: trees and blobs no longer reachable from any live\n' +
    'session, checkpoint or source revision, and not written or read in the last 10 minutes, are\n' +
    'removed (the gateway also does this every 15 minutes), and so are git objects of the source\n' +
    'mirrors that no ref reaches (git gc). Runs online; needs the default tenant\'s token (the\n' +
    'embedded gateway\'s admin token is used automatically). --vacuum also returns free database\n' +
    'pages to the filesystem; a database created before incremental vacuum was the default is\n' +
    'converted by one full VACUUM, which blocks the gateway while it runs (seconds per GB).',
  examples: ['aether gateway gc --dry-run', 'aether gateway gc --json', 'aether gateway gc --vacuum'],
  json: true,
  configure: (cmd) =>
    cmd
      .option('--dry-run', 'report what would be removed, remove nothing', false)
      .option('--vacuum', 'return free database pages to the filesystem (converts an old database once)', false),
  parse: (_ops, o) => ({ dryRun: Boolean(o.dryRun), vacuum: Boolean(o.vacuum) }),
  handler: async (args, ctx) => {
    const client = await ctx.client();
    const r = await client.runGc({ dryRun: args.dryRun, vacuum: args.vacuum });
    ctx.out.result(r, () =>
      ctx.out.keyValues([
        ['dryRun', String(r.dryRun)],
        ['live', `${r.liveTrees} trees (${r.liveTreeBytes} bytes), ${r.liveBlobs} blobs (${r.liveBlobBytes} bytes)`],
        ['reclaimable', `${r.reclaimableTrees} trees (${r.reclaimableTreeBytes} bytes), ${r.reclaimableBlobs} blobs (${r.reclaimableBlobBytes} bytes)`],
        ['removed', `${r.removedTrees} trees, ${r.removedBlobs} blobs`],
        ['time', `${r.durationMs} ms (longest pause ${r.maxPauseMs} ms)`],
        ['database', `${r.databaseBytesBefore} → ${r.databaseBytesAfter} bytes${r.vacuumed ? ' (converted to incremental vacuum)' : ''}`],
        ...(r.mirrors ?? []).map((m): [string, string] => [
          `mirror ${m.sourceId ?? ''}`,
          m.error ? `error: ${m.error}` : `${m.ran ? 'collected' : 'skipped'}, ${m.bytesBefore} → ${m.bytesAfter} bytes, ${m.droppedRefs} refs dropped`,
        ]),
      ]),
    );
  },
});

export const gatewayGroup = defineCommand({
  name: 'gateway',
  summary: 'run, inspect and stop the local gateway; create tokens',
  examples: ['aether gateway serve --data ./aether-data --port 8080', 'aether gateway status', 'aether gateway stop'],
  subcommands: [gatewayServe, gatewayToken, gatewayStatus, gatewayStop, gatewayGc],
});
