// Command definitions: each file under cli/commands/ exports CommandSpecs (its arguments, their
// validation, help examples and `handler(args, ctx)`); `registerCommand` turns a spec tree into
// commander commands. Keeping the spec separate from commander lets tests call handlers directly
// and lets `completion` walk one tree.
//
// Invariants:
//   - Handlers receive validated, typed args and a CommandContext; they call library functions
//     (client, gateway, config, later fs/control) and print through ctx.out only.
//   - `--json` is added to every spec with `json: true`; `--session` to every spec with
//     `session: true`. Both are documented in docs/CLI.md.
// Callers: cli/main.ts, cli/commands/*.
import { Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../shared/errors.js';
import type { CommandContext } from './context.js';

/** Parsed options of a command (commander's camelCased opts). */
export type Opts = Record<string, unknown>;

export interface CommandSpec<A = unknown> {
  /** Name plus operands in commander syntax: `show <id>`, `checkpoint [label]`. */
  name: string;
  summary: string;
  /** Longer text for `--help` (defaults to summary). */
  description?: string;
  /** Shell lines shown under "Examples:" in `--help`. */
  examples?: string[];
  aliases?: string[];
  /** Adds `--json`. */
  json?: boolean;
  /** Adds `--session <id>`. */
  session?: boolean;
  /** Add options and fine-tune the commander command. */
  configure?(cmd: Command): void;
  /** Validate operands and options into typed args; throw UserError for bad input (exit 2). */
  parse?(operands: string[], opts: Opts): A;
  handler?(args: A, ctx: CommandContext): Promise<number | void>;
  subcommands?: CommandSpec<any>[];
}

/** Identity helper that keeps `A` inferred between `parse` and `handler`. */
export function defineCommand<A>(spec: CommandSpec<A>): CommandSpec<A> {
  return spec;
}

/** Runs a spec's handler; supplied by main.ts (creates the context, records the exit code). */
export type Invoke = (spec: CommandSpec<any>, operands: string[], opts: Opts, cmd: Command) => Promise<void>;

/** Add `spec` (and its subcommands) under `parent`. */
export function registerCommand(parent: Command, spec: CommandSpec<any>, invoke: Invoke): Command {
  const cmd = parent.command(spec.name);
  // Commander wraps help text to the terminal width itself: hand it one paragraph.
  cmd.description((spec.description ?? spec.summary).replace(/\s*\n\s*/g, ' '));
  cmd.summary(spec.summary);
  for (const a of spec.aliases ?? []) cmd.alias(a);
  if (spec.session) cmd.option('--session <id>', 'session id (default: $AETHER_SESSION, then the mount containing the working directory)');
  spec.configure?.(cmd);
  if (spec.json) cmd.option('--json', 'print the result as one JSON document on stdout');
  if (spec.examples?.length) {
    cmd.addHelpText('after', '\nExamples:\n' + spec.examples.map((e) => `  $ ${e}`).join('\n') + '\n');
  }
  for (const sub of spec.subcommands ?? []) registerCommand(cmd, sub, invoke);
  if (spec.handler) {
    cmd.action(async (...all: unknown[]) => {
      const self = all[all.length - 1] as Command;
      const operands = self.processedArgs.map((v) => v as string);
      // A parent that defines the same option (e.g. `health --session` and `health report
      // --session`) consumes it wherever it appears, so read options through every ancestor.
      await invoke(spec, operands, self.optsWithGlobals(), self);
    });
  }
  return cmd;
}

// ---- option helpers ---------------------------------------------------------------------------

/** Repeatable option collector: `--tag a=1 --tag b=2`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parse `k=v` pairs into a map; throws UserError naming the flag. */
export function parseKeyValues(pairs: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UserError('AETHER_BAD_ARGUMENT', `${flag} expects key=value, got ${JSON.stringify(p)}`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** commander argParser for a non-negative integer option. */
export function intOption(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

/** A duration: `90`, `90s`, `15m`, `2h`, `1d` → seconds. */
export function parseDurationSeconds(v: string, flag: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(v.trim());
  if (!m) throw new UserError('AETHER_BAD_ARGUMENT', `${flag} expects a duration like 300, 90s, 15m, 2h or 1d; got ${JSON.stringify(v)}`);
  const mult = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

/**
 * A point in time: RFC 3339 (`2026-03-11T08:00:00Z`), a date (`2026-03-11`, UTC midnight), `now`,
 * or a relative past offset (`30m`, `2h`, `7d`). Returns RFC 3339 UTC (milliseconds only when non-zero).
 */
export function parseTime(v: string, flag: string, now: number = Date.now()): string {
  const s = v.trim();
  const rel = /^(\d+)\s*(s|m|h|d|w)$/i.exec(s);
  let ms: number;
  if (s === 'now') ms = now;
  else if (rel) ms = now - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[rel[2]!.toLowerCase() as 's']! * 1000;
  else if (/^\d{4}-\d{2}-\d{2}$/.test(s)) ms = Date.parse(`${s}T00:00:00Z`);
  else ms = /\d{4}-\d{2}-\d{2}T/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UserError('AETHER_BAD_ARGUMENT', `${flag} expects a time (RFC 3339, YYYY-MM-DD, now, or an age like 30m/2h/7d); got ${JSON.stringify(v)}`);
  }
  // Keep milliseconds (e.g. `now`) so an exclusive --until does not drop the current second.
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

export { Option };
