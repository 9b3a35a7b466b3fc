/*
 * freelist.c - the free-list module's state: its secrets and the list end
 * (freelist.h says how blocks are linked and checked), and its report.
 */
#include "pool/freelist.h"

const uintptr_t hak_list_end[2];

void hak_keys_init(void) {
    uintptr_t key[2];
    hak_os_random(key);
    /* A zero link key would leave plain pointers in free blocks, and the
     * list end's zero words must fail both checks. */
    key[0] |= (uintptr_t)1 << 63;
    if (key[1] == (uintptr_t)hak_list_end || key[1] == ~(uintptr_t)hak_list_end)
        key[1] ^= 2;
    hak_tables.key_link = key[0];
    hak_tables.key_check = key[1];
}

void hak_list_corrupt(const void *p, const char *why) {
    hak_fatal("corrupted free list: %p (%s)", p, why);
}
