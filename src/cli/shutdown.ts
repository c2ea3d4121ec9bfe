import { consola } from "consola";

/**
 * Runs `stop` once on SIGINT/SIGTERM, says "stopped" and exits; a second signal exits at once.
 * Ctrl+C must stop within a second, so each command's `stop` abandons what it cannot finish by
 * then (the sync client hangs up at once: a download in flight leaves only its temp file).
 */
export function onShutdown(stop: () => Promise<void>, log: { info(m: string): void; debug(m: string): void }): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    const started = performance.now();
    log.debug(`Received ${signal}, stopping`);
    stop().then(
      () => {
        log.debug(`Stopped in ${((performance.now() - started) / 1000).toFixed(2)} s`);
        log.info("stopped");
        process.exit(0);
      },
      (e) => {
        consola.error(e);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}
