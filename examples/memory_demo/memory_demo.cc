// The seed's memory-scaling load (/work/shared/seed, "Test 1") on tidepool:
// C request loops run as tasks; each request allocates a P-byte body on a
// worker, hands it to spawn_blocking, which renders a response of about P
// bytes by many small appends, and back on the worker both are freed. That
// is the pattern that made glibc arenas of tokio's blocking threads grow.
//
// Every (C, P) configuration runs in a fresh child process (this binary with
// --child), so that each peak RSS starts from an untouched heap. The parent
// prints the figures in the seed's table layout.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "alloc/alloc.h"
#include "alloc/config_file.h"
#include "alloc/policy.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::vector<std::string>, concurrency,
          std::vector<std::string>({"2", "4", "8", "16", "32", "64", "96"}),
          "Concurrent request loops; one configuration per value. The first "
          "value is the base the growth columns compare against.");
ABSL_FLAG(std::vector<std::string>, payload_bytes,
          std::vector<std::string>({"1024", "204800"}),
          "Request body sizes in bytes (at least 16); one table column group "
          "per value.");
ABSL_FLAG(uint64_t, requests, 2000, "Requests per configuration.");
ABSL_FLAG(std::optional<uint64_t>, worker_threads, std::nullopt,
          "Builder::worker_threads. Unset: TIDEPOOL_WORKER_THREADS, else the "
          "runtime's default.");
ABSL_FLAG(std::optional<uint64_t>, max_blocking_threads, std::nullopt,
          "Builder::max_blocking_threads. Unset: "
          "TIDEPOOL_MAX_BLOCKING_THREADS, else the runtime's default.");
ABSL_FLAG(std::optional<uint64_t>, thread_keep_alive_ms, std::nullopt,
          "Builder::thread_keep_alive in ms. Unset: "
          "TIDEPOOL_THREAD_KEEP_ALIVE_MS, else 1000 (not the runtime's 10 s, "
          "because each configuration idles for it).");
ABSL_FLAG(std::string, alloc_policy, "default",
          "Builder::allocator: 'default' (alloc::DefaultPolicy(), what a "
          "Runtime uses unless told otherwise) or 'none' (alloc::NoPolicy(): "
          "the allocator as the system configures it, as under tokio). The "
          "allocator itself is chosen by TIDEPOOL_ALLOCATOR.");
ABSL_FLAG(bool, child, false,
          "Internal: run the single --concurrency and --payload_bytes given "
          "and print its figures as one key=value line.");

namespace {

constexpr size_t kBlock = 16;  // body bytes per rendered response line
constexpr size_t kLine = 17;   // 16 hex digits and a newline
constexpr std::chrono::milliseconds kDefaultKeepAlive{1000};

// Reads TIDEPOOL_THREAD_KEEP_ALIVE_MS without reporting a bad value, so call
// it only once Builder::from_env() has accepted the settings.
std::chrono::milliseconds KeepAlive() {
  if (auto ms = absl::GetFlag(FLAGS_thread_keep_alive_ms)) {
    return std::chrono::milliseconds(*ms);
  }
  uint64_t ms = 0;
  const char* env =
      tidepool::alloc::LookupSetting("TIDEPOOL_THREAD_KEEP_ALIVE_MS");
  if (env != nullptr && absl::SimpleAtoi(env, &ms)) {
    return std::chrono::milliseconds(ms);
  }
  return kDefaultKeepAlive;
}

absl::StatusOr<tidepool::alloc::Policy> AllocPolicy() {
  const std::string name = absl::GetFlag(FLAGS_alloc_policy);
  if (name == "default") return tidepool::alloc::DefaultPolicy();
  if (name == "none") return tidepool::alloc::NoPolicy();
  return absl::InvalidArgumentError(
      absl::StrCat("--alloc_policy='", name,
                   "' is not valid: accepted values are default, none"));
}

// Flags win over the TIDEPOOL_* settings, which win over the defaults.
absl::StatusOr<tidepool::Builder> MakeBuilder() {
  absl::StatusOr<tidepool::alloc::Policy> policy = AllocPolicy();
  if (!policy.ok()) return policy.status();
  absl::StatusOr<tidepool::Builder> b = tidepool::Builder::from_env();
  if (!b.ok()) return b;
  b->allocator(*std::move(policy));
  if (auto n = absl::GetFlag(FLAGS_worker_threads)) b->worker_threads(*n);
  if (auto n = absl::GetFlag(FLAGS_max_blocking_threads)) {
    b->max_blocking_threads(*n);
  }
  b->thread_keep_alive(KeepAlive());
  return b;
}

// A "Key:   123 kB" field of /proc/self/status, in KiB.
uint64_t ProcStatusKb(absl::string_view key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, key) || !absl::ConsumePrefix(&rest, ":")) {
      continue;
    }
    absl::ConsumeSuffix(&rest, " kB");
    uint64_t kb;
    if (absl::SimpleAtoi(rest, &kb)) return kb;
  }
  return 0;
}

uint64_t BodyWord(uint64_t request, size_t word) {
  return (request + 1) * 0x9E3779B97F4A7C15ull + word;
}

std::string MakeBody(uint64_t request, size_t bytes) {
  std::string body(bytes, '\0');
  for (size_t w = 0; w < bytes / sizeof(uint64_t); ++w) {
    const uint64_t v = BodyWord(request, w);
    std::memcpy(body.data() + w * sizeof v, &v, sizeof v);
  }
  return body;
}

uint64_t BlockDigest(const std::string& body, size_t block) {
  uint64_t a, b;
  std::memcpy(&a, body.data() + block * kBlock, sizeof a);
  std::memcpy(&b, body.data() + block * kBlock + sizeof a, sizeof b);
  return a ^ b;
}

// One line per 16-byte block. Appending piece by piece makes the string
// reallocate its way up through every size class, as a serializer does;
// reserving up front would hide exactly the allocations under study.
std::string Render(const std::string& body) {
  std::string out;
  for (size_t i = 0; i < body.size() / kBlock; ++i) {
    absl::StrAppend(&out, absl::Hex(BlockDigest(body, i), absl::kZeroPad16),
                    "\n");
  }
  return out;
}

bool ResponseMatches(const std::string& body, const std::string& response) {
  const size_t blocks = body.size() / kBlock;
  if (response.size() != blocks * kLine) return false;
  const std::string last(response, (blocks - 1) * kLine, kLine);
  return last ==
         absl::StrCat(
             absl::Hex(BlockDigest(body, blocks - 1), absl::kZeroPad16), "\n");
}

struct Load {
  size_t payload = 0;
  uint64_t requests = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> wrong{0};
};

tidepool::Task<void> RequestLoop(Load* load) {
  for (uint64_t r = load->next.fetch_add(1, std::memory_order_relaxed);
       r < load->requests;
       r = load->next.fetch_add(1, std::memory_order_relaxed)) {
    std::string body = MakeBody(r, load->payload);
    // The body stays in this frame while the call runs, so the blocking
    // thread only reads it and the worker is the one that frees it.
    std::string response =
        co_await tidepool::spawn_blocking([&body] { return Render(body); });
    if (!ResponseMatches(body, response)) {
      load->wrong.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

tidepool::Task<void> RunLoad(Load* load, size_t concurrency) {
  std::vector<tidepool::JoinHandle<void>> loops;
  for (size_t i = 0; i < concurrency; ++i) {
    loops.push_back(tidepool::spawn(RequestLoop(load)));
  }
  for (auto& loop : loops) co_await loop;
}

// What one child reports, in the order of its output line.
constexpr const char* kFigureKeys[] = {
    "peak_kb",           "threads_after_load",
    "threads_spawned",   "threads_after_idle",
    "rss_after_idle_kb", "load_ms",
};

int RunChild(size_t concurrency, size_t payload) {
  absl::StatusOr<tidepool::Builder> builder = MakeBuilder();
  if (!builder.ok()) {
    std::fprintf(stderr, "memory_demo: %s\n",
                 builder.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<tidepool::Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "memory_demo: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  Load load;
  load.payload = payload;
  load.requests = absl::GetFlag(FLAGS_requests);
  const auto start = std::chrono::steady_clock::now();
  rt->block_on(RunLoad(&load, concurrency));
  const auto load_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  const tidepool::BlockingMetrics after_load = rt->metrics().blocking;

  std::this_thread::sleep_for(KeepAlive() + std::chrono::seconds(1));
  const tidepool::BlockingMetrics after_idle = rt->metrics().blocking;
  const uint64_t rss_after_idle_kb = ProcStatusKb("VmRSS");
  const uint64_t values[] = {
      ProcStatusKb("VmHWM"),      after_load.threads_alive,
      after_load.threads_spawned, after_idle.threads_alive,
      rss_after_idle_kb,          static_cast<uint64_t>(load_ms.count()),
  };
  std::string line;
  for (size_t i = 0; i < std::size(values); ++i) {
    absl::StrAppend(&line, i == 0 ? "" : " ", kFigureKeys[i], "=", values[i]);
  }
  std::printf("%s\n", line.c_str());

  const uint64_t wrong = load.wrong.load();
  if (wrong != 0) {
    std::fprintf(stderr, "memory_demo: %llu of %llu responses were wrong\n",
                 static_cast<unsigned long long>(wrong),
                 static_cast<unsigned long long>(load.requests));
    return 1;
  }
  return 0;
}

using Figures = std::map<std::string, uint64_t, std::less<>>;

absl::StatusOr<Figures> ParseFigures(const std::string& line) {
  Figures f;
  std::istringstream fields(line);
  for (std::string field; fields >> field;) {
    const size_t eq = field.find('=');
    uint64_t v;
    if (eq == std::string::npos ||
        !absl::SimpleAtoi(field.substr(eq + 1), &v)) {
      return absl::InternalError(absl::StrCat("bad child output: ", line));
    }
    f[field.substr(0, eq)] = v;
  }
  for (const char* key : kFigureKeys) {
    if (!f.contains(key)) {
      return absl::InternalError(
          absl::StrCat("child output lacks ", key, ": ", line));
    }
  }
  return f;
}

std::vector<std::string> ForwardedFlags() {
  std::vector<std::string> args = {
      absl::StrCat("--requests=", absl::GetFlag(FLAGS_requests)),
      absl::StrCat("--alloc_policy=", absl::GetFlag(FLAGS_alloc_policy))};
  const std::pair<const char*, std::optional<uint64_t>> settings[] = {
      {"worker_threads", absl::GetFlag(FLAGS_worker_threads)},
      {"max_blocking_threads", absl::GetFlag(FLAGS_max_blocking_threads)},
      {"thread_keep_alive_ms", absl::GetFlag(FLAGS_thread_keep_alive_ms)},
  };
  for (const auto& [name, value] : settings) {
    if (value) args.push_back(absl::StrCat("--", name, "=", *value));
  }
  return args;
}

absl::StatusOr<Figures> RunConfiguration(size_t concurrency, size_t payload) {
  std::vector<std::string> args = {"memory_demo", "--child",
                                   absl::StrCat("--concurrency=", concurrency),
                                   absl::StrCat("--payload_bytes=", payload)};
  for (std::string& a : ForwardedFlags()) args.push_back(std::move(a));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid;
  const int err = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr,
                              argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (err != 0) {
    close(out[0]);
    return absl::InternalError(
        absl::StrCat("posix_spawn: ", std::strerror(err)));
  }
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) != 0;) {
    if (n > 0) {
      output.append(buf, n);
    } else if (errno != EINTR) {
      break;
    }
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        "configuration concurrency=", concurrency, " payload_bytes=", payload,
        WIFEXITED(status) ? " exited with status " : " was killed by signal ",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
  }
  return ParseFigures(output);
}

// A boxed table like the seed's: titles of one or two lines, a rule between
// every row.
void PrintTable(const std::vector<std::pair<std::string, std::string>>& titles,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& [top, bottom] : titles) {
    width.push_back(std::max(top.size(), bottom.size()) + 2);
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size() + 2);
    }
  }
  auto rule = [&](const char* left, const char* mid, const char* right) {
    std::string s = left;
    for (size_t i = 0; i < width.size(); ++i) {
      if (i > 0) s += mid;
      for (size_t j = 0; j < width[i]; ++j) s += "─";
    }
    std::printf("%s%s\n", s.c_str(), right);
  };
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s = "│";
    for (size_t i = 0; i < width.size(); ++i) {
      absl::StrAppend(&s, " ", cells[i],
                      std::string(width[i] - cells[i].size() - 1, ' '), "│");
    }
    std::printf("%s\n", s.c_str());
  };
  rule("┌", "┬", "┐");
  std::vector<std::string> top, bottom;
  for (const auto& [t, b] : titles) {
    top.push_back(t);
    bottom.push_back(b);
  }
  line(top);
  line(bottom);
  for (const auto& row : rows) {
    rule("├", "┼", "┤");
    line(row);
  }
  rule("└", "┴", "┘");
}

std::string PayloadLabel(size_t bytes) {
  return bytes % 1024 == 0 ? absl::StrCat(bytes / 1024, "K")
                           : absl::StrCat(bytes, "B");
}

std::string Mb(uint64_t kb) { return absl::StrFormat("%.1f MB", kb / 1024.0); }

std::string Growth(uint64_t kb, uint64_t base_kb) {
  return absl::StrFormat(
      "%.0f%%", 100.0 *
                    (static_cast<double>(kb) - static_cast<double>(base_kb)) /
                    static_cast<double>(base_kb));
}

// How a setting was chosen, for the report's header.
std::string Setting(const std::optional<uint64_t>& flag, const char* env,
                    const std::string& fallback) {
  if (flag) return absl::StrCat(*flag);
  if (const char* v = tidepool::alloc::LookupSetting(env)) {
    return absl::StrCat(v, " (", env, ")");
  }
  return fallback;
}

absl::StatusOr<std::vector<size_t>> ParseList(
    const char* name, const std::vector<std::string>& values, size_t min) {
  std::vector<size_t> out;
  for (const std::string& v : values) {
    size_t n;
    if (!absl::SimpleAtoi(v, &n) || n < min) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, ": '", v, "' is not an integer of at least ", min));
    }
    out.push_back(n);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is empty"));
  }
  return out;
}

int RunParent(const std::vector<size_t>& concurrency,
              const std::vector<size_t>& payloads) {
  // A bad setting would fail every child; building one runtime here says
  // so once, before any child runs.
  absl::StatusOr<tidepool::Builder> builder = MakeBuilder();
  absl::Status built = builder.status();
  if (built.ok()) built = builder->build().status();
  if (!built.ok()) {
    std::fprintf(stderr, "memory_demo: %s\n", built.ToString().c_str());
    return 2;
  }
  const tidepool::alloc::BackendSpec backend =
      tidepool::alloc::active_backend();
  std::string allocator = tidepool::alloc::BackendName(backend.kind);
  if (backend.arena_max > 0) {
    absl::StrAppend(&allocator, ":arena_max=", backend.arena_max);
  }
  std::printf(
      "tidepool memory demo: %llu requests per configuration, each in a "
      "fresh process\n"
      "allocator=%s alloc_policy=%s\n"
      "worker_threads=%s max_blocking_threads=%s thread_keep_alive=%lld ms\n",
      static_cast<unsigned long long>(absl::GetFlag(FLAGS_requests)),
      allocator.c_str(), absl::GetFlag(FLAGS_alloc_policy).c_str(),
      Setting(absl::GetFlag(FLAGS_worker_threads), "TIDEPOOL_WORKER_THREADS",
              "default (hardware threads)")
          .c_str(),
      Setting(absl::GetFlag(FLAGS_max_blocking_threads),
              "TIDEPOOL_MAX_BLOCKING_THREADS", "default")
          .c_str(),
      static_cast<long long>(KeepAlive().count()));
  std::fflush(stdout);

  // results[p][c]
  std::vector<std::vector<Figures>> results(payloads.size());
  for (size_t p = 0; p < payloads.size(); ++p) {
    for (size_t c : concurrency) {
      std::fprintf(stderr, "  concurrency %3zu, payload %5s ...", c,
                   PayloadLabel(payloads[p]).c_str());
      absl::StatusOr<Figures> f = RunConfiguration(c, payloads[p]);
      if (!f.ok()) {
        std::fprintf(stderr, "\nmemory_demo: %s\n",
                     f.status().ToString().c_str());
        return 1;
      }
      std::fprintf(stderr, " load %.2f s, peak %s\n", f->at("load_ms") / 1000.0,
                   Mb(f->at("peak_kb")).c_str());
      results[p].push_back(*std::move(f));
    }
  }

  std::vector<std::pair<std::string, std::string>> titles = {
      {"Concurrency", ""}};
  for (size_t bytes : payloads) {
    const std::string l = PayloadLabel(bytes);
    titles.push_back({l + " Payload", ""});
    titles.push_back({l + " Growth/", "Base"});
  }
  const bool ratio = payloads.size() > 1;
  if (ratio) {
    titles.push_back({absl::StrCat(PayloadLabel(payloads.back()), "/",
                                   PayloadLabel(payloads.front()), " Ratio"),
                      ""});
  }
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < concurrency.size(); ++i) {
    std::vector<std::string> row = {absl::StrCat(concurrency[i])};
    for (const auto& by_c : results) {
      row.push_back(Mb(by_c[i].at("peak_kb")));
      row.push_back(Growth(by_c[i].at("peak_kb"), by_c[0].at("peak_kb")));
    }
    if (ratio) {
      row.push_back(absl::StrFormat(
          "%.1fx", static_cast<double>(results.back()[i].at("peak_kb")) /
                       static_cast<double>(results.front()[i].at("peak_kb"))));
    }
    rows.push_back(std::move(row));
  }
  std::printf("\nPeak RSS (VmHWM) by concurrency\n\n");
  PrintTable(titles, rows);

  titles = {{"Concurrency", ""}};
  for (size_t bytes : payloads) {
    const std::string l = PayloadLabel(bytes);
    titles.push_back({l + " Threads/", "After Load"});
    titles.push_back({l + " Threads/", "After Idle"});
    titles.push_back({l + " RSS/", "After Idle"});
  }
  rows.clear();
  for (size_t i = 0; i < concurrency.size(); ++i) {
    std::vector<std::string> row = {absl::StrCat(concurrency[i])};
    for (const auto& by_c : results) {
      row.push_back(absl::StrCat(by_c[i].at("threads_after_load"), " of ",
                                 by_c[i].at("threads_spawned")));
      row.push_back(absl::StrCat(by_c[i].at("threads_after_idle")));
      row.push_back(Mb(by_c[i].at("rss_after_idle_kb")));
    }
    rows.push_back(std::move(row));
  }
  std::printf(
      "\nBlocking pool threads alive (of those ever started) right after the "
      "load, and after\nthread_keep_alive + 1 s without requests; VmRSS "
      "then\n\n");
  PrintTable(titles, rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the seed's memory-scaling load on tidepool, one child process "
      "per (concurrency, payload), and prints peak RSS and blocking-pool "
      "thread counts.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<size_t>> concurrency =
      ParseList("concurrency", absl::GetFlag(FLAGS_concurrency), 1);
  absl::StatusOr<std::vector<size_t>> payloads =
      ParseList("payload_bytes", absl::GetFlag(FLAGS_payload_bytes), kBlock);
  for (const absl::Status& s : {concurrency.status(), payloads.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "memory_demo: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  if (!absl::GetFlag(FLAGS_child)) return RunParent(*concurrency, *payloads);
  if (concurrency->size() != 1 || payloads->size() != 1) {
    std::fprintf(stderr,
                 "memory_demo: --child takes one --concurrency and one "
                 "--payload_bytes\n");
    return 2;
  }
  return RunChild(concurrency->front(), payloads->front());
}
