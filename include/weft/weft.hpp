/*
 * weft.hpp — a header-only C++17 layer over weft.h: a scoped span that ends when it goes out
 * of scope (exceptions included: a span unwound by an exception ends with status ERROR), a
 * scope object for weft_span_activate, setters for every integer type, floating point, bool
 * and strings, and containers of the RAG types. Everything forwards to the C API; same
 * threading rules. Every method tests the span's off/sampled-out mark inline (weft/quiet.h)
 * before calling in, and begin and end inside a sampled-out trace go through the calling
 * thread's quiet region inline, so a call that records nothing costs no call at all.
 */
#ifndef WEFT_WEFT_HPP
#define WEFT_WEFT_HPP

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/weft.h"

namespace weft {

/* A span that ends in its destructor. Movable, not copyable. Begins as a child of the calling
 * thread's current span and becomes current (weft_span_begin), or under an explicit parent
 * without touching the context (weft_span_begin_child).
 *
 * Exceptions: when the destructor runs because an exception is unwinding through the scope
 * the span was created in (std::uncaught_exceptions() is higher than at construction), the
 * span ends with status ERROR, unless a status was set on it through this object. A span
 * ended with end() before that keeps its status. */
/* Inlined at every use whatever the compiler's size heuristics say: an out-of-line
 * constructor copies the library's answer through memory and stalls on it (2 ns more per
 * span while disabled, measured in bench_hotpath_cpp). */
#define WEFT__SPAN_INLINE_ __attribute__((always_inline)) inline

class Span {
  public:
    WEFT__SPAN_INLINE_ Span(const char *name, weft_span_type type) noexcept
    {
        if (!weft__quiet_child_(&s_) && !weft__quiet_root_(&s_))
            s_ = weft_span_begin(name, type);
        arm();
    }
    WEFT__SPAN_INLINE_ Span(weft_span parent, const char *name, weft_span_type type) noexcept
    {
        if (!weft__quiet_orphan_(parent, &s_))
            s_ = weft_span_begin_child(parent, name, type);
        arm();
    }
    /* Adopts a span begun elsewhere (ends it on destruction). */
    explicit Span(weft_span adopted) noexcept : s_(adopted) { arm(); }
    Span(const Span &) = delete;
    Span &operator=(const Span &) = delete;
    Span(Span &&o) noexcept
        : s_(std::exchange(o.s_, weft_span{0, 0, 0, 0, 0})), exceptions_(o.exceptions_), status_set_(o.status_set_)
    {
    }
    Span &operator=(Span &&o) noexcept
    {
        if (this != &o) {
            end();
            s_ = std::exchange(o.s_, weft_span{0, 0, 0, 0, 0});
            exceptions_ = o.exceptions_;
            status_set_ = o.status_set_;
        }
        return *this;
    }
    WEFT__SPAN_INLINE_ ~Span()
    {
        if (WEFT__SPAN_GONE_(s_) || weft__quiet_end_(s_))
            return;
        if (!WEFT__SPAN_QUIET_(s_) && !status_set_ && s_.id && std::uncaught_exceptions() > exceptions_)
            weft_span_set_status(s_, WEFT_STATUS_ERROR);
        if (s_.id)
            weft_span_end(s_);
    }

    /* Ends now (idempotent). */
    WEFT__SPAN_INLINE_ void end() noexcept
    {
        if (!WEFT__SPAN_GONE_(s_) && !weft__quiet_end_(s_) && s_.id)
            weft_span_end(s_);
        s_ = weft_span{0, 0, 0, 0, 0};
    }
    weft_span get() const noexcept { return s_; }
    operator weft_span() const noexcept { return s_; }
    /* True when calls on it are recorded (weft_span_is_valid). */
    bool recording() const noexcept { return weft_span_is_valid(s_); }
    /* The span's ids as text (weft_span_get_ids); all empty strings for the zero span. */
    weft_ids ids() const noexcept
    {
        weft_ids v{};
        if (weft_span_get_ids(s_, &v) != 0)
            v = weft_ids{};
        return v;
    }

    /* Strings. std::string converts to std::string_view; nullptr is an empty string. */
    Span &set(weft_section sec, const char *key, std::string_view v) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_strn(s_, sec, key, v.data(), v.size());
        return *this;
    }
    Span &set(weft_section sec, const char *key, const std::string &v) noexcept
    {
        return set(sec, key, std::string_view(v));
    }
    Span &set(weft_section sec, const char *key, const char *v) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_str(s_, sec, key, v);
        return *this;
    }
    Span &set(weft_section sec, const char *key, bool v) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_bool(s_, sec, key, v);
        return *this;
    }
    /* Every integer type (char types included, as numbers): signed ones and unsigned ones up to
     * INT64_MAX as JSON integers; an unsigned value above INT64_MAX as the nearest double
     * (many JSON readers refuse integers past int64). */
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
    Span &set(weft_section sec, const char *key, T v) noexcept
    {
        if (WEFT__SPAN_QUIET_(s_))
            return *this;
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
            if (v > (T)INT64_MAX) {
                weft_span_set_f64(s_, sec, key, (double)v);
                return *this;
            }
        }
        weft_span_set_i64(s_, sec, key, (int64_t)v);
        return *this;
    }
    /* float, double, long double (sent as double). */
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Span &set(weft_section sec, const char *key, T v) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_f64(s_, sec, key, (double)v);
        return *this;
    }
    Span &set_json(weft_section sec, const char *key, std::string_view json) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_json(s_, sec, key, json.data(), json.size());
        return *this;
    }
    Span &set_msgpack(weft_section sec, const char *key, const void *data, size_t len) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_msgpack(s_, sec, key, data, len);
        return *this;
    }
    Span &status(weft_status st) noexcept
    {
        status_set_ = true;
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_status(s_, st);
        return *this;
    }
    Span &error(const char *type, const char *message) noexcept
    {
        status_set_ = true;
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_error(s_, type, message);
        return *this;
    }
    Span &group_id(const char *id) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_group_id(s_, id);
        return *this;
    }
    Span &application_variant_id(const char *id) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_application_variant_id(s_, id);
        return *this;
    }
    Span &application_interaction_id(const char *id) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_application_interaction_id(s_, id);
        return *this;
    }
    Span &usage(const weft_usage &u) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_usage(s_, &u);
        return *this;
    }
    Span &message(weft_section sec, const weft_message &m) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_add_message(s_, sec, &m);
        return *this;
    }
    Span &retrieval(const weft_retrieval_info &info) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_retrieval(s_, &info);
        return *this;
    }
    /* The hits of any contiguous container (std::vector, std::array, C array). */
    template <class Hits> Span &retrieval(weft_retrieval_info info, const Hits &hits) noexcept
    {
        if (WEFT__SPAN_QUIET_(s_))
            return *this;
        info.hits = std::data(hits);
        info.n_hits = std::size(hits);
        weft_span_set_retrieval(s_, &info);
        return *this;
    }
    Span &generation(const weft_generation_info &info) noexcept
    {
        if (!WEFT__SPAN_QUIET_(s_))
            weft_span_set_generation(s_, &info);
        return *this;
    }
    template <class Cites> Span &generation(weft_generation_info info, const Cites &citations) noexcept
    {
        if (WEFT__SPAN_QUIET_(s_))
            return *this;
        info.citations = std::data(citations);
        info.n_citations = std::size(citations);
        weft_span_set_generation(s_, &info);
        return *this;
    }

  private:
    /* Remembers how many exceptions were in flight when the span began (not for a span that
     * records nothing: its destructor never asks). */
    void arm() noexcept { exceptions_ = WEFT__SPAN_QUIET_(s_) ? 0 : std::uncaught_exceptions(); }

    weft_span s_;
    int exceptions_ = 0;
    bool status_set_ = false;
};

/* Makes a span current on the calling thread for the length of a C++ scope
 * (weft_span_activate / weft_scope_end): for a pool thread or a callback joining the caller's
 * trace. Not movable: a scope must end on the thread, and in the order, it was opened. */
class Scope {
  public:
    explicit Scope(weft_span span) noexcept : sc_(weft_span_activate(span)) {}
    Scope(const Scope &) = delete;
    Scope &operator=(const Scope &) = delete;
    ~Scope()
    {
        if (!WEFT__SPAN_GONE_(sc_))
            weft_scope_end(sc_);
    }

  private:
    weft_scope sc_;
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
