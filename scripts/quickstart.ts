/**
 * `npm start`: a server on 127.0.0.1:7070 (data in ./dropsim-data) and the folder ./Dropsim
 * syncing with it through a token of the share `default`, in one terminal. Ctrl+C stops both.
 * Other machines or folders join with a link from `dropsim token create --share default`.
 */
import * as path from "node:path";

const main = path.join(import.meta.dir, "..", "src", "main.ts");
const folder = process.argv[2] ?? "Dropsim";
const run = (...args: string[]) => Bun.spawn([process.execPath, main, ...args], { stdio: ["inherit", "inherit", "inherit"] });

const created = Bun.spawnSync([process.execPath, main, "token", "create", "--data", "dropsim-data", "--share", "default", "--label", "quickstart", "--json"], { stderr: "inherit" });
if (!created.success) process.exit(created.exitCode ?? 1);
const { token } = JSON.parse(created.stdout.toString()) as { token: string };
const server = run("serve", "--port", "7070", "--data", "dropsim-data");
const client = run("sync", folder, "--server", "127.0.0.1:7070", "--share", "default", "--token", token);
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
