import type { IPublishPacket } from "mqtt";
import type { Logger } from "pino";
import { clip, handleCommand, MAX_COMMAND_BYTES, type CommandTarget } from "./commands.js";
import type { OutboxPublisher } from "./outbox-publisher.js";
import type { CommandReply } from "./payload-schemas.js";
import { commandResultTopic, COMMANDS } from "./topics.js";

/** Commands running at once; past this a command is answered `failed` (busy) at once instead of queueing. */
const MAX_PENDING = 64;

/**
 * The MQTT side of commands: subscribes to `<prefix>/<device>/cmd/+`, runs each through handleCommand and
 * replies on the MQTT v5 response topic with the request's correlation data, or, for MQTT 3.1.1 clients (no
 * response topic), on `cmd/<name>/result`. Replies are not queued in the outbox: a requester that has gone
 * away needs no answer after a restart.
 */
export class CommandChannel {
  private pending = 0;
  private handled = 0;
  private lastLogMs = 0;

  constructor(
    private readonly publisher: OutboxPublisher,
    private readonly target: CommandTarget,
    private readonly log: Logger,
    private readonly maxBytes = MAX_COMMAND_BYTES,
  ) {}

  /** Call before publisher.start(), so commands the broker kept for the session are not missed. */
  attach(): void {
    this.publisher.subscribe(`${COMMANDS}/+`, (topic, payload, packet) => this.onCommand(topic, payload, packet));
  }

  get commandsHandled(): number {
    return this.handled;
  }

  private onCommand(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const name = topic.slice(topic.lastIndexOf("/") + 1);
    // Retained commands would run again on every reconnect: refuse them (the sender should not retain).
    if (packet.retain) {
      this.reply(name, packet, {
        command: clip(name),
        request_id: null,
        ok: false,
        error: { code: "invalid_params", message: "retained commands are not run" },
      });
      return;
    }
    if (this.pending >= MAX_PENDING) {
      this.reply(name, packet, { command: clip(name), request_id: null, ok: false, error: { code: "failed", message: "busy: too many commands running" } });
      return;
    }
    this.pending++;
    void handleCommand(this.target, name, payload, this.maxBytes)
      .then((reply) => {
        this.handled++;
        this.logOutcome(reply);
        this.reply(name, packet, reply);
      })
      .finally(() => this.pending--);
  }

  private logOutcome(reply: CommandReply): void {
    const fields = { command: reply.command, requestId: reply.request_id, ok: reply.ok, ...(reply.ok ? {} : { error: reply.error.code }) };
    if (reply.ok) {
      this.log.info(fields, "command done");
      return;
    }
    // A flood of bad commands must not flood the log: one info line a second, the rest at debug.
    const now = Date.now();
    if (now - this.lastLogMs >= 1000) {
      this.lastLogMs = now;
      this.log.info(fields, "command refused");
    } else {
      this.log.debug(fields, "command refused");
    }
  }

  private reply(name: string, packet: IPublishPacket, reply: CommandReply): void {
    const props = packet.properties;
    const responseTopic = props?.responseTopic;
    const body = JSON.stringify(reply);
    // Any name that arrived in a topic level is valid in the result topic (no wildcards can reach us).
    const topic = responseTopic ?? this.publisher.topic(commandResultTopic(name));
    const properties = props?.correlationData ? { correlationData: props.correlationData } : undefined;
    void this.publisher.publishLive(topic, body, { qos: 1, retain: false, ...(properties ? { properties } : {}) });
  }
}
