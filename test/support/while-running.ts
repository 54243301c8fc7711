/**
 * Polls `probe` until it finds something while `run` goes on: a condition another process brings
 * about, with no event to wait for. Fails as soon as the run ends without it, or after 20 s.
 */
export async function whileRunning<T>(
  what: string,
  run: Promise<unknown>,
  probe: () => T | undefined,
): Promise<T> {
  let ended = false;
  const end = () => (ended = true);
  run.then(end, end);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (ended) throw new Error(`the run ended before ${what}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
