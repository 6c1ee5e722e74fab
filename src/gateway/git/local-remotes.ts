// Confinement of local git remotes (absolute paths and file:// URLs) — issue 12 item 10.
//
// A local remote is read (import, refresh) and written (commit push) by the gateway process with
// its own file permissions, so without a policy any tenant could import any repository the
// gateway can read — including another tenant's mirror under `<data>/git/<sourceId>.git`.
//
// Policy (checked when a source is created AND again before every fetch and push, so a symlink
// swapped in later does not get around it):
// - Never inside the gateway's own data directory, for any tenant.
// - The default tenant (the single user of the embedded gateway, whose README flow is
//   `source create --git-remote /path/to/repo`) may use any other local path, unless
//   `allowLocalRemotes` is given: then the allow-list applies to it too.
// - Every other tenant may use local remotes only under an allow-listed root
//   (`gateway serve --allow-local-remotes DIR[,DIR]`); with no list, none at all.
// Paths are compared after resolving symlinks and `..` (realpath of the longest existing
// prefix), and the places git itself would try (`P`, `P.git`, `P/.git`) are all checked.
// Network remotes (https, ssh, git) are not affected.
//
// Callers: routes/sources.ts (create), git/git-service.ts (fetch, push).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Options of the policy, from GatewayOptions. */
export interface LocalRemotePolicyOptions {
  /** The gateway's data directory: always refused. */
  dataDir: string;
  /** Allow-listed roots; undefined = default tenant unrestricted, others refused. */
  allowLocalRemotes?: string[];
}

/** The local filesystem path a remote URL names, or undefined for a network remote. */
export function localPathOf(url: string): string | undefined {
  if (url.startsWith('/')) return url;
  const m = /^file:\/\/(?:localhost)?(\/.*)$/i.exec(url);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1]!;
  }
}

/** realpath of the longest existing prefix of `p`, joined with the rest (so "a/../b" and links resolve). */
async function looseRealpath(p: string): Promise<string> {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = await fsp.realpath(cur);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

const within = (p: string, root: string) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

export class LocalRemotePolicy {
  private roots?: Promise<string[]>;
  private data?: Promise<string>;

  constructor(private readonly opts: LocalRemotePolicyOptions) {}

  /** Whether an allow-list was configured. */
  get restricted(): boolean {
    return this.opts.allowLocalRemotes !== undefined;
  }

  /**
   * Why `url` may not be used by a tenant (`isDefaultTenant` for the gateway's default tenant),
   * or undefined when it may. Network URLs are always fine here.
   */
  async problem(url: string, isDefaultTenant: boolean): Promise<string | undefined> {
    const local = localPathOf(url);
    if (local === undefined) return undefined;
    this.data ??= looseRealpath(this.opts.dataDir);
    this.roots ??= Promise.all((this.opts.allowLocalRemotes ?? []).map((r) => looseRealpath(r)));
    const [dataDir, roots] = await Promise.all([this.data, this.roots]);
    const resolved = await looseRealpath(local);
    const candidates = [resolved];
    for (const extra of [resolved + '.git', path.join(resolved, '.git')]) {
      try {
        candidates.push(await fsp.realpath(extra));
      } catch {
        /* git would not find it there either */
      }
    }
    if (candidates.some((c) => within(c, dataDir))) {
      return "is inside the gateway's data directory, which no source may read";
    }
    if (isDefaultTenant && !this.restricted) return undefined;
    if (roots.length === 0) {
      return isDefaultTenant
        ? 'is a local path, and this gateway allows no local remotes'
        : 'is a local path, and local remotes are only allowed for the default tenant unless the gateway is started with --allow-local-remotes DIR';
    }
    if (candidates.every((c) => roots.some((r) => within(c, r)))) return undefined;
    return `is a local path outside the directories this gateway allows (--allow-local-remotes)`;
  }
}
