// Fairness between accounts on pg-boss, whose fetch order is `priority desc, created_on, id`. Each job gets a
// "round" in the manner of start-time fair queueing (Goyal, Vin & Cheng, SIGCOMM 1996): an account's next job goes
// in the round after its previous one, but never earlier than the round now being served. The job's pg-boss
// priority is −round, so the fetch serves round 0 of every account, then round 1, … — one account's 500 queued
// prompts alternate with another account's single prompt instead of running first.
import type pg from 'pg';

export const ROUNDS_TABLE = 'atelier_queue_rounds';

export async function ensureRoundsTable(pool: pg.Pool): Promise<void> {
  await pool.query(
    `create table if not exists ${ROUNDS_TABLE} (
       queue text not null, account_id bigint not null, last_round bigint not null,
       primary key (queue, account_id))`,
  );
}

/**
 * Assign the next round of `accountId` on `queue` (one statement, so concurrent enqueues of one account get
 * distinct rounds). The round being served is the lowest round still waiting or running; on an idle queue it is
 * the highest round handed out so far, so an account that was busy earlier gets no head start later.
 */
export async function nextRound(
  pool: pg.Pool,
  schema: string,
  queue: string,
  accountId: number,
): Promise<number> {
  const { rows } = await pool.query<{ round: string }>(
    `with serving as (
       select coalesce(
         (select min(-priority) from ${schema}.job where name = $1 and state < 'completed'),
         (select max(last_round) from ${ROUNDS_TABLE} where queue = $1),
         0) as v)
     insert into ${ROUNDS_TABLE} as r (queue, account_id, last_round)
       select $1, $2, v from serving
     on conflict (queue, account_id)
       do update set last_round = greatest(excluded.last_round, r.last_round + 1)
     returning last_round as round`,
    [queue, accountId],
  );
  return Number(rows[0]!.round);
}
