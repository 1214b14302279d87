import { randomBytes } from "node:crypto";
import { connect, type MqttClient } from "mqtt";

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/**
 * Subscribes (QoS 1) to a topic filter and keeps every message. MQTT 3.1.1 with clean: false and a stable id, so
 * with a persistent broker (test/support/broker.ts) nothing published while the broker restarts is lost to it.
 */
export class MessageCollector {
  readonly messages: Received[] = [];
  private waiters: Array<() => void> = [];

  private constructor(private readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), retain: packet.retain });
      for (const w of this.waiters) w();
    });
  }

  static async subscribe(url: string, filter: string): Promise<MessageCollector> {
    const client = connect(url, {
      protocolVersion: 4,
      clientId: `test-sub-${randomBytes(4).toString("hex")}`,
      clean: false,
      reconnectPeriod: 100,
      connectTimeout: 2000,
    });
    client.on("error", () => {}); // reconnects on its own; tests assert on messages, not on errors
    const c = new MessageCollector(client);
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => client.subscribe(filter, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    });
    return c;
  }

  /** Messages on exactly this topic. */
  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Resolves once `pred` holds for the messages so far; rejects after timeoutMs with what arrived. */
  until(pred: (messages: Received[]) => boolean, timeoutMs = 5000, what = "condition"): Promise<Received[]> {
    if (pred(this.messages)) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(this.messages)) return;
        done();
        resolve(this.messages);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.messages.length} messages`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
    });
  }

  /** Waits for at least n messages in all. */
  waitFor(n: number, timeoutMs = 5000): Promise<Received[]> {
    return this.until((m) => m.length >= n, timeoutMs, `${n} messages`);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Reads the retained message on a topic (a fresh subscription gets it at once), or undefined if none comes. */
export async function retained(url: string, topic: string, timeoutMs = 1000): Promise<string | undefined> {
  const client = connect(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      client.once("error", reject);
      client.on("message", (t, payload, packet) => {
        if (t === topic && packet.retain) {
          clearTimeout(timer);
          resolve(payload.toString());
        }
      });
      client.once("connect", () => client.subscribe(topic, { qos: 1 }));
    });
  } finally {
    await client.endAsync(true);
  }
}

/**
 * Every retained message under a topic filter, as a fresh subscriber gets them (topic → payload); waits until
 * no new one has come for settleMs. Empty payloads are not retained messages (they delete one).
 */
export async function retainedMessages(url: string, filter: string, settleMs = 700): Promise<Map<string, Buffer>> {
  const client = connect(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  const got = new Map<string, Buffer>();
  try {
    await new Promise<void>((resolve, reject) => {
      let timer = setTimeout(resolve, settleMs);
      client.once("error", reject);
      client.on("message", (t, payload, packet) => {
        if (!packet.retain || !payload.length) return;
        got.set(t, payload);
        clearTimeout(timer);
        timer = setTimeout(resolve, settleMs);
      });
      client.once("connect", () => client.subscribe(filter, { qos: 1 }));
    });
  } finally {
    await client.endAsync(true);
  }
  return got;
}

/** Publishes one message and waits for the broker's PUBACK. */
export async function publishOnce(url: string, topic: string, payload: string | Buffer, opts: { retain?: boolean } = {}): Promise<void> {
  const client = connect(url, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once("error", reject);
      client.once("connect", () => resolve());
    });
    await client.publishAsync(topic, payload, { qos: 1, retain: opts.retain ?? false });
  } finally {
    await client.endAsync();
  }
}
