"""ClickHouse (chdb, embedded) side of bench/query-vs-duckdb.mts: one process per bench run.

    python3 bench/chdb_query.py <session-dir> <events.parquet>

Requires `pip install chdb`. Loads the Parquet file into a MergeTree table `ev` ordered by
(name, start) in a persistent chdb session under <session-dir>, merges its parts, then prints one
JSON line describing the load and answers JSON lines on stdin:

    {"sql": "SELECT ..."}  ->  {"ms": <wall ms>, "elapsedMs": <ClickHouse's own>, "rows": [[...], ...]}
    {"quit": true}         ->  exits

Timing: `time.perf_counter()` around `Session.query(sql, "JSONCompact")`, so it covers parsing,
planning, execution and serialising the result (as the Node side's DuckDB figure covers
materialising rows in JavaScript), not decoding the JSON in Python or the pipe to Node. ClickHouse's
own `elapsed` statistic is passed on beside it. Errors come back as {"error": "..."}.
"""

import json
import sys
import time

import chdb
from chdb import session

SCHEMA = """
CREATE TABLE ev (
    name LowCardinality(String),
    start UInt64,
    dur UInt64,
    is_call Bool,
    err Bool,
    route LowCardinality(Nullable(String)),
    tier LowCardinality(Nullable(String)),
    user Nullable(String),
    release LowCardinality(Nullable(String)),
    msg Nullable(String)
) ENGINE = MergeTree ORDER BY (name, start)
"""


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def scalar(sess, sql):
    return json.loads(str(sess.query(sql, "JSONCompact")))["data"][0][0]


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: chdb_query.py <session-dir> <events.parquet>\n")
        return 2
    session_dir, parquet = sys.argv[1], sys.argv[2]
    sess = session.Session(session_dir)
    sess.query("DROP TABLE IF EXISTS ev")
    sess.query(SCHEMA)
    t0 = time.perf_counter()
    sess.query(f"INSERT INTO ev SELECT * FROM file('{parquet}', Parquet)")
    insert_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    # One part per table, as a long-lived server would reach by background merges.
    sess.query("OPTIMIZE TABLE ev FINAL")
    optimize_s = time.perf_counter() - t1
    rows = int(scalar(sess, "SELECT count() FROM ev"))
    parts = json.loads(
        str(
            sess.query(
                "SELECT count(), sum(bytes_on_disk), sum(data_compressed_bytes), "
                "sum(data_uncompressed_bytes) FROM system.parts WHERE table = 'ev' AND active",
                "JSONCompact",
            )
        )
    )["data"][0]
    reply(
        {
            "ready": True,
            "chdb": chdb.__version__,
            "clickhouse": scalar(sess, "SELECT version()"),
            "maxThreads": scalar(sess, "SELECT getSetting('max_threads')"),
            "rows": rows,
            "insertSeconds": insert_s,
            "optimizeSeconds": optimize_s,
            "parts": int(parts[0]),
            "bytesOnDisk": int(parts[1]),
            "compressedBytes": int(parts[2]),
            "uncompressedBytes": int(parts[3]),
        }
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req.get("quit"):
                break
            t = time.perf_counter()
            res = sess.query(req["sql"], "JSONCompact")
            ms = (time.perf_counter() - t) * 1000
            body = json.loads(str(res))
            reply({"ms": ms, "elapsedMs": res.elapsed() * 1000, "rows": body["data"]})
        except Exception as e:  # noqa: BLE001 - every failure goes back to the bench as text
            reply({"error": f"{type(e).__name__}: {e}"})
    sess.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
