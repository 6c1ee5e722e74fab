// An in-memory CliIO for driving `main(argv, io)` in-process: captures stdout/stderr as strings,
// serves stdin from a string, and exposes an AbortController standing in for Ctrl-C.
import { PassThrough, Readable, Writable } from 'node:stream';
import type { CliIO } from '../../src/cli/io.js';

export interface CapturedIO extends CliIO {
  /** Everything written to stdout so far. */
  out(): string;
  /** Everything written to stderr so far. */
  err(): string;
  /** stdout parsed as one JSON document. */
  json<T = any>(): T;
  /** stdout parsed as NDJSON lines. */
  jsonLines<T = any>(): T[];
  /** Simulate Ctrl-C. */
  interrupt(): void;
  /** True once a command claimed interrupts (see CliIO.claimInterrupts). */
  claimed: boolean;
  /** Resolves when stdout contains `text`. */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<string>;
}

export interface CaptureOptions {
  env?: Record<string, string | undefined>;
  stdin?: string | Buffer;
  cwd?: string;
  isTTY?: boolean;
  stdinIsTTY?: boolean;
  /** Terminal size reported by stdout (live ink views need one). */
  columns?: number;
  rows?: number;
}

class Sink extends Writable {
  chunks: Buffer[] = [];
  listeners_: Array<() => void> = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    for (const l of this.listeners_) l();
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function captureIO(opts: CaptureOptions = {}): CapturedIO {
  const stdout = new Sink();
  const stderr = new Sink();
  if (opts.columns !== undefined) Object.assign(stdout, { columns: opts.columns, rows: opts.rows ?? 24 });
  let stdin: NodeJS.ReadableStream;
  if (opts.stdin !== undefined) stdin = Readable.from([Buffer.from(opts.stdin)]);
  else {
    const p = new PassThrough();
    p.end();
    stdin = p;
  }
  const ac = new AbortController();
  const io: CapturedIO = {
    stdout,
    stderr,
    stdin,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...(opts.env ?? {}) },
    cwd: opts.cwd ?? process.cwd(),
    isTTY: opts.isTTY ?? false,
    stdinIsTTY: opts.stdinIsTTY ?? false,
    signal: ac.signal,
    claimed: false,
    claimInterrupts: () => {
      io.claimed = true;
    },
    out: () => stdout.text(),
    err: () => stderr.text(),
    json: () => {
      const text = stdout.text();
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`stdout is not one JSON document:\n${text}\n--- stderr:\n${stderr.text()}`);
      }
    },
    jsonLines: () =>
      stdout
        .text()
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l)),
    interrupt: () => ac.abort(),
    waitForOutput: (text, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const matches = () => (typeof text === 'string' ? stdout.text().includes(text) : text.test(stdout.text()));
        if (matches()) return resolve(stdout.text());
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(text)} on stdout; got:\n${stdout.text()}\n--- stderr:\n${stderr.text()}`)), timeoutMs);
        const check = () => {
          if (matches()) {
            clearTimeout(timer);
            stdout.listeners_ = stdout.listeners_.filter((l) => l !== check);
            resolve(stdout.text());
          }
        };
        stdout.listeners_.push(check);
      }),
  };
  return io;
}
