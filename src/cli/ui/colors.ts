// Minimal ANSI styling. Colour is decided once per invocation: on only when stdout is a TTY and
// NO_COLOR is unset (https://no-color.org). Disabled styles are identity functions, so callers
// never branch on colour themselves.
// Callers: cli/output.ts, cli/ui/*.

export interface Colors {
  enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const id = (s: string) => s;

export function createColors(enabled: boolean): Colors {
  if (!enabled) return { enabled, bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\u001b\[[0-9;]*m/g;

/** Text without ANSI escapes. */
export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, '');
}

/** Display width (ANSI escapes excluded; every code point counts as one column). */
export function visibleWidth(s: string): number {
  return [...stripAnsi(s)].length;
}
