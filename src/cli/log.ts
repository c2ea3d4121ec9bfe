import { consola, LogLevels } from "consola";

/** Flags every command shares for how much it says. */
export const logArgs = {
  verbose: { type: "boolean", description: "Log every transfer and decision", default: false },
  quiet: { type: "boolean", description: "Log only warnings and errors", default: false },
} as const;

export function setupLog(args: { verbose?: boolean; quiet?: boolean }, tag: string) {
  consola.level = args.verbose ? LogLevels.debug : args.quiet ? LogLevels.warn : LogLevels.info;
  return consola.withTag(tag);
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(stop: () => Promise<void>, log: { info(m: string): void }): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info(`Received ${signal}, shutting down`);
    stop().then(
      () => process.exit(0),
      (e) => {
        consola.error(e);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}
