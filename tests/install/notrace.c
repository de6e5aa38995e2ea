/* A program instrumented with weft and built with WEFT_NO_TRACING: every public call compiles
 * to a stand-in, so it compiles, links and runs with no libweft at all (check.sh links it
 * without -lweft). It calls every WEFT_API function of weft.h. */
#define WEFT_NO_TRACING 1
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

static bool keep(void *user, weft_record *r)
{
    (void)user;
    size_t n;
    weft_record_name(r, &n);
    weft_record_set_name(r, "x");
    weft_record_set_str(r, WEFT_OUTPUT, "k", "v");
    weft_record_set_json(r, WEFT_OUTPUT, "j", "{}", 2);
    weft_record_remove(r, WEFT_OUTPUT, "k");
    return weft_record_get(r, WEFT_INPUT, "k", &n) == NULL && weft_record_type(r) == WEFT_TYPE_CUSTOM &&
           weft_record_status(r) == WEFT_STATUS_SUCCESS && !weft_record_in_progress(r) &&
           !weft_record_is_root(r);
}

int main(void)
{
    weft_config c = {.exporters = "none", .filter = keep};
    if (weft_init(&c) != 0 || weft_init_sized(&c, sizeof c) != 0)
        return 1;
    WEFT_SPAN_BEGIN(root, "root", WEFT_TYPE_TRACER);
    weft_span s = weft_span_begin("step", WEFT_TYPE_COMPLETION);
    weft_span k = weft_span_begin_child(s, "child", WEFT_TYPE_CUSTOM);
    weft_span_set_status(s, WEFT_STATUS_ERROR);
    weft_span_set_error(s, "E", "m");
    weft_span_set_str(s, WEFT_INPUT, "a", "b");
    weft_span_set_strn(s, WEFT_INPUT, "a", "b", 1);
    weft_span_set_i64(s, WEFT_INPUT, "i", 1);
    weft_span_set_f64(s, WEFT_INPUT, "f", 1.0);
    weft_span_set_bool(s, WEFT_INPUT, "t", true);
    weft_span_set_msgpack(s, WEFT_INPUT, "m", "\xc0", 1);
    weft_span_set_json(s, WEFT_INPUT, "j", "{}", 2);
    weft_span_set_group_id(s, "g");
    weft_span_set_application_variant_id(s, "v");
    weft_span_set_application_interaction_id(s, "i");
    weft_usage u = {.model = "m", .input_tokens = 1};
    weft_span_set_usage(s, &u);
    weft_message msg = {.role = "user", .content = "hi"};
    weft_span_add_message(s, WEFT_INPUT, &msg);
    weft_retrieval_info ri = {.query = "q"};
    weft_span_set_retrieval(s, &ri);
    weft_generation_info gi = {.answer = "a"};
    weft_span_set_generation(s, &gi);
    weft_span cur = weft_current_span();
    weft_span_end(k);
    weft_span_end(s);
    WEFT_SPAN_END(root);
    weft_site site = {"site", 4, WEFT_TYPE_CUSTOM};
    weft_span sb = weft__span_begin_site(&site);
    weft_stats st;
    weft_get_stats(&st);
    weft_get_stats_sized(&st, sizeof st);
    int ok = weft_thread_register() == 0 && weft_flush(10) == 0 && weft_shutdown(10) == 0 &&
             !weft_span_is_valid(cur) &&
             !weft_span_is_valid(sb) && st.exported == 0 && keep(NULL, NULL) &&
             strcmp(weft_strerror(WEFT_EEXPORT), "some spans could not be delivered") == 0 &&
             strcmp(weft_strerror(12345), "unknown error") == 0 &&
             strcmp(weft_span_type_name(WEFT_TYPE_KB_RETRIEVAL), "KB_RETRIEVAL") == 0 &&
             strcmp(weft_span_type_name((weft_span_type)999), "CUSTOM") == 0;
    printf("WEFT_NO_TRACING: %s, linked without libweft\n", ok ? "every call a stand-in" : "FAILED");
    return ok ? 0 : 1;
}
