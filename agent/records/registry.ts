import type { RecordKind } from "../core/records.js";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import { alarms } from "./alarms.js";
import { counts } from "./counts.js";
import { crossings } from "./crossings.js";
import { events } from "./events.js";
import { lineTotals } from "./line-totals.js";
import { occupancy } from "./occupancy.js";
import { sightings } from "./sightings.js";
import { signAssets } from "./sign-assets.js";

/**
 * Every record kind the agent stores and publishes, one line each: the recorder's migrations, the AsyncAPI
 * document, /metrics, the console, Home Assistant discovery, the CLI and the analytics rules read this list.
 * The rules run in this order, each seeing what those above it emitted for the frame (counts read crossings).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind has its own record type
export const recordKinds: ReadonlyArray<RecordKind<any, RuleConfig>> = [events, crossings, lineTotals, sightings, signAssets, occupancy, alarms, counts];
