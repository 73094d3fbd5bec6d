-- out_of_order: events whose event time is earlier than that of an event before them in offset order.
--   entity     (warning) earlier than a previous event of the same entity in the same partition:
--              consumers applying events in log order apply them out of event-time order
--   partition  (info) earlier than a previous event of the partition (another entity), not of its own
-- lateness = the latest event time seen before it minus its own; regressions of at most
-- out_of_order_tolerance_ms (default 0) are ignored.
-- split entity (warning): one entity's events of one topic in several partitions; Kafka orders
-- only within a partition, so that entity's order is not guaranteed at all.
-- Cannot know: order across partitions or topics (Kafka never promises it), or clock skew between
-- producers (event times from different clocks are compared as if they were one).

CREATE OR REPLACE VIEW late_events AS
WITH tolerance AS (SELECT getvariable('out_of_order_tolerance_ms') AS ms),
late_in_partition AS MATERIALIZED (
    -- a running maximum includes the event itself: max > own time <=> an earlier event was later
    SELECT * FROM (
        SELECT cluster_id, stream, topic, partition, "offset", entity, event_time, event_id, timestamp, key,
               max(event_time) OVER (PARTITION BY stream, partition ORDER BY "offset") AS partition_max
        FROM events
        WHERE event_time IS NOT NULL
    ), tolerance
    WHERE epoch_ms(partition_max) - epoch_ms(event_time) > tolerance.ms
),
entity_maxima AS (   -- late within its entity implies late within its partition: only those entities are ordered
    SELECT cluster_id, topic, partition, "offset",
           max(event_time) OVER (PARTITION BY stream, partition, entity ORDER BY "offset") AS entity_max
    FROM events
    SEMI JOIN (SELECT DISTINCT stream, partition, entity FROM late_in_partition) USING (stream, partition, entity)
    WHERE event_time IS NOT NULL
)
SELECT l.cluster_id, l.topic, l.partition, l."offset", l.entity, l.event_id, l.event_time, l.timestamp, l.key,
       CASE WHEN epoch_ms(m.entity_max) - epoch_ms(l.event_time) > l.ms THEN 'entity' ELSE 'partition' END AS scope,
       CASE WHEN scope = 'entity' THEN m.entity_max ELSE l.partition_max END AS latest_before,
       epoch_ms(latest_before) - epoch_ms(l.event_time) AS lateness_ms,
       p.producer   -- who wrote the late event: late events of two producers are two causes (docs/causes.md)
FROM late_in_partition l
LEFT JOIN entity_maxima m USING (cluster_id, topic, partition, "offset")
LEFT JOIN (SELECT cluster_id, topic, partition, "offset", producer_of(headers) AS producer
           FROM records SEMI JOIN late_in_partition USING (cluster_id, topic, partition, "offset")) p
       USING (cluster_id, topic, partition, "offset");

CREATE OR REPLACE VIEW split_entities AS
WITH per_partition AS (
    SELECT cluster_id, topic, entity, partition, count(*) AS events, min("offset") AS first_offset,
           min(timestamp) AS first_ts, max(timestamp) AS last_ts, arg_min(key, "offset") AS key,
           list(DISTINCT key) FILTER (WHERE key IS NOT NULL) AS keys
    FROM events
    WHERE entity IS NOT NULL
    GROUP BY ALL
)
SELECT cluster_id, topic, entity, count(*) AS partitions,
       list(partition ORDER BY partition) AS partition_list,
       list(events ORDER BY partition) AS events_per_partition,
       list(first_offset ORDER BY partition) AS first_offsets,
       sum(events) AS events, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
       arg_min(key, {'first_ts': first_ts, 'partition': partition}) AS key,
       list_sort(list_distinct(flatten(list(coalesce(keys, []))))) AS keys
FROM per_partition
GROUP BY cluster_id, topic, entity
HAVING count(*) > 1;

CREATE OR REPLACE VIEW out_of_order_findings AS
SELECT 'out_of_order' AS "check", CASE scope WHEN 'entity' THEN 'warning' ELSE 'info' END AS severity,
       topic, partition, key, ["offset"] AS offsets,
       CASE WHEN event_id IS NULL THEN []::VARCHAR[] ELSE [event_id] END AS event_ids,
       event_time AS first_ts, latest_before AS last_ts,
       format('{} {}/{}@{}{} has event time {:.3f} s before an earlier event of its {}',
              CASE WHEN event_id IS NULL THEN 'event' ELSE 'event ' || event_id END, topic, partition, "offset",
              CASE WHEN entity IS NULL THEN '' ELSE ' (entity ' || entity || ')' END,
              lateness_ms / 1000, scope) AS detail,
       to_json({'scope': scope, 'entity': entity, 'lateness_ms': lateness_ms, 'producer': producer}) AS facts
FROM late_events
UNION ALL
SELECT 'out_of_order', 'warning', topic, NULL, key, first_offsets, []::VARCHAR[], first_ts, last_ts,
       format('entity {} of {} is split over partitions {} ({} events): its order is not guaranteed',
              entity, topic, array_to_string(partition_list, ','), array_to_string(events_per_partition, '+')),
       to_json({'scope': 'split', 'entity': entity,
                'partitions': list_transform(list_zip(partition_list, events_per_partition),
                                             lambda p: {'partition': p[1], 'events': p[2]}),
                'keys': list_transform(keys, lambda k: CASE WHEN try(decode(k)) IS NULL THEN 'base64:' || to_base64(k) ELSE decode(k) END)})
FROM split_entities;
