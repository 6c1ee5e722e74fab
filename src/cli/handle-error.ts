// The one place that turns an error into what the user sees and the process exit code.
//
// Output: `aether: <one-line message>` and, when there is one, `hint: <hint>` on stderr. Stack
// traces (with the `cause` chain) only with AETHER_LOG=debug.
// Exit codes (src/shared/errors.ts EXIT_CODES): internal 1, usage 2, not found 3,
// conflict/precondition 4, auth 5, network 6; commander usage errors 2; interrupted 130.
//
// Invariants:
//   - Never prints a token: every line passes through `redact()` and the caller's known secrets
//     (the token in use) are replaced as well.
//   - Matches on `code`/`kind`, never on message text.
// Callers: cli/main.ts only.
import { CommanderError } from 'commander';
import { EXIT_CODES, isAetherError } from '../shared/errors.js';
import { redact } from '../shared/log.js';
import type { CliIO } from './io.js';

/** Exit code for Ctrl-C, the shell convention (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

export interface HandleErrorOptions {
  /** Print stack traces (AETHER_LOG=debug). */
  debug: boolean;
  /** Values that must never appear in output (the token in use). */
  secrets?: readonly string[];
  /** Full name of the command that failed, for the usage hint (`aether session create`). */
  commandPath?: string;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = redact(text);
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function firstLine(s: string): string {
  const line = s.split(/\r?\n/).find((l) => l.trim().length > 0) ?? s;
  return line.trim();
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push(depth === 0 ? String(cur.stack ?? cur) : `caused by: ${String(cur.stack ?? cur)}`);
      cur = (cur as Error & { cause?: unknown }).cause;
    } else {
      parts.push(`caused by: ${String(cur)}`);
      break;
    }
  }
  return parts.join('\n');
}

/** Print `err` on stderr and return the exit code. */
export function handleError(err: unknown, io: CliIO, opts: HandleErrorOptions): number {
  const secrets = opts.secrets ?? [];
  const print = (message: string, hint?: string) => {
    io.stderr.write(scrub(`aether: ${message}`, secrets) + '\n');
    if (hint) io.stderr.write(scrub(`hint: ${hint}`, secrets) + '\n');
    if (opts.debug && !(err instanceof CommanderError)) io.stderr.write(scrub(stackOf(err), secrets) + '\n');
  };

  if (err instanceof CommanderError) {
    switch (err.code) {
      case 'commander.helpDisplayed':
      case 'commander.version':
        return 0;
      case 'commander.help':
        // Help for a command group was shown on stderr because no subcommand was given.
        return EXIT_CODES.usage;
      default: {
        const msg = firstLine(err.message).replace(/^error:\s*/i, '');
        const where = opts.commandPath ? `\`${opts.commandPath} --help\`` : '`aether --help`';
        print(msg, `see ${where} for usage`);
        return EXIT_CODES.usage;
      }
    }
  }

  if (isAetherError(err)) {
    if (err.code === 'AETHER_GATEWAY_CANCELLED' || err.code === 'AETHER_INTERRUPTED') {
      print('interrupted');
      return EXIT_INTERRUPTED;
    }
    print(firstLine(err.message), err.hint);
    return EXIT_CODES[err.kind] ?? EXIT_CODES.internal;
  }

  if (err instanceof Error && err.name === 'AbortError') {
    print('interrupted');
    return EXIT_INTERRUPTED;
  }

  const message = err instanceof Error ? firstLine(err.message) : String(err);
  print(`internal error: ${message}`, opts.debug ? undefined : 'rerun with AETHER_LOG=debug for the stack trace, and report it if it persists');
  return EXIT_CODES.internal;
}
