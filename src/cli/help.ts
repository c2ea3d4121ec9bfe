import { type CommandDef, defineCommand, renderUsage } from "citty";
import { DropsimError } from "../core/errors.ts";
import type { CliData } from "./config.ts";
import { resolveValue, findCommand } from "./tree.ts";
import { VERSION_LINE } from "./version.ts";

/** A command's help: citty's usage, then its examples and where else flags can come from. */
export async function renderHelp(cmd: CommandDef, names: string[]): Promise<string> {
  const parent = { meta: { name: ["dropsim", ...names.slice(0, -1)].join(" "), version: VERSION_LINE } };
  const usage = await renderUsage(cmd, names.length === 0 ? undefined : parent);
  const examples = (await resolveValue(cmd.meta))?.examples ?? [];
  const lines = [usage];
  if (examples.length > 0) lines.push("", "EXAMPLES", "", ...examples.map((e) => `  ${e}`));
  lines.push(
    "",
    "Every flag can also be set as DROPSIM_<FLAG> in the environment or in the config file (--config FILE);",
    "the line wins over the environment, which wins over the file: see dropsim config. --version prints the version.",
  );
  return lines.join("\n");
}

export default defineCommand({
  meta: {
    name: "help",
    description: "Show the help of dropsim or of one of its commands",
    examples: ["dropsim help", "dropsim help sync", "dropsim help token create"],
  },
  args: {
    command: { type: "positional", description: "A command", required: false },
    sub: { type: "positional", description: "One of its subcommands", required: false },
  },
  async run({ args, data }) {
    const words = [args.command, args.sub].filter((w): w is string => w !== undefined);
    const found = await findCommand((data as CliData).root, words);
    if (found.rest.length > 0) throw new DropsimError("bad_message", `Unknown command "${words.join(" ")}": see dropsim help ${found.names.join(" ")}`.trimEnd());
    console.log(await renderHelp(found.cmd, found.names));
  },
});
