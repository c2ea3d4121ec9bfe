import { expect, test } from "bun:test";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { FILES_KEPT_BACK } from "../../src/server/server.ts";
import { RawConnection } from "../helpers/raw-client.ts";
import { dropsimCommand } from "../helpers/spawn-dropsim.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * A server whose open-file limit is low (set with `ulimit -n`, which needs no privileges) holds
 * as many connections as it leaves room for, tells the next one `busy`, says once in its log how
 * to raise the limit, and goes on serving the connections it has: it never reaches EMFILE at
 * accept, where Bun's listener spins and says nothing while clients wait in the backlog.
 */
const ROOM = 12;
const LIMIT = FILES_KEPT_BACK + ROOM;

test("a server at its open-file limit tells one more connection busy, says how to raise the limit, and serves the others", async () => {
  const args = ["serve", "--insecure", "--port", "0", "--data", "memory:", "--max-pending-per-ip", "100", "--max-pending", "100"];
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${LIMIT} && exec "$@"`, "sh", ...dropsimCommand(args)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const output = ["", ""];
  const pump = async (stream: ReadableStream<Uint8Array>, i: number) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output[i] += decoder.decode(chunk, { stream: true });
  };
  const pumps = [pump(proc.stdout, 0), pump(proc.stderr, 1)];
  const lines = () => output.join("\n").split("\n");
  const find = (re: RegExp) => lines().map((l) => re.exec(l)).find(Boolean);
  const sessions: RawConnection[] = [];
  try {
    await waitFor("the server to listen and print its token", () => (find(/listening on 127\.0\.0\.1:(\d+)/) && find(/Token for share "default": (\S+)/) ? true : output.join("\n")));
    const port = Number(find(/listening on 127\.0\.0\.1:(\d+)/)![1]);
    const token = find(/Token for share "default": (\S+)/)![1]!;
    expect(output.join("\n")).toContain(`The open-file limit (${LIMIT}) lets this server hold ${ROOM} connections at most`);
    const hello = async (conn: RawConnection, i: number) =>
      conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: `open-files-${i}`, share: "default", token });

    for (let i = 0; i < ROOM; i++) {
      const conn = await RawConnection.open("127.0.0.1", port, { tls: false });
      sessions.push(conn);
      expect((await hello(conn, i)).type).toBe("welcome");
    }
    for (let i = 0; i < 3; i++) {
      await using extra = await RawConnection.open("127.0.0.1", port, { tls: false });
      const told = (await extra.nextFrame()).json;
      expect(told).toMatchObject({ type: "error", code: "busy" });
      expect(String(told?.message)).toContain("open-file limit");
      await extra.waitClosed();
    }
    const warnings = lines().filter((l) => l.includes("Cannot take more connections"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${ROOM} are open, as many as the open-file limit (${LIMIT}) allows`);
    expect(warnings[0]).toContain("ulimit -n 65536");
    expect(warnings[0]).toContain("LimitNOFILE=65536");

    for (const [i, conn] of [sessions[0]!, sessions.at(-1)!].entries()) expect((await conn.request({ type: "ping", id: 10 + i })).type).toBe("pong");

    // A place freed is taken again (once the server has seen the close).
    sessions.shift()!.close();
    let welcomed = false;
    await waitFor("a new connection to be welcomed in the freed place", async () => {
      const conn = await RawConnection.open("127.0.0.1", port, { tls: false });
      const first = await hello(conn, ROOM).catch((e: unknown) => ({ type: String(e) }));
      if (first.type === "welcome") {
        sessions.push(conn);
        return (welcomed = true);
      }
      conn.close();
      return `told ${JSON.stringify(first)}`;
    });
    expect(welcomed).toBe(true);
  } finally {
    for (const s of sessions) s.close();
    proc.kill();
    await proc.exited;
    await Promise.all(pumps);
  }
});
