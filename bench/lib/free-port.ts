/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a peer (rsync daemon, Syncthing) that
 * cannot be told to pick its own and print it, as `dropsim serve --port 0` does.
 */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}
