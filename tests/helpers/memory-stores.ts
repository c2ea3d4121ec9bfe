import { MEMORY_LOCATION, openStores, type StoreSet } from "../../src/store/open.ts";

/** A server's stores in memory (`serve --data memory:`), closed on dispose. */
export async function openMemoryStores(): Promise<StoreSet & AsyncDisposable> {
  const stores = await openStores(MEMORY_LOCATION, {
    openDatabase: () => {
      throw new Error("The memory backend opens no database");
    },
  });
  return Object.assign(stores, { [Symbol.asyncDispose]: () => stores.close() });
}
