// Typed Aether configuration: what a profile may hold, the merged result, defaults, and the
// validation of values read from the conf file (hand-written: the project carries no schema library).
//
// Invariants:
//   - `validateProfile` never throws on bad file content: unknown keys and ill-typed values become
//     warnings and are dropped, so a hand-edited config cannot brick the CLI.
//   - Tokens are plain strings here; printing them is the caller's business (cli/ never does).
// Callers: config/load.ts, config/profile-store.ts, cli/.
import type { LogLevel } from '../shared/log.js';

/** Where a merged value came from, highest precedence first. */
export type ConfigOrigin = 'flag' | 'env' | 'profile' | 'default';

/** Settings one conf profile may hold (`aether login` writes url + token). */
export interface ProfileSettings {
  /** Gateway base URL, e.g. `https://api.aetherfs.io`. */
  url?: string;
  /** Bearer token for `url`. Stored in the conf file (mode 0600), never printed. */
  token?: string;
  /** Default session for session-taking commands. */
  session?: string;
  /** Local CAS cache budget, e.g. `10G`. */
  cacheSize?: string;
  /** Default log level. */
  logLevel?: LogLevel;
}

/** Shape of the conf file (`<home>/config/config.json`). */
export interface ConfFileData {
  activeProfile?: string;
  profiles?: Record<string, ProfileSettings>;
}

/** The merged configuration every command sees. */
export interface AetherConfig {
  /** Aether home (AETHER_HOME, default ~/.aether). */
  home: string;
  /** Name of the profile in effect (`--profile`, AETHER_PROFILE, the conf file's active profile, `default`). */
  profile: string;
  /** Gateway URL; undefined = use the embedded local gateway. */
  url?: string;
  /** Bearer token for `url`; undefined with the embedded gateway (read from its data dir). */
  token?: string;
  /** Default session id (`--session`, AETHER_SESSION, profile). */
  session?: string;
  logLevel: LogLevel;
  /** Local CAS cache directory. */
  cacheDir: string;
  /** Local CAS cache budget as written by the user (`10G`); parsed by the cache owner. */
  cacheSize: string;
  /** True when NO_COLOR is set (any value). */
  noColor: boolean;
}

/** Keys of AetherConfig whose origin load.ts reports. */
export type ConfigKey = 'profile' | 'url' | 'token' | 'session' | 'logLevel' | 'cacheDir' | 'cacheSize';

export const DEFAULT_PROFILE = 'default';
export const DEFAULT_LOG_LEVEL: LogLevel = 'warn';
export const DEFAULT_CACHE_SIZE = '10G';

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
const PROFILE_KEYS: ReadonlySet<string> = new Set(['url', 'token', 'session', 'cacheSize', 'logLevel']);
const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isLogLevel(s: unknown): s is LogLevel {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

/** True for names `aether login --profile` accepts (letters, digits, `.`, `_`, `-`; 64 max). */
export function isValidProfileName(name: string): boolean {
  return PROFILE_NAME_RE.test(name);
}

/** Null if `url` is an acceptable gateway URL (http or https, no credentials), else why not. */
export function checkGatewayUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: ${JSON.stringify(url)}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `unsupported URL scheme ${u.protocol} (want http or https)`;
  if (u.username || u.password) return 'the URL must not contain credentials; pass the token with --token';
  return null;
}

/** Canonical form of a gateway URL: no trailing slash. */
export function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Validate one profile read from the conf file. Returns the usable settings and a warning per
 * dropped key. Never throws.
 */
export function validateProfile(name: string, raw: unknown): { settings: ProfileSettings; warnings: string[] } {
  const warnings: string[] = [];
  const settings: ProfileSettings = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { settings, warnings: [`profile "${name}" is not an object; ignored`] };
  }
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!PROFILE_KEYS.has(key)) {
      warnings.push(`profile "${name}": unknown key "${key}" ignored`);
      continue;
    }
    if (typeof value !== 'string' || value === '') {
      warnings.push(`profile "${name}": "${key}" must be a non-empty string; ignored`);
      continue;
    }
    switch (key) {
      case 'url': {
        const why = checkGatewayUrl(value);
        if (why) warnings.push(`profile "${name}": url ignored (${why})`);
        else settings.url = normalizeUrl(value);
        break;
      }
      case 'logLevel':
        if (isLogLevel(value)) settings.logLevel = value;
        else warnings.push(`profile "${name}": logLevel must be one of ${LOG_LEVELS.join(', ')}; ignored`);
        break;
      case 'token':
        settings.token = value;
        break;
      case 'session':
        settings.session = value;
        break;
      case 'cacheSize':
        settings.cacheSize = value;
        break;
    }
  }
  return { settings, warnings };
}

/** `****abcd`: the most of a token Aether ever shows. */
export function maskToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  return token.length > 8 ? `****${token.slice(-4)}` : '****';
}
