-- timeline: every event of every topic and partition on one time axis.
-- `time` is the event time where known, else the broker (record) timestamp; `lag` and `lag_ms` are
-- broker time minus event time (how late the event reached Kafka; negative = producer clock ahead).
-- Order across partitions is not something Kafka guarantees: equal times are ordered by topic,
-- partition, offset only to make the output stable.

CREATE OR REPLACE VIEW timeline AS
SELECT coalesce(event_time, timestamp) AS time,
       event_time,
       timestamp AS broker_time,
       timestamp - event_time AS lag,
       epoch_ms(timestamp) - epoch_ms(event_time) AS lag_ms,
       topic, partition, "offset", entity, event_type, event_id, sequence, trace_id, key_text, cluster_id
FROM events;

-- Per topic and partition: how far broker time trails event time, in milliseconds.
CREATE OR REPLACE VIEW event_lag AS
SELECT topic, partition,
       count(*) AS events,
       count(lag_ms) AS with_event_time,
       min(lag_ms) AS min_lag_ms,
       quantile_cont(lag_ms, 0.5) AS median_lag_ms,
       quantile_cont(lag_ms, 0.99) AS p99_lag_ms,
       max(lag_ms) AS max_lag_ms
FROM timeline
GROUP BY topic, partition;
