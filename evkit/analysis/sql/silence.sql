-- silence: a partition (by broker time) or an entity (by event time, else broker time) that had no
-- events for far longer than its own usual interval.
-- usual interval = (last - first time) / (events - 1) over the whole dump; a quiet period is a
-- silence when it is longer than silence_factor (default 20) times that and longer than
-- silence_min_ms (default 1000), for groups with at least silence_min_events (default 20) events.
-- Cannot know: silence after the last event of the dump (the dump's end is not an event), schedules
-- (a topic that is quiet every night), or whether the producer or the consumer side was silent.

CREATE OR REPLACE VIEW silence_intervals AS   -- group_partition: the partition for partition scope, else NULL
SELECT 'partition' AS scope, cluster_id, topic, partition AS group_partition, NULL::VARCHAR AS entity,
       timestamp AS time, partition, "offset", key,
       lag(timestamp) OVER by_time AS previous_time, lag(partition) OVER by_time AS previous_partition,
       lag("offset") OVER by_time AS previous_offset
FROM events
WINDOW by_time AS (PARTITION BY stream, partition ORDER BY timestamp, "offset")
UNION ALL
SELECT 'entity', cluster_id, topic, NULL, entity,
       coalesce(event_time, timestamp), partition, "offset", key,
       lag(coalesce(event_time, timestamp)) OVER by_time, lag(partition) OVER by_time, lag("offset") OVER by_time
FROM events
WHERE entity IS NOT NULL
WINDOW by_time AS (PARTITION BY stream, entity ORDER BY coalesce(event_time, timestamp), partition, "offset");

CREATE OR REPLACE VIEW silence_groups AS   -- each partition's and entity's usual interval
SELECT 'partition' AS scope, cluster_id, topic, partition AS group_partition, NULL::VARCHAR AS entity,
       count(*) AS events, epoch_ms(max(timestamp)) - epoch_ms(min(timestamp)) AS span_ms
FROM events
GROUP BY cluster_id, topic, partition
UNION ALL
SELECT 'entity', cluster_id, topic, NULL, entity,
       count(*), epoch_ms(max(coalesce(event_time, timestamp))) - epoch_ms(min(coalesce(event_time, timestamp)))
FROM events
WHERE entity IS NOT NULL
GROUP BY cluster_id, topic, entity;

CREATE OR REPLACE VIEW silences AS
WITH params AS (
    SELECT getvariable('silence_factor') AS factor, getvariable('silence_min_events') AS min_events,
           getvariable('silence_min_ms') AS min_ms
),
quiet AS (
    SELECT i.*, epoch_ms(i.time) - epoch_ms(i.previous_time) AS silence_ms,
           g.span_ms / greatest(g.events - 1, 1) AS mean_interval_ms, g.events
    FROM silence_intervals i, params
    JOIN silence_groups g ON g.scope = i.scope AND g.cluster_id = i.cluster_id AND g.topic = i.topic
         AND g.group_partition IS NOT DISTINCT FROM i.group_partition AND g.entity IS NOT DISTINCT FROM i.entity
    WHERE epoch_ms(i.time) - epoch_ms(i.previous_time) > params.min_ms
      AND g.events >= params.min_events
      -- silence > factor x mean interval, multiplied out so that it is exact, not floating point
      AND (epoch_ms(i.time) - epoch_ms(i.previous_time)) * greatest(g.events - 1, 1) > params.factor * g.span_ms
)
SELECT q.scope, q.cluster_id, q.topic, CASE WHEN q.previous_partition = q.partition THEN q.partition END AS partition,
       q.entity, q.previous_time AS silence_start, q.time AS silence_end, q.silence_ms, q.mean_interval_ms, q.events,
       q.previous_offset, q."offset", q.key
FROM quiet q;

CREATE OR REPLACE VIEW silence_findings AS
SELECT 'silence' AS "check", 'warning' AS severity, topic, partition, key,
       [previous_offset, "offset"] AS offsets, []::VARCHAR[] AS event_ids,
       silence_start AS first_ts, silence_end AS last_ts,
       format('{} {} was silent for {:.3f} s ({:.0f}x its usual interval of {:.3f} s over {} events)',
              scope, CASE scope WHEN 'partition' THEN topic || '/' || partition ELSE entity || ' of ' || topic END,
              silence_ms / 1000, silence_ms / greatest(mean_interval_ms, 1), mean_interval_ms / 1000, events) AS detail,
       to_json({'scope': scope, 'entity': entity, 'silent_ms': silence_ms, 'usual_ms': mean_interval_ms,
                'factor': silence_ms / greatest(mean_interval_ms, 1), 'events': events}) AS facts
FROM silences;
