// `aether bus publish TOPIC JSON` and `aether bus tail [--topic T]... [--replay N]`: the session
// message bus (POST …/bus:publish, the NDJSON stream GET …/bus). `tail` streams until Ctrl-C (or
// --max messages); with --json it prints NDJSON, one message per line.
// Callers: cli/commands/index.ts.
import type { BusMessage } from '../../client/index.js';
import { UserError } from '../../shared/errors.js';
import { collect, defineCommand, intOption } from '../command.js';
import { readAll } from '../io.js';
import { utf8OrUndefined } from './kv.js';

export const busPublish = defineCommand<{ topic: string; payload?: string; raw: boolean; session?: string }>({
  name: 'publish <topic> [payload]',
  summary: 'publish a JSON message on a topic (payload or stdin)',
  description: 'Publish a message (POST /v1/sessions/{id}/bus:publish). PAYLOAD must be JSON unless --raw; without it, stdin is read.',
  examples: ['aether bus publish review:status \'{"status":"ready-for-approval"}\'', 'echo \'{"passed":128,"failed":0}\' | aether bus publish tests:complete'],
  json: true,
  session: true,
  configure: (cmd) => cmd.option('--raw', 'send the payload bytes as they are, without checking they are JSON'),
  parse: ([topic, payload], o) => ({ topic: topic!, payload, raw: Boolean(o.raw), session: o.session as string | undefined }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    let bytes: Buffer;
    if (args.payload !== undefined) bytes = Buffer.from(args.payload, 'utf8');
    else {
      if (ctx.io.stdinIsTTY) throw new UserError('AETHER_BAD_ARGUMENT', 'give the payload as an argument or on stdin');
      bytes = await readAll(ctx.io.stdin);
    }
    if (!args.raw) {
      try {
        JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new UserError('AETHER_BAD_ARGUMENT', 'the payload is not valid JSON', { hint: 'quote it for the shell, or pass --raw to send arbitrary bytes' });
      }
    }
    await (await ctx.client()).busPublish(id, { topic: args.topic, payload: bytes });
    ctx.out.result({ sessionId: id, topic: args.topic, bytes: bytes.length }, () => ctx.out.line(`published to ${args.topic} (${bytes.length} bytes)`));
  },
});

/** A bus message as printed by `bus tail --json`: the wire fields, plus `text` when UTF-8. */
export function messageJson(m: BusMessage): Record<string, unknown> {
  const text = utf8OrUndefined(m.payload);
  return {
    messageId: m.messageId,
    sessionId: m.sessionId,
    topic: m.topic,
    payload: m.payload.toString('base64'),
    ...(text !== undefined ? { text } : {}),
    senderId: m.senderId ?? '',
    publishedAt: m.publishedAt,
  };
}

export interface BusTailArgs {
  topics?: string[];
  replay?: number;
  after?: string;
  max?: number;
  session?: string;
}

export const busTail = defineCommand<BusTailArgs>({
  name: 'tail',
  summary: 'stream bus messages until Ctrl-C',
  description:
    'Subscribe to the session bus (GET /v1/sessions/{id}/bus) and print messages as they arrive:\n' +
    'human lines, or NDJSON with --json. --replay N first replays the last N stored messages.',
  examples: ['aether bus tail', 'aether bus tail --topic review:status --topic tests:complete --replay 2', 'aether bus tail --json --max 1 | jq .text'],
  json: true,
  session: true,
  configure: (cmd) =>
    cmd
      .option('--topic <topic>', 'only this topic (repeatable)', collect)
      .option('--replay <n>', 'replay the last N stored messages first', intOption('--replay'))
      .option('--after <message-id>', 'replay only messages published after this one')
      .option('--max <n>', 'exit after N messages', intOption('--max', 1)),
  parse: (_ops, o) => ({
    topics: o.topic as string[] | undefined,
    replay: o.replay as number | undefined,
    after: o.after as string | undefined,
    max: o.max as number | undefined,
    session: o.session as string | undefined,
  }),
  handler: async (args, ctx) => {
    const id = await ctx.sessionId(args.session);
    const client = await ctx.client();
    const signal = ctx.interruptSignal();
    // Fail fast (exit 3/5/6) before announcing anything: the stream itself only reports on first read.
    await client.getSession(id, { signal });
    ctx.out.note(`listening on ${id}${args.topics ? ` (topics: ${args.topics.join(', ')})` : ''}; Ctrl-C to stop`);
    const c = ctx.out.colors;
    let n = 0;
    const stream = client.busSubscribe(id, {
      topics: args.topics,
      ...(args.replay !== undefined ? { replayLimit: args.replay } : {}),
      ...(args.after ? { replayAfterMessageId: args.after } : {}),
      signal,
    });
    for await (const m of stream) {
      if (ctx.out.json) ctx.out.jsonLine(messageJson(m));
      else {
        const text = utf8OrUndefined(m.payload);
        ctx.out.line(`${c.dim(m.publishedAt)}  ${c.cyan(m.topic)}  ${m.senderId ?? ''}  ${text !== undefined ? text.replace(/\n/g, ' ') : `base64:${m.payload.toString('base64')}`}`);
      }
      if (args.max !== undefined && ++n >= args.max) break;
      if (signal.aborted) break;
    }
    return 0;
  },
});

export const busGroup = defineCommand({
  name: 'bus',
  summary: 'publish and tail session bus messages',
  examples: ['aether bus publish review:status \'{"status":"ready"}\'', 'aether bus tail --topic review:status'],
  subcommands: [busPublish, busTail],
});
