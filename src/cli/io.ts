// CliIO: the streams and process facts a CLI invocation may use, injected so tests can run
// `main(argv, io)` in-process and capture everything. Nothing under src/cli/ reads process.stdout,
// process.env or process.cwd() directly except `processIO()` here (used by `run()`).
//
// Callers: cli/main.ts (builds it in run()), every command through CommandContext, tests
// (test/helpers/capture-io.ts).

/** Streams and environment of one CLI invocation. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** stdout is a terminal: enables colour (unless NO_COLOR) and live ink views. */
  isTTY: boolean;
  /** stdin is a terminal: enables no-echo prompts (`secret set`). Default false. */
  stdinIsTTY?: boolean;
  /**
   * Aborted on Ctrl-C/SIGTERM. Long-running commands (bus tail, gateway serve, --wait) stop
   * cleanly when it fires; tests abort it by hand.
   */
  signal?: AbortSignal;
  /**
   * Called by a command that handles interrupts itself (through `signal`). Until then `run()`
   * treats Ctrl-C as "exit now with 130", the shell convention.
   */
  claimInterrupts?: () => void;
}

/** The real process, for `run()`. */
export function processIO(signal?: AbortSignal, claimInterrupts?: () => void): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdout.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    signal,
    claimInterrupts,
  };
}

/** Write text to a stream (no newline added). */
export function write(stream: NodeJS.WritableStream, text: string): void {
  stream.write(text);
}

/** Read a whole stream (stdin) into a Buffer. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}
