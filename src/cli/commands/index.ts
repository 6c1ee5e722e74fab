// The command tree, in the order `aether --help` lists it. The mount engineer adds `mount`,
// `unmount`, `mounts`, `status` and `sync` here (see the MOUNT section below).
// Callers: cli/main.ts.
import type { CommandSpec } from '../command.js';
import { sessionGroup, fork } from './session.js';
import { checkpoint, checkpoints, restore } from './checkpoint.js';
import { annotate, annotations, annotationGroup, approvalGroup } from './review.js';
import { commit } from './commit.js';
import { diff } from './diff.js';
import { sourceGroup } from './source.js';
import { lock, unlock, locks } from './lock.js';
import { kvGroup } from './kv.js';
import { busGroup } from './bus.js';
import { events } from './events.js';
import { health, analytics, usage } from './health.js';
import { secretGroup } from './secret.js';
import { cacheGroup } from './cache.js';
import { gatewayGroup } from './gateway.js';
import { login, logout, profileGroup } from './login.js';
import { doctor } from './doctor.js';
import { completion } from './completion.js';
import { mount, unmount, mounts, status, sync } from './mount.js';
import { prefetch } from './prefetch.js';

export const COMMANDS: CommandSpec<any>[] = [
  // Sessions
  sessionGroup,
  fork,
  checkpoint,
  checkpoints,
  restore,
  // Mounts
  mount,
  unmount,
  mounts,
  status,
  sync,
  prefetch,
  // Review
  annotate,
  annotations,
  annotationGroup,
  approvalGroup,
  diff,
  commit,
  // Sources
  sourceGroup,
  // Coordination
  lock,
  unlock,
  locks,
  kvGroup,
  busGroup,
  events,
  // Operations
  health,
  analytics,
  usage,
  secretGroup,
  cacheGroup,
  // Setup
  gatewayGroup,
  login,
  logout,
  profileGroup,
  doctor,
  completion,
];
