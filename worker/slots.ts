/** A counting semaphore: at most `size` holders at once, waiters served first come, first served. */
export class Slots {
  private held = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number) {}

  /** Holders now (tests, metrics). */
  get busy(): number {
    return this.held;
  }

  /** Resolves with a release function once a slot is free (call it once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (this.held < this.size) this.held += 1;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the releaser hands its slot over
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next !== undefined) next();
      else this.held -= 1;
    };
  }
}
