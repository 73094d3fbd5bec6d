-- partition_count_change: keys whose records sit where their producer's partitioner puts them under
-- an earlier, smaller partition count: the topic grew (Kafka can only add partitions) and records
-- written before the change stay where they were, so the key is split across the change.
-- For each producer (as the partitioner check identifies them; its views are loaded first), take
-- the candidate that explains most of its keyed records at today's count, and the records it does
-- not explain. If at least min_records (default 20) of them exist and one earlier count m < n
-- explains at least partitioner_min_fit (default 0.99) of them, the topic is taken to have had m
-- partitions; ties go to the larger m. Each key with records placed for m is one finding.
-- Limits: needs enough misplaced records to tell a change from noise; several changes (3 -> 6 -> 12)
-- are reported as the one that explains the most; the time of the change is not known, only the
-- time range of the records placed for the old count.
-- Needs the partitioner check's views and evkit.hashchecks' macros.

CREATE OR REPLACE MACRO partition_count_change_min_records() AS
    coalesce(getvariable('partition_count_change_min_records'), 20);

CREATE OR REPLACE VIEW unplaced_records AS   -- records the producer's best candidate does not explain today
SELECT f.cluster_id, f.topic, p.producer, f.partitioner, f.partition, f."offset", f."timestamp", f.key,
       f.hash, f.partition_count
FROM record_fits f
JOIN record_producers p USING (cluster_id, topic, partition, "offset")
JOIN producer_partitioners pp ON pp.cluster_id = f.cluster_id AND pp.topic = f.topic AND pp.producer = p.producer
                             AND pp.best = f.partitioner
WHERE NOT f.fits;

CREATE OR REPLACE VIEW earlier_count_fits AS
SELECT cluster_id, topic, producer, partitioner, partition_count, earlier_count,
       count(*) FILTER (WHERE hash % earlier_count = partition) AS fitted, count(*) AS unplaced
FROM (SELECT *, unnest(range(1, partition_count)) AS earlier_count FROM unplaced_records)
GROUP BY ALL;

CREATE OR REPLACE VIEW partition_count_changes AS
SELECT cluster_id, topic, producer, partitioner, partition_count,
       arg_max(earlier_count, fitted * 100000 + earlier_count) AS earlier_count,
       max(fitted) AS fitted, any_value(unplaced) AS unplaced
FROM earlier_count_fits
WHERE unplaced >= partition_count_change_min_records() AND fitted >= partitioner_min_fit() * unplaced
GROUP BY ALL;

CREATE OR REPLACE VIEW partition_count_change_keys AS
SELECT u.cluster_id, u.topic, u.producer, u.partitioner, u.partition_count, c.earlier_count, u.key,
       count(*) AS records, list(DISTINCT u.partition ORDER BY u.partition) AS partitions,
       list(u."offset" ORDER BY u.partition, u."offset") AS offsets,
       min(u."timestamp") AS first_ts, max(u."timestamp") AS last_ts
FROM unplaced_records u JOIN partition_count_changes c USING (cluster_id, topic, producer, partitioner)
WHERE u.hash % c.earlier_count = u.partition
GROUP BY ALL;

CREATE OR REPLACE VIEW partition_count_change_findings AS
SELECT 'partition_count_change' AS "check", 'info' AS severity, topic, NULL::INTEGER AS partition, key,
       offsets, NULL::VARCHAR[] AS event_ids, first_ts, last_ts,
       format('key {} of producer {}: {} record(s) in partition {} sit where {} puts them with {} partitions, not {}: written before {} grew',
              key_label(key), '''' || producer || '''', records, array_to_string(partitions, ', '), partitioner,
              earlier_count, partition_count, topic) AS detail
FROM partition_count_change_keys;
