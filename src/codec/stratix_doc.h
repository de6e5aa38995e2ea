/*
 * stratix_doc.h — one LayerLens Stratix trace document from the SGP span items of one trace.
 * The stratix exporter and `weft convert --to stratix` both write these documents, one per line
 * of a JSONL file that Stratix's traces.upload takes.
 *
 * In: span items as jansson objects — the records weft's JSONL exporter writes (DESIGN.md
 * section 4): id, trace_id, parent_id, name, type, status, start_timestamp, end_timestamp, input,
 * output, metadata, obs_trace_id, obs_span_id, group_id, ... Out: compact JSON text:
 *
 *   {"trace_id", "name", "input", "output", "metadata", "start_time", "end_time", "duration_ms",
 *    "spans": [{"id", "parent_id", "name", "type", "status", "start_time", "end_time",
 *               "duration_ms", "input", "output", "metadata", ...every other field of the item}]}
 *
 * - The root is the span without parent_id (a span whose parent is not in the set when none
 *   has none, as for a trace continued from another process); among several, the earliest.
 *   Top-level name, input and output are the root's ({} for a missing input or output);
 *   metadata holds the root's metadata.trace_summary and its obs_trace_id, group_id,
 *   application_variant_id and application_interaction_id, when present.
 * - start_time / end_time are the root's timestamps; without them, the earliest start and the
 *   latest end of all spans; end_time null when no span has ended. duration_ms is end minus
 *   start in milliseconds, exact to the timestamps' precision (json.h's weft__json_ms), null
 *   when either is missing or unreadable.
 * - spans lists every span once, parents before children: the root's tree depth first, children
 *   by start time then id, then any span not under the root (other roots, orphans, cycles) in
 *   the same way. start_timestamp / end_timestamp are renamed start_time / end_time; a missing
 *   parent_id or end_time is null; every other field of the item is kept as it is, in the
 *   item's order. When an id appears twice, the completed record wins over an in-progress one
 *   (the SGP server's rule), else the later one.
 *
 * A codec: no I/O, no global state; allocation for its work arrays and the caller's weft__buf.
 * Reentrant. Values are written with json_value.h (shortest round-trip reals, repaired UTF-8).
 */
#ifndef WEFT_STRATIX_DOC_H
#define WEFT_STRATIX_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What a document holds, and why one could not be written. */
typedef struct weft__stratix_doc_info {
    size_t spans;      /* spans written */
    size_t duplicates; /* items dropped because another record of the same id won */
    size_t detached;   /* spans not under the root (written after its tree) */
    const char *error; /* static text when the call failed, else NULL */
} weft__stratix_doc_info;

/*
 * Appends the document for items[0..n) (borrowed; each an object with string id and trace_id,
 * all the same trace_id) to b. info may be NULL. Returns 0; WEFT_EINVAL (n == 0, an item that is
 * not such an object, two trace ids; info->error says which, b unchanged) or WEFT_ENOMEM.
 */
int weft__stratix_doc_write(weft__buf *b, const json_t *const *items, size_t n, weft__stratix_doc_info *info);

/* The same for the elements of a jansson array; the document as a heap string (the caller
 * frees it) in *out. */
int weft__stratix_doc_text(const json_t *array, char **out, weft__stratix_doc_info *info);

/* ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)" to nanoseconds since the epoch
 * (years 1970..9999, fraction up to 9 digits). False on anything else. */
bool weft__stratix_doc_time_ns(const char *s, uint64_t *ns);

#endif
