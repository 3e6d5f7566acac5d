// loadtest: the library version. meson.build checks that it matches the project() version.
#pragma once

#include "loadtest/detail/config.hpp"

/** Major version: incompatible API changes. */
#define LOADTEST_VERSION_MAJOR 0
/** Minor version: compatible additions. */
#define LOADTEST_VERSION_MINOR 1
/** Patch version: fixes. */
#define LOADTEST_VERSION_PATCH 0
/** The version as "MAJOR.MINOR.PATCH". */
#define LOADTEST_VERSION_STRING "0.1.0"
/** The version as one comparable number: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define LOADTEST_VERSION (LOADTEST_VERSION_MAJOR * 10000 + LOADTEST_VERSION_MINOR * 100 + LOADTEST_VERSION_PATCH)
