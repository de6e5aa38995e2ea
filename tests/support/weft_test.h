/*
 * weft_test.h — helpers shared by the core test suites: start weft with the in-memory
 * exporter, read back what it exported as parsed JSON (jansson), look records up.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <jansson.h>
#include <stdbool.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* weft_init with exporters "memory", no atexit, a short flush interval; cfg may be NULL (its
 * other fields are kept). Returns weft_init's code. */
int wt_init_memory(weft_config *cfg);
/* Flushes, then parses every exported line; each must be valid JSON (asserted). New ref:
 * an array of span items. */
json_t *wt_records(void);
/* The records after weft_shutdown(5000). */
json_t *wt_records_after_shutdown(void);
/* The same, expecting weft_shutdown to return want (WEFT_EEXPORT after a lossy run). */
json_t *wt_records_after_shutdown_rc(int want);
/* The first record whose "name" is name (borrowed from arr), or NULL. */
json_t *wt_find(json_t *arr, const char *name);
/* Asserts that the record named name is a root (parent NULL) or a child of the record named
 * parent, in its trace. */
void wt_assert_parent(json_t *recs, const char *name, const char *parent);
/* Number of records named name. */
size_t wt_count(json_t *arr, const char *name);
/* String field of an object, or NULL. */
const char *wt_str(json_t *obj, const char *key);
/* Path lookup: wt_path(rec, "output.hits") */
json_t *wt_path(json_t *obj, const char *dotted);
/* Checks the fixed-format fields every item must have (ids, timestamps, sections). */
void wt_check_item(json_t *item);
/* The item's end_timestamp less its start_timestamp in ms (both have microseconds, so the
 * result is within 0.001 ms of the span's true duration); asserts both are present. */
double wt_span_ms(json_t *item);
/* Printable form of arbitrary bytes for failure messages (one of four rotating static buffers:
 * Criterion runs each test in its own single-threaded process). */
const char *wt_show(const char *s, size_t len);
/* Parses text with jansson (any top-level value, integers as reals so u64 max fits) and with
 * weft's validator; both must accept (asserted). New reference. */
json_t *wt_must_parse(const char *text, size_t len);
/* Head sampling for the next trace roots: keep every one (true) or none (false); what
 * weft__rt.hot.sample_below steers (for C++ suites, which cannot include runtime.h). */
void wt_sample_all(bool keep);
/* The calling thread has a thread state; the published end of its ring (0 without one). */
bool wt_thread_registered(void);
uint64_t wt_ring_head(void);

#ifdef __cplusplus
}
#endif

#endif
