/**
 * Runs tasks one at a time, in the order they were given: how a store serialises transactions
 * whose callbacks await. A failed task does not stop the ones queued behind it.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => {});
    return result;
  }
}
