// Every route family of the gateway, registered in one place.
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';
import { registerSessionRoutes } from './sessions.js';
import { registerManifestRoutes } from './manifest.js';
import { registerFileRoutes } from './files.js';
import { registerBlobRoutes } from './blobs.js';
import { registerCommitRoutes } from './commit.js';
import { registerSourceRoutes } from './sources.js';
import { registerReviewRoutes } from './review.js';
import { registerLockRoutes } from './locks.js';
import { registerCoordinationRoutes } from './coordination.js';
import { registerHealthRoutes } from './health.js';
import { registerSecretRoutes } from './secrets.js';
import { registerStorageRoutes } from './storage.js';

export function registerAllRoutes(router: Router, core: GatewayCore): void {
  registerSessionRoutes(router, core);
  registerManifestRoutes(router, core);
  registerFileRoutes(router, core);
  registerBlobRoutes(router, core);
  registerCommitRoutes(router, core);
  registerSourceRoutes(router, core);
  registerReviewRoutes(router, core);
  registerLockRoutes(router, core);
  registerCoordinationRoutes(router, core);
  registerHealthRoutes(router, core);
  registerSecretRoutes(router, core);
  registerStorageRoutes(router, core);
}
