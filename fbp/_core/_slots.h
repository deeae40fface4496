/* What both C modules (fbp._core._accel, fbp._core._fastports) share: how they learn the
 * offsets of the runtime's slotted objects, once, from the classes' member descriptors;
 * the C functions of deque's methods; and the channel's rule for an item delivered. */
#ifndef FBP_SLOTS_H
#define FBP_SLOTS_H

#include <Python.h>
#include <structmember.h>

/* The offsets of n object slots from a tuple of their member descriptors: 0, or -1
 * with an exception set. */
static int
slot_offsets(PyObject *descrs, Py_ssize_t *offsets, int n)
{
    if (!PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != n) {
        PyErr_Format(PyExc_ValueError, "configure() needs a tuple of %d slot descriptors", n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (!PyObject_TypeCheck(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "descriptor %d is not an object slot", i);
            return -1;
        }
        offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    return 0;
}

/* The C function of a method of a built-in class (deque's popleft, append...), called
 * without the method call's argument checks: NULL with an exception set when it is not
 * a C method with these flags. */
static PyCFunction
method_function(PyTypeObject *type, const char *name, int flags)
{
    PyObject *m = PyObject_GetAttrString((PyObject *)type, name);
    if (m == NULL)
        return NULL;
    PyCFunction fn = NULL;
    if (Py_IS_TYPE(m, &PyMethodDescr_Type)
        && ((PyMethodDescrObject *)m)->d_method->ml_flags == flags)
        fn = ((PyMethodDescrObject *)m)->d_method->ml_meth;
    else
        PyErr_Format(PyExc_TypeError, "%s.%s is not the C method expected", type->tp_name, name);
    Py_DECREF(m);  /* the class keeps it */
    return fn;
}

/* An item delivered into a channel's buffer (which has room): appended (``append``:
 * deque.append's C function), counted where ``count`` points (the sending port's count,
 * or the channel's; NULL: the caller counts), and the receiver woken if it waits (its
 * ``wake`` method, when the channel's receive signal is set). 0, or -1 with an
 * exception set. */
static inline int
channel_deliver(PyObject *ch, PyObject *buf, PyObject *item, PyObject **count, PyObject *signal,
                PyCFunction append, PyObject *wake)
{
    PyObject *res = append(buf, item);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    if (count != NULL && *count != NULL) {
        PyObject *one = PyLong_FromLong(1);
        PyObject *more = PyNumber_Add(*count, one);
        Py_DECREF(one);
        if (more == NULL)
            return -1;
        Py_SETREF(*count, more);
    }
    if (signal != NULL && signal != Py_None) {
        res = PyObject_CallMethodNoArgs(ch, wake);
        if (res == NULL)
            return -1;
        Py_DECREF(res);
    }
    return 0;
}

#endif
