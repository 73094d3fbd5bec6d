-- duplicate: the same event stored more than once in a topic.
--   exact   records with the same key and value bytes at different positions (only records whose
--           event_id is unknown; with an event_id the logical rule below applies)
--   logical records with the same event_id at different positions; identical_bytes tells a retry
--           (same bytes) from a re-creation (same id, different bytes)
--   re-publication  >= duplicate_burst_min later copies in one partition with no more than
--           duplicate_burst_window_ms between neighbours: a producer re-sent a range
-- Copies are numbered by broker time, then partition and offset; copy 1 is the original. Copies are
-- of one cluster: a mirror's copy of an event is not a duplicate of it. A finding's key is the first
-- non-null key of its copies in that order.
-- Cannot know: whether the application meant to send the same bytes twice (heartbeats, idempotent
-- upserts), or duplicates across topics (one id in several topics is a lifecycle, not a copy).

CREATE OR REPLACE VIEW duplicate_candidates AS
WITH logical_ids AS (
    SELECT cluster_id, topic, event_id FROM events WHERE event_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1
),
exact_hashes AS (   -- a 64-bit hash narrows the search; the key and value bytes themselves decide below
    SELECT cluster_id, topic, content_hash FROM events
    WHERE event_id IS NULL AND value_size IS NOT NULL GROUP BY ALL HAVING count(*) > 1
)
SELECT 'logical' AS kind, e.event_id AS identity, NULL::BLOB AS same_key, NULL::BLOB AS same_value,
       e.cluster_id, e.topic, e.partition, e."offset", e.timestamp, e.key, e.event_id, e.content_hash
FROM events e SEMI JOIN logical_ids d ON e.cluster_id = d.cluster_id AND e.topic = d.topic AND e.event_id = d.event_id
UNION ALL
SELECT 'exact', 'key ' || coalesce(r.key_text, 'base64:' || to_base64(r.key), '(null)') || ', value md5 ' || md5(r.value),
       r.key, r.value, r.cluster_id, r.topic, r.partition, r."offset", r.timestamp, r.key, NULL, e.content_hash
FROM events e SEMI JOIN exact_hashes d ON e.cluster_id = d.cluster_id AND e.topic = d.topic AND e.content_hash = d.content_hash
JOIN records r ON r.cluster_id = e.cluster_id AND r.topic = e.topic AND r.partition = e.partition AND r."offset" = e."offset"
WHERE e.event_id IS NULL;

CREATE OR REPLACE VIEW duplicate_copies AS
SELECT * FROM (
    SELECT *,
           row_number() OVER copies AS copy_no,
           count(*) OVER (PARTITION BY kind, cluster_id, topic, identity, same_key, same_value) AS copies,
           first_value(partition) OVER copies AS original_partition,
           first_value("offset") OVER copies AS original_offset,
           first_value(timestamp) OVER copies AS original_timestamp
    FROM duplicate_candidates
    WINDOW copies AS (PARTITION BY kind, cluster_id, topic, identity, same_key, same_value
                      ORDER BY timestamp, partition, "offset")
)
WHERE copies > 1;

-- One row per duplicated event: every copy's position and the time between first and last copy.
CREATE OR REPLACE VIEW duplicates AS
SELECT kind, cluster_id, topic, identity, any_value(event_id) AS event_id, count(*) AS copies,
       CASE WHEN count(DISTINCT partition) = 1 THEN any_value(partition) END AS partition,
       list({'partition': partition, 'offset': "offset", 'timestamp': timestamp} ORDER BY copy_no) AS positions,
       list("offset" ORDER BY copy_no) AS offsets,
       arg_min(key, copy_no) AS key,
       count(DISTINCT content_hash) = 1 AS identical_bytes,
       min(timestamp) AS first_ts, max(timestamp) AS last_ts,
       max(timestamp) - min(timestamp) AS spread
FROM duplicate_copies
GROUP BY kind, cluster_id, topic, identity, same_key, same_value;

-- Bursts of later copies in one partition: a producer (or a replay) re-sent a range.
CREATE OR REPLACE VIEW republications AS
WITH later AS (
    SELECT *, coalesce(abs(epoch_ms(timestamp) - epoch_ms(lag(timestamp) OVER by_offset))   -- either way in time
                       > getvariable('duplicate_burst_window_ms'), true) AS starts_burst
    FROM duplicate_copies
    WHERE copy_no > 1
    WINDOW by_offset AS (PARTITION BY cluster_id, topic, partition ORDER BY "offset")
),
numbered AS (
    SELECT *, sum(starts_burst::INTEGER) OVER (PARTITION BY cluster_id, topic, partition ORDER BY "offset") AS burst
    FROM later
)
, original_ranges AS (   -- each burst's originals as offset ranges, per partition (facts of the finding)
    SELECT cluster_id, topic, partition, burst,
           list({'partition': original_partition, 'first': first, 'last': last} ORDER BY original_partition) AS originals
    FROM (SELECT cluster_id, topic, partition, burst, original_partition,
                 min(original_offset) AS first, max(original_offset) AS last
          FROM numbered GROUP BY ALL)
    GROUP BY ALL
)
SELECT cluster_id, topic, partition, count(*) AS copies,
       min("offset") AS first_offset, max("offset") AS last_offset,
       min(original_offset) AS original_first_offset, max(original_offset) AS original_last_offset,
       list(DISTINCT original_partition ORDER BY original_partition) AS original_partitions,
       min(timestamp - original_timestamp) AS min_delay,
       list("offset" ORDER BY "offset") AS offsets,
       list(event_id ORDER BY "offset") FILTER (WHERE event_id IS NOT NULL) AS event_ids,
       arg_min(key, "offset") AS key,
       min(timestamp) AS first_ts, max(timestamp) AS last_ts,
       any_value(o.originals) AS originals
FROM numbered JOIN original_ranges o USING (cluster_id, topic, partition, burst)
GROUP BY cluster_id, topic, partition, burst
HAVING count(*) >= getvariable('duplicate_burst_min');

-- The producer of each burst's first copy (docs/causes.md: who re-sent the range).
CREATE OR REPLACE VIEW republication_producers AS
SELECT cluster_id, topic, partition, "offset" AS first_offset, producer_of(headers) AS producer
FROM records SEMI JOIN (SELECT cluster_id, topic, partition, first_offset AS "offset" FROM republications)
     USING (cluster_id, topic, partition, "offset");

CREATE OR REPLACE VIEW duplicate_findings AS
SELECT 'duplicate' AS "check", 'warning' AS severity, topic, partition, key, offsets,
       CASE WHEN event_id IS NULL THEN []::VARCHAR[] ELSE [event_id] END AS event_ids,
       first_ts, last_ts,
       format('{} duplicate: {} stored {} times at {} within {:.3f} s{}',
              kind, CASE kind WHEN 'logical' THEN 'event_id ' || identity ELSE identity END, copies,
              array_to_string(list_transform(positions, lambda p: p.partition || ':' || p.offset), ', '),
              (epoch_ms(last_ts) - epoch_ms(first_ts)) / 1000,
              CASE WHEN kind = 'exact' THEN '' WHEN identical_bytes THEN ' (identical bytes)' ELSE ' (different bytes)' END
       ) AS detail,
       to_json({'kind': kind, 'positions': list_transform(positions, lambda p: [p.partition, p.offset])}) AS facts
FROM duplicates
UNION ALL
SELECT 'duplicate', 'warning', topic, partition, key, offsets, coalesce(event_ids, []), first_ts, last_ts,
       format('re-publication: {} records at offsets {}..{} of {}/{} repeat earlier records (offsets {}..{} of partition(s) {}), at least {:.3f} s later',
              copies, first_offset, last_offset, topic, partition, original_first_offset, original_last_offset,
              array_to_string(original_partitions, ','), epoch(min_delay)),
       to_json({'kind': 'burst', 'copies': {'partition': partition, 'first': first_offset, 'last': last_offset, 'records': copies},
                'originals': originals, 'delay_ms': round(epoch(min_delay) * 1000)::BIGINT, 'producer': producer})
FROM republications LEFT JOIN republication_producers USING (cluster_id, topic, partition, first_offset);
