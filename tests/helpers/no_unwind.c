/*
 * no_unwind.c - a caller with no unwind information (built with
 * -fno-asynchronous-unwind-tables -fno-unwind-tables), for test_unwind:
 * neither memtally's walker nor libgcc can walk past its frame.
 */
__attribute__((noinline)) int tu_call_without_unwind_info(int (*fn)(void *), void *arg) {
    int r = fn(arg);
    __asm__ volatile("" : "+r"(r)); /* not a tail call: this frame stays */
    return r;
}
