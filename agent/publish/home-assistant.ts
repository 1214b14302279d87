import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import type { OutboxPublisher } from "./outbox-publisher.js";
import { recordKinds } from "../records/registry.js";
import { cameraStatusTopic, DEVICE_STATUS, deviceBase, occupancyTopic, snapshotTopic, STATS } from "./topics.js";

// Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): one retained
// JSON config per entity on <discovery_prefix>/<component>/<node_id>/<object_id>/config, here with the device
// id as node_id. The entities read the topics eva publishes anyway (retained occupancy and line totals, the
// snapshot, stats, the device status as availability), so Home Assistant adds no load and no second source of
// truth. Like zigbee2mqtt's extension/homeassistant.ts: configs go out on every connection and when Home
// Assistant's birth message says `online`; a retained config of ours that the running config no longer has
// (a zone deleted, even while the agent was down) is cleared with an empty retained message.

export type HaComponent = "binary_sensor" | "sensor" | "image";

export interface DiscoveryMessage {
  component: HaComponent;
  objectId: string;
  payload: Record<string, unknown>;
}

export interface DiscoveryOptions {
  version: string;
}

/** Home Assistant's object ids and node ids are [a-zA-Z0-9_-]; labels such as "stop sign" are not. */
export function haId(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, "_");
}

/** A label as a Jinja string literal inside a template. */
const jinjaString = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The retained config topic of one entity. */
export function discoveryTopic(prefix: string, deviceId: string, m: Pick<DiscoveryMessage, "component" | "objectId">): string {
  return `${prefix}/${m.component}/${deviceId}/${m.objectId}/config`;
}

/** Every entity the config announces. Pure: a reload compares two of these lists. */
export function discoveryMessages(cfg: Config, o: DiscoveryOptions): DiscoveryMessage[] {
  const device = cfg.device.id;
  const base = deviceBase(cfg.mqtt.topic_prefix, device);
  const t = (suffix: string) => `${base}/${suffix}`;
  const common = {
    device: {
      identifiers: [`eva_${device}`],
      name: cfg.device.name ?? device,
      manufacturer: "eva",
      model: "Edge video analytics agent",
      sw_version: o.version,
    },
    origin: { name: "eva", sw_version: o.version },
    // `stopped` (a clean shutdown) is as unavailable as the will's `offline`.
    availability: [{ topic: t(DEVICE_STATUS), value_template: "{{ 'online' if value == 'online' else 'offline' }}" }],
    qos: 1,
  };
  const out: DiscoveryMessage[] = [];
  const add = (component: HaComponent, key: string, payload: Record<string, unknown>) => {
    const objectId = haId(key);
    // a device-wide entity a kind offers for each of its cameras (the sign inventory) is announced once
    if (out.some((m) => m.component === component && m.objectId === objectId)) return;
    out.push({ component, objectId, payload: { ...payload, unique_id: `eva_${device}_${objectId}`, ...common } });
  };
  // Stats arrive every interval and expire from a queue after two; three missed intervals mean unknown.
  const expireAfter = Math.ceil(cfg.mqtt.stats_interval_seconds * 3);

  add("sensor", "outbox", {
    name: "Outbox",
    state_topic: t(STATS),
    value_template: "{{ value_json.outbox.depth }}",
    unit_of_measurement: "messages",
    state_class: "measurement",
    entity_category: "diagnostic",
    icon: "mdi:tray-full",
    expire_after: expireAfter,
  });

  for (const [camera, cam] of Object.entries(cfg.cameras)) {
    if (!cam.enabled) continue;
    const inStats = `value_json.cameras[${jinjaString(camera)}]`;
    const statOrNone = (field: string) => `{{ ${inStats}.${field} if ${jinjaString(camera)} in value_json.cameras else None }}`;

    add("binary_sensor", `${camera}_connected`, {
      name: `${camera} connected`,
      state_topic: t(cameraStatusTopic(camera)),
      value_template: "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
      device_class: "connectivity",
      entity_category: "diagnostic",
    });
    add("sensor", `${camera}_fps`, {
      name: `${camera} processed fps`,
      state_topic: t(STATS),
      value_template: statOrNone("fps_processed"),
      unit_of_measurement: "fps",
      state_class: "measurement",
      entity_category: "diagnostic",
      icon: "mdi:speedometer",
      expire_after: expireAfter,
    });
    add("sensor", `${camera}_inference`, {
      name: `${camera} inference time`,
      state_topic: t(STATS),
      value_template: statOrNone("inference_ms.p50"),
      unit_of_measurement: "ms",
      device_class: "duration",
      state_class: "measurement",
      entity_category: "diagnostic",
      expire_after: expireAfter,
    });
    add("image", `${camera}_snapshot`, {
      name: `${camera} snapshot`,
      image_topic: t(snapshotTopic(camera)),
      content_type: "image/jpeg",
    });

    for (const [zone, z] of Object.entries(cam.zones)) {
      const topic = t(occupancyTopic(camera, zone));
      add("binary_sensor", `${camera}_${zone}_occupancy`, {
        name: `${camera} ${zone} occupancy`,
        state_topic: topic,
        value_template: "{{ 'ON' if value_json.total > 0 else 'OFF' }}",
        device_class: "occupancy",
      });
      add("sensor", `${camera}_${zone}_count`, {
        name: `${camera} ${zone} objects`,
        state_topic: topic,
        value_template: "{{ value_json.total }}",
        state_class: "measurement",
        icon: "mdi:counter",
      });
      // Per label only where the labels are known: a COCO model without a label list would make 80 of each.
      for (const label of z.labels ?? cam.detect.labels ?? []) {
        const count = `(value_json.counts[${jinjaString(label)}] | default(0))`;
        add("binary_sensor", `${camera}_${zone}_${label}_occupancy`, {
          name: `${camera} ${zone} ${label} occupancy`,
          state_topic: topic,
          value_template: `{{ 'ON' if ${count} > 0 else 'OFF' }}`,
          device_class: "occupancy",
        });
        add("sensor", `${camera}_${zone}_${label}_count`, {
          name: `${camera} ${zone} ${label} count`,
          state_topic: topic,
          value_template: `{{ ${count} }}`,
          state_class: "measurement",
          icon: "mdi:counter",
        });
      }
    }

    // The record kinds' own entities (line totals, count reports, …), on their retained topics.
    const shapes = {
      lines: Object.keys(cam.lines),
      zones: Object.keys(cam.zones),
      ...(cam.detect.labels ? { labels: cam.detect.labels } : {}),
      ...(cam.signs && (cam.location || cam.gps) ? { placesSigns: true } : {}),
    };
    for (const kind of recordKinds) for (const [component, key, payload] of kind.discovery?.(camera, shapes, t) ?? []) add(component, key, payload);
  }
  return out;
}

export interface HomeAssistantOptions {
  log: Logger;
  version: string;
}

/**
 * The shell: publishes the configs on every connection and on Home Assistant's birth message, clears the ones
 * a reload removed, and sweeps stale retained configs of this device left from earlier runs. It outlives the
 * MQTT link a reload may replace (attach() takes the new publisher), so what a reload removes is still
 * cleared when it also reconnected: removals wait until a connection has sent them.
 */
export class HomeAssistantDiscovery {
  private prefix = "homeassistant";
  private deviceId = "";
  private enabled = false;
  /** topic → payload of what should be retained now */
  private desired = new Map<string, string>();
  /** config topics to clear, until a connection has sent the empty message */
  private readonly removals = new Set<string>();
  private publisher: OutboxPublisher | null = null;
  private subscribedPrefix: string | null = null;

  constructor(private readonly o: HomeAssistantOptions) {}

  /** Uses this publisher from now on; call update() next, before its start(), so subscriptions go out on connect. */
  attach(publisher: OutboxPublisher): void {
    this.publisher = publisher;
    this.subscribedPrefix = null;
    publisher.onConnected(() => {
      if (this.publisher === publisher) void this.publishAll("connected");
    });
    // update() subscribes, once it knows whether discovery is on for this link.
  }

  /**
   * Takes a config (at start and on every reload): publishes new and changed entities and clears the ones that
   * are gone. Disabled, every entity announced before is cleared.
   */
  update(cfg: Config): void {
    const ha = cfg.homeassistant;
    const previous = this.desired;
    const prefixChanged = this.enabled && ha.discovery_prefix !== this.prefix;
    this.enabled = ha.enabled;
    this.prefix = ha.discovery_prefix;
    this.deviceId = cfg.device.id;
    const next = new Map<string, string>();
    if (ha.enabled) {
      for (const m of discoveryMessages(cfg, { version: this.o.version })) next.set(discoveryTopic(this.prefix, this.deviceId, m), JSON.stringify(m.payload));
    }
    this.desired = next;
    this.subscribe();
    for (const topic of previous.keys()) if (!next.has(topic)) this.removals.add(topic);
    for (const topic of next.keys()) this.removals.delete(topic);
    for (const [topic, payload] of next) if (previous.get(topic) !== payload) void this.publish(topic, payload);
    void this.flushRemovals();
    const added = [...next.keys()].filter((k) => !previous.has(k)).length;
    const removed = [...previous.keys()].filter((k) => !next.has(k)).length;
    if (added || removed || prefixChanged) this.o.log.info({ entities: next.size, added, removed, prefix: this.prefix }, "Home Assistant discovery updated");
  }

  private subscribe(): void {
    const publisher = this.publisher;
    if (!publisher || !this.enabled || this.subscribedPrefix === this.prefix) return;
    this.subscribedPrefix = this.prefix;
    const prefix = this.prefix;
    const current = () => this.publisher === publisher && prefix === this.prefix;
    // Home Assistant's birth message: it has (re)started and wants the configs again.
    publisher.subscribeTopic(`${prefix}/status`, (_topic, payload) => {
      if (current() && payload.toString().trim().toLowerCase() === "online") void this.publishAll("Home Assistant online");
    });
    // Retained configs under this device's node id: ours from an earlier run or config. Not No Local, since
    // those were published by this same client id; our own echoes are recognised as wanted and left alone.
    publisher.subscribeTopic(`${prefix}/+/${this.deviceId}/+/config`, (topic, payload) => {
      if (current()) this.sweep(topic, payload);
    });
  }

  private sweep(topic: string, payload: Buffer): void {
    if (!payload.length || this.desired.has(topic)) return;
    const parts = topic.split("/");
    if (parts[parts.length - 3] !== this.deviceId) return;
    let uniqueId: unknown;
    try {
      uniqueId = (JSON.parse(payload.toString()) as { unique_id?: unknown }).unique_id;
    } catch {
      return;
    }
    // Only configs eva made for this device: another program may share the node id by chance.
    if (typeof uniqueId !== "string" || !uniqueId.startsWith(`eva_${this.deviceId}_`)) return;
    this.o.log.info({ topic }, "stale Home Assistant entity removed");
    void this.publish(topic, "");
  }

  private async publishAll(why: string): Promise<void> {
    await this.flushRemovals();
    if (!this.desired.size) return;
    let sent = 0;
    for (const [topic, payload] of this.desired) if (await this.publish(topic, payload)) sent++;
    this.o.log.debug({ why, sent, entities: this.desired.size }, "Home Assistant discovery published");
  }

  private async flushRemovals(): Promise<void> {
    for (const topic of [...this.removals]) if (await this.publish(topic, "")) this.removals.delete(topic);
  }

  /** Retained, QoS 1; an empty payload removes the entity. False while disconnected (the next connection sends all). */
  private publish(topic: string, payload: string): Promise<boolean> {
    return this.publisher ? this.publisher.publishLive(topic, payload, { qos: 1, retain: true }) : Promise.resolve(false);
  }
}
