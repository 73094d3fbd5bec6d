-- sequence_gap: missing sequence numbers per topic and entity, and sequences going backwards.
-- Events of a topic and entity in sequence order (copies of one sequence by broker time, offset,
-- partition): consecutive seen sequences s < t with t > s + 1 leave s+1 .. t-1 missing. In Jepsen's
-- words, judged against the moment the dump fixed the end offsets of t's partition (`end_fixed_at`
-- in the manifests, the latest of several dumps; the partition's last record where none is recorded):
--   lost    (error) the later event t was written more than sequence_gap_unseen_ms (default 10000)
--           before that moment: the missing events had time to arrive and did not
--   unseen  (info) t was written within sequence_gap_unseen_ms of that moment: the missing events
--           may still arrive (a retry in flight when the dump looked)
-- sequence_regression (warning): within one partition, in offset order, an entity's sequence is
-- lower than the one before it (a producer restarted its counter or re-sent older events).
-- Repeated equal sequences are duplicates, reported by the duplicate check when event ids are mapped.
-- Cannot know: events before the first or after the last sequence seen, a counter that is not meant
-- to be dense, or producer clocks: with CreateTime, t's timestamp is the producer's clock.

CREATE OR REPLACE VIEW sequence_steps AS   -- each event with the next one of its entity in sequence order
WITH holey AS (   -- an entity with every sequence from its min to its max has no gap: skip ordering it
    SELECT cluster_id, topic, entity FROM events
    WHERE sequence IS NOT NULL AND entity IS NOT NULL
    GROUP BY ALL HAVING max(sequence) - min(sequence) + 1 <> count(DISTINCT sequence)
)
SELECT cluster_id, topic, entity, sequence, partition, "offset", timestamp, event_id,
       lead(sequence) OVER by_sequence AS next_sequence,
       lead(partition) OVER by_sequence AS next_partition,
       lead("offset") OVER by_sequence AS next_offset,
       lead(timestamp) OVER by_sequence AS next_timestamp,
       lead(event_id) OVER by_sequence AS next_event_id,
       lead(key) OVER by_sequence AS next_key
FROM events e SEMI JOIN holey h USING (cluster_id, topic, entity)
WHERE sequence IS NOT NULL
WINDOW by_sequence AS (PARTITION BY stream, entity ORDER BY sequence, timestamp, "offset", partition);

CREATE OR REPLACE VIEW sequence_gaps AS
WITH partition_moments AS (   -- when the dumps last fixed each partition's end offsets
    SELECT cluster_id, topic, partition, max(end_fixed_at) AS moment FROM manifests GROUP BY ALL
),
partition_tails AS (
    SELECT cluster_id, topic, partition, coalesce(any_value(m.moment), max(r.timestamp)) AS tail_ts
    FROM records r LEFT JOIN partition_moments m USING (cluster_id, topic, partition)
    GROUP BY ALL
),
gaps AS (
    SELECT * FROM sequence_steps WHERE next_sequence > sequence + 1
)
SELECT g.cluster_id, g.topic, g.entity,
       g.sequence + 1 AS missing_from, g.next_sequence - 1 AS missing_to, g.next_sequence - g.sequence - 1 AS missing,
       CASE WHEN epoch_ms(t.tail_ts) - epoch_ms(g.next_timestamp) > getvariable('sequence_gap_unseen_ms')
            THEN 'lost' ELSE 'unseen' END AS status,
       g.sequence AS before_sequence, g.partition AS before_partition, g."offset" AS before_offset,
       g.timestamp AS before_ts, g.event_id AS before_event_id,
       g.next_sequence AS after_sequence, g.next_partition AS after_partition, g.next_offset AS after_offset,
       g.next_timestamp AS after_ts, g.next_event_id AS after_event_id, g.next_key AS key
FROM gaps g
JOIN partition_tails t ON t.cluster_id = g.cluster_id AND t.topic = g.topic AND t.partition = g.next_partition;

CREATE OR REPLACE VIEW sequence_regressions AS
WITH regressions AS MATERIALIZED (
    SELECT * FROM (
        SELECT cluster_id, topic, partition, entity, "offset", sequence, timestamp, event_id, key,
               lag(sequence) OVER by_offset AS previous_sequence,
               lag("offset") OVER by_offset AS previous_offset,
               lag(timestamp) OVER by_offset AS previous_ts,
               lag(event_id) OVER by_offset AS previous_event_id
        FROM events
        WHERE sequence IS NOT NULL AND entity IS NOT NULL
        WINDOW by_offset AS (PARTITION BY stream, partition, entity ORDER BY "offset")
    )
    WHERE sequence < previous_sequence
)
SELECT g.*, p.producer   -- who wrote the later record (docs/causes.md)
FROM regressions g
LEFT JOIN (SELECT cluster_id, topic, partition, "offset", producer_of(headers) AS producer
           FROM records SEMI JOIN regressions USING (cluster_id, topic, partition, "offset")) p
       USING (cluster_id, topic, partition, "offset");

CREATE OR REPLACE VIEW sequence_gap_findings AS
SELECT 'sequence_gap' AS "check", CASE status WHEN 'lost' THEN 'error' ELSE 'info' END AS severity,
       topic, CASE WHEN before_partition = after_partition THEN after_partition END AS partition,
       key, [before_offset, after_offset] AS offsets,
       list_filter([before_event_id, after_event_id], lambda e: e IS NOT NULL) AS event_ids,
       before_ts AS first_ts, after_ts AS last_ts,
       format('{}: entity {} of {} misses sequence {}..{} ({} events) between {} at {}:{} and {} at {}:{}',
              status, entity, topic, missing_from, missing_to, missing,
              before_sequence, before_partition, before_offset, after_sequence, after_partition, after_offset) AS detail,
       to_json({'status': status, 'entity': entity, 'missing': [missing_from, missing_to],
                'positions': [[before_partition, before_offset], [after_partition, after_offset]]}) AS facts
FROM sequence_gaps
UNION ALL
SELECT 'sequence_regression', 'warning', topic, partition, key, [previous_offset, "offset"],
       list_filter([previous_event_id, event_id], lambda e: e IS NOT NULL), previous_ts, timestamp,
       format('entity {} of {}/{} went back from sequence {} at offset {} to {} at offset {}',
              entity, topic, partition, previous_sequence, previous_offset, sequence, "offset"),
       to_json({'entity': entity, 'from': previous_sequence, 'to': sequence, 'producer': producer})
FROM sequence_regressions;
