// What SafeFlow's sealed-file format costs on this host, against OpenSSL's own AES-256-GCM
// measured in the same run:
//   BM_Seal        SealStream of 64 MiB, memfd to memfd, 1 MiB chunks
//   BM_Unseal      ReadSealedHeader + UnsealStream of the same, memfd to memfd
//   BM_AeadCipher  AeadCipher::Encrypt of one 1 MiB buffer in place (no I/O): the cipher alone
//   BM_MemfdCopy   read()/write() of the 64 MiB, memfd to memfd, 1 MiB at a time: the I/O alone
//   reference      `openssl speed -elapsed -mr -evp aes-256-gcm -bytes 1048576 -seconds 1`
//                  (wall clock, like the benchmarks; -mr for parsing)
// Run: build/<dir>/bench/bench_crypto. Prints throughputs and the ratios to OpenSSL at the end;
// exits 1 when the reference cannot be measured (no openssl on PATH).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "benchmark/benchmark.h"
#include <openssl/rand.h>

#include "executor/crypto/aead.h"
#include "executor/crypto/sealed_file.h"
#include "executor/crypto/x25519.h"
#include "executor/env.h"
#include "executor/sandbox/unique_fd.h"

namespace {

namespace crypto = safeflow::executor::crypto;
using safeflow::executor::UniqueFd;

constexpr std::size_t kDataBytes = 64u << 20;
constexpr std::uint32_t kChunkBytes = 1u << 20;

const std::vector<std::string> kOpensslArgv = {
    "openssl",     "speed",  "-elapsed", "-mr",      "-evp",
    "aes-256-gcm", "-bytes", "1048576",  "-seconds", "1"};

UniqueFd NewMemfd(const char* name) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd.valid()) {
    std::perror("memfd_create");
    std::exit(2);
  }
  return fd;
}

bool Rewind(int fd) { return ::lseek(fd, 0, SEEK_SET) == 0; }

// The inputs, made once: 64 MiB of random plaintext, a key pair, and the sealed plaintext.
struct Fixture {
  crypto::X25519KeyPair keys;
  UniqueFd plain = NewMemfd("bench-plain");
  UniqueFd sealed = NewMemfd("bench-sealed");
  UniqueFd out = NewMemfd("bench-out");

  Fixture() : keys(crypto::X25519KeyPair::Generate().value()) {
    std::vector<unsigned char> buf(kDataBytes);
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1 ||
        ::write(plain.get(), buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
        !Rewind(plain.get())) {
      std::fprintf(stderr, "cannot fill the plaintext memfd\n");
      std::exit(2);
    }
    absl::StatusOr<crypto::SealStats> s =
        crypto::SealStream(plain.get(), sealed.get(), "bench", keys.public_key, kChunkBytes);
    if (!s.ok()) {
      std::fprintf(stderr, "seal: %s\n", s.status().ToString().c_str());
      std::exit(2);
    }
  }
};

Fixture& TheFixture() {
  static Fixture* const f = new Fixture();  // lives for the whole process
  return *f;
}

void BM_Seal(benchmark::State& state) {
  Fixture& f = TheFixture();
  for (auto _ : state) {
    // The output memfd keeps its pages between iterations (no truncation): no page faults.
    if (!Rewind(f.plain.get()) || !Rewind(f.out.get())) state.SkipWithError("lseek");
    absl::StatusOr<crypto::SealStats> s =
        crypto::SealStream(f.plain.get(), f.out.get(), "bench", f.keys.public_key, kChunkBytes);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.status().message()).c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDataBytes));
}
BENCHMARK(BM_Seal)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Unseal(benchmark::State& state) {
  Fixture& f = TheFixture();
  for (auto _ : state) {
    if (!Rewind(f.sealed.get()) || !Rewind(f.out.get())) state.SkipWithError("lseek");
    absl::StatusOr<crypto::SealedHeader> h = crypto::ReadSealedHeader(f.sealed.get());
    if (!h.ok()) {
      state.SkipWithError(std::string(h.status().message()).c_str());
      break;
    }
    absl::StatusOr<crypto::SealStats> s =
        crypto::UnsealStream(f.sealed.get(), *h, f.keys.private_key, f.out.get());
    if (!s.ok() || s->plaintext_bytes != kDataBytes) {
      state.SkipWithError("unseal failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDataBytes));
}
BENCHMARK(BM_Unseal)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_AeadCipher(benchmark::State& state) {
  crypto::AeadCipher cipher =
      crypto::AeadCipher::Create(crypto::SecretBytes::Random(crypto::kAeadKeyBytes).value())
          .value();
  std::vector<unsigned char> buf(kChunkBytes, 0x5a);
  unsigned char tag[crypto::kAeadTagBytes];
  std::string iv(crypto::kAeadIvBytes, '\0');
  std::uint64_t n = 0;
  for (auto _ : state) {
    ++n;
    iv.replace(4, 8, reinterpret_cast<const char*>(&n), 8);
    if (!cipher.Encrypt(iv, "aad", buf, buf, tag).ok()) state.SkipWithError("encrypt");
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunkBytes));
}
BENCHMARK(BM_AeadCipher)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_MemfdCopy(benchmark::State& state) {
  Fixture& f = TheFixture();
  std::vector<unsigned char> buf(kChunkBytes);
  for (auto _ : state) {
    if (!Rewind(f.plain.get()) || !Rewind(f.out.get())) state.SkipWithError("lseek");
    ssize_t n;
    while ((n = ::read(f.plain.get(), buf.data(), buf.size())) > 0) {
      if (::write(f.out.get(), buf.data(), static_cast<std::size_t>(n)) != n) {
        state.SkipWithError("write");
        break;
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDataBytes));
}
BENCHMARK(BM_MemfdCopy)->Unit(benchmark::kMillisecond)->UseRealTime();

// OpenSSL's AES-256-GCM throughput in bytes/s, or an error message.
std::optional<double> OpensslSpeed(std::string& error) {
  safeflow::executor::Command cmd;
  cmd.argv = kOpensslArgv;
  cmd.timeout = std::chrono::seconds(60);
  absl::StatusOr<safeflow::executor::CommandResult> r = safeflow::executor::DefaultEnv().Run(cmd);
  if (!r.ok()) {
    error = r.status().ToString();
    return std::nullopt;
  }
  if (!r->ok()) {
    error = "openssl speed: " + r->Describe() + ": " + r->err;
    return std::nullopt;
  }
  // Machine-readable result: "+F:<n>:AES-256-GCM:<bytes per second>".
  std::istringstream lines(r->out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("+F:", 0) != 0) continue;
    const std::size_t colon = line.rfind(':');
    try {
      return std::stod(line.substr(colon + 1));
    } catch (...) {
      break;
    }
  }
  error = "openssl speed: no +F: line in its output:\n" + r->out;
  return std::nullopt;
}

// Collects each benchmark's bytes/s for the summary.
class RateReporter : public benchmark::ConsoleReporter {
 public:
  RateReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      if (r.run_type == Run::RT_Iteration && !r.error_occurred && it != r.counters.end()) {
        rates_[r.run_name.function_name] = it->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& rates() const { return rates_; }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::string error;
  // Measured first, so that a host without openssl fails before minutes of benchmarks.
  const std::optional<double> reference = OpensslSpeed(error);
  if (!reference) {
    std::fprintf(stderr, "bench_crypto: cannot measure the OpenSSL reference: %s\n", error.c_str());
    return 1;
  }
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::string command;
  for (const std::string& a : kOpensslArgv) command += (command.empty() ? "" : " ") + a;
  std::printf("\nreference: %s\n  %-14s %8.1f MiB/s\n", command.c_str(), "openssl",
              *reference / (1 << 20));
  for (const auto& [name, rate] : reporter.rates()) {
    std::printf("  %-14s %8.1f MiB/s  x%.2f of openssl\n", name.c_str(), rate / (1 << 20),
                rate / *reference);
  }
  return 0;
}
