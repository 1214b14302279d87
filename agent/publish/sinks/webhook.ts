import { readFileSync } from "node:fs";
import http, { type ClientRequest, type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import type { WebhookSinkConfig } from "../../config/sinks-schema.js";
import type { OutboxMessage } from "../outbox.js";
import { topicMatches } from "../outbox-publisher.js";
import { recordKinds } from "../../records/registry.js";
import type { Sink, SinkFigures, SinkOutbox } from "./sink.js";

/** Rows read from the outbox at a time. */
const PAGE = 100;
/** Response bytes kept for the log: enough for a receiver's error message. */
const BODY_KEPT = 512;

/** A webhook fault that is not the receiver's: a CA file that cannot be read. */
export class WebhookError extends Error {
  readonly code = "EVA_WEBHOOK";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WebhookError";
  }
}

/** What one POST came to. */
type Answer = { status: number; body: string; headers: IncomingHttpHeaders } | { error: string };

/**
 * What to do with a receiver's answer. 2xx: delivered. 408, 429, 5xx, network faults: retry with backoff.
 * 401, 403, 404, 405, 407, 410 and redirects say the request never reached a handler that read it (credentials,
 * URL): every record would fail the same way, so the record is held and retried until an installer fixes the
 * config, as MQTT holds a message its broker refuses. Any other 4xx (400, 413, 415, 422…) is the receiver
 * refusing this record's body: retrying cannot change it, and holding it would keep every later record from a
 * receiver that takes them, so it is kept in outbox_dead_letters and passed.
 */
export function verdictOf(status: number): "delivered" | "retry" | "hold" | "dead_letter" {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  if (status < 400 || [401, 403, 404, 405, 407, 410].includes(status)) return "hold";
  return "dead_letter";
}

/** The URL without user:password, for logs. */
function redactUrl(u: URL): string {
  const c = new URL(u);
  c.username = "";
  c.password = "";
  return c.toString();
}

export interface WebhookSinkOptions {
  config: WebhookSinkConfig;
  deviceId: string;
  outbox: SinkOutbox;
  log: Logger;
  /** safety-net poll of the outbox when nobody calls notify(); default 1000 ms */
  pollMs?: number;
}

/**
 * POSTs every record in the outbox to an HTTP(S) receiver, one at a time in seq order, each body
 * `{"device", "topic", "seq", "record"}`: (device, seq) is unique per database, for the receiver to drop a
 * resend. The cursor moves past a row once it is answered 2xx, dead-lettered or not one of `topics`; a receiver
 * that is down, slow or refusing holds back this sink only. At least once: a row whose answer was lost is sent
 * again, after a restart too.
 */
export class WebhookSink implements Sink {
  readonly name = "webhook";
  private readonly url: URL;
  private readonly log: Logger;
  private readonly pollMs: number;
  private agent: http.Agent | null = null;
  private running: Promise<void> | null = null;
  /** ends the current wait: notify() for an idle one */
  private wake: (() => void) | null = null;
  /** ends the current wait, a backoff too: stop() */
  private halted: (() => void) | null = null;
  private pending = false;
  private flushing = false;
  private stopping = false;
  private request: ClientRequest | null = null;
  private isUp = false;
  private delivered = 0;
  private errors = 0;
  private deadLettered = 0;
  // One log line per outage and per kind of refusal, not one per retry.
  private downSinceMs = 0;
  private failures = 0;
  private lastKind: "retry" | "hold" | null = null;
  private lastLogMs = 0;
  private readonly deadLetterLogged = new Map<number, number>();
  /** the configured topic filters, or every record kind's own (not retained) topic */
  private readonly topics: readonly string[];

  constructor(private readonly o: WebhookSinkOptions) {
    this.url = new URL(o.config.url);
    this.topics = o.config.topics ?? recordKinds.flatMap((k) => k.channels.filter((c) => !c.retained).map((c) => c.address));
    this.log = o.log;
    this.pollMs = o.pollMs ?? 1000;
  }

  /** Reads the CA file (a WebhookError when it cannot) and starts delivering in the background. */
  start(): void {
    if (this.running || this.stopping) return;
    const tls = this.o.config.tls;
    let ca: Buffer | undefined;
    if (tls?.ca) {
      try {
        ca = readFileSync(tls.ca);
      } catch (err) {
        throw new WebhookError(`sinks.webhook.tls.ca: cannot read ${tls.ca}: ${(err as Error).message}`, { cause: err });
      }
    }
    // One kept-alive connection: records go one at a time, and TLS is set up once, not per record.
    this.agent =
      this.url.protocol === "https:"
        ? new https.Agent({ keepAlive: true, maxSockets: 1, ...(ca ? { ca } : {}), rejectUnauthorized: tls?.reject_unauthorized ?? true })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.log.info({ url: redactUrl(this.url), topics: this.topics, cursor: this.o.outbox.cursor }, "webhook sink started");
    this.running = this.run().catch((err: Error) => this.log.error({ err: err.message }, "webhook sink failed"));
  }

  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  async stop(flushTimeoutMs: number): Promise<void> {
    if (!this.running) {
      this.stopping = true;
      return;
    }
    this.flushing = true;
    this.notify();
    // As MQTT flushes only while connected: a receiver that is failing now is not waited for.
    const timer = setTimeout(() => this.halt(), this.failures > 0 ? 0 : flushTimeoutMs);
    await this.running;
    clearTimeout(timer);
    this.halt();
    this.agent?.destroy();
    let left: number | null = null;
    try {
      left = this.o.outbox.outboxDepth();
    } catch {
      // unknown
    }
    this.log.info({ unsent: left, delivered: this.delivered }, "webhook sink stopped");
  }

  figures(): SinkFigures {
    let lag: number | null = null;
    try {
      lag = this.o.outbox.outboxDepth();
    } catch {
      // shown as null for this read
    }
    return { lag, up: this.isUp, delivered: this.delivered, errors: this.errors, dead_lettered: this.deadLettered };
  }

  private halt(): void {
    this.stopping = true;
    // A request cut off here is not acknowledged: its row is sent again at the next start.
    this.request?.destroy(new Error("webhook sink stopping"));
    this.halted?.();
  }

  private wants(topic: string): boolean {
    return this.topics.some((f) => topicMatches(f, topic));
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.pending = false;
      let rows: OutboxMessage[];
      try {
        rows = this.o.outbox.peekOutbox(0, PAGE);
      } catch (err) {
        // A store fault (disk, lock): nothing was lost, the next poll tries again.
        this.log.error({ err: (err as Error).message }, "webhook sink could not read the outbox");
        await this.sleep(this.pollMs);
        continue;
      }
      if (rows.length === 0) {
        if (this.flushing) return;
        if (!this.pending) await this.sleep(this.pollMs);
        continue;
      }
      let skipped = 0;
      let fault = false;
      for (const row of rows) {
        if (this.stopping) break;
        if (!this.wants(row.topic)) {
          skipped = row.seq;
          continue;
        }
        if (skipped && !this.pass(skipped)) {
          fault = true;
          break;
        }
        skipped = 0;
        if (!(await this.deliver(row))) {
          fault = !this.stopping;
          break;
        }
      }
      if (skipped && !this.pass(skipped)) fault = true;
      // A store that cannot take the cursor now: the same rows come again, after a pause, not in a tight loop.
      if (fault) await this.sleep(this.pollMs, true);
    }
  }

  /** Moves the cursor; false on a store fault (the rows are looked at again). */
  private pass(seq: number): boolean {
    try {
      this.o.outbox.advanceTo(seq);
      return true;
    } catch (err) {
      this.log.error({ seq, err: (err as Error).message }, "webhook sink could not store its place in the outbox; rows will be sent again");
      return false;
    }
  }

  /** Sends the row until it is delivered or dead-lettered (true), or the sink stops or the store fails (false). */
  private async deliver(row: OutboxMessage): Promise<boolean> {
    for (let attempt = 0; !this.stopping; attempt++) {
      const answer = await this.post(row);
      if (this.stopping && "error" in answer) return false;
      const verdict = "error" in answer ? "retry" : verdictOf(answer.status);
      if (verdict === "delivered") {
        this.recovered();
        this.delivered++;
        return this.pass(row.seq);
      }
      if (verdict === "dead_letter" && !("error" in answer)) {
        this.recovered();
        this.deadLettered++;
        const reason = `HTTP ${answer.status}${answer.body ? `: ${answer.body}` : ""}`;
        this.logDeadLetter(row, answer.status, reason);
        try {
          this.o.outbox.deadLetter(row, reason);
          return true;
        } catch (err) {
          this.log.error({ seq: row.seq, err: (err as Error).message }, "webhook sink could not dead-letter a record; it is sent again");
          return false;
        }
      }
      this.errors++;
      this.failed(row, answer, verdict === "hold");
      await this.sleep(this.backoff(attempt, "error" in answer ? undefined : answer.headers["retry-after"]), true);
    }
    return false;
  }

  private backoff(attempt: number, retryAfter: string | string[] | undefined): number {
    const c = this.o.config;
    const max = c.retry_max_seconds * 1000;
    const seconds = typeof retryAfter === "string" ? Number(retryAfter) : Number.NaN;
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(max, seconds * 1000);
    return Math.min(max, c.retry_seconds * 1000 * 2 ** Math.min(attempt, 20));
  }

  private post(row: OutboxMessage): Promise<Answer> {
    // The stored payload is JSON already: spliced in, not parsed and written again.
    const body = `{"device":${JSON.stringify(this.o.deviceId)},"topic":${JSON.stringify(row.topic)},"seq":${row.seq},"record":${row.payload}}`;
    const send = this.url.protocol === "https:" ? https.request : http.request;
    return new Promise((resolve) => {
      const req = send(
        this.url,
        {
          method: "POST",
          agent: this.agent!,
          headers: {
            "content-type": "application/json",
            "user-agent": "eva-webhook",
            "idempotency-key": `${this.o.deviceId}:${row.seq}`,
            ...this.o.config.headers,
            "content-length": Buffer.byteLength(body),
          },
          timeout: Math.round(this.o.config.timeout_seconds * 1000),
        },
        (res) => {
          let kept = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (kept.length < BODY_KEPT) kept += d.slice(0, BODY_KEPT - kept.length);
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: kept.trim(), headers: res.headers }));
          res.on("error", (err) => resolve({ error: err.message }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.o.config.timeout_seconds} s`)));
      req.on("error", (err: NodeJS.ErrnoException) =>
        resolve({ error: err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message }),
      );
      req.on("close", () => {
        if (this.request === req) this.request = null;
      });
      this.request = req;
      req.end(body);
    });
  }

  private failed(row: OutboxMessage, answer: Answer, hold: boolean): void {
    const reason = "error" in answer ? answer.error : `HTTP ${answer.status}${answer.body ? `: ${answer.body}` : ""}`;
    if (this.failures === 0) this.downSinceMs = Date.now();
    this.failures++;
    this.isUp = false;
    const fields = { url: redactUrl(this.url), seq: row.seq, topic: row.topic, reason, attempts: this.failures };
    const kind = hold ? "hold" : "retry";
    const now = Date.now();
    // One line when an outage starts or turns into a refusal, then at most one a minute while it lasts.
    if (kind === this.lastKind && now - this.lastLogMs < 60_000) {
      this.log.debug(fields, "webhook request failed again");
      return;
    }
    this.lastKind = kind;
    this.lastLogMs = now;
    if (hold) this.log.error(fields, "webhook receiver refuses every request (check sinks.webhook url and headers); records wait in the outbox");
    else this.log.warn(fields, "webhook receiver unreachable or failing; records wait in the outbox and are retried");
  }

  private recovered(): void {
    if (this.failures > 0) {
      this.log.info(
        { url: redactUrl(this.url), downSeconds: Math.round((Date.now() - this.downSinceMs) / 1000), attempts: this.failures },
        "webhook receiver answering again",
      );
    }
    this.failures = 0;
    this.lastKind = null;
    this.isUp = true;
  }

  /** One error line per status a minute; the table keeps every record. */
  private logDeadLetter(row: OutboxMessage, status: number, reason: string): void {
    const now = Date.now();
    const last = this.deadLetterLogged.get(status);
    const fields = { url: redactUrl(this.url), seq: row.seq, topic: row.topic, reason, dead_lettered: this.deadLettered };
    if (last === undefined || now - last >= 60_000) {
      this.deadLetterLogged.set(status, now);
      this.log.error(fields, "webhook receiver refused a record; kept in outbox_dead_letters and passed");
    } else {
      this.log.debug(fields, "webhook receiver refused a record");
    }
  }

  /** Waits ms; stop() ends the wait, and so does notify() unless it is a retry's backoff. */
  private sleep(ms: number, backoff = false): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wake === done) self.wake = null;
        if (self.halted === done) self.halted = null;
        resolve();
      }
      this.halted = done;
      // A record queued during a backoff must not cut it short: that would retry a failing receiver at the
      // rate records arrive.
      if (!backoff) this.wake = done;
    });
  }
}
