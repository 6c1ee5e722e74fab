// <MountStatusView>: the live view of `aether status --watch` — uploads in flight, cache hit rate,
// conflicts and remote changes of one mount, refreshed every second from its control socket.
// Callers: cli/commands/mount.ts.
import { Box, Text } from 'ink';
import { formatBytes } from '../../cas/size.js';
import { ProgressBar } from './progress-bar.js';

export interface MountStatus {
  sessionId: string;
  mountpoint: string;
  binding: string;
  readOnly: boolean;
  pid: number;
  pendingUploads: number;
  uploadsInFlight: number;
  conflicts: Array<{ path: string; conflictPath: string; at: number; reason: string }>;
  cache: { hits: number; misses: number; bytes: number; maxBytes: number; entries: number };
  bytesFetched: number;
  bytesUploaded: number;
  blobsFetched: number;
  listings: number;
  uploads: number;
  batches: number;
  remoteInvalidations: number;
  watcherError: string | null;
  locksHeld?: number;
  /** 'overlay' (local-first) or 'write-through'. */
  mode?: string;
  /** Overlay mode: the shipper's queue. */
  shipping?: {
    queuedOps: number;
    queuedBytes: number;
    oldestUnshippedMs: number;
    shippedOps: number;
    requests: number;
    retries: number;
    lastError: string | null;
    failedOps: Array<{ kind: string; path: string; error: string; at: number }>;
  };
  /** The disk holding the mount state is full (writes get ENOSPC). */
  stateDiskFull?: boolean;
}

export function MountStatusView({ status: s, tick }: { status: MountStatus; tick: number }) {
  const total = s.cache.hits + s.cache.misses;
  const rate = total ? s.cache.hits / total : 1;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{s.mountpoint}</Text> <Text dimColor>({s.sessionId}, {s.binding}{s.readOnly ? ', read-only' : ''})</Text>
      </Text>
      <Box gap={1}>
        <Text>uploads</Text>
        <Text color={s.uploadsInFlight ? 'yellow' : 'green'}>{s.uploadsInFlight} in flight</Text>
        <Text>{s.pendingUploads} pending</Text>
        <Text dimColor>({s.uploads} done, {formatBytes(s.bytesUploaded)})</Text>
      </Box>
      {s.shipping ? (
        <Box gap={1}>
          <Text>queue</Text>
          <Text color={s.shipping.queuedOps ? 'yellow' : 'green'}>{s.shipping.queuedOps} ops</Text>
          <Text>oldest {(s.shipping.oldestUnshippedMs / 1000).toFixed(1)} s</Text>
          <Text dimColor>
            ({s.shipping.shippedOps} shipped in {s.shipping.requests} requests, {s.shipping.retries} retries)
          </Text>
          {s.shipping.lastError ? <Text color="red">{s.shipping.lastError}</Text> : null}
        </Box>
      ) : null}
      <Box gap={1}>
        <Text>cache hit rate</Text>
        <ProgressBar value={rate} total={1} tick={tick} width={20} />
        <Text dimColor>
          {s.cache.hits} hits / {s.cache.misses} misses, {formatBytes(s.cache.bytes)} of {formatBytes(s.cache.maxBytes)}
        </Text>
      </Box>
      <Text>
        fetched {formatBytes(s.bytesFetched)} in {s.blobsFetched} blobs · {s.listings} listings · {s.remoteInvalidations} remote changes
        {s.locksHeld !== undefined ? ` · ${s.locksHeld} locks held` : ''}
      </Text>
      <Text color={s.conflicts.length ? 'red' : 'green'}>{s.conflicts.length ? `${s.conflicts.length} conflicts` : 'no conflicts'}</Text>
      {s.conflicts.slice(-5).map((c) => (
        <Text key={c.conflictPath} color="red">
          {'  '}
          {c.path} → {c.conflictPath}
        </Text>
      ))}
      {s.watcherError ? <Text color="yellow">remote changes: {s.watcherError}</Text> : null}
      <Text dimColor>Ctrl-C to stop watching</Text>
    </Box>
  );
}
