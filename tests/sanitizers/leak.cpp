// Leaks one allocation of 4242 bytes on purpose, for tests/sanitizers/lsan_check.sh.
#include <cstdlib>

int main()
{
    void* volatile p = std::malloc(4242);
    p = nullptr;
    return p == nullptr ? 0 : 1;
}
