// <JobProgress>: live view of a source import/refresh/promote job while `--wait` polls it, plus
// cli/jobs.ts prints the plain-text equivalent (renderJobLine) when stdout is not a TTY.
// Callers: cli/jobs.ts (loaded lazily, only on a TTY).
import { Box, Text } from 'ink';
import type { ImportJob } from '../../protocol/types.js';
import { ProgressBar } from './progress-bar.js';
import { jobCounts, shortEnum } from '../render.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface JobProgressProps {
  job: ImportJob;
  /** What started the job ("import", "refresh", "promote"). */
  action: string;
  elapsedMs: number;
  tick: number;
}

function seconds(ms: number): string {
  return `${Math.floor(ms / 1000)}s`;
}

export function JobProgress({ job, action, elapsedMs, tick }: JobProgressProps) {
  const state = shortEnum(job.state, 'UNDERLAY_IMPORT_JOB_STATE_');
  const done = state === 'SUCCEEDED' || state === 'FAILED';
  return (
    <Box gap={1}>
      <Text color={state === 'FAILED' ? 'red' : done ? 'green' : 'yellow'}>{done ? (state === 'FAILED' ? '✗' : '✓') : SPINNER[tick % SPINNER.length]}</Text>
      <Text>
        {action} {job.jobId}
      </Text>
      <Text bold>{state}</Text>
      <ProgressBar value={done ? 1 : 0} total={done ? 1 : undefined} tick={tick} width={24} showPercent={false} />
      <Text>{jobCounts(job)}</Text>
      <Text dimColor>{seconds(elapsedMs)}</Text>
    </Box>
  );
}
