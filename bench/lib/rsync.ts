import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./free-port.ts";
import { waitFor } from "./wait.ts";

/**
 * rsync, the floor every dropsim figure is read against: local (`rsync -a`, and `--fsync` for the
 * durable floor) and as a daemon over TCP on 127.0.0.1, the closest rsync comes to a sync
 * server. Absent rsync (or DROPSIM_BENCH_NO_PEERS=1) is reported in the table, never fatal.
 */
export const PEERS_OFF = process.env.DROPSIM_BENCH_NO_PEERS === "1";
export const RSYNC: string | undefined = PEERS_OFF ? undefined : (Bun.which("rsync") ?? undefined);
export const RSYNC_ABSENT = PEERS_OFF ? "peers off (DROPSIM_BENCH_NO_PEERS=1)" : "rsync not installed (npm run bench:setup)";

/** rsync ≥ 3.2.4 can fsync every file it writes: the fair floor for a tool that does (dropsim does). */
export const RSYNC_HAS_FSYNC: boolean = RSYNC !== undefined && Bun.spawnSync([RSYNC, "--help"]).stdout.toString().includes("--fsync");

export interface RsyncRun {
  ms: number;
  /** Bytes on the wire both ways, from `--stats` (what the client sent and received). */
  wireBytes: number;
}

/** Runs `rsync -a --stats ARGS…`; its wall time in ms and the bytes it says went over the wire. */
export async function runRsync(args: readonly string[]): Promise<RsyncRun> {
  if (!RSYNC) throw new Error("rsync not installed");
  const started = performance.now();
  const proc = Bun.spawn([RSYNC, "-a", "--stats", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, stderr, stdout] = await Promise.all([proc.exited, new Response(proc.stderr).text(), new Response(proc.stdout).text()]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`rsync -a ${args.join(" ")} failed with code ${code}: ${stderr.trim()}`);
  return { ms, wireBytes: statsBytes(stdout, "sent") + statsBytes(stdout, "received") };
}

/** Runs `rsync -a ARGS…` and returns its wall time in ms. */
export async function timeRsync(args: readonly string[]): Promise<number> {
  return (await runRsync(args)).ms;
}

function statsBytes(stats: string, which: "sent" | "received"): number {
  const m = stats.match(new RegExp(`^Total bytes ${which}: ([\\d,.]+)`, "m"));
  return m ? Number(m[1]!.replace(/[,.]/g, "")) : Number.NaN;
}

/** An rsync daemon on 127.0.0.1 with one writable module `bench`, whose files live in `root`. */
export interface RsyncDaemon {
  /** The module's folder: where a push lands. */
  root: string;
  /** `rsync://127.0.0.1:PORT/bench/`: the destination argument of a push. */
  url: string;
}

/**
 * Starts `rsync --daemon --no-detach` with its config, log and module under `dir`, waits until it
 * answers, runs `body`, and kills it however `body` ends. It runs as the bench's own user (as
 * root, rsync would otherwise switch to nobody, who cannot write the temp dir).
 */
export async function withRsyncDaemon<T>(dir: string, body: (daemon: RsyncDaemon) => Promise<T>): Promise<T> {
  if (!RSYNC) throw new Error("rsync not installed");
  const root = path.join(dir, "rsyncd-module");
  fs.mkdirSync(root, { recursive: true });
  const config = path.join(dir, "rsyncd.conf");
  const log = path.join(dir, "rsyncd.log");
  fs.writeFileSync(
    config,
    [
      "use chroot = no",
      `uid = ${os.userInfo().uid}`,
      `gid = ${os.userInfo().gid}`,
      `log file = ${log}`,
      "[bench]",
      `path = ${root}`,
      "read only = false",
      "",
    ].join("\n"),
  );
  const port = freePort();
  const proc = Bun.spawn([RSYNC, "--daemon", "--no-detach", `--config=${config}`, "--address=127.0.0.1", `--port=${port}`], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const stderr = new Response(proc.stderr).text();
  try {
    await waitFor("the rsync daemon to answer", () => listsModule(port), {
      timeout: 10_000,
      interval: 20,
      abortIf: () => (proc.exitCode !== null ? `rsync --daemon exited with code ${proc.exitCode}` : undefined),
    });
    return await body({ root, url: `rsync://127.0.0.1:${port}/bench/` });
  } catch (e) {
    proc.kill("SIGKILL");
    const tail = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").slice(-10).join("\n") : "";
    throw new Error(`${(e as Error).message}\nrsync daemon stderr: ${(await stderr).trim()}\nrsyncd.log:\n${tail}`);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

function listsModule(port: number): true | string {
  const list = Bun.spawnSync([RSYNC!, `rsync://127.0.0.1:${port}/`], { stdin: "ignore" });
  return list.exitCode === 0 && list.stdout.toString().includes("bench") ? true : `exit ${list.exitCode}: ${list.stderr.toString().trim()}`;
}
