import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { controlAddress, sendControl } from "../../src/client/control-client.ts";
import type { Controlled } from "../../src/client/control.ts";
import { serveControl } from "../../src/client/control-server.ts";
import { initialStatus } from "../../src/client/status.ts";
import { STATE_DIR } from "../../src/core/wire-path.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const unix = process.platform !== "win32";

/** A client that answers from plain values: the socket, not the sync, is under test here. */
function fakeClient(calls: string[] = []): Controlled {
  const status = initialStatus();
  return {
    status: () => status,
    flush: async (ms) => {
      calls.push(`flush ${ms}`);
      return true;
    },
    pause: () => void calls.push("pause"),
    resume: () => void calls.push("resume"),
    exclude: async (p) => {
      calls.push(`exclude ${p}`);
      return { removed: true, keptChanged: [] };
    },
    include: async (p) => void calls.push(`include ${p}`),
    setLimits: (l) => void calls.push(`limits ${l.up} ${l.down}`),
  };
}

async function syncedFolder() {
  const dir = await tempDir("dropsim-control-");
  await fs.mkdir(dir.join(STATE_DIR), { mode: 0o700 });
  return dir;
}

test("a control request round trip reaches the client's methods and returns its status", async () => {
  await using dir = await syncedFolder();
  const calls: string[] = [];
  const listener = await serveControl(dir.path, fakeClient(calls));
  try {
    expect(await sendControl(dir.path, { cmd: "status" })).toEqual({ ok: true, status: initialStatus() });
    expect(await sendControl(dir.path, { cmd: "flush", timeoutMs: 500 })).toMatchObject({ ok: true, inSync: true });
    expect(await sendControl(dir.path, { cmd: "exclude", path: "big" })).toMatchObject({ ok: true, excluded: { removed: true, keptChanged: [] } });
    await sendControl(dir.path, { cmd: "pause" });
    await sendControl(dir.path, { cmd: "limits", limits: { up: 1024, down: null } });
    expect(calls).toEqual(["flush 500", "exclude big", "pause", "limits 1024 null"]);
  } finally {
    await listener.close();
  }
});

test.skipIf(!unix)("the control socket is owner-only and goes away when the client closes", async () => {
  await using dir = await syncedFolder();
  const listener = await serveControl(dir.path, fakeClient());
  const st = await fs.stat(controlAddress(dir.path));
  expect(st.isSocket()).toBe(true);
  expect(st.mode & 0o777).toBe(0o600);
  await listener.close();
  expect(await fs.exists(controlAddress(dir.path))).toBe(false);
  expect(await sendControl(dir.path, { cmd: "status" })).toBeUndefined();
});

test("no client on the folder: sendControl says so with undefined", async () => {
  await using dir = await syncedFolder();
  expect(await sendControl(dir.path, { cmd: "status" })).toBeUndefined();
});

test.skipIf(!unix)("a socket file left by a crashed client reads as not running, and the next client replaces it", async () => {
  await using dir = await syncedFolder();
  const address = controlAddress(dir.path);
  // What a SIGKILLed client leaves behind: the socket file, and nobody listening on it.
  const script = `require("node:net").createServer().listen(${JSON.stringify(address)}, () => console.log("listening"))`;
  const crashed = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe" });
  const reader = crashed.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("listening");
  crashed.kill("SIGKILL");
  await crashed.exited;
  expect(await fs.exists(address)).toBe(true);
  expect(await sendControl(dir.path, { cmd: "status" })).toBeUndefined();
  const listener = await serveControl(dir.path, fakeClient());
  try {
    expect(await sendControl(dir.path, { cmd: "status" })).toMatchObject({ ok: true });
  } finally {
    await listener.close();
  }
});

test("a malformed request gets an error reply, and the client's refusals come back as replies", async () => {
  await using dir = await syncedFolder();
  const client = fakeClient();
  client.exclude = async () => {
    throw new Error("nothing there");
  };
  const listener = await serveControl(dir.path, client);
  try {
    expect(await sendControl(dir.path, { cmd: "bogus" } as never)).toMatchObject({ ok: false, code: "bad_message" });
    expect(await sendControl(dir.path, { cmd: "flush", timeoutMs: -1 })).toMatchObject({ ok: false, code: "bad_message" });
    expect(await sendControl(dir.path, { cmd: "exclude", path: "x" })).toEqual({ ok: false, code: "internal", message: "nothing there" });
  } finally {
    await listener.close();
  }
});

test("a client that does not answer in time is a timeout, not a hang", async () => {
  await using dir = await syncedFolder();
  const client = fakeClient();
  let unblock = () => {};
  client.flush = () => new Promise((r) => (unblock = () => r(true)));
  const listener = await serveControl(dir.path, client);
  try {
    // The client's own flush outlives the 1 ms it was given: the caller's margin (200 ms) ends it.
    await expect(sendControl(dir.path, { cmd: "flush", timeoutMs: 1 }, 200)).rejects.toMatchObject({ code: "timeout" });
  } finally {
    unblock();
    await listener.close();
  }
});
