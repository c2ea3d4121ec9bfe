import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { readCredentials } from "../../src/client/credentials.ts";
import { dropsimCommand, dumpLogsOnFailure, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { SyncProcess } from "./_sync-process.ts";

// Real processes against `serve --tls`: the folder pins the server's certificate from its join
// link; a wrong pin and a changed certificate stop it with the command that accepts the new one
// on purpose, which then works; plaintext to the TLS server is refused in words.

setDefaultTimeout(60_000);

const FINGERPRINT = /Fingerprint: (SHA256:[0-9a-f]{64})/;

async function joinLink(data: string): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(["token", "create", "--data", data, "--share", "default", "--json"]), { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`dropsim token create exited with ${code}: ${err}`);
  return (JSON.parse(out) as { join: string }).join;
}

describe("server identity", () => {
  test(
    "a join link pins the certificate; a changed one stops the client (exit 4) until --accept-fingerprint takes it on purpose",
    dumpLogsOnFailure(async () => {
      await using dir = await tempDir("dropsim-pinning-");
      const data = dir.join("data");
      const folder = dir.join("folder");
      await using server = await startServer({ dataDir: data });
      const first = (await server.waitForLine(FINGERPRINT))[1]!;
      const link = await joinLink(data);
      expect(link).toContain(`fp=${first}`);
      {
        await using sync = new SyncProcess([folder, "--join", link]);
        await sync.waitForLine(/Syncing \S+ with 127\.0\.0\.1:\d+ over TLS/);
        await sync.waitForLine(/Idle: folder and server agree/);
      }
      expect((await readCredentials(dir.join("folder", ".dropsim")))?.fingerprint).toBe(first);

      // A new certificate on the same address: the data dir's identity made again.
      await server.stop();
      await fs.rm(dir.join("data", "tls"), { recursive: true });
      await server.launch();
      const second = (await server.waitForLine(FINGERPRINT))[1]!;
      expect(second).not.toBe(first);
      {
        await using sync = new SyncProcess([folder]);
        expect(await sync.exitCode()).toBe(4);
        expect(sync.output).toContain(`Cannot sync: the server at ${server.address} is not the one this folder trusts`);
        expect(sync.output).toContain(`run dropsim sync ${folder} --accept-fingerprint ${second}`);
      }
      const colons = second.slice("SHA256:".length).toUpperCase().match(/../g)!.join(":");
      {
        await using sync = new SyncProcess([folder, "--accept-fingerprint", colons]);
        await sync.waitForLine(/Idle: folder and server agree/);
      }
      expect((await readCredentials(dir.join("folder", ".dropsim")))?.fingerprint).toBe(second);
      await using again = new SyncProcess([folder]);
      await again.waitForLine(/Idle: folder and server agree/);
    }),
  );

  test(
    "a wrong --fingerprint is refused with the fingerprint to accept; plaintext to the TLS server reads as such",
    dumpLogsOnFailure(async () => {
      await using dir = await tempDir("dropsim-pinning-");
      const data = dir.join("data");
      await using server = await startServer({ dataDir: data });
      const real = (await server.waitForLine(FINGERPRINT))[1]!;
      const wrong = `SHA256:${"0".repeat(64)}`;
      {
        await using sync = new SyncProcess([dir.join("a"), "--server", server.address, "--token", server.token, "--fingerprint", wrong]);
        expect(await sync.exitCode()).toBe(4);
        expect(sync.output).toContain(`presented certificate ${real}, not ${wrong} that this folder trusts`);
        expect(sync.output).toContain(`--accept-fingerprint ${real}`);
      }
      {
        await using sync = new SyncProcess([dir.join("b"), "--server", server.address, "--token", server.token, "--insecure"]);
        expect(await sync.exitCode()).toBe(4);
        expect(sync.output).toMatch(/Cannot sync: the server at 127\.0\.0\.1:\d+ accepts only TLS connections; run dropsim sync \S+ without --insecure/);
      }
    }),
  );
});
