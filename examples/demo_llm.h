/*
 * demo_llm.h — the demo's optional call to a real OpenAI-compatible endpoint (demo_llm.c).
 * Main thread only.
 */
#ifndef WEFT_DEMO_LLM_H
#define WEFT_DEMO_LLM_H

#include <stdbool.h>

#include "weft/weft.h"

/* True when WEFT_DEMO_LLM_URL or OPENAI_BASE_URL is set. */
bool demo_llm_configured(void);
/* Asks the model the question with context (both borrowed), traced under parent. 0: answered;
 * -1: the call failed (printed). Does nothing and returns 0 when not configured. */
int demo_llm_ask(weft_span parent, const char *question, const char *context);

#endif
