import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { Socket } from "node:net";
import { freePort } from "./ports.js";

/** One POST the receiver took, whatever it answered. */
export interface WebhookPost {
  body: { device: string; topic: string; seq: number; record: unknown };
  headers: IncomingHttpHeaders;
  status: number;
}

/**
 * A real HTTP server on 127.0.0.1 taking the webhook sink's POSTs. stop() is an outage (the port refuses
 * connections, open ones are cut); start() listens again on the same port. `answer` picks each reply's status.
 */
export class WebhookReceiver {
  readonly posts: WebhookPost[] = [];
  answer: (body: WebhookPost["body"]) => number = () => 200;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private waiters: Array<() => void> = [];

  private constructor(readonly port: number) {}

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Bodies answered 2xx, in the order they came. */
  get accepted(): WebhookPost["body"][] {
    return this.posts.filter((p) => p.status < 300).map((p) => p.body);
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => (text += d));
      req.on("end", () => {
        const body = JSON.parse(text) as WebhookPost["body"];
        const status = this.answer(body);
        this.posts.push({ body, headers: req.headers, status });
        res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : `refused seq ${body.seq}`);
        for (const w of this.waiters) w();
      });
    });
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once pred holds for the posts so far; rejects after timeoutMs saying what arrived. */
  until(pred: (posts: WebhookPost[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (pred(this.posts)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(this.posts)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.posts.length} posts`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
    });
  }
}
