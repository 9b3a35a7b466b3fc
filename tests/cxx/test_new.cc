// C++: every form of operator new and delete reaches HAKMEM, with the
// standard's semantics: the new-handler loop, std::bad_alloc, nothrow
// returning nullptr, alignment, and sized delete (new[] with its cookie).
// Built twice: test_new links libhakmem; test_new_plain links only the C++
// runtime and runs with the library preloaded (cxx.sh).  Every block is
// shown to be HAKMEM's by hak_usable_size, found with dlsym, which aborts
// on a pointer HAKMEM did not hand out.
#include <dlfcn.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static size_t (*usable)(const void *);

// The block is HAKMEM's and holds at least n bytes.
static bool ours(const void *p, size_t n) { return p != nullptr && usable(p) >= n; }

static void test_plain() {
    for (size_t n = 0; n <= (256u << 10); n = n < 64 ? n + 1 : n * 2 - n / 3) {
        void *p = ::operator new(n);
        CHECK(ours(p, n));
        std::memset(p, 0x5a, n);
        ::operator delete(p, n); // sized: the size's class is the block's
        void *q = ::operator new[](n);
        CHECK(ours(q, n));
        ::operator delete[](q, n);
        void *r = ::operator new(n);
        ::operator delete(r); // unsized
    }
    std::printf("ok: new/new[] and sized/unsized delete, 0 to 256 KiB\n");
}

struct Counted {
    static int live;
    char pad[40];
    Counted() { live++; }
    ~Counted() { live--; }
};
int Counted::live;

// new[] of a type with a destructor stores the count before the elements:
// the sized delete[] gets the whole request, cookie included.
static void test_array_cookie() {
    for (int n = 1; n < 3000; n = n * 3 + 1) {
        Counted *a = new Counted[n];
        CHECK(Counted::live == n);
        // The block starts at the cookie (Itanium ABI: one size_t here).
        CHECK(ours((char *)a - sizeof(size_t), sizeof(Counted) * (size_t)n + sizeof(size_t)));
        delete[] a;
        CHECK(Counted::live == 0);
    }
    std::printf("ok: new[]/delete[] with an array cookie\n");
}

struct alignas(256) Wide {
    char c[300];
};

static void test_aligned() {
    Wide *w = new Wide;
    CHECK(((uintptr_t)w & 255) == 0 && ours(w, sizeof *w));
    delete w; // sized aligned delete
    for (size_t al = 16; al <= ((size_t)1 << 21); al *= 8) {
        void *p = ::operator new(100, std::align_val_t(al));
        CHECK(((uintptr_t)p & (al - 1)) == 0 && ours(p, 100));
        ::operator delete(p, 100, std::align_val_t(al));
        void *q = ::operator new[](5000, std::align_val_t(al), std::nothrow);
        CHECK(((uintptr_t)q & (al - 1)) == 0 && ours(q, 5000));
        ::operator delete[](q, std::align_val_t(al), std::nothrow);
        void *r = ::operator new[](7, std::align_val_t(al));
        ::operator delete[](r, std::align_val_t(al));
    }
    std::printf("ok: aligned new/delete, 16 B to 2 MiB\n");
}

static const size_t huge = SIZE_MAX / 2;

static void test_failure() {
    bool threw = false;
    try {
        void *volatile p = ::operator new(huge);
        (void)p;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        void *volatile p = ::operator new[](huge, std::align_val_t(64));
        (void)p;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::nothrow) == nullptr);
    CHECK(::operator new(huge, std::align_val_t(4096), std::nothrow) == nullptr);
    std::printf("ok: std::bad_alloc, and nullptr from nothrow\n");
}

// The handler loop: called while the request fails, until it fails no more
// (here, when the handler has raised the address-space limit that made it
// fail) or the handler is gone.
static int handler_calls;
static rlimit saved_as;
static void raise_limit() {
    handler_calls++;
    setrlimit(RLIMIT_AS, &saved_as);
}
static void give_up() {
    handler_calls++;
    std::set_new_handler(nullptr);
}

static void test_new_handler() {
    CHECK(getrlimit(RLIMIT_AS, &saved_as) == 0);
    rlimit low = saved_as;
    low.rlim_cur = (rlim_t)512 << 20;
    const size_t big = (size_t)1 << 30; // over the low limit
    CHECK(setrlimit(RLIMIT_AS, &low) == 0);
    std::set_new_handler(raise_limit);
    void *p = ::operator new(big);
    CHECK(handler_calls == 1 && ours(p, big));
    ::operator delete(p, big);

    handler_calls = 0;
    std::set_new_handler(give_up);
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(handler_calls == 1);
    handler_calls = 0;
    std::set_new_handler(give_up);
    bool threw = false;
    try {
        void *volatile q = ::operator new(huge);
        (void)q;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw && handler_calls == 1);
    std::printf("ok: the new-handler loop (success after the handler, and giving up)\n");
}

int main() {
    usable = (size_t(*)(const void *))dlsym(RTLD_DEFAULT, "hak_usable_size");
    if (usable == nullptr) {
        std::fprintf(stderr, "FAIL: hak_usable_size not found: HAKMEM is not loaded\n");
        return 1;
    }
    Dl_info info;
    void *(*op_new)(size_t) = ::operator new;
    CHECK(dladdr((void *)op_new, &info) != 0 &&
          std::strstr(info.dli_fname, "libhakmem") != nullptr);
    test_plain();
    test_array_cookie();
    test_aligned();
    test_failure();
    test_new_handler();
    if (failures) {
        std::fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    std::printf("PASS\n");
    return 0;
}
