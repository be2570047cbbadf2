// LeakSanitizer suppressions for the backup tests' sanitizer build (PDSYNC_SANITIZE).
// libsmbclient 4.17 leaks one talloc'd log-file name (~116 bytes) per smbc_new_context()
// inside its own debug setup (debug_set_logfile via reopen_logs); it is not ours to free.
// With LSan's default fast unwinder the stack stops inside libtalloc (built without frame
// pointers), so the library is named too; nothing but libsmbclient uses talloc here.
// LSan reads this hook when linked in; without sanitizers it is an unused function.
extern "C" const char* __lsan_default_suppressions();   // NOLINT(bugprone-reserved-identifier)
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
    return "leak:debug_set_logfile\n"
           "leak:libtalloc.so\n";
}
