// Logger seam. Library code logs through an injected Logger; only the CLI decides where lines go
// (stderr, a daemon log file) and at which level (AETHER_LOG). Secrets never reach a Logger:
// callers pass redacted values, and `redact()` scrubs bearer tokens defensively.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export const nullLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Replace anything that looks like a bearer token or an Aether token with "[redacted]". */
export function redact(s: string): string {
  return s.replace(/(Bearer\s+)[^\s"']+/gi, '$1[redacted]').replace(/\baet_[A-Za-z0-9_-]{8,}/g, 'aet_[redacted]');
}

/** A logger writing one line per record to `write`, filtered by level. */
export function createLogger(write: (line: string) => void, level: LogLevel = 'info', json = false): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    if (json) {
      write(redact(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })) + '\n');
    } else {
      const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
      write(redact(`${new Date().toISOString()} ${lvl.toUpperCase()} ${msg}${extra}`) + '\n');
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export function parseLogLevel(s: string | undefined, dflt: LogLevel = 'info'): LogLevel {
  if (!s) return dflt;
  const l = s.toLowerCase();
  return (l in ORDER ? l : dflt) as LogLevel;
}
