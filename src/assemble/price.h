/*
 * price.h — the configured price table (weft_config.prices, WEFT_PRICES): what one LLM call
 * cost, for token usage that carries no cost of its own. Export thread (reads the loaded
 * configuration only).
 */
#ifndef WEFT_PRICE_H
#define WEFT_PRICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* USD for in_tok input and out_tok output tokens of model[0..len) into *usd; false when the
 * table does not list the model (exact, case-sensitive name). */
bool weft__price_usd(const char *model, size_t len, int64_t in_tok, int64_t out_tok, double *usd);

#endif
