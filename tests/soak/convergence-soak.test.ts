import { setDefaultTimeout, test } from "bun:test";
import { checkConvergence } from "../model/_convergence.ts";

// The long randomized convergence run: `bun run test:soak` (DROPSIM_SOAK=1). Skipped otherwise,
// so that `bun test` in CI never spends an hour here. Prints the seed; DROPSIM_MODEL_SEED
// replays it, DROPSIM_MODEL_RUNS changes how many sequences run.

setDefaultTimeout(3_600_000);

test.skipIf(!process.env.DROPSIM_SOAK)("soak: many long random sequences converge without dropping any write", async () => {
  await checkConvergence({
    label: "soak",
    seed: Number(process.env.DROPSIM_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31)),
    runs: Number(process.env.DROPSIM_MODEL_RUNS ?? 40),
    minOps: 40,
    maxOps: 120,
    largeFileBytes: 4 * 1024 * 1024,
    // Watcher only, by default: a soak run also hunts for lost file events.
    rescanInterval: process.env.DROPSIM_MODEL_RESCAN ?? "1h",
  });
});
