// Waiting with deadlines, without leaving timers behind that keep the test process alive.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The value of `promise`, or `onTimeout` if it takes longer than `ms`.
export async function withTimeout(promise, ms, onTimeout = null) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(onTimeout), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Polls `probe` until it returns a truthy value. A probe that is not yet satisfied may throw: its
// last error explains a timeout.
export async function waitFor(probe, { timeoutMs = 10_000, intervalMs = 200, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`);
    await sleep(intervalMs);
  }
}
