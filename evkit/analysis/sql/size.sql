-- size: values larger than size_max_bytes, and documents (the values of one key) that keep growing:
-- the last version >= size_growth_factor x the first (an empty first version counts as 1 byte), over
-- at least size_min_versions versions. Per cluster, topic and key, versions in (time, partition,
-- offset) order, time = event time, else broker time; tombstones are no versions (docs/rules.md).
-- Cannot know: a document large from its first version, growth undone before the last version, a key
-- reused for unrelated documents, versions compaction removed.

CREATE OR REPLACE VIEW size_versions AS
SELECT cluster_id, topic, partition, "offset", key, key_text, value_size, event_id,
       epoch_ms(coalesce(event_time, timestamp)) AS t
FROM events
WHERE value_size IS NOT NULL;

CREATE OR REPLACE VIEW size_large AS      -- per key: the values over max_bytes
SELECT cluster_id, topic, key, count(*) AS values_over, min(t) AS first_t, max(t) AS last_t,
       CASE WHEN min(partition) = max(partition) THEN min(partition) END AS partition,
       arg_min({'p': partition, 'o': "offset", 'size': value_size, 'id': event_id},
               {'size': -value_size, 't': t, 'p': partition, 'o': "offset"}) AS largest
FROM size_versions
WHERE value_size > getvariable('size_max_bytes')
GROUP BY cluster_id, topic, key;

CREATE OR REPLACE VIEW size_growth AS     -- per key that may grow: first, last and largest version
WITH may_grow AS (   -- last >= factor x max(first, 1) needs largest >= factor x max(smallest, 1): plain aggregates first
    SELECT cluster_id, topic, key FROM size_versions WHERE key IS NOT NULL GROUP BY cluster_id, topic, key
    HAVING count(*) >= getvariable('size_min_versions')
       AND max(value_size) >= getvariable('size_growth_factor') * greatest(min(value_size), 1)
)
SELECT cluster_id, topic, key, count(*) AS versions,
       CASE WHEN min(partition) = max(partition) THEN min(partition) END AS partition,
       arg_min({'p': partition, 'o': "offset", 'size': value_size, 't': t, 'id': event_id}, {'t': t, 'p': partition, 'o': "offset"}) AS first,
       arg_max({'p': partition, 'o': "offset", 'size': value_size, 't': t, 'id': event_id}, {'t': t, 'p': partition, 'o': "offset"}) AS last,
       arg_min({'p': partition, 'o': "offset", 'size': value_size}, {'size': -value_size, 't': t, 'p': partition, 'o': "offset"}) AS largest
FROM size_versions SEMI JOIN may_grow USING (cluster_id, topic, key)
GROUP BY cluster_id, topic, key;

CREATE OR REPLACE VIEW sizes AS
SELECT 'growing' AS kind, cluster_id, topic, partition, key, versions, first, last, largest,
       last.size / greatest(first.size, 1) AS growth,
       (last.size - first.size) / (versions - 1) AS bytes_per_version,
       (last.size - first.size) * 60000 / greatest(last.t - first.t, 1) AS bytes_per_minute
FROM size_growth
WHERE last.size >= getvariable('size_growth_factor') * greatest(first.size, 1);

CREATE OR REPLACE VIEW size_findings AS
SELECT 'size' AS "check", 'warning' AS severity, topic, partition, key, [first.o, last.o] AS offsets,
       [first.id, last.id] AS event_ids, make_timestamptz(first.t * 1000) AS first_ts, make_timestamptz(last.t * 1000) AS last_ts,
       format('size: key {} of {} grew {:.1f}x from {} to {} bytes over {} versions ({:.0f} bytes a version, {:.0f} a minute); largest {} bytes at {}:{}',
              coalesce(decode(key), 'base64:' || to_base64(key)), topic, growth, first.size, last.size, versions,
              bytes_per_version, bytes_per_minute, largest.size, largest.p, largest.o) AS detail,
       to_json({'kind': 'growing', 'first_bytes': first.size, 'last_bytes': last.size, 'largest_bytes': largest.size,
                'factor': growth, 'versions': versions}) AS facts
FROM sizes
UNION ALL
SELECT 'size', 'warning', topic, partition, key, [largest.o], [largest.id], make_timestamptz(first_t * 1000),
       make_timestamptz(last_t * 1000),
       format('size: {} value{} of key {} in {} larger than {} bytes, the largest {} bytes at {}:{}', values_over,
              CASE WHEN values_over = 1 THEN '' ELSE 's' END, coalesce(try(decode(key)), 'base64:' || to_base64(key), 'null'),
              topic, getvariable('size_max_bytes'), largest.size, largest.p, largest.o),
       to_json({'kind': 'too_large', 'first_bytes': NULL::BIGINT, 'last_bytes': NULL::BIGINT, 'largest_bytes': largest.size,
                'factor': NULL::DOUBLE, 'versions': NULL::BIGINT})
FROM size_large;
