// The one place configuration is merged: command-line flags, then AETHER_* environment variables,
// then the active conf profile, then defaults. Every command gets the same answer.
//
// Invariants:
//   - Pure apart from reading the conf file: no network, no writes.
//   - A profile's token is only paired with that profile's URL. A URL from a flag or the
//     environment never receives a token stored for some other gateway (flag/env tokens may pair
//     with any URL: the user typed them for this invocation).
//   - Problems in the conf file are warnings, not failures (see schema.ts).
// Callers: cli/context.ts (once per invocation), tests.
import type { LogLevel } from '../shared/log.js';
import { aetherPaths, resolveHome, type AetherPaths } from './paths.js';
import { ProfileStore } from './profile-store.js';
import {
  DEFAULT_CACHE_SIZE,
  DEFAULT_LOG_LEVEL,
  DEFAULT_PROFILE,
  checkGatewayUrl,
  isLogLevel,
  normalizeUrl,
  type AetherConfig,
  type ConfigKey,
  type ConfigOrigin,
} from './schema.js';
import * as path from 'node:path';

/** Values given on the command line (global flags). */
export interface ConfigFlags {
  url?: string;
  token?: string;
  profile?: string;
  session?: string;
}

export interface LoadConfigOptions {
  flags?: ConfigFlags;
  /** The environment (injected; library code never reads process.env). */
  env: Record<string, string | undefined>;
  /** Working directory, for a relative AETHER_HOME. */
  cwd: string;
  /** Home directory for the `~/.aether` default (tests pass a temp dir or set AETHER_HOME). */
  homedir?: string;
}

export interface LoadedConfig {
  config: AetherConfig;
  /** Where each value came from. */
  origin: Record<ConfigKey, ConfigOrigin | undefined>;
  /** Non-fatal problems (bad conf values, ignored tokens); the CLI prints them at warn level. */
  warnings: string[];
  /** Problems that make a gateway call pointless (bad URL); reported when a gateway is needed. */
  errors: string[];
  paths: AetherPaths;
  /** The conf-file profiles (for login, logout, profile list|use). */
  store: ProfileStore;
  /** True when the profile in effect exists in the conf file. */
  profileExists: boolean;
}

/** Environment variables Aether reads. Documented in docs/CONFIGURATION.md. */
export const ENV_VARS = [
  'AETHER_HOME',
  'AETHER_URL',
  'AETHER_TOKEN',
  'AETHER_PROFILE',
  'AETHER_SESSION',
  'AETHER_LOG',
  'AETHER_CACHE_DIR',
  'AETHER_CACHE_SIZE',
  'NO_COLOR',
] as const;

function nonEmpty(s: string | undefined): string | undefined {
  const t = s?.trim();
  return t ? t : undefined;
}

/** Merge flags → env → profile → defaults. */
export function loadConfig(opts: LoadConfigOptions): LoadedConfig {
  const { env } = opts;
  const flags = opts.flags ?? {};
  const warnings: string[] = [];
  const errors: string[] = [];
  const home = resolveHome(env, opts.cwd, opts.homedir);
  const paths = aetherPaths(home);
  const store = new ProfileStore(paths.configDir);

  const origin: Record<ConfigKey, ConfigOrigin | undefined> = {
    profile: undefined,
    url: undefined,
    token: undefined,
    session: undefined,
    logLevel: undefined,
    cacheDir: undefined,
    cacheSize: undefined,
  };

  // Profile in effect.
  let profile: string;
  if (nonEmpty(flags.profile)) {
    profile = flags.profile!.trim();
    origin.profile = 'flag';
  } else if (nonEmpty(env.AETHER_PROFILE)) {
    profile = env.AETHER_PROFILE!.trim();
    origin.profile = 'env';
  } else {
    profile = store.activeProfile;
    origin.profile = profile === DEFAULT_PROFILE && !store.has(profile) ? 'default' : 'profile';
  }
  const profileExists = store.has(profile);
  const prof = store.get(profile) ?? {};

  // Gateway URL and token.
  let url: string | undefined;
  for (const [value, o] of [
    [nonEmpty(flags.url), 'flag'],
    [nonEmpty(env.AETHER_URL), 'env'],
    [prof.url, 'profile'],
  ] as const) {
    if (value) {
      url = value;
      origin.url = o;
      break;
    }
  }
  if (url !== undefined && origin.url !== 'profile') {
    const why = checkGatewayUrl(url);
    if (why) errors.push(`${origin.url === 'flag' ? '--url' : 'AETHER_URL'}: ${why}`);
    url = normalizeUrl(url);
  }
  let token: string | undefined;
  if (nonEmpty(flags.token)) {
    token = flags.token!.trim();
    origin.token = 'flag';
  } else if (nonEmpty(env.AETHER_TOKEN)) {
    token = env.AETHER_TOKEN!.trim();
    origin.token = 'env';
  } else if (prof.token && url !== undefined && (origin.url === 'profile' || url === prof.url)) {
    token = prof.token;
    origin.token = 'profile';
  }
  if (url === undefined && token !== undefined) {
    warnings.push(`a token was given (${origin.token === 'flag' ? '--token' : 'AETHER_TOKEN'}) without a gateway URL; it is ignored and the embedded local gateway is used`);
    token = undefined;
    origin.token = undefined;
  }

  // Session.
  let session: string | undefined;
  if (nonEmpty(flags.session)) {
    session = flags.session!.trim();
    origin.session = 'flag';
  } else if (nonEmpty(env.AETHER_SESSION)) {
    session = env.AETHER_SESSION!.trim();
    origin.session = 'env';
  } else if (prof.session) {
    session = prof.session;
    origin.session = 'profile';
  }

  // Log level.
  let logLevel: LogLevel = DEFAULT_LOG_LEVEL;
  origin.logLevel = 'default';
  const envLog = nonEmpty(env.AETHER_LOG)?.toLowerCase();
  if (envLog) {
    if (isLogLevel(envLog)) {
      logLevel = envLog;
      origin.logLevel = 'env';
    } else {
      warnings.push(`AETHER_LOG=${envLog} is not a level (debug, info, warn, error, silent); using ${DEFAULT_LOG_LEVEL}`);
    }
  } else if (prof.logLevel) {
    logLevel = prof.logLevel;
    origin.logLevel = 'profile';
  }

  // Cache.
  let cacheDir = path.join(paths.cacheDir, 'cas');
  origin.cacheDir = 'default';
  if (nonEmpty(env.AETHER_CACHE_DIR)) {
    cacheDir = path.resolve(opts.cwd, env.AETHER_CACHE_DIR!.trim());
    origin.cacheDir = 'env';
  }
  let cacheSize = DEFAULT_CACHE_SIZE;
  origin.cacheSize = 'default';
  if (nonEmpty(env.AETHER_CACHE_SIZE)) {
    cacheSize = env.AETHER_CACHE_SIZE!.trim();
    origin.cacheSize = 'env';
  } else if (prof.cacheSize) {
    cacheSize = prof.cacheSize;
    origin.cacheSize = 'profile';
  }

  warnings.push(...store.warnings);

  const config: AetherConfig = {
    home,
    profile,
    url,
    token,
    session,
    logLevel,
    cacheDir,
    cacheSize,
    noColor: env.NO_COLOR !== undefined,
  };
  return { config, origin, warnings, errors, paths, store, profileExists };
}
