/* A separate program built against an installed weft (pkg-config and find_package). */
#include <stdio.h>
#include <weft/weft.h>

int main(void)
{
    weft_config c = {.exporters = "none", .no_atexit = true};
    if (weft_init(&c) != 0)
        return 1;
    WEFT_SPAN_BEGIN(s, "installed", WEFT_TYPE_CUSTOM);
    weft_span_set_str(s, WEFT_INPUT, "from", "an installed weft");
    WEFT_SPAN_END(s);
    weft_shutdown(5000);
    weft_stats st;
    weft_get_stats(&st);
    printf("weft %s: %llu span exported\n", WEFT_VERSION_STRING, (unsigned long long)st.exported);
    return st.exported == 1 ? 0 : 1;
}
