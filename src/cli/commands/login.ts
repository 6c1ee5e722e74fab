// `aether login`, `aether logout`, `aether profile list|use|show`: named gateway profiles in the
// conf file (`<AETHER_HOME>/config/config.json`, mode 0600).
// Invariants:
//   - login validates before saving: the URL must answer GET /v1/healthz (else exit 6) and the
//     token must pass an authenticated call (GET /v1/sessions?pageSize=1; 401 → exit 5).
//   - Tokens are never printed: listings show `****abcd` at most.
// Callers: cli/commands/index.ts.
import { isGatewayError } from '../../client/index.js';
import { RpcCode } from '../../protocol/rpc-status.js';
import { AetherError, UserError } from '../../shared/errors.js';
import { assertProfileName, checkGatewayUrl, maskToken, normalizeUrl, DEFAULT_PROFILE } from '../../config/index.js';
import { defineCommand } from '../command.js';
import type { CommandContext } from '../context.js';
import { readAll } from '../io.js';
import { promptHidden } from '../prompt.js';
import type { ClientTarget } from '../client-factory.js';

/** Check that `url` is a gateway and `token` is accepted by it. Throws GatewayError/AetherError. */
export async function validateLogin(ctx: CommandContext, target: ClientTarget): Promise<{ version: string; verified: boolean }> {
  const client = ctx.newClient({ ...target, retries: 1 });
  try {
    let version = '';
    try {
      version = (await client.health()).version ?? '';
    } catch (err) {
      if (isGatewayError(err) && err.kind === 'network') throw err;
      throw new AetherError('AETHER_NOT_A_GATEWAY', `${target.url} does not look like an AetherFS gateway (GET /v1/healthz failed: ${(err as Error).message})`, {
        kind: 'network',
        cause: err,
        hint: 'check the URL (scheme, host, port and path prefix)',
      });
    }
    try {
      await client.listSessions({ pageSize: 1 });
      return { version, verified: true };
    } catch (err) {
      // A gateway without the session-list extension: fall back to another authenticated route.
      if (isGatewayError(err) && (err.rpcCode === RpcCode.NOT_FOUND || err.rpcCode === RpcCode.UNIMPLEMENTED)) {
        try {
          await client.getCasMetrics();
          return { version, verified: true };
        } catch (err2) {
          if (isGatewayError(err2) && (err2.rpcCode === RpcCode.NOT_FOUND || err2.rpcCode === RpcCode.UNIMPLEMENTED)) {
            ctx.out.warn('could not verify the token: the gateway has no authenticated read route this CLI knows');
            return { version, verified: false };
          }
          throw err2;
        }
      }
      throw err;
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

export const login = defineCommand<{ url?: string; token?: string; profile?: string }>({
  name: 'login',
  summary: 'save a gateway URL and token as a profile (validated first)',
  description:
    'Check the gateway (GET /v1/healthz) and the token (an authenticated call), then store both in\n' +
    'the profile (--profile, default "default") in <AETHER_HOME>/config/config.json (mode 0600).\n' +
    'Without --token the token is read from stdin, or from a hidden prompt on a terminal.',
  examples: ['aether login --url https://api.aetherfs.io --token "$AETHER_TOKEN"', 'aether login --url http://127.0.0.1:8080 --profile local < token.txt', 'aether login --url https://api.aetherfs.io --profile work   # prompts for the token'],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const url = ctx.globals.url?.trim();
    if (!url) throw new UserError('AETHER_BAD_ARGUMENT', 'login needs --url');
    const why = checkGatewayUrl(url);
    if (why) throw new UserError('AETHER_BAD_ARGUMENT', `--url: ${why}`);
    let token = ctx.globals.token?.trim();
    if (!token) {
      token = ctx.io.stdinIsTTY ? await promptHidden(ctx.io, `token for ${url}: `) : (await readAll(ctx.io.stdin)).toString('utf8').trim();
      if (!token) throw new UserError('AETHER_BAD_ARGUMENT', 'no token given', { hint: 'pass --token, or pipe it on stdin' });
    }
    ctx.secrets.push(token);
    const profile = ctx.globals.profile?.trim() || ctx.io.env.AETHER_PROFILE?.trim() || DEFAULT_PROFILE;
    assertProfileName(profile);
    const { store } = ctx.config();
    const { version, verified } = await validateLogin(ctx, { url: normalizeUrl(url), token, logger: ctx.logger });
    store.update(profile, { url: normalizeUrl(url), token });
    const hadActive = store.list().some((p) => p.active && p.name !== profile && store.has(p.name));
    if (!hadActive) store.use(profile);
    const active = store.activeProfile === profile;
    ctx.out.result({ profile, url: normalizeUrl(url), active, verified, gatewayVersion: version, configFile: store.path }, () => {
      ctx.out.line(`logged in to ${normalizeUrl(url)} as profile "${profile}"${version ? ` (gateway ${version})` : ''}`);
      if (!active) ctx.out.note(`profile "${store.activeProfile}" is still active; switch with: aether profile use ${profile}`);
    });
  },
});

export const logout = defineCommand<{ forget: boolean }>({
  name: 'logout',
  summary: "remove a profile's token (--forget removes the whole profile)",
  examples: ['aether logout', 'aether logout --profile work --forget'],
  json: true,
  configure: (cmd) => cmd.option('--forget', 'delete the profile entirely, not just its token'),
  parse: (_ops, o) => ({ forget: Boolean(o.forget) }),
  handler: async (args, ctx) => {
    const { store } = ctx.config();
    const profile = ctx.globals.profile?.trim() || ctx.io.env.AETHER_PROFILE?.trim() || store.activeProfile;
    if (!store.has(profile)) {
      throw new UserError('AETHER_PROFILE_NOT_FOUND', `no profile named "${profile}"`, { kind: 'not_found', hint: 'see aether profile list' });
    }
    const changed = args.forget ? store.remove(profile) : store.clearToken(profile);
    ctx.out.result({ profile, loggedOut: changed, removed: args.forget && changed }, () =>
      ctx.out.line(args.forget ? `removed profile "${profile}"` : changed ? `removed the token of profile "${profile}"` : `profile "${profile}" had no token`),
    );
  },
});

export const profileList = defineCommand<Record<string, never>>({
  name: 'list',
  aliases: ['ls'],
  summary: 'list profiles (tokens masked)',
  examples: ['aether profile list', 'aether profile list --json'],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const { store } = ctx.config();
    const profiles = store.list();
    ctx.out.result({ active: store.activeProfile, profiles }, () =>
      ctx.out.table(
        [
          { header: '', value: (p: (typeof profiles)[number]) => (p.active ? '*' : '') },
          { header: 'NAME', value: (p) => p.name },
          { header: 'URL', value: (p) => p.url ?? '' },
          { header: 'TOKEN', value: (p) => p.token ?? '' },
          { header: 'SESSION', value: (p) => p.session ?? '' },
        ],
        profiles,
        'no profiles (the embedded local gateway is used); create one with aether login',
      ),
    );
  },
});

export const profileUse = defineCommand<{ name: string }>({
  name: 'use <name>',
  summary: 'make a profile the active one',
  examples: ['aether profile use work'],
  json: true,
  parse: ([name]) => ({ name: name! }),
  handler: async (args, ctx) => {
    ctx.config().store.use(args.name);
    ctx.out.result({ active: args.name }, () => ctx.out.line(`active profile: ${args.name}`));
  },
});

export const profileShow = defineCommand<Record<string, never>>({
  name: 'show',
  summary: 'show the effective configuration and where each value comes from',
  examples: ['aether profile show', 'AETHER_URL=http://127.0.0.1:8080 aether profile show --json'],
  json: true,
  parse: () => ({}),
  handler: async (_args, ctx) => {
    const { config, origin, store, paths } = ctx.config();
    const data = {
      profile: config.profile,
      url: config.url ?? null,
      gateway: config.url ? 'remote' : 'embedded',
      token: maskToken(config.token) ?? null,
      session: config.session ?? null,
      logLevel: config.logLevel,
      home: config.home,
      configFile: store.path,
      cacheDir: config.cacheDir,
      cacheSize: config.cacheSize,
      gatewayDataDir: paths.gatewayDataDir,
      origin,
    };
    const o = (k: keyof typeof origin) => (origin[k] ? ctx.out.colors.dim(` (${origin[k]})`) : '');
    ctx.out.result(data, () =>
      ctx.out.keyValues([
        ['profile', config.profile + o('profile')],
        ['url', (config.url ?? 'embedded local gateway') + o('url')],
        ['token', config.token ? (maskToken(config.token) ?? '') + o('token') : undefined],
        ['session', config.session ? config.session + o('session') : undefined],
        ['logLevel', config.logLevel + o('logLevel')],
        ['home', config.home],
        ['configFile', store.path],
        ['cacheDir', config.cacheDir + o('cacheDir')],
        ['cacheSize', config.cacheSize + o('cacheSize')],
      ]),
    );
  },
});

export const profileGroup = defineCommand({
  name: 'profile',
  summary: 'list, switch and inspect gateway profiles',
  examples: ['aether profile list', 'aether profile use work', 'aether profile show'],
  subcommands: [profileList, profileUse, profileShow],
});
