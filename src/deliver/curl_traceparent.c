/*
 * curl_traceparent.c — weft_curl_add_traceparent (weft/curl_traceparent.h): the traceparent
 * header line of weft_traceparent_header appended to a libcurl header list. Any thread; no
 * state.
 */
#include <curl/curl.h>

#include "weft/curl_traceparent.h"

WEFT_API struct curl_slist *weft_curl_add_traceparent(struct curl_slist *list, weft_span span)
{
    char line[80];
    if (weft_traceparent_header(span, line, sizeof line) < 0)
        return list;
    struct curl_slist *head = curl_slist_append(list, line);
    return head ? head : list; /* on failure curl leaves list as it was */
}
