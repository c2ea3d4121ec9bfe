import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { type DropsimProcess, dropsimCommand, dumpLogsOnFailure, serverToken, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { writeRandomFile, writeRandomFiles } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// What a user (or a service manager) reads from real processes: every line stamped, the
// state said once per change at the default level, json and --log-file as asked, and on a
// terminal one progress line redrawn in place.
setDefaultTimeout(90_000);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) /;
const FILES = 200;

/** What the process itself printed (stdout and stderr), without the test's own notes. */
function printed(p: DropsimProcess): string[] {
  return p
    .logs()
    .split("\n")
    .map((l) => /^\s*[\d.]+ \S+\s+(?:out|err)\| (.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

test(
  "serve and sync off a terminal stamp every line, say what they move and 'Up to date' once, in text, json or a log file",
  dumpLogsOnFailure(async () => {
    await using root = await tempDir();
    await using server = await startServer({ dataDir: root.join("data") });
    const a = root.join("A");
    await writeRandomFiles(a, "docs", FILES);
    await using clientA = startClient({ folder: a, server: server.address, name: "A", extraArgs: ["--rescan-interval", "1h"] });
    await clientA.waitForLine(new RegExp(`Up to date: ${FILES} files \\(`));

    await using clientB = startClient({ folder: root.join("B"), server: server.address, name: "B", extraArgs: ["--rescan-interval", "1h", "--log-format", "json"] });
    await clientB.waitForLine(new RegExp(`"message":"Up to date: ${FILES} files \\(`));

    const logFile = root.join("C.log");
    await using clientC = startClient({ folder: root.join("C"), server: server.address, name: "C", extraArgs: ["--rescan-interval", "1h", "--log-file", logFile] });
    await waitFor("C to log 'Up to date' in its log file", async () => {
      const text = await fs.readFile(logFile, "utf8").catch(() => "");
      return new RegExp(`Up to date: ${FILES} files`).test(text) || `log file so far:\n${text}`;
    });
    await Promise.all([clientA.stop(), clientB.stop(), clientC.stop()]);
    await server.stop();

    for (const p of [server, clientA]) {
      const lines = printed(p);
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(line).toMatch(ISO);
    }
    const aLines = printed(clientA);
    expect(aLines.filter((l) => l.includes("Up to date"))).toHaveLength(1);
    expect(aLines.some((l) => new RegExp(`INFO  \\[sync\\] Uploading ${FILES} files \\([\\d.]+ KiB\\)…$`).test(l))).toBe(true);
    // Off a terminal, a line per finished batch instead of a progress line.
    expect(aLines.some((l) => new RegExp(`INFO  \\[sync\\] Uploaded ${FILES} files \\(`).test(l))).toBe(true);
    expect(aLines.join("\n")).not.toMatch(/server head|\x1b\[|\r/);
    expect(aLines.some((l) => l.trim() === "")).toBe(false);

    const records = printed(clientB).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) {
      expect(Object.keys(r).slice(0, 4)).toEqual(["time", "level", "tag", "message"]);
      expect(`${r.time} `).toMatch(ISO);
    }
    expect(records.filter((r) => String(r.message).startsWith("Up to date"))).toHaveLength(1);
    expect(records.some((r) => r.level === "info" && r.message === `Downloading ${FILES} files (${String(records.find((x) => String(x.message).startsWith("Downloading"))?.message).match(/\((.*)\)/)![1]})…`)).toBe(true);

    // With --log-file the terminal stays quiet (no errors here); the file has every line, stamped.
    expect(printed(clientC)).toEqual([]);
    const fileLines = (await fs.readFile(logFile, "utf8")).trimEnd().split("\n");
    for (const line of fileLines) expect(line).toMatch(ISO);
    expect(fileLines.some((l) => l.includes("Connected to"))).toBe(true);
  }),
);

const BIG = 128 * 2 ** 20;

/** `cmd` as one line for `script -c`: every word quoted for sh. */
function shellLine(cmd: string[]): string {
  return cmd.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
}

test(
  "on a terminal, sync redraws one progress line during a big upload, erases it for log lines, and ends with 'Up to date'",
  dumpLogsOnFailure(async () => {
    await using root = await tempDir();
    await using server = await startServer({ dataDir: root.join("data") });
    const folder = root.join("T");
    await writeRandomFile(folder, "big.bin", BIG);
    // Paced to ~4 s: the line is drawn only after 1 s of work, and unpaced the upload can end sooner.
    const cmd = dropsimCommand(["sync", folder, "--server", server.address, "--share", "default", "--token", serverToken(server.address), "--rescan-interval", "1h", "--limit-up", "32MiB"]);
    // util-linux script runs the command on a pseudo-terminal: stderr is a TTY, as for a user.
    // A wide terminal, so the line has room for the file's name.
    const proc = Bun.spawn(["script", "-qfec", `stty cols 160 rows 40; exec ${shellLine(cmd)}`, "/dev/null"], {
      env: { ...process.env, NO_COLOR: "1" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
    })();
    try {
      await waitFor("the terminal to show 'Up to date'", () => /Up to date: 1 file \(128\.0 MiB\)/.test(out) || `terminal so far:\n${JSON.stringify(out.slice(-2000))}`, { timeout: 60_000 });
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await pump;
    }
    const redraws = out.split("\r\x1b[2K").slice(1).map((s) => s.split(/\r?\n/)[0]!);
    const progress = redraws.filter((s) => /^Uploading [\d.]+ (bytes|KiB|MiB) \/ 128\.0 MiB \(\d+%\) · 0 \/ 1 file/.test(s));
    // Redrawn as the bytes go: several distinct states of one line, each ending with the file.
    expect(new Set(progress).size).toBeGreaterThanOrEqual(2);
    for (const s of progress) expect(s).toMatch(/ · big\.bin$/);
    // Every log line starts on a clean line: stamped, never glued to a progress line.
    // Escape sequences are dropped first: Deno clears its own module-loading line on a terminal
    // (ESC[0G ESC[2K ESC[J) before our first line; a line glued to a progress line still fails.
    const logLines = out
      .split(/\r?\n/)
      .map((l) => l.split("\r").at(-1)!.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""))
      .filter((l) => / (INFO|WARN|ERROR) /.test(l));
    for (const l of logLines) expect(l).toMatch(ISO);
    expect(logLines.filter((l) => l.includes("Up to date"))).toHaveLength(1);
    // The line is erased at the end: nothing of it is left after "Up to date".
    const after = out.slice(out.lastIndexOf("Up to date"));
    expect(after).not.toMatch(/Uploading [\d.]+/);
  }),
);
