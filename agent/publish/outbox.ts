/** One queued message as the publisher sees it. */
export interface OutboxMessage {
  /** strictly increasing; the publisher sends in this order */
  seq: number;
  /** suffix after `<prefix>/<device>/` */
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
}

/**
 * What the publisher needs from durable storage. Structural so that publish does not depend on how events are
 * stored (agent/events' EventStore satisfies it, for a single reader); deleteOutbox is called once the broker has
 * acknowledged a message. In the agent the publisher reads its sink's view (sinks/sink.ts), where that moves
 * MQTT's cursor and the row goes once every sink has passed it.
 */
export interface Outbox {
  peekOutbox(afterSeq: number, limit: number): OutboxMessage[];
  deleteOutbox(seq: number): void;
  outboxDepth(): number;
}
