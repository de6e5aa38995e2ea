/*
 * weft.hpp — a header-only C++17 layer over weft.h: a scoped span that ends when it goes out
 * of scope (exceptions included), with setters taking std::string_view and containers of the
 * RAG types. Everything forwards to the C API; same threading rules, same costs.
 */
#ifndef WEFT_WEFT_HPP
#define WEFT_WEFT_HPP

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/weft.h"

namespace weft {

/* A span that ends in its destructor. Movable, not copyable. Begins as a child of the calling
 * thread's current span and becomes current (weft_span_begin), or under an explicit parent
 * without touching the context (weft_span_begin_child). */
class Span {
  public:
    Span(const char *name, weft_span_type type) noexcept : s_(weft_span_begin(name, type)) {}
    Span(weft_span parent, const char *name, weft_span_type type) noexcept
        : s_(weft_span_begin_child(parent, name, type)) {}
    /* Adopts a span begun elsewhere (ends it on destruction). */
    explicit Span(weft_span adopted) noexcept : s_(adopted) {}
    Span(const Span &) = delete;
    Span &operator=(const Span &) = delete;
    Span(Span &&o) noexcept : s_(std::exchange(o.s_, weft_span{0, 0, 0, 0, 0})) {}
    Span &operator=(Span &&o) noexcept
    {
        if (this != &o) {
            end();
            s_ = std::exchange(o.s_, weft_span{0, 0, 0, 0, 0});
        }
        return *this;
    }
    ~Span() { end(); }

    /* Ends now (idempotent). */
    void end() noexcept
    {
        if (s_.id || s_.flags)
            weft_span_end(s_);
        s_ = weft_span{0, 0, 0, 0, 0};
    }
    weft_span get() const noexcept { return s_; }
    operator weft_span() const noexcept { return s_; }

    Span &set(weft_section sec, const char *key, std::string_view v) noexcept
    {
        weft_span_set_strn(s_, sec, key, v.data(), v.size());
        return *this;
    }
    Span &set(weft_section sec, const char *key, const char *v) noexcept
    {
        weft_span_set_str(s_, sec, key, v);
        return *this;
    }
    Span &set(weft_section sec, const char *key, int64_t v) noexcept
    {
        weft_span_set_i64(s_, sec, key, v);
        return *this;
    }
    Span &set(weft_section sec, const char *key, int v) noexcept { return set(sec, key, (int64_t)v); }
    Span &set(weft_section sec, const char *key, double v) noexcept
    {
        weft_span_set_f64(s_, sec, key, v);
        return *this;
    }
    Span &set(weft_section sec, const char *key, bool v) noexcept
    {
        weft_span_set_bool(s_, sec, key, v);
        return *this;
    }
    Span &set_json(weft_section sec, const char *key, std::string_view json) noexcept
    {
        weft_span_set_json(s_, sec, key, json.data(), json.size());
        return *this;
    }
    Span &set_msgpack(weft_section sec, const char *key, const void *data, size_t len) noexcept
    {
        weft_span_set_msgpack(s_, sec, key, data, len);
        return *this;
    }
    Span &status(weft_status st) noexcept
    {
        weft_span_set_status(s_, st);
        return *this;
    }
    Span &error(const char *type, const char *message) noexcept
    {
        weft_span_set_error(s_, type, message);
        return *this;
    }
    Span &usage(const weft_usage &u) noexcept
    {
        weft_span_set_usage(s_, &u);
        return *this;
    }
    Span &message(weft_section sec, const weft_message &m) noexcept
    {
        weft_span_add_message(s_, sec, &m);
        return *this;
    }
    Span &retrieval(const weft_retrieval_info &info) noexcept
    {
        weft_span_set_retrieval(s_, &info);
        return *this;
    }
    /* The hits of any contiguous container (std::vector, std::array, C array). */
    template <class Hits> Span &retrieval(weft_retrieval_info info, const Hits &hits) noexcept
    {
        info.hits = std::data(hits);
        info.n_hits = std::size(hits);
        weft_span_set_retrieval(s_, &info);
        return *this;
    }
    Span &generation(const weft_generation_info &info) noexcept
    {
        weft_span_set_generation(s_, &info);
        return *this;
    }
    template <class Cites> Span &generation(weft_generation_info info, const Cites &citations) noexcept
    {
        info.citations = std::data(citations);
        info.n_citations = std::size(citations);
        weft_span_set_generation(s_, &info);
        return *this;
    }

  private:
    weft_span s_;
};

/* weft_init / weft_shutdown for the length of a scope (e.g. main). */
class Session {
  public:
    explicit Session(const weft_config *cfg = nullptr, uint32_t shutdown_timeout_ms = 5000) noexcept
        : rc_(weft_init(cfg)), timeout_(shutdown_timeout_ms) {}
    ~Session() { weft_shutdown(timeout_); }
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    int status() const noexcept { return rc_; }

  private:
    int rc_;
    uint32_t timeout_;
};

} // namespace weft

#endif
