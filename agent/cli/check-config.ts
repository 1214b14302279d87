import { ConfigError, formatProblem, loadConfigFile, type ConfigProblem } from "../config/load.js";
import { parse, UsageError } from "./args.js";

export async function checkConfig(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, true);
  if (positionals.length !== 1) throw new UsageError("usage: eva check-config FILE");
  const file = positionals[0]!;
  let problems: ConfigProblem[] = [];
  try {
    loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
  if (problems.length) return 1;
  process.stdout.write(`${file}: ok\n`);
  return 0;
}
