#ifndef TIDEPOOL_RUNTIME_COMPILER_CHECK_H_
#define TIDEPOOL_RUNTIME_COMPILER_CHECK_H_

// Refuses, at build time, compilers known to miscompile the coroutine code
// tidepool's users write. Included by runtime/task.h, so every file that
// declares or awaits a tidepool coroutine passes through it.
//
// GCC before 13 (seen with Debian 12's GCC 12.2, reported with 11.x)
// destroys a temporary with a non-trivial destructor inside a co_await
// expression twice: a capturing lambda, a functor or a std::string argument
// in
//
//   std::vector<char> req = ...;
//   std::string r = co_await tidepool::spawn_blocking(
//       [req = std::move(req)] { return Handle(req); });
//
// frees `req`'s buffer twice ("double free or corruption"). That is the
// first idiom a tokio user writes (`spawn_blocking(move || ...)`), so
// tidepool stops the build instead of letting it crash at run time.
//
// What to do: build with clang (tidepool is built and tested with Debian 12's
// clang-19: `CC=clang-19 CXX=clang++-19`, or Bazel's
// `--repo_env=CC=clang-19`). A project that has audited every co_await
// expression for such temporaries (hoisting each lambda, functor and
// argument into a named local first) may define
// TIDEPOOL_ALLOW_GCC_COAWAIT_TEMPORARY_BUG to build anyway; tidepool's own
// tests fail with it on GCC 12. docs/configuration.md, "Compilers".

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13 && \
    !defined(TIDEPOOL_ALLOW_GCC_COAWAIT_TEMPORARY_BUG)
#error \
    "tidepool: GCC before 13 destroys temporaries inside co_await expressions twice (e.g. the lambda in `co_await spawn_blocking([v = std::move(v)] {...})` frees v twice). Build with clang-19 (CC=clang-19 CXX=clang++-19, or Bazel --repo_env=CC=clang-19), or, having hoisted every such temporary into a named local, define TIDEPOOL_ALLOW_GCC_COAWAIT_TEMPORARY_BUG. See runtime/compiler_check.h."
#endif

#endif  // TIDEPOOL_RUNTIME_COMPILER_CHECK_H_
