import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as path from "node:path";
import { parseLine } from "../../src/cli/command.ts";
import { logArgs } from "../../src/cli/log.ts";
import { VERSION_LINE } from "../../src/cli/version.ts";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// The command line is read strictly: what is not a flag or argument of the command is an error
// that names the closest one; --version and help never start anything.
setDefaultTimeout(60_000);

let scratch: TempDir;
beforeAll(async () => {
  scratch = await tempDir("dropsim-strict-");
});
afterAll(() => scratch?.remove());

async function dropsim(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(dropsimCommand(args), { cwd: scratch.path, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: scratch.join("no-config") } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

const serveArgs = { port: { type: "string", default: "7070" }, host: { type: "string" }, insecure: { type: "boolean", default: false }, ...logArgs } as const;
const syncArgs = { dir: { type: "positional", required: true }, exclude: { type: "string" }, ...logArgs } as const;

describe("parseLine", () => {
  test.each([
    [["--prot", "7071"], "Unknown flag --prot (did you mean --port?): see dropsim serve --help"],
    [["--hots=x"], "Unknown flag --hots (did you mean --host?)"],
    [["--no-port"], "Flag --no-port is not one: only on/off flags have a --no- form"],
    [["--port"], "Flag --port needs a value"],
    [["--port", "--insecure"], "Flag --port needs a value"],
    [["--insecure=maybe"], 'Invalid value "maybe" for --insecure'],
    [["-x"], "Unknown flag -x"],
    [["--verbos"], "Unknown flag --verbos (did you mean --verbose?)"],
  ])("refuses %p", (words, message) => {
    expect(() => parseLine([...words], serveArgs, "serve")).toThrow(message);
  });

  test("reads values, aliases, --no- forms, repeats and what follows --", () => {
    const line = parseLine(["--port=0", "-v", "--no-insecure", "--host", "::1", "--help"], serveArgs, "serve");
    expect(Object.fromEntries(line.flags)).toEqual({ port: "0", verbose: true, insecure: false, host: "::1" });
    expect(line.help).toBe(true);
    const sync = parseLine(["a", "--exclude", "x", "--exclude", "y", "-q", "--", "--not-a-flag"], syncArgs, "sync");
    expect(sync.positionals).toEqual(["a", "--not-a-flag"]);
    expect(sync.flags.get("exclude")).toBe("y");
    expect(sync.earlier).toEqual(["--exclude=x"]);
    expect(sync.flags.get("quiet")).toBe(true);
  });
});

describe("as a process", () => {
  test.each([
    [["serve", "--prot", "7071"], /^Unknown flag --prot \(did you mean --port\?\)/],
    [["sync", "a", "b"], /^Unexpected argument "b": dropsim sync takes DIR/],
    [["token", "create", "--share", "x", "extra"], /^Unexpected argument "extra": dropsim token create takes no arguments/],
    [["token", "creat"], /^Unknown command "token creat" \(did you mean token create\?\)/],
    [["sync"], /^Missing DIR: dropsim sync needs it/],
    [["token", "create"], /^Missing --share: dropsim token create needs it/],
    [["fsck", "-v", "-q"], /^Cannot be verbose and quiet at once/],
    [["fsck", "-vq"], /^Cannot be verbose and quiet at once/],
    [["history", "--limit", "ten"], /^Invalid count "ten" for --limit/],
  ])("dropsim %p is a usage error (exit 2)", async (args, message) => {
    const r = await dropsim(...args);
    expect(r.err.trimEnd().split("\n"), r.err).toHaveLength(1);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  test.each([[["--version"]], [["serve", "--version"]], [["serve", "--port", "0", "--version"]], [["sync", "x", "--version"]], [["token", "create", "--version"]], [["gc", "--prot", "--version"]]])(
    "dropsim %p prints the version and starts nothing",
    async (args) => {
      const r = await dropsim(...args, "--data", scratch.join("never-made"));
      expect(r.out.trim()).toBe(VERSION_LINE);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(await Bun.file(scratch.join("never-made")).exists()).toBe(false);
    },
  );

  test("restore's own --version N names a journal version: it runs restore, not the version print", async () => {
    const r = await dropsim("restore", scratch.join("nowhere.txt"), "--version", "3");
    expect(r.out).not.toContain(VERSION_LINE);
    expect(r.err).toMatch(/not a synced folder|synced folder/);
    expect(r.code).toBe(2);
  });

  test("serve --version exits at once, listening nowhere (7070 stays free)", async () => {
    const r = await dropsim("serve", "--version");
    expect(r.out.trim()).toBe(VERSION_LINE);
    expect(r.out + r.err).not.toContain("listening");
  });

  test.each([
    [["help"], "USAGE dropsim"],
    [["help", "sync"], "USAGE dropsim sync"],
    [["help", "token", "create"], "USAGE dropsim token create"],
    [["sync", "--help"], "USAGE dropsim sync"],
    [["token", "create", "-h"], "USAGE dropsim token create"],
    [["token"], "USAGE dropsim token"],
  ])("dropsim %p prints help with examples", async (args, usage) => {
    const r = await dropsim(...args);
    expect(r.code).toBe(0);
    expect(r.out).toContain(usage);
    expect(r.out).toContain("EXAMPLES");
  });

  test("every command's help has examples", async () => {
    const root = await dropsim("help");
    const names = [...root.out.matchAll(/^ +(\w+) {2,}/gm)].map((m) => m[1]!);
    expect(names).toContain("serve");
    expect(names).toContain("config");
    const helps = await Promise.all(names.map(async (name) => [name, await dropsim("help", name)] as const));
    for (const [name, r] of helps) {
      expect(r.code, name).toBe(0);
      expect(r.out, `dropsim help ${name}`).toMatch(/EXAMPLES\n\n {2}\S/);
    }
    for (const group of ["share", "token"]) {
      const subs = [...(await dropsim("help", group)).out.matchAll(/^ +(\w+) {2,}/gm)].map((m) => m[1]!);
      for (const sub of subs) expect((await dropsim("help", group, sub)).out, `dropsim help ${group} ${sub}`).toMatch(/EXAMPLES\n\n {2}dropsim/);
    }
  });

  test("help of a command that does not exist is a usage error", async () => {
    const r = await dropsim("help", "nope");
    expect(r.err).toMatch(/^Unknown command "nope"/);
    expect(r.code).toBe(2);
  });

  test("flags after -- are arguments", async () => {
    const r = await dropsim("fsck", "--", path.join("--data"));
    expect(r.err).toMatch(/^Unexpected argument "--data"/);
  });
});
