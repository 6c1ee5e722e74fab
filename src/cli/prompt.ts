// No-echo prompt for secret values typed at a terminal. The typed characters are never written
// anywhere; raw mode is always restored, also on Ctrl-C.
// Callers: cli/commands/secret.ts.
import { AetherError } from '../shared/errors.js';
import type { CliIO } from './io.js';

interface RawCapable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** Prompt on stderr and read one line from a TTY stdin without echo. */
export function promptHidden(io: CliIO, prompt: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadableStream & RawCapable;
  return new Promise((resolve, reject) => {
    io.stderr.write(prompt);
    const wasRaw = false;
    stdin.setRawMode?.(true);
    stdin.resume();
    let value = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode?.(wasRaw);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new AetherError('AETHER_INTERRUPTED', 'interrupted'));
        if (ch === '\u0004') {
          if (value === '') return finish(new AetherError('AETHER_INTERRUPTED', 'interrupted'));
          return finish();
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
