/* weft version: the only place it lives. CMakeLists.txt reads these three lines. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 2
#define WEFT_VERSION_PATCH 0

#define WEFT_VERSION_STRINGIFY_(x) #x
#define WEFT_VERSION_STRINGIFY(x) WEFT_VERSION_STRINGIFY_(x)
#define WEFT_VERSION_STRING                                                  \
    WEFT_VERSION_STRINGIFY(WEFT_VERSION_MAJOR) "."                           \
    WEFT_VERSION_STRINGIFY(WEFT_VERSION_MINOR) "."                           \
    WEFT_VERSION_STRINGIFY(WEFT_VERSION_PATCH)

#endif
