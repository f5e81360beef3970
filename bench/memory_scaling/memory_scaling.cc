// The seed's memory-scaling experiment (/work/shared/seed, issue 5) on
// tidepool. C request loops run as tasks until N requests are done in total.
// Each request allocates and fills a P-byte body on a worker; spawn_blocking
// tokenizes it (about P bytes of tokens) and builds a response of about P
// bytes by many small appends; back on the worker the response is streamed
// out in 4 KiB chunks, each a fresh allocation; then everything is freed.
// Each loop also keeps a few hundred small strings alive and recycles some of
// them per request, so long-lived small blocks sit between the large ones as
// in a real server. bench/peers/tokio_seed is the same workload on tokio.
//
// Every (N, P, C) configuration runs in a fresh child process (this binary
// with --child) so that each peak starts from an untouched heap. The child
// prints one "result key=value ..." line (and, with --arena_report, the
// seed's "Arena Info" block before and after alloc::trim()); the parent
// forwards those lines to stdout and progress to stderr.
// tools/memory_scaling.sh turns them into tables, CSVs and plots.
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
#include <cstring>
#include <fstream>
#include <memory>
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
#include "alloc/policy.h"
#include "alloc/stats.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::vector<std::string>, concurrency,
          std::vector<std::string>({"2", "4", "8", "16", "32", "64", "96"}),
          "Concurrent request loops; one configuration per value.");
ABSL_FLAG(std::vector<std::string>, payload_bytes,
          std::vector<std::string>({"1024", "204800"}),
          "Request body sizes in bytes (at least 64); one configuration per "
          "value.");
ABSL_FLAG(std::vector<std::string>, requests,
          std::vector<std::string>({"10000"}),
          "Requests per configuration; one configuration per value.");
ABSL_FLAG(std::string, alloc_policy, "default",
          "Builder::allocator: 'default' (alloc::DefaultPolicy()) or 'none' "
          "(alloc::NoPolicy(): the allocator as the system configures it, as "
          "under tokio). The allocator itself is chosen by "
          "TIDEPOOL_ALLOCATOR.");
ABSL_FLAG(int, mimalloc_decommit_delay_ms, -2,
          "alloc::Policy::mimalloc_decommit_delay_ms for the policy chosen "
          "by --alloc_policy; -2 leaves the policy's own.");
ABSL_FLAG(uint64_t, thread_keep_alive_ms, 1000,
          "Builder::thread_keep_alive; each configuration idles for it plus "
          "1 s after the load.");
ABSL_FLAG(std::vector<std::string>, memory_budget,
          std::vector<std::string>({"0"}),
          "Builder::memory_budget, in tidepool::ParseMemoryBudget's form "
          "(0 for none, 25165824, 24M, 24MiB); one configuration per value.");
ABSL_FLAG(bool, arena_report, false,
          "Print the allocator's Arena Info right after the load, and again "
          "after alloc::trim().");
ABSL_FLAG(bool, child, false,
          "Internal: run the single configuration given and print its "
          "figures.");

namespace {

constexpr size_t kChunk = 4096;
constexpr size_t kMetadataStrings = 256;
constexpr size_t kMetadataRecycledPerRequest = 8;

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
    absl::string_view digits = absl::StripAsciiWhitespace(rest);
    uint64_t kb;
    if (absl::SimpleAtoi(digits, &kb)) return kb;
  }
  return 0;
}

// Keeps the compiler from eliding an allocation whose contents are never
// read, which C++ allows for new-expressions.
void Escape(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

std::string MakeBody(uint64_t request, size_t bytes) {
  std::string body(bytes, '\0');
  uint64_t x = (request + 1) * 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i + sizeof x <= bytes; i += sizeof x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(body.data() + i, &x, sizeof x);
  }
  return body;
}

// Runs on a blocking thread. Both containers grow one element at a time, as
// a tokenizer and a serializer do; reserving up front would hide exactly the
// allocations under study.
std::string Handle(const std::string& body) {
  std::vector<uint32_t> tokens;
  for (size_t i = 0; i + sizeof(uint32_t) <= body.size();
       i += sizeof(uint32_t)) {
    uint32_t t;
    std::memcpy(&t, body.data() + i, sizeof t);
    tokens.push_back(t);
  }
  std::string response;
  for (size_t i = 0; i + 1 < tokens.size(); i += 2) {
    absl::StrAppend(&response,
                    absl::Hex(tokens[i] ^ tokens[i + 1], absl::kZeroPad8));
  }
  return response;
}

struct Load {
  size_t payload = 0;
  uint64_t requests = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> wrong{0};
};

tidepool::Task<void> RequestLoop(Load* load) {
  std::vector<std::string> metadata;
  for (size_t i = 0; i < kMetadataStrings; ++i) {
    metadata.push_back(std::string(24 + i % 64, 'm'));
  }
  size_t recycle = 0;
  for (uint64_t r = load->next.fetch_add(1, std::memory_order_relaxed);
       r < load->requests;
       r = load->next.fetch_add(1, std::memory_order_relaxed)) {
    for (size_t i = 0; i < kMetadataRecycledPerRequest; ++i) {
      metadata[recycle] = absl::StrCat("request ", r, " header ", i, " ",
                                       std::string(recycle % 48, 'h'));
      recycle = (recycle + 1) % kMetadataStrings;
    }
    // Under a memory budget the request waits here, before its body takes
    // memory, while memory is over the budget; without one this completes
    // at once.
    tidepool::BudgetPermit permit = co_await tidepool::budget_permit();
    std::string body = MakeBody(r, load->payload);
    // The body stays in this frame while the call runs, so the blocking
    // thread only reads it and the worker is the one that frees it.
    auto handle = [&body] { return Handle(body); };
    std::string response = co_await tidepool::spawn_blocking(handle);
    if (response.size() != load->payload / 8 * 8) {
      load->wrong.fetch_add(1, std::memory_order_relaxed);
    }
    for (size_t off = 0; off < response.size(); off += kChunk) {
      const size_t n = std::min(kChunk, response.size() - off);
      auto chunk = std::make_unique<char[]>(n);
      std::memcpy(chunk.get(), response.data() + off, n);
      Escape(chunk.get());
      // A socket write gives the worker to other connections between
      // chunks.
      co_await tidepool::yield_now();
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

absl::StatusOr<tidepool::alloc::Policy> AllocPolicy() {
  const std::string name = absl::GetFlag(FLAGS_alloc_policy);
  tidepool::alloc::Policy policy;
  if (name == "default") {
    policy = tidepool::alloc::DefaultPolicy();
  } else if (name == "none") {
    policy = tidepool::alloc::NoPolicy();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--alloc_policy='", name,
                     "' is not valid: accepted values are default, none"));
  }
  const int delay = absl::GetFlag(FLAGS_mimalloc_decommit_delay_ms);
  if (delay != -2) policy.mimalloc_decommit_delay_ms = delay;
  return policy;
}

std::chrono::milliseconds KeepAlive() {
  return std::chrono::milliseconds(absl::GetFlag(FLAGS_thread_keep_alive_ms));
}

absl::StatusOr<tidepool::Runtime> MakeRuntime(size_t budget) {
  absl::StatusOr<tidepool::alloc::Policy> policy = AllocPolicy();
  if (!policy.ok()) return policy.status();
  tidepool::Builder b;
  b.process_allocator(*std::move(policy));
  b.thread_keep_alive(KeepAlive());
  b.memory_budget(budget);
  return b.build();
}

std::string AllocatorName() {
  const tidepool::alloc::BackendSpec backend =
      tidepool::alloc::active_backend();
  std::string name = tidepool::alloc::BackendName(backend.kind);
  if (backend.arena_max > 0) {
    absl::StrAppend(&name, ":arena_max=", backend.arena_max);
  }
  return name;
}

int RunChild(uint64_t requests, size_t payload, size_t concurrency,
             size_t budget) {
  absl::StatusOr<tidepool::Runtime> rt = MakeRuntime(budget);
  if (!rt.ok()) {
    std::fprintf(stderr, "memory_scaling: %s\n",
                 rt.status().ToString().c_str());
    return 2;
  }
  const uint64_t idle_rss_kb = ProcStatusKb("VmRSS");
  Load load;
  load.payload = payload;
  load.requests = requests;
  const auto start = std::chrono::steady_clock::now();
  rt->block_on(RunLoad(&load, concurrency));
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const uint64_t rss_last_kb = ProcStatusKb("VmRSS");
  const tidepool::BlockingMetrics after_load = rt->metrics().blocking;
  const tidepool::alloc::Stats stats = tidepool::alloc::stats();
  if (absl::GetFlag(FLAGS_arena_report)) {
    std::printf(
        "%s",
        tidepool::alloc::FormatArenaInfo(stats, "[BEFORE-TRIM] ").c_str());
    tidepool::alloc::trim();
    std::printf("%s", tidepool::alloc::FormatArenaInfo(tidepool::alloc::stats(),
                                                       "[AFTER-TRIM]  ")
                          .c_str());
  }

  std::this_thread::sleep_for(KeepAlive() + std::chrono::seconds(1));
  const uint64_t rss_idle_kb = ProcStatusKb("VmRSS");
  const tidepool::BlockingMetrics after_idle = rt->metrics().blocking;
  const tidepool::MemoryBudgetMetrics& admission = after_load.budget;
  std::printf(
      "result impl=tidepool allocator=%s policy=%s requests=%llu "
      "payload=%zu concurrency=%zu memory_budget=%zu idle_rss_kb=%llu "
      "rss_last_kb=%llu "
      "hwm_kb=%llu vmpeak_kb=%llu rss_idle_kb=%llu load_s=%.3f "
      "req_per_s=%.1f threads_after_load=%zu threads_spawned=%llu "
      "threads_after_idle=%zu allocated=%lld arena=%lld free_held=%lld "
      "releasable=%lld admission_waits=%llu admission_wait_ms=%.1f "
      "budget_samples=%llu budget_trims=%llu permit_waits=%llu "
      "permit_wait_ms=%.1f permit_limit=%zu wrong=%llu\n",
      AllocatorName().c_str(), absl::GetFlag(FLAGS_alloc_policy).c_str(),
      static_cast<unsigned long long>(requests), payload, concurrency, budget,
      static_cast<unsigned long long>(idle_rss_kb),
      static_cast<unsigned long long>(rss_last_kb),
      static_cast<unsigned long long>(ProcStatusKb("VmHWM")),
      static_cast<unsigned long long>(ProcStatusKb("VmPeak")),
      static_cast<unsigned long long>(rss_idle_kb), load_s,
      static_cast<double>(requests) / load_s, after_load.threads_alive,
      static_cast<unsigned long long>(after_load.threads_spawned),
      after_idle.threads_alive, static_cast<long long>(stats.allocated),
      static_cast<long long>(stats.arena),
      static_cast<long long>(stats.free_held),
      static_cast<long long>(stats.releasable),
      static_cast<unsigned long long>(admission.waited),
      static_cast<double>(admission.wait_ns) / 1e6,
      static_cast<unsigned long long>(admission.samples),
      static_cast<unsigned long long>(admission.trims),
      static_cast<unsigned long long>(admission.permits_waited),
      static_cast<double>(admission.permit_wait_ns) / 1e6,
      admission.permit_limit,
      static_cast<unsigned long long>(load.wrong.load()));
  return load.wrong.load() == 0 ? 0 : 1;
}

// Runs one configuration in a child that inherits stdout, so its lines reach
// the caller as they are printed.
absl::Status RunConfiguration(uint64_t requests, size_t payload,
                              size_t concurrency, size_t budget) {
  std::vector<std::string> args = {
      "memory_scaling",
      "--child",
      absl::StrCat("--requests=", requests),
      absl::StrCat("--payload_bytes=", payload),
      absl::StrCat("--concurrency=", concurrency),
      absl::StrCat("--memory_budget=", budget),
      absl::StrCat("--alloc_policy=", absl::GetFlag(FLAGS_alloc_policy)),
      absl::StrCat("--mimalloc_decommit_delay_ms=",
                   absl::GetFlag(FLAGS_mimalloc_decommit_delay_ms)),
      absl::StrCat("--thread_keep_alive_ms=",
                   absl::GetFlag(FLAGS_thread_keep_alive_ms)),
      absl::StrCat("--arena_report=", absl::GetFlag(FLAGS_arena_report)),
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid;
  const int err = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr,
                              argv.data(), environ);
  if (err != 0) {
    return absl::InternalError(
        absl::StrCat("posix_spawn: ", std::strerror(err)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        "requests=", requests, " payload=", payload,
        " concurrency=", concurrency, " memory_budget=", budget,
        WIFEXITED(status) ? " exited with status " : " was killed by signal ",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
  }
  return absl::OkStatus();
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

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the seed's memory-scaling workload on tidepool, one child "
      "process per (requests, payload, concurrency), and prints one result "
      "line per configuration.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<size_t>> requests =
      ParseList("requests", absl::GetFlag(FLAGS_requests), 1);
  absl::StatusOr<std::vector<size_t>> payloads =
      ParseList("payload_bytes", absl::GetFlag(FLAGS_payload_bytes), 64);
  absl::StatusOr<std::vector<size_t>> concurrency =
      ParseList("concurrency", absl::GetFlag(FLAGS_concurrency), 1);
  absl::Status policy = AllocPolicy().status();
  std::vector<size_t> budgets;
  absl::Status budget_status;
  for (const std::string& v : absl::GetFlag(FLAGS_memory_budget)) {
    absl::StatusOr<size_t> b =
        tidepool::ParseMemoryBudget(v, "--memory_budget");
    if (!b.ok()) {
      budget_status = b.status();
      break;
    }
    budgets.push_back(*b);
  }
  if (budget_status.ok() && budgets.empty()) {
    budget_status = absl::InvalidArgumentError("--memory_budget is empty");
  }
  for (const absl::Status& s : {requests.status(), payloads.status(),
                                concurrency.status(), policy, budget_status}) {
    if (!s.ok()) {
      std::fprintf(stderr, "memory_scaling: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  if (absl::GetFlag(FLAGS_child)) {
    if (requests->size() != 1 || payloads->size() != 1 ||
        concurrency->size() != 1 || budgets.size() != 1) {
      std::fprintf(stderr,
                   "memory_scaling: --child takes one value per list\n");
      return 2;
    }
    return RunChild(requests->front(), payloads->front(), concurrency->front(),
                    budgets.front());
  }
  for (size_t n : *requests) {
    for (size_t p : *payloads) {
      for (size_t c : *concurrency) {
        for (size_t budget : budgets) {
          std::fprintf(stderr,
                       "  tidepool %s policy=%s N=%zu P=%zu C=%zu "
                       "budget=%zu\n",
                       AllocatorName().c_str(),
                       absl::GetFlag(FLAGS_alloc_policy).c_str(), n, p, c,
                       budget);
          if (absl::Status s = RunConfiguration(n, p, c, budget); !s.ok()) {
            std::fprintf(stderr, "memory_scaling: %s\n", s.ToString().c_str());
            return 1;
          }
        }
      }
    }
  }
  return 0;
}
