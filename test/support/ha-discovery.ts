import { createRequire } from "node:module";
import { z } from "zod";

// Home Assistant's MQTT discovery schema, as far as eva's entities use it, encoded from Home Assistant's own
// documentation (home-assistant/home-assistant.io):
//   source/_integrations/mqtt.markdown             discovery topic <prefix>/<component>/[<node_id>/]<object_id>/config,
//                                                  ids of [a-zA-Z0-9_-], retained JSON configs, empty payload removes,
//                                                  birth message on <prefix>/status, device and origin maps
//   source/_integrations/sensor.mqtt.markdown       sensor keys, state_class, expire_after
//   source/_integrations/binary_sensor.mqtt.markdown binary_sensor keys, payload_on/off (default ON/OFF)
//   source/_integrations/image.mqtt.markdown        image keys: image_topic xor url_topic, content_type
//   developers.home-assistant.io: entity categories (config, diagnostic), sensor state classes, device classes
// and zigbee2mqtt's lib/extension/homeassistant.ts (availability list with value_template, origin, clearing
// stale configs) as the reference publisher. Objects are strict: a misspelt key is an error here, where Home
// Assistant would drop it silently (its discovery schemas remove extra keys).

const topic = z
  .string()
  .min(1)
  .refine((t) => !/[#+]/.test(t), "a state topic has no wildcards");
const template = z.string().includes("{{");

const availabilityEntry = z.strictObject({
  topic,
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  value_template: template.optional(),
});

const device = z
  .strictObject({
    configuration_url: z.string().optional(),
    connections: z.array(z.tuple([z.string(), z.string()])).optional(),
    hw_version: z.string().optional(),
    identifiers: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    model_id: z.string().optional(),
    name: z.string().optional(),
    serial_number: z.string().optional(),
    suggested_area: z.string().optional(),
    sw_version: z.string().optional(),
    via_device: z.string().optional(),
  })
  .refine((d) => d.identifiers !== undefined || d.connections !== undefined, "a device needs identifiers or connections");

const origin = z.strictObject({ name: z.string().min(1), sw_version: z.string().optional(), support_url: z.string().optional() });

/** Keys every MQTT entity platform takes. */
const entityKeys = {
  availability: z.array(availabilityEntry).min(1).optional(),
  availability_mode: z.enum(["all", "any", "latest"]).optional(),
  availability_template: template.optional(),
  availability_topic: topic.optional(),
  device: device.optional(),
  enabled_by_default: z.boolean().optional(),
  encoding: z.string().optional(),
  entity_category: z.enum(["config", "diagnostic"]).optional(),
  entity_picture: z.string().optional(),
  icon: z
    .string()
    .regex(/^[a-z]+:[a-z0-9-]+$/, "icons look like mdi:name")
    .optional(),
  json_attributes_template: template.optional(),
  json_attributes_topic: topic.optional(),
  name: z.string().nullable().optional(),
  default_entity_id: z.string().optional(),
  object_id: z.string().optional(),
  origin: origin.optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  qos: z.number().int().min(0).max(2).optional(),
  unique_id: z.string().min(1).optional(),
};

/** binary_sensor device classes (developers.home-assistant.io, BinarySensorDeviceClass). */
const binarySensorClasses = [
  "battery",
  "battery_charging",
  "carbon_monoxide",
  "cold",
  "connectivity",
  "door",
  "garage_door",
  "gas",
  "heat",
  "light",
  "lock",
  "moisture",
  "motion",
  "moving",
  "occupancy",
  "opening",
  "plug",
  "power",
  "presence",
  "problem",
  "running",
  "safety",
  "smoke",
  "sound",
  "tamper",
  "update",
  "vibration",
  "window",
] as const;

/** Sensor device classes eva may use, with the units Home Assistant accepts for them. */
const sensorClassUnits: Record<string, readonly string[]> = {
  duration: ["d", "h", "min", "s", "ms", "µs"],
  data_size: ["B", "kB", "MB", "GB", "KiB", "MiB", "GiB"],
};

const binarySensor = z.strictObject({
  ...entityKeys,
  device_class: z.enum(binarySensorClasses).optional(),
  expire_after: z.number().int().min(1).optional(),
  force_update: z.boolean().optional(),
  off_delay: z.number().int().min(0).optional(),
  payload_off: z.string().optional(),
  payload_on: z.string().optional(),
  state_topic: topic,
  value_template: template.optional(),
});

const sensor = z
  .strictObject({
    ...entityKeys,
    device_class: z.string().optional(),
    expire_after: z.number().int().min(1).optional(),
    force_update: z.boolean().optional(),
    last_reset_value_template: template.optional(),
    options: z.array(z.string()).optional(),
    suggested_display_precision: z.number().int().min(0).optional(),
    state_class: z.enum(["measurement", "measurement_angle", "total", "total_increasing"]).optional(),
    state_topic: topic,
    unit_of_measurement: z.string().optional(),
    value_template: template.optional(),
  })
  .refine((s) => s.entity_category !== "config", "a sensor cannot be in the config entity category")
  .refine(
    (s) => !s.device_class || !(s.device_class in sensorClassUnits) || sensorClassUnits[s.device_class]!.includes(s.unit_of_measurement ?? ""),
    "unit not valid for the device class",
  );

const image = z
  .strictObject({
    ...entityKeys,
    content_type: z
      .string()
      .regex(/^image\//)
      .optional(),
    image_encoding: z.literal("b64").optional(),
    image_topic: topic.optional(),
    url_template: template.optional(),
    url_topic: topic.optional(),
  })
  .refine((i) => (i.image_topic === undefined) !== (i.url_topic === undefined), "exactly one of image_topic and url_topic")
  .refine((i) => i.content_type === undefined || i.image_topic !== undefined, "content_type only with image_topic");

const platforms = { binary_sensor: binarySensor, sensor, image } as const;
export type HaPlatform = keyof typeof platforms;

const ID = /^[a-zA-Z0-9_-]+$/;

export interface DiscoveredEntity {
  topic: string;
  component: HaPlatform;
  nodeId: string;
  objectId: string;
  config: Record<string, any>;
}

/**
 * Checks retained discovery messages (topic → payload text) against the documented schema; returns the
 * entities and every problem found (none when Home Assistant would take them all).
 */
export function checkDiscovery(prefix: string, messages: ReadonlyMap<string, string>): { entities: DiscoveredEntity[]; problems: string[] } {
  const problems: string[] = [];
  const entities: DiscoveredEntity[] = [];
  const uniqueIds = new Map<string, string>();
  for (const [t, text] of messages) {
    const parts = t.split("/");
    const [p, component, nodeId, objectId, last] = parts.length === 5 ? parts : [parts[0], parts[1], "", parts[2], parts[3]];
    if (p !== prefix || last !== "config" || parts.length < 4 || parts.length > 5) {
      problems.push(`${t}: not <prefix>/<component>/[<node_id>/]<object_id>/config`);
      continue;
    }
    if (!(component! in platforms)) {
      problems.push(`${t}: unknown component ${component}`);
      continue;
    }
    if ((nodeId && !ID.test(nodeId)) || !ID.test(objectId!)) problems.push(`${t}: node_id and object_id must be [a-zA-Z0-9_-]`);
    let config: Record<string, any>;
    try {
      config = JSON.parse(text) as Record<string, any>;
    } catch {
      problems.push(`${t}: not JSON`);
      continue;
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
      problems.push(`${t}: not a JSON object`);
      continue;
    }
    const parsed = platforms[component as HaPlatform].safeParse(config);
    if (!parsed.success) for (const i of parsed.error.issues) problems.push(`${t}: ${i.path.join(".") || "(config)"}: ${i.message}`);
    if (config.availability && config.availability_topic) problems.push(`${t}: availability and availability_topic together`);
    if (config.device && !config.unique_id) problems.push(`${t}: device needs unique_id`);
    if (config.unique_id) {
      const other = uniqueIds.get(config.unique_id);
      if (other) problems.push(`${t}: unique_id ${config.unique_id} also on ${other}`);
      uniqueIds.set(config.unique_id, t);
    }
    entities.push({ topic: t, component: component as HaPlatform, nodeId: nodeId!, objectId: objectId!, config });
  }
  return { entities, problems };
}

// Home Assistant renders value templates with Jinja2; nunjucks implements the same syntax for what eva's
// templates use (attribute and item access, `default`, inline if/else, comparisons, `in`). Its `None` renders as
// "" where Jinja prints "None"; both mean "unknown" to an MQTT sensor.
type Nunjucks = { Environment: new () => { renderString(src: string, ctx: object): string } };
const nunjucks = createRequire(import.meta.url)("nunjucks") as Nunjucks;
const env = new nunjucks.Environment();

/** An entity's value as Home Assistant would read it from one message on its state topic. */
export function renderTemplate(template: string, payload: string): string {
  let valueJson: unknown;
  try {
    valueJson = JSON.parse(payload);
  } catch {
    valueJson = undefined;
  }
  return env.renderString(template, { value: payload, value_json: valueJson }).trim();
}

/** A rendered sensor state: a number, or null for unknown. */
export function numericState(rendered: string): number | null {
  if (rendered === "" || rendered === "None") return null;
  const n = Number(rendered);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${JSON.stringify(rendered)}`);
  return n;
}
