// Keeps one core busy for the soak's DROPSIM_SOAK_LOAD (tests/soak/convergence-soak.test.ts),
// like another program hogging the machine. It ends when killed or when its parent is gone
// (then it has been handed to another parent), so no spinning process outlives a crashed run.
const parent = process.ppid;
let spins = 0;
for (;;) {
  if (++spins % 50_000_000 === 0 && process.ppid !== parent) process.exit(0);
}
