// Output conventions and ink scaffolding: tables, colour rules, JSON mode routing, <ProgressBar>.
import { describe, expect, it } from 'vitest';
import { renderToString, Text } from 'ink';
import { Output } from '../../../src/cli/output.js';
import { formatTable, formatKeyValues, formatMap } from '../../../src/cli/ui/table.js';
import { createColors, stripAnsi, visibleWidth } from '../../../src/cli/ui/colors.js';
import { ProgressBar, progressBarText } from '../../../src/cli/ui/progress-bar.js';
import { JobProgress } from '../../../src/cli/ui/job-progress.js';
import { renderJobLine } from '../../../src/cli/jobs.js';
import { captureIO } from '../../helpers/capture-io.js';

describe('tables', () => {
  it('aligns columns (right-aligned where asked) and trims trailing spaces', () => {
    const t = formatTable(
      [
        { header: 'ID', value: (r: { id: string; n: number }) => r.id },
        { header: 'N', value: (r) => String(r.n), align: 'right' },
      ],
      [
        { id: 'a', n: 1 },
        { id: 'longer', n: 100 },
      ],
    );
    expect(t).toBe('ID        N\na         1\nlonger  100\n');
  });
  it('ignores ANSI codes when measuring; collapses newlines in cells', () => {
    const c = createColors(true);
    expect(visibleWidth(c.red('abc'))).toBe(3);
    expect(stripAnsi(formatTable([{ header: 'H', value: (r: string) => r }], [c.green('x\ny')], c))).toBe('H\nx ⏎ y\n');
  });
  it('key/values skip undefined; maps sort', () => {
    expect(formatKeyValues([['id', 'x'], ['skip', undefined], ['status', 'ok']])).toBe('id:      x\nstatus:  ok\n');
    expect(formatMap({ b: '2', a: '1' })).toBe('a=1,b=2');
  });
});

describe('Output', () => {
  it('colour only on a TTY without NO_COLOR', () => {
    expect(new Output(captureIO({ isTTY: true }), { json: false }).colors.enabled).toBe(true);
    expect(new Output(captureIO({ isTTY: true, env: { NO_COLOR: '1' } }), { json: false }).colors.enabled).toBe(false);
    expect(new Output(captureIO({ isTTY: false }), { json: false }).colors.enabled).toBe(false);
    expect(new Output(captureIO({ isTTY: true }), { json: true }).colors.enabled).toBe(false);
  });
  it('json mode: one document on stdout, human lines on stderr', () => {
    const io = captureIO();
    const out = new Output(io, { json: true });
    out.line('human');
    out.note('chatter');
    out.result({ a: 1 }, () => out.line('not printed'));
    expect(io.json()).toEqual({ a: 1 });
    expect(io.err()).toBe('human\nchatter\n');
  });
  it('human mode: data on stdout, notes on stderr, tokens redacted', () => {
    const io = captureIO();
    const out = new Output(io, { json: false });
    out.result({ a: 1 }, () => out.line('Authorization: Bearer abc.def'));
    out.note('working…');
    expect(io.out()).toBe('Authorization: Bearer [redacted]\n');
    expect(io.err()).toBe('working…\n');
  });
});

describe('<ProgressBar>', () => {
  it('determinate bar with percentage', () => {
    expect(progressBarText({ value: 5, total: 10, width: 10 })).toBe('[█████░░░░░]  50%');
    expect(progressBarText({ value: 20, total: 10, width: 4, showPercent: false })).toBe('[████]');
  });
  it('indeterminate bar sweeps with the tick and keeps its width', () => {
    const frames = [0, 1, 2, 3, 20].map((tick) => progressBarText({ value: 0, width: 10, tick }));
    for (const f of frames) expect([...f].length).toBe(12);
    expect(new Set(frames).size).toBeGreaterThan(1);
  });
  it('renders in ink', () => {
    const s = renderToString(
      <Text>
        <ProgressBar value={1} total={4} width={8} />
      </Text>,
    );
    expect(stripAnsi(s)).toContain('[██░░░░░░]  25%');
  });
  it('<JobProgress> and the plain job line show files/bytes processed', () => {
    const job = { jobId: 'job_1', sourceId: 'src_1', state: 'UNDERLAY_IMPORT_JOB_STATE_RUNNING', createdAt: '', filesProcessed: '4211', bytesProcessed: '14829203' } as const;
    const s = stripAnsi(renderToString(<JobProgress job={job} action="import" elapsedMs={12_000} tick={3} />));
    expect(s).toContain('import job_1');
    expect(s).toContain('RUNNING');
    expect(s).toContain('4,211 files, 14.1 MiB');
    expect(renderJobLine(job, 'import', 12_000)).toBe('import job_1 RUNNING 4,211 files, 14.1 MiB (12s)');
  });
});
