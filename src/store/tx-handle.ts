import { DropsimError } from "../core/errors.ts";
import type { MetaTx } from "./meta-store.ts";

/**
 * Wraps a backend's transaction handle so that it refuses every call once `end` is called: a
 * callback that kept the handle would otherwise read and write outside any transaction.
 */
export function endableTx(tx: MetaTx): { tx: MetaTx; end(): void } {
  let open = true;
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (!open) throw new DropsimError("internal", "A meta store transaction was used after it ended");
      return fn(...args);
    };
  return {
    tx: {
      head: guard(tx.head),
      get: guard(tx.get),
      liveChildren: guard(tx.liveChildren),
      liveBytes: guard(tx.liveBytes),
      append: guard(tx.append),
      versions: guard(tx.versions),
      drop: guard(tx.drop),
      referencedBlocks: guard(tx.referencedBlocks),
    },
    end: () => {
      open = false;
    },
  };
}

/** What `MetaTx.drop` throws for a path's current live row: clients sync it, retention never picks it. */
export function refusedDrop(path: string, seq: number): DropsimError {
  return new DropsimError("internal", `Cannot drop journal row ${seq}: it is the current version of "${path}"`);
}
