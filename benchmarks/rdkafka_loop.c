/* The physical limit of a dump on this machine: librdkafka's own consume loop in C (as
 * rdkafka_performance -C), reading every partition of a topic from the beginning to partition EOF
 * and touching each record's key, value, timestamp and headers, writing nothing. It stops at RECORDS
 * records (0: at every partition's EOF), as evkit stops at end offsets fixed before it reads: waiting
 * for the last partitions' EOF costs a fetch.wait.max.ms per partition that no dump pays. Built and
 * run by bench_dump.py:  rdkafka_loop LIBRDKAFKA.so BOOTSTRAP TOPIC PARTITIONS RECORDS [key=value ...]
 * librdkafka is resolved with dlsym, as evkit's native reader does (evkit/cluster/_rdkafka_abi.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_rdkafka_abi.h"

#define DECLARE(ret, name, args) static ret(*p_##name) args;
RDKAFKA_FUNCTIONS(DECLARE)

int main(int argc, char **argv) {
    if (argc < 6) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
#define RESOLVE(ret, name, args) *(void **)(&p_##name) = dlsym(lib, #name);
    RDKAFKA_FUNCTIONS(RESOLVE)
    char err[512];
    rd_kafka_conf_t *conf = p_rd_kafka_conf_new();
    const char *defaults[][2] = {{"bootstrap.servers", argv[2]}, {"group.id", "bench-c-loop"},
                                 {"enable.auto.commit", "false"}, {"enable.partition.eof", "true"},
                                 {"auto.offset.reset", "error"}};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        p_rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof(err));
    for (int i = 6; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) return 2;
        *eq = 0;
        if (p_rd_kafka_conf_set(conf, argv[i], eq + 1, err, sizeof(err))) { fprintf(stderr, "%s\n", err); return 2; }
    }
    rd_kafka_t *rk = p_rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) { fprintf(stderr, "%s\n", err); return 2; }
    p_rd_kafka_poll_set_consumer(rk);
    int partitions = atoi(argv[4]);
    rd_kafka_topic_partition_list_t *list = p_rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++) p_rd_kafka_topic_partition_list_add(list, argv[3], p)->offset = -2;
    p_rd_kafka_assign(rk, list);
    rd_kafka_queue_t *q = p_rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1000];
    long records = 0, eofs = 0, wanted = atol(argv[5]);
    size_t bytes = 0, touched = 0;
    while (eofs < partitions && (wanted == 0 || records < wanted)) {
        long n = p_rd_kafka_consume_batch_queue(q, 1000, msgs, 1000);
        for (long i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eofs++;
            else if (!m->err) {
                int tstype;
                rd_kafka_headers_t *h;
                const char *name;
                const void *value;
                size_t size;
                touched += p_rd_kafka_message_timestamp(m, &tstype) & 1;
                if (p_rd_kafka_message_headers(m, &h) == 0)
                    for (size_t k = 0; p_rd_kafka_header_get_all(h, k, &name, &value, &size) == 0; k++) touched += size;
                touched += m->key_len ? ((const char *)m->key)[0] : 0;
                bytes += m->len + m->key_len;
                records++;
            }
            p_rd_kafka_message_destroy(m);
        }
    }
    p_rd_kafka_queue_destroy(q);
    p_rd_kafka_topic_partition_list_destroy(list);
    p_rd_kafka_consumer_close(rk);
    p_rd_kafka_destroy(rk);
    printf("%ld %zu %zu\n", records, bytes, touched & 1);
    return 0;
}
