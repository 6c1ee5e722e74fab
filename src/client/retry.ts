// Retry policy for gateway calls: which failures may be retried, and how long to wait in between.
//
// Owns: the decision "may this failed attempt be sent again?" and exponential backoff with jitter.
// Invariants:
//   - Idempotent requests (GET, and POSTs that only read) retry on transport failures and on
//     503/UNAVAILABLE answers, at most `retries` times.
//   - Mutations retry ONLY when the request certainly never reached the server (connection
//     refused / DNS failure before a socket existed). A reset or timeout after sending could have
//     applied the mutation, so retrying could apply it twice.
//   - Cancellation (the caller's AbortSignal) is never retried and stops a pending backoff sleep.
//   - Delays are bounded by `maxDelayMs`; a server's Retry-After is honoured up to that bound.
// Callers: client/http-gateway-client.ts; unit tests.
import { RpcCode } from '../protocol/rpc-status.js';
import { GatewayError, GatewayErrorCode } from './gateway-error.js';

/** How many times and how fast to retry. */
export interface RetryPolicy {
  /** Extra attempts after the first (0 = never retry). */
  retries: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** Upper bound for any single delay. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, baseDelayMs: 100, maxDelayMs: 2_000 };

/**
 * Transport error codes meaning the request never left this machine (no connection was made), so
 * even a non-idempotent request is safe to send again.
 */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** True when `err` proves the request was never delivered to the gateway. */
export function certainlyNotSent(err: GatewayError): boolean {
  return err.code === GatewayErrorCode.UNREACHABLE && err.transportCode !== undefined && NOT_SENT_CODES.has(err.transportCode);
}

/**
 * May a request that failed with `err` be sent again?
 * @param idempotent the request is a read (or otherwise safe to repeat).
 */
export function isRetryable(err: GatewayError, idempotent: boolean): boolean {
  if (err.rpcCode === RpcCode.CANCELLED) return false;
  if (certainlyNotSent(err)) return true;
  if (!idempotent) return false;
  if (err.code === GatewayErrorCode.UNREACHABLE) return true;
  // The gateway answered 503 UNAVAILABLE: overloaded or starting/stopping; a read may try again.
  return err.rpcCode === RpcCode.UNAVAILABLE && (err.httpStatus === 503 || err.httpStatus === 0);
}

/**
 * Delay before retry number `attempt` (0-based): exponential (base·2^attempt, capped at max) with
 * "equal jitter" — half fixed, half random — so concurrent clients spread out but never retry
 * immediately.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt));
  const half = exp / 2;
  return Math.round(half + random() * half);
}

/** Parse a Retry-After header (seconds or HTTP date) into milliseconds, or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Sleep `ms`, rejecting with the signal's reason if it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Whether the operation is safe to repeat after it may have reached the server. */
  idempotent: boolean;
  signal?: AbortSignal;
  /** Called before each backoff sleep (for logging and counters). */
  onRetry?: (err: GatewayError, attempt: number, delayMs: number) => void;
  random?: () => number;
}

/**
 * Run `fn` until it succeeds, fails with a non-retryable error, or retries run out. `fn` must
 * throw GatewayErrors; anything else is rethrown without retrying.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      if (attempt >= opts.policy.retries || !isRetryable(err, opts.idempotent) || opts.signal?.aborted) throw err;
      let delay = backoffDelay(attempt, opts.policy, opts.random);
      if (err.retryAfterMs !== undefined) delay = Math.min(opts.policy.maxDelayMs, Math.max(delay, err.retryAfterMs));
      opts.onRetry?.(err, attempt + 1, delay);
      try {
        await sleep(delay, opts.signal);
      } catch {
        throw err;
      }
    }
  }
}
