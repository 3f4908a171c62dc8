#pragma once
// Text-format conversions between PostgreSQL values and C++ types, parameter lists
// and typed access to result rows. The session runs with TimeZone=UTC and
// DateStyle=ISO, so timestamptz arrives as "2024-05-01 12:34:56.789+00".

#include <libpq-fe.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace portcullis::store::pg {

using time_point = std::chrono::system_clock::time_point;

// Pure parsers: false on malformed text (never throw).
bool parse_int64(std::string_view text, std::int64_t& out) noexcept;
bool parse_bool(std::string_view text, bool& out) noexcept;
bool parse_timestamp(std::string_view text, time_point& out) noexcept;
// "2024-05-01 12:34:56.789012+00" (microseconds, UTC): accepted by timestamptz input.
std::string format_timestamp(time_point t);
// True for the canonical 8-4-4-4-12 hex form (either case); guards uuid parameters,
// so a malformed id is "not found" instead of a server error.
bool is_uuid(std::string_view text) noexcept;
// A random (version 4) uuid in canonical lowercase form, from the kernel CSPRNG.
std::string random_uuid();
// Escapes LIKE wildcards (% _ \) so `text` matches literally; use with ESCAPE '\'.
std::string escape_like(std::string_view text);

// Parameters of one statement, text format. Values are copied.
class params {
public:
    params() = default;
    template <class... A>
    explicit params(const A&... a)
    {
        values_.reserve(sizeof...(A));
        (add(a), ...);
    }

    params& add(std::string_view v)
    {
        values_.emplace_back(std::string(v));
        return *this;
    }
    params& add(const char* v) { return add(std::string_view(v)); }
    params& add(const std::string& v) { return add(std::string_view(v)); }
    params& add(bool v)
    {
        values_.emplace_back(std::string(v ? "t" : "f"));
        return *this;
    }
    template <std::integral I>
    requires(!std::same_as<I, bool>) params& add(I v)
    {
        values_.emplace_back(std::to_string(v));
        return *this;
    }
    params& add(time_point v)
    {
        values_.emplace_back(format_timestamp(v));
        return *this;
    }
    params& add(std::nullopt_t)
    {
        values_.emplace_back(std::nullopt);
        return *this;
    }
    template <class T>
    params& add(const std::optional<T>& v)
    {
        if (v) return add(*v);
        return add(std::nullopt);
    }

    int size() const noexcept { return static_cast<int>(values_.size()); }
    // Pointer array for PQsendQueryPrepared; valid until the next add().
    const char* const* pointers() const;

private:
    std::vector<std::optional<std::string>> values_;
    mutable std::vector<const char*> pointers_;
};

// Thrown by row::get when a column does not hold the requested type: a bug in our
// SQL, never a user error. The message names the column index, not its content.
class column_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

class row {
public:
    row(const PGresult* res, int index) noexcept : res_(res), index_(index) {}

    bool is_null(int col) const noexcept { return PQgetisnull(res_, index_, col) != 0; }
    std::string_view text(int col) const noexcept
    {
        return {PQgetvalue(res_, index_, col), static_cast<std::size_t>(PQgetlength(res_, index_, col))};
    }

    // T: std::string, std::string_view (valid while the result lives), std::int64_t,
    // std::int32_t, bool, time_point, or std::optional of one of them (NULL → nullopt).
    template <class T>
    T get(int col) const
    {
        if constexpr (is_optional<T>::value) {
            if (is_null(col)) return std::nullopt;
            return get<typename T::value_type>(col);
        } else {
            if (is_null(col)) throw column_error("NULL in non-optional column " + std::to_string(col));
            auto t = text(col);
            if constexpr (std::is_same_v<T, std::string>) {
                return std::string(t);
            } else if constexpr (std::is_same_v<T, std::string_view>) {
                return t;
            } else if constexpr (std::is_same_v<T, bool>) {
                bool v = false;
                if (!parse_bool(t, v)) bad(col);
                return v;
            } else if constexpr (std::is_integral_v<T>) {
                std::int64_t v = 0;
                if (!parse_int64(t, v) || v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
                    bad(col);
                }
                return static_cast<T>(v);
            } else if constexpr (std::is_same_v<T, time_point>) {
                time_point v{};
                if (!parse_timestamp(t, v)) bad(col);
                return v;
            } else {
                static_assert(sizeof(T) == 0, "unsupported column type");
            }
        }
    }

private:
    template <class U>
    struct is_optional : std::false_type {
    };
    template <class U>
    struct is_optional<std::optional<U>> : std::true_type {
    };

    [[noreturn]] static void bad(int col) { throw column_error("unexpected text in column " + std::to_string(col)); }

    const PGresult* res_;
    int index_;
};

// An owned PGresult of a successful command: its rows.
class rowset {
public:
    rowset() = default;
    explicit rowset(PGresult* r) noexcept : res_(r) {}

    int size() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
    bool empty() const noexcept { return size() == 0; }
    row operator[](int i) const noexcept { return row(res_.get(), i); }
    row front() const noexcept { return row(res_.get(), 0); }
    // Rows touched by INSERT/UPDATE/DELETE (PQcmdTuples), 0 when not applicable.
    std::int64_t affected() const noexcept;

private:
    struct clear {
        void operator()(PGresult* r) const noexcept { PQclear(r); }
    };
    std::unique_ptr<PGresult, clear> res_;
};

}  // namespace portcullis::store::pg
