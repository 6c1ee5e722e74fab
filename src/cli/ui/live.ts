// Live (re-rendering) ink views on the injected streams. Only used when stdout is a TTY; callers
// fall back to plain lines otherwise. Ctrl-C handling stays with the CLI (exitOnCtrlC: false) so
// commands stop through their interrupt signal and clean up.
// Callers: cli/jobs.ts; the mount engineer's `status --watch`.
import type { ReactElement } from 'react';
import { render } from 'ink';
import type { CliIO } from '../io.js';

export interface LiveView {
  update(el: ReactElement): void;
  /** Render the last frame and stop. */
  done(): void;
}

export function startLiveView(io: CliIO, el: ReactElement): LiveView {
  const inst = render(el, {
    stdout: io.stdout as NodeJS.WriteStream,
    stderr: io.stderr as NodeJS.WriteStream,
    stdin: io.stdin as NodeJS.ReadStream,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  let finished = false;
  return {
    update: (next) => {
      if (!finished) inst.rerender(next);
    },
    done: () => {
      if (finished) return;
      finished = true;
      inst.unmount();
      inst.cleanup();
    },
  };
}
