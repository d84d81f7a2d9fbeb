/*
 * roicore_sima._bandpass: the compiled band pass of the chunk kernel, for integer videos of at most
 * 16 bits (uint8, int8, uint16, int16; booleans are passed as uint8).
 *
 * One call handles one band (a run of consecutive pixels) of a block of frames:
 *
 *   out[f, i] += sum_k data[k] * (float)x_f[indices[k]]   for k in [start, stop), in order, for every
 *                                                         (i, start, stop) in bounds
 *   acc[j]    += x_f[j]                                   for every pixel j of the band (optional)
 *
 * Each row is summed in float32 in exactly the order of scipy's csr_matvec (no reassociation, no fused
 * multiply-add: the build passes -ffp-contract=off), so the traces are bitwise those of one CSR product
 * per frame. Frames go in groups of four: the four sums of a row run side by side (four independent
 * dependency chains instead of one) and the row's weights are loaded once for four frames. The mean
 * image's sums are exact: int32 sums of 16-bit values, which the caller moves into float64 before they
 * could overflow (ACC_LIMIT frames).
 *
 * Dense bands (many weights per pixel) convert the group's frames into a float32 scratch first, in the
 * same loop that adds them to the sums, and gather from it; sparse bands gather straight from the
 * integer frames and skip the conversion. The GIL is released during the work.
 *
 * ``bounds`` lists only the rows with weights in the band, as (row, start, stop) triples: the row's entries
 * in the band are the run [start, stop) of the weight arrays passed (with column indices relative to the
 * band). Every band is passed the same pair of arrays, the whole matrix's entries in its order or copied
 * in band order, so no band needs a copy of its own.
 * Listing only those rows keeps a band's cost proportional to its weights, not to the number of ROIs
 * (a band of 32 image rows meets ~5% of 3,000 ROIs). The Python caller (roicore_sima.kernel) checks the
 * column indices once, when it builds the kernel: each lies inside its band. This module checks shapes,
 * formats, lengths and every bound on every call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define GROUP 4

/* one row of the CSR band matrix over a single frame: sum = y + sum_k w_k x[c_k], in order */
#define ROW_SINGLE(X)                                                                 \
    do {                                                                              \
        float sum_ = y[i];                                                            \
        for (int32_t k_ = lo; k_ < hi; k_++) sum_ += data[k_] * (float)(X)[indices[k_]]; \
        y[i] = sum_;                                                                  \
    } while (0)

/* every listed row of the CSR band matrix over a group of four frames S0..S3 (the rows of y): four sums
 * side by side, each in stored order; the cast is a no-op for float32 sources */
#define ROWS_OF_GROUP(S0, S1, S2, S3)                                                                 \
    do {                                                                                              \
        for (Py_ssize_t j = 0; j < listed; j++) {                                                     \
            Py_ssize_t i = bounds[3 * j];                                                             \
            int32_t lo = bounds[3 * j + 1], hi = bounds[3 * j + 2];                                   \
            float a0 = y[i], a1 = y[i + rows], a2 = y[i + 2 * rows], a3 = y[i + 3 * rows];            \
            for (int32_t k = lo; k < hi; k++) {                                                       \
                int32_t c = indices[k];                                                               \
                float w = data[k];                                                                    \
                a0 += w * (float)(S0)[c]; a1 += w * (float)(S1)[c];                                   \
                a2 += w * (float)(S2)[c]; a3 += w * (float)(S3)[c];                                   \
            }                                                                                         \
            y[i] = a0; y[i + rows] = a1; y[i + 2 * rows] = a2; y[i + 3 * rows] = a3;                  \
        }                                                                                             \
    } while (0)

#define DEFINE_PASS(NAME, T)                                                                              \
    static void NAME(const char *block, Py_ssize_t frames, Py_ssize_t frame_stride, Py_ssize_t cols,     \
                     float *out, Py_ssize_t rows, const int32_t *bounds, Py_ssize_t listed,              \
                     const int32_t *indices, const float *data, int32_t *acc, float *scratch)            \
    {                                                                                                    \
        for (Py_ssize_t f = 0; f < frames; f += GROUP) {                                                 \
            Py_ssize_t n = frames - f < GROUP ? frames - f : GROUP;                                      \
            const T *x0 = (const T *)(block + f * frame_stride);                                         \
            const T *x1 = (const T *)(block + (f + (n > 1)) * frame_stride);                             \
            const T *x2 = (const T *)(block + (f + 2 * (n > 2)) * frame_stride);                         \
            const T *x3 = (const T *)(block + (f + 3 * (n > 3)) * frame_stride);                         \
            if (n == GROUP && scratch != NULL) { /* dense band: convert (and sum) in one pass */          \
                float *s0 = scratch, *s1 = scratch + cols, *s2 = scratch + 2 * cols, *s3 = scratch + 3 * cols; \
                if (acc != NULL) {                                                                       \
                    for (Py_ssize_t j = 0; j < cols; j++) {                                              \
                        int32_t v0 = x0[j], v1 = x1[j], v2 = x2[j], v3 = x3[j];                          \
                        s0[j] = (float)v0; s1[j] = (float)v1; s2[j] = (float)v2; s3[j] = (float)v3;      \
                        acc[j] += (v0 + v1) + (v2 + v3);                                                 \
                    }                                                                                    \
                } else {                                                                                 \
                    for (Py_ssize_t j = 0; j < cols; j++) {                                              \
                        s0[j] = (float)x0[j]; s1[j] = (float)x1[j]; s2[j] = (float)x2[j]; s3[j] = (float)x3[j]; \
                    }                                                                                    \
                }                                                                                        \
                float *y = out + f * rows;                                                               \
                ROWS_OF_GROUP(s0, s1, s2, s3);                                                          \
                continue;                                                                                \
            }                                                                                            \
            if (acc != NULL) {                                                                           \
                if (n == GROUP) {                                                                        \
                    for (Py_ssize_t j = 0; j < cols; j++)                                                \
                        acc[j] += ((int32_t)x0[j] + (int32_t)x1[j]) + ((int32_t)x2[j] + (int32_t)x3[j]); \
                } else {                                                                                 \
                    for (Py_ssize_t g = 0; g < n; g++) {                                                 \
                        const T *x = (const T *)(block + (f + g) * frame_stride);                        \
                        for (Py_ssize_t j = 0; j < cols; j++) acc[j] += x[j];                            \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
            if (listed == 0) continue; /* no weights in this band */                                     \
            float *y = out + f * rows;                                                                   \
            if (n == GROUP) {                                                                            \
                ROWS_OF_GROUP(x0, x1, x2, x3);                                                          \
            } else {                                                                                     \
                for (Py_ssize_t g = 0; g < n; g++, y += rows) {                                          \
                    const T *x = (const T *)(block + (f + g) * frame_stride);                            \
                    for (Py_ssize_t j = 0; j < listed; j++) {                                            \
                        Py_ssize_t i = bounds[3 * j];                                                    \
                        int32_t lo = bounds[3 * j + 1], hi = bounds[3 * j + 2];                          \
                        ROW_SINGLE(x);                                                                   \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }

DEFINE_PASS(pass_u8, uint8_t)
DEFINE_PASS(pass_i8, int8_t)
DEFINE_PASS(pass_u16, uint16_t)
DEFINE_PASS(pass_i16, int16_t)

typedef void (*pass_fn)(const char *, Py_ssize_t, Py_ssize_t, Py_ssize_t, float *, Py_ssize_t, const int32_t *,
                        Py_ssize_t, const int32_t *, const float *, int32_t *, float *);

/* The element type of a buffer format string: one of B b H h (native order), else 0. */
static char element_code(const char *format)
{
    if (format == NULL) return 'B';
    if (format[0] == '@' || format[0] == '=' || format[0] == '<') {
        /* '<' is native only on little-endian machines; '=' and '@' always are */
        const uint16_t probe = 1;
        if (format[0] == '<' && *(const uint8_t *)&probe != 1) return 0;
        format++;
    }
    if (format[0] == '?' && format[1] == '\0') return 'B';
    if (format[1] != '\0') return 0;
    switch (format[0]) {
    case 'B': case 'b': case 'H': case 'h': return format[0];
    default: return 0;
    }
}

static int get_buffer(PyObject *obj, Py_buffer *view, int flags, const char *name)
{
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "band_pass: %s must be a %s buffer", name,
                     (flags & PyBUF_WRITABLE) ? "writable C-contiguous" : "C-contiguous");
        return -1;
    }
    return 0;
}

static int check_items(Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t count, const char *name)
{
    if (view->itemsize != itemsize || view->len != itemsize * count) {
        PyErr_Format(PyExc_ValueError, "band_pass: %s must hold %zd items of %zd bytes", name, count, itemsize);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(band_pass_doc,
             "band_pass(block, out, bounds, indices, data, acc, scratch)\n--\n\n"
             "Add one band's CSR product of every frame of ``block`` into ``out`` and, unless ``acc`` is None,\n"
             "the frames themselves into ``acc``.\n\n"
             "block: (frames, cols) integer frames of at most 16 bits, rows contiguous, any row stride.\n"
             "out: (frames, rows) float32, C-contiguous, added to. bounds: int32 (n, 3), one (row, start, stop)\n"
             "per row with weights in the band: its entries are indices[start:stop] and the same of data.\n"
             "indices: int32, each in [0, cols). data: float32. acc: int32 (cols,) or None.\n"
             "scratch: float32 of at least 4 * cols items (dense bands: gather from converted frames) or None.");

static PyObject *band_pass(PyObject *self, PyObject *args)
{
    PyObject *block_obj, *out_obj, *bounds_obj, *indices_obj, *data_obj, *acc_obj, *scratch_obj;
    if (!PyArg_ParseTuple(args, "OOOOOOO:band_pass", &block_obj, &out_obj, &bounds_obj, &indices_obj, &data_obj,
                          &acc_obj, &scratch_obj))
        return NULL;
    Py_buffer block, out, bounds, indices, data, acc, scratch;
    int have_acc = acc_obj != Py_None, have_scratch = scratch_obj != Py_None;
    int got = 0; /* buffers acquired so far, released in order on exit */
    PyObject *result = NULL;
    pass_fn pass = NULL;

    if (PyObject_GetBuffer(block_obj, &block, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return NULL;
    got = 1;
    if (get_buffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT, "out") < 0) goto done;
    got = 2;
    if (get_buffer(bounds_obj, &bounds, PyBUF_C_CONTIGUOUS, "bounds") < 0) goto done;
    got = 3;
    if (get_buffer(indices_obj, &indices, PyBUF_C_CONTIGUOUS, "indices") < 0) goto done;
    got = 4;
    if (get_buffer(data_obj, &data, PyBUF_C_CONTIGUOUS, "data") < 0) goto done;
    got = 5;
    if (have_acc && get_buffer(acc_obj, &acc, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE, "acc") < 0) goto done;
    got = 6;
    if (have_scratch && get_buffer(scratch_obj, &scratch, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE, "scratch") < 0)
        goto done;
    got = 7;

    switch (element_code(block.format)) {
    case 'B': pass = pass_u8; break;
    case 'b': pass = pass_i8; break;
    case 'H': pass = pass_u16; break;
    case 'h': pass = pass_i16; break;
    default: break;
    }
    if (pass == NULL || block.ndim != 2 || block.strides[1] != block.itemsize ||
        (pass == pass_u16 || pass == pass_i16 ? block.itemsize != 2 : block.itemsize != 1)) {
        PyErr_SetString(PyExc_ValueError,
                        "band_pass: block must be 2-D frames of uint8, int8, uint16 or int16 with contiguous rows");
        goto done;
    }
    Py_ssize_t frames = block.shape[0], cols = block.shape[1];
    if (out.ndim != 2 || out.shape[0] != frames || out.itemsize != 4) {
        PyErr_Format(PyExc_ValueError, "band_pass: out must be float32 of shape (%zd, rows)", frames);
        goto done;
    }
    Py_ssize_t rows = out.shape[1];
    if (bounds.itemsize != 4 || bounds.len % 12 != 0) {
        PyErr_SetString(PyExc_ValueError, "band_pass: bounds must hold int32 (row, start, stop) triples");
        goto done;
    }
    Py_ssize_t listed = bounds.len / 12;
    const int32_t *triples = (const int32_t *)bounds.buf;
    if (indices.len != data.len || indices.itemsize != 4 || data.itemsize != 4 ||
        (have_acc && check_items(&acc, 4, cols, "acc") < 0) ||
        (have_scratch && (scratch.itemsize != 4 || scratch.len < 4 * GROUP * cols))) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "band_pass: the weight arrays, acc or scratch do not match the block");
        goto done;
    }
    Py_ssize_t entries = indices.len / 4;
    for (Py_ssize_t j = 0; j < listed; j++) {
        int32_t row = triples[3 * j], start = triples[3 * j + 1], stop = triples[3 * j + 2];
        if (row < 0 || row >= rows || start < 0 || stop < start || stop > entries) {
            PyErr_SetString(PyExc_ValueError, "band_pass: bounds outside the output rows or the weight arrays");
            goto done;
        }
    }
    if (out.format != NULL && strcmp(out.format, "f") != 0 && strcmp(out.format, "<f") != 0 &&
        strcmp(out.format, "=f") != 0) {
        PyErr_SetString(PyExc_ValueError, "band_pass: out must be float32");
        goto done;
    }
    if (frames > 0 && cols > 0) {
        Py_BEGIN_ALLOW_THREADS
        pass((const char *)block.buf, frames, block.strides[0], cols, (float *)out.buf, rows, triples, listed,
             (const int32_t *)indices.buf, (const float *)data.buf, have_acc ? (int32_t *)acc.buf : NULL,
             have_scratch ? (float *)scratch.buf : NULL);
        Py_END_ALLOW_THREADS
    }
    result = Py_None;
    Py_INCREF(result);
done:
    if (got >= 7 && have_scratch) PyBuffer_Release(&scratch);
    if (got >= 6 && have_acc) PyBuffer_Release(&acc);
    if (got >= 5) PyBuffer_Release(&data);
    if (got >= 4) PyBuffer_Release(&indices);
    if (got >= 3) PyBuffer_Release(&bounds);
    if (got >= 2) PyBuffer_Release(&out);
    PyBuffer_Release(&block);
    return result;
}

static PyMethodDef methods[] = {
    {"band_pass", band_pass, METH_VARARGS, band_pass_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bandpass",
    "The compiled band pass of roicore_sima's chunk kernel (integer videos of at most 16 bits).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bandpass(void) { return PyModule_Create(&module); }
