/* Misuse: a block freed with a size it does not have must abort with "hakmem: <call>: size
 * mismatch".  argv[1]: "delete" frees a 200-byte block as C++ sized delete of 8 bytes (a class
 * deleted through a base without a virtual destructor); "delete-large" a 100 KiB block as 8 bytes;
 * "free_sized" frees a 100-byte block with free_sized(p, 1000). */
#include <string.h>

#include "misuse.h"

/* operator delete(void *, std::size_t), called as a C++ program would. */
void _ZdlPvm(void *p, size_t n);
void free_sized(void *p, size_t n);

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "delete";
    MISUSE_BEGIN(how);
    if (strcmp(how, "free_sized") == 0) {
        free_sized(launder(malloc(100)), 1000);
    } else {
        size_t n = strcmp(how, "delete-large") == 0 ? 100 << 10 : 200;
        _ZdlPvm(launder(malloc(n)), 8);
    }
    MISUSE_SURVIVED();
}
