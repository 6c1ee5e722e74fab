// <ProgressBar>: a reusable ink progress bar. Determinate when `total` is known (`[████░░░░] 42%`),
// indeterminate otherwise (a block sweeping across the track, driven by `tick`), because import
// jobs report work done but not work remaining.
// Callers: cli/ui/job-progress.tsx; the mount engineer's `status --watch` and commit/prefetch
// progress views.
import { Text } from 'ink';

export interface ProgressBarProps {
  /** Work done. */
  value: number;
  /** Total work; undefined or 0 = unknown (indeterminate bar). */
  total?: number;
  /** Track width in columns (default 30). */
  width?: number;
  /** Animation step for the indeterminate bar (increment it on each refresh). */
  tick?: number;
  /** Show the percentage after a determinate bar (default true). */
  showPercent?: boolean;
  color?: string;
}

/** The bar as plain text (also used by non-ink output and tests). */
export function progressBarText({ value, total, width = 30, tick = 0, showPercent = true }: ProgressBarProps): string {
  const w = Math.max(4, width);
  if (total && total > 0) {
    const ratio = Math.min(1, Math.max(0, value / total));
    const full = Math.round(ratio * w);
    const bar = '█'.repeat(full) + '░'.repeat(w - full);
    return showPercent ? `[${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%` : `[${bar}]`;
  }
  const block = Math.max(2, Math.floor(w / 5));
  const span = w - block;
  const cycle = span * 2;
  const pos = cycle === 0 ? 0 : tick % cycle;
  const start = pos <= span ? pos : cycle - pos;
  return `[${'░'.repeat(start)}${'█'.repeat(block)}${'░'.repeat(w - block - start)}]`;
}

export function ProgressBar(props: ProgressBarProps) {
  return <Text color={props.color ?? 'cyan'}>{progressBarText(props)}</Text>;
}
