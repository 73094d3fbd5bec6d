/* The compiled fast path of evkit.partitioners: where each key of an Arrow binary column goes under
 * each client's partitioner, read straight from the column's offsets and data buffers, one pass per
 * key for all the hashes, with the GIL released so that chunks run on every core at once.
 *
 * The formulas, their sources and the null/empty-key rules are documented in evkit/partitioners.py,
 * whose NumPy code computes the same values (and is what runs when this module was not built).
 * kafkajs_legacy reproduces kafkajs 1.x's JavaScript float64 arithmetic bit for bit. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MURMUR_M 0x5BD1E995u
#define MURMUR_SEED 0x9747B28Cu
#define FNV_OFFSET 0x811C9DC5u
#define FNV_PRIME 0x01000193u
#define BLOCK_ROWS 512 /* keys hashed before their placements are written: the raw hashes stay in L1 */

/* CRC-32/IEEE (reflected 0xEDB88320), slicing by 4: crc_table[k] advances k more zero bytes. */
static uint32_t crc_table[4][256];

static void init_crc_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[0][i] = c;
    }
    for (int k = 1; k < 4; k++)
        for (int i = 0; i < 256; i++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xFF];
}

static inline uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* JavaScript `x *= 0x5bd1e995` on an int32 x, then ToInt32: the float64 product (an integer below
 * 2**63 in magnitude, so the int64 conversion is exact) taken mod 2**32. */
static inline uint32_t js_times_m(uint32_t x)
{
    return (uint32_t)(int64_t)((double)(int32_t)x * (double)MURMUR_M);
}

/* The raw 32-bit hashes. */
enum { MURMUR2, KAFKAJS_LEGACY, CRC32, FNV1A, N_HASHES };

/* The partitioners, in the order of place_keys' output arguments (evkit.partitioners.PARTITIONERS). */
enum { JAVA_MURMUR2, LIBRDKAFKA_CONSISTENT, LIBRDKAFKA_FNV1A, SARAMA_HASH, SARAMA_REFERENCE, KAFKAJS_LEGACY_P,
       N_PARTITIONERS };

/* How a partitioner makes its raw hash non-negative before `% n`. */
enum { UNSIGNED, CLEAR_SIGN_BIT, ABS_INT32 };

static const struct {
    int hash, sign;
    int empty_is_random; /* the client sends an empty key anywhere instead of hashing it */
} PARTITIONER[N_PARTITIONERS] = {
    [JAVA_MURMUR2] = {MURMUR2, CLEAR_SIGN_BIT, 0},
    [LIBRDKAFKA_CONSISTENT] = {CRC32, UNSIGNED, 1},
    [LIBRDKAFKA_FNV1A] = {FNV1A, ABS_INT32, 0},
    [SARAMA_HASH] = {FNV1A, ABS_INT32, 0},
    [SARAMA_REFERENCE] = {FNV1A, CLEAR_SIGN_BIT, 0},
    [KAFKAJS_LEGACY_P] = {KAFKAJS_LEGACY, CLEAR_SIGN_BIT, 0},
};

/* Raw hashes of `count` keys (at most BLOCK_ROWS), key i being data[offsets[i]:offsets[i + 1]].
 * `which` has bit h set when hash h is wanted; always inlined with a constant `which` (see
 * hash_block) so that each combination compiles to a loop without the hashes it skips. */
static inline __attribute__((always_inline)) void hash_rows(const unsigned char *data, const void *offsets, int wide,
                                                             Py_ssize_t count, uint32_t raw[N_HASHES][BLOCK_ROWS],
                                                             unsigned which)
{
    const int do_m = which >> MURMUR2 & 1, do_j = which >> KAFKAJS_LEGACY & 1;
    const int do_c = which >> CRC32 & 1, do_f = which >> FNV1A & 1;
    for (Py_ssize_t row = 0; row < count; row++) {
        int64_t start = wide ? ((const int64_t *)offsets)[row] : ((const int32_t *)offsets)[row];
        int64_t end = wide ? ((const int64_t *)offsets)[row + 1] : ((const int32_t *)offsets)[row + 1];
        const unsigned char *p = data + start;
        uint64_t length = (uint64_t)(end - start);
        uint32_t hm = MURMUR_SEED ^ (uint32_t)length, hj = hm, crc = 0xFFFFFFFFu, fnv = FNV_OFFSET;
        for (uint64_t block = 0; block < length >> 2; block++, p += 4) {
            uint32_t w = load_le32(p);
            if (do_m) {
                uint32_t k = w * MURMUR_M;
                k ^= k >> 24;
                hm = (hm * MURMUR_M) ^ (k * MURMUR_M);
            }
            if (do_j) {
                uint32_t k = js_times_m(w);
                k ^= k >> 24;
                hj = js_times_m(hj) ^ js_times_m(k);
            }
            if (do_c) {
                uint32_t c = crc ^ w;
                crc = crc_table[3][c & 0xFF] ^ crc_table[2][(c >> 8) & 0xFF]
                      ^ crc_table[1][(c >> 16) & 0xFF] ^ crc_table[0][c >> 24];
            }
            if (do_f)
                fnv = ((((((fnv ^ p[0]) * FNV_PRIME) ^ p[1]) * FNV_PRIME ^ p[2]) * FNV_PRIME) ^ p[3]) * FNV_PRIME;
        }
        unsigned rest = (unsigned)(length & 3);
        uint32_t tail = 0;
        for (unsigned i = 0; i < rest; i++) {
            tail |= (uint32_t)p[i] << (8 * i);
            crc = crc_table[0][(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
            fnv = (fnv ^ p[i]) * FNV_PRIME;
        }
        if (rest) {
            hm = (hm ^ tail) * MURMUR_M;
            /* kafkajs' `i < length / 4` is a float comparison: the zero-padded partial block gets
             * a loop pass of its own before the tail is mixed in as usual. */
            uint32_t k = js_times_m(tail);
            k ^= k >> 24;
            hj = js_times_m(js_times_m(hj) ^ js_times_m(k) ^ tail);
        }
        if (do_m) {
            hm ^= hm >> 13;
            hm *= MURMUR_M;
            raw[MURMUR2][row] = hm ^ (hm >> 15);
        }
        if (do_j) {
            hj ^= hj >> 13;
            hj = js_times_m(hj);
            raw[KAFKAJS_LEGACY][row] = hj ^ (hj >> 15);
        }
        if (do_c)
            raw[CRC32][row] = crc ^ 0xFFFFFFFFu;
        if (do_f)
            raw[FNV1A][row] = fnv;
    }
}

static void hash_block(const unsigned char *data, const void *offsets, int wide, Py_ssize_t count,
                       uint32_t raw[N_HASHES][BLOCK_ROWS], unsigned which)
{
    switch (which) {
#define ROWS(w) case w: hash_rows(data, offsets, wide, count, raw, w); break;
    ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8)
    ROWS(9) ROWS(10) ROWS(11) ROWS(12) ROWS(13) ROWS(14) ROWS(15)
#undef ROWS
    }
}

/* `x % divisor` for a 32-bit x, by a multiplication (Lemire, Kaser and Kurz, "Faster remainder by
 * direct computation", 2019); `divisor_inverse` is UINT64_MAX / divisor + 1. Division is several
 * times slower, and every key needs one remainder per partitioner. */
static inline uint32_t remainder_by(uint32_t x, uint64_t divisor, uint64_t divisor_inverse)
{
#ifdef __SIZEOF_INT128__
    return (uint32_t)(((unsigned __int128)(divisor_inverse * x) * divisor) >> 64);
#else
    (void)divisor_inverse;
    return (uint32_t)(x % divisor);
#endif
}

/* Where a key is: hashed, or placed at random by some or all clients. */
enum { KEYED, EMPTY, NULL_KEY };

/* One partitioner's placements of a block of keys: -1 where the client picks at random, else the
 * non-negative hash `% modulus` (modulus 2**32 keeps the hash itself), as signed integers of
 * `out_size` bytes. */
static void place_block(int partitioner, const uint32_t *raw, const unsigned char *kind, Py_ssize_t count,
                        uint64_t modulus, void *out, Py_ssize_t out_size)
{
    const int sign = PARTITIONER[partitioner].sign;
    const unsigned char random_from = PARTITIONER[partitioner].empty_is_random ? EMPTY : NULL_KEY;
    const int whole = modulus == (uint64_t)1 << 32;
    const uint64_t inverse = whole ? 0 : UINT64_MAX / modulus + 1;
    for (Py_ssize_t row = 0; row < count; row++) {
        uint32_t h = raw[row];
        if (sign == CLEAR_SIGN_BIT)
            h &= 0x7FFFFFFFu;
        else if (sign == ABS_INT32 && (int32_t)h < 0)
            h = 0u - h; /* abs(INT32_MIN) stays 2**31 as uint32, as in librdkafka */
        int64_t placed = kind[row] >= random_from ? -1 : whole ? (int64_t)h : (int64_t)remainder_by(h, modulus, inverse);
        switch (out_size) {
        case 1: ((int8_t *)out)[row] = (int8_t)placed; break;
        case 2: ((int16_t *)out)[row] = (int16_t)placed; break;
        case 4: ((int32_t *)out)[row] = (int32_t)placed; break;
        default: ((int64_t *)out)[row] = placed;
        }
    }
}

/* The first row whose offsets are negative, decreasing or past the data; -1 when all are valid. */
static Py_ssize_t first_bad_row(const void *offsets, int wide, Py_ssize_t count, Py_ssize_t data_length)
{
    int64_t previous = 0;
    for (Py_ssize_t i = 0; i <= count; i++) {
        int64_t offset = wide ? ((const int64_t *)offsets)[i] : ((const int32_t *)offsets)[i];
        if (offset < previous || offset > data_length)
            return i;
        previous = offset;
    }
    return -1;
}

static void place_keys_unlocked(const unsigned char *data, const void *offsets, int wide, const unsigned char *nulls,
                                Py_ssize_t count, uint64_t modulus, char *out[N_PARTITIONERS], Py_ssize_t out_size)
{
    unsigned which = 0;
    for (int p = 0; p < N_PARTITIONERS; p++)
        if (out[p])
            which |= 1u << PARTITIONER[p].hash;
    uint32_t raw[N_HASHES][BLOCK_ROWS];
    unsigned char kind[BLOCK_ROWS];
    const size_t offset_item = wide ? 8 : 4;
    for (Py_ssize_t first = 0; first < count; first += BLOCK_ROWS) {
        Py_ssize_t rows = count - first < BLOCK_ROWS ? count - first : BLOCK_ROWS;
        const char *block_offsets = (const char *)offsets + first * offset_item;
        hash_block(data, block_offsets, wide, rows, raw, which);
        for (Py_ssize_t row = 0; row < rows; row++) {
            int64_t start = wide ? ((const int64_t *)block_offsets)[row] : ((const int32_t *)block_offsets)[row];
            int64_t end = wide ? ((const int64_t *)block_offsets)[row + 1] : ((const int32_t *)block_offsets)[row + 1];
            kind[row] = nulls && nulls[first + row] ? NULL_KEY : start == end ? EMPTY : KEYED;
        }
        for (int p = 0; p < N_PARTITIONERS; p++)
            if (out[p])
                place_block(p, raw[PARTITIONER[p].hash], kind, rows, modulus, out[p] + first * out_size, out_size);
    }
}

static PyObject *place_keys(PyObject *self, PyObject *args)
{
    PyObject *offsets_object, *data_object, *nulls_object, *out_objects[N_PARTITIONERS];
    unsigned long long modulus;
    if (!PyArg_ParseTuple(args, "OOOKOOOOOO:place_keys", &offsets_object, &data_object, &nulls_object, &modulus,
                          &out_objects[0], &out_objects[1], &out_objects[2], &out_objects[3], &out_objects[4],
                          &out_objects[5]))
        return NULL;
    Py_buffer offsets = {0}, data = {0}, nulls = {0}, out[N_PARTITIONERS] = {{0}};
    char *out_data[N_PARTITIONERS] = {NULL};
    Py_ssize_t out_size = 0;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(offsets_object, &offsets, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(data_object, &data, PyBUF_SIMPLE) < 0)
        goto done;
    const char *format = offsets.format + (offsets.format[0] && strchr("@=<", offsets.format[0]) ? 1 : 0);
    int wide = offsets.itemsize == 8;
    if (!(offsets.itemsize == 4 || wide) || !strchr("ilq", format[0]) || format[1] || offsets.len < offsets.itemsize) {
        PyErr_SetString(PyExc_ValueError, "offsets must be a non-empty int32 or int64 buffer");
        goto done;
    }
    Py_ssize_t count = offsets.len / offsets.itemsize - 1;
    if (nulls_object != Py_None) {
        if (PyObject_GetBuffer(nulls_object, &nulls, PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (nulls.itemsize != 1 || nulls.len != count) {
            PyErr_SetString(PyExc_ValueError, "nulls must be a bool buffer with one item per key");
            goto done;
        }
    }
    if (modulus < 1 || modulus > (unsigned long long)1 << 32) {
        PyErr_SetString(PyExc_ValueError, "the modulus must be between 1 and 2**32");
        goto done;
    }
    for (int p = 0; p < N_PARTITIONERS; p++) {
        if (out_objects[p] == Py_None)
            continue;
        if (PyObject_GetBuffer(out_objects[p], &out[p], PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
            goto done;
        Py_ssize_t size = out[p].itemsize;
        if (!(size == 1 || size == 2 || size == 4 || size == 8) || out[p].len != count * size
                || (out_size && size != out_size) || (size < 8 && modulus > (unsigned long long)1 << (8 * size - 1))) {
            PyErr_SetString(PyExc_ValueError, "the outputs must be signed integer buffers of one size, one item per "
                                              "key, that hold modulus - 1");
            goto done;
        }
        out_size = size;
        out_data[p] = out[p].buf;
    }
    Py_ssize_t bad;
    Py_BEGIN_ALLOW_THREADS
    bad = first_bad_row(offsets.buf, wide, count, data.len);
    if (bad < 0 && out_size)
        place_keys_unlocked(data.buf, offsets.buf, wide, nulls.obj ? nulls.buf : NULL, count, modulus, out_data,
                            out_size);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "offset %zd is negative, decreasing or past the %zd data bytes", bad, data.len);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    for (int p = 0; p < N_PARTITIONERS; p++)
        if (out[p].obj)
            PyBuffer_Release(&out[p]);
    if (nulls.obj)
        PyBuffer_Release(&nulls);
    if (data.obj)
        PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return result;
}

static PyMethodDef methods[] = {
    {"place_keys", place_keys, METH_VARARGS,
     "place_keys(offsets, data, nulls, modulus, java_murmur2, librdkafka_consistent, librdkafka_fnv1a,\n"
     "           sarama_hash, sarama_reference, kafkajs_legacy)\n--\n\n"
     "Fill each output (a writable int8/16/32/64 buffer with one item per key, or None to skip that\n"
     "partitioner) with every key's non-negative hash % modulus, or -1 where the client places the key\n"
     "at random. Key i is data[offsets[i]:offsets[i + 1]] (offsets int32 or int64); nulls is a bool\n"
     "buffer (or None) marking null keys."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "evkit._hashes", NULL, -1, methods};

PyMODINIT_FUNC PyInit__hashes(void)
{
    init_crc_tables();
    return PyModule_Create(&module);
}
