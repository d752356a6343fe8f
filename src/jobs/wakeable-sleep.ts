/**
 * An idle wait that another part of the process can cut short (a job was enqueued, a delivery queued). A wake that
 * arrives while nobody sleeps is kept, so the next sleep returns at once: work signalled between "found nothing"
 * and "go to sleep" is never left waiting for the poll interval.
 */
export class WakeableSleep {
  private wakeFn: (() => void) | null = null;
  private pending = false;

  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeFn = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeFn = done;
    });
  }

  wake(): void {
    if (this.wakeFn) this.wakeFn();
    else this.pending = true;
  }
}
