// runtime/prometheus.h: the exporter's text (families, HELP/TYPE, labels,
// escaping), promtool's verdict on it, and ServeMetrics over loopback.
#include "runtime/prometheus.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

Runtime MakeRuntime() {
  auto rt = Builder().worker_threads(2).build();
  if (!rt.ok()) std::abort();
  return *std::move(rt);
}

// Every figure set, the jemalloc-only ones too, so that every family the
// exporter knows appears.
alloc::Stats FullStats() {
  alloc::Stats s;
  s.backend = alloc::Backend::kJemalloc;
  s.allocated = 100;
  s.arena = 400;
  s.free_held = 300;
  s.releasable = 200;
  s.mmap_regions = 2;
  s.mmap_bytes = 8192;
  s.free_chunks = 5;
  s.resident = 4096;
  s.utilization = 0.25;
  s.trims = 3;
  s.trim_released = 65536;
  s.detail = {{"stats.resident", 512}, {"stats.retained", 1024}};
  return s;
}

RuntimeMetrics TwoWorkers() {
  RuntimeMetrics m;
  m.workers = 2;
  m.alive_tasks = 1;
  m.per_worker.resize(2);
  m.per_worker[1].polls = 7;
  m.per_worker[1].slow_polls = 2;
  m.per_worker[1].parked = true;
  m.io_driver = "uring";
  m.fs_backend = "io_uring";
  return m;
}

// TwoWorkers() with a memory budget, so that its families appear.
RuntimeMetrics Budgeted() {
  RuntimeMetrics m = TwoWorkers();
  MemoryBudgetMetrics& b = m.blocking.budget;
  b.budget = 1 << 20;
  b.in_use = 1 << 19;
  b.pressure = 0.5;
  b.limit = 3;
  b.waiting = 2;
  b.waited = 9;
  b.wait_ns = 1'500'000'000;
  b.samples = 40;
  b.trims = 1;
  b.permits_held = 5;
  b.permit_limit = 6;
  b.permits_waiting = 4;
  b.permits_granted = 70;
  b.permits_waited = 30;
  b.permit_wait_ns = 250'000'000;
  return m;
}

// The families of a text: name -> TYPE, and how many HELP and TYPE lines
// each has; and the sample lines.
struct Parsed {
  std::map<std::string, std::string> type;
  std::map<std::string, int> help_lines;
  std::map<std::string, int> type_lines;
  std::vector<std::string> samples;
};

Parsed Parse(const std::string& text) {
  Parsed p;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> words =
        absl::StrSplit(line, absl::MaxSplits(' ', 3));
    if (words[0] == "#" && words.size() >= 4 && words[1] == "HELP") {
      ++p.help_lines[words[2]];
    } else if (words[0] == "#" && words.size() >= 4 && words[1] == "TYPE") {
      ++p.type_lines[words[2]];
      p.type[words[2]] = words[3];
    } else {
      p.samples.emplace_back(line);
    }
  }
  return p;
}

// The name of a sample line: up to its labels or its value.
std::string SampleName(const std::string& line) {
  return line.substr(0, line.find_first_of("{ "));
}

constexpr const char* kAlwaysThere[] = {
    "tidepool_workers",
    "tidepool_alive_tasks",
    "tidepool_global_queue_depth",
    "tidepool_unhandled_exceptions_total",
    "tidepool_polls_total",
    "tidepool_steals_total",
    "tidepool_parks_total",
    "tidepool_spin_wakeups_total",
    "tidepool_slow_polls_total",
    "tidepool_local_queue_depth",
    "tidepool_worker_parked",
    "tidepool_blocking_threads",
    "tidepool_blocking_threads_idle",
    "tidepool_blocking_queue_depth",
    "tidepool_blocking_threads_spawned_total",
    "tidepool_blocking_threads_exited_total",
    "tidepool_blocking_spawn_failures_total",
    "tidepool_blocking_spinning_handoffs_total",
    "tidepool_blocking_chained_handoffs_total",
    "tidepool_blocking_parallelism",
    "tidepool_blocking_held_calls_total",
    "tidepool_blocking_blocked_calls_total",
    "tidepool_blocking_burst_admits_total",
    "tidepool_blocking_stall_admits_total",
    "tidepool_io_driver_info",
    "tidepool_io_driver_mode_info",
    "tidepool_io_in_flight",
    "tidepool_fs_backend_info",
    "tidepool_allocator_info",
    "tidepool_allocator_trims_total",
    "tidepool_allocator_trim_released_bytes_total",
};

constexpr const char* kWhenReported[] = {
    "tidepool_allocator_allocated_bytes",
    "tidepool_allocator_arena_bytes",
    "tidepool_allocator_free_held_bytes",
    "tidepool_allocator_releasable_bytes",
    "tidepool_allocator_mmap_bytes",
    "tidepool_allocator_mmap_regions",
    "tidepool_allocator_free_chunks",
    "tidepool_allocator_utilization_ratio",
    "tidepool_allocator_resident_bytes",
    "tidepool_allocator_retained_bytes",
};

constexpr const char* kWithABudget[] = {
    "tidepool_memory_budget_bytes",
    "tidepool_memory_budget_in_use_bytes",
    "tidepool_memory_budget_pressure_ratio",
    "tidepool_memory_budget_samples_total",
    "tidepool_memory_budget_trims_total",
    "tidepool_blocking_admission_limit",
    "tidepool_blocking_admission_queue_depth",
    "tidepool_blocking_admission_waits_total",
    "tidepool_blocking_admission_wait_seconds_total",
    "tidepool_budget_permits_held",
    "tidepool_budget_permit_limit",
    "tidepool_budget_permit_queue_depth",
    "tidepool_budget_permits_granted_total",
    "tidepool_budget_permit_waits_total",
    "tidepool_budget_permit_wait_seconds_total",
};

// The format's rules as this exporter follows them, on any of its texts.
void ExpectWellFormed(const std::string& text) {
  const Parsed p = Parse(text);
  for (const auto& [name, n] : p.type_lines) {
    EXPECT_EQ(n, 1) << "TYPE lines of " << name;
    EXPECT_EQ(p.help_lines.count(name), 1u) << "no HELP for " << name;
    EXPECT_TRUE(absl::StartsWith(name, "tidepool_")) << name;
    const std::string& type = p.type.at(name);
    EXPECT_TRUE(type == "counter" || type == "gauge") << name << " " << type;
    EXPECT_EQ(type == "counter", absl::EndsWith(name, "_total")) << name;
  }
  for (const auto& [name, n] : p.help_lines) {
    EXPECT_EQ(n, 1) << "HELP lines of " << name;
    EXPECT_EQ(p.type_lines.count(name), 1u) << "no TYPE for " << name;
  }
  for (const std::string& line : p.samples) {
    EXPECT_EQ(p.type.count(SampleName(line)), 1u) << "untyped: " << line;
  }
  // One family's samples are together, right after its TYPE line.
  std::string current;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# TYPE ")) {
      current = std::vector<std::string>(absl::StrSplit(line, ' '))[2];
    } else if (!absl::StartsWith(line, "#")) {
      EXPECT_EQ(SampleName(std::string(line)), current) << line;
    }
  }
}

TEST(PrometheusTextTest, RuntimeTextHasEveryFamilyOnce) {
  Runtime rt = MakeRuntime();
  const std::string text = PrometheusText(rt);
  ExpectWellFormed(text);
  const Parsed p = Parse(text);
  for (const char* name : kAlwaysThere) {
    EXPECT_EQ(p.type_lines.count(name), 1u) << name;
  }
  EXPECT_NE(text.find("tidepool_workers 2\n"), std::string::npos);
  EXPECT_NE(text.find("tidepool_polls_total{worker=\"1\"} "),
            std::string::npos);
  EXPECT_NE(text.find(absl::StrCat("tidepool_io_driver_info{driver=\"",
                                   rt.metrics().io_driver, "\"} 1\n")),
            std::string::npos);
  EXPECT_NE(text.find(absl::StrCat("tidepool_fs_backend_info{backend=\"",
                                   rt.metrics().fs_backend, "\"} 1\n")),
            std::string::npos);
  EXPECT_NE(text.find(absl::StrCat(
                "tidepool_allocator_info{backend=\"",
                alloc::BackendName(alloc::active_backend().kind), "\"} 1\n")),
            std::string::npos);
}

TEST(PrometheusTextTest, SnapshotTextHasEveryFamily) {
  const std::string text = PrometheusText(TwoWorkers(), FullStats());
  ExpectWellFormed(text);
  const Parsed p = Parse(text);
  for (const char* name : kAlwaysThere) {
    EXPECT_EQ(p.type_lines.count(name), 1u) << name;
  }
  for (const char* name : kWhenReported) {
    EXPECT_EQ(p.type_lines.count(name), 1u) << name;
  }
  for (const char* sample : {
           "tidepool_polls_total{worker=\"0\"} 0\n",
           "tidepool_polls_total{worker=\"1\"} 7\n",
           "tidepool_slow_polls_total{worker=\"1\"} 2\n",
           "tidepool_worker_parked{worker=\"0\"} 0\n",
           "tidepool_worker_parked{worker=\"1\"} 1\n",
           "tidepool_allocator_info{backend=\"jemalloc\"} 1\n",
           "tidepool_allocator_trims_total 3\n",
           "tidepool_allocator_trim_released_bytes_total 65536\n",
           "tidepool_allocator_utilization_ratio 0.25\n",
           "tidepool_allocator_resident_bytes 512\n",
           "tidepool_allocator_retained_bytes 1024\n",
       }) {
    EXPECT_NE(text.find(sample), std::string::npos) << sample;
  }
}

TEST(PrometheusTextTest, BudgetFamiliesOnlyWithABudget) {
  const Parsed without = Parse(PrometheusText(TwoWorkers(), FullStats()));
  for (const char* name : kWithABudget) {
    EXPECT_EQ(without.type_lines.count(name), 0u) << name;
  }
  const std::string text = PrometheusText(Budgeted(), FullStats());
  ExpectWellFormed(text);
  const Parsed with = Parse(text);
  for (const char* name : kWithABudget) {
    EXPECT_EQ(with.type_lines.count(name), 1u) << name;
  }
  for (const char* sample : {
           "tidepool_memory_budget_bytes 1048576\n",
           "tidepool_memory_budget_in_use_bytes 524288\n",
           "tidepool_memory_budget_pressure_ratio 0.5\n",
           "tidepool_memory_budget_samples_total 40\n",
           "tidepool_memory_budget_trims_total 1\n",
           "tidepool_blocking_admission_limit 3\n",
           "tidepool_blocking_admission_queue_depth 2\n",
           "tidepool_blocking_admission_waits_total 9\n",
           "tidepool_blocking_admission_wait_seconds_total 1.5\n",
           "tidepool_budget_permits_held 5\n",
           "tidepool_budget_permit_limit 6\n",
           "tidepool_budget_permit_queue_depth 4\n",
           "tidepool_budget_permits_granted_total 70\n",
           "tidepool_budget_permit_waits_total 30\n",
           "tidepool_budget_permit_wait_seconds_total 0.25\n",
       }) {
    EXPECT_NE(text.find(sample), std::string::npos) << sample;
  }
}

TEST(PrometheusTextTest, UnreportedAllocatorFiguresAreLeftOut) {
  alloc::Stats s;  // every figure -1: not reported
  s.backend = alloc::Backend::kMimalloc;
  s.arena = 4096;
  const std::string text = PrometheusText(TwoWorkers(), s);
  ExpectWellFormed(text);
  const Parsed p = Parse(text);
  EXPECT_EQ(p.type_lines.count("tidepool_allocator_arena_bytes"), 1u);
  for (const char* name : kWhenReported) {
    if (std::string(name) == "tidepool_allocator_arena_bytes") continue;
    EXPECT_EQ(p.type_lines.count(name), 0u) << name;
  }
  EXPECT_EQ(text.find(" -1\n"), std::string::npos);
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  RuntimeMetrics m = TwoWorkers();
  m.io_driver = "a\\b\"c\nd";
  const std::string text = PrometheusText(m, FullStats());
  EXPECT_NE(
      text.find("tidepool_io_driver_info{driver=\"a\\\\b\\\"c\\nd\"} 1\n"),
      std::string::npos)
      << text;
  ExpectWellFormed(text);
}

TEST(PrometheusTextTest, HttpResponseCarriesTheText) {
  Runtime rt = MakeRuntime();
  const std::string r = MetricsHttpResponse(rt);
  const size_t end = r.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::string head = r.substr(0, end);
  const std::string body = r.substr(end + 4);
  EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain; version=0.0.4"),
            std::string::npos);
  EXPECT_NE(head.find(absl::StrCat("\r\nContent-Length: ", body.size())),
            std::string::npos);
  EXPECT_TRUE(absl::StartsWith(body, "# HELP tidepool_workers "));
}

// promtool on PATH (bazel's test PATH includes /usr/bin), or nothing.
std::optional<std::string> Promtool() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin", ':')) {
    const std::string tool = absl::StrCat(dir, "/promtool");
    if (access(tool.c_str(), X_OK) == 0) return tool;
  }
  if (access("/usr/bin/promtool", X_OK) == 0) return "/usr/bin/promtool";
  return std::nullopt;
}

// Runs `promtool check metrics` with `text` on its stdin; its exit status
// and everything it printed.
std::pair<int, std::string> PromtoolCheck(const std::string& tool,
                                          const std::string& text) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/metrics.", getpid());
  std::ofstream(file) << text;
  const std::string command =
      absl::StrCat(tool, " check metrics < ", file, " 2>&1");
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return {-1, "popen failed"};
  std::string printed;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, out)) printed.append(buf, n);
  const int status = pclose(out);
  std::remove(file.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, printed};
}

TEST(PrometheusTextTest, PromtoolAcceptsTheText) {
  const std::optional<std::string> tool = Promtool();
  if (!tool) {
    GTEST_SKIP() << "promtool not found: install Debian's `prometheus` "
                    "package (tools/bootstrap.sh does, and CI runs this)";
  }
  Runtime rt = MakeRuntime();
  RuntimeMetrics odd = TwoWorkers();
  odd.io_driver = "a\\b\"c\nd";
  for (const std::string& text :
       {PrometheusText(rt), PrometheusText(TwoWorkers(), FullStats()),
        PrometheusText(Budgeted(), FullStats()),
        PrometheusText(odd, alloc::Stats{})}) {
    const auto [status, printed] = PromtoolCheck(*tool, text);
    EXPECT_EQ(status, 0) << printed << "\n--- text:\n" << text;
    EXPECT_FALSE(absl::StrContains(printed, "problem")) << printed;
    EXPECT_TRUE(printed.empty()) << printed;
  }
}

// A whole exchange with ServeMetrics: sends `request`, reads until the
// server closes. Inside a task.
Task<std::string> Exchange(uint16_t port, std::string request) {
  absl::StatusOr<TcpStream> s = co_await TcpStream::connect(
      *SocketAddress::Parse(absl::StrCat("127.0.0.1:", port)));
  if (!s.ok()) co_return absl::StrCat("connect: ", s.status().ToString());
  if (absl::Status w = co_await s->write_all(request); !w.ok()) {
    co_return absl::StrCat("write: ", w.ToString());
  }
  std::string reply;
  char buf[4096];
  while (true) {
    absl::StatusOr<size_t> n = co_await s->read(buf);
    if (!n.ok()) co_return absl::StrCat("read: ", n.status().ToString());
    if (*n == 0) co_return reply;
    reply.append(buf, *n);
  }
}

TEST(ServeMetricsTest, AnswersOverLoopback) {
  Runtime rt = MakeRuntime();
  const uint16_t port = rt.block_on([&]() -> Task<uint16_t> {
    absl::StatusOr<TcpListener> listener =
        TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    if (!listener.ok()) co_return 0;
    const uint16_t bound = listener->local_address()->port();
    spawn(ServeMetrics(rt, *std::move(listener))).detach();
    co_return bound;
  }());
  ASSERT_NE(port, 0);
  const auto get = [&](std::string request) {
    return rt.block_on(Exchange(port, std::move(request)));
  };

  const std::string ok = get("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_NE(ok.find("\r\nContent-Type: text/plain; version=0.0.4\r\n"),
            std::string::npos);
  EXPECT_NE(ok.find("\r\nConnection: close\r\n"), std::string::npos);
  const size_t end = ok.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  const std::string body = ok.substr(end + 4);
  EXPECT_NE(ok.find(absl::StrCat("\r\nContent-Length: ", body.size(), "\r\n")),
            std::string::npos);
  EXPECT_NE(body.find("tidepool_workers 2\n"), std::string::npos);
  ExpectWellFormed(body);

  EXPECT_TRUE(absl::StartsWith(get("GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
                               "HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(absl::StartsWith(get("GET /x HTTP/1.1\r\nHost: t\r\n\r\n"),
                               "HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(absl::StartsWith(get("POST /metrics HTTP/1.1\r\n\r\n"),
                               "HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_TRUE(
      absl::StartsWith(get("hello\r\n\r\n"), "HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_TRUE(absl::StartsWith(get(std::string(9000, 'x')),
                               "HTTP/1.1 400 Bad Request\r\n"));
}

}  // namespace
}  // namespace tidepool
