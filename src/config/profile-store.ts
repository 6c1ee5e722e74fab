// ProfileStore: the named gateway profiles in the conf file `<home>/config/config.json`.
//
// Invariants:
//   - The file is created with mode 0600 and re-chmodded after every write (it holds tokens);
//     its directory is 0700.
//   - Tokens leave this module only through `get()` (for building a client); listings carry a
//     masked hint at most.
//   - A malformed file is an error with a hint (never silently cleared: it may hold tokens the
//     user wants back).
// Callers: config/load.ts, cli/commands/login.ts and profile.ts.
import * as fs from 'node:fs';
import Conf from 'conf';
import { UserError } from '../shared/errors.js';
import {
  DEFAULT_PROFILE,
  isValidProfileName,
  maskToken,
  validateProfile,
  type ConfFileData,
  type ProfileSettings,
} from './schema.js';

/** One row of `aether profile list`. */
export interface ProfileSummary {
  name: string;
  active: boolean;
  url?: string;
  /** `****abcd` when a token is stored. */
  token?: string;
  session?: string;
}

export class ProfileStore {
  readonly #conf: Conf<ConfFileData>;
  readonly #warnings: string[] = [];
  /** Absolute path of the conf file. */
  readonly path: string;

  constructor(configDir: string) {
    try {
      fs.mkdirSync(configDir, { recursive: true, mode: 0o700 });
    } catch {
      // A read-only home still allows reading; writes will report the problem.
    }
    try {
      this.#conf = new Conf<ConfFileData>({
        cwd: configDir,
        configName: 'config',
        configFileMode: 0o600,
        clearInvalidConfig: false,
      });
    } catch (err) {
      throw new UserError('AETHER_CONFIG_INVALID', `cannot read the config file in ${configDir}: ${(err as Error).message}`, {
        cause: err,
        hint: 'fix or delete the file (it may hold tokens), then run `aether login` again',
      });
    }
    this.path = this.#conf.path;
  }

  /** Problems found in the file (unknown keys, bad values), for load.ts to report. */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** Name of the active profile (`default` when none was chosen). */
  get activeProfile(): string {
    const v = this.#conf.get('activeProfile');
    return typeof v === 'string' && v ? v : DEFAULT_PROFILE;
  }

  #profiles(): Record<string, unknown> {
    const p = this.#conf.get('profiles');
    return typeof p === 'object' && p !== null && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
  }

  /** Validated settings of one profile, or undefined when it does not exist. */
  get(name: string): ProfileSettings | undefined {
    const raw = this.#profiles()[name];
    if (raw === undefined) return undefined;
    const { settings, warnings } = validateProfile(name, raw);
    for (const w of warnings) if (!this.#warnings.includes(w)) this.#warnings.push(w);
    return settings;
  }

  has(name: string): boolean {
    return this.#profiles()[name] !== undefined;
  }

  /** Every profile, masked. */
  list(): ProfileSummary[] {
    const active = this.activeProfile;
    return Object.keys(this.#profiles())
      .sort()
      .map((name) => {
        const s = this.get(name) ?? {};
        const row: ProfileSummary = { name, active: name === active };
        if (s.url) row.url = s.url;
        const t = maskToken(s.token);
        if (t) row.token = t;
        if (s.session) row.session = s.session;
        return row;
      });
  }

  /** Merge `settings` into profile `name` (created if missing); undefined values are left alone. */
  update(name: string, settings: ProfileSettings): void {
    assertProfileName(name);
    const current = (this.#profiles()[name] as Record<string, unknown> | undefined) ?? {};
    const next: Record<string, unknown> = { ...current };
    for (const [k, v] of Object.entries(settings)) if (v !== undefined) next[k] = v;
    this.#write(() => this.#conf.set('profiles', { ...this.#profiles(), [name]: next }));
  }

  /** Remove the token (and only the token) of a profile; false if it had none. */
  clearToken(name: string): boolean {
    const current = this.#profiles()[name] as Record<string, unknown> | undefined;
    if (!current || current.token === undefined) return false;
    const { token: _dropped, ...rest } = current;
    this.#write(() => this.#conf.set('profiles', { ...this.#profiles(), [name]: rest }));
    return true;
  }

  /** Delete a profile; false if it did not exist. */
  remove(name: string): boolean {
    const all = { ...this.#profiles() };
    if (all[name] === undefined) return false;
    delete all[name];
    this.#write(() => {
      this.#conf.set('profiles', all);
      if (this.activeProfile === name) this.#conf.delete('activeProfile');
    });
    return true;
  }

  /** Make `name` the active profile. */
  use(name: string): void {
    if (!this.has(name)) {
      throw new UserError('AETHER_PROFILE_NOT_FOUND', `no profile named "${name}"`, {
        kind: 'not_found',
        hint: 'see `aether profile list`, or create it with `aether login --profile ' + name + '`',
      });
    }
    this.#write(() => this.#conf.set('activeProfile', name));
  }

  #write(fn: () => void): void {
    fn();
    // conf applies configFileMode when it creates the file; a pre-existing file keeps its mode,
    // so enforce 0600 on every write.
    try {
      fs.chmodSync(this.path, 0o600);
    } catch {
      // The write itself succeeded; a filesystem without modes (rare) is not fatal.
    }
  }
}

export function assertProfileName(name: string): void {
  if (!isValidProfileName(name)) {
    throw new UserError('AETHER_BAD_PROFILE_NAME', `invalid profile name ${JSON.stringify(name)}`, {
      hint: 'use letters, digits, ".", "_" or "-" (at most 64 characters)',
    });
  }
}
