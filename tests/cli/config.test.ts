import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import { type ConfigFile, defaultConfigPath, envName, settingsFor } from "../../src/cli/config.ts";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// Flags come from the line, else DROPSIM_<FLAG>, else the config file, else their default.
setDefaultTimeout(60_000);

let scratch: TempDir;
beforeAll(async () => {
  scratch = await tempDir("dropsim-config-");
});
afterAll(() => scratch?.remove());

const args = { port: { type: "string", default: "7070" }, host: { type: "string", default: "127.0.0.1" }, insecure: { type: "boolean", default: false }, data: { type: "string" } } as const;

describe("settingsFor", () => {
  const file = (values: Record<string, unknown>): ConfigFile => ({ path: "/etc/c.toml", values });
  test.each([
    ["flag over env, file and default", new Map([["port", "1"]]), { DROPSIM_PORT: "2" }, { port: 3 }, { value: "1", source: "flag" }],
    ["env over file", new Map(), { DROPSIM_PORT: "2" }, { port: 3 }, { value: "2", source: "DROPSIM_PORT" }],
    ["the command's table over the top", new Map(), {}, { port: 3, serve: { port: 4 } }, { value: "4", source: "/etc/c.toml" }],
    ["the top of the file", new Map(), {}, { port: 3, sync: { port: 5 } }, { value: "3", source: "/etc/c.toml" }],
    ["an empty variable is unset", new Map(), { DROPSIM_PORT: "" }, { port: 3 }, { value: "3", source: "/etc/c.toml" }],
    ["default: not set at all", new Map(), {}, {}, undefined],
  ] as const)("%s", (_, given, env, values, expected) => {
    expect(settingsFor(["serve"], args, given, env, file(values)).get("port")).toEqual(expected);
  });

  test("booleans from the environment and the file; anything else is refused naming its source", () => {
    expect(settingsFor(["serve"], args, new Map(), { DROPSIM_INSECURE: "yes" }, file({})).get("insecure")?.value).toBe(true);
    expect(settingsFor(["serve"], args, new Map(), {}, file({ serve: { insecure: false } })).get("insecure")?.value).toBe(false);
    expect(() => settingsFor(["serve"], args, new Map(), { DROPSIM_INSECURE: "maybe" }, file({}))).toThrow('Invalid value "maybe" for insecure (from DROPSIM_INSECURE): expected true or false');
    expect(() => settingsFor(["serve"], args, new Map(), {}, file({ serve: { insecure: "yes" } }))).toThrow('Invalid value "yes" for insecure in [serve] of /etc/c.toml: expected true or false');
  });

  test("names and places", () => {
    expect(envName("rescan-interval")).toBe("DROPSIM_RESCAN_INTERVAL");
    expect(defaultConfigPath({}, "linux", "/home/u")).toBe("/home/u/.config/dropsim/config.toml");
    expect(defaultConfigPath({ XDG_CONFIG_HOME: "/x" }, "linux", "/home/u")).toBe("/x/dropsim/config.toml");
    expect(defaultConfigPath({}, "darwin", "/Users/u")).toBe("/Users/u/Library/Application Support/dropsim/config.toml");
    expect(defaultConfigPath({ APPDATA: "C:\\Users\\u\\AppData\\Roaming" }, "win32", "C:\\Users\\u")).toBe("C:\\Users\\u\\AppData\\Roaming\\dropsim\\config.toml");
  });
});

async function dropsim(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(dropsimCommand(args), { cwd: scratch.path, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: scratch.join("xdg"), ...env } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

function writeConfig(text: string): string {
  fs.mkdirSync(scratch.join("xdg", "dropsim"), { recursive: true });
  const file = scratch.join("xdg", "dropsim", "config.toml");
  fs.writeFileSync(file, text);
  return file;
}

type Shown = { file: string | null; settings: { command: string; flag: string; value: string | boolean; source: string }[] };

describe("dropsim config", () => {
  test("prints each value and where it came from: env over file over default, [serve] over the top", async () => {
    const file = writeConfig('port = 7072\nhost = "0.0.0.0"\ndata = "/srv/top"\n[serve]\ndata = "/srv/dropsim"\ninsecure = true\n[sync]\nrescan-interval = "2h"\n');
    const r = await dropsim(["config", "serve", "--json"], { DROPSIM_PORT: "7071" });
    expect(r.code, r.err).toBe(0);
    const shown = JSON.parse(r.out) as Shown;
    expect(shown.file).toBe(file);
    const of = (flag: string) => shown.settings.find((s) => s.flag === flag);
    expect(of("port")).toEqual({ command: "serve", flag: "port", value: "7071", source: "DROPSIM_PORT" });
    expect(of("host")).toEqual({ command: "serve", flag: "host", value: "0.0.0.0", source: file });
    expect(of("data")).toEqual({ command: "serve", flag: "data", value: "/srv/dropsim", source: file });
    expect(of("insecure")).toEqual({ command: "serve", flag: "insecure", value: true, source: file });
    expect(of("gc-every")).toEqual({ command: "serve", flag: "gc-every", value: "24h", source: "default" });
    expect(of("rescan-interval")).toBeUndefined();
    const text = await dropsim(["config", "sync"], { DROPSIM_TOKEN: "dst_secret" });
    expect(text.out).toContain(`Config file: ${file}`);
    expect(text.out).toMatch(/sync\s+--rescan-interval\s+2h\s+\S*config\.toml/);
    expect(text.out).toMatch(/sync\s+--token\s+\(set\)\s+DROPSIM_TOKEN/);
    expect(text.out).not.toContain("dst_secret");
  });

  test("--config FILE is read instead; a missing one is an error", async () => {
    writeConfig("");
    const other = scratch.join("other.toml");
    fs.writeFileSync(other, "[fsck]\ndata = \"/elsewhere\"\n");
    const r = await dropsim(["config", "fsck", "--json", "--config", other]);
    expect((JSON.parse(r.out) as Shown).settings.find((s) => s.flag === "data")).toEqual({ command: "fsck", flag: "data", value: "/elsewhere", source: other });
    const missing = await dropsim(["fsck", "--config", scratch.join("nope.toml")]);
    expect(missing.err.trim()).toBe(`Cannot read config file ${scratch.join("nope.toml")}: no such file`);
    expect(missing.code).toBe(2);
  });

  test.each([
    ['prot = 7071\n', /^Unknown key "prot" in \S+config\.toml \(did you mean "port"\?\)$/],
    ['[serve]\nrescan-interval = "1h"\n', /^Unknown key "rescan-interval" in \[serve\] of \S+config\.toml/],
    ['[sycn]\nport = 1\n', /^Unknown key "sycn" in \S+ \(did you mean "sync"\?\)$/],
    ["port = \n", /^Invalid config file \S+config\.toml: /],
  ])("a config file with %p is refused in one line", async (text, message) => {
    writeConfig(text);
    const r = await dropsim(["fsck", "--data", scratch.join("none")]);
    expect(r.err.trimEnd().split("\n"), r.err).toHaveLength(1);
    expect(r.err.trimEnd()).toMatch(message);
    expect(r.code).toBe(2);
  });

  test("a bad value from the file or the environment names where it came from", async () => {
    writeConfig('[sync]\nrescan-interval = "banana"\n');
    const fromFile = await dropsim(["sync", scratch.join("folder")]);
    expect(fromFile.err).toMatch(/^Invalid duration "banana" for rescan-interval \(from \S+config\.toml\): expected a duration such as 1h30m, 45s or 500ms, from 1s to 7d\n$/);
    expect(fromFile.code).toBe(2);
    const fromEnv = await dropsim(["sync", scratch.join("folder")], { DROPSIM_RESCAN_INTERVAL: "0" });
    expect(fromEnv.err).toMatch(/^Invalid duration "0" for rescan-interval \(from DROPSIM_RESCAN_INTERVAL\)/);
    const flagWins = await dropsim(["sync", scratch.join("folder"), "--rescan-interval", "nope"], { DROPSIM_RESCAN_INTERVAL: "0" });
    expect(flagWins.err).toMatch(/^Invalid duration "nope" for --rescan-interval/);
  });
});
