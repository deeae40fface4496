/* Split a commit of trace records, serialised as JSON, into columns; in C, without the GIL.
 *
 * The trace writer's thread calls split(text) on each commit it takes. The text is
 * what fbp.tracing._payload.BatchEncoder writes: a JSON array with one array per
 * record, [ip_id, kind, port_id, activation, t_ns, [parents...], payload], the
 * payload left out when its port keeps none. split() returns the record count and
 * nine bytes objects, the columns of fbp.tracing._store (little-endian):
 *
 *   ip_id int64, kind int8, port_id int32, activation int64, t_ns int64,
 *   parent_ends int64 (end of each record's parents in parents), parents int64,
 *   payload_ends int64 (end of each record's payload in payloads), payloads (the
 *   payloads' JSON texts, verbatim, one after the other; an empty one: not kept).
 *
 * Optional: fbp.tracing._chunks does the same in Python when this is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "the columns are little-endian; the Python fallback serves big-endian machines"
#endif

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static int
buf_reserve(buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int
buf_put(buf_t *b, const void *src, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

enum { C_ID, C_KIND, C_PORT, C_ACT, C_T, C_PEND, C_PARENTS, C_YEND, C_PAYLOADS, N_COLS };

typedef struct {
    const char *s;
    size_t i, n;
    const char *error;
} scan_t;

static inline void
ws(scan_t *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        sc->i++;
    }
}

static inline int
expect(scan_t *sc, char c, const char *what)
{
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == c) {
        sc->i++;
        return 0;
    }
    sc->error = what;
    return -1;
}

static int
read_int(scan_t *sc, int64_t *out)
{
    ws(sc);
    int neg = 0;
    if (sc->i < sc->n && sc->s[sc->i] == '-') {
        neg = 1;
        sc->i++;
    }
    size_t start = sc->i;
    uint64_t v = 0;
    while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') {
        uint64_t d = (uint64_t)(sc->s[sc->i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            sc->error = "an integer beyond 64 bits";
            return -1;
        }
        v = v * 10 + d;
        sc->i++;
    }
    if (sc->i == start) {
        sc->error = "an integer expected";
        return -1;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) {
        sc->error = "an integer beyond 64 bits";
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Skip one JSON value; the text is valid JSON (the encoder wrote it). */
static int
skip_value(scan_t *sc)
{
    ws(sc);
    size_t depth = 0;
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            while (sc->i < sc->n && sc->s[sc->i] != '"')
                sc->i += sc->s[sc->i] == '\\' ? 2 : 1;
            if (sc->i >= sc->n)
                break;
            sc->i++;
            if (depth == 0)
                return 0;
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        }
        else if (c == ']' || c == '}') {
            if (depth == 0)
                return 0; /* the end of the record: a scalar was before it */
            depth--;
            if (depth == 0) {
                sc->i++;
                return 0;
            }
        }
        else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
            return 0;
        }
        sc->i++;
    }
    if (depth == 0)
        return 0;
    sc->error = "an unterminated value";
    return -1;
}

static Py_ssize_t
split_text(scan_t *sc, buf_t *cols)
{
    Py_ssize_t n = 0;
    int64_t parent_end = 0, payload_end = 0;
    if (expect(sc, '[', "'[' opening the records") < 0)
        return -1;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        return 0;
    }
    for (;;) {
        int64_t v[5];
        if (expect(sc, '[', "'[' opening a record") < 0)
            return -1;
        for (int k = 0; k < 5; k++) {
            if (read_int(sc, &v[k]) < 0 || expect(sc, ',', "',' after a record field") < 0)
                return -1;
        }
        int8_t kind = (int8_t)v[1];
        int32_t port = (int32_t)v[2];
        if (buf_put(&cols[C_ID], &v[0], 8) < 0 || buf_put(&cols[C_KIND], &kind, 1) < 0 ||
            buf_put(&cols[C_PORT], &port, 4) < 0 || buf_put(&cols[C_ACT], &v[3], 8) < 0 ||
            buf_put(&cols[C_T], &v[4], 8) < 0)
            goto nomem;
        if (expect(sc, '[', "'[' opening the parents") < 0)
            return -1;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ']') {
            sc->i++;
        }
        else {
            for (;;) {
                int64_t p;
                if (read_int(sc, &p) < 0)
                    return -1;
                if (buf_put(&cols[C_PARENTS], &p, 8) < 0)
                    goto nomem;
                parent_end++;
                ws(sc);
                if (sc->i < sc->n && sc->s[sc->i] == ',') {
                    sc->i++;
                    continue;
                }
                if (expect(sc, ']', "']' closing the parents") < 0)
                    return -1;
                break;
            }
        }
        if (buf_put(&cols[C_PEND], &parent_end, 8) < 0)
            goto nomem;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            ws(sc);
            size_t start = sc->i;
            if (skip_value(sc) < 0)
                return -1;
            size_t len = sc->i - start;
            if (len == 0) {
                sc->error = "a payload expected";
                return -1;
            }
            if (buf_put(&cols[C_PAYLOADS], sc->s + start, len) < 0)
                goto nomem;
            payload_end += (int64_t)len;
        }
        if (buf_put(&cols[C_YEND], &payload_end, 8) < 0)
            goto nomem;
        if (expect(sc, ']', "']' closing a record") < 0)
            return -1;
        n++;
        ws(sc);
        if (sc->i < sc->n && sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        if (expect(sc, ']', "']' closing the records") < 0)
            return -1;
        ws(sc);
        if (sc->i != sc->n) {
            sc->error = "text after the records";
            return -1;
        }
        return n;
    }
nomem:
    sc->error = NULL;
    return -2;
}

static PyObject *
split(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    buf_t cols[N_COLS];
    memset(cols, 0, sizeof cols);
    scan_t sc = {(const char *)view.buf, 0, (size_t)view.len, NULL};
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = split_text(&sc, cols);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (n == -2) {
        PyErr_NoMemory();
    }
    else if (n < 0) {
        PyErr_Format(PyExc_ValueError, "not a batch of trace records at byte %zd: %s",
                     (Py_ssize_t)sc.i, sc.error);
    }
    else {
        result = PyTuple_New(N_COLS + 1);
        if (result != NULL) {
            PyTuple_SET_ITEM(result, 0, PyLong_FromSsize_t(n));
            for (int k = 0; k < N_COLS; k++) {
                PyObject *b = PyBytes_FromStringAndSize(cols[k].data ? cols[k].data : "",
                                                        (Py_ssize_t)cols[k].len);
                if (b == NULL) {
                    Py_CLEAR(result);
                    break;
                }
                PyTuple_SET_ITEM(result, k + 1, b);
            }
            if (result != NULL && PyTuple_GET_ITEM(result, 0) == NULL)
                Py_CLEAR(result);
        }
    }
    for (int k = 0; k < N_COLS; k++)
        free(cols[k].data);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_O,
     "split(text) -> (n, ip_id, kind, port_id, activation, t_ns, parent_ends, parents,"
     " payload_ends, payloads): a commit of records as column bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp.tracing._split",
    "Trace records as columns, in C (optional; see fbp.tracing._chunks).", -1, methods,
};

PyMODINIT_FUNC
PyInit__split(void)
{
    return PyModule_Create(&module);
}
