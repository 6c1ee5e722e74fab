// Route family: the session manifest (seed 001 section 3), GET /v1/sessions/{sessionId}/manifest.
// Lists nodes at or below `pathPrefix` in path byte order (fs/walk.ts), one page at a time. The
// page token records the last path served and the root it was served from; the next page resumes
// strictly after that path in whatever the tree is now, so a changed tree never breaks a listing
// (clients compare `manifestHash` across pages to notice the change).
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { invalidArgument } from '../http/api-error.js';
import { decodePageToken, encodePageToken, normalizePath, parseBool, parseInt64, parsePageSize } from '../http/validate.js';
import { walkSorted } from '../fs/walk.js';
import { manifestHashOf, renderNode } from '../fs/render.js';
import type { GetManifestResponse, ManifestNode } from '../../protocol/types.js';

export const MANIFEST_DEFAULT_PAGE = 1000;
export const MANIFEST_MAX_PAGE = 10_000;

interface ManifestToken extends Record<string, unknown> {
  /** Last path served. */
  p: string;
  /** Root tree the previous page was read from (informational; resumption is by path). */
  r: string;
}

export function registerManifestRoutes(router: Router, core: GatewayCore): void {
  router.get('/v1/sessions/{sessionId}/manifest', (ctx): GetManifestResponse => {
    const s = core.sessions.get(ctx.principal, ctx.params.sessionId!);
    const q = ctx.query;
    const rawPrefix = q.get('pathPrefix');
    const prefix = rawPrefix === null || rawPrefix === '' ? '/' : normalizePath(rawPrefix, 'pathPrefix');
    const pageSize = parsePageSize(q.get('pageSize'), MANIFEST_DEFAULT_PAGE, MANIFEST_MAX_PAGE);
    const includeCasExtents = parseBool(q.get('includeCasExtents'), 'includeCasExtents');
    const maxDepth = parseInt64(q.get('maxDepth'), 'maxDepth', 0, { min: 0, max: 1 << 20 });
    const token = decodePageToken<ManifestToken>(q.get('pageToken'), (t) => typeof t.p === 'string' && typeof t.r === 'string');
    if (token) {
      try {
        normalizePath(token.p);
      } catch {
        throw invalidArgument('pageToken is invalid');
      }
    }

    const root = s.root;
    const links = core.trees.links(root);
    const nodes: ManifestNode[] = [];
    let more = false;
    for (const { path, entry } of walkSorted(core.trees, root, prefix, { after: token?.p, maxDepth })) {
      if (nodes.length === pageSize) {
        more = true;
        break;
      }
      nodes.push(renderNode(core.trees, links, path, entry, { includeCasExtents }));
      // A reader now holds these extents: GC keeps their blobs for the lease (store/content.ts).
      if (includeCasExtents && entry.t === 'f' && entry.x) core.content.lease(entry.x);
    }
    return {
      nodes,
      nextPageToken: more ? encodePageToken({ p: nodes[nodes.length - 1]!.path, r: root }) : '',
      manifestHash: manifestHashOf(root),
    };
  });
}
