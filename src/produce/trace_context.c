/*
 * trace_context.c — a span's W3C traceparent for outgoing requests (weft_traceparent_format,
 * weft_traceparent_header). Reads only the span handle and the process's salt: no event, no
 * lock; any thread.
 *
 * Ids across processes (README, "Trace context across processes"): a span's W3C trace id is
 * weft_span.trace (high half) : weft_span.trace_lo XOR salt (low half) — for a trace begun in
 * this process that is trace : salt, for one joined through weft_span_begin_remote the
 * remote trace id — and its W3C span id is weft_span.id. Every backend derives its ids from
 * these two numbers alone (src/codec/encode.c), so processes agree without talking.
 */
#include <string.h>

#include "runtime.h"
#include "traceparent.h"
#include "weft/weft.h"

#define HEADER_NAME "traceparent: "
#define HEADER_NAME_LEN (sizeof(HEADER_NAME) - 1)

static int format_at(weft_span span, char *buf, size_t len, size_t at)
{
    if (!buf)
        return WEFT_EINVAL;
    if (span.id == 0 || len < at + WEFT__TRACEPARENT_LEN + 1) {
        if (len)
            buf[0] = '\0';
        return WEFT_EINVAL;
    }
    weft__traceparent tp = {span.trace, span.trace_lo ^ weft__rt.salt_hi, span.id, 0,
                            (span.flags & WEFT__SPAN_SAMPLED_OUT) ? 0 : WEFT__TRACEPARENT_SAMPLED};
    memcpy(buf, HEADER_NAME, at);
    return (int)(at + weft__traceparent_format(buf + at, &tp));
}

WEFT_API int weft_traceparent_format(weft_span span, char *buf, size_t len) { return format_at(span, buf, len, 0); }

WEFT_API int weft_traceparent_header(weft_span span, char *buf, size_t len)
{
    return format_at(span, buf, len, HEADER_NAME_LEN);
}
