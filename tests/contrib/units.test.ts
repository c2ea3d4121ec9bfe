import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { localServeArgs, startServe } from "./_serve-command.ts";

/**
 * contrib/'s systemd units: `systemd-analyze verify` accepts them without a single warning, and
 * the server unit's command line starts a server that answers /healthz. verify refuses a unit
 * whose program does not exist, so each unit is checked from a copy whose ExecStart names a
 * stand-in for /usr/local/bin/dropsim, and nothing else changed.
 */

const CONTRIB = path.join(REPO_ROOT, "contrib");
const INSTALLED = "/usr/local/bin/dropsim";
const analyze = Bun.which("systemd-analyze");
if (!analyze) console.warn("Skipping systemd-analyze verify of contrib/*.service: systemd-analyze is not installed (Debian package systemd)");

const work = await tempDir("dropsim-units-");
afterAll(() => work.remove());

async function unitText(name: string): Promise<string> {
  return fs.readFile(path.join(CONTRIB, name), "utf8");
}

/** The unit copied into a folder of its own with a stand-in program; returns the folder. */
async function standIn(name: string): Promise<string> {
  const dir = work.join(name.replace("@", "-at-"));
  await fs.mkdir(dir, { recursive: true });
  const program = path.join(dir, "dropsim");
  await fs.writeFile(program, "#!/bin/sh\n", { mode: 0o755 });
  await fs.writeFile(path.join(dir, name), (await unitText(name)).replaceAll(INSTALLED, program));
  return dir;
}

async function verify(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([analyze!, ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: (out + err).trim() };
}

function execStart(text: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith("ExecStart="));
  if (!line) throw new Error("The unit has no ExecStart= line");
  return line.slice("ExecStart=".length).split(/\s+/);
}

describe("contrib/dropsim-server.service", () => {
  test.skipIf(!analyze)("passes systemd-analyze verify with no warning", async () => {
    const dir = await standIn("dropsim-server.service");
    expect(await verify(["verify", path.join(dir, "dropsim-server.service")])).toEqual({ code: 0, output: "" });
  });

  test("runs the installed binary as the dropsim user on its state directory", async () => {
    const text = await unitText("dropsim-server.service");
    const [program, command, ...args] = execStart(text);
    expect([program, command]).toEqual([INSTALLED, "serve"]);
    expect(args.join(" ")).toContain("--data /var/lib/dropsim");
    expect(text).toMatch(/^User=dropsim$/m);
    expect(text).toMatch(/^StateDirectory=dropsim$/m);
  });

  test("its command line starts a server that answers /healthz", async () => {
    const [, ...argv] = execStart(await unitText("dropsim-server.service"));
    const { server, healthz } = await startServe("unit-server", localServeArgs(argv, work.join("unit-data")));
    await using _ = server;
    const res = await fetch(healthz);
    expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
  });
});

describe("contrib/dropsim-sync@.service", () => {
  test.skipIf(!analyze)("passes systemd-analyze --user verify with no warning, as an instance", async () => {
    const dir = await standIn("dropsim-sync@.service");
    // A user manager needs a runtime dir; root in CI has none of its own.
    const runtime = work.join("runtime");
    await fs.mkdir(runtime, { recursive: true, mode: 0o700 });
    const result = await verify(["--user", "verify", path.join(dir, "dropsim-sync@Team.service")], { XDG_RUNTIME_DIR: runtime });
    expect(result).toEqual({ code: 0, output: "" });
  });

  test("syncs the folder the instance names under home, or the env file's SYNC_FOLDER", async () => {
    const text = await unitText("dropsim-sync@.service");
    expect(execStart(text)).toEqual([INSTALLED, "sync", "${SYNC_FOLDER}"]);
    expect(text).toMatch(/^Environment=SYNC_FOLDER=%h\/%I$/m);
    // EnvironmentFile= comes after Environment= and overrides it; "-" makes the file optional.
    expect(text).toMatch(/^EnvironmentFile=-%h\/\.config\/dropsim\/sync-%i\.env$/m);
    expect(text).toMatch(/^WantedBy=default\.target$/m);
  });
});
