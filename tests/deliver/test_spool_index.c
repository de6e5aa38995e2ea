/*
 * test_spool_index.c — the replay index of the disk spool (src/deliver/spool_index.c) on its
 * own: what weft__spool_ix_pick chooses (parents first across files, children of a record in
 * flight held back, chains kept whole, cycles cut), the cap, the queues, and the hash checked
 * against a plain list under random churn. No files: spool_replay.c's tests
 * (test_spool_replay.c) drive it through the spool.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "spool_index.h"

/* Adds a completed record (trace, id, parent) as record `seq` of `file`, listed in q. */
static uint32_t put(weft__spool_ix *ix, weft__spool_ixq *q, uint64_t trace, uint64_t id,
                    uint64_t parent, uint64_t seq, uint32_t file)
{
    weft__spool_ixent proto = {.trace = trace, .id = id, .parent = parent, .seq = seq,
                               .off = 16 + seq * 100, .file = file, .jlen = 50,
                               .flags = WEFT__IX_EXACT};
    uint32_t x = weft__spool_ix_add(ix, &proto);
    cr_assert_neq(x, WEFT__IX_NONE);
    cr_assert(weft__spool_ixq_insert(ix, q, &x, 1));
    return x;
}

/* Picks from the queues and returns the span ids in sending order (into ids, n returned). */
static size_t pick_ids(weft__spool_ix *ix, weft__spool_ixq **qs, size_t nq, size_t max_items,
                       size_t max_bytes, uint32_t *picked, uint64_t *ids)
{
    size_t n = weft__spool_ix_pick(ix, qs, nq, max_items, max_bytes, picked);
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(ix->e[picked[k]].state, WEFT__IX_PLACING);
        ids[k] = ix->e[picked[k]].id;
    }
    return n;
}

/* The caller's side of a pick: every entry picked becomes TAKEN (sent). */
static void take_all(weft__spool_ix *ix, const uint32_t *picked, size_t n)
{
    for (size_t k = 0; k < n; k++)
        ix->e[picked[k]].state = WEFT__IX_TAKEN;
}

static void drop_all(weft__spool_ix *ix, const uint32_t *picked, size_t n)
{
    for (size_t k = 0; k < n; k++)
        weft__spool_ix_drop(ix, picked[k]);
}

Test(spool_index, picks_a_parent_written_after_its_children_first)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    /* As the assembler writes a flush: children, then their root. */
    put(&ix, &q, 1, 11, 13, 0, 1);
    put(&ix, &q, 1, 12, 13, 1, 1);
    put(&ix, &q, 1, 13, 0, 2, 1);
    put(&ix, &q, 2, 21, 0, 3, 1);
    weft__spool_ixq *qs[] = {&q};
    uint32_t picked[8];
    uint64_t ids[8];
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 4);
    cr_expect_eq(ids[0], 13);
    cr_expect_eq(ids[1], 11);
    cr_expect_eq(ids[2], 12);
    cr_expect_eq(ids[3], 21);
    cr_expect_eq(q.n, 0, "what was picked is no longer listed");
    drop_all(&ix, picked, 4);
    cr_expect_eq(ix.live, 0);
    cr_expect_eq(ix.used, 0);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, holds_children_back_while_their_parent_is_in_flight)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    put(&ix, &q, 1, 11, 13, 0, 1);
    put(&ix, &q, 1, 12, 13, 1, 1);
    put(&ix, &q, 1, 13, 0, 2, 1);
    weft__spool_ixq *qs[] = {&q};
    uint32_t picked[8], root[1];
    uint64_t ids[8];
    /* A batch of one: the root alone, then in flight. */
    cr_assert_eq(pick_ids(&ix, qs, 1, 1, 1u << 20, root, ids), 1);
    cr_expect_eq(ids[0], 13);
    take_all(&ix, root, 1);
    cr_expect_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 0,
                 "a child went while its parent was in flight");
    cr_expect_eq(q.n, 2, "the waiting children stay listed");
    /* Failed: back to pending, then it goes first again, with its children. */
    ix.e[root[0]].state = WEFT__IX_PENDING;
    cr_assert(weft__spool_ixq_insert(&ix, &q, root, 1));
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 3);
    cr_expect_eq(ids[0], 13);
    take_all(&ix, picked, 3);
    /* The root acknowledged alone: nothing left to pick, two still in flight. */
    weft__spool_ix_drop(&ix, picked[0]);
    cr_expect_eq(ix.live, 2);
    drop_all(&ix, picked + 1, 2);
    cr_expect_eq(ix.live, 0);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, a_child_waits_for_its_parent_then_goes_after_its_acknowledgement)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    put(&ix, &q, 1, 13, 0, 0, 1);
    weft__spool_ixq *qs[] = {&q};
    uint32_t picked[8], root[1];
    uint64_t ids[8];
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, root, ids), 1);
    take_all(&ix, root, 1);
    /* Given up while the root is in flight: it waits. */
    put(&ix, &q, 1, 11, 13, 1, 1);
    cr_expect_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 0);
    weft__spool_ix_drop(&ix, root[0]); /* acknowledged */
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 1);
    cr_expect_eq(ids[0], 11);
    drop_all(&ix, picked, 1);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, finds_a_parent_in_another_file)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq old = {0}, young = {0};
    put(&ix, &old, 5, 51, 50, 0, 1);
    put(&ix, &old, 6, 61, 0, 1, 1);
    put(&ix, &old, 7, 71, 0, 2, 1);
    put(&ix, &young, 5, 50, 0, 0, 2);
    weft__spool_ixq *qs[] = {&old, &young};
    uint32_t picked[8];
    uint64_t ids[8];
    cr_assert_eq(pick_ids(&ix, qs, 2, 3, 1u << 20, picked, ids), 3);
    cr_expect_eq(ids[0], 50);
    cr_expect_eq(ids[1], 51);
    cr_expect_eq(ids[2], 61);
    drop_all(&ix, picked, 3);
    /* The batch filled before the young file's queue was looked through: it still names the
     * root it gave, a zombie until the queue forgets it. */
    cr_expect_eq(young.n, 1);
    cr_expect_eq(ix.used, 2);
    cr_expect_eq(ix.live, 1);
    weft__spool_ixq_clear(&ix, &young);
    cr_expect_eq(ix.used, 1);
    cr_assert_eq(pick_ids(&ix, qs, 2, 3, 1u << 20, picked, ids), 1);
    cr_expect_eq(ids[0], 71);
    drop_all(&ix, picked, 1);
    cr_expect_eq(ix.used, 0);
    weft__spool_ixq_fini(&old);
    weft__spool_ixq_fini(&young);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, a_chain_goes_whole_or_leads_the_next_batch)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    put(&ix, &q, 1, 10, 0, 0, 1);
    put(&ix, &q, 2, 21, 20, 1, 1);
    put(&ix, &q, 2, 20, 0, 2, 1);
    weft__spool_ixq *qs[] = {&q};
    uint32_t picked[8];
    uint64_t ids[8];
    /* Room for two: trace 2's chain (20 then 21) does not fit beside 10. */
    cr_assert_eq(pick_ids(&ix, qs, 1, 2, 1u << 20, picked, ids), 1);
    cr_expect_eq(ids[0], 10);
    drop_all(&ix, picked, 1);
    cr_assert_eq(pick_ids(&ix, qs, 1, 2, 1u << 20, picked, ids), 2);
    cr_expect_eq(ids[0], 20);
    cr_expect_eq(ids[1], 21);
    drop_all(&ix, picked, 2);
    /* The byte limit counts jlen + 1 per record: 51 each. */
    put(&ix, &q, 3, 30, 0, 3, 1);
    put(&ix, &q, 4, 41, 40, 4, 1);
    put(&ix, &q, 4, 40, 0, 5, 1);
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 102, picked, ids), 1);
    cr_expect_eq(ids[0], 30);
    drop_all(&ix, picked, 1);
    /* A chain longer than a whole batch: its topmost part first, the rest after it ends. */
    for (uint64_t d = 0; d < 5; d++)
        put(&ix, &q, 9, 95 - d, d == 4 ? 0 : 94 - d, 10 + d, 1); /* 95 -> 94 -> ... -> 91 */
    cr_assert_eq(pick_ids(&ix, qs, 1, 2, 1u << 20, picked, ids), 2);
    cr_expect_eq(ids[0], 40);
    cr_expect_eq(ids[1], 41);
    drop_all(&ix, picked, 2);
    cr_assert_eq(pick_ids(&ix, qs, 1, 2, 1u << 20, picked, ids), 2);
    cr_expect_eq(ids[0], 91);
    cr_expect_eq(ids[1], 92);
    take_all(&ix, picked, 2);
    uint32_t more[8];
    cr_expect_eq(pick_ids(&ix, qs, 1, 2, 1u << 20, more, ids), 0);
    drop_all(&ix, picked, 2);
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 3);
    cr_expect_eq(ids[0], 93);
    cr_expect_eq(ids[2], 95);
    drop_all(&ix, picked, 3);
    weft__spool_ixq_clear(&ix, &q);
    cr_expect_eq(ix.used, 0);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, cuts_a_parent_cycle_where_it_is_met)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    put(&ix, &q, 1, 1, 2, 0, 1);
    put(&ix, &q, 1, 2, 3, 1, 1);
    put(&ix, &q, 1, 3, 1, 2, 1);
    put(&ix, &q, 1, 4, 4, 3, 1);
    weft__spool_ixq *qs[] = {&q};
    uint32_t picked[8];
    uint64_t ids[8];
    cr_assert_eq(pick_ids(&ix, qs, 1, 8, 1u << 20, picked, ids), 4);
    unsigned seen = 0;
    for (size_t k = 0; k < 4; k++)
        seen |= 1u << ids[k];
    cr_expect_eq(seen, 0x1e, "every record once");
    for (size_t k = 0; k < ix.n; k++)
        cr_expect_eq(ix.e[k].flags & WEFT__IX_VISIT, 0);
    drop_all(&ix, picked, 4);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, holds_no_more_entries_than_its_cap)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 4);
    weft__spool_ixq q = {0};
    cr_expect(weft__spool_ix_room(&ix, 4));
    cr_expect_not(weft__spool_ix_room(&ix, 5));
    for (uint64_t k = 0; k < 4; k++)
        put(&ix, &q, 1, k + 1, 0, k, 1);
    weft__spool_ixent proto = {.trace = 1, .id = 9, .seq = 9, .file = 1};
    cr_expect_eq(weft__spool_ix_add(&ix, &proto), WEFT__IX_NONE);
    cr_expect_not(weft__spool_ix_room(&ix, 1));
    weft__spool_ixq_clear(&ix, &q);
    /* A dropped entry's room is used again. */
    weft__spool_ix_drop(&ix, 0);
    cr_expect(weft__spool_ix_room(&ix, 1));
    cr_expect_eq(weft__spool_ix_add(&ix, &proto), 0);
    cr_expect_eq(ix.n, 4, "the pool did not grow past its cap");
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, lists_a_queue_in_record_order_whatever_order_records_join_it)
{
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, 100);
    weft__spool_ixq q = {0};
    uint32_t x[10];
    for (uint64_t k = 0; k < 10; k++) {
        weft__spool_ixent proto = {.trace = 1, .id = k + 1, .seq = k, .file = 1};
        x[k] = weft__spool_ix_add(&ix, &proto);
    }
    uint32_t late[] = {x[6], x[7], x[8]}, early[] = {x[0], x[1], x[5]}, mid[] = {x[2], x[3], x[4], x[9]};
    cr_assert(weft__spool_ixq_insert(&ix, &q, late, 3));
    cr_assert(weft__spool_ixq_insert(&ix, &q, early, 3));
    cr_assert(weft__spool_ixq_insert(&ix, &q, mid, 4));
    cr_assert(weft__spool_ixq_insert(&ix, &q, early, 3), "listing again changes nothing");
    cr_assert_eq(q.n, 10);
    for (size_t k = 0; k < 10; k++)
        cr_expect_eq(ix.e[q.ids[k]].seq, k, "position %zu", k);
    weft__spool_ixq_clear(&ix, &q);
    for (size_t k = 0; k < 10; k++)
        cr_expect_eq(ix.e[x[k]].flags & WEFT__IX_IN_Q, 0);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}

/* xorshift: the churn below is the same on every run. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

Test(spool_index, finds_exactly_what_a_plain_list_holds_under_random_churn)
{
    enum { N = 4000 };
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, N);
    uint32_t *where = malloc(N * sizeof *where); /* record k -> entry, or NONE */
    for (size_t k = 0; k < N; k++)
        where[k] = WEFT__IX_NONE;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int step = 0; step < 200000; step++) {
        /* Few traces and ids that collide in the low bits: long probe runs, many deletions. */
        size_t k = (size_t)(next_rand(&s) % N);
        uint64_t trace = k % 7, id = (k / 7) * 1024 + 1;
        if (where[k] == WEFT__IX_NONE) {
            weft__spool_ixent proto = {.trace = trace, .id = id, .seq = k, .file = (uint32_t)(k % 3)};
            where[k] = weft__spool_ix_add(&ix, &proto);
            cr_assert_neq(where[k], WEFT__IX_NONE);
        } else {
            weft__spool_ix_drop(&ix, where[k]);
            where[k] = WEFT__IX_NONE;
        }
        if (step % 1000 == 0) {
            uint32_t live = 0;
            for (size_t r = 0; r < N; r++) {
                uint32_t got = weft__spool_ix_find(&ix, r % 7, (r / 7) * 1024 + 1, (uint32_t)(r % 3), r);
                cr_assert_eq(got, where[r], "record %zu at step %d", r, step);
                live += where[r] != WEFT__IX_NONE;
            }
            cr_assert_eq(ix.live, live);
            cr_assert_eq(ix.used, live);
        }
    }
    free(where);
    weft__spool_ix_fini(&ix);
}

Test(spool_index, takes_at_most_76_bytes_a_record_when_full)
{
    enum { MAX = 1 << 12 };
    cr_expect_eq(sizeof(weft__spool_ixent), 56);
    weft__spool_ix ix;
    weft__spool_ix_init(&ix, MAX);
    weft__spool_ixq q = {0};
    for (uint64_t k = 0; k < MAX; k++)
        put(&ix, &q, k % 13, k + 1, 0, k, 1);
    size_t bytes = (size_t)ix.cap * sizeof *ix.e + (ix.mask + 1) * sizeof *ix.slot +
                   q.cap * sizeof *q.ids;
    cr_expect_eq(ix.cap, MAX);
    cr_expect_leq(bytes, (size_t)76 * MAX, "%zu bytes for %d records", bytes, MAX);
    weft__spool_ixq_clear(&ix, &q);
    weft__spool_ixq_fini(&q);
    weft__spool_ix_fini(&ix);
}
