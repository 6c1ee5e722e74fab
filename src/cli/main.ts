// The CLI composition root. `main(argv, io)` runs one invocation in-process with injected streams
// and returns the exit code (tests call it directly); `run(argv)` is what bin/aether.js calls: it
// builds the io from the real process, wires Ctrl-C/SIGTERM, and sets process.exitCode.
//
// Invariants:
//   - main never calls process.exit and never reads process.* (only run() does).
//   - commander runs with exitOverride() + parseAsync; its output goes to the injected streams;
//     every error, commander's included, is printed by handle-error.ts (one line + hint).
//   - One CommandContext per invocation; its client is closed before main returns.
// Callers: bin/aether.js (run), tests (main), src/index.ts (re-export).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCommand, type CommandSpec, type Invoke } from './command.js';
import { COMMANDS } from './commands/index.js';
import { CommandContext, type GlobalFlags } from './context.js';
import { handleError, EXIT_INTERRUPTED } from './handle-error.js';
import { processIO, type CliIO } from './io.js';
import type { ClientFactory } from './client-factory.js';

/** Package version (read once from package.json, which sits two levels up from src/cli and dist/cli). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

export interface MainDeps {
  /** Replace the HTTP client (tests: fake or faulty clients). */
  clientFactory?: ClientFactory;
  /** Replace the command tree (tests). */
  commands?: CommandSpec<any>[];
}

const ROOT_HELP = `
Gateway selection (first that applies):
  --url/--token, $AETHER_URL/$AETHER_TOKEN, the active profile (aether login),
  else the embedded local gateway (started in the background; aether gateway status|stop).

Session selection for session commands:
  --session, $AETHER_SESSION, else the mounted session containing the working directory.

Examples:
  $ aether session create --tag task=bugfix-123 --json
  $ export AETHER_SESSION=sess_1234abcd
  $ aether checkpoint before-refactor
  $ aether annotate /src/main.ts:42 -m "needs a test"
  $ aether approval request --reason COMMIT_TO_MAIN --summary "Fix login"
  $ aether commit -m "Fix login validation" --branch fix/login

Output: --json prints one JSON document on stdout; colour only on a terminal without NO_COLOR.
Exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 conflict/precondition (e.g. approval
pending), 5 auth, 6 network, 130 interrupted. Stack traces: AETHER_LOG=debug.
`;

function fullName(cmd: Command): string {
  const parts: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) parts.unshift(c.name());
  return parts.join(' ');
}

/** Build the commander tree; `invoke` runs a command's handler. */
export function buildProgram(io: CliIO, invoke: Invoke, commands: CommandSpec<any>[] = COMMANDS): Command {
  const program = new Command('aether');
  program
    .description('Mount AetherFS workspace sessions as local directories and drive every AetherFS workflow from a shell.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--url <url>', 'gateway URL (default: $AETHER_URL, the active profile, else the embedded local gateway)')
    .option('--token <token>', 'gateway token (default: $AETHER_TOKEN, or the profile token)')
    .option('--profile <name>', 'profile to use (default: $AETHER_PROFILE, or the active profile)')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // handle-error.ts prints errors (one line + hint); commander only supplies the message.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', ROOT_HELP);
  for (const spec of commands) registerCommand(program, spec, invoke);
  return program;
}

/** Run one CLI invocation in-process. Returns the exit code; never exits the process. */
export async function main(argv: string[], io: CliIO, deps: MainDeps = {}): Promise<number> {
  let exitCode = 0;
  let ctx: CommandContext | undefined;
  let failing: Command | undefined;
  let program: Command | undefined;
  const invoke: Invoke = async (spec, operands, opts, cmd) => {
    const g = cmd.optsWithGlobals() as GlobalFlags & Record<string, unknown>;
    ctx = new CommandContext({
      io,
      globals: { url: g.url as string | undefined, token: g.token as string | undefined, profile: g.profile as string | undefined },
      json: Boolean(opts.json),
      commandPath: fullName(cmd),
      clientFactory: deps.clientFactory,
      program,
    });
    failing = cmd;
    const args = spec.parse ? spec.parse(operands, opts) : { ...opts, operands };
    const code = await spec.handler!(args, ctx);
    exitCode = typeof code === 'number' ? code : 0;
  };
  try {
    program = buildProgram(io, invoke, deps.commands);
    // Remember which command commander failed in, for the usage hint.
    const mark = (c: Command) => {
      c.exitOverride((err: CommanderError) => {
        failing ??= c;
        throw err;
      });
      c.commands.forEach(mark);
    };
    mark(program);
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    const debug = (io.env.AETHER_LOG ?? '').toLowerCase() === 'debug';
    return handleError(err, io, { debug, secrets: ctx?.secrets, commandPath: failing ? fullName(failing) : undefined });
  } finally {
    await ctx?.dispose();
  }
}

/** Entry point of bin/aether.js: the real process. */
export async function run(argv: string[]): Promise<void> {
  const interrupt = new AbortController();
  let claimed = false;
  let abortedAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    // A command that handles interrupts stops cleanly on the first signal; a second one (or any
    // signal during a command that does not) exits at once, as the shell expects.
    if (claimed && !interrupt.signal.aborted) {
      abortedAt = Date.now();
      interrupt.abort();
      return;
    }
    // conf → atomically → when-exit re-raises the signal it intercepted right after our first
    // handler ran; that echo is not a second Ctrl-C.
    if (claimed && Date.now() - abortedAt < 500) return;
    process.exit(sig === 'SIGINT' ? EXIT_INTERRUPTED : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `aether … | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const code = await main(argv, processIO(interrupt.signal, () => void (claimed = true)));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = code;
}
