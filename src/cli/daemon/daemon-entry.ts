// Process entry of a mount daemon: `node dist/cli/daemon/daemon-entry.js '<json options>'`.
// Runs runMountDaemon, prints one line `{"ready":true,...}` (or `{"ready":false,"error":…}`) on
// stdout for the parent that spawned it, then serves until SIGTERM/SIGINT or a control-socket
// unmount. Logs go to stderr (the parent points it at the mount's log file).
import { runMountDaemon, type MountDaemonOptions } from './mount-daemon.js';
import { createLogger, parseLogLevel } from '../../shared/log.js';

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) {
    process.stderr.write('usage: daemon-entry.js <json options>\n');
    process.exitCode = 2;
    return;
  }
  const opts = JSON.parse(raw) as Omit<MountDaemonOptions, 'logger' | 'token'> & { token?: string };
  // The token travels through the environment, never argv (argv is visible in `ps`).
  const token = process.env.AETHER_DAEMON_TOKEN ?? opts.token ?? '';
  delete process.env.AETHER_DAEMON_TOKEN;
  // The log may live on a full disk: a failed log write must never take the mount down.
  process.stderr.on('error', () => undefined);
  const logger = createLogger((l) => {
    try {
      process.stderr.write(l);
    } catch {
      /* nowhere left to say it */
    }
  }, parseLogLevel(process.env.AETHER_LOG, 'info'));
  let mount;
  try {
    mount = await runMountDaemon({ ...opts, token, logger });
  } catch (e) {
    const err = e as { code?: string; message?: string; hint?: string };
    process.stdout.write(JSON.stringify({ ready: false, error: { code: err.code ?? 'AETHER_MOUNT_FAILED', message: err.message ?? String(e), hint: err.hint } }) + '\n');
    process.exitCode = 1;
    return;
  }
  process.stdout.write(JSON.stringify({ ready: true, ...mount.record }) + '\n');
  const onSignal = (sig: string) => {
    logger.info(`received ${sig}: flushing and unmounting`);
    void mount!.stop({ force: true }).catch((e) => logger.error('stop failed', { error: String(e) }));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => undefined);
  await mount.done;
  logger.info('unmounted');
  setTimeout(() => process.exit(0), 100).unref();
}

void main();
