// Aligned plain-text tables and key/value blocks for human output. Pure string functions, so
// they serve both plain stdout writes and ink views (ui/table-view.tsx).
// Callers: cli/output.ts, cli/ui/*, commands.
import { visibleWidth, type Colors } from './colors.js';

export interface Column<R> {
  header: string;
  /** Cell text for a row. */
  value(row: R): string;
  align?: 'left' | 'right';
}

function pad(s: string, width: number, align: 'left' | 'right'): string {
  const gap = Math.max(0, width - visibleWidth(s));
  return align === 'right' ? ' '.repeat(gap) + s : s + ' '.repeat(gap);
}

/** Render rows as columns separated by two spaces, headers first; trailing spaces trimmed. */
export function formatTable<R>(columns: readonly Column<R>[], rows: readonly R[], colors?: Colors): string {
  const cells = rows.map((r) => columns.map((c) => oneLine(c.value(r))));
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...cells.map((row) => visibleWidth(row[i]!))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => pad(v, widths[i]!, columns[i]!.align ?? 'left'))
      .join('  ')
      .replace(/\s+$/, '');
  const header = line(columns.map((c) => c.header));
  const out = [colors ? colors.bold(header) : header, ...cells.map(line)];
  return out.join('\n') + '\n';
}

/** Render `key: value` pairs with aligned values; undefined values are skipped. */
export function formatKeyValues(pairs: ReadonlyArray<readonly [string, string | undefined]>, colors?: Colors): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${pad(colors ? colors.dim(k + ':') : k + ':', width, 'left')}  ${oneLine(v)}`).join('\n') + (shown.length ? '\n' : '');
}

/** Collapse newlines so one value never breaks a table row. */
export function oneLine(s: string): string {
  return s.replace(/\r?\n/g, ' ⏎ ');
}

/** `k=v, k2=v2` for tag/label maps. */
export function formatMap(m: Record<string, string> | undefined): string {
  if (!m) return '';
  return Object.entries(m)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
