import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { backoffDelay, RECONNECT_MAX_MS } from "../../src/client/server-link.ts";
import { Cluster } from "../helpers/cluster.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { ClientProcess, dumpLogs } from "../helpers/spawn-dropsim.ts";
import { writeFile } from "../helpers/tree.ts";

// Issue 9, item 19: after a suspend or a network change, a connection whose peer vanished
// without a FIN or RST is noticed within 30 s, and sync resumes within 5 s of the network
// coming back. The fault proxy's blackhole is that network: sockets stay open, nothing arrives.

/** B pings after this much quiet (DROPSIM_HEARTBEAT) and gives up after 2.5 times as much. */
const HEARTBEAT_MS = 300;
const DEAD_AFTER_MS = 2.5 * HEARTBEAT_MS;
/** What "noticed within the expected time" allows on a shared 2-core machine, on top of DEAD_AFTER_MS. */
const NOTICE_SLACK_MS = 2_000;
const RESUME_WITHIN_MS = 5_000;
const DEAD = /no answer from the server for [\d.]+ s: the connection is dead/i;

test("the reconnect delay starts small after a drop and never grows past what resuming within 5 s allows", () => {
  expect(backoffDelay(0, RECONNECT_MAX_MS, () => 1)).toBeLessThanOrEqual(250);
  for (let attempt = 0; attempt < 40; attempt++) expect(backoffDelay(attempt, RECONNECT_MAX_MS, () => 1)).toBeLessThanOrEqual(RECONNECT_MAX_MS);
  expect(RECONNECT_MAX_MS).toBeLessThan(RESUME_WITHIN_MS);
});

test("a client cut off without a FIN notices, reconnects when the network is back, and gets what it missed", async () => {
  await using cluster = await Cluster.start({ clients: ["A"] });
  await using proxy = await FaultProxy.start({ target: cluster.server.address, seed: 19 });
  await using b = startThrough(proxy, cluster.root.join("B"), cluster.server.token);
  try {
    await b.waitForLine(/Connected to /);
    await writeFile(cluster.path("A"), "before.txt", "seen by both");
    await waitForFile(cluster, b, "before.txt", "seen by both");

    // A quiet, healthy connection is kept: pings and pongs cross it, and it is never declared dead.
    const idleFrom = proxy.counters.bytes;
    await cluster.waitFor("pings to cross B's quiet connection", () => proxy.counters.bytes > idleFrom + 200 || `${proxy.counters.bytes - idleFrom} bytes`);
    expect(b.logs()).not.toMatch(DEAD);
    expect(proxy.counters.connections).toBe(1);

    proxy.blackhole();
    const cutAt = performance.now();
    await b.waitForLine(DEAD, DEAD_AFTER_MS + NOTICE_SLACK_MS + 5_000);
    expect(performance.now() - cutAt).toBeLessThan(DEAD_AFTER_MS + NOTICE_SLACK_MS);

    // Written while B is cut off: the server has it, B cannot.
    await writeFile(cluster.path("A"), "missed.txt", "written while B was away");
    await cluster.waitFor("the server to hold missed.txt", async () => (await serverEntries(cluster.server.port)).has("missed.txt") || "not yet");
    // B keeps trying meanwhile (its new connections are swallowed too).
    await cluster.waitFor("B to try again", () => proxy.counters.connections > 1 || `${proxy.counters.connections} connection(s)`);

    proxy.restore();
    const backAt = performance.now();
    await waitForFile(cluster, b, "missed.txt", "written while B was away", RESUME_WITHIN_MS);
    expect(performance.now() - backAt).toBeLessThan(RESUME_WITHIN_MS);
    // Logged before the download, but read from B's output a moment after the file shows.
    await b.waitForLine(/Reconnected to /);
  } catch (e) {
    dumpLogs([...cluster.processes, b], 60);
    throw e;
  }
}, 60_000);

/** Client B, connected through `proxy`, with a short heartbeat (read from the environment at start). */
function startThrough(proxy: FaultProxy, folder: string, token: string): ClientProcess {
  const client = new ClientProcess({ folder, server: proxy.address, name: "B", token });
  const before = process.env.DROPSIM_HEARTBEAT;
  process.env.DROPSIM_HEARTBEAT = `${HEARTBEAT_MS}ms`;
  try {
    client.start();
  } finally {
    if (before === undefined) delete process.env.DROPSIM_HEARTBEAT;
    else process.env.DROPSIM_HEARTBEAT = before;
  }
  return client;
}

function waitForFile(cluster: Cluster, client: ClientProcess, rel: string, content: string, timeout?: number): Promise<void> {
  return cluster.waitFor(
    `${client.name} to hold ${rel}`,
    async () => {
      const text = await fs.readFile(`${client.folder}/${rel}`, "utf8").catch(() => undefined);
      return text === content || `it holds ${JSON.stringify(text)}`;
    },
    timeout,
  );
}
