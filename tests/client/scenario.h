/*
 * scenario.h — the traces the read-side suites record with weft's own API (static functions:
 * each suite is one executable that includes this once): a RAG trace with a retrieval step,
 * a generation with messages, citations and usage, a tool call that may fail, and the root
 * metadata keys the trace queries read (project, session, tags, custom fields, app name).
 */
#ifndef WEFT_TEST_SCENARIO_H
#define WEFT_TEST_SCENARIO_H

#include <string.h>

#include "weft/weft.h"

#define SC_ANSWER "Rings keep producers apart [doc-a], and drops are counted [doc-b]."

/* Records one trace; returns nothing (the ids are read back from the exported spans). */
__attribute__((unused)) static void sc_record_rag_trace(const char *question, bool tool_fails)
{
    weft_span root = weft_span_begin("answer question", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span_set_str(root, WEFT_INPUT, "question", question);
    weft_span_set_str(root, WEFT_METADATA, "project_id", "proj-7");
    weft_span_set_str(root, WEFT_METADATA, "project_name", "Support bot");
    weft_span_set_str(root, WEFT_METADATA, "session_id", "sess-42");
    weft_span_set_str(root, WEFT_METADATA, "app_name", "helpdesk");
    const char *tags = "[\"beta\",\"eu\"]", *custom = "{\"tier\":\"gold\",\"seats\":12}";
    weft_span_set_json(root, WEFT_METADATA, "tags", tags, strlen(tags));
    weft_span_set_json(root, WEFT_METADATA, "custom_fields", custom, strlen(custom));

    weft_span ret = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_document_hit hits[3] = {
        {.doc_id = "doc-a", .rank = 1, .score = 0.9, .has_span = true, .span_start = 0, .span_end = 40,
         .snippet = "Each thread writes its own ring."},
        {.doc_id = "doc-b", .rank = 2, .score = 0.7, .snippet = "A full ring drops and counts.",
         .metadata_json = "{\"source\":\"kb\"}"},
        {.doc_id = "doc-c", .rank = 3, .score = 0.2, .snippet = "Unrelated."},
    };
    weft_retrieval_info ri = {.retriever = "vectordb", .embedding_model = "e5-small", .top_k = 4,
                              .has_similarity_threshold = true, .similarity_threshold = 0.5,
                              .query = question, .hits = hits, .n_hits = 3};
    weft_span_set_retrieval(ret, &ri);
    weft_span_end(ret);

    weft_span gen = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_message sys = {.role = "system", .content = "Answer from the documents."};
    weft_message user = {.role = "user", .content = question};
    weft_message asst = {.role = "assistant", .content = SC_ANSWER};
    weft_span_add_message(gen, WEFT_INPUT, &sys);
    weft_span_add_message(gen, WEFT_INPUT, &user);
    weft_span_add_message(gen, WEFT_OUTPUT, &asst);
    weft_citation cits[3] = {{.doc_id = "doc-a", .confidence = 0.9},
                             {.doc_id = "doc-b", .confidence = 0.6},
                             {.doc_id = "doc-z", .confidence = 0.1}};
    weft_generation_info gi = {.answer = SC_ANSWER, .citations = cits, .n_citations = 3,
                               .model_used = "gpt-test", .prompt_template = "cite/v1"};
    weft_span_set_generation(gen, &gi);
    weft_usage u = {.model = "gpt-test", .input_tokens = 100, .output_tokens = 20, .has_cost = true,
                    .cost_usd = 0.0025};
    weft_span_set_usage(gen, &u);
    weft_span_end(gen);

    weft_span tool = weft_span_begin("lookup order", WEFT_TYPE_CODE_EXECUTION);
    weft_span_set_str(tool, WEFT_INPUT, "order", "A-1");
    if (tool_fails)
        weft_span_set_error(tool, "Timeout", "the order service timed out");
    weft_span_end(tool);

    weft_span_set_str(root, WEFT_OUTPUT, "answer", SC_ANSWER);
    weft_span_end(root);
}

/* A trace of one span, for paging. */
__attribute__((unused)) static void sc_record_small_trace(int i)
{
    char name[32];
    snprintf(name, sizeof name, "small-%d", i);
    weft_span s = weft_span_begin(name, WEFT_TYPE_CUSTOM);
    weft_span_set_i64(s, WEFT_INPUT, "i", i);
    weft_span_end(s);
}

#endif
