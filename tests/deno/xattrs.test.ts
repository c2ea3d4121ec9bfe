import { describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { readXattrs } from "../../src/fsutil/xattrs.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { REPO_ROOT } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The Deno xattr adapter (Deno.dlopen) reads what Bun's (bun:ffi) wrote, and the other way
// round, on one real file; without --allow-ffi, Deno runs on without xattrs.

const FIXTURE = path.join(import.meta.dir, "xattrs-fixture.ts");
const DENO = findDeno();
const runtime = await loadRuntime();
const b64 = (s: string) => new TextEncoder().encode(s).toBase64();

function findDeno(): string | undefined {
  const local = path.join(REPO_ROOT, "node_modules", ".bin", "deno");
  return Bun.spawnSync(["test", "-x", local]).exitCode === 0 ? local : (Bun.which("deno") ?? undefined);
}

/** Whether the temp folder takes user attributes through Bun's adapter. */
async function userXattrsHere(): Promise<boolean> {
  if (!runtime.xattrs.supported) return false;
  await using dir = await tempDir("dropsim-xattr-probe-");
  await fs.writeFile(dir.join("f"), "");
  try {
    runtime.xattrs.set(dir.join("f"), "user.probe", new Uint8Array(1));
    return true;
  } catch {
    return false;
  }
}

const usable = DENO !== undefined && (await userXattrsHere());
if (!usable) console.warn("tests/deno/xattrs: skipped: no deno executable, or no user xattrs on this platform or temp folder");

async function runFixture(permissions: string[], file: string): Promise<Record<string, unknown>> {
  await using proc = Bun.spawn([DENO!, "run", "--no-prompt", ...permissions, FIXTURE, file], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exitCode !== 0) throw new Error(`Cannot run the xattr fixture under Deno (exit ${exitCode}): ${stderr}`);
  return JSON.parse(stdout);
}

describe.skipIf(!usable)("xattrs under Deno", () => {
  test("Deno's adapter reads an attribute Bun set and sets one by descriptor that Bun reads", async () => {
    await using dir = await tempDir("dropsim-xattr-deno-");
    const file = dir.join("shared.txt");
    await fs.writeFile(file, "content");
    runtime.xattrs.set(file, "user.from-bun", new TextEncoder().encode("hello from bun"));

    const report = await runFixture(["-A"], file);
    expect(report).toEqual({
      runtime: "deno",
      supported: true,
      before: [["user.from-bun", b64("hello from bun")]],
      written: { skipped: [] },
      after: [
        ["user.from-bun", b64("hello from bun")],
        ["user.from-deno", b64("hello from deno")],
      ],
      absent: null,
    });
    expect(readXattrs(runtime, file)).toEqual(report.after as [string, string][]);
  });

  test("Deno without --allow-ffi runs on without xattrs", async () => {
    await using dir = await tempDir("dropsim-xattr-deno-");
    await fs.writeFile(dir.join("f"), "");
    const report = await runFixture(["--allow-read", "--allow-write", "--allow-env", "--allow-sys"], dir.join("f"));
    expect(report).toEqual({ runtime: "deno", supported: false });
  });
});
