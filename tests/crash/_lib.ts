import * as fs from "node:fs/promises";
import * as path from "node:path";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";

/** What `dropsim fsck --data DIR` said. */
export interface FsckResult {
  code: number;
  output: string;
}

/** Runs the integrity check as a separate process, the way an operator would. */
export async function runFsck(dataDir: string): Promise<FsckResult> {
  const proc = Bun.spawn(dropsimCommand(["fsck", "--data", dataDir]), {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: `${out}${err}`.trim() };
}

/** Asserts (with the report in the message) that the data dir is consistent. */
export async function expectFsckClean(dataDir: string): Promise<FsckResult> {
  const r = await runFsck(dataDir);
  if (r.code !== 0) throw new Error(`dropsim fsck --data ${dataDir} exited with ${r.code}:\n${r.output}`);
  return r;
}

/** Every file of a folder tree (relative paths), .dropsim included: for "no partial file" checks. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of await fs.readdir(root, { recursive: true }).catch(() => [] as string[])) {
    const st = await fs.lstat(path.join(root, rel)).catch(() => undefined);
    if (st?.isFile()) out.push(rel.split(path.sep).join("/"));
  }
  return out.sort();
}
