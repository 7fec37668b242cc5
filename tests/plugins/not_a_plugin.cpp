// Loader fixture: a shared library that is not a TraceNAS plugin. It exports
// a function, but not the entry point.
extern "C" __attribute__((visibility("default"))) int tn_fixture_not_a_plugin(void) { return 7; }
