import type { Logger } from "pino";
import type { Config } from "../../config/schema.js";
import { deepStreamEncoder } from "../deepstream.js";
import { OutboxPublisher } from "../outbox-publisher.js";
import type { Sink, SinkFigures, SinkOutbox } from "./sink.js";

/**
 * The control room's MQTT broker as a sink: OutboxPublisher reading this sink's view of the outbox. The
 * control-room API, commands and Home Assistant ride on its publisher.
 */
export class MqttSink implements Sink {
  readonly name = "mqtt";
  readonly publisher: OutboxPublisher;

  constructor(
    private readonly outbox: SinkOutbox,
    cfg: Config,
    log: Logger,
  ) {
    this.publisher = new OutboxPublisher({
      mqtt: cfg.mqtt,
      deviceId: cfg.device.id,
      outbox,
      log,
      ...(cfg.mqtt.payload_format === "deepstream" ? { encode: deepStreamEncoder({ deviceName: cfg.device.name }) } : {}),
    });
  }

  start(): void {
    this.publisher.start();
  }

  notify(): void {
    this.publisher.notify();
  }

  stop(flushTimeoutMs: number): Promise<void> {
    return this.publisher.stop({ flushTimeoutMs });
  }

  figures(): SinkFigures {
    let lag: number | null = null;
    try {
      lag = this.outbox.outboxDepth();
    } catch {
      // shown as null for this read
    }
    // A refused message stays queued and is retried (see OutboxPublisher): MQTT never dead-letters.
    return { lag, up: this.publisher.connected, delivered: this.outbox.acknowledged, errors: 0, dead_lettered: 0 };
  }
}
