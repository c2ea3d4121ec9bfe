import type * as ParcelWatcher from "@parcel/watcher";

export type Watcher = typeof ParcelWatcher;
export type WatchEvent = ParcelWatcher.Event;
export type WatchSubscription = ParcelWatcher.AsyncSubscription;

/** Loaded lazily so that commands which never watch (serve) never load the native addon. */
export async function loadWatcher(): Promise<Watcher> {
  return (await import("@parcel/watcher")) as Watcher;
}
