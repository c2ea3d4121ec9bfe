import { afterAll, beforeAll, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import * as os from "node:os";
import * as path from "node:path";
import { checkConvergence, type FailureKind, failureKind, faultsFor } from "../model/_convergence.ts";

// The convergence test at scale: `npm run test:soak` (DROPSIM_SOAK=1; skipped otherwise, so
// `bun test` never spends hours here). Each seed is one test: one random sequence of 20–40
// operations (see tests/model/_convergence.ts), with the default rescan interval (1h), so a
// file event the watcher loses shows. Even seeds go through the fault proxy, odd ones straight
// to the server, so half and half, and a replayed seed takes the same path.
//
//   DROPSIM_SOAK_SEEDS=N   how many seeds (default 200), from a random start
//   DROPSIM_MODEL_SEED=S   only seed S: the replay of a failing seed the summary names
//   DROPSIM_SOAK_LOAD=1    one busy-looping process per core for the whole soak
//   DROPSIM_MODEL_RESCAN   another --rescan-interval
//
// At the end one line sums up: seeds run, lost writes, divergences, and the failing seeds.

const SOAK = Boolean(process.env.DROPSIM_SOAK);
const LARGE = 1536 * 1024;
const RESCAN = process.env.DROPSIM_MODEL_RESCAN ?? "1h";

setDefaultTimeout(900_000);

function soakSeeds(): number[] {
  if (process.env.DROPSIM_MODEL_SEED) return [Number(process.env.DROPSIM_MODEL_SEED)];
  const count = Number(process.env.DROPSIM_SOAK_SEEDS ?? 200);
  const start = Math.floor(Math.random() * 2 ** 31);
  return Array.from({ length: count }, (_, i) => (start + i) % 2 ** 31);
}

const throughProxy = (seed: number) => seed % 2 === 0;

interface Failure {
  seed: number;
  kind: FailureKind;
  lost: number;
  /** The failure's first line, for the summary. */
  headline: string;
}

const done: number[] = [];
const failures: Failure[] = [];
const load: Subprocess[] = [];

if (!SOAK) {
  test.skip("soak: hundreds of random sequences converge without dropping any write (DROPSIM_SOAK=1)", () => {});
} else {
  beforeAll(() => {
    if (!process.env.DROPSIM_SOAK_LOAD) return;
    for (let i = 0; i < os.availableParallelism(); i++) {
      load.push(Bun.spawn([process.execPath, path.join(import.meta.dir, "busy-loop-fixture.ts")], { stdin: "ignore", stdout: "ignore", stderr: "inherit" }));
    }
    process.on("exit", stopLoad);
  });

  afterAll(async () => {
    stopLoad();
    await Promise.all(load.map((p) => p.exited));
    console.log(summary());
  });

  for (const seed of soakSeeds()) {
    const faults = throughProxy(seed) ? faultsFor(LARGE) : undefined;
    test(`seed ${seed} (${faults ? "through the fault proxy" : "direct"}) converges without dropping any write`, async () => {
      try {
        await checkConvergence({ label: "soak", seed, runs: 1, minOps: 20, maxOps: 40, largeFileBytes: LARGE, rescanInterval: RESCAN, faults });
      } catch (e) {
        const { kind, lost } = failureKind(e);
        const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
        failures.push({ seed, kind, lost, headline: String(cause instanceof Error ? cause.message : cause).split("\n")[0]! });
        throw e;
      } finally {
        done.push(seed);
      }
    });
  }
}

function stopLoad(): void {
  for (const p of load) p.kill("SIGKILL");
}

function summary(): string {
  const count = (kind: FailureKind) => failures.filter((f) => f.kind === kind).length;
  const lost = failures.reduce((n, f) => n + f.lost, 0);
  const proxied = done.filter(throughProxy).length;
  const setting = `${proxied} through the fault proxy, rescan ${RESCAN}, ${load.length ? `${load.length} busy-loop processes beside` : "no extra CPU load"}`;
  const failing = failures.length
    ? `failing seeds: ${failures.map((f) => `${f.seed} (${f.kind}${f.lost ? `: ${f.lost}` : ""}${throughProxy(f.seed) ? ", proxy" : ""}: ${f.headline})`).join("; ")}; replay one with DROPSIM_MODEL_SEED=<seed> npm run test:soak`
    : "no failing seed";
  return `[soak] ${done.length} seeds run (${setting}): ${lost} lost writes (in ${count("lost-writes")} seeds), ${count("divergence")} divergences, ${count("other")} other failures; ${failing}`;
}
