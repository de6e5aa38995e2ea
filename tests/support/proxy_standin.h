/*
 * proxy_standin.h — a loopback stand-in for an HTTP proxy, for tests that check what weft sends
 * through one: it accepts connections on 127.0.0.1 (ephemeral port), records every byte it
 * receives (so a test can tell whether an x-api-key header reached it) and answers each request
 * 502 without forwarding anything anywhere.
 *
 * Threading: one thread of its own serves the connections; every function may be called from
 * any thread; wt_proxy_stop must not race the others. No global state.
 */
#ifndef WEFT_TEST_PROXY_STANDIN_H
#define WEFT_TEST_PROXY_STANDIN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wt_proxy wt_proxy;

/* Starts the stand-in; NULL when it cannot (logged to stderr). */
wt_proxy *wt_proxy_start(void);
/* "http://127.0.0.1:PORT", static for the stand-in's lifetime. */
const char *wt_proxy_url(const wt_proxy *p);
/* Connections accepted and bytes received so far. */
size_t wt_proxy_connections(wt_proxy *p);
size_t wt_proxy_bytes(wt_proxy *p);
/* True when any received byte sequence held "x-api-key" (case-insensitive). */
bool wt_proxy_saw_api_key(wt_proxy *p);
/* Stops the thread, closes everything, frees. NULL is fine. */
void wt_proxy_stop(wt_proxy *p);

#endif
