// doctest main shared by every test executable: a hard timeout (PORTCULLIS_TEST_TIMEOUT
// seconds, default 300) turns a hung test into a failure instead of a stuck CI run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace {
extern "C" void on_alarm(int)
{
    static const char msg[] = "\n[portcullis] test executable exceeded its hard timeout\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    std::_Exit(124);
}
}  // namespace

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
