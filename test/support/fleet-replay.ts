import { connectAsync, type MqttClient } from "mqtt";

/** What one simulated device publishes in one round, and the rows it must leave in PostgreSQL. */
export interface ReplayRound {
  messages: number;
  /** table → `device|id` of every row the round creates */
  expected: Record<string, string[]>;
}

/**
 * Simulated devices on one broker, each its own MQTT connection publishing at QoS 1 as the agent does: a retained
 * status, events (new → update → end), crossings with and without ids, a sign sighting and an alarm per round.
 */
export class FleetReplay {
  private constructor(
    private readonly clients: Array<{ device: string; client: MqttClient }>,
    private readonly prefix: string,
  ) {}

  static async connect(url: string, devices: number, prefix = "eva"): Promise<FleetReplay> {
    const clients = await Promise.all(
      Array.from({ length: devices }, async (_, i) => {
        const device = `sim-${String(i).padStart(3, "0")}`;
        const client = await connectAsync(url, {
          protocolVersion: 5,
          clientId: `replay-${device}`,
          reconnectPeriod: 200,
          will: { topic: `${prefix}/${device}/status`, payload: Buffer.from("offline"), qos: 1, retain: true },
        });
        client.on("error", () => {});
        return { device, client };
      }),
    );
    return new FleetReplay(clients, prefix);
  }

  get devices(): string[] {
    return this.clients.map((c) => c.device);
  }

  /** Publishes round `n` from every device at once (QoS 1, each device in order); resolves when all are PUBACKed. */
  async round(n: number): Promise<ReplayRound> {
    const expected: Record<string, string[]> = { events: [], crossings: [], signs: [], alarms: [] };
    let messages = 0;
    await Promise.all(
      this.clients.map(async ({ device, client }) => {
        const base = `${this.prefix}/${device}`;
        const t = (s: number) => new Date(Date.UTC(2026, 11, 6, 10, n, s)).toISOString();
        const pub = async (suffix: string, body: unknown, retain = false) => {
          await client.publishAsync(`${base}/${suffix}`, typeof body === "string" ? body : JSON.stringify(body), { qos: 1, retain });
          messages++;
        };
        if (n === 0) await pub("status", "online", true);
        const id = `${device}-r${n}-e`;
        const event = {
          id,
          device,
          camera: "gate",
          label: "person",
          start_time: t(0),
          end_time: null,
          top_score: 0.6,
          box: [1, 2, 30, 40],
          snapshot: null,
          track_id: n,
        };
        await pub("events", { type: "new", event });
        await pub("events", { type: "update", event: { ...event, top_score: 0.7 } });
        await pub("crossings", {
          id: `${device}-r${n}-c`,
          device,
          line: "door",
          direction: "in",
          label: "person",
          track_id: n,
          camera: "gate",
          time: t(1),
          counts: { in: n + 1, out: 0 },
        });
        await pub("crossings", {
          line: "door",
          direction: "out",
          label: "person",
          track_id: n,
          camera: "gate",
          time: t(2),
          counts: { in: n + 1, out: n + 1 },
          lat: 52.52,
          lon: 13.405,
        });
        await pub("signs", {
          id: `${device}-r${n}-s`,
          camera: "road",
          label: "stop",
          score: 0.9,
          first_seen: t(3),
          last_seen: t(4),
          box: [5, 5, 20, 20],
          track_id: n,
          snapshot: null,
          new_field: "kept",
        });
        await pub("alarms", { id: `${device}-r${n}-a`, type: "loitering", state: "raised", camera: "gate", zone: "yard", time: t(5) });
        await pub("events", { type: "end", event: { ...event, top_score: 0.8, end_time: t(6) } });
        expected.events!.push(`${device}|${id}`);
        expected.crossings!.push(`${device}|${device}-r${n}-c`, `${device}|gate/door/${n}/${t(2)}`);
        expected.signs!.push(`${device}|${device}-r${n}-s`);
        expected.alarms!.push(`${device}|${device}-r${n}-a/raised`);
      }),
    );
    return { messages, expected };
  }

  /** A malformed, an oversized, a foreign and a refused message from the first device. */
  async garbage(bigBytes: number): Promise<number> {
    const { device, client } = this.clients[0]!;
    await client.publishAsync(`${this.prefix}/${device}/events`, "{not json", { qos: 1 });
    await client.publishAsync(`${this.prefix}/${device}/signs`, JSON.stringify({ camera: "road", pad: "x".repeat(bigBytes) }), { qos: 1 });
    await client.publishAsync(`${this.prefix}/${device}/crossings`, JSON.stringify({ hello: "world" }), { qos: 1 });
    // valid JSON that PostgreSQL refuses: jsonb has no NUL character
    await client.publishAsync(
      `${this.prefix}/${device}/alarms`,
      JSON.stringify({ id: "nul", type: "loitering", state: "raised", camera: "a\u0000b", time: "2026-12-06T10:00:00Z" }),
      {
        qos: 1,
      },
    );
    return 4;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map(({ client }) => client.endAsync()));
  }
}
