// loadtest: the first include of every public header: what the library needs from the compiler.
#pragma once

// A consumer that forgets -std=c++20 would otherwise get "'concept' does not name a type" from
// deep inside a header. MSVC reports the language level in _MSVC_LANG, not __cplusplus.
#if defined(_MSVC_LANG) ? _MSVC_LANG < 202002L : __cplusplus < 202002L
#error "loadtest requires C++20 (-std=c++20)"
#endif
