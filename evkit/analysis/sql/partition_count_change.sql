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
    getvariable('partition_count_change_min_records');

CREATE OR REPLACE VIEW unplaced_groups AS   -- record groups the producer's best candidate does not explain today
SELECT f.cluster_id, f.topic, p.producer, f.partitioner, f.partition, f.n, f.offsets, f.first_ts, f.last_ts,
       f.key, f.hash, f.partition_count
FROM group_fits f
JOIN group_producers p USING (group_id)
JOIN producer_partitioners pp ON pp.cluster_id = f.cluster_id AND pp.topic = f.topic AND pp.producer = p.producer
                             AND pp.best = f.partitioner
WHERE NOT f.fits;

CREATE OR REPLACE VIEW earlier_count_fits AS
SELECT cluster_id, topic, producer, partitioner, partition_count, earlier_count,
       coalesce(sum(n) FILTER (WHERE hash % earlier_count = partition), 0)::BIGINT AS fitted,
       sum(n)::BIGINT AS unplaced
FROM (SELECT *, unnest(range(1, partition_count)) AS earlier_count FROM unplaced_groups)
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
       sum(u.n)::BIGINT AS records, list(DISTINCT u.partition ORDER BY u.partition) AS partitions,
       flatten(list(u.offsets ORDER BY u.partition)) AS offsets,
       min(u.first_ts) AS first_ts, max(u.last_ts) AS last_ts
FROM unplaced_groups u JOIN partition_count_changes c USING (cluster_id, topic, producer, partitioner)
WHERE u.hash % c.earlier_count = u.partition
GROUP BY ALL;

CREATE OR REPLACE VIEW partition_count_change_findings AS
SELECT 'partition_count_change' AS "check", 'info' AS severity, topic, NULL::INTEGER AS partition, key,
       offsets, NULL::VARCHAR[] AS event_ids, first_ts, last_ts,
       format('key {} of producer {}: {} record(s) in partition {} sit where {} puts them with {} partitions, not {}: written before {} grew',
              key_label(key), '''' || producer || '''', records, array_to_string(partitions, ', '), partitioner,
              earlier_count, partition_count, topic) AS detail
FROM partition_count_change_keys;
