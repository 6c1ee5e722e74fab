// Output: how a command prints. One JSON document on stdout with --json (human text then goes to
// stderr), aligned tables and key/value blocks otherwise, colour only on a TTY without NO_COLOR.
//
// Invariants:
//   - In JSON mode exactly one `result()` call writes stdout; everything else goes to stderr.
//   - Nothing printed here ever contains a token: values pass through `redact()` on the human
//     path, and commands never hand tokens to Output (secret values are written raw on purpose
//     by `secret get` only, through `raw()`).
// Callers: every command through CommandContext.out.
import { redact } from '../shared/log.js';
import type { CliIO } from './io.js';
import { createColors, type Colors } from './ui/colors.js';
import { formatKeyValues, formatTable, type Column } from './ui/table.js';

export interface OutputOptions {
  json: boolean;
  /** Suppress notes (stderr chatter), e.g. for `--quiet`. */
  quiet?: boolean;
}

export class Output {
  readonly json: boolean;
  readonly colors: Colors;
  readonly #io: CliIO;
  readonly #quiet: boolean;

  constructor(io: CliIO, opts: OutputOptions) {
    this.#io = io;
    this.json = opts.json;
    this.#quiet = opts.quiet ?? false;
    this.colors = createColors(io.isTTY && io.env.NO_COLOR === undefined && !opts.json);
  }

  /**
   * The command's result: `data` as one JSON document (json mode), else `human()` which prints
   * with line()/table()/keyValues().
   */
  result(data: unknown, human: () => void): void {
    if (this.json) this.#io.stdout.write(JSON.stringify(data, null, 2) + '\n');
    else human();
  }

  /** One NDJSON line on stdout (streaming commands in json mode). */
  jsonLine(data: unknown): void {
    this.#io.stdout.write(JSON.stringify(data) + '\n');
  }

  /** A line of human output on stdout (stderr in json mode). */
  line(text = ''): void {
    (this.json ? this.#io.stderr : this.#io.stdout).write(redact(text) + '\n');
  }

  /** Bytes or text exactly as given, on stdout (kv get, secret get). */
  raw(data: Buffer | string): void {
    this.#io.stdout.write(data);
  }

  /** Progress and status chatter: always stderr, never part of the result. */
  note(text: string): void {
    if (!this.#quiet) this.#io.stderr.write(redact(text) + '\n');
  }

  /** A warning on stderr. */
  warn(text: string): void {
    this.#io.stderr.write(`${this.colors.yellow('warning:')} ${redact(text)}\n`);
  }

  table<R>(columns: readonly Column<R>[], rows: readonly R[], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(this.colors.dim(empty));
      return;
    }
    (this.json ? this.#io.stderr : this.#io.stdout).write(redact(formatTable(columns, rows, this.colors)));
  }

  keyValues(pairs: ReadonlyArray<readonly [string, string | undefined]>): void {
    (this.json ? this.#io.stderr : this.#io.stdout).write(redact(formatKeyValues(pairs, this.colors)));
  }
}
