import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { localServeArgs, startServe } from "./_serve-command.ts";

/**
 * contrib/Dockerfile: linted by hadolint where it is installed, built where a Docker daemon
 * answers (neither is usual in CI: each test says why it was skipped), and always read: its CMD
 * starts a server whose /healthz is where the HEALTHCHECK looks.
 */

const DOCKERFILE = path.join(REPO_ROOT, "contrib", "Dockerfile");
const text = await fs.readFile(DOCKERFILE, "utf8");

async function run(cmd: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(cmd, { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: (out + err).trim() };
}

const hadolint = Bun.which("hadolint");
if (!hadolint) console.warn("Skipping hadolint on contrib/Dockerfile: hadolint is not installed");
const docker = Bun.which("docker");
const daemon = docker ? (await run([docker, "info"], 10_000)).code === 0 : false;
if (!daemon) console.warn(`Skipping docker build of contrib/Dockerfile: ${docker ? "the Docker daemon does not answer" : "docker is not installed"}`);

/** The instruction's arguments, continuation lines joined; the last one when it repeats. */
function instruction(name: string): string {
  const joined = text.replace(/\\\n\s*/g, " ");
  const lines = joined.split("\n").filter((l) => l.startsWith(`${name} `));
  if (lines.length === 0) throw new Error(`contrib/Dockerfile has no ${name}`);
  return lines.at(-1)!.slice(name.length + 1).trim();
}

const work = await tempDir("dropsim-dockerfile-");
afterAll(() => work.remove());

describe("contrib/Dockerfile", () => {
  test.skipIf(!hadolint)("passes hadolint", async () => {
    expect(await run([hadolint!, DOCKERFILE], 60_000)).toEqual({ code: 0, output: "" });
  });

  test.skipIf(!daemon)(
    "builds",
    async () => {
      const result = await run([docker!, "build", "-f", DOCKERFILE, "-t", "dropsim-contrib-test", "."], 900_000);
      expect(result.code, result.output).toBe(0);
    },
    900_000,
  );

  test("serves on 7070 from the /data volume as a user that is not root", () => {
    expect(instruction("EXPOSE")).toBe("7070");
    expect(instruction("VOLUME")).toBe("/data");
    expect(instruction("USER")).not.toMatch(/^(root|0)$/);
    expect(JSON.parse(instruction("ENTRYPOINT"))).toEqual(["/usr/local/bin/dropsim"]);
  });

  test("its CMD starts a server whose /healthz is where the HEALTHCHECK looks", async () => {
    const cmd: string[] = JSON.parse(instruction("CMD"));
    expect(cmd.slice(0, 3)).toEqual(["serve", "--data", "/data"]);
    const http = cmd[cmd.indexOf("--http") + 1];
    expect(instruction("HEALTHCHECK")).toContain(`http://${http}/healthz`);

    const { server, healthz } = await startServe("image-server", localServeArgs(cmd, work.join("data")));
    await using _ = server;
    const res = await fetch(healthz);
    expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
  });
});
