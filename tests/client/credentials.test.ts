import { describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { CREDENTIALS_FILE, type Credentials, DEFAULT_SERVER, type GivenCredentials, mergeCredentials, readCredentials, saveCredentials } from "../../src/client/credentials.ts";
import { syncDir } from "../../src/runtime/sync-dir.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const FP = `SHA256:${"ab".repeat(32)}`;
const FP2 = `SHA256:${"cd".repeat(32)}`;
const HERE = { host: "files.example.com", port: 7070 };
const THERE = { host: "10.0.0.9", port: 7443 };
const saved: Credentials = { server: HERE, share: "team", token: "old", fingerprint: FP, insecure: false };
const none: GivenCredentials = { insecure: false };

describe("mergeCredentials", () => {
  test.each<[string, Credentials | undefined, GivenCredentials, Credentials | undefined]>([
    ["nothing saved and nothing given: not joined", undefined, none, undefined],
    ["a server without a token: not joined", undefined, { ...none, server: HERE }, undefined],
    ["a bare token goes to the default address, share left to the server", undefined, { ...none, token: "t" }, { server: DEFAULT_SERVER, token: "t", insecure: false }],
    ["a restart with no flags is what was saved", saved, none, saved],
    ["a join link replaces everything", saved, { ...none, join: { ...THERE, share: "s", token: "t", fingerprint: FP2 } }, { server: THERE, share: "s", token: "t", fingerprint: FP2, insecure: false }],
    ["a join link to another address without fp drops the pin: trust on first use there", saved, { ...none, join: { ...THERE, share: "s", token: "t" } }, { server: THERE, share: "s", token: "t", insecure: false }],
    ["a join link to the same address without fp keeps the pin", saved, { ...none, join: { ...HERE, share: "s", token: "t" } }, { server: HERE, share: "s", token: "t", fingerprint: FP, insecure: false }],
    ["a new token alone keeps the rest", saved, { ...none, token: "new" }, { ...saved, token: "new" }],
    ["a new --server alone keeps the pin: a moved server keeps its certificate", saved, { ...none, server: THERE }, { ...saved, server: THERE }],
    ["--fingerprint (or --accept-fingerprint) replaces the pin", saved, { ...none, fingerprint: FP2 }, { ...saved, fingerprint: FP2 }],
    ["flags beat the join link", undefined, { insecure: true, join: { ...HERE, share: "s", token: "t" }, share: "x", token: "y" }, { server: HERE, share: "x", token: "y", insecure: true }],
    ["--insecure is remembered", { ...saved, insecure: true }, none, { ...saved, insecure: true }],
    ["naming a server again without --insecure goes back to TLS", { ...saved, insecure: true }, { ...none, server: HERE }, saved],
  ])("%s", (_name, before, given, want) => {
    expect(mergeCredentials(before, given)).toEqual(want);
  });
});

describe("the join file", () => {
  test("saveCredentials writes a 0600 file in a 0700 .dropsim/ that readCredentials reads back", async () => {
    await using dir = await tempDir("dropsim-credentials-");
    const stateDir = dir.join(".dropsim");
    await fs.mkdir(stateDir, { mode: 0o755 });
    const c: Credentials = { server: { host: "::1", port: 7070 }, share: "team", token: "dst_x", fingerprint: FP, insecure: true };
    await saveCredentials(stateDir, c, syncDir);
    expect((await fs.stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await fs.stat(dir.join(".dropsim", CREDENTIALS_FILE))).mode & 0o777).toBe(0o600);
    expect(await readCredentials(stateDir)).toEqual(c);
    await saveCredentials(stateDir, { server: HERE, token: "t2", insecure: false }, syncDir);
    expect(await readCredentials(stateDir)).toEqual({ server: HERE, token: "t2", insecure: false });
    expect((await fs.readdir(stateDir)).sort()).toEqual([CREDENTIALS_FILE]);
  });

  test("saveCredentials syncs .dropsim/ once the new file is in place: a power cut keeps the folder joined", async () => {
    await using dir = await tempDir("dropsim-credentials-");
    const stateDir = dir.join(".dropsim");
    await fs.mkdir(stateDir);
    const seen: [string, Credentials | undefined][] = [];
    await saveCredentials(stateDir, saved, async (d) => void seen.push([d, await readCredentials(stateDir)]));
    expect(seen).toEqual([
      [stateDir, saved],
      [dir.path, saved],
    ]);
  });

  test("readCredentials reads no file as never joined, and refuses a broken one without quoting it", async () => {
    await using dir = await tempDir("dropsim-credentials-");
    expect(await readCredentials(dir.path)).toBeUndefined();
    await fs.writeFile(dir.join(CREDENTIALS_FILE), '{"format":1,"server":"h:1","token":"secret-token-text","insecure":"yes"}');
    const read = readCredentials(dir.path);
    await expect(read).rejects.toThrow(/is not a join file this dropsim wrote; join again with dropsim sync DIR --join LINK$/);
    await expect(read).rejects.not.toThrow(/secret-token-text/);
  });
});
