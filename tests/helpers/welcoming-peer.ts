import { type ClientMessage, clientMessages, PROTOCOL_VERSION, type ServerMessage } from "../../src/protocol/messages.ts";
import { Peer } from "../../src/protocol/peer.ts";
import type { Connection } from "../../src/runtime/types.ts";

/** A server side that welcomes every hello (share `default`, read-write) and records it in `hellos`; nothing else. */
export function welcomingPeer(conn: Connection, hellos: ClientMessage[]): Peer<ClientMessage, ServerMessage> {
  const peer: Peer<ClientMessage, ServerMessage> = new Peer(conn, clientMessages, {
    message: (m) => {
      if (m.type !== "hello") return;
      hellos.push(m);
      peer.send({ type: "welcome", id: m.id, protocol: PROTOCOL_VERSION, serverId: "s", head: 0, share: "default", scope: "read_write" });
    },
    block: () => {},
    protocolError: () => {},
    closed: () => {},
  });
  return peer;
}
