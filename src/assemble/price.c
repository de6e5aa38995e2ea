/*
 * price.c — the price table lookup (see price.h).
 */
#include "price.h"

#include <string.h>

#include "runtime.h"

bool weft__price_usd(const char *model, size_t len, int64_t in_tok, int64_t out_tok, double *usd)
{
    for (size_t i = 0; i < weft__rt.cfg.n_prices; i++) {
        const weft_model_price *pr = &weft__rt.cfg.prices[i];
        if (pr->model && strlen(pr->model) == len && memcmp(pr->model, model, len) == 0) {
            *usd = ((double)in_tok * pr->input_usd_per_mtok + (double)out_tok * pr->output_usd_per_mtok) / 1e6;
            return true;
        }
    }
    return false;
}
