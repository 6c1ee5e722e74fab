// Route table for the gateway: OpenAPI-style patterns ("/v1/sessions/{sessionId}:rename") compiled
// to anchored regexes. Patterns with more literal text win, so "/x/{id}:verb" beats "/x/{id}".
// A parameter that does not percent-decode (malformed escape, not UTF-8) is reported as
// `{ malformed }` for the route it would have matched, never as "no route" or "method not allowed".
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth.js';

export interface RequestContext {
  method: string;
  /** The OpenAPI pattern that matched, e.g. "/v1/sessions/{sessionId}". */
  route: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (an object; `{}` when the request had none). */
  body: Record<string, unknown>;
  principal: Principal;
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborted when the client goes away; long-polling handlers must honour it. */
  signal: AbortSignal;
}

/** Returned by handlers that wrote the response themselves (streams, blobs). */
export const STREAMED = Symbol('streamed');

export type Handler = (ctx: RequestContext) => unknown | Promise<unknown>;

export interface RouteOptions {
  /** Route needs no bearer token. */
  public?: boolean;
  /** Do not read/parse the body as JSON. */
  rawBody?: boolean;
}

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  names: string[];
  literalLength: number;
  handler: Handler;
  opts: RouteOptions;
}

export class Router {
  private routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler, opts: RouteOptions = {}): void {
    const names: string[] = [];
    let literalLength = 0;
    const re = pattern.replace(/\{(\w+)\}|([^{]+)/g, (_m, name: string | undefined, lit: string | undefined) => {
      if (name) {
        names.push(name);
        return '([^/]+?)';
      }
      literalLength += lit!.length;
      return lit!.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    });
    this.routes.push({ method, pattern, regex: new RegExp(`^${re}$`), names, literalLength, handler, opts });
    this.routes.sort((a, b) => b.literalLength - a.literalLength);
  }

  get(p: string, h: Handler, o?: RouteOptions) { this.add('GET', p, h, o); }
  post(p: string, h: Handler, o?: RouteOptions) { this.add('POST', p, h, o); }
  put(p: string, h: Handler, o?: RouteOptions) { this.add('PUT', p, h, o); }
  patch(p: string, h: Handler, o?: RouteOptions) { this.add('PATCH', p, h, o); }
  delete(p: string, h: Handler, o?: RouteOptions) { this.add('DELETE', p, h, o); }

  /** Every registered (method, pattern) pair, for the contract test against openapi.yaml. */
  list(): Array<{ method: string; pattern: string }> {
    return this.routes.map((r) => ({ method: r.method, pattern: r.pattern }));
  }

  /**
   * Find the route for a request. Returns `{ route }`, `{ malformed }` naming the parameter that
   * does not decode, or `{ allowed }` listing the methods the path does accept (for 405-style
   * answers), or nothing.
   */
  match(method: string, pathname: string):
    | { handler: Handler; pattern: string; params: Record<string, string>; opts: RouteOptions }
    | { malformed: string }
    | { allowed: string[] }
    | undefined {
    const allowed: string[] = [];
    let malformed: string | undefined;
    for (const r of this.routes) {
      const m = r.regex.exec(pathname);
      if (!m) continue;
      if (r.method !== method) {
        allowed.push(r.method);
        continue;
      }
      const params: Record<string, string> = {};
      let bad: string | undefined;
      r.names.forEach((n, i) => {
        try {
          params[n] = decodeURIComponent(m[i + 1]!);
        } catch {
          bad ??= n;
        }
      });
      if (bad) {
        malformed ??= bad;
        continue;
      }
      return { handler: r.handler, pattern: r.pattern, params, opts: r.opts };
    }
    if (malformed) return { malformed };
    return allowed.length ? { allowed } : undefined;
  }
}
