/* Decode the payload texts of a run's records, in C: what a reader does with many
 * payloads at once (see fbp.tracing._columns).
 *
 * A run's payloads are JSON texts, one after the other in one bytes object; record i's
 * text is data[starts[i]:ends[i]] (an empty slice: not recorded).
 *
 *   join(data, starts, ends) -> (bytes, bool)
 *       The JSON array of the texts (null for an empty one), and whether it holds an
 *       integer of 19 digits or more (beyond 64 bits: not every JSON reader keeps it).
 *       The copying runs without the GIL.
 *
 * Optional: fbp.tracing._columns does the same with numpy and orjson when this is not
 * built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The buffers of one call: the texts, and the starts and ends of n of them. */
typedef struct {
    Py_buffer data, starts, ends;
    Py_ssize_t n;
} slices_t;

static void
slices_release(slices_t *sl)
{
    if (sl->data.obj) PyBuffer_Release(&sl->data);
    if (sl->starts.obj) PyBuffer_Release(&sl->starts);
    if (sl->ends.obj) PyBuffer_Release(&sl->ends);
}

/* Take the buffers; check that starts and ends are int64 arrays of one length, every
 * slice inside data. */
static int
slices_get(slices_t *sl, PyObject *data, PyObject *starts, PyObject *ends)
{
    memset(sl, 0, sizeof(*sl));
    if (PyObject_GetBuffer(data, &sl->data, PyBUF_SIMPLE) < 0 ||
        PyObject_GetBuffer(starts, &sl->starts, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0 ||
        PyObject_GetBuffer(ends, &sl->ends, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        slices_release(sl);
        return -1;
    }
    if (sl->starts.itemsize != 8 || sl->ends.itemsize != 8 ||
        sl->starts.len != sl->ends.len) {
        PyErr_SetString(PyExc_ValueError, "starts and ends must be int64 arrays of one length");
        slices_release(sl);
        return -1;
    }
    sl->n = sl->starts.len / 8;
    const int64_t *s = (const int64_t *)sl->starts.buf, *e = (const int64_t *)sl->ends.buf;
    for (Py_ssize_t i = 0; i < sl->n; i++) {
        if (e[i] <= s[i]) continue; /* an empty slice: not recorded, never read */
        if (s[i] < 0 || e[i] > (int64_t)sl->data.len) {
            PyErr_Format(PyExc_ValueError, "payload slice %zd [%lld:%lld] outside the data", i,
                         (long long)s[i], (long long)e[i]);
            slices_release(sl);
            return -1;
        }
    }
    return 0;
}

/* Integers of this many digits or more do not fit 64 bits. */
#define LONG_DIGITS 19

static PyObject *
join(PyObject *self, PyObject *args)
{
    PyObject *data, *starts, *ends;
    if (!PyArg_ParseTuple(args, "OOO:join", &data, &starts, &ends)) return NULL;
    slices_t sl;
    if (slices_get(&sl, data, starts, ends) < 0) return NULL;
    const char *text = (const char *)sl.data.buf;
    const int64_t *s = (const int64_t *)sl.starts.buf, *e = (const int64_t *)sl.ends.buf;
    Py_ssize_t total = 2;
    for (Py_ssize_t i = 0; i < sl.n; i++) {
        total += (e[i] > s[i] ? (Py_ssize_t)(e[i] - s[i]) : 4) + (i ? 1 : 0);
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (!result) {
        slices_release(&sl);
        return NULL;
    }
    char *w = PyBytes_AS_STRING(result);
    int long_number = 0;
    Py_BEGIN_ALLOW_THREADS
    char *p = w;
    *p++ = '[';
    for (Py_ssize_t i = 0; i < sl.n; i++) {
        if (i) *p++ = ',';
        if (e[i] > s[i]) {
            size_t len = (size_t)(e[i] - s[i]);
            memcpy(p, text + s[i], len);
            p += len;
        } else {
            memcpy(p, "null", 4);
            p += 4;
        }
    }
    *p++ = ']';
    /* A run of LONG_DIGITS digits or more not after a decimal point. */
    Py_ssize_t run = 0;
    int counted = 0;
    for (Py_ssize_t k = 1; k < total && !long_number; k++) {
        char c = w[k];
        if (c >= '0' && c <= '9') {
            if (run == 0) counted = w[k - 1] != '.';
            if (++run >= LONG_DIGITS && counted) long_number = 1;
        } else {
            run = 0;
        }
    }
    Py_END_ALLOW_THREADS
    slices_release(&sl);
    return Py_BuildValue("(NO)", result, long_number ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"join", join, METH_VARARGS,
     "join(data, starts, ends) -> (bytes, bool): the JSON array of the payload texts (null"
     " for an empty one), and whether it holds an integer of 19 digits or more."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp.tracing._decode",
    "Payload texts decoded many at once, in C (optional; see fbp.tracing._columns).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__decode(void)
{
    return PyModule_Create(&module);
}
