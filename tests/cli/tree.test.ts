import { describe, expect, test } from "bun:test";
import type { CommandDef } from "citty";
import { findCommand } from "../../src/cli/tree.ts";

// Subcommands load lazily: finding one must load it alone, or every command (a `status` polled
// every half second, `--version`) pays the start-up of all the others.
function lazyTree(loaded: string[]): CommandDef {
  const leaf = (name: string) => async () => {
    loaded.push(name);
    return { meta: { name }, args: {}, run() {} } satisfies CommandDef;
  };
  const token = async () => {
    loaded.push("token");
    return { meta: { name: "token" }, subCommands: { create: leaf("token create"), list: leaf("token list") } } satisfies CommandDef;
  };
  return { meta: { name: "dropsim" }, subCommands: { serve: leaf("serve"), sync: leaf("sync"), status: leaf("status"), token } };
}

describe("findCommand", () => {
  test("loads only the subcommands it walks through", async () => {
    const loaded: string[] = [];
    const found = await findCommand(lazyTree(loaded), ["status", "B", "--json"]);
    expect(found.names).toEqual(["status"]);
    expect(found.rest).toEqual(["B", "--json"]);
    expect(loaded).toEqual(["status"]);
  });

  test("walks nested subcommands, loading each on the way only", async () => {
    const loaded: string[] = [];
    const found = await findCommand(lazyTree(loaded), ["token", "create", "--json"]);
    expect(found.names).toEqual(["token", "create"]);
    expect(loaded).toEqual(["token", "token create"]);
  });

  test("an unknown command names the closest one without loading any", async () => {
    const loaded: string[] = [];
    await expect(findCommand(lazyTree(loaded), ["stauts"])).rejects.toThrow('Unknown command "stauts" (did you mean status?)');
    expect(loaded).toEqual([]);
  });

  test("a name inherited from Object is no command", async () => {
    await expect(findCommand(lazyTree([]), ["toString"])).rejects.toThrow('Unknown command "toString"');
  });
});
