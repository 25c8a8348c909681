// What the airlock's disclosure-control filter costs on this host, against two references
// measured in the same run over the same bytes:
//   BM_Filter/<data>  CheckFile with the full DefaultChain (parse, every rule, the SHA-256 it
//                     records), one file per iteration; bytes/s, rows/s (data rows, or lines of
//                     text) and the peak RSS growth while it runs (getrusage ru_maxrss, with
//                     the peak reset through /proc/self/clear_refs first when the kernel lets us)
//   BM_Scan/<data>    a plain pass counting line breaks and commas (a byte loop the compiler
//                     vectorises): reading the bytes once, the least any parser does
//   BM_Sha256/<data>  OpenSSL EVP SHA-256 of the bytes: what the airlock does to every file anyway
// The data is generated in memory from a fixed seed (same bytes on every run):
//   freq_100k  a frequency table, 100,000 rows (region, age_band, sex, count), ~3 MB
//   freq_1m    the same shape, 1,000,000 rows, ~32 MB (the profile's max_rows raised for it)
//   text_10m   10 MiB of log-like free text: numbers, dates, and a few direct identifiers
// Run: build/<dir>/bench/bench_disclosure (a Release build; on a shared host add
// --benchmark_repetitions=5, and the ratios use the medians). Prints Google Benchmark's table,
// then per data set the ratios "filter vs sha256" and "filter vs scan" (time per pass).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <malloc.h>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include <openssl/evp.h>

#include "executor/disclosure/declaration.h"
#include "executor/disclosure/filter.h"
#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"

namespace {

namespace disclosure = safeflow::executor::disclosure;

// ---- deterministic data -----------------------------------------------------------------------

// SplitMix64: tiny, fast and the same on every platform (unlike std:: distributions).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  std::uint64_t Below(std::uint64_t n) { return Next() % n; }

 private:
  std::uint64_t state_;
};

constexpr std::uint64_t kSeed = 20240508;

struct Dataset {
  std::string id;  // as in the benchmark names
  std::string content;
  std::size_t rows = 0;  // data rows of a table, lines of text
  disclosure::FileInput input;
  disclosure::Profile profile;
  // The rule that shows the file was really looked at (not refused by the size rule).
  std::string expected_rule;
};

const std::vector<std::string_view> kAgeBands = {
    "0-4",   "5-9",   "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49",
    "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+"};

// A frequency table of `rows` data rows: every (region, age band, sex) once, regions numbered
// until there are enough rows. Counts are mostly large; about 2% are below 10 (and none 0), as
// in real tables that need a checker's look.
std::unique_ptr<Dataset> FrequencyTable(std::string id, std::size_t rows) {
  auto d = std::make_unique<Dataset>();
  d->id = std::move(id);
  d->rows = rows;
  Random random(kSeed);
  std::string& s = d->content;
  s.reserve(rows * 36);
  s += "region,age_band,sex,count\n";
  char line[96];
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t region = i / (kAgeBands.size() * 2);
    const std::string_view band = kAgeBands[(i / 2) % kAgeBands.size()];
    const char sex = i % 2 == 0 ? 'F' : 'M';
    const std::uint64_t count =
        random.Below(50) == 0 ? 1 + random.Below(9) : 10 + random.Below(4990);
    const int n = std::snprintf(line, sizeof line, "Local Authority %06zu,%.*s,%c,%llu\n", region,
                                static_cast<int>(band.size()), band.data(), sex,
                                static_cast<unsigned long long>(count));
    s.append(line, static_cast<std::size_t>(n));
  }
  disclosure::Declaration declaration;
  declaration.name = d->id;
  declaration.path = d->id + ".csv";
  declaration.type = disclosure::OutputType::kFrequencyTable;
  declaration.table.keys = {"region", "age_band", "sex"};
  declaration.table.counts = {"count"};
  d->input.name = declaration.name;
  d->input.path = declaration.path;
  d->input.declaration = std::move(declaration);
  d->profile = disclosure::BuiltinProfile("acro-default").value();
  d->profile.max_rows = std::max<std::uint64_t>(d->profile.max_rows, rows);
  d->expected_rule = "min_cell_count";
  return d;
}

// A valid NHS number (modulus 11 check digit), as "ddd ddd dddd".
std::string NhsNumber(Random& random) {
  while (true) {
    int digits[10];
    int sum = 0;
    for (int i = 0; i < 9; ++i) {
      digits[i] = static_cast<int>(random.Below(10));
      sum += digits[i] * (10 - i);
    }
    int check = 11 - sum % 11;
    if (check == 11) check = 0;
    if (check == 10) continue;
    digits[9] = check;
    std::string out;
    for (int i = 0; i < 10; ++i) {
      if (i == 3 || i == 6) out += ' ';
      out += static_cast<char>('0' + digits[i]);
    }
    return out;
  }
}

// About `bytes` of log-like text: timestamps, counts, estimates, and every ~20,000 lines a line
// with a direct identifier (an NHS number, an e-mail address, a postcode and date of birth).
std::unique_ptr<Dataset> FreeText(std::string id, std::size_t bytes) {
  auto d = std::make_unique<Dataset>();
  d->id = std::move(id);
  Random random(kSeed + 1);
  std::string& s = d->content;
  s.reserve(bytes + 256);
  char line[256];
  static constexpr const char* kSteps[] = {"select_cohort", "derive_exposures", "fit_model",
                                           "tabulate", "summarise"};
  std::size_t lines = 0;
  while (s.size() < bytes) {
    int n = 0;
    const unsigned day = 1 + static_cast<unsigned>(random.Below(28));
    const unsigned month = 1 + static_cast<unsigned>(random.Below(12));
    if (lines % 20000 == 19999) {
      switch ((lines / 20000) % 3) {
        case 0:
          n = std::snprintf(line, sizeof line,
                            "2023-%02u-%02u note: record for patient %s needs re-linkage\n", month,
                            day, NhsNumber(random).c_str());
          break;
        case 1:
          n = std::snprintf(line, sizeof line,
                            "2023-%02u-%02u note: query from j.smith%llu@example.nhs.uk about "
                            "batch %llu\n",
                            month, day, static_cast<unsigned long long>(random.Below(100)),
                            static_cast<unsigned long long>(random.Below(100000)));
          break;
        default:
          n = std::snprintf(line, sizeof line,
                            "2023-%02u-%02u note: outlier at postcode SW1A 1AA, date of birth "
                            "19%02llu-%02u-%02u\n",
                            month, day, static_cast<unsigned long long>(random.Below(100)), month,
                            day);
          break;
      }
    } else if (lines % 4 == 3) {
      n = std::snprintf(line, sizeof line,
                        "  estimate %.4f (95%% CI %.4f to %.4f), p = %.3f, n = %llu, "
                        "%llu iterations\n",
                        static_cast<double>(random.Below(20000)) / 10000.0,
                        static_cast<double>(random.Below(10000)) / 10000.0,
                        static_cast<double>(10000 + random.Below(10000)) / 10000.0,
                        static_cast<double>(random.Below(1000)) / 1000.0,
                        static_cast<unsigned long long>(100 + random.Below(90000)),
                        static_cast<unsigned long long>(1 + random.Below(50)));
    } else {
      n = std::snprintf(line, sizeof line,
                        "2023-%02u-%02u %02llu:%02llu:%02llu step %s processed %llu records in "
                        "%.2f s (%llu rows dropped)\n",
                        month, day, static_cast<unsigned long long>(random.Below(24)),
                        static_cast<unsigned long long>(random.Below(60)),
                        static_cast<unsigned long long>(random.Below(60)), kSteps[random.Below(5)],
                        static_cast<unsigned long long>(random.Below(1000000)),
                        static_cast<double>(random.Below(100000)) / 100.0,
                        static_cast<unsigned long long>(random.Below(500)));
    }
    s.append(line, static_cast<std::size_t>(n));
    ++lines;
  }
  d->rows = lines;
  disclosure::Declaration declaration;
  declaration.name = d->id;
  declaration.path = d->id + ".txt";
  declaration.type = disclosure::OutputType::kText;
  d->input.name = declaration.name;
  d->input.path = declaration.path;
  d->input.declaration = std::move(declaration);
  d->profile = disclosure::BuiltinProfile("acro-default").value();
  d->expected_rule = "direct_identifiers";
  return d;
}

enum class Data { kFreq100k, kFreq1m, kText10m };

// Each data set is made on first use and lives for the whole process.
const Dataset& Get(Data which) {
  static std::map<Data, std::unique_ptr<Dataset>>* const sets =
      new std::map<Data, std::unique_ptr<Dataset>>();
  std::unique_ptr<Dataset>& d = (*sets)[which];
  if (d == nullptr) {
    switch (which) {
      case Data::kFreq100k:
        d = FrequencyTable("freq_100k", 100000);
        break;
      case Data::kFreq1m:
        d = FrequencyTable("freq_1m", 1000000);
        break;
      case Data::kText10m:
        d = FreeText("text_10m", 10u << 20);
        break;
    }
    d->input.content = d->content;
    d->input.size_bytes = d->content.size();
  }
  return *d;
}

// ---- memory ----------------------------------------------------------------------------------

long MaxRssKiB() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return usage.ru_maxrss;
}

// Resets the peak RSS to the current RSS (Linux >= 4.0: "5" to /proc/self/clear_refs), after
// giving freed heap back to the kernel so that earlier benchmarks' memory does not count.
// False when the kernel refuses: then the growth is only seen above the process's earlier peak.
bool ResetPeakRss() {
  ::malloc_trim(0);
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

// ---- benchmarks ------------------------------------------------------------------------------

void SetRates(benchmark::State& state, const Dataset& d) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(d.content.size()));
  state.counters["rows_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(d.rows),
                         benchmark::Counter::kIsRate);
}

void BM_Filter(benchmark::State& state, Data which) {
  const Dataset& d = Get(which);
  const std::vector<std::unique_ptr<disclosure::OutputFilter>> chain = disclosure::DefaultChain();
  // Once, outside the timing: the report must show that the file was really read.
  {
    const disclosure::FileReport report = disclosure::CheckFile(d.input, d.profile, {}, chain);
    bool applied = false;
    for (const std::string& rule : report.rules_applied) applied |= rule == d.expected_rule;
    std::size_t not_pass = 0;
    for (const disclosure::Finding& f : report.findings) {
      if (f.outcome != disclosure::Verdict::kPass) ++not_pass;
    }
    if (!applied) {
      state.SkipWithError((d.expected_rule + " was not applied: the file was not checked").c_str());
      return;
    }
    state.SetLabel("verdict " + std::string(disclosure::VerdictName(report.verdict)) +
                   ", findings not pass: " + std::to_string(not_pass));
  }
  const bool reset = ResetPeakRss();
  const long before = MaxRssKiB();
  for (auto _ : state) {
    disclosure::FileReport report = disclosure::CheckFile(d.input, d.profile, {}, chain);
    benchmark::DoNotOptimize(report);
  }
  const long after = MaxRssKiB();
  SetRates(state, d);
  state.counters["peak_rss_growth_MiB"] = static_cast<double>(after - before) / 1024.0;
  if (!reset) state.counters["rss_peak_not_reset"] = 1;
}

struct ScanCounts {
  std::size_t lines = 0;
  std::size_t commas = 0;
};

// Line breaks and commas in `bytes`, in one pass. Blocks of 255 bytes with 8-bit counters
// (which cannot overflow there) let the compiler vectorise the loop: the cost of reading the
// bytes and looking at each once, without the CSV's structure.
ScanCounts CountLinesAndCommas(std::string_view bytes) {
  ScanCounts counts;
  for (std::size_t at = 0; at < bytes.size(); at += 255) {
    std::uint8_t lines = 0;
    std::uint8_t commas = 0;
    for (const char c : bytes.substr(at, 255)) {
      lines += c == '\n' ? 1 : 0;
      commas += c == ',' ? 1 : 0;
    }
    counts.lines += lines;
    counts.commas += commas;
  }
  return counts;
}

void BM_Scan(benchmark::State& state, Data which) {
  const Dataset& d = Get(which);
  for (auto _ : state) {
    ScanCounts counts = CountLinesAndCommas(d.content);
    benchmark::DoNotOptimize(counts);
  }
  SetRates(state, d);
}

void BM_Sha256(benchmark::State& state, Data which) {
  const Dataset& d = Get(which);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    if (EVP_Digest(d.content.data(), d.content.size(), digest, &length, EVP_sha256(), nullptr) !=
        1) {
      state.SkipWithError("EVP_Digest failed");
      break;
    }
    benchmark::DoNotOptimize(digest);
  }
  SetRates(state, d);
}

#define SAFEFLOW_DISCLOSURE_BENCH(data_id, which)                                             \
  BENCHMARK_CAPTURE(BM_Scan, data_id, which)->Unit(benchmark::kMillisecond)->UseRealTime();   \
  BENCHMARK_CAPTURE(BM_Sha256, data_id, which)->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_Filter, data_id, which)->Unit(benchmark::kMillisecond)->UseRealTime()

SAFEFLOW_DISCLOSURE_BENCH(freq_100k, Data::kFreq100k);
SAFEFLOW_DISCLOSURE_BENCH(text_10m, Data::kText10m);
SAFEFLOW_DISCLOSURE_BENCH(freq_1m, Data::kFreq1m);

// ---- the summary -----------------------------------------------------------------------------

// Collects each run's time per pass (ms) by data set and benchmark, then prints the ratios.
class DisclosureReporter : public benchmark::ConsoleReporter {
 public:
  DisclosureReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      // With --benchmark_repetitions the median (reported after the repetitions) wins.
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.error_occurred || (r.run_type != Run::RT_Iteration && !median)) continue;
      // "BM_Filter/freq_100k/real_time[_median]" -> ("freq_100k", "BM_Filter").
      const std::string name = r.benchmark_name();
      const std::size_t slash = name.find('/');
      if (slash == std::string::npos) continue;
      const std::size_t next = name.find('/', slash + 1);
      const std::string data = name.substr(slash + 1, next - slash - 1);
      times_[data][name.substr(0, slash)] = r.GetAdjustedRealTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nfilter vs references, same bytes, same run (ms per pass):\n");
    for (const auto& [data, by_bench] : times_) {
      const auto filter = by_bench.find("BM_Filter");
      const auto sha = by_bench.find("BM_Sha256");
      const auto scan = by_bench.find("BM_Scan");
      if (filter == by_bench.end() || sha == by_bench.end() || scan == by_bench.end() ||
          sha->second <= 0 || scan->second <= 0) {
        std::printf("  %-10s incomplete (a benchmark failed or was filtered out)\n", data.c_str());
        continue;
      }
      std::printf(
          "  %-10s filter %9.2f  sha256 %8.2f  scan %8.2f  filter vs sha256: x%.2f  "
          "filter vs scan: x%.2f\n",
          data.c_str(), filter->second, sha->second, scan->second, filter->second / sha->second,
          filter->second / scan->second);
    }
  }

 private:
  std::map<std::string, std::map<std::string, double>> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (Data which : {Data::kFreq100k, Data::kText10m, Data::kFreq1m}) {
    const Dataset& d = Get(which);
    std::printf("%-10s %9.2f MiB  %8zu rows\n", d.id.c_str(),
                static_cast<double>(d.content.size()) / (1 << 20), d.rows);
  }
  DisclosureReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
