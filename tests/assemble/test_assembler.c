/*
 * test_assembler.c — ring events to span records (src/assemble/assembler.c), driven directly
 * with hand-made events and a fixed clock (1 tick = 1 ns after UNIX0): begin/attributes/end
 * make one record, emitted one round after its end; parents are linked and children go out
 * before their root; events that arrive before their span's begin are parked and retried; in
 * progress upserts after inprogress_after_ms, open ancestors announced root first; the
 * open-span table's limit is counted in dropped_open; malformed events are internal errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "assembler.h"
#include "runtime.h"

#define UNIX0 1750000000000000000ull /* 2025-06-15, in ns */
#define MS 1000000ull

/* ---- a record as it was emitted, copied (the record is only valid during the call) ---- */

typedef struct got {
    uint64_t id, trace, parent, start, end;
    uint32_t type, status;
    bool final_open;
    char name[64];
    char attrs[4096]; /* "sec.key=json\n" per entry */
} got;

typedef struct sink {
    got r[4096];
    size_t n;
} sink;

static sink out;

static void on_attr(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json,
                    size_t json_len, int kind)
{
    static const char *const secs[] = {"input", "output", "metadata"};
    got *g = ctx;
    size_t at = strlen(g->attrs);
    snprintf(g->attrs + at, sizeof g->attrs - at, "%s%s.%.*s=%.*s\n", kind == WEFT__ENT_APPEND ? "+" : "",
             secs[sec], (int)key_len, key, (int)json_len, json);
}

static void emit(void *ctx, weft__rec *r, bool final_open)
{
    sink *s = ctx;
    cr_assert_lt(s->n, sizeof s->r / sizeof s->r[0]);
    got *g = &s->r[s->n++];
    memset(g, 0, sizeof *g);
    g->id = r->id;
    g->trace = r->trace;
    g->parent = r->parent;
    g->start = r->start_ns;
    g->end = r->end_ns;
    g->type = r->type;
    g->status = r->status;
    g->final_open = final_open;
    snprintf(g->name, sizeof g->name, "%.*s", (int)r->name.len, r->name.data);
    weft__rec_foreach(r, on_attr, g);
}

static const got *find(uint64_t id)
{
    for (size_t i = 0; i < out.n; i++)
        if (out.r[i].id == id)
            return &out.r[i];
    return NULL;
}

/* ---- events --------------------------------------------------------------------------- */

static _Alignas(8) char evb[8192];

static void begin(weft__asm *a, uint64_t id, uint64_t trace, uint64_t parent, uint64_t ticks, const char *name)
{
    size_t len = strlen(name);
    weft__ev_begin *e = (weft__ev_begin *)evb;
    memset(e, 0, sizeof *e);
    e->h = (weft__ev){weft__ev_round(sizeof *e + len), WEFT__EV_BEGIN, 0, id};
    e->trace = trace;
    e->parent = parent;
    e->ticks = ticks;
    e->type = WEFT_TYPE_COMPLETION;
    e->name_len = (uint32_t)len;
    memcpy(e + 1, name, len);
    weft__asm_event(a, &e->h);
}

static void end(weft__asm *a, uint64_t id, uint64_t ticks)
{
    weft__ev_end e = {{sizeof e, WEFT__EV_END, 0, id}, ticks};
    weft__asm_event(a, &e.h);
}

static weft__ev_attr *attr_head(uint64_t id, weft_section sec, const char *key, size_t val_len, uint8_t vtype)
{
    size_t klen = strlen(key);
    weft__ev_attr *e = (weft__ev_attr *)evb;
    memset(e, 0, sizeof *e);
    e->h = (weft__ev){weft__ev_round(sizeof *e + klen + val_len), WEFT__EV_ATTR, (uint16_t)sec, id};
    e->key_len = (uint32_t)klen;
    e->val_len = vtype == WEFT__V_STR || vtype == WEFT__V_JSON || vtype == WEFT__V_MSGPACK ? (uint32_t)val_len : 0;
    e->vtype = vtype;
    e->orig_len = val_len;
    memcpy(e + 1, key, klen);
    return e;
}

static void attr_bytes(weft__asm *a, uint64_t id, weft_section sec, const char *key, const char *v, size_t len,
                       uint8_t vtype)
{
    weft__ev_attr *e = attr_head(id, sec, key, len, vtype);
    memcpy((char *)(e + 1) + e->key_len, v, len);
    weft__asm_event(a, &e->h);
}

static void attr_str(weft__asm *a, uint64_t id, weft_section sec, const char *key, const char *v)
{
    attr_bytes(a, id, sec, key, v, strlen(v), WEFT__V_STR);
}

static void attr_i64(weft__asm *a, uint64_t id, weft_section sec, const char *key, int64_t v)
{
    weft__ev_attr *e = attr_head(id, sec, key, 0, WEFT__V_I64);
    e->v.i = v;
    weft__asm_event(a, &e->h);
}

static void attr_f64(weft__asm *a, uint64_t id, weft_section sec, const char *key, double v)
{
    weft__ev_attr *e = attr_head(id, sec, key, 0, WEFT__V_F64);
    e->v.f = v;
    weft__asm_event(a, &e->h);
}

static void attr_bool(weft__asm *a, uint64_t id, weft_section sec, const char *key, bool v)
{
    weft__ev_attr *e = attr_head(id, sec, key, 0, WEFT__V_BOOL);
    e->v.i = v;
    weft__asm_event(a, &e->h);
}

static void status(weft__asm *a, uint64_t id, weft_status st)
{
    weft__ev e = {sizeof e, WEFT__EV_STATUS, (uint16_t)st, id};
    weft__asm_event(a, &e);
}

static void error(weft__asm *a, uint64_t id, const char *type, const char *msg)
{
    size_t tl = strlen(type), ml = strlen(msg);
    weft__ev_error *e = (weft__ev_error *)evb;
    memset(e, 0, sizeof *e);
    e->h = (weft__ev){weft__ev_round(sizeof *e + tl + ml), WEFT__EV_ERROR, 0, id};
    e->type_len = (uint32_t)tl;
    e->msg_len = (uint32_t)ml;
    memcpy(e + 1, type, tl);
    memcpy((char *)(e + 1) + tl, msg, ml);
    weft__asm_event(a, &e->h);
}

/* ---- fixture -------------------------------------------------------------------------- */

static weft__clock clk = {.use_tsc = 0, .t0 = 0, .unix0_ns = UNIX0, .mono0_ns = 0, .ns_per_tick = 1.0};

static void setup(weft__asm *a, uint32_t max_open, int64_t inprogress_after_ms, bool want_inprogress,
                  uint64_t max_attr)
{
    weft__rt.cfg.max_open_spans = max_open;
    weft__rt.cfg.inprogress_after_ms = inprogress_after_ms;
    weft__rt.cfg.max_attr_bytes = max_attr;
    weft__rt.cfg.log_level = WEFT_LOG_ERROR;
    atomic_store(&weft__rt.hot.enabled, 1);
    out.n = 0;
    cr_assert_eq(weft__asm_init(a, &clk, emit, &out), 0);
    a->want_inprogress = want_inprogress;
}

static void std_setup(weft__asm *a) { setup(a, 1000, -1, false, 1u << 20); }

#define STAT(f) weft__stat_get(f)

static bool has(const got *g, const char *line) { return strstr(g->attrs, line) != NULL; }

/* ---- tests ---------------------------------------------------------------------------- */

Test(assembler, turns_begin_attributes_and_end_into_one_record)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 0x1111, 0xaaaa, 0, 1000, "answer");
    attr_str(&a, 0x1111, WEFT_INPUT, "question", "what is a ring?");
    attr_i64(&a, 0x1111, WEFT_OUTPUT, "tokens", -42);
    attr_f64(&a, 0x1111, WEFT_METADATA, "score", 0.5);
    attr_bool(&a, 0x1111, WEFT_METADATA, "cached", true);
    attr_bytes(&a, 0x1111, WEFT_OUTPUT, "doc", "{ \"a\" : [1, 2] }", 16, WEFT__V_JSON);
    end(&a, 0x1111, 5000);
    cr_assert_eq(STAT(open_spans), 1);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 0, "an ended span waits one round for events from other rings");
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    const got *g = &out.r[0];
    cr_assert_eq(g->id, 0x1111);
    cr_assert_eq(g->trace, 0xaaaa);
    cr_assert_eq(g->parent, 0);
    cr_assert_str_eq(g->name, "answer");
    cr_assert_eq(g->type, WEFT_TYPE_COMPLETION);
    cr_assert_eq(g->status, WEFT_STATUS_SUCCESS);
    cr_assert_eq(g->start, UNIX0 + 1000);
    cr_assert_eq(g->end, UNIX0 + 5000);
    cr_assert_not(g->final_open);
    cr_assert(has(g, "input.question=\"what is a ring?\"\n"), "%s", g->attrs);
    cr_assert(has(g, "output.tokens=-42\n"), "%s", g->attrs);
    cr_assert(has(g, "metadata.score=0.5\n"), "%s", g->attrs);
    cr_assert(has(g, "metadata.cached=true\n"), "%s", g->attrs);
    cr_assert(has(g, "output.doc={\"a\":[1,2]}\n"), "JSON values are minified: %s", g->attrs);
    cr_assert(has(g, "metadata.trace_summary={\"duration_ms\":0.004,\"span_count\":1,"), "%s", g->attrs);
    cr_assert_eq(STAT(ended), 1);
    cr_assert_eq(STAT(open_spans), 0);
    cr_assert_eq(STAT(noop_calls), 0);
    cr_assert_eq(STAT(internal_errors), 0);
    weft__asm_fini(&a);
}

Test(assembler, status_and_error_events_mark_the_record)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 1, 1, 0, 10, "canceled");
    status(&a, 1, WEFT_STATUS_CANCELED);
    end(&a, 1, 20);
    begin(&a, 2, 2, 0, 10, "failed");
    error(&a, 2, "timeout", "no answer in 30 s");
    end(&a, 2, 20);
    begin(&a, 3, 3, 0, 10, "odd status");
    status(&a, 3, (weft_status)77);
    end(&a, 3, 20);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 3);
    cr_assert_eq(find(1)->status, WEFT_STATUS_CANCELED);
    cr_assert_eq(find(2)->status, WEFT_STATUS_ERROR);
    cr_assert(has(find(2), "metadata.error={\"type\":\"timeout\",\"message\":\"no answer in 30 s\"}\n"), "%s",
              find(2)->attrs);
    cr_assert_eq(find(3)->status, WEFT_STATUS_ERROR, "an unknown status is an error");
    weft__asm_fini(&a);
}

Test(assembler, links_parents_and_emits_children_before_their_root)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 10, 99, 0, 100, "root");
    begin(&a, 11, 99, 10, 200, "child");
    begin(&a, 12, 99, 11, 300, "grandchild");
    end(&a, 12, 400);
    end(&a, 11, 500);
    end(&a, 10, 600);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 3);
    cr_assert_eq(out.r[0].id, 12);
    cr_assert_eq(out.r[1].id, 11);
    cr_assert_eq(out.r[2].id, 10, "the root goes last, its summary counting its children");
    cr_assert_eq(find(12)->parent, 11);
    cr_assert_eq(find(11)->parent, 10);
    cr_assert_eq(find(10)->parent, 0);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(out.r[i].trace, 99);
    cr_assert(has(find(10), "\"span_count\":3,"), "%s", find(10)->attrs);
    cr_assert_not(has(find(11), "trace_summary"), "only roots carry a summary");
    weft__asm_fini(&a);
}

Test(assembler, parks_events_that_arrive_before_their_begin_and_applies_them)
{
    weft__asm a;
    std_setup(&a);
    /* Another ring was read first: its attribute and end come before the begin. */
    attr_str(&a, 7, WEFT_OUTPUT, "answer", "forty-two");
    end(&a, 7, 900);
    begin(&a, 7, 7, 0, 100, "late begin");
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 0, "the parked end waits for its retry, a round later");
    weft__asm_round_end(&a, UNIX0);
    /* Applied then with the round it was read in, it is final at once: a flush that waits
     * for the rounds after the end's own finds it exported. */
    cr_assert_eq(out.n, 1, "the parked end is applied one round later and emitted in that round");
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    cr_assert(has(&out.r[0], "output.answer=\"forty-two\"\n"), "%s", out.r[0].attrs);
    cr_assert_eq(out.r[0].end, UNIX0 + 900);
    cr_assert_eq(STAT(noop_calls), 0);
    weft__asm_fini(&a);
}

Test(assembler, counts_an_event_for_a_span_that_never_began_as_a_noop)
{
    weft__asm a;
    std_setup(&a);
    attr_i64(&a, 404, WEFT_OUTPUT, "n", 1);
    end(&a, 404, 10);
    for (int i = 0; i < 3; i++)
        weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(STAT(noop_calls), 2, "counted once each, after its retry");
    weft__asm_fini(&a);
}

Test(assembler, counts_a_second_end_and_a_colliding_begin_as_noops)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 5, 5, 0, 10, "first");
    begin(&a, 5, 6, 0, 11, "same id");
    end(&a, 5, 20);
    end(&a, 5, 30);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    cr_assert_str_eq(out.r[0].name, "first", "a 64-bit id collision keeps the first span");
    cr_assert_eq(out.r[0].end, UNIX0 + 20, "the first end wins");
    cr_assert_eq(STAT(noop_calls), 2);
    cr_assert_eq(STAT(ended), 1);
    weft__asm_fini(&a);
}

Test(assembler, an_end_before_the_begin_time_is_clamped_to_the_start)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 8, 8, 0, 5000, "clock stepped");
    end(&a, 8, 4000);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.r[0].start, UNIX0 + 5000);
    cr_assert_eq(out.r[0].end, UNIX0 + 5000, "end >= start, always");
    weft__asm_fini(&a);
}

Test(assembler, upserts_a_span_in_progress_after_inprogress_after_ms)
{
    weft__asm a;
    setup(&a, 1000, 100, true, 1u << 20);
    begin(&a, 20, 20, 0, 0, "slow");
    weft__asm_round_end(&a, UNIX0 + 50 * MS);
    cr_assert_eq(out.n, 0, "not due before 100 ms");
    weft__asm_round_end(&a, UNIX0 + 100 * MS);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.r[0].id, 20);
    cr_assert_eq(out.r[0].end, 0, "in progress: no end");
    cr_assert_not(out.r[0].final_open);
    weft__asm_round_end(&a, UNIX0 + 500 * MS);
    cr_assert_eq(out.n, 1, "upserted once");
    end(&a, 20, 600 * MS);
    weft__asm_round_end(&a, UNIX0 + 600 * MS);
    weft__asm_round_end(&a, UNIX0 + 600 * MS);
    cr_assert_eq(out.n, 2);
    cr_assert_eq(out.r[1].id, 20);
    cr_assert_eq(out.r[1].end, UNIX0 + 600 * MS);
    weft__asm_fini(&a);
}

Test(assembler, never_upserts_in_progress_when_no_exporter_wants_it)
{
    weft__asm a;
    setup(&a, 1000, 0, false, 1u << 20);
    begin(&a, 21, 21, 0, 0, "root");
    begin(&a, 22, 21, 21, 0, "child");
    weft__asm_round_end(&a, UNIX0 + 10000 * MS);
    end(&a, 22, 10);
    weft__asm_round_end(&a, UNIX0 + 10000 * MS);
    weft__asm_round_end(&a, UNIX0 + 10000 * MS);
    cr_assert_eq(out.n, 1, "only the completed child, no in-progress root");
    cr_assert_eq(out.r[0].id, 22);
    cr_assert_neq(out.r[0].end, 0);
    weft__asm_fini(&a);
}

Test(assembler, announces_open_ancestors_root_first_before_a_child_goes_out)
{
    weft__asm a;
    setup(&a, 1000, -1, true, 1u << 20); /* never due by time: only the parents-first rule */
    begin(&a, 30, 3, 0, 0, "root");
    begin(&a, 31, 3, 30, 1, "mid");
    begin(&a, 32, 3, 31, 2, "leaf");
    end(&a, 32, 3);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 3);
    cr_assert_eq(out.r[0].id, 30);
    cr_assert_eq(out.r[0].end, 0);
    cr_assert_eq(out.r[1].id, 31);
    cr_assert_eq(out.r[1].end, 0);
    cr_assert_eq(out.r[2].id, 32);
    cr_assert_neq(out.r[2].end, 0);
    /* The ancestors were announced once: a second child does not repeat them. */
    begin(&a, 33, 3, 31, 4, "leaf 2");
    end(&a, 33, 5);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 4);
    cr_assert_eq(out.r[3].id, 33);
    weft__asm_fini(&a);
}

Test(assembler, counts_spans_beyond_the_open_span_limit_as_dropped_open)
{
    weft__asm a;
    setup(&a, 3, -1, false, 1u << 20);
    for (uint64_t id = 1; id <= 5; id++)
        begin(&a, id, id, 0, id, "span");
    cr_assert_eq(STAT(dropped_open), 2);
    cr_assert_eq(STAT(open_spans), 3);
    for (uint64_t id = 1; id <= 5; id++)
        end(&a, id, 100);
    for (int i = 0; i < 3; i++)
        weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 3);
    for (uint64_t id = 1; id <= 3; id++)
        cr_assert_not_null(find(id));
    cr_assert_eq(STAT(noop_calls), 2, "the ends of the dropped spans found nothing");
    cr_assert_eq(STAT(open_spans), 0);
    /* Room again once the table emptied. */
    begin(&a, 6, 6, 0, 1, "after");
    end(&a, 6, 2);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 4);
    cr_assert_eq(STAT(dropped_open), 2);
    weft__asm_fini(&a);
}

Test(assembler, grows_the_open_span_table_without_losing_a_span)
{
    weft__asm a;
    setup(&a, 100000, -1, false, 1u << 20);
    enum { N = 3000 };
    for (uint64_t id = 1; id <= N; id++)
        begin(&a, id * 0x10001, 1, id == 1 ? 0 : 0x10001, id, "many");
    cr_assert_eq(STAT(open_spans), N);
    for (uint64_t id = N; id >= 1; id--)
        end(&a, id * 0x10001, 10 * N + id);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, N);
    for (uint64_t id = 1; id <= N; id++) {
        const got *g = find(id * 0x10001);
        cr_assert_not_null(g, "span %llu lost", (unsigned long long)id);
        cr_assert_eq(g->start, UNIX0 + id);
    }
    cr_assert_eq(STAT(open_spans), 0);
    cr_assert_eq(STAT(dropped_open), 0);
    weft__asm_fini(&a);
}

Test(assembler, finish_emits_ended_spans_and_open_ones_as_final_open)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 40, 4, 0, 0, "open root");
    begin(&a, 41, 4, 40, 1, "ended child");
    end(&a, 41, 2);
    weft__asm_finish(&a);
    cr_assert_eq(out.n, 2);
    cr_assert_eq(out.r[0].id, 41);
    cr_assert_not(out.r[0].final_open);
    cr_assert_eq(out.r[1].id, 40);
    cr_assert(out.r[1].final_open);
    cr_assert_eq(out.r[1].end, 0);
    weft__asm_fini(&a);
}

Test(assembler, keeps_invalid_json_as_text_and_counts_it)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 50, 5, 0, 0, "json");
    attr_bytes(&a, 50, WEFT_OUTPUT, "bad", "{\"a\":", 5, WEFT__V_JSON);
    end(&a, 50, 1);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    cr_assert(has(&out.r[0], "output.bad=\"{\\\"a\\\":\"\n"), "%s", out.r[0].attrs);
    cr_assert_eq(STAT(invalid_json), 1);
    weft__asm_fini(&a);
}

Test(assembler, repairs_and_cuts_strings_at_max_attr_bytes_and_counts_both)
{
    weft__asm a;
    setup(&a, 1000, -1, false, 8);
    begin(&a, 60, 6, 0, 0, "text");
    attr_str(&a, 60, WEFT_INPUT, "long", "0123456789abcdef");
    attr_bytes(&a, 60, WEFT_INPUT, "bad", "a\xff", 2, WEFT__V_STR);
    end(&a, 60, 1);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1);
    const got *g = &out.r[0];
    cr_assert(has(g, "input.long=\"01234567"), "%s", g->attrs);
    cr_assert(has(g, "truncated 8 bytes]\"\n"), "%s", g->attrs);
    cr_assert(has(g, "input.bad=\"a\xef\xbf\xbd\"\n"), "%s", g->attrs);
    cr_assert_eq(STAT(truncated_attrs), 1);
    cr_assert_eq(STAT(repaired_utf8), 1);
    weft__asm_fini(&a);
}

Test(assembler, a_malformed_event_is_an_internal_error_not_a_crash)
{
    weft__asm a;
    std_setup(&a);
    begin(&a, 70, 7, 0, 0, "victim");
    weft__ev_attr *e = attr_head(70, WEFT_INPUT, "k", 0, WEFT__V_STR);
    e->key_len = 4000; /* beyond the event */
    weft__asm_event(&a, &e->h);
    cr_assert_eq(STAT(internal_errors), 1);
    weft__ev zero = {sizeof zero, WEFT__EV_STATUS, 0, 0}; /* span id 0: the table's empty marker */
    weft__asm_event(&a, &zero);
    cr_assert_eq(STAT(internal_errors), 2);
    weft__ev unknown = {sizeof unknown, 15, 0, 70};
    weft__asm_event(&a, &unknown);
    cr_assert_eq(STAT(internal_errors), 3);
    cr_assert_eq(atomic_load(&weft__rt.hot.enabled), 0, "tracing is turned off");
    end(&a, 70, 1);
    weft__asm_round_end(&a, UNIX0);
    weft__asm_round_end(&a, UNIX0);
    cr_assert_eq(out.n, 1, "the span itself is intact");
    cr_assert_not(has(&out.r[0], "input."), "no attribute was taken: %s", out.r[0].attrs);
    weft__asm_fini(&a);
}

/* ---- rounds that read some rings only in part (weft__asm_round_end_at) ---------------- */

/* The frontier after a round in which ring `lag` has been read past a head of round
 * `lag_caught` only, and every other ring past one of round `others`. */
static weft__asm_frontier lagging(uint32_t lag, uint64_t lag_caught, uint64_t others)
{
    return (weft__asm_frontier){lag_caught, others, lag};
}

Test(assembler, waits_for_a_lagging_ring_before_emitting_a_span_that_ended_on_another)
{
    weft__asm a;
    std_setup(&a);
    uint64_t r0 = a.round;
    weft__asm_source(&a, 1);
    begin(&a, 5, 5, 0, 100, "root on ring 1");
    end(&a, 5, 200);
    /* Ring 0 is far behind: something it holds may still be about span 5. */
    for (int i = 0; i < 10; i++) {
        weft__asm_frontier f = lagging(0, r0, a.round);
        weft__asm_round_end_at(&a, UNIX0, &f);
        cr_assert_eq(out.n, 0, "emitted in round %d while ring 0 had not been read past it", i);
    }
    /* Ring 0 catches up with a head it had after the end was read: now the span is final. */
    weft__asm_source(&a, 0);
    attr_str(&a, 5, WEFT_OUTPUT, "late", "from ring 0");
    weft__asm_frontier f = lagging(0, r0 + 1, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f);
    cr_assert_eq(out.n, 1);
    cr_assert(has(&out.r[0], "output.late=\"from ring 0\"\n"), "%s", out.r[0].attrs);
    weft__asm_fini(&a);
}

Test(assembler, emits_the_lagging_rings_own_spans_without_waiting_for_the_ring_itself)
{
    weft__asm a;
    std_setup(&a);
    uint64_t r0 = a.round;
    /* Ring 3 is the one behind (a deep backlog read a slice a round); its own spans are read
     * in order, so only the other rings must have been read past them. */
    weft__asm_source(&a, 3);
    for (uint64_t id = 1; id <= 100; id++) {
        begin(&a, id, id, 0, 100, "slice");
        end(&a, id, 200);
    }
    weft__asm_frontier f = lagging(3, r0 - 1, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f);
    cr_assert_eq(out.n, 0, "a round later, not in the round they were read");
    f = lagging(3, r0 - 1, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f);
    cr_assert_eq(out.n, 100, "every span of the slice once the other rings were read past it");
    cr_assert_eq(a.ended.n, 0);
    weft__asm_fini(&a);
}

Test(assembler, keeps_a_parked_event_while_the_ring_of_its_begin_lags_and_applies_it_later)
{
    weft__asm a;
    std_setup(&a);
    uint64_t r0 = a.round;
    /* Ring 2 set an attribute on a span whose begin sits deep in ring 0's backlog. */
    weft__asm_source(&a, 2);
    attr_str(&a, 8, WEFT_INPUT, "question", "asked elsewhere");
    for (int i = 0; i < 20; i++) {
        weft__asm_frontier f = lagging(0, r0 - 1, a.round);
        weft__asm_round_end_at(&a, UNIX0, &f);
    }
    cr_assert_eq(STAT(noop_calls), 0, "not given up while the begin may still come");
    weft__asm_source(&a, 0);
    begin(&a, 8, 8, 0, 100, "deep in the backlog");
    end(&a, 8, 300);
    for (int i = 0; i < 3; i++) {
        weft__asm_frontier f = lagging(0, a.round, a.round);
        weft__asm_round_end_at(&a, UNIX0, &f);
    }
    cr_assert_eq(out.n, 1);
    cr_assert(has(&out.r[0], "input.question=\"asked elsewhere\"\n"), "%s", out.r[0].attrs);
    cr_assert_eq(STAT(noop_calls), 0);
    weft__asm_fini(&a);
}

Test(assembler, counts_a_parked_event_as_a_no_op_once_every_ring_is_past_it)
{
    weft__asm a;
    std_setup(&a);
    uint64_t r0 = a.round;
    weft__asm_source(&a, 2);
    attr_str(&a, 9, WEFT_INPUT, "orphan", "no begin anywhere");
    weft__asm_frontier f = lagging(0, r0 - 1, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f);
    f = lagging(0, r0, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f); /* ring 0 now past a head of the parking round */
    cr_assert_eq(STAT(noop_calls), 0, "final only once ring 0 is past a head of a later round");
    f = lagging(0, r0 + 1, a.round);
    weft__asm_round_end_at(&a, UNIX0, &f);
    cr_assert_eq(STAT(noop_calls), 1);
    cr_assert_eq(a.parked.len, 0);
    weft__asm_fini(&a);
}
