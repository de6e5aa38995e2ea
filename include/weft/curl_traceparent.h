/*
 * curl_traceparent.h — one call that adds a span's W3C traceparent header to a libcurl
 * header list, so the service called joins the trace (weft_span_begin_remote on its side).
 * The only public weft header that includes <curl/curl.h>; programs that do not use libcurl
 * use weft_traceparent_header from weft.h instead.
 */
#ifndef WEFT_CURL_TRACEPARENT_H
#define WEFT_CURL_TRACEPARENT_H

#include <curl/curl.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends "traceparent: 00-<trace>-<span>-<flags>" for span to list (curl_slist_append) and
 * returns the list's head, to be passed to CURLOPT_HTTPHEADER and freed with
 * curl_slist_free_all as usual. list: taken and returned (NULL starts a new list). For the
 * zero span, or when libcurl cannot allocate, list is returned unchanged (possibly NULL).
 * Any thread. */
WEFT_API struct curl_slist *weft_curl_add_traceparent(struct curl_slist *list, weft_span span);

#ifdef __cplusplus
}
#endif

#endif
