// Error classes with stable codes. Library code throws these; only cli/handle-error.ts turns them
// into messages and exit codes. Match on `code` or `kind`, never on message text.

/** Broad classes of failure; each maps to one CLI exit code. */
export type ErrorKind = 'usage' | 'not_found' | 'conflict' | 'auth' | 'network' | 'internal';

export const EXIT_CODES: Record<ErrorKind, number> = {
  internal: 1,
  usage: 2,
  not_found: 3,
  conflict: 4,
  auth: 5,
  network: 6,
};

export interface AetherErrorOptions {
  cause?: unknown;
  hint?: string;
  kind?: ErrorKind;
}

/** Base class for every error Aether raises on purpose. */
export class AetherError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly hint?: string;
  constructor(code: string, message: string, opts: AetherErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.kind = opts.kind ?? 'internal';
    this.hint = opts.hint;
  }
}

/** An error caused by what the user typed or configured; printed without a stack. */
export class UserError extends AetherError {
  constructor(code: string, message: string, opts: AetherErrorOptions = {}) {
    super(code, message, { kind: 'usage', ...opts });
  }
}

export function isAetherError(e: unknown): e is AetherError {
  return e instanceof AetherError;
}
