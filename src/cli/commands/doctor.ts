// `aether doctor`: check FUSE prerequisites, which FUSE binding a mount will use (and how to get
// the libfuse3 one), that the embedded gateway's SQLite addon loads, the conf file's permissions,
// gateway reachability and token validity; print a fix for each problem; exit non-zero when anything is wrong (the exit
// code of the first failure's class: 1 for the local system, 6 network, 5 auth).
// Callers: cli/commands/index.ts.
import { EXIT_CODES } from '../../shared/errors.js';
import { isGatewayError } from '../../client/index.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { bindingCheck, configFileCheck, fuseChecks, sqliteCheck, systemProbes, type DoctorCheck } from '../doctor-checks.js';
import { FUSE3_ADDON_PATH, loadFuse3Native } from '../../fuse/fuse3-mount.js';
import { liveEmbeddedState } from '../embedded-gateway.js';
import { allowOtherCheck, readFuseConf } from '../allow-other.js';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

async function gatewayChecks(ctx: CommandContext): Promise<DoctorCheck[]> {
  const { config, origin, errors } = ctx.config();
  if (errors.length) return [{ name: 'gateway', status: 'fail', kind: 'usage', detail: errors[0]!, fix: 'fix the URL (http:// or https://, no credentials)' }];
  let url: string;
  let token: string | undefined;
  let where: string;
  if (config.url) {
    url = config.url;
    token = config.token;
    where = `${url} (from ${origin.url})`;
  } else {
    const live = await liveEmbeddedState(config.home);
    if (!live) {
      return [
        { name: 'gateway', status: 'ok', detail: 'no gateway configured: the embedded local gateway is used (not running; it starts on first use)' },
        { name: 'token', status: 'skip', detail: 'embedded gateway not running' },
      ];
    }
    url = live.url;
    where = `embedded gateway ${url} (pid ${live.pid})`;
    try {
      token = (await fsp.readFile(path.join(live.dataDir, 'admin-token'), 'utf8')).trim();
      ctx.secrets.push(token);
    } catch {
      token = undefined;
    }
  }
  const client = ctx.newClient({ url, token, retries: 0 });
  const out: DoctorCheck[] = [];
  try {
    try {
      const h = await client.health();
      out.push({ name: 'gateway', status: 'ok', detail: `${where} answers${h.version ? ` (version ${h.version})` : ''}` });
    } catch (err) {
      out.push({
        name: 'gateway',
        status: 'fail',
        kind: 'network',
        detail: `${where} is unreachable: ${(err as Error).message}`,
        fix: config.url ? 'check the URL and your network, or unset AETHER_URL / log out to use the embedded gateway' : 'restart it: aether gateway stop (it restarts on next use); see <AETHER_HOME>/logs/gateway.log',
      });
      out.push({ name: 'token', status: 'skip', detail: 'gateway unreachable' });
      return out;
    }
    if (!token) {
      out.push({ name: 'token', status: 'fail', kind: 'auth', detail: 'no token for this gateway', fix: `aether login --url ${url} --token <token>, or set AETHER_TOKEN` });
      return out;
    }
    try {
      await client.listSessions({ pageSize: 1 });
      out.push({ name: 'token', status: 'ok', detail: `accepted (from ${config.url ? origin.token : 'embedded admin-token'})` });
    } catch (err) {
      if (isGatewayError(err) && err.kind === 'auth') {
        out.push({ name: 'token', status: 'fail', kind: 'auth', detail: `rejected by the gateway: ${err.message}`, fix: 'get a new token (aether gateway token create …, or from your admin) and run aether login again' });
      } else if (isGatewayError(err) && err.kind === 'not_found') {
        out.push({ name: 'token', status: 'warn', detail: 'could not verify (the gateway lacks GET /v1/sessions)' });
      } else {
        out.push({ name: 'token', status: 'fail', kind: 'network', detail: `could not verify: ${(err as Error).message}`, fix: 'retry; if it persists, check the gateway log' });
      }
    }
    return out;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Open an in-memory SQLite database through better-sqlite3 (loaded lazily, as the gateway does). */
async function openSqlite(): Promise<string> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

export const doctor = defineCommand<Record<string, never>>({
  name: 'doctor',
  summary: 'check FUSE, the gateway and the token; print a fix for each problem',
  description:
    'Check /dev/fuse, fusermount/fusermount3 on PATH, libfuse, which FUSE binding mounts use, the\n' +
    'embedded gateway\'s SQLite addon, the config file permissions, gateway\n' +
    'reachability and token validity. Exit 0 when all is well, else the exit code of the first\n' +
    'problem (1 local system, 5 auth, 6 network).',
  examples: ['aether doctor', 'aether doctor --json | jq \'.checks[] | select(.status=="fail")\''],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const probes = systemProbes(ctx.io.env);
    const checks: DoctorCheck[] = [
      ...(await fuseChecks(probes)),
      allowOtherCheck(process.getuid?.() ?? 0, await readFuseConf()),
      bindingCheck({ requested: ctx.io.env.AETHER_FUSE_BINDING, addonPath: FUSE3_ADDON_PATH, load: loadFuse3Native }),
      await sqliteCheck(openSqlite, !ctx.config().config.url),
      await configFileCheck(ctx.config().store.path),
      ...(await gatewayChecks(ctx)),
    ];
    const failed = checks.filter((c) => c.status === 'fail');
    const ok = failed.length === 0;
    const c = ctx.out.colors;
    const badge = (s: DoctorCheck['status']) => (s === 'ok' ? c.green('ok') : s === 'fail' ? c.red('FAIL') : s === 'warn' ? c.yellow('warn') : c.dim('skip'));
    ctx.out.result({ ok, checks }, () => {
      ctx.out.table(
        [
          { header: 'CHECK', value: (x: DoctorCheck) => x.name },
          { header: 'STATUS', value: (x) => badge(x.status) },
          { header: 'DETAIL', value: (x) => x.detail },
        ],
        checks,
      );
      const fixes = checks.filter((x) => x.fix && (x.status === 'fail' || x.status === 'warn'));
      if (fixes.length) {
        ctx.out.line('');
        ctx.out.line(c.bold('To fix:'));
        for (const x of fixes) ctx.out.line(`  ${x.name}: ${x.fix}`);
      } else ctx.out.line(c.green('\nall checks passed'));
    });
    return ok ? 0 : EXIT_CODES[failed[0]!.kind ?? 'internal'];
  },
});
