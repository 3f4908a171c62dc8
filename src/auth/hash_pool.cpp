#include "auth/hash_pool.hpp"

#include "core/log.hpp"
#include "core/random.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace portcullis::auth {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

// One unit of work. It lives in the frame of the coroutine (or the benchmark) that
// submitted it, so queueing a job allocates nothing beyond the type-erased handler.
struct hash_pool::job {
    enum class kind { hash, verify, dummy };
    kind k = kind::hash;
    std::string_view password;
    std::string_view stored;
    steady::time_point enqueued{};
    boost::system::error_code ec;
    std::string hashed;
    verify_result verified;

    // Called exactly once, on a pool thread or in stop(). The job may be destroyed
    // by its owner as soon as this starts to return: touch nothing after it.
    virtual void complete() = 0;

protected:
    ~job() = default;
};

struct hash_pool_access {
    // Resumes the awaiting coroutine through its own executor.
    struct awaitable_job final : hash_pool::job {
        asio::any_completion_handler<void()> handler;
        asio::any_io_executor work;  // keeps the caller's io_context from running out of work

        void complete() override
        {
            auto h = std::move(handler);
            auto ex = std::move(work);
            asio::post(ex, std::move(h));
        }
    };

    struct bench_job final : hash_pool::job {
        std::mutex* m = nullptr;
        std::condition_variable* cv = nullptr;
        unsigned* remaining = nullptr;
        std::string secret;

        void complete() override
        {
            // Notify under the lock: the benchmark's stack (m, cv) may vanish right after.
            std::lock_guard lk(*m);
            --*remaining;
            cv->notify_all();
        }
    };

    struct initiate {
        hash_pool* pool;
        awaitable_job* j;

        template <class Handler>
        void operator()(Handler&& handler) const
        {
            j->work = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
            // Constructed then swapped: Boost 1.81's any_completion_handler move
            // assignment recurses forever (it copies from an lvalue into itself).
            asio::any_completion_handler<void()>(std::forward<Handler>(handler)).swap(j->handler);
            pool->push(j);
        }
    };

    static asio::awaitable<void> async_submit(hash_pool& pool, awaitable_job& j)
    {
        return asio::async_initiate<decltype(asio::use_awaitable), void()>(initiate{&pool, &j}, asio::use_awaitable);
    }
};

hash_pool::hash_pool(hash_pool_settings settings) : hasher_(settings.params)
{
    thread_count_ = settings.threads != 0 ? settings.threads : std::max(1u, std::thread::hardware_concurrency());
    limit_ = settings.queue_limit != 0 ? settings.queue_limit : std::size_t{64} * thread_count_;
    nice_ = std::clamp(settings.nice, 0, 19);
    ring_.assign(limit_, nullptr);
    threads_.reserve(thread_count_);
    for (unsigned i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { worker_loop(); });
}

hash_pool::~hash_pool()
{
    stop();
}

void hash_pool::stop()
{
    std::vector<job*> orphans;
    {
        std::lock_guard lk(mu_);
        if (!stopping_) {
            stopping_ = true;
            while (count_ > 0) {
                orphans.push_back(ring_[head_]);
                head_ = (head_ + 1) % limit_;
                --count_;
                --reserved_;
            }
        }
    }
    cv_.notify_all();
    for (job* j : orphans) {
        j->ec = make_error_code(core::errc::overloaded);
        j->complete();
    }
    std::lock_guard jl(join_mu_);
    for (auto& t : threads_) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
}

bool hash_pool::reserve_slot(bool count) noexcept
{
    {
        std::lock_guard lk(mu_);
        if (!stopping_ && reserved_ < limit_) {
            ++reserved_;
            return true;
        }
    }
    if (count) rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void hash_pool::push(job* j)
{
    j->enqueued = steady::now();
    {
        std::lock_guard lk(mu_);
        if (!stopping_) {
            ring_[(head_ + count_) % limit_] = j;
            ++count_;
            cv_.notify_one();
            return;
        }
        --reserved_;
    }
    j->ec = make_error_code(core::errc::overloaded);
    j->complete();
}

void hash_pool::worker_loop()
{
    // Linux applies niceness per thread (PRIO_PROCESS with a thread id).
    if (nice_ != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_) != 0) {
        core::log::warn("hash_thread_nice_failed", {{"nice", nice_}});
    }
    for (;;) {
        job* j = nullptr;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || count_ > 0; });
            if (count_ == 0) return;  // stopping and nothing left
            j = ring_[head_];
            head_ = (head_ + 1) % limit_;
            --count_;
            --reserved_;
        }
        const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - j->enqueued).count();
        const auto wait_us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, waited));
        total_wait_us_.fetch_add(wait_us, std::memory_order_relaxed);
        auto prev = max_wait_us_.load(std::memory_order_relaxed);
        while (wait_us > prev && !max_wait_us_.compare_exchange_weak(prev, wait_us, std::memory_order_relaxed)) {}

        try {
            switch (j->k) {
            case job::kind::hash: {
                auto r = hasher_.hash(j->password);
                if (r) {
                    j->hashed = std::move(*r);
                } else {
                    j->ec = r.error();
                }
                break;
            }
            case job::kind::verify:
                j->verified = hasher_.verify(j->password, j->stored);
                break;
            case job::kind::dummy:
                hasher_.verify_dummy(j->password);
                break;
            }
        } catch (const std::exception& e) {
            core::log::error("hash_job_failed", {{"error", e.what()}});
            j->ec = make_error_code(core::errc::internal);
        }
        jobs_done_.fetch_add(1, std::memory_order_relaxed);
        j->complete();
    }
}

asio::awaitable<core::result<std::string>> hash_pool::async_hash(std::string password)
{
    if (!reserve_slot(true)) co_return make_error_code(core::errc::overloaded);
    hash_pool_access::awaitable_job j;
    j.k = job::kind::hash;
    j.password = password;
    co_await hash_pool_access::async_submit(*this, j);
    if (j.ec) co_return j.ec;
    co_return std::move(j.hashed);
}

asio::awaitable<core::result<verify_result>> hash_pool::async_verify(std::string password, std::string stored)
{
    if (!reserve_slot(true)) co_return make_error_code(core::errc::overloaded);
    hash_pool_access::awaitable_job j;
    j.k = job::kind::verify;
    j.password = password;
    j.stored = stored;
    co_await hash_pool_access::async_submit(*this, j);
    if (j.ec) co_return j.ec;
    co_return j.verified;
}

asio::awaitable<core::result<void>> hash_pool::async_verify_dummy(std::string password)
{
    if (!reserve_slot(true)) co_return make_error_code(core::errc::overloaded);
    hash_pool_access::awaitable_job j;
    j.k = job::kind::dummy;
    j.password = password;
    co_await hash_pool_access::async_submit(*this, j);
    if (j.ec) co_return j.ec;
    co_return core::result<void>{};
}

bool hash_pool::saturated() const noexcept
{
    std::lock_guard lk(mu_);
    return stopping_ || reserved_ >= limit_;
}

hash_pool_stats hash_pool::stats() const noexcept
{
    hash_pool_stats s;
    s.threads = thread_count_;
    s.queue_limit = limit_;
    {
        std::lock_guard lk(mu_);
        s.queue_length = count_;
    }
    s.jobs_done = jobs_done_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.total_wait_us = total_wait_us_.load(std::memory_order_relaxed);
    s.max_wait_us = max_wait_us_.load(std::memory_order_relaxed);
    return s;
}

hash_benchmark hash_pool::benchmark(unsigned iterations)
{
    hash_benchmark result;
    result.iterations = iterations;
    result.threads = thread_count_;
    if (iterations == 0) return result;

    std::mutex m;
    std::condition_variable cv;
    unsigned remaining = iterations;
    std::vector<hash_pool_access::bench_job> jobs(iterations);
    for (auto& j : jobs) {
        j.k = job::kind::hash;
        j.m = &m;
        j.cv = &cv;
        j.remaining = &remaining;
        j.secret = core::random_token(12);
        j.password = j.secret;
    }

    const auto start = steady::now();
    for (auto& j : jobs) {
        // Keep the queue full without being refused: wait for a completion when it is.
        bool reserved = false;
        while (!(reserved = reserve_slot(false))) {
            {
                std::lock_guard lk(mu_);
                if (stopping_) break;
            }
            std::unique_lock lk(m);
            cv.wait_for(lk, std::chrono::milliseconds(5));
        }
        if (reserved) {
            push(&j);
        } else {
            j.ec = make_error_code(core::errc::overloaded);
            j.complete();
        }
    }
    {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return remaining == 0; });
    }
    result.seconds = std::chrono::duration<double>(steady::now() - start).count();
    result.hashes_per_second = result.seconds > 0 ? iterations / result.seconds : 0;
    return result;
}

}  // namespace portcullis::auth
