import type { Subprocess } from "bun";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "./free-port.ts";
import { PEERS_OFF } from "./rsync.ts";
import { waitFor } from "./wait.ts";

/**
 * Syncthing as the peer of every "A → B" workload: two instances on 127.0.0.1 sharing one
 * folder, each knowing the other's device ID and address, nothing else (no discovery, relays,
 * NAT, announcements, upgrades or usage reports), the filesystem watcher on with the 1 s delay
 * issue 14 measured with, and a rescan of once an hour so that only the watcher finds changes.
 * Absent Syncthing (or DROPSIM_BENCH_NO_PEERS=1) leaves its figures empty, never fails a run.
 */
export const SYNCTHING: string | undefined = PEERS_OFF ? undefined : (Bun.which("syncthing") ?? undefined);
export const SYNCTHING_ABSENT = PEERS_OFF ? "peers off (DROPSIM_BENCH_NO_PEERS=1)" : "syncthing not installed (npm run bench:setup)";

const FOLDER_ID = "bench";
const START_TIMEOUT = 60_000;
/** sysconf(_SC_CLK_TCK), as in proc.ts. */
const CLOCK_TICKS = 100;

interface Instance {
  name: string;
  home: string;
  folder: string;
  deviceId: string;
  listenPort: number;
  guiPort: number;
  apiKey: string;
  proc?: Subprocess<"ignore", number, number>;
}

export interface SyncthingPair {
  folderA: string;
  folderB: string;
  /** Why an instance has exited, if one has: the `abortIf` of every wait on them. */
  exited(): string | undefined;
  /** CPU seconds (user + system) each of A and B has used so far. */
  cpuSeconds(): [number, number];
  /** Bytes A has sent and received over its connection to B so far (Syncthing's own counters). */
  wireBytes(): Promise<number>;
  /** Resolves once both instances say the folder is idle and B needs nothing: the state between trials. */
  waitIdle(timeout?: number): Promise<void>;
}

/** Generates A and B under `dir`, starts them, waits until they are connected and idle, runs `body`, kills both however it ends. */
export async function withSyncthing<T>(dir: string, body: (pair: SyncthingPair) => Promise<T>): Promise<T> {
  if (!SYNCTHING) throw new Error(SYNCTHING_ABSENT);
  const a = generate(dir, "A");
  const b = generate(dir, "B");
  try {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      fs.writeFileSync(path.join(self.home, "config.xml"), configXml(self, other));
      fs.mkdirSync(path.join(self.folder, ".stfolder"), { recursive: true });
      self.proc = start(self);
    }
    const exited = () => [a, b].map(exitReason).find(Boolean);
    await waitFor("Syncthing A and B to connect", async () => ((await connected(a, b)) ? true : "not connected"), {
      timeout: START_TIMEOUT,
      interval: 50,
      abortIf: exited,
    });
    const pair: SyncthingPair = {
      folderA: a.folder,
      folderB: b.folder,
      exited,
      cpuSeconds: () => [cpuSeconds(a), cpuSeconds(b)],
      wireBytes: async () => {
        const total = ((await rest(a, "/rest/system/connections")) as { total: { inBytesTotal: number; outBytesTotal: number } }).total;
        return total.inBytesTotal + total.outBytesTotal;
      },
      waitIdle: (timeout = 60_000) =>
        waitFor("Syncthing A and B to be idle", async () => ((await idle(a)) && (await idle(b)) ? true : "busy"), { timeout, interval: 25, abortIf: exited }).then(() => undefined),
    };
    await pair.waitIdle(START_TIMEOUT);
    return await body(pair);
  } catch (e) {
    for (const i of [a, b]) console.error(`log of Syncthing ${i.name}:\n${logTail(i)}`);
    throw e;
  } finally {
    await Promise.all([a, b].map(kill));
  }
}

/** `syncthing generate` in `dir/st-NAME`: its key, certificate and device ID (the config is rewritten before start). */
function generate(dir: string, name: string): Instance {
  const home = path.join(dir, `st-${name}`);
  const gen = Bun.spawnSync([SYNCTHING!, "generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"], { stdin: "ignore" });
  const out = gen.stdout.toString() + gen.stderr.toString();
  const id = out.match(/Device ID: ([A-Z0-9-]+)/)?.[1];
  if (gen.exitCode !== 0 || !id) throw new Error(`syncthing generate failed (${gen.exitCode}): ${out.trim()}`);
  return {
    name,
    home,
    folder: path.join(dir, name),
    deviceId: id,
    listenPort: freePort(),
    guiPort: freePort(),
    apiKey: `bench-${name}-${crypto.randomUUID()}`,
  };
}

/**
 * The whole config: what is not said takes Syncthing's defaults. Low priority is off, as
 * dropsim's processes are not niced either.
 */
function configXml(self: Instance, other: Instance): string {
  // Only A dials B. When both dialled each other at once (reconnecting every second in step),
  // Syncthing 1.19 timed out exchanging Hello on both connections, 20 s each, again and again
  // (CI, 2026-12-02: "Failed to exchange Hello messages … i/o timeout" on A and B, no pair
  // connected within a minute). B, with discovery off, knows no address of A and only listens.
  const address = (i: Instance) => (i.name === "A" && self.name === "B" ? "dynamic" : `tcp://127.0.0.1:${i.listenPort}`);
  const device = (i: Instance) => `<device id="${i.deviceId}" name="${i.name}" compression="metadata" introducer="false"><address>${address(i)}</address></device>`;
  return `<configuration version="36">
  <folder id="${FOLDER_ID}" label="${FOLDER_ID}" path="${self.folder}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="1">
    <device id="${self.deviceId}"></device>
    <device id="${other.deviceId}"></device>
  </folder>
  ${device(self)}
  ${device(other)}
  <gui enabled="true" tls="false"><address>127.0.0.1:${self.guiPort}</address><apikey>${self.apiKey}</apikey></gui>
  <options>
    <listenAddress>tcp://127.0.0.1:${self.listenPort}</listenAddress>
    <globalAnnounceEnabled>false</globalAnnounceEnabled>
    <localAnnounceEnabled>false</localAnnounceEnabled>
    <relaysEnabled>false</relaysEnabled>
    <natEnabled>false</natEnabled>
    <startBrowser>false</startBrowser>
    <urAccepted>-1</urAccepted>
    <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
    <crashReportingEnabled>false</crashReportingEnabled>
    <setLowPriority>false</setLowPriority>
    <reconnectionIntervalS>1</reconnectionIntervalS>
  </options>
</configuration>
`;
}

function logFile(i: Instance): string {
  return path.join(i.home, "syncthing.log");
}

/**
 * STMONITORED tells Syncthing it already runs under its monitor, so it starts none: the PID is the
 * one doing the work (the one whose CPU is counted), and killing it leaves no child behind.
 */
function start(i: Instance): Subprocess<"ignore", number, number> {
  const log = fs.openSync(logFile(i), "w");
  try {
    const proc = Bun.spawn([SYNCTHING!, "serve", `--home=${i.home}`, "--no-browser", "--no-restart", "--no-upgrade", "--no-default-folder"], {
      stdin: "ignore",
      stdout: log,
      stderr: log,
      env: { ...process.env, STNODEFAULTFOLDER: "1", STNOUPGRADE: "1", STNORESTART: "1", STMONITORED: "yes" },
    });
    live.add(proc);
    return proc;
  } finally {
    fs.closeSync(log);
  }
}

/** Instances still running, killed when the bench itself exits (as proc.ts does for dropsim's). */
const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

async function kill(i: Instance): Promise<void> {
  if (!i.proc) return;
  i.proc.kill("SIGKILL");
  await i.proc.exited;
  live.delete(i.proc);
}

function exitReason(i: Instance): string | undefined {
  const p = i.proc;
  if (!p || (p.exitCode === null && p.signalCode === null)) return undefined;
  return `Syncthing ${i.name} exited (${p.signalCode ?? `code ${p.exitCode}`})`;
}

function logTail(i: Instance, lines = 30): string {
  try {
    return fs.readFileSync(logFile(i), "utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** GET on an instance's REST API; undefined while it does not answer yet. */
async function rest(i: Instance, route: string): Promise<unknown> {
  try {
    const res = await fetch(`http://127.0.0.1:${i.guiPort}${route}`, { headers: { "X-API-Key": i.apiKey } });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

async function connected(a: Instance, b: Instance): Promise<boolean> {
  const conns = (await rest(a, "/rest/system/connections")) as { connections?: Record<string, { connected: boolean }> } | undefined;
  return conns?.connections?.[b.deviceId]?.connected === true;
}

async function idle(i: Instance): Promise<boolean> {
  const status = (await rest(i, `/rest/db/status?folder=${FOLDER_ID}`)) as { state?: string; needTotalItems?: number } | undefined;
  return status?.state === "idle" && status.needTotalItems === 0;
}

function cpuSeconds(i: Instance): number {
  try {
    const stat = fs.readFileSync(`/proc/${i.proc!.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
