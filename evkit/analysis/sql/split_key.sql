-- split_key: a key whose records sit in more than one partition of a topic.
-- Kafka orders records per partition only, and log compaction keeps the latest record per key per
-- partition, so a key in two partitions has no order between its records and two "latest" states.
-- Usual causes: producers with different partitioners (see the partitioner check), the same logical
-- key serialised differently (key_encoding), or a topic that grew (partition_count_change).
-- Null keys are not keys (every client spreads them); the empty key is a key like any other.
-- One finding per topic and key: the partitions with their record counts, offsets and time ranges.
-- Needs the macros evkit.hashchecks.register_macros defines (key_label, iso_ms).

CREATE OR REPLACE VIEW split_key_placements AS
SELECT cluster_id, topic, key, partition,
       count(*) AS records, min("offset") AS first_offset, max("offset") AS last_offset,
       min("timestamp") AS first_ts, max("timestamp") AS last_ts,
       list("offset" ORDER BY "offset") AS offsets,
       coalesce(list_sort(list(DISTINCT try(decode(struct_extract(list_filter(headers, lambda h: h.key = getvariable('partitioner_producer_header'))[-1], 'value')))) FILTER (WHERE len(list_filter(headers, lambda h: h.key = getvariable('partitioner_producer_header'))) > 0)), []) AS producers,
       count(*) OVER (PARTITION BY cluster_id, topic, key) AS partitions
FROM records
WHERE key IS NOT NULL
GROUP BY cluster_id, topic, key, partition
QUALIFY partitions > 1;

CREATE OR REPLACE VIEW split_keys AS
SELECT cluster_id, topic, key, count(*) AS partitions, sum(records) AS records,
       list(partition ORDER BY partition) AS partition_list,
       flatten(list(offsets ORDER BY partition)) AS offsets,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts,
       string_agg(format('{} ({} record{}, offsets {}-{}, {} to {})', partition, records,
                         CASE WHEN records = 1 THEN '' ELSE 's' END, first_offset, last_offset,
                         iso_ms(first_ts), iso_ms(last_ts)),
                  '; ' ORDER BY partition) AS placements,
       list({'partition': partition, 'records': records, 'producers': producers} ORDER BY partition) AS placement_facts
FROM split_key_placements
GROUP BY cluster_id, topic, key;

CREATE OR REPLACE VIEW split_key_findings AS
SELECT 'split_key' AS "check", 'error' AS severity, topic, NULL::INTEGER AS partition, key,
       offsets, NULL::VARCHAR[] AS event_ids, first_ts, last_ts,
       format('key {} is in {} partitions of {}: {}',
              key_label(key),
              partitions, topic, placements) AS detail,
       to_json({'partitions': placement_facts}) AS facts
FROM split_keys;
