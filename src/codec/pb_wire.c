/*
 * pb_wire.c — the out-of-line part of pb_wire.h: a length-delimited field whose length needs
 * more or fewer bytes than were left for it.
 */
#include "pb_wire.h"

bool weft__pb_close_move(weft__buf *b, size_t at, size_t guess)
{
    size_t len = b->len - at - guess, need = weft__pb_varint_len(len);
    if (need > guess) {
        if (!weft__buf_reserve(b, need - guess))
            return false;
        memmove(b->data + at + need, b->data + at + guess, len);
        b->len += need - guess;
    } else if (need < guess) {
        memmove(b->data + at + need, b->data + at + guess, len);
        b->len -= guess - need;
    }
    weft__pb_put_varint((uint8_t *)b->data + at, len);
    return true;
}
