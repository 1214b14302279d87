import { parseArgs, type ParseArgsConfig } from "node:util";
import { recordKinds } from "../records/registry.js";

/** The record kinds' own listing commands (agent/records), e.g. `eva counts`. */
const recordCommands = recordKinds
  .flatMap((k) =>
    k.command ? [`  eva ${k.command.name} --db FILE [--camera C] [--since ISO] [--limit N] [--json]\n${" ".repeat(45)}${k.command.help}\n`] : [],
  )
  .join("");

export const USAGE = `eva — edge video analytics agent

Usage:
  eva run --config FILE [--exit-on-eof]      run until SIGINT/SIGTERM (or until every file camera ends)
  eva check-config FILE                      validate a config; prints file:line:col path: message per problem
  eva events --db FILE [--camera C] [--label L] [--since ISO] [--limit N] [--json]
  eva signs --db FILE [--camera C] [--since ISO] [--inventory | --assets] [--json | --geojson | --osm]
                                             traffic-sign sightings (one per sign per pass) or a camera's inventory
  eva bench --config FILE [--camera NAME] [--seconds N] [--rounds R] [--baseline] [--json]
                                             CPU ms per analysed frame by stage (ffmpeg, main, detector)
                                             from /proc; --baseline: a minimal ffmpeg → onnxruntime loop
                                             in the same run, interleaved
  eva bench --config FILE --cameras N --clip FILE [--seconds N] [--motion on|off] [--json]
                                             N real-time copies of a clip: processed/skipped/gated fps,
                                             CPU cores by stage, event-loop lag p50/p99
  eva asyncapi                               print the MQTT API's AsyncAPI 3 document (YAML)
  eva preview --config FILE --camera NAME --out FILE.png
                                             one frame with the camera's zones, lines (in arrow) and masks drawn
  eva ingest --mqtt URL --postgres URL [--group NAME] [--prefix eva] [--client-id ID] [--lanes N]
             [--health-port N] [--config FILE]
                                             control room: store every device's records in PostgreSQL
                                             (MQTT 5 shared subscription; docs/fleet.md)
  eva fleet events|crossings|signs|alarms|counts|devices --postgres URL [--device D] [--since ISO] [--limit N] [--json]
  eva fleet signs --postgres URL --geojson   records the ingest stored, newest first, with their device
${recordCommands}  eva --help | --version
`;

/** A failure the user can act on: printed as one line, no stack trace, exit code 1. */
export class UsageError extends Error {
  readonly code = "EVA_USAGE";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(args: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
}

/** `--since ISO` as ms since epoch; undefined when absent. */
export function parseSince(since: string | undefined): number | undefined {
  if (since === undefined) return undefined;
  const ms = Date.parse(since);
  if (Number.isNaN(ms)) throw new UsageError(`--since '${since}' is not an ISO 8601 time (e.g. 2026-11-27T08:00:00Z)`);
  return ms;
}
