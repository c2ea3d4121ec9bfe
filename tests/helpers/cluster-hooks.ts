import { afterAll, afterEach, beforeAll } from "bun:test";
import { Cluster, type ClusterOptions } from "./cluster.ts";
import { dumpLogs } from "./spawn-dropsim.ts";

export interface FileClusterOptions extends ClusterOptions {
  /** Runs once the cluster is up, still inside `beforeAll` (seed files, make folders). */
  prepare?: (cluster: Cluster) => Promise<void>;
  /** For `beforeAll`, start and `prepare` together. Default 60 s. */
  timeout?: number;
}

/**
 * One cluster shared by every test of the calling file: started in `beforeAll`, disposed of in
 * `afterAll` (even when `prepare` failed). Call at the top level; the returned function gives
 * the cluster inside tests.
 */
export function useFileCluster(opts: FileClusterOptions = {}): () => Cluster {
  const { prepare, timeout = 60_000, ...clusterOpts } = opts;
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await Cluster.start(clusterOpts);
    await prepare?.(cluster);
  }, timeout);
  afterAll(async () => {
    await cluster?.[Symbol.asyncDispose]();
  }, 30_000);
  return () => {
    if (!cluster) throw new Error("The file's cluster is not running: did beforeAll fail?");
    return cluster;
  };
}

/**
 * A fresh cluster for each test of the calling file. The returned function starts one, runs
 * `body` on it and, if `body` fails, prints the tail of every process's log. The cluster is
 * disposed of in `afterEach`, so a test that times out still leaves no process behind.
 */
export function useTestCluster(opts: ClusterOptions = {}): (body: (cluster: Cluster) => Promise<void>) => Promise<void> {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await cluster?.[Symbol.asyncDispose]();
    cluster = undefined;
  });
  return async (body) => {
    // Cluster.start prints the logs itself when it fails.
    const c = (cluster = await Cluster.start(opts));
    try {
      await body(c);
    } catch (e) {
      dumpLogs(c.processes, 60);
      throw e;
    }
  };
}
