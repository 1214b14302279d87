import { readFileSync } from "node:fs";
import {
  ReasonCodes,
  connect,
  type IClientOptions,
  type IClientPublishOptions,
  type IConnackPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type MqttClient,
} from "mqtt";
import type { Logger } from "pino";
import { brokerUrlProblem } from "../config/broker-url.js";
import type { MqttConfig } from "../config/schema.js";
import type { Outbox, OutboxMessage } from "./outbox.js";

export type MqttSettings = Pick<MqttConfig, "url" | "topic_prefix" | "username" | "password" | "client_id" | "keepalive" | "reconnect_seconds"> &
  Partial<Pick<MqttConfig, "tls" | "session_expiry_seconds">>;

/** Called for each message on a topic matching a subscribe() filter. */
export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

export interface OutboxPublisherOptions {
  outbox: Outbox;
  deviceId: string;
  mqtt: MqttSettings;
  log: Logger;
  /** most messages awaiting PUBACK at once (also capped by the broker's Receive Maximum); default 32 */
  window?: number;
  /** safety-net poll of the outbox when nobody calls notify(); default 1000 ms */
  pollMs?: number;
  /** turns a stored row into the payload sent (e.g. payload_format: deepstream); default the row's payload */
  encode?: (row: OutboxMessage) => string | Buffer;
}

/** A connection that ends sooner than this after it was made counts as flapping. */
const FLAP_MS = 10_000;

/** A publisher fault that is not the network's: a broker URL mqtt.js cannot use. */
export class PublishError extends Error {
  readonly code = "EVA_PUBLISH";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PublishError";
  }
}

/** The URL without user:password, for logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * Drains the outbox to MQTT in seq order, deleting a row only once the broker has acknowledged it. The outbox is
 * the source of truth: after any reconnect sending restarts at the first unacknowledged row, so a message may
 * arrive twice (same payload, same event id) but never out of order and never not at all.
 *
 * `<prefix>/<device>/status` is retained: `online` on connect, `offline` as the will, `stopped` on stop().
 */
export class OutboxPublisher {
  readonly statusTopic: string;
  private readonly topicBase: string;
  private readonly log: Logger;
  private readonly maxWindow: number;
  private readonly pollMs: number;

  private client: MqttClient | null = null;
  private isConnected = false;
  /** bumped on every connect/close: callbacks from an older connection are ignored */
  private epoch = 0;
  /** highest seq handed to mqtt.js on the current connection */
  private cursor = 0;
  private readonly inflight = new Set<number>();
  private window = 1;
  private pumpScheduled = false;
  /** after a refused message, and once stop() has flushed */
  private paused = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private refusals = 0;
  private lastRefusedSeq = 0;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private drainWaiters: Array<() => void> = [];

  // Logging state: one line per outage, not per retry or per message.
  private everConnected = false;
  private downSinceMs = Date.now();
  private attempts = 0;
  private lastReconnectLogMs = 0;
  private connectedAtMs = 0;
  private flaps = 0;
  private lastLossLogMs = 0;
  private lossLogged = false;
  private lastError: string | undefined;
  private readonly errorsLogged = new Set<string>();
  private depthLevel = 0;
  private readonly subscriptions: Array<{ filter: string; handler: MessageHandler; noLocal: boolean }> = [];
  private readonly connectListeners: Array<() => void> = [];

  constructor(private readonly opts: OutboxPublisherOptions) {
    this.topicBase = `${opts.mqtt.topic_prefix}/${opts.deviceId}`;
    this.statusTopic = `${this.topicBase}/status`;
    this.log = opts.log;
    this.maxWindow = Math.max(1, opts.window ?? 32);
    this.pollMs = opts.pollMs ?? 1000;
  }

  /** Whether the broker connection is up now. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Messages waiting in the outbox, including those sent but not yet acknowledged. Throws the outbox's error. */
  get depth(): number {
    return this.opts.outbox.outboxDepth();
  }

  /**
   * Starts connecting in the background. Never fails because the broker is down or unreachable: rows wait in the
   * outbox and mqtt.js keeps retrying. Throws PublishError only for a URL it cannot use at all.
   */
  start(): void {
    if (this.client || this.stopping) return;
    const m = this.opts.mqtt;
    const clientId = m.client_id ?? `eva-${this.opts.deviceId}`;
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId,
      // A persistent session with a stable client id: the broker keeps the command subscription and queues
      // commands sent while the link is down. Delivery of what we publish does not rest on it: the outbox is
      // resent from the first unacknowledged row after every reconnect (mqtt.js's own in-flight copies are
      // dropped), so a broker that lost the session loses nothing either.
      clean: false,
      // Maximum Packet Size: the broker drops anything bigger instead of sending it, so a huge command cannot
      // make us buffer it (commands over 16 KiB are refused anyway, with a reply).
      properties: { sessionExpiryInterval: m.session_expiry_seconds ?? 86_400, maximumPacketSize: 1 << 20 },
      keepalive: m.keepalive,
      reconnectPeriod: Math.round(m.reconnect_seconds * 1000),
      connectTimeout: 10_000,
      username: m.username,
      password: m.password,
      will: { topic: this.statusTopic, payload: Buffer.from("offline"), qos: 1, retain: true },
      ...tlsOptions(m),
      // Only the outbox queues: nothing is handed to mqtt.js while disconnected.
      queueQoSZero: false,
      resubscribe: false,
    };
    // mqtt.js takes an unknown scheme for mqtt:// on localhost:1883; say so instead of connecting somewhere else.
    const why = brokerUrlProblem(m.url);
    if (why) throw new PublishError(`mqtt.url ${redactUrl(m.url)}: ${why}`);
    this.log.info({ url: redactUrl(m.url), clientId, topic: this.topicBase }, "connecting to MQTT broker");
    let client: MqttClient;
    try {
      client = connect(m.url, options);
    } catch (err) {
      throw new PublishError(`mqtt.url ${redactUrl(m.url)}: ${(err as Error).message}`, { cause: err });
    }
    this.client = client;
    client.on("connect", (connack) => this.onConnect(client, connack));
    // Before mqtt.js's own handler, which arms the reconnect timer with the period onClose may change.
    client.prependListener("close", () => this.onClose(client));
    client.on("error", (err) => this.onError(err));
    client.on("reconnect", () => this.onReconnect());
    client.on("message", (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on("disconnect", (packet: IDisconnectPacket) => {
      const code = packet.reasonCode ?? 0;
      const why = packet.properties?.reasonString ?? ReasonCodes[code as keyof typeof ReasonCodes] ?? "";
      this.lastError = `broker sent DISCONNECT (reason ${code}${why ? `: ${why}` : ""})`;
    });
    this.pollTimer = setInterval(() => {
      this.pump();
      this.checkDepth();
    }, this.pollMs);
    this.pollTimer.unref();
  }

  /**
   * Routes messages on `<prefix>/<device>/<suffixFilter>` (MQTT wildcards allowed) to handler; subscribed with
   * QoS 1 on every connect. Register before start() so that commands queued by the broker are not missed.
   */
  subscribe(suffixFilter: string, handler: MessageHandler): void {
    this.subscribeTopic(`${this.topicBase}/${suffixFilter}`, handler, { noLocal: true });
  }

  /**
   * Like subscribe(), for a full topic filter outside the device's tree (Home Assistant's discovery and birth
   * topics). Without noLocal the agent also receives what it publishes there itself.
   */
  subscribeTopic(filter: string, handler: MessageHandler, opts: { noLocal?: boolean } = {}): void {
    const noLocal = opts.noLocal ?? false;
    this.subscriptions.push({ filter, handler, noLocal });
    if (this.client && this.isConnected) this.client.subscribe(filter, { qos: 1, nl: noLocal });
  }

  /** Called after every (re)connect, once `online` is on its way: for what must be published on each connection. */
  onConnected(listener: () => void): void {
    this.connectListeners.push(listener);
    if (this.isConnected) listener();
  }

  /** The full topic of a suffix under `<prefix>/<device>/`. */
  topic(suffix: string): string {
    return `${this.topicBase}/${suffix}`;
  }

  /**
   * Publishes now, bypassing the outbox, to a full topic: for messages only worth sending while connected
   * (command replies, stats, the latest snapshot). Resolves false when not connected or the broker refused it.
   */
  async publishLive(topic: string, payload: string | Buffer, opts: IClientPublishOptions): Promise<boolean> {
    const client = this.client;
    if (!client || !this.isConnected || this.stopping) return false;
    try {
      await client.publishAsync(topic, payload, opts);
      return true;
    } catch (err) {
      this.log.debug({ topic, err: (err as Error).message }, "live publish failed");
      return false;
    }
  }

  /** Call after enqueuing: wakes the publisher now instead of at the next poll. Cheap; calls coalesce. */
  notify(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Clean shutdown: while connected, keeps sending for up to flushTimeoutMs until the outbox is empty, then
   * publishes retained `stopped` and disconnects (a clean DISCONNECT, so the broker discards the will).
   * Whatever is left stays in the outbox for the next start.
   */
  stop(opts: { flushTimeoutMs?: number } = {}): Promise<void> {
    this.stopped ??= this.doStop(opts.flushTimeoutMs ?? 5000);
    return this.stopped;
  }

  private async doStop(flushTimeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    const client = this.client;
    if (!client) return;
    const deadline = Date.now() + flushTimeoutMs;
    if (this.isConnected) {
      this.pump();
      await this.waitDrained(flushTimeoutMs);
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.paused = true; // nothing new goes out from here on
    const left = this.safeDepth();
    if (this.isConnected) {
      try {
        await withTimeout(client.publishAsync(this.statusTopic, "stopped", { qos: 1, retain: true }), Math.max(deadline - Date.now(), 1000));
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "could not publish stopped status");
      }
    }
    // Unacknowledged messages stay in the outbox; drop mqtt.js's copies so end() does not wait for their acks.
    this.epoch++;
    this.dropClientInflight(client);
    const graceful = this.isConnected;
    try {
      await withTimeout(client.endAsync(!graceful), 2000);
    } catch {
      await client.endAsync(true);
    }
    this.log.info({ unsent: left }, "MQTT publisher stopped");
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client) return;
    this.isConnected = true;
    this.epoch++;
    this.cursor = 0;
    this.inflight.clear();
    // A fresh connection retries a refused message at once (the broker may have been reconfigured).
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.paused = this.stopping;
    this.refusals = 0;
    // MQTT 5 Receive Maximum: the broker may allow fewer unacknowledged QoS 1 messages than our window.
    const receiveMax = connack.properties?.receiveMaximum ?? Number.POSITIVE_INFINITY;
    this.window = Math.max(1, Math.min(this.maxWindow, receiveMax - 1));
    const depth = this.safeDepth();
    const now = Date.now();
    if (!this.everConnected) {
      this.log.info({ url: redactUrl(this.opts.mqtt.url), depth }, "MQTT broker connected");
    } else {
      const fields = { downSeconds: Math.round((now - this.downSinceMs) / 1000), attempts: this.attempts, depth };
      if (this.lossLogged) this.log.info(fields, "MQTT broker reconnected");
      else this.log.debug(fields, "MQTT broker reconnected");
    }
    this.everConnected = true;
    this.connectedAtMs = now;
    this.attempts = 0;
    this.errorsLogged.clear();
    this.lastError = undefined;
    const epoch = this.epoch;
    client.publish(this.statusTopic, "online", { qos: 1, retain: true }, (err) => {
      if (err && epoch === this.epoch) this.log.warn({ err: err.message }, "could not publish online status");
    });
    for (const { filter, noLocal } of this.subscriptions) {
      // No Local: a reply the agent sends to a response topic under its own cmd/ never comes back as a command.
      client.subscribe(filter, { qos: 1, nl: noLocal }, (err, granted) => {
        const refused = err ?? (granted?.some((g) => g.qos >= 0x80) ? new Error("subscription refused by the broker") : null);
        if (refused && epoch === this.epoch) this.log.error({ filter, err: refused.message }, "could not subscribe");
      });
    }
    for (const listener of this.connectListeners) {
      try {
        listener();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "MQTT connect listener failed");
      }
    }
    this.pump();
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    const wasConnected = this.isConnected;
    this.isConnected = false;
    this.epoch++;
    // mqtt.js keeps unacknowledged QoS 1 publishes and resends them first on reconnect; the outbox already holds
    // them, so drop mqtt.js's copies and resend from the first unacknowledged row: in order, and only once.
    this.dropClientInflight(client);
    const unacked = this.inflight.size;
    this.inflight.clear();
    this.cursor = 0;
    if (wasConnected) {
      const now = Date.now();
      this.downSinceMs = now;
      // A connection dropped within seconds, again and again (mosquitto 2.0.11 with max_queued_messages 0 does
      // that after denying a QoS 1 publish; so does a second agent with our client id) must neither hammer the
      // broker nor flood the log: back off up to a minute, and log such losses once a minute.
      const flapping = now - this.connectedAtMs < FLAP_MS;
      this.flaps = flapping ? this.flaps + 1 : 0;
      const base = Math.round(this.opts.mqtt.reconnect_seconds * 1000);
      client.options.reconnectPeriod = flapping ? Math.min(60_000, base * 2 ** Math.min(this.flaps, 16)) : base;
      const fields = { reason: this.lastError ?? "connection closed", unacked, ...(this.flaps > 1 ? { flaps: this.flaps } : {}) };
      this.lossLogged = !this.stopping && (!flapping || now - this.lastLossLogMs >= 60_000);
      if (this.lossLogged) {
        this.lastLossLogMs = now;
        this.log.warn(fields, "MQTT broker connection lost");
      } else {
        this.log.debug(fields, "MQTT connection closed");
      }
    }
    this.resolveDrainWaiters();
  }

  private onError(err: Error & { code?: string | number }): void {
    const message = err.message;
    this.lastError = message;
    if (this.isConnected) {
      // A socket error while connected is followed by 'close', which logs the loss with this reason.
      this.log.debug({ err: message, code: err.code }, "MQTT client error");
      return;
    }
    if (this.errorsLogged.has(message)) {
      this.log.debug({ err: message }, "MQTT connect failed");
      return;
    }
    this.errorsLogged.add(message);
    // Refused credentials will not fix themselves: an installer has to act.
    const refused = typeof err.code === "number" && [4, 5, 134, 135, 138].includes(err.code);
    const fields = { err: message, code: err.code, url: redactUrl(this.opts.mqtt.url) };
    if (refused) this.log.error(fields, "MQTT broker refused the connection");
    else this.log.warn(fields, "MQTT broker unreachable; events wait in the outbox");
  }

  private onReconnect(): void {
    this.attempts++;
    const now = Date.now();
    const fields = { attempt: this.attempts, downSeconds: Math.round((now - this.downSinceMs) / 1000), reason: this.lastError };
    // Retries every reconnect_seconds would flood the log during a long outage: at most one info line a minute.
    if ((this.attempts === 1 && (this.lossLogged || !this.everConnected)) || now - this.lastReconnectLogMs >= 60_000) {
      this.lastReconnectLogMs = now;
      this.log.info(fields, "reconnecting to MQTT broker");
    } else {
      this.log.debug(fields, "reconnecting to MQTT broker");
    }
  }

  private pump(): void {
    const client = this.client;
    if (!client || !this.isConnected || !client.connected || this.paused) return;
    try {
      while (this.inflight.size < this.window) {
        const rows = this.opts.outbox.peekOutbox(this.cursor, this.window - this.inflight.size);
        if (rows.length === 0) break;
        for (const row of rows) this.send(client, row);
      }
    } catch (err) {
      // A store fault (disk, lock): nothing was lost, the next poll tries again.
      this.log.error({ err: (err as Error).message, code: (err as { code?: string }).code }, "reading the outbox failed");
    }
    this.checkDrained();
  }

  private send(client: MqttClient, row: OutboxMessage): void {
    const epoch = this.epoch;
    this.cursor = row.seq;
    this.inflight.add(row.seq);
    let payload: string | Buffer = row.payload;
    if (this.opts.encode) {
      try {
        payload = this.opts.encode(row);
      } catch (err) {
        // A row the encoder cannot read goes out as stored rather than blocking the queue behind it.
        this.log.error({ seq: row.seq, topic: row.topic, err: (err as Error).message }, "could not encode an outbox message; sent as stored");
      }
    }
    client.publish(`${this.topicBase}/${row.topic}`, payload, { qos: row.qos, retain: row.retain }, (err) => this.onAck(epoch, row, err));
  }

  private onAck(epoch: number, row: OutboxMessage, err: Error | undefined): void {
    // An ack from a connection that is gone: the row is resent from the outbox on the current one.
    if (epoch !== this.epoch) return;
    this.inflight.delete(row.seq);
    if (err) {
      this.onRefused(row, err);
      return;
    }
    this.refusals = 0;
    try {
      this.opts.outbox.deleteOutbox(row.seq);
    } catch (e) {
      this.log.error({ seq: row.seq, err: (e as Error).message }, "deleting a delivered message failed; it will be sent again");
    }
    this.notify();
  }

  /**
   * The broker refused a message (MQTT 5 PUBACK reason ≥ 0x80, e.g. not authorised for the topic). The row stays:
   * a stuck queue that the log and `depth` show is better than a lost event, and fixing the broker's ACL lets
   * everything through in order. Retries back off to once a minute; the error is logged once per row.
   */
  private onRefused(row: OutboxMessage, err: Error): void {
    const fields = { seq: row.seq, topic: `${this.topicBase}/${row.topic}`, err: err.message, code: (err as { code?: unknown }).code };
    if (row.seq !== this.lastRefusedSeq) this.log.error(fields, "MQTT broker refused a message; it stays queued and is retried");
    else this.log.debug(fields, "MQTT broker refused a message again");
    this.lastRefusedSeq = row.seq;
    this.refusals++;
    // Restart the window from the refused row once the delay is over; acks still due on this one are ignored
    // and their rows sent again (duplicates with the same id, never a gap).
    this.epoch++;
    this.inflight.clear();
    this.cursor = 0;
    this.paused = true;
    const delay = Math.min(60_000, this.opts.mqtt.reconnect_seconds * 1000 * 2 ** Math.min(this.refusals - 1, 16));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopping) return;
      this.paused = false;
      this.pump();
    }, delay);
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    for (const { filter, handler } of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      try {
        handler(topic, payload, packet);
      } catch (err) {
        // A handler fault must never take the connection (and the outbox behind it) down.
        this.log.error({ topic, err: (err as Error).message }, "MQTT message handler failed");
      }
    }
  }

  private dropClientInflight(client: MqttClient): void {
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
  }

  private safeDepth(): number | undefined {
    try {
      return this.opts.outbox.outboxDepth();
    } catch {
      return undefined;
    }
  }

  /**
   * Logs when the backlog passes 100, 1000, 10000… and once when it is empty again. Not from 10: a burst of
   * events on a healthy link reaches that for a moment.
   */
  private checkDepth(): void {
    const depth = this.safeDepth();
    if (depth === undefined) return;
    const level = depth >= 100 ? Math.floor(Math.log10(depth)) : 0;
    if (level > this.depthLevel) {
      this.depthLevel = level;
      this.log.warn({ depth, connected: this.isConnected }, "MQTT outbox backlog growing");
    } else if (depth === 0 && this.depthLevel > 0) {
      this.depthLevel = 0;
      this.log.info("MQTT outbox drained");
    }
  }

  private isDrained(): boolean {
    if (!this.isConnected) return true; // nothing more can be flushed
    if (this.inflight.size > 0) return false;
    try {
      return this.opts.outbox.peekOutbox(0, 1).length === 0;
    } catch {
      return true;
    }
  }

  private checkDrained(): void {
    if (this.drainWaiters.length > 0 && this.isDrained()) this.resolveDrainWaiters();
  }

  private resolveDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private waitDrained(timeoutMs: number): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.drainWaiters.push(done);
    });
  }
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** mqtt.js TLS options from mqtt.tls; files are read now, so a missing one is a PublishError at start. */
function tlsOptions(m: MqttSettings): Partial<IClientOptions> {
  const tls = m.tls;
  if (!tls) return {};
  const read = (key: "ca" | "cert" | "key"): Buffer | undefined => {
    const file = tls[key];
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new PublishError(`mqtt.tls.${key}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const out: Partial<IClientOptions> = { rejectUnauthorized: tls.reject_unauthorized };
  const ca = read("ca");
  const cert = read("cert");
  const key = read("key");
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (tls.servername) out.servername = tls.servername;
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
