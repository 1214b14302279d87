import { commandSchemas, type CommandErrorCode, type CommandName, type CommandParams, type CommandReply } from "./payload-schemas.js";

// Commands from the control room: `<prefix>/<device>/cmd/<name>` with a JSON object body. Parsing and running
// are pure over a CommandTarget, so every malformed body can be tested without a broker; the MQTT side is in
// command-channel.ts.

/** Bodies larger than this are refused unread: no command needs more, and parsing costs memory. */
export const MAX_COMMAND_BYTES = 16 * 1024;

export type CommandOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; code: CommandErrorCode; message: string };

export type ParsedCommand = { [N in CommandName]: { name: N; params: CommandParams<N> } }[CommandName];

export type ParseResult =
  | { ok: true; command: ParsedCommand; requestId: string | null }
  | { ok: false; code: CommandErrorCode; message: string; requestId: string | null };

/** What commands act on: the agent's hooks, each returning an outcome (never throwing on purpose). */
export interface CommandTarget {
  setDetection(camera: string, enabled: boolean): CommandOutcome;
  snapshotNow(camera: string): Promise<CommandOutcome>;
  requestReload(): Promise<CommandOutcome>;
  acknowledgeAlarm(id: string): CommandOutcome;
  clearAlarm(id: string): CommandOutcome;
  listEvents(params: CommandParams<"list_events">): CommandOutcome;
  status(): CommandOutcome;
}

const isCommandName = (name: string): name is CommandName => Object.hasOwn(commandSchemas, name);

/** Printable, bounded: names and ids from the network go into replies and logs. */
export function clip(s: string, max = 64): string {
  const t = s.replace(/[^\x20-\x7e]/g, "?");
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

export function parseCommand(name: string, payload: Uint8Array, maxBytes = MAX_COMMAND_BYTES): ParseResult {
  if (payload.length > maxBytes) {
    return { ok: false, code: "too_large", message: `body is ${payload.length} bytes; the limit is ${maxBytes}`, requestId: null };
  }
  let body: unknown = {};
  if (payload.length > 0) {
    const text = Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString("utf8");
    try {
      body = JSON.parse(text);
    } catch (err) {
      return { ok: false, code: "bad_json", message: `body is not JSON: ${clip((err as Error).message, 120)}`, requestId: null };
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, code: "not_an_object", message: "body must be a JSON object", requestId: null };
  }
  const rid = (body as { request_id?: unknown }).request_id;
  const requestId = typeof rid === "string" && rid.length <= 128 ? rid : null;
  if (!isCommandName(name)) {
    return { ok: false, code: "unknown_command", message: `unknown command '${clip(name)}'; known: ${Object.keys(commandSchemas).join(", ")}`, requestId };
  }
  const parsed = commandSchemas[name].safeParse(body);
  if (!parsed.success) {
    const why = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`)
      .join("; ");
    return { ok: false, code: "invalid_params", message: clip(why, 300), requestId };
  }
  return { ok: true, command: { name, params: parsed.data } as ParsedCommand, requestId };
}

async function execute(target: CommandTarget, c: ParsedCommand): Promise<CommandOutcome> {
  switch (c.name) {
    case "set_detection":
      return target.setDetection(c.params.camera, c.params.enabled);
    case "snapshot":
      return target.snapshotNow(c.params.camera);
    case "reload":
      return target.requestReload();
    case "ack_alarm":
      return target.acknowledgeAlarm(c.params.alarm_id);
    case "clear_alarm":
      return target.clearAlarm(c.params.alarm_id);
    case "list_events":
      return target.listEvents(c.params);
    case "get_status":
      return target.status();
  }
}

/** Parses and runs one command; always resolves to the reply to send, whatever the body or the target does. */
export async function handleCommand(target: CommandTarget, name: string, payload: Uint8Array, maxBytes = MAX_COMMAND_BYTES): Promise<CommandReply> {
  const command = clip(name);
  const parsed = parseCommand(name, payload, maxBytes);
  if (!parsed.ok) return { command, request_id: parsed.requestId, ok: false, error: { code: parsed.code, message: parsed.message } };
  let outcome: CommandOutcome;
  try {
    outcome = await execute(target, parsed.command);
  } catch (err) {
    outcome = { ok: false, code: "failed", message: clip((err as Error)?.message ?? String(err), 300) };
  }
  return outcome.ok
    ? { command, request_id: parsed.requestId, ok: true, result: outcome.result }
    : { command, request_id: parsed.requestId, ok: false, error: { code: outcome.code, message: outcome.message } };
}
