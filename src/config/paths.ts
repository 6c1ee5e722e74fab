// The Aether home directory layout. One function decides where config, cache, state, logs and the
// embedded gateway live, so every command (and every test, through AETHER_HOME) agrees.
//
// Invariants: paths are absolute; nothing here touches the disk.
// Callers: config/load.ts, cli/ (embedded gateway, mount state, cache commands).
import * as os from 'node:os';
import * as path from 'node:path';

/** Every well-known location under the Aether home. */
export interface AetherPaths {
  /** `AETHER_HOME`, default `~/.aether`. */
  home: string;
  /** conf store directory: `<home>/config` (file `config.json`, mode 0600). */
  configDir: string;
  /** The conf file itself. */
  configFile: string;
  /** Local caches: `<home>/cache` (the CAS lives in `<home>/cache/cas`). */
  cacheDir: string;
  /** Per-mount state: `<home>/state`. */
  stateDir: string;
  /** Embedded gateway: `<home>/gateway` (state.json, start.lock). */
  gatewayDir: string;
  /** Embedded gateway data directory (SQLite, blobs, admin-token). */
  gatewayDataDir: string;
  /** Log files of background processes: `<home>/logs`. */
  logsDir: string;
}

/** Default home when AETHER_HOME is unset: `~/.aether`. */
export function defaultHome(homedir: string = os.homedir()): string {
  return path.join(homedir, '.aether');
}

/** Resolve the home directory from the environment (relative values resolve against cwd). */
export function resolveHome(env: Record<string, string | undefined>, cwd: string = process.cwd(), homedir?: string): string {
  const fromEnv = env.AETHER_HOME?.trim();
  if (fromEnv) return path.resolve(cwd, fromEnv);
  return defaultHome(homedir ?? env.HOME ?? os.homedir());
}

/** The layout under `home`. */
export function aetherPaths(home: string): AetherPaths {
  const configDir = path.join(home, 'config');
  const gatewayDir = path.join(home, 'gateway');
  return {
    home,
    configDir,
    configFile: path.join(configDir, 'config.json'),
    cacheDir: path.join(home, 'cache'),
    stateDir: path.join(home, 'state'),
    gatewayDir,
    gatewayDataDir: path.join(gatewayDir, 'data'),
    logsDir: path.join(home, 'logs'),
  };
}
