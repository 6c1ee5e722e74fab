// Run one long request with a live "busy" view on a TTY (ink, loaded lazily), nothing otherwise:
// `aether commit` while the gateway builds and pushes a large commit. The view starts only after
// BUSY_DELAY_MS, so quick requests print nothing extra, and is always torn down before output.
// Callers: cli/commands/commit.ts.
import type { CommandContext } from './context.js';

const BUSY_DELAY_MS = 300;

export async function withBusyView<T>(ctx: CommandContext, label: string, work: () => Promise<T>): Promise<T> {
  const { columns = 0, rows = 0 } = ctx.io.stdout as { columns?: number; rows?: number };
  if (!ctx.io.isTTY || ctx.out.json || columns < 40 || rows < 2) return work();
  const started = Date.now();
  let tick = 0;
  let view: { update(el: import('react').ReactElement): void; done(): void } | undefined;
  let render: ((done: boolean) => import('react').ReactElement) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const start = setTimeout(() => {
    void (async () => {
      const [{ createElement }, { Busy }, { startLiveView }] = await Promise.all([import('react'), import('./ui/busy.js'), import('./ui/live.js')]);
      if (stopped) return;
      render = (done) => createElement(Busy, { label, elapsedMs: Date.now() - started, tick: ++tick, done });
      view = startLiveView(ctx.io, render(false));
      timer = setInterval(() => view?.update(render!(false)), 120);
    })();
  }, BUSY_DELAY_MS);
  try {
    return await work();
  } finally {
    stopped = true;
    clearTimeout(start);
    if (timer) clearInterval(timer);
    if (view && render) {
      view.update(render(true));
      view.done();
    }
  }
}
