// <Busy>: a one-line live view for a single long request whose progress the gateway does not
// report (building and pushing a commit): spinner, indeterminate bar, what is happening, elapsed.
// Callers: cli/busy.ts (loaded lazily, only on a TTY).
import { Box, Text } from 'ink';
import { ProgressBar } from './progress-bar.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface BusyProps {
  label: string;
  elapsedMs: number;
  tick: number;
  done?: boolean;
}

export function Busy({ label, elapsedMs, tick, done }: BusyProps) {
  return (
    <Box gap={1}>
      <Text color={done ? 'green' : 'yellow'}>{done ? '✓' : SPINNER[tick % SPINNER.length]}</Text>
      <Text>{label}</Text>
      <ProgressBar value={done ? 1 : 0} total={done ? 1 : undefined} tick={tick} width={24} showPercent={false} />
      <Text dimColor>{`${Math.floor(elapsedMs / 1000)}s`}</Text>
    </Box>
  );
}
