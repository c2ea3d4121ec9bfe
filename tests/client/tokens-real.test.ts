import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { dropsimCommand, dumpLogsOnFailure, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { SyncProcess } from "./_sync-process.ts";

// Real client processes against a real server and tokens made by its admin commands: each
// refusal is one line and exit 3, a token revoked under a running client stops it, and a
// read-only token downloads and never uploads.

setDefaultTimeout(60_000);

async function admin(args: string[]): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(args), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`dropsim ${args.join(" ")} exited with ${code}: ${err}`);
  return out;
}

async function token(data: string, share: string, extra: string[] = []): Promise<{ id: string; token: string }> {
  return JSON.parse(await admin(["token", "create", "--data", data, "--share", share, "--json", ...extra])) as { id: string; token: string };
}

describe("tokens, against a real server", () => {
  test(
    "an unknown, a revoked, an expired token and one for another share are each one line and exit 3",
    dumpLogsOnFailure(async () => {
      await using dir = await tempDir("dropsim-tokens-");
      const data = dir.join("data");
      await using server = await startServer({ dataDir: data });
      await admin(["share", "create", "other", "--data", data]);
      const revoked = await token(data, "default");
      await admin(["token", "revoke", revoked.id, "--data", data]);
      // The shortest life a token may be given; the clock passing it is the condition waited on
      // (read after the command returned: the token expires 1 s after a moment before that).
      const expired = await token(data, "default", ["--expires", "1s"]);
      const expiresAt = Date.now() + 1000;
      const other = await token(data, "other");
      const cases: [string, string, RegExp][] = [
        ["unknown", `dst_000000000000_${"x".repeat(43)}`, /Cannot sync: the server at \S+ does not know this folder's token; ask for a new one and run dropsim sync \S+ --join LINK/],
        ["revoked", revoked.token, /Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync \S+ --join LINK/],
        ["expired", expired.token, /Cannot sync: this folder's token has expired; ask for a new one and run dropsim sync \S+ --join LINK/],
        ["other", other.token, /Cannot sync: this folder's token is not for the share "default"; ask for a join link to it and run dropsim sync \S+ --join LINK/],
      ];
      await waitFor("the 1 s token to expire", () => Date.now() > expiresAt || "not yet");
      for (const [name, text, line] of cases) {
        await using sync = new SyncProcess([dir.join(name), "--server", server.address, "--share", "default", "--token", text]);
        expect({ name, code: await sync.exitCode() }).toEqual({ name, code: 3 });
        expect(sync.output).toMatch(line);
        expect(sync.output).not.toContain(text);
      }
    }),
  );

  test(
    "a token revoked under a running client stops it with the line and exit 3",
    dumpLogsOnFailure(async () => {
      await using dir = await tempDir("dropsim-tokens-");
      const data = dir.join("data");
      await using server = await startServer({ dataDir: data });
      const t = await token(data, "default");
      await using sync = new SyncProcess([dir.join("folder"), "--server", server.address, "--share", "default", "--token", t.token]);
      await sync.waitForLine(/Idle: folder and server agree/);
      await admin(["token", "revoke", t.id, "--data", data]);
      expect(await sync.exitCode()).toBe(3);
      expect(sync.output).toMatch(/Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync \S+ --join LINK/);
    }),
  );

  test(
    "a read-only token downloads, keeps its own changes and never uploads them",
    dumpLogsOnFailure(async () => {
      await using dir = await tempDir("dropsim-tokens-");
      const data = dir.join("data");
      await using server = await startServer({ dataDir: data });
      const ro = await token(data, "default", ["--read-only"]);
      await using a = startClient({ folder: dir.join("A"), server: server.address, name: "A" });
      await a.waitForLine(/Idle: folder and server agree/);
      await fs.writeFile(dir.join("A", "shared.txt"), "from A\n");
      await using reader = new SyncProcess([dir.join("R"), "--server", server.address, "--share", "default", "--token", ro.token]);
      await waitFor("R to download shared.txt", async () => (await fs.readFile(dir.join("R", "shared.txt"), "utf8").catch(() => "")) === "from A\n" || "not yet");

      await fs.writeFile(dir.join("R", "mine.txt"), "R's own\n");
      await fs.writeFile(dir.join("R", "shared.txt"), "edited on R\n");
      await reader.waitForLine(/"mine\.txt": not uploaded: read-only share/);
      await reader.waitForLine(/"shared\.txt": not uploaded: read-only share/);
      // Something A sends after R planned its changes reaches R; none of R's reaches A.
      await fs.writeFile(dir.join("A", "later.txt"), "later\n");
      await waitFor("R to download later.txt", async () => (await fs.readFile(dir.join("R", "later.txt"), "utf8").catch(() => "")) === "later\n" || "not yet");
      expect(await fs.readFile(dir.join("A", "shared.txt"), "utf8")).toBe("from A\n");
      expect(await fs.readdir(dir.join("A")).then((names) => names.includes("mine.txt"))).toBe(false);
      expect(await fs.readFile(dir.join("R", "shared.txt"), "utf8")).toBe("edited on R\n");
      expect(reader.output).not.toMatch(/Server refused/);
    }),
  );
});
