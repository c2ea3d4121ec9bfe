import { setDefaultTimeout, test } from "bun:test";
import { checkConvergence } from "./_convergence.ts";

// The randomized convergence test with real processes (see _convergence.ts for what it does
// and checks). CI runs a few short sequences; `bun run test:soak` runs long ones from
// tests/soak/. DROPSIM_MODEL_SEED replays a printed seed.

setDefaultTimeout(600_000);

const settings = {
  minOps: 20,
  maxOps: 40,
  largeFileBytes: 1536 * 1024,
  // The watcher loses some new folders (watcher-gaps.test.ts); a short rescan keeps CI on the engine.
  rescanInterval: process.env.DROPSIM_MODEL_RESCAN ?? "5s",
};

test("three clients and a server converge without dropping any write, whatever the sequence of edits, moves, disconnects and restarts", async () => {
  await checkConvergence({
    label: "convergence",
    seed: Number(process.env.DROPSIM_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31)),
    runs: Number(process.env.DROPSIM_MODEL_RUNS ?? 3),
    ...settings,
  });
});

// Watcher only, as users run it (the default --rescan-interval is 1h): a file event the watcher
// loses is not covered up by the next rescan (see watcher-gaps.test.ts).
test("with the default rescan interval (1h), three clients and a server converge without dropping any write", async () => {
  await checkConvergence({
    label: "convergence-rescan-1h",
    seed: Number(process.env.DROPSIM_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31)),
    runs: Number(process.env.DROPSIM_MODEL_RUNS ?? 2),
    ...settings,
    rescanInterval: "1h",
  });
});

// Timing makes a replay inexact, but this seed failed 3 times out of 3 before its fix: its third
// run leaves a file on one client only, brought back there by a stale retried download after
// another client had moved it away.
test("the sequence of seed 1274097272 (a retried download overtaken by a move) converges", async () => {
  await checkConvergence({ label: "convergence-1274097272", seed: 1274097272, runs: 3, ...settings });
});
