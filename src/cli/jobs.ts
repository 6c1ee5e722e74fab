// Waiting for source jobs (`--wait` on source import/refresh/promote/job): poll
// GET /v1/sources/{id}/jobs/{jobId} until SUCCEEDED or FAILED, showing an ink progress view on a
// TTY and one plain line per change otherwise (on stderr, so stdout keeps only the result).
// Invariants: stops promptly on the interrupt signal (the job keeps running on the gateway);
// transient poll failures are retried by the client, others end the wait with that error.
// Callers: cli/commands/source.ts.
import type { ImportJob } from '../protocol/types.js';
import type { CommandContext } from './context.js';
import { jobCounts, shortEnum } from './render.js';

export const TERMINAL_JOB_STATES: ReadonlySet<string> = new Set(['UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED', 'UNDERLAY_IMPORT_JOB_STATE_FAILED']);

export interface WaitResult {
  job: ImportJob;
  /** The user pressed Ctrl-C before the job ended. */
  interrupted: boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One plain line per observed change: `import job_X RUNNING 1,234 files, 14.1 MiB (12s)`. */
export function renderJobLine(job: ImportJob, action: string, elapsedMs: number): string {
  return `${action} ${job.jobId} ${shortEnum(job.state, 'UNDERLAY_IMPORT_JOB_STATE_')} ${jobCounts(job)} (${Math.floor(elapsedMs / 1000)}s)`;
}

/** The ink view, loaded only on a TTY (ink and React cost ~250 ms of startup). */
async function startJobView(ctx: CommandContext, action: string) {
  const [{ createElement }, { JobProgress }, { startLiveView }] = await Promise.all([import('react'), import('./ui/job-progress.js'), import('./ui/live.js')]);
  return (job: ImportJob, elapsedMs: number, tick: number) => {
    const el = createElement(JobProgress, { job, action, elapsedMs, tick });
    return { el, startLiveView: () => startLiveView(ctx.io, el) };
  };
}

export async function waitForJob(ctx: CommandContext, initial: ImportJob, action: string, intervalMs = 400): Promise<WaitResult> {
  const client = await ctx.client();
  const signal = ctx.interruptSignal();
  const started = Date.now();
  let job = initial;
  let tick = 0;
  let view: ((job: ImportJob, elapsedMs: number, tick: number) => { el: import('react').ReactElement; startLiveView: () => import('./ui/live.js').LiveView }) | undefined;
  let live: import('./ui/live.js').LiveView | undefined;
  // A live view needs a real terminal size (a pty without one, e.g. under `script`, reports 0 and
  // ink would then redraw by clearing the screen).
  const { columns = 0, rows = 0 } = ctx.io.stdout as { columns?: number; rows?: number };
  if (ctx.io.isTTY && !ctx.out.json && columns >= 40 && rows >= 2) {
    view = await startJobView(ctx, action);
    live = view(job, 0, tick).startLiveView();
  }
  const spinner = live && view ? setInterval(() => live!.update(view!(job, Date.now() - started, ++tick).el), 120) : undefined;
  let lastLine = '';
  const report = () => {
    if (live) return;
    const key = `${job.state} ${job.filesProcessed} ${job.bytesProcessed}`;
    if (key !== lastLine) {
      lastLine = key;
      ctx.out.note(renderJobLine(job, action, Date.now() - started));
    }
  };
  try {
    report();
    while (!TERMINAL_JOB_STATES.has(job.state)) {
      await sleep(intervalMs, signal);
      if (signal.aborted) return { job, interrupted: true };
      try {
        job = await client.getJob(job.sourceId, job.jobId, { signal });
      } catch (err) {
        if (signal.aborted) return { job, interrupted: true };
        throw err;
      }
      report();
    }
    return { job, interrupted: false };
  } finally {
    if (spinner) clearInterval(spinner);
    if (live && view) {
      live.update(view(job, Date.now() - started, tick).el);
      live.done();
    }
  }
}
