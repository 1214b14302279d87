import { formatProblem, loadConfigFile } from "../config/load.js";
import type { CommandOutcome } from "../publish/commands.js";
import { ConfigReloader } from "../config-reloader.js";
import { Agent } from "../controller.js";
import { createLogger, logFormatFromEnv } from "../health/logger.js";
import { ServiceNotifier } from "../health/service-watchdog.js";
import { parse, UsageError } from "./args.js";

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: "string", short: "c" }, "exit-on-eof": { type: "boolean" } });
  if (!values.config) throw new UsageError("eva run needs --config FILE");
  const loaded = loadConfigFile(values.config);
  const log = createLogger({ level: process.env.EVA_LOG_LEVEL ?? loaded.config.log.level, format: logFormatFromEnv() ?? loaded.config.log.format });
  let reloader: ConfigReloader | null = null;
  // The control room's `reload` command does what an edit of the file or a SIGHUP does.
  const reload = async (): Promise<CommandOutcome> => {
    const report = reloader ? await reloader.trigger("MQTT reload command") : null;
    if (!report) return { ok: false, code: "failed", message: "the agent is starting or stopping" };
    return report.result === "applied"
      ? { ok: true, result: { ...report } }
      : { ok: false, code: "failed", message: report.errors.map(formatProblem).join("; ") };
  };
  const agent = new Agent(loaded, log, { exitOnEof: values["exit-on-eof"], reload });

  // Under systemd (Type=notify): READY once cameras run, the watchdog fed from the event loop from the start
  // (a first TensorRT build takes minutes, the loop stays free), STOPPING on the way out.
  const service = ServiceNotifier.fromEnv({ log });
  service?.startWatchdog();
  service?.status("starting: loading models");
  let signal: string | null = null;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (s: string) => {
      if (signal) {
        log.warn({ signal: s }, "second signal while stopping: exiting now");
        log.flush();
        process.exit(1);
      }
      signal = s;
      // A stop that hangs (a camera's ffmpeg, a model still building, a broker that never acks) must still end
      // before systemd's TimeoutStopSec: exit with an error, naming the deadline.
      const limit = Number(process.env.EVA_STOP_TIMEOUT_SECONDS ?? 20);
      setTimeout(() => {
        log.error({ seconds: limit }, "stop did not finish in time: exiting");
        log.flush();
        process.exit(1);
      }, limit * 1000).unref();
      resolve();
    };
    process.once("SIGINT", () => onSignal("SIGINT"));
    process.once("SIGTERM", () => onSignal("SIGTERM"));
  });
  // Live config: edits of the file and SIGHUP reload (see config/README.md). A SIGHUP while the agent starts,
  // which by Node's default would kill it, is served once it runs.
  let hupWhileStarting = false;
  const onHup = () => (reloader ? void reloader.trigger() : (hupWhileStarting = true));
  process.on("SIGHUP", onHup);

  try {
    await agent.start();
  } catch (err) {
    process.off("SIGHUP", onHup);
    await agent.stop(0).catch(() => {});
    await service?.close();
    log.flush();
    throw Object.assign(new Error((err as Error).message), { code: "EVA_START" });
  }
  log.info({ config: loaded.file, cameras: Object.keys(loaded.config.cameras), providers: agent.providers() }, "eva running");
  service?.ready(`running: ${agent.cameraStatuses().length} cameras, ${Object.values(agent.providers()).join("/") || "no model"}`);
  const live = (reloader = new ConfigReloader(values.config, agent, log, { runningText: loaded.text }).watch());
  if (hupWhileStarting) void live.trigger();
  await Promise.race([stopped, agent.finished]);
  log.info({ reason: signal ?? "every file camera ended" }, "eva stopping");
  service?.stopping();
  process.off("SIGHUP", onHup);
  await live.close();
  await agent.stop();
  log.info({ figures: agent.figures() }, "eva stopped");
  await service?.close();
  log.flush();
  return 0;
}
