'use strict';
// Peer 1, the plain script a shop writes first: the events sit in a
// PostgreSQL table; INFLIGHT workers take them in id order, POST each one
// and INSERT its delivery-log row. No queue, no claim, no retry: a crash
// half-way leaves no record of what was sent but not logged.
//
// env: SINK_URL, N, INFLIGHT, PGURL

const c = require('./common');

async function main() {
  const { sinkUrl, n, inflight } = c.config();
  const pgUrl = c.envStr('PGURL');
  const db = c.makePool(pgUrl, inflight + 1);

  await db.query('DROP TABLE IF EXISTS events, delivery_log');
  await db.query(`CREATE TABLE events (
    id bigint PRIMARY KEY, event_id text NOT NULL, name text NOT NULL, phone text NOT NULL,
    order_no bigint NOT NULL, carrier text NOT NULL, tracking text NOT NULL)`);
  await db.query(c.LOG_DDL);

  const t0 = c.now();
  const CHUNK = 10000;
  for (let lo = 0; lo < n; lo += CHUNK) {
    const cols = [[], [], [], [], [], [], []];
    for (let i = lo; i < Math.min(n, lo + CHUNK); i++) {
      const e = c.makeEvent(i);
      [i, e.event_id, e.name, e.phone, e.order, e.carrier, e.tracking].forEach((v, k) => cols[k].push(v));
    }
    await db.query(
      `INSERT INTO events SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                                              $5::bigint[], $6::text[], $7::text[])`,
      cols,
    );
  }
  const enqueueS = c.now() - t0;
  await c.phase('enqueued');

  const send = c.makeSender(sinkUrl, inflight);
  const t1 = c.now();
  // Keyset pages of 1000 events, shared by the workers.
  let page = [];
  let lastId = -1;
  let exhausted = false;
  let fetching = null;
  async function next() {
    while (page.length === 0) {
      if (exhausted) return null;
      if (!fetching) {
        fetching = db
          .query(
            `SELECT id, event_id, name, phone, order_no AS "order", carrier, tracking
               FROM events WHERE id > $1 ORDER BY id LIMIT 1000`,
            [lastId],
          )
          .then(({ rows }) => {
            if (rows.length === 0) exhausted = true;
            else lastId = Number(rows[rows.length - 1].id);
            page.push(...rows);
            fetching = null;
          });
      }
      await fetching;
    }
    return page.shift();
  }
  async function worker() {
    for (let ev = await next(); ev; ev = await next()) {
      let status = 0;
      let answer;
      try {
        ({ status, answer } = await send(ev));
      } catch (err) {
        answer = String(err.message || err); // no retry: record the failure and move on
      }
      await c.logRow(db, ev, status, answer);
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker));
  const processS = c.now() - t1;
  await c.phase('processed');

  const logRows = await c.countLogRows(db);
  await db.end();
  c.result({ peer: 'plain', mode: 'default', n, log_rows: logRows, enqueue_s: enqueueS, process_s: processS });
  if (logRows !== n) throw new Error(`expected ${n} log rows, found ${logRows}`);
}

c.runMain(main);
