-- The Schema Registry wire format of each record's key and value, derived from the stored bytes and
-- headers (nothing is lost at dump time: the record schema keeps the raw bytes). docs/schema-registry.md.
-- `field` is 'key' or 'value'. The same rules as evkit/schemas/wire.py, which counts the ids a dump meets;
-- tests/schemas/test_registry_dump.py holds the two equal.

-- the first non-null value of the header `name`
CREATE OR REPLACE MACRO wire_header(headers, name) AS
    list_filter(headers, lambda h: h.key = name AND h.value IS NOT NULL)[1].value;

-- an unsigned big-endian integer from 1 to 8 bytes
CREATE OR REPLACE MACRO wire_uint(bytes) AS ('0x' || hex(bytes))::UBIGINT;

-- how the value is framed: 'confluent' (magic byte 0 + 4-byte id), 'confluent_guid' (magic byte 1 +
-- 16-byte GUID), 'plain', NULL for a null value; with headers also 'header' (the id in a
-- __<field>_schema_id header) and 'apicurio_header' (apicurio.<field>.contentId or .globalId)
CREATE OR REPLACE MACRO wire_format(bytes) AS CASE
        WHEN bytes IS NULL THEN NULL
        WHEN octet_length(bytes) >= 5 AND bytes[1:1] = '\x00'::BLOB THEN 'confluent'
        WHEN octet_length(bytes) >= 17 AND bytes[1:1] = '\x01'::BLOB THEN 'confluent_guid'
        ELSE 'plain' END,
    (bytes, headers, field) AS CASE
        WHEN wire_header(headers, '__' || field || '_schema_id') IS NOT NULL THEN 'header'
        WHEN wire_header(headers, 'apicurio.' || field || '.contentId') IS NOT NULL
          OR wire_header(headers, 'apicurio.' || field || '.globalId') IS NOT NULL THEN 'apicurio_header'
        ELSE wire_format(bytes) END;

-- the registry id of a magic-0 prefix (or of a __<field>_schema_id header value); NULL otherwise
CREATE OR REPLACE MACRO wire_prefix_id(bytes) AS CASE
        WHEN octet_length(bytes) >= 5 AND bytes[1:1] = '\x00'::BLOB THEN wire_uint(bytes[2:5])::BIGINT END;

-- the registry schema id the key or value is written with (what GET /schemas/ids/<id> serves), or NULL:
-- from the headers first, as confluent-kafka's deserializer looks, else from the prefix. NULL for a
-- GUID and for Apicurio's globalId (see schema_guid and docs/schema-registry.md)
CREATE OR REPLACE MACRO schema_id(bytes) AS wire_prefix_id(bytes),
    (bytes, headers, field) AS CASE
        WHEN wire_header(headers, '__' || field || '_schema_id') IS NOT NULL
            THEN wire_prefix_id(wire_header(headers, '__' || field || '_schema_id'))
        WHEN wire_header(headers, 'apicurio.' || field || '.contentId') IS NOT NULL
            THEN CASE WHEN octet_length(wire_header(headers, 'apicurio.' || field || '.contentId')) IN (4, 8)
                      THEN wire_uint(wire_header(headers, 'apicurio.' || field || '.contentId'))::BIGINT END
        WHEN wire_header(headers, 'apicurio.' || field || '.globalId') IS NOT NULL THEN NULL
        ELSE wire_prefix_id(bytes) END;

-- the schema GUID of a magic-1 prefix or header (newer Confluent clients), as a UUID; NULL otherwise
CREATE OR REPLACE MACRO wire_prefix_guid(bytes) AS CASE
        WHEN octet_length(bytes) >= 17 AND bytes[1:1] = '\x01'::BLOB THEN hex(bytes[2:17])::UUID END;
CREATE OR REPLACE MACRO schema_guid(bytes, headers, field) AS CASE
        WHEN wire_header(headers, '__' || field || '_schema_id') IS NOT NULL
            THEN wire_prefix_guid(wire_header(headers, '__' || field || '_schema_id'))
        WHEN wire_header(headers, 'apicurio.' || field || '.contentId') IS NOT NULL
          OR wire_header(headers, 'apicurio.' || field || '.globalId') IS NOT NULL THEN NULL
        ELSE wire_prefix_guid(bytes) END;

-- the bytes after the prefix (for Protobuf still starting with the message indexes); the whole
-- value where the id is in a header or there is no framing
CREATE OR REPLACE MACRO wire_payload(bytes, headers, field) AS CASE wire_format(bytes, headers, field)
        WHEN 'confluent' THEN bytes[6:]
        WHEN 'confluent_guid' THEN bytes[18:]
        ELSE bytes END;

-- Protobuf message indexes: the zigzag varints after a magic-0 prefix, a count then the indexes
-- (a lone 0 = [0], the file's first message). Meaningful only when the schema is PROTOBUF; NULL when
-- the varints run past the first 64 bytes or the end of the value.
CREATE OR REPLACE MACRO wire_zigzag(n) AS xor(n >> 1, -(n & 1));
CREATE OR REPLACE MACRO wire_varints(bs) AS (
    WITH ends AS (SELECT [i for i in range(1, len(bs) + 1) if bs[i] < 128] AS e)
    SELECT [list_sum([(bs[j] & 127)::BIGINT << (7 * (j - CASE WHEN k = 1 THEN 1 ELSE e[k - 1] + 1 END))
                      for j in range(CASE WHEN k = 1 THEN 1 ELSE e[k - 1] + 1 END, e[k] + 1)])
            for k in range(1, len(e) + 1)]
    FROM ends);
CREATE OR REPLACE MACRO wire_index_varints(bytes) AS wire_varints(
    [('0x' || hex(bytes[i:i]))::INTEGER for i in range(6, least(octet_length(bytes), 69) + 1)]);
CREATE OR REPLACE MACRO message_indexes(bytes) AS CASE
        WHEN wire_format(bytes) <> 'confluent' OR octet_length(bytes) < 6 THEN NULL
        ELSE (SELECT CASE
                  WHEN len(v) = 0 THEN NULL
                  WHEN wire_zigzag(v[1]) = 0 THEN [0]
                  WHEN wire_zigzag(v[1]) < 0 OR wire_zigzag(v[1]) > len(v) - 1 THEN NULL
                  ELSE [wire_zigzag(x) for x in v[2:wire_zigzag(v[1]) + 1]] END
              FROM (SELECT wire_index_varints(bytes) AS v)) END;

-- one row per record: the framing and schema id of its key and value
CREATE OR REPLACE VIEW record_wire AS
SELECT cluster_id, topic, partition, "offset",
       wire_format(key, headers, 'key') AS key_wire_format, schema_id(key, headers, 'key') AS key_schema_id,
       wire_format(value, headers, 'value') AS value_wire_format, schema_id(value, headers, 'value') AS value_schema_id
FROM records;
