import { stringify } from "yaml";
import type { z } from "zod";
import { recordKinds } from "../records/registry.js";
import { commandSchemas, publishedSchemas, toJsonSchema } from "./payload-schemas.js";

// Builds the AsyncAPI 3 document from the payload schemas, so the document cannot drift from what the agent
// publishes. `eva asyncapi` prints it; agent/publish/asyncapi.yaml is its committed output (a test keeps them equal).

type Json = Record<string, unknown>;

interface PublishedChannel {
  id: string;
  address: string;
  kind: keyof typeof publishedSchemas;
  title: string;
  description: string;
  retained?: boolean;
  contentType?: string;
  parameters?: string[];
}

const published: PublishedChannel[] = [
  {
    id: "status",
    address: "status",
    kind: "status",
    title: "Device status",
    retained: true,
    contentType: "text/plain",
    description: "Retained. `online` when connected, `offline` (the MQTT will) when the connection is lost, `stopped` after a clean shutdown.",
  },
  {
    id: "cameraStatus",
    address: "cameras/{camera}/status",
    kind: "camera_status",
    title: "Camera status",
    retained: true,
    parameters: ["camera"],
    description: "Retained per camera: online, offline or disabled, with the reason. Goes through the durable outbox, in order.",
  },
  {
    id: "snapshot",
    address: "snapshots/{camera}",
    kind: "snapshot",
    title: "Latest snapshot",
    retained: true,
    contentType: "image/jpeg",
    parameters: ["camera"],
    description: "Retained JPEG of the latest event's best frame (mqtt.snapshots: true). Not queued in the outbox: only the latest matters.",
  },
  {
    id: "stats",
    address: "stats",
    kind: "stats",
    title: "Health figures",
    description: "Every mqtt.stats_interval_seconds, QoS 1 with an MQTT v5 message expiry of twice the interval; not queued while offline.",
  },
  {
    id: "config",
    address: "config",
    kind: "config",
    title: "Config reloads",
    description:
      "One message per live reload of the config file: applied with the changed key paths, or rejected with each problem's file, line, column and key path. QoS 1 from the outbox.",
  },
];

const recordChannels = recordKinds.flatMap((k) => k.channels);

/** The document's schema name for each published message kind (classifyTopic's kinds), record kinds' channels included. */
export const SCHEMA_NAMES: Record<string, string> = {
  ...Object.fromEntries(recordChannels.map((c) => [`record:${c.id}`, c.schemaName])),
  status: "DeviceStatus",
  camera_status: "CameraStatus",
  events: "EventMessage",
  deepstream_events: "DeepStreamEvent",
  crossings: "Crossing",
  signs: "SignSighting",
  alarms: "Alarm",
  occupancy: "Occupancy",
  line_counts: "LineCounts",
  snapshot: "Snapshot",
  stats: "Stats",
  config: "ConfigReport",
  command_result: "CommandReply",
};

const pascal = (s: string): string => s.replace(/(^|_)([a-z])/g, (_, __: string, c: string) => c.toUpperCase());

export function asyncApiDocument(): Json {
  const channels: Json = {};
  const operations: Json = {};
  const messages: Json = {};
  const schemas: Json = {};
  const param = (names: string[] = []): Json =>
    Object.fromEntries(
      ["prefix", "device", ...names].map((n) => [
        n,
        { description: n === "prefix" ? "mqtt.topic_prefix (default eva)" : n === "device" ? "device.id" : `${n} name from the config` },
      ]),
    );

  const channelsOf = [
    ...published.map((c) => ({
      ...c,
      schemaName: SCHEMA_NAMES[c.kind]!,
      schema:
        c.kind === "snapshot"
          ? { type: "string", format: "binary", description: publishedSchemas.snapshot.description }
          : toJsonSchema(publishedSchemas[c.kind]),
    })),
    ...recordChannels.map((c) => ({
      ...c,
      kind: c.id,
      contentType: undefined as string | undefined,
      schema: toJsonSchema(c.schema),
      parameters: [...c.address.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
    })),
  ];
  for (const c of channelsOf) {
    const schemaName = c.schemaName;
    schemas[schemaName] = c.schema;
    // One message per schema: channels that carry the same payload (a report and its retained copy) share it.
    messages[schemaName] ??= {
      name: schemaName,
      title: c.title,
      contentType: c.contentType ?? "application/json",
      payload: { $ref: `#/components/schemas/${schemaName}` },
    };
    channels[c.id] = {
      address: `{prefix}/{device}/${c.address}`,
      title: c.title,
      description: c.description,
      parameters: param(c.parameters),
      messages: { [schemaName]: { $ref: `#/components/messages/${schemaName}` } },
    };
    const op = operations[`send${schemaName}`] ? `send${c.id[0]!.toUpperCase()}${c.id.slice(1)}` : `send${schemaName}`;
    operations[op] = {
      action: "send",
      channel: { $ref: `#/channels/${c.id}` },
      messages: [{ $ref: `#/channels/${c.id}/messages/${schemaName}` }],
      // MQTT binding 0.2.0 allows retain on operations only (a message binding with it fails the parser).
      bindings: { mqtt: { qos: c.kind === "snapshot" ? 0 : 1, ...(c.retained ? { retain: true } : {}), bindingVersion: "0.2.0" } },
    };
  }

  // payload_format: deepstream puts DeepStream's schema on events instead of eva's own.
  schemas.DeepStreamEvent = toJsonSchema(publishedSchemas.deepstream_events);
  messages.DeepStreamEvent = {
    name: "DeepStreamEvent",
    title: "Event (payload_format: deepstream)",
    contentType: "application/json",
    payload: { $ref: "#/components/schemas/DeepStreamEvent" },
  };
  (channels.events as { messages: Json }).messages.DeepStreamEvent = { $ref: "#/components/messages/DeepStreamEvent" };
  (operations.sendEventMessage as { messages: Json[] }).messages.push({ $ref: "#/channels/events/messages/DeepStreamEvent" });

  schemas.CommandReply = toJsonSchema(publishedSchemas.command_result);
  messages.CommandReply = {
    name: "CommandReply",
    title: "Command reply",
    contentType: "application/json",
    payload: { $ref: "#/components/schemas/CommandReply" },
  };
  for (const [name, schema] of Object.entries(commandSchemas) as Array<[string, z.ZodType]>) {
    const schemaName = `${pascal(name)}Command`;
    schemas[schemaName] = toJsonSchema(schema);
    messages[schemaName] = {
      name: schemaName,
      title: `${name} command`,
      contentType: "application/json",
      payload: { $ref: `#/components/schemas/${schemaName}` },
    };
    const id = `cmd_${name}`;
    channels[id] = {
      address: `{prefix}/{device}/cmd/${name}`,
      description: schema.description,
      parameters: param(),
      messages: { [schemaName]: { $ref: `#/components/messages/${schemaName}` } },
    };
    channels[`${id}_result`] = {
      address: `{prefix}/{device}/cmd/${name}/result`,
      description: `Replies to ${name} for MQTT 3.1.1 clients (requests without a response topic); match them by request_id.`,
      parameters: param(),
      messages: { CommandReply: { $ref: "#/components/messages/CommandReply" } },
    };
    operations[`receive${pascal(name)}`] = {
      action: "receive",
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/${schemaName}` }],
      reply: {
        // MQTT v5: the reply goes to the request's response topic with its correlation data.
        address: { location: "$message.header#/responseTopic", description: "MQTT v5 response topic; without one, cmd/<name>/result" },
        messages: [{ $ref: "#/components/messages/CommandReply" }],
      },
    };
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: "eva device API",
      version: "1.0.0",
      description:
        "What one eva edge device publishes and which commands it takes, under <prefix>/<device>/. Generated from agent/publish/payload-schemas.ts by `eva asyncapi`; do not edit by hand.",
    },
    defaultContentType: "application/json",
    channels,
    operations,
    components: { schemas, messages },
  };
}

export function asyncApiYaml(): string {
  return `# Generated by \`eva asyncapi\` from agent/publish/payload-schemas.ts; do not edit.\n${stringify(asyncApiDocument(), { lineWidth: 0 })}`;
}
