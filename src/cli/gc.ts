import { defineCommand } from "citty";
import * as fs from "node:fs";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { DEFAULT_KEEP_DAYS } from "../core/retention.ts";
import { formatBytes } from "../core/units.ts";
import { describeHolder, takeDirLock } from "../fsutil/dir-lock.ts";
import { dataDirProblem } from "../fsutil/folder-roles.ts";
import { loadRuntime } from "../runtime/index.ts";
import { describeShareGc, GarbageCollector, type GcOutcome, type GcRunReport, reclaimedAny } from "../server/gc.ts";
import { openAccessStore, openStores } from "../store/open.ts";
import { dataArg, sayingRefusals } from "./admin.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseDuration } from "./options.ts";

/** How long `gc` waits for a running server to do the work. */
const SERVER_DEADLINE_MS = 10 * 60_000;
const POLL_MS = 200;

interface GcArgs {
  grace: number;
  dryRun: boolean;
}

/**
 * Garbage collection runs where pack files may be rewritten: in the process that holds the
 * data dir. If no server holds it, this command takes serve.lock (as `serve` does, cli/claim.ts)
 * and runs GC itself; otherwise it leaves a request in access.db for the server and waits.
 */
export default defineCommand({
  meta: {
    name: "gc",
    description: "Drop history older than each share keeps (share set --keep-days) and reclaim the space of blocks no version refers to",
    examples: ["dropsim gc --data /var/lib/dropsim", "dropsim gc --data ./dropsim-data --dry-run", "dropsim gc --grace 0s --json"],
  },
  args: {
    ...dataArg,
    "dry-run": { type: "boolean", description: "Say what would be reclaimed, change nothing", default: false },
    grace: { type: "string", description: "Keep blocks that no version refers to yet (uploads in flight) for this long after they were stored", default: "24h" },
    json: { type: "boolean", description: "Print the report as JSON", default: false },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "gc");
    return sayingRefusals(log, async () => {
      const opts = { grace: parseDuration(args.grace), dryRun: args["dry-run"] };
      const dataDir = path.resolve(args.data);
      const misplaced = dataDirProblem(dataDir);
      if (misplaced) throw new DropsimError("bad_message", misplaced);
      if (!fs.existsSync(path.join(dataDir, "access.db"))) throw new DropsimError("not_found", `Cannot collect garbage in "${dataDir}": it is not a dropsim data dir (no access.db)`);
      // With --json, stdout carries the report alone.
      const report = await _collect(dataDir, opts, args.json ? _quiet : log);
      if (args.json) console.log(JSON.stringify(report));
      else _print(report, log);
    });
  },
});

async function _collect(dataDir: string, opts: GcArgs, log: Log): Promise<GcRunReport> {
  const done = await _whileHeld(dataDir, () => _inProcess(dataDir, opts));
  if (done) return done.value;
  log.info(`A server runs on ${dataDir}: asking it to collect garbage`);
  return _byServer(dataDir, opts);
}

/** Runs `fn` holding the data dir's serve.lock; undefined (and `fn` not run) when a server holds it. */
async function _whileHeld<T>(dataDir: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
  const taken = takeDirLock(path.join(dataDir, "serve.lock"));
  if ("holder" in taken) return undefined;
  try {
    return { value: await fn() };
  } finally {
    taken.lock.release();
  }
}

async function _inProcess(dataDir: string, opts: GcArgs): Promise<GcRunReport> {
  const runtime = await loadRuntime();
  const stores = await openStores(dataDir, runtime);
  try {
    const access = await openAccessStore(dataDir, runtime);
    try {
      const shares = () => stores.shareNames().map((name) => ({ name, ...stores.share(name)! }));
      // The report is printed once at the end, whichever process ran it.
      return await new GarbageCollector(shares, (name) => access.share(name)?.keepDays ?? DEFAULT_KEEP_DAYS, _quiet).run(opts);
    } finally {
      access.close();
    }
  } finally {
    await stores.close();
  }
}

/**
 * Leaves the request and waits for the server's answer. A server that stops meanwhile leaves
 * the data dir free: the request is then run here and marked done.
 */
async function _byServer(dataDir: string, opts: GcArgs): Promise<GcRunReport> {
  const access = await openAccessStore(dataDir, await loadRuntime());
  try {
    const id = access.requestGc(opts, Date.now());
    const deadline = Date.now() + SERVER_DEADLINE_MS;
    while (Date.now() < deadline) {
      const result = access.gcResult(id);
      if (result !== undefined) return _outcome(JSON.parse(result) as GcOutcome);
      const here = await _whileHeld(dataDir, () => _inProcess(dataDir, opts));
      if (here) {
        access.finishGc(id, JSON.stringify({ report: here.value } satisfies GcOutcome), Date.now());
        return here.value;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new DropsimError("timeout", `The server on "${dataDir}" did not collect garbage within ${SERVER_DEADLINE_MS / 60_000} minutes: it will still run the request; see its log`);
  } finally {
    access.close();
  }
}

function _outcome(o: GcOutcome): GcRunReport {
  if ("error" in o) throw new DropsimError("internal", `The server could not collect garbage: ${o.error}`);
  return o.report;
}

function _print(report: GcRunReport, log: Log): void {
  for (const r of report.shares) if (reclaimedAny(r)) log.info(describeShareGc(r, report.dryRun));
  const sum = (f: (r: GcRunReport["shares"][number]) => number) => report.shares.reduce((n, r) => n + f(r), 0);
  const freed = sum((r) => r.compaction.before - r.compaction.after);
  const verb = report.dryRun ? "Would reclaim" : "Reclaimed";
  log.success(`${verb} ${formatBytes(freed)} on disk: ${sum((r) => r.rowsDropped)} versions and ${sum((r) => r.blocksDeleted)} blocks (${formatBytes(sum((r) => r.bytesDeleted))}) over ${report.shares.length} share(s)`);
}

const _quiet: Log = { info() {}, success() {}, debug() {}, warn: (...a) => console.warn(...a), error: (...a) => console.error(...a) };
