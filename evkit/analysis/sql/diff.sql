-- diff: two datasets (or ranges of them) record by record (evkit/share/diff.py, docs/sharing.md).
--
-- Input: the views diff_a and diff_b (topic, partition, "offset", timestamp, key, value, headers,
-- event_id: the records compared, topics of B already named as in A, ignored headers already
-- removed) and diff_a_records, diff_b_records (the same records before --where, read again only for
-- the differences listed). Records are matched by an identity (variable diff_identity):
--   position   the same partition and offset;
--   event_id   the same event id (records without one fall back to content);
--   content    the same key and the same value and headers (null and empty kept apart).
-- Equal identities (copies of one record) are matched in partition and offset order: the n-th copy
-- in A with the n-th in B, so a duplicate more or less is one record only in A or only in B.
-- A matched pair is `changed` when key, value, headers or (variable diff_timestamps) timestamp
-- differ - for JSON objects with the top-level fields that differ ($.name) - and `moved` when it
-- sits in another partition, or when its predecessor among the pairs of its partition is not the
-- same in A and in B (a record moved within a partition flags itself and the record after its old
-- place). Under content identity nothing can be `changed` but the timestamp and a null against an
-- empty header list.
--
-- Speed and memory: each record is read once and reduced to its position, timestamp and 64-bit
-- hashes of key, value and headers (null and empty kept apart); matching, ordering and counting work
-- on these narrow rows only, so a 10M-record side is ~0.5 GB that spills past the memory limit. The
-- bytes themselves (keys, and values to name the JSON fields that changed) are read again only for
-- the at most `diff_limit` differences listed. Two different keys, values or header lists with one
-- 64-bit hash would be taken for equal.

-- A record as the diff sees it: where it is, when, its event id, and hashes of its parts.
CREATE OR REPLACE MACRO diff_hashed(side) AS TABLE
SELECT topic, partition, "offset", timestamp, event_id,
       hash(key IS NULL, key) AS key_h, hash(value IS NULL, value) AS value_h,
       hash(headers) AS headers_h, headers IS NULL AS headers_null  -- hash() gives null and [] one hash
FROM query_table(side);

-- An identity is two numbers, so that matching joins integers: (partition, offset) by position,
-- (-1, hash of the event id) by event id, (-2, hash of key, value and headers) by content.
CREATE OR REPLACE MACRO diff_ident_kind(partition, event_id) AS
    CASE WHEN getvariable('diff_identity') = 'position' THEN partition
         WHEN getvariable('diff_identity') = 'event_id' AND event_id IS NOT NULL THEN -1 ELSE -2 END;
CREATE OR REPLACE MACRO diff_ident_hash(off, key_h, value_h, headers_h, event_id) AS
    CASE WHEN getvariable('diff_identity') = 'position' THEN off::UBIGINT
         WHEN getvariable('diff_identity') = 'event_id' AND event_id IS NOT NULL THEN hash(event_id)
         ELSE hash(key_h, value_h, headers_h) END;
CREATE OR REPLACE MACRO diff_identified(side) AS TABLE
SELECT *, diff_ident_kind(partition, event_id) AS ident_kind,
       diff_ident_hash("offset", key_h, value_h, headers_h, event_id) AS ident_hash
FROM diff_hashed(side);
-- Copies are numbered only for identities that occur more than once on a side, found by one hash
-- aggregate over both sides (most identities occur once: no sort of each whole side); the others
-- are copy 1. Each side's narrow rows are read and hashed once into a table, which the count and
-- the matching scan. The aggregate leaves out the topic, so an identity repeated only across
-- topics is numbered too, which gives the same numbers. By position a side of one cluster
-- (variable diff_<side>_unique) has one record per identity: its rows go straight to the matching,
-- with no table and no count (DuckDB folds the variables and drops the branch not taken).
CREATE OR REPLACE MACRO diff_one_per_position(side) AS
    getvariable('diff_identity') = 'position' AND getvariable(side || '_unique');
CREATE OR REPLACE TEMP TABLE diff_a_ids AS SELECT * FROM diff_identified('diff_a') WHERE NOT diff_one_per_position('diff_a');
CREATE OR REPLACE TEMP TABLE diff_b_ids AS SELECT * FROM diff_identified('diff_b') WHERE NOT diff_one_per_position('diff_b');
CREATE OR REPLACE TEMP TABLE diff_copies AS
SELECT ident_kind, ident_hash
FROM (SELECT ident_kind, ident_hash, 1 AS in_a FROM diff_a_ids UNION ALL SELECT ident_kind, ident_hash, 0 FROM diff_b_ids)
GROUP BY ident_kind, ident_hash HAVING sum(in_a) > 1 OR count(*) - sum(in_a) > 1;
CREATE OR REPLACE MACRO diff_matched(side, ids) AS TABLE
SELECT *, 1::BIGINT AS copy FROM diff_identified(side) WHERE diff_one_per_position(side)
UNION ALL
SELECT *, 1::BIGINT AS copy FROM query_table(ids) ANTI JOIN diff_copies USING (ident_kind, ident_hash)
UNION ALL
SELECT s.*, row_number() OVER (PARTITION BY s.topic, s.ident_kind, s.ident_hash ORDER BY s.partition, s."offset") AS copy
FROM query_table(ids) s SEMI JOIN diff_copies USING (ident_kind, ident_hash);

CREATE OR REPLACE TABLE diff_pairs AS
SELECT coalesce(a.topic, b.topic) AS topic,
       a.partition AS a_partition, a."offset" AS a_offset, b.partition AS b_partition, b."offset" AS b_offset,
       coalesce(a.event_id, b.event_id) AS event_id,
       a.key_h IS DISTINCT FROM b.key_h AS key_changed,
       a.value_h IS DISTINCT FROM b.value_h AS value_changed,
       (a.headers_h, a.headers_null) IS DISTINCT FROM (b.headers_h, b.headers_null) AS headers_changed,
       getvariable('diff_timestamps') AND a.timestamp IS DISTINCT FROM b.timestamp AS timestamp_changed
FROM diff_matched('diff_a', 'diff_a_ids') a FULL OUTER JOIN diff_matched('diff_b', 'diff_b_ids') b USING (topic, ident_kind, ident_hash, copy);
DROP TABLE diff_a_ids;
DROP TABLE diff_b_ids;
DROP TABLE diff_copies;

-- Order within a partition: a pair's predecessor (by A's offset) in A's order and in B's; only the
-- pairs whose predecessors differ are kept. B's order is sorted for only the partitions where it
-- is not A's (a pair whose B offset is below its predecessor's in A's order); elsewhere the two
-- predecessors are one.
CREATE OR REPLACE TABLE diff_order AS
WITH in_a AS MATERIALIZED (
    SELECT topic, a_partition, a_offset, b_offset,
           lag(a_offset) OVER (PARTITION BY topic, a_partition ORDER BY a_offset) AS before_in_a,
           lag(b_offset) OVER (PARTITION BY topic, a_partition ORDER BY a_offset) AS b_before
    FROM diff_pairs WHERE a_partition = b_partition)
SELECT topic, a_partition, a_offset, before_in_a,
       lag(a_offset) OVER (PARTITION BY topic, a_partition ORDER BY b_offset) AS before_in_b
FROM in_a SEMI JOIN (SELECT DISTINCT topic, a_partition FROM in_a WHERE b_offset < b_before) USING (topic, a_partition)
QUALIFY before_in_a IS DISTINCT FROM before_in_b;

-- Every difference, by kind (a `changed` pair keeps which of its parts changed).
CREATE OR REPLACE TABLE diff_rows AS
SELECT 'only_in_a' AS kind, topic, a_partition, a_offset, NULL::INTEGER AS b_partition, NULL::BIGINT AS b_offset,
       event_id, false AS key_changed, false AS value_changed, false AS headers_changed, false AS timestamp_changed
FROM diff_pairs WHERE b_offset IS NULL
UNION ALL
SELECT 'only_in_b', topic, NULL, NULL, b_partition, b_offset, event_id, false, false, false, false
FROM diff_pairs WHERE a_offset IS NULL
UNION ALL
SELECT 'changed', topic, a_partition, a_offset, b_partition, b_offset, event_id,
       key_changed, value_changed, headers_changed, timestamp_changed
FROM diff_pairs
WHERE a_offset IS NOT NULL AND b_offset IS NOT NULL
  AND (key_changed OR value_changed OR headers_changed OR timestamp_changed)
UNION ALL
SELECT 'moved', topic, a_partition, a_offset, b_partition, b_offset, event_id, false, false, false, false
FROM diff_pairs WHERE a_partition <> b_partition
UNION ALL
SELECT 'moved', p.topic, p.a_partition, p.a_offset, p.b_partition, p.b_offset, p.event_id, false, false, false, false
FROM diff_pairs p JOIN diff_order o USING (topic, a_partition, a_offset);

-- Per topic: records on each side, pairs matched, and each kind of difference.
CREATE OR REPLACE VIEW diff_summary AS
SELECT p.topic, count(p.a_offset) AS a_records, count(p.b_offset) AS b_records,
       count(*) FILTER (WHERE p.a_offset IS NOT NULL AND p.b_offset IS NOT NULL) AS matched,
       count(*) FILTER (WHERE p.b_offset IS NULL) AS only_in_a,
       count(*) FILTER (WHERE p.a_offset IS NULL) AS only_in_b,
       coalesce(any_value(r.changed), 0) AS changed, coalesce(any_value(r.moved), 0) AS moved
FROM diff_pairs p
LEFT JOIN (SELECT topic, count(*) FILTER (WHERE kind = 'changed') AS changed, count(*) FILTER (WHERE kind = 'moved') AS moved
           FROM diff_rows WHERE kind IN ('changed', 'moved') GROUP BY topic) r USING (topic)
GROUP BY p.topic;

-- The differences listed: the first `diff_limit` in topic, kind and position order.
CREATE OR REPLACE TABLE diff_listed AS
SELECT * FROM diff_rows
ORDER BY topic, kind, coalesce(a_partition, b_partition), coalesce(a_offset, b_offset)
LIMIT getvariable('diff_limit');

CREATE OR REPLACE MACRO json_changed_fields(a, b) AS
    try(CASE WHEN json_type(try(decode(a))) = 'OBJECT' AND json_type(try(decode(b))) = 'OBJECT' THEN
        list_transform(
            list_filter(list_sort(list_distinct(json_keys(decode(a)) || json_keys(decode(b)))),
                        lambda k: json_extract(decode(a), '$."' || k || '"') IS DISTINCT FROM json_extract(decode(b), '$."' || k || '"')),
            lambda k: 'value.$.' || k)
    END);

-- The bytes of the listed records, read again for them alone: keys (A's, else B's) and values (the
-- JSON fields of a changed value). One side's records at the listed positions of that side.
CREATE OR REPLACE MACRO diff_listed_bytes(side, is_a) AS TABLE
SELECT DISTINCT ON (r.topic, r.partition, r."offset") r.topic, r.partition, r."offset", r.key, r.value
FROM query_table(side) r
SEMI JOIN diff_listed l
    ON r.topic = l.topic AND r.partition = CASE WHEN is_a THEN l.a_partition ELSE l.b_partition END
   AND r."offset" = CASE WHEN is_a THEN l.a_offset ELSE l.b_offset END;

CREATE OR REPLACE VIEW diff_listing AS
SELECT kind, topic, a_partition, a_offset, b_partition, b_offset, key, event_id, fields,
       CASE kind
           WHEN 'only_in_a' THEN format('{}/{}@{} is only in A', topic, a_partition, a_offset)
           WHEN 'only_in_b' THEN format('{}/{}@{} is only in B', topic, b_partition, b_offset)
           WHEN 'changed' THEN format('{}/{}@{} in A is {}/{}@{} in B with another {}', topic, a_partition, a_offset,
                                      topic, b_partition, b_offset, array_to_string(fields, ', '))
           ELSE format('{}/{}@{} in A is {}/{}@{} in B{}', topic, a_partition, a_offset, topic, b_partition, b_offset,
                       CASE WHEN a_partition <> b_partition THEN ', another partition' ELSE ', in another order' END)
       END AS detail
FROM (
    SELECT l.*, coalesce(a.key, b.key) AS key,
           list_filter(['key', 'headers', 'timestamp'], lambda f:
                 (f = 'key' AND l.key_changed) OR (f = 'headers' AND l.headers_changed) OR (f = 'timestamp' AND l.timestamp_changed))
           || CASE WHEN l.value_changed THEN coalesce(nullif(json_changed_fields(a.value, b.value), []), ['value'])
                   ELSE [] END AS fields
    FROM diff_listed l
    LEFT JOIN diff_listed_bytes('diff_a_records', true) a
        ON a.topic = l.topic AND a.partition = l.a_partition AND a."offset" = l.a_offset
    LEFT JOIN diff_listed_bytes('diff_b_records', false) b
        ON b.topic = l.topic AND b.partition = l.b_partition AND b."offset" = l.b_offset
);
