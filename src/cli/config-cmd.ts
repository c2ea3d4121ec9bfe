import { defineCommand } from "citty";
import { DropsimError } from "../core/errors.ts";
import { table } from "./admin.ts";
import type { CliData } from "./config.ts";
import { effectiveSettings } from "./config.ts";
import { argsOf, findCommand, leaves } from "./tree.ts";

/** Flags whose values are secrets: shown as set, never printed. */
const SECRET = new Set(["token"]);

export default defineCommand({
  meta: {
    name: "config",
    description: "Show the effective configuration of every command (or one) and where each value comes from: flag, environment, config file or default",
    examples: ["dropsim config", "dropsim config sync", "DROPSIM_PORT=7071 dropsim config serve --json", "dropsim config --config ./dropsim.toml token create"],
  },
  args: {
    command: { type: "positional", description: "Only this command", required: false },
    sub: { type: "positional", description: "Only this subcommand of it", required: false },
    json: { type: "boolean", description: 'Print {"file", "settings": [{"command", "flag", "value", "source"}]}', default: false },
  },
  async run({ args, data }) {
    const { root, config } = data as CliData;
    const words = [args.command, args.sub].filter((w): w is string => w !== undefined);
    const found = await findCommand(root, words);
    if (found.rest.length > 0) throw new DropsimError("bad_message", `Unknown command "${words.join(" ")}": see dropsim help`);
    const rows: { command: string; flag: string; value: string | boolean; source: string }[] = [];
    for (const leaf of await leaves(found.cmd, found.names)) {
      for (const [flag, s] of effectiveSettings(leaf.names, await argsOf(leaf.cmd), process.env, config)) {
        rows.push({ command: leaf.names.join(" "), flag, value: SECRET.has(flag) ? "(set)" : s.value, source: s.source });
      }
    }
    const file = config.values === undefined ? null : config.path;
    if (args.json) {
      console.log(JSON.stringify({ file, settings: rows }));
      return;
    }
    console.log(`Config file: ${file ?? `none (${config.path} does not exist)`}`);
    console.log(table(["COMMAND", "FLAG", "VALUE", "FROM"], rows.map((r) => [r.command, `--${r.flag}`, String(r.value), r.source])));
  },
});
