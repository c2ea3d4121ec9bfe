import { type ArgDef, type ArgsDef, type CommandDef, runCommand } from "citty";
import { DropsimError } from "../core/errors.ts";
import { closest } from "./closest.ts";
import { type CliData, type ConfigFile, loadConfigFile, type Setting, settingsFor } from "./config.ts";
import { renderHelp } from "./help.ts";
import { FLAG_VALUES } from "./options.ts";
import { argsOf, findCommand, subCommandsOf } from "./tree.ts";
import { VERSION_LINE } from "./version.ts";

/*
 * citty runs the commands; this decides what the line means first, strictly: an unknown flag
 * or an extra argument is an error naming the closest valid one, where citty would ignore it.
 * Flags absent from the line come from DROPSIM_* variables or the config file (cli/config.ts),
 * and every value is checked (cli/options.ts FLAG_VALUES) naming where it came from.
 */

declare module "citty" {
  interface CommandMeta {
    /** Command lines shown under EXAMPLES in the command's help. */
    examples?: string[];
  }
}

const usage = (message: string) => new DropsimError("bad_message", message);

/** The flags and positionals of one command's line, as typed. */
export interface ParsedLine {
  flags: Map<string, string | boolean>;
  /** Values of a string flag given more than once, before its last (`--exclude a --exclude b`). */
  earlier: string[];
  positionals: string[];
  help: boolean;
}

/** Reads `words` against `args` strictly: every flag must be one of them, every value where one is due. */
export function parseLine(words: string[], args: ArgsDef, command: string): ParsedLine {
  const flags = new Map<string, string | boolean>();
  const positionals: string[] = [];
  const earlier: string[] = [];
  const byName = new Map<string, [string, ArgDef]>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    byName.set(name, [name, def]);
    for (const alias of ["alias" in def ? (def.alias ?? []) : []].flat()) byName.set(alias, [name, def]);
  }
  const flagNames = [...byName.keys()].filter((n) => n.length > 1);
  const unknown = (flag: string) => {
    const near = closest(flag.replace(/^-+(no-)?/, ""), flagNames);
    return usage(`Unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ""}: see dropsim ${command} --help`);
  };
  let help = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (word === "--help" || word === "-h") {
      help = true;
      continue;
    }
    if (!word.startsWith("-") || word === "-" || /^-\d/.test(word)) {
      positionals.push(word);
      continue;
    }
    const long = word.startsWith("--");
    const eq = word.indexOf("=");
    const key = word.slice(long ? 2 : 1, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : word.slice(eq + 1);
    if (!long && key.length > 1) {
      // -vq: single-letter switches run together.
      words.splice(i + 1, 0, ...[...key].map((c) => `-${c}`));
      continue;
    }
    const negated = long && key.startsWith("no-") && !byName.has(key) ? byName.get(key.slice(3)) : undefined;
    if (negated) {
      if (negated[1].type !== "boolean") throw usage(`Flag --${key} is not one: only on/off flags have a --no- form (see dropsim ${command} --help)`);
      flags.set(negated[0], false);
      continue;
    }
    const found = byName.get(key);
    if (!found || (long && key.length === 1) || (!long && key.length !== 1)) throw unknown(word.split("=")[0]!);
    const [name, def] = found;
    if (def.type === "boolean") {
      if (inline !== undefined && !/^(true|false)$/.test(inline)) throw usage(`Invalid value "${inline}" for --${name}: it is on or off (--${name} or --no-${name})`);
      flags.set(name, inline !== "false");
      continue;
    }
    const value = inline ?? words[i + 1];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) throw usage(`Flag --${name} needs a value (see dropsim ${command} --help)`);
    if (inline === undefined) i++;
    if (def.type === "enum" && def.options && !def.options.includes(value)) throw usage(`Invalid value "${value}" for --${name}: expected one of ${def.options.join(", ")}`);
    const before = flags.get(name);
    if (typeof before === "string") earlier.push(`--${name}=${before}`);
    flags.set(name, value);
  }
  return { flags, earlier, positionals, help };
}

/**
 * Runs the command `argv` names. `--version` anywhere prints the version and runs nothing
 * (unless the command has a --version flag of its own);
 * `--help` anywhere prints the help of the command named so far.
 */
export async function runCli(root: CommandDef, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dashes = argv.indexOf("--");
  const options = dashes < 0 ? argv : argv.slice(0, dashes);
  const { configFlag, words } = _takeConfigFlag(argv);
  if (options.includes("--version") && !(await _hasOwnVersionFlag(root, words))) {
    console.log(VERSION_LINE);
    return;
  }
  const found = await findCommand(root, words);
  const args = await argsOf(found.cmd);
  const command = found.names.join(" ");
  const line = parseLine(found.rest, args, command);
  const subs = await subCommandsOf(found.cmd);
  if (line.help || Object.keys(subs).length > 0) {
    console.log(await renderHelp(found.cmd, found.names));
    return;
  }
  const config = await loadConfigFile(configFlag ?? (env.DROPSIM_CONFIG || undefined), env, root);
  const settings = settingsFor(found.names, args, line.flags, env, config);
  _checkLine(found.names, args, line, settings);
  await runCommand(found.cmd, { rawArgs: [...line.earlier, ..._citty(settings, line.positionals)], data: { root, config } satisfies CliData });
}

/** `restore --version N` names a journal version, not dropsim's: a command with its own --version flag keeps it. */
async function _hasOwnVersionFlag(root: CommandDef, words: string[]): Promise<boolean> {
  try {
    return "version" in (await argsOf((await findCommand(root, words)).cmd));
  } catch {
    return false;
  }
}

/** `--config FILE` is every command's: taken off the line wherever it is. */
function _takeConfigFlag(argv: string[]): { configFlag: string | undefined; words: string[] } {
  const words: string[] = [];
  let configFlag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--") {
      words.push(...argv.slice(i));
      break;
    }
    if (word === "--config") {
      configFlag = argv[++i];
      if (configFlag === undefined) throw usage("Flag --config needs a value: the config file to read");
    } else if (word.startsWith("--config=")) configFlag = word.slice("--config=".length);
    else words.push(word);
  }
  return { configFlag, words };
}

function _checkLine(names: string[], args: ArgsDef, line: ParsedLine, settings: Map<string, Setting>): void {
  const command = names.join(" ");
  const positional = Object.entries(args).filter(([, d]) => d.type === "positional");
  if (line.positionals.length > positional.length) {
    const takes = positional.length === 0 ? "no arguments" : positional.map(([n]) => n.toUpperCase()).join(" ");
    throw usage(`Unexpected argument "${line.positionals[positional.length]}": dropsim ${command} takes ${takes} (see dropsim ${command} --help)`);
  }
  positional.forEach(([name, def], i) => {
    if (line.positionals[i] === undefined && def.required === true && def.default === undefined) throw usage(`Missing ${name.toUpperCase()}: dropsim ${command} needs it (see dropsim ${command} --help)`);
  });
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "positional" && def.required === true && !settings.has(name)) throw usage(`Missing --${name}: dropsim ${command} needs it (see dropsim ${command} --help)`);
  }
  for (const [name, s] of settings) {
    const check = FLAG_VALUES[name];
    if (check && typeof s.value === "string") check(s.value, s.source === "flag" ? ` for --${name}` : ` for ${name} (from ${s.source})`);
  }
  if (settings.get("verbose")?.value === true && settings.get("quiet")?.value === true) {
    throw usage(`Cannot be verbose and quiet at once: choose -v (--verbose) or -q (--quiet)${_from(settings, "verbose")}${_from(settings, "quiet")}`);
  }
}

function _from(settings: Map<string, Setting>, name: string): string {
  const source = settings.get(name)!.source;
  return source === "flag" ? "" : `; ${name} is set by ${source}`;
}

/** The line citty parses: every setting as a flag, the positionals after `--` so none reads as one. */
function _citty(settings: Map<string, Setting>, positionals: string[]): string[] {
  const flags = [...settings].map(([name, { value }]) => (value === true ? `--${name}` : value === false ? `--no-${name}` : `--${name}=${value}`));
  return [...flags, "--", ...positionals];
}
