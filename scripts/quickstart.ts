/**
 * `npm start`: a server on 127.0.0.1:7070 (TLS, data in ./dropsim-data) and the folder ./Dropsim
 * syncing with it through a token of the share `default`, in one terminal. Ctrl+C stops both.
 * Other machines or folders join with a link from `dropsim token create --share default`.
 *
 * The first start makes the token and joins the folder with its link (which pins the server's
 * certificate); later starts find the folder joined (.dropsim/join.json) and make no new token.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const ADDRESS = "127.0.0.1:7070";
const DATA = "dropsim-data";
const main = path.join(import.meta.dir, "..", "src", "main.ts");
const folder = process.argv[2] ?? "Dropsim";
const run = (...args: string[]) => Bun.spawn([process.execPath, main, ...args], { stdio: ["inherit", "inherit", "inherit"] });

const sync = ["sync", folder];
if (!fs.existsSync(path.join(folder, ".dropsim", "join.json"))) {
  // --address: before the server's first start nothing recorded where it listens.
  const created = Bun.spawnSync(
    [process.execPath, main, "token", "create", "--data", DATA, "--share", "default", "--label", "quickstart", "--address", ADDRESS, "--json"],
    { stderr: "inherit" },
  );
  if (!created.success) process.exit(created.exitCode ?? 1);
  const { join } = JSON.parse(created.stdout.toString()) as { join: string };
  sync.push("--join", join);
}
const server = run("serve", "--port", ADDRESS.split(":")[1]!, "--data", DATA);
const client = run(...sync);
const stop = () => {
  client.kill("SIGTERM");
  server.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const code = await Promise.race([server.exited, client.exited]);
stop();
await Promise.all([server.exited, client.exited]);
process.exit(code);
