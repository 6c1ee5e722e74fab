// `aether events [--since T] [--until T] [--type X] [--limit N] [--reverse]`: the session's
// immutable audit log (GET /v1/sessions/{id}/events). Like `git log`: the newest N events, newest
// first; `--reverse` prints those same N oldest first. The gateway lists oldest first, so every
// page in the window is read and only the last N are kept (a ring of N, bounded memory).
// Callers: cli/commands/index.ts.
import { SessionEventTypeValues, type SessionEvent, type SessionEventType } from '../../protocol/types.js';
import { UserError } from '../../shared/errors.js';
import { defineCommand, intOption, parseTime } from '../command.js';

/** Accept the full event type or its method suffix (`Rename`, `AddAnnotation`). */
export function parseEventType(v: string): SessionEventType {
  const exact = SessionEventTypeValues.find((t) => t === v);
  if (exact) return exact;
  const bySuffix = SessionEventTypeValues.filter((t) => t.toLowerCase().endsWith(`.${v.toLowerCase()}`));
  if (bySuffix.length === 1) return bySuffix[0]!;
  throw new UserError('AETHER_BAD_ARGUMENT', `unknown event type ${JSON.stringify(v)}`, {
    hint: `one of: ${SessionEventTypeValues.map((t) => t.split('.').pop()).join(', ')}`,
  });
}

export interface EventsArgs {
  since?: string;
  until?: string;
  type?: SessionEventType;
  limit: number;
  reverse: boolean;
  session?: string;
}

export const events = defineCommand<EventsArgs>({
  name: 'events',
  summary: 'show the session audit log',
  description:
    'List events of the session (GET /v1/sessions/{id}/events) in [--since, --until): the newest\n' +
    '--limit (default 1000), newest first, like git log; --reverse prints them oldest first.\n' +
    'Times are RFC 3339, YYYY-MM-DD, `now`, or an age such as 30m, 2h, 7d.',
  examples: ['aether events --since 2h', 'aether events --since 2026-03-11T08:00:00Z --until 2026-03-11T09:00:00Z --type Rename --json'],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .option('--since <time>', 'only events at or after this time')
      .option('--until <time>', 'only events before this time')
      .option('--type <event-type>', 'only this event type (e.g. v1.FileSystemService.Rename, or Rename)')
      .option('--limit <n>', 'the newest this many events', intOption('--limit', 1), 1000)
      .option('--reverse', 'oldest first'),
  parse: (_ops, o) => ({
    since: o.since !== undefined ? parseTime(String(o.since), '--since') : undefined,
    until: o.until !== undefined ? parseTime(String(o.until), '--until') : undefined,
    type: o.type !== undefined ? parseEventType(String(o.type)) : undefined,
    limit: o.limit as number,
    reverse: Boolean(o.reverse),
    session: o.session as string | undefined,
  }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const client = await ctx.client();
    // Keep the last `limit` events seen (the log comes oldest first).
    const ring: SessionEvent[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.listEvents(id, {
        startTime: args.since,
        endTime: args.until,
        eventType: args.type,
        pageToken,
        pageSize: 500,
      });
      for (const e of page.events ?? []) {
        ring.push(e);
        if (ring.length > args.limit) ring.shift();
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    const shown = args.reverse ? ring : ring.reverse();
    ctx.out.result({ events: shown }, () =>
      ctx.out.table(
        [
          { header: 'TIME', value: (e: SessionEvent) => e.timestamp },
          { header: 'TYPE', value: (e) => e.eventType },
          { header: 'DETAILS', value: (e) => Object.entries(e.details ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') },
        ],
        shown,
        'no events',
      ),
    );
  },
});
