import type { ArgsDef, CommandDef } from "citty";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseToml } from "smol-toml";
import { DropsimError } from "../core/errors.ts";
import { closest } from "./closest.ts";
import { argsOf, subCommandsOf } from "./tree.ts";

/** What a command's run gets as `context.data`: the whole tree, for `help` and `config`. */
export interface CliData {
  root: CommandDef;
  config: ConfigFile;
}

/*
 * Where a flag's value comes from when the line does not give it: precedence flag > DROPSIM_<FLAG>
 * in the environment > the config file > the flag's default. In the file, a key at the top applies
 * to every command with that flag, a [sync] (or [token.create]) table only to that command.
 */

export interface ConfigFile {
  /** Where it was looked for; undefined values when there is none. */
  path: string;
  values: Record<string, unknown> | undefined;
}

/** A flag's value and where it came from: "flag", "DROPSIM_X", the config file's path, or "default". */
export interface Setting {
  value: string | boolean;
  source: string;
}

/** The platform's place for the config file: $XDG_CONFIG_HOME or ~/.config, %APPDATA% on Windows, ~/Library/Application Support on macOS. */
export function defaultConfigPath(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform, home: string = os.homedir()): string {
  if (platform === "win32") return path.win32.join(env.APPDATA ?? path.win32.join(home, "AppData", "Roaming"), "dropsim", "config.toml");
  if (env.XDG_CONFIG_HOME) return path.join(env.XDG_CONFIG_HOME, "dropsim", "config.toml");
  if (platform === "darwin") return path.join(home, "Library", "Application Support", "dropsim", "config.toml");
  return path.join(home, ".config", "dropsim", "config.toml");
}

export function envName(flag: string): string {
  return `DROPSIM_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Reads the config file (`given` by --config or DROPSIM_CONFIG, else the platform's), checking
 * every key against the commands' flags. A missing file is no configuration, unless it was given.
 */
export async function loadConfigFile(given: string | undefined, env: NodeJS.ProcessEnv, root: CommandDef): Promise<ConfigFile> {
  const file = given === undefined ? defaultConfigPath(env) : path.resolve(given);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (given === undefined && code === "ENOENT") return { path: file, values: undefined };
    throw new DropsimError("bad_message", `Cannot read config file ${file}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
  }
  let values: Record<string, unknown>;
  try {
    values = parseToml(text);
  } catch (e) {
    throw new DropsimError("bad_message", `Invalid config file ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  await _checkKeys(values, root, [], file);
  return { path: file, values };
}

/** Every key must be a flag of a command under `cmd`, or a table named after one of its subcommands. */
async function _checkKeys(table: Record<string, unknown>, cmd: CommandDef, names: string[], file: string): Promise<void> {
  const flags = await _flagsUnder(cmd);
  const subs = await subCommandsOf(cmd);
  for (const [key, value] of Object.entries(table)) {
    const sub = subs[key];
    if (sub && _isTable(value)) {
      await _checkKeys(value, sub, [...names, key], file);
      continue;
    }
    if (flags.has(key) && !_isTable(value)) continue;
    const where = names.length === 0 ? file : `[${names.join(".")}] of ${file}`;
    const near = closest(key, [...flags, ...Object.keys(subs)]);
    throw new DropsimError("bad_message", `Unknown key "${key}" in ${where}${near ? ` (did you mean "${near}"?)` : ""}`);
  }
}

async function _flagsUnder(cmd: CommandDef): Promise<Set<string>> {
  const flags = new Set(Object.entries(await argsOf(cmd)).flatMap(([name, def]) => (def.type === "positional" ? [] : [name])));
  for (const sub of Object.values(await subCommandsOf(cmd))) for (const f of await _flagsUnder(sub)) flags.add(f);
  return flags;
}

function _isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The flags of the command `names` that are set, with where each came from (defaults left to citty). */
export function settingsFor(names: string[], args: ArgsDef, given: ReadonlyMap<string, string | boolean>, env: NodeJS.ProcessEnv, config: ConfigFile): Map<string, Setting> {
  const settings = new Map<string, Setting>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const boolean = def.type === "boolean";
    const flag = given.get(name);
    if (flag !== undefined) {
      settings.set(name, { value: flag, source: "flag" });
      continue;
    }
    const variable = envName(name);
    const fromEnv = env[variable];
    if (fromEnv !== undefined && fromEnv !== "") {
      settings.set(name, { value: boolean ? _envBoolean(fromEnv, name, variable) : fromEnv, source: variable });
      continue;
    }
    const fromFile = _fileValue(config, names, name);
    if (fromFile !== undefined) settings.set(name, { value: _fileSetting(fromFile.value, boolean, name, fromFile.where), source: config.path });
  }
  return settings;
}

/** Every flag of the command `names` with its effective value, defaults included, for `dropsim config`. */
export function effectiveSettings(names: string[], args: ArgsDef, env: NodeJS.ProcessEnv, config: ConfigFile): Map<string, Setting> {
  const set = settingsFor(names, args, new Map(), env, config);
  const all = new Map<string, Setting>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const value = set.get(name) ?? (def.default === undefined ? undefined : { value: def.default as string | boolean, source: "default" });
    if (value) all.set(name, value);
  }
  return all;
}

/** The most specific value in the file: [token.create] before [token] before the top. */
function _fileValue(config: ConfigFile, names: string[], flag: string): { value: unknown; where: string } | undefined {
  let found: { value: unknown; where: string } | undefined;
  let table: unknown = config.values;
  for (let depth = 0; _isTable(table); depth++) {
    const value = table[flag];
    if (value !== undefined && !_isTable(value)) found = { value, where: depth === 0 ? config.path : `[${names.slice(0, depth).join(".")}] of ${config.path}` };
    if (depth === names.length) break;
    table = table[names[depth]!];
  }
  return found;
}

function _envBoolean(value: string, flag: string, variable: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new DropsimError("bad_message", `Invalid value "${value}" for ${flag} (from ${variable}): expected true or false`);
}

function _fileSetting(value: unknown, boolean: boolean, flag: string, where: string): string | boolean {
  if (boolean) {
    if (typeof value === "boolean") return value;
    throw new DropsimError("bad_message", `Invalid value ${JSON.stringify(value)} for ${flag} in ${where}: expected true or false`);
  }
  if (typeof value === "string" || typeof value === "number" || typeof value === "bigint") return String(value);
  throw new DropsimError("bad_message", `Invalid value ${JSON.stringify(value)} for ${flag} in ${where}: expected a string or a number`);
}
