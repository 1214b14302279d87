import { loadConfigFile } from "../config/load.js";
import { ConfigReloader } from "../config-reloader.js";
import { Agent } from "../controller.js";
import { createLogger } from "../health/logger.js";
import { parse, UsageError } from "./args.js";

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: "string", short: "c" }, "exit-on-eof": { type: "boolean" } });
  if (!values.config) throw new UsageError("eva run needs --config FILE");
  const loaded = loadConfigFile(values.config);
  const log = createLogger(process.env.EVA_LOG_LEVEL ?? loaded.config.log.level);
  const agent = new Agent(loaded, log, { exitOnEof: values["exit-on-eof"] });

  let signal: string | null = null;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (s: string) => {
      if (signal) return;
      signal = s;
      resolve();
    };
    process.once("SIGINT", () => onSignal("SIGINT"));
    process.once("SIGTERM", () => onSignal("SIGTERM"));
  });

  try {
    await agent.start();
  } catch (err) {
    await agent.stop(0).catch(() => {});
    log.flush();
    throw Object.assign(new Error((err as Error).message), { code: "EVA_START" });
  }
  log.info({ config: loaded.file, cameras: Object.keys(loaded.config.cameras), providers: agent.providers() }, "eva running");
  // Live config: edits of the file and SIGHUP reload; see config/README.md.
  const reloader = new ConfigReloader(values.config, agent, log, { runningText: loaded.text }).watch();
  const onHup = () => void reloader.trigger();
  process.on("SIGHUP", onHup);
  await Promise.race([stopped, agent.finished]);
  log.info({ reason: signal ?? "every file camera ended" }, "eva stopping");
  process.off("SIGHUP", onHup);
  await reloader.close();
  await agent.stop();
  log.info({ figures: agent.figures() }, "eva stopped");
  log.flush();
  return 0;
}
