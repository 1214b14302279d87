import { readFileSync } from "node:fs";
import { connect, type IClientOptions, type ISubscriptionMap, type MqttClient } from "mqtt";
import pg from "pg";
import type { Logger } from "pino";
import { IngestMetrics } from "./metrics.js";
import { RecordError, RECORD_KINDS, recordKind, toRow } from "./records.js";
import { migrate } from "./schema.js";
import { batchStatement, writeBatch, type Batch, type BatchStatement, type DeadLetter, type DeviceUpdate } from "./writer.js";
import { postgresConnectionString, type IngestConfig } from "./config.js";

/** One MQTT connection of the ingest; `generation` grows with every connection it makes. */
interface Lane {
  client: MqttClient;
  generation: number;
}

interface Pending {
  lane: Lane;
  /** the connection the message came on: a PUBACK on a later one could name a different message */
  generation: number;
  messageId: number | undefined;
  topic: string;
  message: Buffer;
  item: { row: ReturnType<typeof toRow> } | { dead: DeadLetter } | { device: DeviceUpdate };
}

/** Handed to mqtt.js's handleMessage callback: it moves on to the next packet without sending the PUBACK. */
const HELD = Object.assign(new Error("held until committed"), { code: "EVA_INGEST_HELD" });

const STATUS_VALUES = new Set(["online", "offline", "stopped"]);

const SEEN_RESOLUTION_MS = 1000;

/**
 * The control room's writer: MQTT 5 shared subscriptions in persistent sessions deliver each device message to
 * one ingest of the group; rows are written to PostgreSQL in batches, and each message is acknowledged only
 * once its batch is committed, so a crash or a database outage leaves the broker holding what is not stored.
 *
 * mqtt.js reads a connection's next packet only once the previous message is handled, and sends the PUBACK as
 * it moves on; its handleMessage hook is told "held" instead, so a connection holds as many messages as the broker
 * sends before their acknowledgement (mosquitto's max_inflight_messages, the client's receive maximum), and the
 * PUBACKs go out once their batch has committed. Batches are group commits: while one is being written, the next
 * gathers.
 */
export class Ingest {
  readonly metrics = new IngestMetrics();
  private readonly pool: pg.Pool;
  private readonly lanes: Lane[] = [];
  private readonly statement: BatchStatement;
  /** when each device's last_seen was last written by this process */
  private readonly seenWritten = new Map<string, number>();
  private pending: Pending[] = [];
  private flushing: Promise<unknown> | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs = 0;
  private stopping = false;
  private postgresUp = false;
  private readonly loggedDead = new Set<string>();
  private readonly prefixParts: number;

  constructor(
    private readonly cfg: IngestConfig,
    private readonly log: Logger,
  ) {
    this.pool = new pg.Pool({
      connectionString: postgresConnectionString(cfg),
      max: 4,
      ssl: cfg.postgres.ssl
        ? {
            ca: cfg.postgres.ssl.ca ? readFileSync(cfg.postgres.ssl.ca, "utf8") : undefined,
            cert: cfg.postgres.ssl.cert ? readFileSync(cfg.postgres.ssl.cert, "utf8") : undefined,
            key: cfg.postgres.ssl.key ? readFileSync(cfg.postgres.ssl.key, "utf8") : undefined,
            rejectUnauthorized: cfg.postgres.ssl.reject_unauthorized,
          }
        : undefined,
      connectionTimeoutMillis: 5000,
    });
    // An idle connection that dies (server restart) is an event here, not a crash; the next query reconnects.
    this.pool.on("error", (err) => this.log.debug({ err: err.message }, "idle PostgreSQL connection lost"));
    this.prefixParts = cfg.prefix.split("/").length;
    this.metrics.bind(() => ({ pending: this.pending.length, postgresUp: this.postgresUp, connected: this.connected() }));
    this.statement = batchStatement(RECORD_KINDS);
  }

  /** Topic filters of the shared subscription, one per stored topic. */
  filters(): string[] {
    const topics = [...RECORD_KINDS.map((k) => k.topic), "stats", "config"];
    return topics.map((t) => `$share/${this.cfg.group}/${this.cfg.prefix}/+/${t}`);
  }

  async start(): Promise<void> {
    await this.migrateWithRetry();
    for (let i = 0; i < this.cfg.lanes; i++) this.lanes.push(this.openLane(i));
    await Promise.all(this.lanes.map(({ client }) => new Promise<void>((resolve) => (client.connected ? resolve() : client.once("connect", () => resolve())))));
    this.log.info({ group: this.cfg.group, lanes: this.cfg.lanes, filters: this.filters() }, "ingest subscribed");
  }

  health(): { healthy: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.postgresUp) reasons.push("PostgreSQL unreachable: messages stay unacknowledged at the broker");
    if (this.connected() === 0) reasons.push("no MQTT connection");
    return { healthy: reasons.length === 0, reasons };
  }

  private async migrateWithRetry(): Promise<void> {
    let delay = 250;
    for (;;) {
      try {
        const { applied, postgis } = await migrate(this.pool, this.log);
        this.postgresUp = true;
        this.log.info({ applied, postgis }, "schema current");
        return;
      } catch (err) {
        if (this.stopping) throw err;
        if (!isConnectionError(err)) throw err;
        this.log.warn({ err: (err as Error).message, retry_ms: delay }, "PostgreSQL not reachable at start; retrying");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private connected(): number {
    return this.lanes.filter((l) => l.client.connected).length;
  }

  private openLane(i: number): Lane {
    const m = this.cfg.mqtt;
    const opts: IClientOptions = {
      protocolVersion: 5,
      clientId: `${this.cfg.client_id}-${i}`,
      clean: false,
      properties: { sessionExpiryInterval: this.cfg.session_expiry_seconds, receiveMaximum: this.cfg.receive_maximum },
      reconnectPeriod: 1000,
      resubscribe: false,
      connectTimeout: 10_000,
      username: m.username,
      password: m.password,
      ca: m.ca ? readFileSync(m.ca) : undefined,
      cert: m.cert ? readFileSync(m.cert) : undefined,
      key: m.key ? readFileSync(m.key) : undefined,
      rejectUnauthorized: m.reject_unauthorized,
    };
    const client = connect(m.url, opts);
    const lane: Lane = { client, generation: 0 };
    // mqtt.js sends no PUBACK when handleMessage's callback gets an error, and reads the next packet all the same
    // (mqtt 5.16, handlers/publish.js); ack() sends it after the commit.
    client.handleMessage = (packet, callback) => {
      if (packet.cmd === "publish" && packet.qos > 0) {
        this.accept(lane, packet.topic, packet.payload as Buffer, packet.messageId);
        callback(HELD);
      } else callback();
    };
    client.on("connect", (connack) => {
      this.log.info({ lane: i, session_present: connack.sessionPresent }, "MQTT connected");
      // Subscribe again on every connect, even into a resumed session: mosquitto 2.0 does not restore shared
      // subscriptions from its persistence file, and mqtt.js skips topics it thinks the session holds unless told.
      const subs: ISubscriptionMap = Object.fromEntries(this.filters().map((f) => [f, { qos: 1 as const }]));
      subs.resubscribe = true;
      // Retained status is not sent to shared subscriptions: every ingest reads it itself (one lane), idempotently.
      if (i === 0) subs[`${this.cfg.prefix}/+/status`] = { qos: 1 };
      client.subscribe(subs, (err) => {
        if (err) this.log.error({ lane: i, err: err.message }, "MQTT subscribe failed");
        else this.log.info({ lane: i }, "MQTT subscribed");
      });
    });
    // What this connection held unacknowledged the broker sends again on the next one (same session).
    client.on("close", () => lane.generation++);
    client.on("error", (err) => this.log.warn({ lane: i, err: err.message }, "MQTT error"));
    client.on("offline", () => this.log.debug({ lane: i }, "MQTT offline"));
    return lane;
  }

  /** One message from a lane: parsed now, acknowledged when its batch is committed. */
  private accept(lane: Lane, topic: string, message: Buffer, messageId: number | undefined): void {
    if (this.stopping) return; // never acknowledged: the broker redelivers it to the session's next connection
    this.metrics.received();
    this.pending.push({ lane, generation: lane.generation, messageId, topic, message, item: this.classify(topic, message) });
    this.schedule();
  }

  /** The PUBACK, on the connection the message came on only; after a reconnect the broker sends it again. */
  private ack(p: Pending): void {
    const { client } = p.lane;
    if (p.messageId === undefined || p.generation !== p.lane.generation || !client.connected) return;
    (client as unknown as { _sendPacket(packet: object): void })._sendPacket({ cmd: "puback", messageId: p.messageId, reasonCode: 0 });
  }

  private classify(topic: string, message: Buffer): Pending["item"] {
    const dead = (reason: string, detail: string): Pending["item"] => {
      this.metrics.deadLetter(reason);
      const once = `${reason}:${topic
        .split("/")
        .slice(this.prefixParts + 1)
        .join("/")}`;
      if (!this.loggedDead.has(once)) {
        this.loggedDead.add(once);
        this.log.warn({ topic, reason, detail }, "message kept in dead_letters (logged once per reason and topic kind)");
      }
      const keep = message.length <= this.cfg.max_message_bytes;
      return { dead: { topic, reason, bytes: message.length, payload: keep ? message : message.subarray(0, 1024) } };
    };
    const parts = topic.split("/");
    const device = parts[this.prefixParts];
    const suffix = parts.slice(this.prefixParts + 1).join("/");
    if (parts.slice(0, this.prefixParts).join("/") !== this.cfg.prefix || !device) return dead("foreign_topic", "not under <prefix>/<device>/");
    if (message.length > this.cfg.max_message_bytes) return dead("oversized", `${message.length} bytes > max_message_bytes ${this.cfg.max_message_bytes}`);
    if (suffix === "status") {
      const s = message.toString("utf8");
      if (!STATUS_VALUES.has(s)) return dead("invalid_record", `status '${s.slice(0, 40)}' is not online, offline or stopped`);
      return { device: { device, status: s, seen: s === "online" } };
    }
    let payload: unknown;
    try {
      payload = JSON.parse(message.toString("utf8"));
    } catch (err) {
      return dead("bad_json", (err as Error).message);
    }
    if (suffix === "stats" || suffix === "config") {
      const p = (payload ?? {}) as Record<string, unknown>;
      return {
        device: {
          device,
          version: suffix === "stats" && typeof p.version === "string" ? p.version : undefined,
          configHash: suffix === "config" && p.result === "applied" && typeof p.hash === "string" ? p.hash : undefined,
        },
      };
    }
    const kind = recordKind(suffix);
    if (!kind) return dead("foreign_topic", `no record kind '${suffix}'`);
    try {
      return { row: toRow(kind, device, payload) };
    } catch (err) {
      if (err instanceof RecordError) return dead("invalid_record", `${kind.topic}: ${err.message}`);
      throw err;
    }
  }

  /**
   * A group commit: when nothing is being written, the batch goes after linger_ms (at once when full); while one
   * is being written, the next gathers and goes as soon as it is done.
   */
  private schedule(): void {
    if (this.flushing || this.retryTimer || this.stopping) return;
    if (this.pending.length >= this.cfg.batch.max_messages) {
      this.flush();
      return;
    }
    this.lingerTimer ??= setTimeout(() => this.flush(), this.cfg.batch.linger_ms);
  }

  private flush(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (this.flushing || !this.pending.length) return;
    const taken = this.pending.splice(0, this.cfg.batch.max_messages);
    this.flushing = this.commit(taken).finally(() => {
      this.flushing = null;
      if (this.pending.length && !this.retryTimer && !this.stopping) this.flush();
    });
  }

  private batchOf(taken: Pending[], now: number): Batch {
    const batch: Batch = { rows: [], deadLetters: [], devices: [] };
    const seen = new Set<string>();
    for (const p of taken) {
      if ("row" in p.item) {
        batch.rows.push(p.item.row);
        seen.add(p.item.row.device);
      } else if ("dead" in p.item) batch.deadLetters.push(p.item.dead);
      else batch.devices.push(p.item.device);
    }
    // last_seen to the second: rewriting every device's row in every batch would make the ingests of a group
    // queue on the same row locks.
    for (const device of seen) {
      if (now - (this.seenWritten.get(device) ?? 0) < SEEN_RESOLUTION_MS) continue;
      this.seenWritten.set(device, now);
      batch.devices.push({ device });
    }
    return batch;
  }

  /** false when PostgreSQL could not be reached: the messages are back in `pending` and a retry is due. */
  private async commit(taken: Pending[]): Promise<boolean> {
    const t0 = process.hrtime.bigint();
    const batch = this.batchOf(taken, Date.now());
    try {
      const { written } = await writeBatch(this.pool, this.statement, batch);
      if (!this.postgresUp) this.log.info({ retried_ms: this.backoffMs }, "PostgreSQL back: catching up");
      this.postgresUp = true;
      this.backoffMs = 0;
      this.metrics.committed({ messages: taken.length, written, seconds: Number(process.hrtime.bigint() - t0) / 1e9, rows: batch.rows, now: Date.now() });
      for (const p of taken) this.ack(p);
      return true;
    } catch (err) {
      if (!isConnectionError(err) && taken.length > 1) {
        // The server refused the data (a value out of range, a NUL in a string): write the batch in halves, so
        // the message that does it ends in dead_letters and the rest are stored.
        const half = Math.ceil(taken.length / 2);
        if (!(await this.commit(taken.slice(0, half)))) {
          this.pending.push(...taken.slice(half));
          return false;
        }
        return this.commit(taken.slice(half));
      }
      const p = taken[0]!;
      if (!isConnectionError(err) && taken.length === 1 && !("dead" in p.item)) {
        this.log.warn({ topic: p.topic, err: (err as Error).message }, "PostgreSQL rejected a record: kept in dead_letters");
        this.metrics.deadLetter("rejected");
        const keep = p.message.length <= this.cfg.max_message_bytes;
        p.item = { dead: { topic: p.topic, reason: "rejected", bytes: p.message.length, payload: keep ? p.message : p.message.subarray(0, 1024) } };
        return this.commit(taken);
      }
      // Nothing is acknowledged: the messages stay unacknowledged at the broker and the same batch is retried.
      for (const d of batch.devices) if (!d.status && !d.version && !d.configHash) this.seenWritten.delete(d.device);
      if (this.postgresUp || this.backoffMs === 0)
        this.log.warn({ err: (err as Error).message }, "PostgreSQL write failed: holding acknowledgements, retrying with backoff");
      this.postgresUp = false;
      this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 200), 10_000);
      this.pending.unshift(...taken);
      if (!this.stopping) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.flush();
        }, this.backoffMs);
      }
      return false;
    }
  }

  /** Commits what is held (one try), then closes the sessions; what stays unacknowledged is redelivered later. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.retryTimer = this.lingerTimer = null;
    await this.flushing;
    if (this.postgresUp && this.pending.length) {
      const taken = this.pending.splice(0);
      await this.commit(taken);
    }
    await Promise.all(this.lanes.map((l) => l.client.endAsync(true).catch(() => {})));
    await this.pool.end().catch(() => {});
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? "";
  // node's socket errors and PostgreSQL's class 08 (connection) and 57P0x (shutdown, cannot connect now)
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|08|57P0)/.test(code) || /timeout|terminat|Connection/i.test((err as Error).message ?? "")
  );
}
