/* The traced send's fast path, in C: make the record of a send, append it to the
 * trace buffer and put it in the one channel with room.
 *
 * Optional: fbp._core._port_variants falls back to the same logic in Python when this
 * module is not built (or FBP_NO_ACCEL is set). The objects it touches are the
 * runtime's own slotted classes; their slots are read by the offsets of their member
 * descriptors, which configure() receives once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_slots.h"
#include <time.h>

enum {
    PORT_CHAN, PORT_PROC, PORT_TRACE, PORT_TRACE_BATCH, PORT_NEXT_ID, PORT_PORT_ID,
    PORT_SENT_FAST, PROC_IN_LIST, PROC_ACTIVATION, PROC_LOOPER, PROC_CONSUMED,
    PROC_PENDING, PROC_PENDING_OLD, PROC_WINDOW, IN_LAST, IN_STATIC, CHAN_BUF, CHAN_ROOM,
    CHAN_RECV_SIGNAL, WINDOW_USED, N_SLOTS
};

static Py_ssize_t offsets[N_SLOTS];
static int configured = 0;
static PyObject *nothing = NULL;        /* the ports' "no item yet" marker */
static PyObject *data_kind = NULL;      /* DATA, 0 */
static PyCFunction append_fn = NULL;    /* collections.deque.append's C function */
static PyObject *perf_counter_ns = NULL;
static PyObject *empty_tuple = NULL;
static PyObject *str_wake = NULL;
/* The classes whose slots put() reads: it reads nothing of any other object. */
static PyTypeObject *out_port_type = NULL, *in_port_type = NULL;
static PyTypeObject *process_type = NULL, *channel_type = NULL, *window_type = NULL;

static inline PyObject *
slot(PyObject *obj, int which)
{
    return *(PyObject **)((char *)obj + offsets[which]);
}

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *descrs, *types, *nothing_obj, *data_obj;
    if (!PyArg_ParseTuple(args, "O!O!OO", &PyTuple_Type, &descrs, &PyTuple_Type, &types,
                          &nothing_obj, &data_obj))
        return NULL;
    if (PyTuple_GET_SIZE(types) != 5) {
        PyErr_SetString(PyExc_ValueError,
                        "configure() needs (OutPort, InPort, Process, Channel, Window)");
        return NULL;
    }
    for (int i = 0; i < 5; i++) {
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))) {
            PyErr_Format(PyExc_TypeError, "type %d is not a class", i);
            return NULL;
        }
    }
    Py_XSETREF(out_port_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 0)));
    Py_XSETREF(in_port_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 1)));
    Py_XSETREF(process_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 2)));
    Py_XSETREF(channel_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 3)));
    Py_XSETREF(window_type, (PyTypeObject *)Py_NewRef(PyTuple_GET_ITEM(types, 4)));
    if (slot_offsets(descrs, offsets, N_SLOTS) < 0)
        return NULL;
    Py_XSETREF(nothing, Py_NewRef(nothing_obj));
    Py_XSETREF(data_kind, Py_NewRef(data_obj));
    if (append_fn == NULL) {
        PyObject *collections = PyImport_ImportModule("collections");
        if (collections == NULL)
            return NULL;
        PyObject *deque = PyObject_GetAttrString(collections, "deque");
        Py_DECREF(collections);
        if (deque == NULL)
            return NULL;
        append_fn = PyType_Check(deque) ? method_function((PyTypeObject *)deque, "append", METH_O)
                                        : NULL;
        Py_DECREF(deque);
        if (append_fn == NULL)
            return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_TypeError, "deque is not a class");
    }
    if (perf_counter_ns == NULL) {
        PyObject *time_mod = PyImport_ImportModule("time");
        if (time_mod == NULL)
            return NULL;
        perf_counter_ns = PyObject_GetAttrString(time_mod, "perf_counter_ns");
        Py_DECREF(time_mod);
        if (perf_counter_ns == NULL)
            return NULL;
    }
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *
now_ns(void)
{
#if defined(__linux__)
    /* time.perf_counter_ns() is CLOCK_MONOTONIC on Linux. */
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        return PyLong_FromLongLong((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
#endif
    return PyObject_CallNoArgs(perf_counter_ns);
}

/* put(port, value[, hold]) -> 0 not handled (take the Python path), 1 sent, 2 sent and
 * the trace buffer is full (flush it). Handles sends with the default lineage rules (see
 * Process.default_parents) into one channel with room; a looper's only when its window
 * is one record. With hold true, a channel without room is handled too: the record is
 * made and recorded but not delivered, and put returns (record, trace_full) for the
 * caller to wait with (the caller knows the channel makes its senders wait for room). */
static PyObject *
put(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "put(port, value[, hold])");
        return NULL;
    }
    int hold = nargs == 3 && args[2] == Py_True;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "put() before configure()");
        return NULL;
    }
    PyObject *port = args[0], *value = args[1];
    if (!PyObject_TypeCheck(port, out_port_type))
        return PyLong_FromLong(0);
    PyObject *ch = slot(port, PORT_CHAN);
    PyObject *proc = slot(port, PORT_PROC);
    PyObject *trace = slot(port, PORT_TRACE);
    if (ch == NULL || proc == NULL || trace == NULL || !PyList_CheckExact(trace)
        || !PyObject_TypeCheck(ch, channel_type) || !PyObject_TypeCheck(proc, process_type))
        return PyLong_FromLong(0);
    PyObject *buf = slot(ch, CHAN_BUF);
    PyObject *room = slot(ch, CHAN_ROOM);
    if (buf == NULL || room == NULL)
        return PyLong_FromLong(0);
    Py_ssize_t used = PyObject_Size(buf);
    Py_ssize_t limit = PyLong_AsSsize_t(room);
    if (used < 0 || (limit == -1 && PyErr_Occurred()))
        return NULL;
    int deliver = used < limit;
    if (!deliver && !hold)
        return PyLong_FromLong(0);

    /* Parents by the default rules (Process.default_parents). */
    PyObject *parents;
    PyObject *in_list = slot(proc, PROC_IN_LIST);
    PyObject *looper = slot(proc, PROC_LOOPER);
    if (in_list == NULL || !PyList_CheckExact(in_list) || looper == NULL)
        return PyLong_FromLong(0);
    Py_ssize_t n_in = PyList_GET_SIZE(in_list);
    PyObject *pending = NULL, *taken = NULL;
    Py_ssize_t n_pending = 0;
    if (n_in == 0) {
        parents = Py_NewRef(empty_tuple);
    }
    else if (looper == Py_False) {
        /* A non-looper: the IPs its activation consumed. */
        PyObject *consumed = slot(proc, PROC_CONSUMED);
        if (consumed == NULL || !PyTuple_CheckExact(consumed))
            return PyLong_FromLong(0);
        parents = Py_NewRef(consumed);
    }
    else if (looper == Py_True) {
        /* The looper rule (fbp._core._lineage) where no choice among records is made:
         * a window of one record (the one received since the last send, or the last
         * send's one record), or of several records and a plain value that is none of
         * their payloads (every record is a parent). */
        pending = slot(proc, PROC_PENDING);
        PyObject *old = slot(proc, PROC_PENDING_OLD);
        PyObject *window = slot(proc, PROC_WINDOW);
        if (pending == NULL || !PyList_CheckExact(pending) || old != Py_None || window == NULL)
            return PyLong_FromLong(0);
        n_pending = PyList_GET_SIZE(pending);
        PyObject *win = NULL;
        if (n_pending == 0) {
            win = window == Py_None ? NULL : window;
            if (win != NULL && (!PyTuple_CheckExact(win) || PyTuple_GET_SIZE(win) != 7))
                return PyLong_FromLong(0);
        }
        else {
            /* A window of several records that a send chose from by key hands the
             * others on to the next one: Python's work. */
            if (window != Py_None && !PyTuple_CheckExact(window) && !PyList_CheckExact(window)) {
                if (Py_TYPE(window) != window_type)
                    return PyLong_FromLong(0);
                PyObject *used = slot(window, WINDOW_USED);
                if (used == NULL || used != Py_None)
                    return PyLong_FromLong(0);
            }
            for (Py_ssize_t j = 0; j < n_pending; j++) {
                PyObject *rec = PyList_GET_ITEM(pending, j);
                if (!PyTuple_CheckExact(rec) || PyTuple_GET_SIZE(rec) != 7)
                    return PyLong_FromLong(0);
            }
            if (n_pending == 1) {
                win = taken = PyList_GET_ITEM(pending, 0);
            }
            else {
                /* Mappings are matched by key, and a payload passed on is chosen. */
                if (!(PyFloat_CheckExact(value) || PyLong_CheckExact(value)
                      || PyUnicode_CheckExact(value) || PyBool_Check(value) || value == Py_None))
                    return PyLong_FromLong(0);
                for (Py_ssize_t j = 0; j < n_pending; j++) {
                    if (PyTuple_GET_ITEM(PyList_GET_ITEM(pending, j), 6) == value)
                        return PyLong_FromLong(0);
                }
            }
        }
        Py_ssize_t n_win = n_pending > 1 ? n_pending : (win != NULL);
        int passed = win != NULL && value == PyTuple_GET_ITEM(win, 6);
        /* The parent ids, borrowed, gathered before the tuple is made at its size
         * (a tuple made larger and shrunk costs a reallocation per send). */
        PyObject *small[16];
        PyObject **ids = small;
        if (n_win + n_in > 16) {
            ids = PyMem_Malloc(sizeof(PyObject *) * (size_t)(n_win + n_in));
            if (ids == NULL)
                return PyErr_NoMemory();
        }
        Py_ssize_t k = 0;
        int not_here = 0;
        if (n_pending > 1) {
            for (Py_ssize_t j = 0; j < n_pending; j++)
                ids[k++] = PyTuple_GET_ITEM(PyList_GET_ITEM(pending, j), 0);
        }
        else if (win != NULL) {
            ids[k++] = PyTuple_GET_ITEM(win, 0);
        }
        for (Py_ssize_t i = 0; i < n_in && !not_here; i++) {
            PyObject *inp = PyList_GET_ITEM(in_list, i);
            if (!PyObject_TypeCheck(inp, in_port_type)) {
                not_here = 1;
                break;
            }
            PyObject *last = slot(inp, IN_LAST);
            PyObject *is_static = slot(inp, IN_STATIC);
            if (last == NULL || is_static == NULL) {
                not_here = 1;
                break;
            }
            if (last == nothing || last == win)
                continue;
            if (n_pending > 1) {
                int held = 0;
                for (Py_ssize_t j = 0; j < n_pending && !held; j++)
                    held = PyList_GET_ITEM(pending, j) == last;
                if (held)
                    continue;
            }
            if (is_static == Py_False) {
                if (passed)
                    continue;  /* a value passed on takes no side input */
            }
            else if (is_static != Py_True) {
                not_here = 1;
                break;
            }
            if (!PyTuple_CheckExact(last) || PyTuple_GET_SIZE(last) < 1) {
                not_here = 1;
                break;
            }
            ids[k++] = PyTuple_GET_ITEM(last, 0);
        }
        PyObject *found = not_here ? NULL : PyTuple_New(k);
        if (found != NULL) {
            for (Py_ssize_t j = 0; j < k; j++)
                PyTuple_SET_ITEM(found, j, Py_NewRef(ids[j]));
        }
        if (ids != small)
            PyMem_Free(ids);
        if (not_here)
            return PyLong_FromLong(0);
        if (found == NULL)
            return NULL;
        parents = found;
    }
    else {
        return PyLong_FromLong(0);
    }

    PyObject *next_id = slot(port, PORT_NEXT_ID);
    PyObject *port_id = slot(port, PORT_PORT_ID);
    PyObject *activation = slot(proc, PROC_ACTIVATION);
    if (next_id == NULL || port_id == NULL || activation == NULL) {
        Py_DECREF(parents);
        return PyLong_FromLong(0);
    }
    PyObject *ip_id = PyObject_CallNoArgs(next_id);
    if (ip_id == NULL) {
        Py_DECREF(parents);
        return NULL;
    }
    PyObject *t_ns = now_ns();
    if (t_ns == NULL) {
        Py_DECREF(parents);
        Py_DECREF(ip_id);
        return NULL;
    }
    PyObject *rec = PyTuple_New(7);
    if (rec == NULL) {
        Py_DECREF(parents);
        Py_DECREF(ip_id);
        Py_DECREF(t_ns);
        return NULL;
    }
    PyTuple_SET_ITEM(rec, 0, ip_id);
    PyTuple_SET_ITEM(rec, 1, Py_NewRef(data_kind));
    PyTuple_SET_ITEM(rec, 2, Py_NewRef(port_id));
    PyTuple_SET_ITEM(rec, 3, Py_NewRef(activation));
    PyTuple_SET_ITEM(rec, 4, t_ns);
    PyTuple_SET_ITEM(rec, 5, parents);
    PyTuple_SET_ITEM(rec, 6, Py_NewRef(value));

    /* Recorded, counted and delivered: nothing below may fail half-way unnoticed. */
    if (PyList_Append(trace, rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    if (n_pending > 0) {
        /* The send takes what was received as its window (Process.take_window): the
         * record itself, or a list of them (which Python makes a Window when read). */
        PyObject *taken_window = taken != NULL ? Py_NewRef(taken)
                                               : PyList_GetSlice(pending, 0, n_pending);
        if (taken_window == NULL) {
            Py_DECREF(rec);
            return NULL;
        }
        PyObject **window_slot = (PyObject **)((char *)proc + offsets[PROC_WINDOW]);
        Py_SETREF(*window_slot, taken_window);
        if (n_pending == 1 && PyList_GET_SIZE(pending) == 1) {
            /* Emptied in place, keeping its storage for the next record (emptying it
             * by a slice frees the storage, which the next append allocates again). */
            PyObject *only = PyList_GET_ITEM(pending, 0);
            Py_SET_SIZE(pending, 0);
            Py_DECREF(only);
        }
        else if (PyList_SetSlice(pending, 0, n_pending, NULL) < 0) {
            Py_DECREF(rec);
            return NULL;
        }
    }
    PyObject *batch = slot(port, PORT_TRACE_BATCH);
    Py_ssize_t full = batch == NULL ? 0 : PyLong_AsSsize_t(batch);
    if (full == -1 && PyErr_Occurred()) {
        Py_DECREF(rec);
        return NULL;
    }
    if (!deliver)  /* recorded; the caller waits for room with it */
        return Py_BuildValue("(NO)", rec, PyList_GET_SIZE(trace) >= full ? Py_True : Py_False);
    PyObject **sent_fast = (PyObject **)((char *)port + offsets[PORT_SENT_FAST]);
    int failed = channel_deliver(ch, buf, rec, sent_fast, slot(ch, CHAN_RECV_SIGNAL), append_fn,
                                 str_wake);
    Py_DECREF(rec);
    if (failed < 0)
        return NULL;
    return PyLong_FromLong(PyList_GET_SIZE(trace) >= full ? 2 : 1);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(descriptors, (OutPort, InPort, Process, Channel, Window), nothing, data):"
     " the slots put() reads, once."},
    {"put", (PyCFunction)(void (*)(void))put, METH_FASTCALL,
     "put(port, value[, hold]) -> 0 not handled, 1 sent, 2 sent and the trace is full;"
     " with hold, (record, trace_full) when the channel has no room."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fbp._core._accel",
    "The traced send's fast path in C (optional; see _port_variants).", -1, methods,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    empty_tuple = PyTuple_New(0);
    str_wake = PyUnicode_InternFromString("wake_receiver");
    if (empty_tuple == NULL || str_wake == NULL)
        return NULL;
    return PyModule_Create(&module);
}
