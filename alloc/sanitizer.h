#ifndef TIDEPOOL_ALLOC_SANITIZER_H_
#define TIDEPOOL_ALLOC_SANITIZER_H_

// TIDEPOOL_SANITIZER_BUILD is 1 when this translation unit is built with
// AddressSanitizer or ThreadSanitizer, else 0. Such builds interpose malloc
// themselves, so caches in front of it would hide the bugs they look for,
// and no tidepool backend owns malloc. GCC says so with __SANITIZE_*__,
// clang with __has_feature.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TIDEPOOL_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TIDEPOOL_SANITIZER_BUILD 1
#endif
#endif
#ifndef TIDEPOOL_SANITIZER_BUILD
#define TIDEPOOL_SANITIZER_BUILD 0
#endif

#endif  // TIDEPOOL_ALLOC_SANITIZER_H_
