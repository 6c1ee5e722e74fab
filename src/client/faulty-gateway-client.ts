// FaultyGatewayClient: wraps any GatewayClient and injects failures and latency, for tests of the
// layers above (fs core, CLI) — the analogue of mountpoint-s3's failure_client.
//
// Owns: a small rule set consulted before each delegated call: "fail the next N calls of method
// M", "fail every call matching a predicate", "add latency (to all or one method)". Rules can be
// added, removed and the whole wrapper switched off at runtime.
// Invariants:
//   - With no rules (or disabled) it is a transparent pass-through: same results, same errors.
//   - Injected failures are real GatewayErrors (a given one, or a network-shaped
//     AETHER_GATEWAY_UNREACHABLE error), so callers exercise their normal error paths.
//   - A failure injected into a streaming method (busSubscribe, iterateManifest) surfaces on the
//     first `next()` of its iterator, like a real stream that fails to open.
//   - Typing is complete: the class is declared to have every GatewayClient method (interface
//     merging), and the runtime delegation is a Proxy over the wrapped client.
// Callers: tests (unit and integration) only; never composed by the CLI.
import type { GatewayClient, GatewayMethod } from './gateway-client.js';
import { GatewayError } from './gateway-error.js';

/** What to throw: a specific error, a factory, or "network" (a transport-level failure). */
export type InjectedFailure = GatewayError | (() => GatewayError) | 'network';

/** A call as seen by predicates. */
export interface FaultyCall {
  method: GatewayMethod;
  args: readonly unknown[];
}

interface CountedRule {
  kind: 'count';
  method: GatewayMethod;
  remaining: number;
  failure: InjectedFailure;
}

interface PredicateRule {
  kind: 'predicate';
  predicate: (call: FaultyCall) => boolean;
  failure: InjectedFailure;
}

interface LatencyRule {
  kind: 'latency';
  method?: GatewayMethod;
  ms: number;
}

type Rule = CountedRule | PredicateRule | LatencyRule;

/** Methods returning async iterables rather than promises. */
const STREAM_METHODS: ReadonlySet<string> = new Set<GatewayMethod>(['busSubscribe', 'iterateManifest']);

/** Build the network-shaped error used for `'network'` failures. */
export function injectedNetworkError(method: string, transportCode = 'ECONNRESET'): GatewayError {
  return GatewayError.unreachable(`cannot reach the gateway: injected ${transportCode} (${method})`, { operation: method, transportCode });
}

/** A GatewayError with the given rpc code, for injecting server-side failures. */
export function injectedStatusError(rpcCode: number, message = `injected failure (code ${rpcCode})`): GatewayError {
  const http: Record<number, number> = { 3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 13: 500, 14: 503, 16: 401 };
  return new GatewayError(message, { rpcCode, httpStatus: http[rpcCode] ?? 500 });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Interface merging: instances have every GatewayClient method; the Proxy returned by the
// constructor provides them by delegation.
export interface FaultyGatewayClient extends GatewayClient {}

/**
 * Failure-injecting wrapper around a GatewayClient.
 *
 * ```ts
 * const faulty = new FaultyGatewayClient(real);
 * faulty.failNext('getBlob', 2, 'network');
 * faulty.failWhen(({ method, args }) => method === 'batch' && args[0] === sid, injectedStatusError(RpcCode.ABORTED));
 * faulty.addLatency(50, 'getManifest');
 * ```
 */
export class FaultyGatewayClient {
  /** The wrapped client. */
  readonly inner: GatewayClient;
  private rules: Rule[] = [];
  private active = true;
  private readonly counts = new Map<string, number>();
  private readonly injected = new Map<string, number>();

  constructor(inner: GatewayClient) {
    this.inner = inner;
    // Own members (failNext, stats, …) win; every other property comes from `inner`, with
    // GatewayClient methods wrapped by `intercept`.
    return new Proxy(this, {
      get: (target, prop, receiver) => {
        if (prop in target) return Reflect.get(target, prop, receiver);
        const value = Reflect.get(inner as object, prop);
        if (typeof value !== 'function') return value;
        const method = prop as GatewayMethod;
        if (method === 'close') return () => inner.close();
        return (...args: unknown[]) => target.intercept(method, args, () => (value as (...a: unknown[]) => unknown).apply(inner, args));
      },
    });
  }

  /** Fail the next `count` calls of `method` with `failure` (default: a network error). */
  failNext(method: GatewayMethod, count = 1, failure: InjectedFailure = 'network'): this {
    this.rules.push({ kind: 'count', method, remaining: count, failure });
    return this;
  }

  /** Fail every call for which `predicate` is true, until the returned function is called. */
  failWhen(predicate: (call: FaultyCall) => boolean, failure: InjectedFailure = 'network'): () => void {
    const rule: PredicateRule = { kind: 'predicate', predicate, failure };
    this.rules.push(rule);
    return () => {
      this.rules = this.rules.filter((r) => r !== rule);
    };
  }

  /** Delay every call (or every call of `method`) by `ms` before it is delegated. */
  addLatency(ms: number, method?: GatewayMethod): () => void {
    const rule: LatencyRule = { kind: 'latency', method, ms };
    this.rules.push(rule);
    return () => {
      this.rules = this.rules.filter((r) => r !== rule);
    };
  }

  /** Remove every rule. */
  reset(): this {
    this.rules = [];
    return this;
  }

  /** Switch injection on or off without losing the rules. */
  setEnabled(enabled: boolean): this {
    this.active = enabled;
    return this;
  }

  get enabled(): boolean {
    return this.active;
  }

  /** Calls seen per method (including failed ones). */
  callCount(method: GatewayMethod): number {
    return this.counts.get(method) ?? 0;
  }

  /** Failures injected per method. */
  injectedCount(method: GatewayMethod): number {
    return this.injected.get(method) ?? 0;
  }

  /** Decide the fate of one call: latency to add, and the failure to raise (if any). */
  private plan(method: GatewayMethod, args: readonly unknown[]): { latency: number; failure?: GatewayError } {
    this.counts.set(method, (this.counts.get(method) ?? 0) + 1);
    if (!this.active) return { latency: 0 };
    let latency = 0;
    let failure: InjectedFailure | undefined;
    for (const r of this.rules) {
      if (r.kind === 'latency') {
        if (!r.method || r.method === method) latency += r.ms;
      } else if (failure === undefined) {
        if (r.kind === 'count' && r.method === method && r.remaining > 0) {
          r.remaining--;
          failure = r.failure;
        } else if (r.kind === 'predicate' && r.predicate({ method, args })) {
          failure = r.failure;
        }
      }
    }
    this.rules = this.rules.filter((r) => r.kind !== 'count' || r.remaining > 0);
    if (failure === undefined) return { latency };
    this.injected.set(method, (this.injected.get(method) ?? 0) + 1);
    const err = failure === 'network' ? injectedNetworkError(method) : typeof failure === 'function' ? failure() : failure;
    return { latency, failure: err };
  }

  private intercept(method: GatewayMethod, args: unknown[], call: () => unknown): unknown {
    const { latency, failure } = this.plan(method, args);
    if (STREAM_METHODS.has(method)) {
      // Streams: the failure/latency applies when iteration starts.
      return (async function* () {
        if (latency) await delay(latency);
        if (failure) throw failure;
        yield* call() as AsyncIterable<unknown>;
      })();
    }
    if (!latency && !failure) return call();
    return (async () => {
      if (latency) await delay(latency);
      if (failure) throw failure;
      return call();
    })();
  }
}
