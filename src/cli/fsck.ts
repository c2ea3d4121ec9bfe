import { defineCommand } from "citty";
import * as path from "node:path";
import { loadRuntime } from "../runtime/index.ts";
import { checkDataDir } from "../server/fsck.ts";
import { logArgs, setupLog } from "./log.ts";

export default defineCommand({
  meta: {
    name: "fsck",
    description: "Check a server data dir: journal, entries and blocks agree, every block's bytes match its hash",
    examples: ["dropsim fsck --data /var/lib/dropsim", "dropsim fsck --data ./dropsim-data -q && echo consistent"],
  },
  args: {
    data: { type: "string", description: "The server's data dir", default: "./dropsim-data" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "fsck");
    const runtime = await loadRuntime();
    const dataDir = path.resolve(args.data);
    const report = await checkDataDir(dataDir, runtime);
    const summary = `${report.entries} entries (${report.files} files, ${report.dirs} folders), ${report.blocks} blocks, ${report.bytes} bytes, journal head ${report.head}`;
    if (report.problems.length === 0) {
      log.success(`Data dir ${dataDir} is consistent: ${summary}`);
      return;
    }
    for (const p of report.problems) log.error(p);
    log.error(`Data dir ${dataDir} has ${report.problems.length} problem(s): ${summary}`);
    process.exitCode = 1;
  },
});
