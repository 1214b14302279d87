import { checkConfigFile } from "../check/config-check.js";
import { formatProblem } from "../config/load.js";
import { parse, UsageError } from "./args.js";

export async function checkConfig(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, true);
  if (positionals.length !== 1) throw new UsageError("usage: eva check-config FILE");
  const file = positionals[0]!;
  const { problems } = await checkConfigFile(file);
  for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
  if (problems.length) return 1;
  process.stdout.write(`${file}: ok\n`);
  return 0;
}
