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
WINDOW by_time AS (PARTITION BY cluster_id, topic, partition ORDER BY timestamp, "offset")
UNION ALL
SELECT 'entity', cluster_id, topic, NULL, entity,
       coalesce(event_time, timestamp), partition, "offset", key,
       lag(coalesce(event_time, timestamp)) OVER by_time, lag(partition) OVER by_time, lag("offset") OVER by_time
FROM events
WHERE entity IS NOT NULL
WINDOW by_time AS (PARTITION BY cluster_id, topic, entity ORDER BY coalesce(event_time, timestamp), partition, "offset");

CREATE OR REPLACE VIEW silences AS
SELECT scope, cluster_id, topic, CASE WHEN previous_partition = partition THEN partition END AS partition,
       entity, previous_time AS silence_start, time AS silence_end,
       epoch_ms(time) - epoch_ms(previous_time) AS silence_ms, mean_interval_ms, events,
       previous_offset, "offset", key
FROM (
    SELECT *,
           count(*) OVER grp AS events,
           (epoch_ms(max(time) OVER grp) - epoch_ms(min(time) OVER grp)) / greatest(count(*) OVER grp - 1, 1) AS mean_interval_ms
    FROM silence_intervals
    WINDOW grp AS (PARTITION BY scope, cluster_id, topic, group_partition, entity)
)
WHERE events >= coalesce(getvariable('silence_min_events'), 20)
  AND epoch_ms(time) - epoch_ms(previous_time)
      > greatest(coalesce(getvariable('silence_factor'), 20) * mean_interval_ms, coalesce(getvariable('silence_min_ms'), 1000));

CREATE OR REPLACE VIEW silence_findings AS
SELECT 'silence' AS "check", 'warning' AS severity, topic, partition, key,
       [previous_offset, "offset"] AS offsets, []::VARCHAR[] AS event_ids,
       silence_start AS first_ts, silence_end AS last_ts,
       format('{} {} was silent for {:.3f} s ({:.0f}x its usual interval of {:.3f} s over {} events)',
              scope, CASE scope WHEN 'partition' THEN topic || '/' || partition ELSE entity || ' of ' || topic END,
              silence_ms / 1000, silence_ms / greatest(mean_interval_ms, 1), mean_interval_ms / 1000, events) AS detail
FROM silences;
