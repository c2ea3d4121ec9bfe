import { DropsimProcess } from "../helpers/spawn-dropsim.ts";

/**
 * The `dropsim serve` command line a contrib file runs (the unit's ExecStart, the image's CMD),
 * started for real with only where it keeps data and where it listens changed, so that a flag a
 * later version no longer accepts fails here and not on someone's server.
 */

const LOCAL: Record<string, (dataDir: string) => string> = {
  "--data": (dataDir) => dataDir,
  "--host": () => "127.0.0.1",
  "--port": () => "0",
  "--http": () => "127.0.0.1:0",
};

/** `argv` (after the program) with the data dir and listen addresses made local and free. */
export function localServeArgs(argv: readonly string[], dataDir: string): string[] {
  return argv.map((arg, i) => LOCAL[argv[i - 1] ?? ""]?.(dataDir) ?? arg);
}

/** Starts `args` and resolves with its /healthz URL once the server says where its metrics are. */
export async function startServe(name: string, args: string[]): Promise<{ server: DropsimProcess; healthz: string }> {
  const server = new DropsimProcess(args, { name });
  server.start();
  const [, metrics] = await server.waitForLine(/Metrics at (http:\/\/\S+)\/metrics/);
  return { server, healthz: `${metrics}/healthz` };
}
