// CommandContext: everything a command handler may use (streams, output, logger, config, the
// gateway client, session resolution), created once per invocation by main.ts. Expensive or
// side-effecting pieces (reading the conf file, starting the embedded gateway, opening a client)
// happen lazily, on first use, so `--help` and `completion` never touch the network or disk.
//
// Gateway selection (first that applies): --url/--token flags, AETHER_URL/AETHER_TOKEN, the
// active conf profile, else the embedded local gateway (started in the background on first use).
//
// Invariants:
//   - Tokens are recorded in `secrets` as soon as they are known, so handle-error scrubs them.
//   - `dispose()` releases the client (keep-alive sockets) so the process can exit.
// Callers: cli/main.ts, cli/commands/*.
import type { Command } from 'commander';
import { AetherError, UserError } from '../shared/errors.js';
import { createLogger, parseLogLevel, type Logger, type LogLevel } from '../shared/log.js';
import { loadConfig, type ConfigFlags, type LoadedConfig } from '../config/load.js';
import type { GatewayClient } from '../client/index.js';
import type { CliIO } from './io.js';
import { Output } from './output.js';
import { ensureEmbeddedGateway } from './embedded-gateway.js';
import { resolveSessionFromCwd, type MountContext } from './mount-context.js';
import { createGatewayClient, type ClientFactory, type ClientTarget } from './client-factory.js';

/** Global flags (accepted before or after the command name). */
export interface GlobalFlags {
  url?: string;
  token?: string;
  profile?: string;
}

/** The gateway a command talks to. */
export interface GatewayTarget {
  url: string;
  token: string;
  origin: 'flag' | 'env' | 'profile' | 'embedded';
}

export interface ContextOptions {
  io: CliIO;
  globals: GlobalFlags;
  json: boolean;
  /** `aether session create`, for messages. */
  commandPath: string;
  clientFactory?: ClientFactory;
  /** The root command (for `completion`). */
  program?: Command;
}

const NEVER = new AbortController().signal;

export class CommandContext {
  readonly io: CliIO;
  readonly out: Output;
  readonly globals: GlobalFlags;
  readonly commandPath: string;
  /** The root commander command (completion walks it). */
  readonly program?: Command;
  /** Values never to print (tokens in use). */
  readonly secrets: string[] = [];
  readonly #clientFactory: ClientFactory;
  #loaded?: LoadedConfig;
  #logger?: Logger;
  #loggerLevel?: LogLevel;
  #target?: Promise<GatewayTarget>;
  #client?: GatewayClient;
  #mount?: Promise<MountContext | undefined>;

  constructor(opts: ContextOptions) {
    this.io = opts.io;
    this.globals = opts.globals;
    this.commandPath = opts.commandPath;
    this.program = opts.program;
    this.out = new Output(opts.io, { json: opts.json });
    this.#clientFactory = opts.clientFactory ?? createGatewayClient;
    if (opts.globals.token) this.secrets.push(opts.globals.token);
    if (opts.io.env.AETHER_TOKEN) this.secrets.push(opts.io.env.AETHER_TOKEN);
  }

  /** Merged configuration (flags → env → profile → defaults); warnings printed once. */
  config(): LoadedConfig {
    if (!this.#loaded) {
      const flags: ConfigFlags = { url: this.globals.url, token: this.globals.token, profile: this.globals.profile };
      this.#loaded = loadConfig({ flags, env: this.io.env, cwd: this.io.cwd });
      if (this.#loaded.config.token) this.secrets.push(this.#loaded.config.token);
      for (const w of this.#loaded.warnings) this.logger.warn(w);
    }
    return this.#loaded;
  }

  /** Logger writing to stderr at the configured level (AETHER_LOG, else the profile's logLevel). */
  get logger(): Logger {
    // Until the config is loaded (loading it may itself warn) the level comes from AETHER_LOG alone.
    const level = this.#loaded?.config.logLevel ?? parseLogLevel(this.io.env.AETHER_LOG, 'warn');
    if (!this.#logger || this.#loggerLevel !== level) {
      this.#logger = createLogger((l) => this.io.stderr.write(l), level);
      this.#loggerLevel = level;
    }
    return this.#logger;
  }

  /** The gateway to talk to (see the module header for the order). */
  gateway(): Promise<GatewayTarget> {
    this.#target ??= this.#resolveGateway();
    return this.#target;
  }

  async #resolveGateway(): Promise<GatewayTarget> {
    const loaded = this.config();
    if (loaded.errors.length) throw new UserError('AETHER_BAD_CONFIG', loaded.errors[0]!);
    const { config, origin } = loaded;
    if (origin.profile !== 'default' && origin.profile !== 'profile' && !loaded.profileExists) {
      throw new UserError('AETHER_PROFILE_NOT_FOUND', `no profile named "${config.profile}"`, {
        kind: 'not_found',
        hint: 'see `aether profile list`, or create it with `aether login --profile ' + config.profile + '`',
      });
    }
    if (config.url) {
      if (!config.token) {
        throw new AetherError('AETHER_NO_TOKEN', `no token for gateway ${config.url}`, {
          kind: 'auth',
          hint: 'pass --token, set AETHER_TOKEN, or run `aether login --url ' + config.url + ' --token …`',
        });
      }
      return { url: config.url, token: config.token, origin: origin.url as 'flag' | 'env' | 'profile' };
    }
    const gw = await ensureEmbeddedGateway(config.home, { env: this.io.env, logger: this.logger });
    this.secrets.push(gw.token);
    if (gw.started) this.out.note(`started the embedded gateway at ${gw.url} (pid ${gw.pid}); stop it with \`aether gateway stop\``);
    return { url: gw.url, token: gw.token, origin: 'embedded' };
  }

  /** A client for the selected gateway (one per invocation). */
  async client(): Promise<GatewayClient> {
    if (!this.#client) {
      const t = await this.gateway();
      this.#client = this.#clientFactory({ url: t.url, token: t.token, logger: this.logger });
    }
    return this.#client;
  }

  /** A client for an arbitrary target (login validation, doctor probes); the caller closes it. */
  newClient(target: ClientTarget): GatewayClient {
    return this.#clientFactory({ logger: this.logger, ...target });
  }

  /** The mount containing the working directory, if any (hook in mount-context.ts). */
  mount(): Promise<MountContext | undefined> {
    this.#mount ??= resolveSessionFromCwd(this.io.cwd, { home: this.config().config.home, env: this.io.env, signal: this.io.signal });
    return this.#mount;
  }

  /**
   * The session a command acts on: `--session`, else AETHER_SESSION, else the mount containing
   * the working directory, else the profile's default session.
   */
  async sessionId(explicit?: string): Promise<string> {
    if (explicit?.trim()) return explicit.trim();
    const env = this.io.env.AETHER_SESSION?.trim();
    if (env) return env;
    const m = await this.mount();
    if (m) return m.sessionId;
    const { config, origin } = this.config();
    if (config.session && origin.session === 'profile') return config.session;
    throw new UserError('AETHER_NO_SESSION', 'no session given', {
      hint: 'pass --session ID, set AETHER_SESSION, or run the command inside a mounted session',
    });
  }

  /**
   * The interrupt signal (Ctrl-C, SIGTERM). Calling this tells run() that the command stops
   * cleanly on its own instead of being killed.
   */
  interruptSignal(): AbortSignal {
    this.io.claimInterrupts?.();
    return this.io.signal ?? NEVER;
  }

  /** Release the client. */
  async dispose(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.close().catch(() => undefined);
  }
}
