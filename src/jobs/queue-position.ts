// Where a queued job stands in the embedded queue's fair pick (src/store/jobs.ts pickNextJob), without replaying
// the picks one by one. The pick takes, among accounts with due jobs, the lowest key (running jobs, last claim,
// oldest due job id). Claiming a job raises its account's running count by one and makes it the most recently
// served, so if the worker claimed every queued job now, one after another, with nothing finishing meanwhile:
//   - the picks go in levels: an account with r running jobs and n due ones makes its j-th pick at level r + j,
//     and every pick of level ℓ comes before any of level ℓ + 1 (the lowest running count is always taken first);
//   - within a level, accounts that only enter at this level keep their original last claim (older than any
//     pick made now), so they go first, ordered by (last claim, oldest id); the others follow in the order of
//     their previous level, which by induction is "higher r first". So the order in a level is
//     (r descending, last claim, oldest id).
// A position is therefore a sum over accounts: O(accounts), whatever the queue length. When a running job
// finishes, its account's running count drops and positions may move; callers re-read them.

export interface QueueAccount {
  accountId: number;
  /** Jobs running now (any type): the pick's first key. */
  running: number;
  /** Latest claim of any of the account's jobs, ISO time; '' when it never had one (the pick's second key). */
  lastClaim: string;
  /** Oldest due job id (the pick's tie-break). */
  firstId: number;
  /** Due queued jobs. */
  due: number;
}

function levelOrder(a: QueueAccount, b: QueueAccount): number {
  if (a.running !== b.running) return b.running - a.running;
  if (a.lastClaim !== b.lastClaim) return a.lastClaim < b.lastClaim ? -1 : 1;
  return a.firstId - b.firstId;
}

/**
 * 1-based position of the `rank`-th due job (by id) of `accountId`: 1 = the next job the pick would take.
 * Null when the account has fewer due jobs than `rank` (the job is not due, or the figures are stale).
 */
export function fairQueuePosition(accounts: QueueAccount[], accountId: number, rank: number): number | null {
  const own = accounts.find((a) => a.accountId === accountId);
  if (!own || !Number.isInteger(rank) || rank < 1 || rank > own.due) return null;
  const level = own.running + rank - 1;
  let before = 0;
  for (const a of accounts) {
    // picks of lower levels
    before += Math.min(Math.max(level - a.running, 0), a.due);
    // picks of the same level that come first
    if (a !== own && a.running <= level && level < a.running + a.due && levelOrder(a, own) < 0) before++;
  }
  return before + 1;
}
