#!/usr/bin/env node
import { ConfigError } from "../config/load.js";
import { USAGE, UsageError } from "./args.js";

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "-v":
    case "--version": {
      const { agentVersion } = await import("../health/version.js");
      process.stdout.write(`${agentVersion()}\n`);
      return 0;
    }
    case "run":
      return (await import("./run.js")).run(rest);
    case "check-config":
      return (await import("./check-config.js")).checkConfig(rest);
    case "events":
      return (await import("./events.js")).events(rest);
    case "signs":
      return (await import("./signs.js")).signs(rest);
    case "bench":
      return (await import("./bench.js")).bench(rest);
    case "asyncapi":
      process.stdout.write((await import("../publish/asyncapi.js")).asyncApiYaml());
      return 0;
    case "ingest":
      return (await import("./ingest.js")).ingest(rest);
    case "fleet":
      return (await import("./fleet.js")).fleet(rest);
    case "preview":
      return (await import("./preview.js")).preview(rest);
    default: {
      const { recordKinds } = await import("../records/registry.js");
      const kind = recordKinds.find((k) => k.command?.name === cmd);
      if (kind) return (await import("./records.js")).listRecords(kind, rest);
      throw new UsageError(`unknown command '${cmd}'\n\n${USAGE}`);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else if (err instanceof Error && "code" in err && typeof err.code === "string" && err.code.startsWith("EVA_")) {
      process.stderr.write(`eva: ${err.message}\n`);
    } else {
      process.stderr.write(`eva: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  },
);
