import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { sha256 } from "../helpers/tree.ts";

const inCluster = useTestCluster({ clients: ["A", "B"] });

/** A time with milliseconds in it, long past: a download time can never pass for it. */
const PAST = new Date("2021-03-04T05:06:07.891Z");

/**
 * The versions of old.txt a client's verbose log says it uploaded. Counted once each: consola
 * prints a line again, unchanged or with "(repeated N times)", after runs of repeated lines.
 */
function uploadedVersions(log: string): Set<string> {
  return new Set(log.split("\n").flatMap((l) => l.match(/Uploaded put "old\.txt" → version (\d+)/)?.[1] ?? []));
}

test("a file keeps its modification time on the other replica, and arriving uploads nothing again", () =>
  inCluster(async (cluster) => {
    // Made outside the folder and renamed in, so A never sees it with any other time.
    const staged = cluster.root.join("old.txt");
    await fs.writeFile(staged, "written long ago\n");
    await fs.utimes(staged, PAST, PAST);
    await fs.rename(staged, cluster.path("A", "old.txt"));

    await cluster.waitForTree(new Map([["old.txt", sha256("written long ago\n")]]), ["B"]);
    const onB = await fs.stat(cluster.path("B", "old.txt"));
    expect(Math.abs(onB.mtimeMs - PAST.getTime())).toBeLessThan(1);
    const version = (await serverEntries(cluster.server.port)).get("old.txt")?.version;

    // A restart makes B compare every file with the fingerprint it recorded; once B has been
    // idle after it and a marker from B reached A, B had every chance to re-upload old.txt.
    const b = cluster.client("B");
    await b.restart();
    await b.waitForLine(/Idle:/);
    await fs.writeFile(cluster.path("B", "marker.txt"), "after old.txt\n");
    await cluster.waitForTree(
      new Map([
        ["old.txt", sha256("written long ago\n")],
        ["marker.txt", sha256("after old.txt\n")],
      ]),
      ["A", "B"],
    );
    expect(uploadedVersions(cluster.client("A").logs()).size).toBe(1);
    expect(uploadedVersions(b.logs()).size).toBe(0);
    expect((await serverEntries(cluster.server.port)).get("old.txt")?.version).toBe(version);
    expect(Math.abs((await fs.stat(cluster.path("B", "old.txt"))).mtimeMs - PAST.getTime())).toBeLessThan(1);
    expect(Math.abs((await fs.stat(cluster.path("A", "old.txt"))).mtimeMs - PAST.getTime())).toBeLessThan(1);
  }), 60_000);
