/**
 * True for a host that names this machine's loopback interface: `localhost`, 127.0.0.0/8 or
 * ::1, in any spelling (the URL parser's canonical form decides: `0:0::1`, `::ffff:127.0.0.1`).
 * Plaintext is allowed only there, where no one else sees the bytes. No other name is looked
 * up: it could point anywhere tomorrow.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  let canonical: string;
  try {
    canonical = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}`).hostname;
  } catch {
    return false;
  }
  return canonical === "localhost" || canonical === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(canonical) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}
