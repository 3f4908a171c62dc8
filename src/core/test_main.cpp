// doctest main shared by every test executable: a hard timeout (PORTCULLIS_TEST_TIMEOUT
// seconds, default 300) turns a hung test into a failure instead of a stuck CI run, and
// names the test case that was running when it fired.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace {

// Name of the test case running now (doctest keeps the string alive for the whole run);
// read by the alarm handler, so only a lock-free pointer.
std::atomic<const char*> current_test{nullptr};

void write_err(const char* s)
{
    ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
    (void)ignored;
}

extern "C" void on_alarm(int)
{
    write_err("\n[portcullis] test executable exceeded its hard timeout");
    if (const char* name = current_test.load()) {
        write_err(" in test case \"");
        write_err(name);
        write_err("\"");
    }
    write_err("\n");
    std::_Exit(124);
}

// Records the current test case for the alarm handler; reports nothing itself.
struct current_test_listener : doctest::IReporter {
    explicit current_test_listener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData& tc) override { current_test.store(tc.m_name); }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override { current_test.store(nullptr); }
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("current_test", 1, current_test_listener);

int main(int argc, char** argv)
{
    unsigned limit = 300;
    if (const char* v = std::getenv("PORTCULLIS_TEST_TIMEOUT")) limit = static_cast<unsigned>(std::atoi(v));
    std::signal(SIGALRM, on_alarm);
    std::signal(SIGPIPE, SIG_IGN);
    ::alarm(limit);
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
