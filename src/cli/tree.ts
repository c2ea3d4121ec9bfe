import type { ArgsDef, CommandDef } from "citty";
import { DropsimError } from "../core/errors.ts";
import { closest } from "./closest.ts";

/* The command tree citty's definitions make, walked by name (subcommands load lazily). */

/** A command found by its names (`["token", "create"]`), with the arguments after them. */
export interface Found {
  names: string[];
  cmd: CommandDef;
  rest: string[];
}

export async function resolveValue<T>(v: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof v === "function" ? (v as () => T | Promise<T>)() : v;
}

export async function subCommandsOf(cmd: CommandDef): Promise<Record<string, CommandDef>> {
  const subs = (await resolveValue(cmd.subCommands)) ?? {};
  const out: Record<string, CommandDef> = {};
  for (const [name, sub] of Object.entries(subs)) out[name] = await resolveValue(sub);
  return out;
}

export async function argsOf(cmd: CommandDef): Promise<ArgsDef> {
  return (await resolveValue(cmd.args)) ?? {};
}

/** Every command that runs (no subcommands), with its names, for `config` and the config file's keys. */
export async function leaves(cmd: CommandDef, names: string[] = []): Promise<Found[]> {
  const subs = await subCommandsOf(cmd);
  if (Object.keys(subs).length === 0) return [{ names, cmd, rest: [] }];
  const all = await Promise.all(Object.entries(subs).map(([name, sub]) => leaves(sub, [...names, name])));
  return all.flat();
}

/** Walks `words` down the tree: the deepest command they name; a word that names none is an error. */
export async function findCommand(root: CommandDef, words: string[]): Promise<Found> {
  let cmd = root;
  const names: string[] = [];
  let i = 0;
  for (; i < words.length; i++) {
    // Only the subcommand named is loaded: loading every one cost each command (status, --version)
    // the start-up of all the others, ~0.15 s of CPU.
    const subs = (await resolveValue(cmd.subCommands)) ?? {};
    if (Object.keys(subs).length === 0) break;
    const word = words[i]!;
    if (word.startsWith("-")) break;
    const sub = Object.hasOwn(subs, word) ? await resolveValue(subs[word]!) : undefined;
    if (!sub) {
      const near = closest(word, Object.keys(subs));
      throw new DropsimError("bad_message", `Unknown command "${[...names, word].join(" ")}"${near ? ` (did you mean ${[...names, near].join(" ")}?)` : ""}: see dropsim help ${names.join(" ")}`.trimEnd());
    }
    cmd = sub;
    names.push(word);
  }
  return { names, cmd, rest: words.slice(i) };
}

